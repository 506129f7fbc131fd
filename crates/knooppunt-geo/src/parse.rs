//! Reading buurten from a GeoJSON FeatureCollection.
//!
//! The document is parsed into a `serde_json::Value` first, so that syntax
//! errors carry serde_json's line and column, and then walked by hand, so
//! that every contract violation names the feature index and, when it has
//! one, the buurtcode. Coordinates are converted to RD New here; nothing
//! downstream ever sees WGS84.

use geo::{Area, Coord, LineString, MultiPolygon, Polygon};
use serde_json::{Map, Value};

use crate::buurt::{Buurt, CodeKind};
use crate::error::GeoError;
use crate::rd::wgs84_to_rd;

/// Coordinate reference system of the input coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Crs {
    /// RD New, EPSG:28992: `[x, y]` in metres.
    Rd,
    /// WGS84 (CRS84): `[lon, lat]` in degrees.
    Wgs84,
}

/// Longest CRS name echoed back in [`GeoError::UnsupportedCrs`].
const MAX_CRS_NAME: usize = 120;

/// Parses a GeoJSON FeatureCollection of buurten, in file order.
pub(crate) fn parse_buurten(bytes: &[u8]) -> Result<Vec<Buurt>, GeoError> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| GeoError::from_json(&e))?;
    let obj = doc
        .as_object()
        .ok_or_else(|| invalid_doc("the top-level value must be an object"))?;
    if obj.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
        return Err(invalid_doc(
            "the top-level `type` must be \"FeatureCollection\"",
        ));
    }
    let crs = detect_crs(obj.get("crs"))?;
    let features = obj
        .get("features")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid_doc("the `features` member must be an array"))?;
    features
        .iter()
        .enumerate()
        .map(|(index, feature)| parse_feature(index, feature, crs))
        .collect()
}

fn invalid_doc(reason: &str) -> GeoError {
    GeoError::InvalidDocument {
        reason: reason.to_owned(),
    }
}

/// Reads the top-level `crs` member. Without one (or with `null`) GeoJSON
/// (RFC 7946) coordinates are WGS84 longitude/latitude.
fn detect_crs(crs: Option<&Value>) -> Result<Crs, GeoError> {
    let crs = match crs {
        None | Some(Value::Null) => return Ok(Crs::Wgs84),
        Some(crs) => crs,
    };
    let name = (crs.get("type").and_then(Value::as_str) == Some("name"))
        .then(|| crs.get("properties")?.get("name")?.as_str())
        .flatten()
        .ok_or_else(|| {
            invalid_doc(
                "`crs` must be a named CRS: {\"type\": \"name\", \"properties\": {\"name\": ...}}",
            )
        })?;
    crs_from_name(name)
}

/// Recognises the usual spellings of RD New and WGS84, for example
/// `urn:ogc:def:crs:EPSG::28992`, `EPSG:28992`,
/// `http://www.opengis.net/def/crs/EPSG/0/28992`,
/// `urn:ogc:def:crs:OGC:1.3:CRS84` and `EPSG:4326`.
///
/// EPSG:4326 formally has latitude first, but GeoJSON writers that name it
/// (as the 2008 GeoJSON spec allowed) put longitude first, so it is read as
/// `[lon, lat]` like CRS84.
pub(crate) fn crs_from_name(name: &str) -> Result<Crs, GeoError> {
    let norm = name.trim().to_ascii_uppercase();
    if norm.ends_with("CRS84") || matches!(norm.as_str(), "WGS84" | "WGS 84" | "WGS-84") {
        return Ok(Crs::Wgs84);
    }
    if matches!(norm.as_str(), "RD NEW" | "AMERSFOORT / RD NEW") {
        return Ok(Crs::Rd);
    }
    if norm.contains("EPSG") {
        let prefix = norm.trim_end_matches(|c: char| c.is_ascii_digit());
        match &norm[prefix.len()..] {
            "28992" => return Ok(Crs::Rd),
            "4326" => return Ok(Crs::Wgs84),
            _ => {}
        }
    }
    Err(GeoError::UnsupportedCrs {
        name: name.trim().chars().take(MAX_CRS_NAME).collect(),
    })
}

fn parse_feature(index: usize, feature: &Value, crs: Crs) -> Result<Buurt, GeoError> {
    let fail = |buurtcode: Option<&str>, reason: String| GeoError::InvalidFeature {
        index,
        buurtcode: buurtcode.map(str::to_owned),
        reason,
    };
    let obj = feature
        .as_object()
        .ok_or_else(|| fail(None, "a feature must be an object".to_owned()))?;
    if obj.get("type").and_then(Value::as_str) != Some("Feature") {
        return Err(fail(None, "`type` must be \"Feature\"".to_owned()));
    }
    let props = obj
        .get("properties")
        .and_then(Value::as_object)
        .ok_or_else(|| fail(None, "missing `properties` object".to_owned()))?;

    let buurtcode = code(props, CodeKind::Buurt).map_err(|r| fail(None, r))?;
    let bc = Some(buurtcode.as_str());
    let buurtnaam = required_string(props, "buurtnaam").map_err(|r| fail(bc, r))?;
    let wijkcode = code(props, CodeKind::Wijk).map_err(|r| fail(bc, r))?;
    let wijknaam = optional_string(props, "wijknaam").map_err(|r| fail(bc, r))?;
    let gemeentecode = code(props, CodeKind::Gemeente).map_err(|r| fail(bc, r))?;
    let gemeentenaam = required_string(props, "gemeentenaam").map_err(|r| fail(bc, r))?;
    let geometry = parse_geometry(obj.get("geometry"), crs).map_err(|r| fail(bc, r))?;
    let area_m2 = geometry.unsigned_area();

    Ok(Buurt {
        buurtcode,
        buurtnaam,
        wijkcode,
        wijknaam,
        gemeentecode,
        gemeentenaam,
        geometry,
        area_m2,
    })
}

fn optional_string(props: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match props.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("property `{key}` must be a string")),
    }
}

fn required_string(props: &Map<String, Value>, key: &str) -> Result<String, String> {
    optional_string(props, key)?.ok_or_else(|| format!("missing property `{key}`"))
}

fn code(props: &Map<String, Value>, kind: CodeKind) -> Result<String, String> {
    let value = required_string(props, kind.property())?;
    if kind.is_valid(&value) {
        Ok(value)
    } else {
        Err(kind.bad_format())
    }
}

/// Reads a Polygon or MultiPolygon geometry into RD New metres. The error
/// is a reason for [`GeoError::InvalidFeature`].
fn parse_geometry(geometry: Option<&Value>, crs: Crs) -> Result<MultiPolygon<f64>, String> {
    let geometry = match geometry {
        None | Some(Value::Null) => return Err("missing geometry".to_owned()),
        Some(g) => g,
    };
    let coordinates = geometry
        .get("coordinates")
        .and_then(Value::as_array)
        .ok_or_else(|| "geometry has no `coordinates` array".to_owned());
    match geometry.get("type").and_then(Value::as_str) {
        Some("Polygon") => Ok(MultiPolygon(vec![
            parse_polygon(coordinates?, crs).map_err(|r| format!("polygon: {r}"))?,
        ])),
        Some("MultiPolygon") => {
            let parts = coordinates?;
            if parts.is_empty() {
                return Err("MultiPolygon has no polygons".to_owned());
            }
            parts
                .iter()
                .enumerate()
                .map(|(i, part)| {
                    let rings = part
                        .as_array()
                        .ok_or_else(|| format!("polygon {i}: must be an array of rings"))?;
                    parse_polygon(rings, crs).map_err(|r| format!("polygon {i}: {r}"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(MultiPolygon)
        }
        _ => Err("geometry type must be Polygon or MultiPolygon".to_owned()),
    }
}

fn parse_polygon(rings: &[Value], crs: Crs) -> Result<Polygon<f64>, String> {
    let mut rings = rings.iter().enumerate().map(|(i, ring)| {
        let positions = ring
            .as_array()
            .ok_or_else(|| format!("ring {i} must be an array of positions"))?;
        parse_ring(positions, crs).map_err(|r| format!("ring {i}: {r}"))
    });
    let exterior = rings.next().ok_or_else(|| "has no rings".to_owned())??;
    let interiors = rings.collect::<Result<Vec<_>, _>>()?;
    Ok(Polygon::new(exterior, interiors))
}

fn parse_ring(positions: &[Value], crs: Crs) -> Result<LineString<f64>, String> {
    if positions.len() < 4 {
        return Err("a linear ring needs at least 4 positions".to_owned());
    }
    let raw = positions
        .iter()
        .enumerate()
        .map(|(i, p)| parse_position(p).ok_or_else(|| format!("position {i} must be [x, y]")))
        .collect::<Result<Vec<_>, _>>()?;
    // Closure is checked on the input numbers, before any conversion.
    if raw.first() != raw.last() {
        return Err("ring is not closed (first and last position differ)".to_owned());
    }
    let coords = match crs {
        Crs::Rd => raw.into_iter().map(|(x, y)| Coord { x, y }).collect(),
        Crs::Wgs84 => raw
            .into_iter()
            .enumerate()
            .map(|(i, (lon, lat))| {
                if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
                    return Err(format!(
                        "position {i} is not a WGS84 [lon, lat]; without a `crs` member \
                         coordinates must be WGS84 (name EPSG:28992 in `crs` for RD New)"
                    ));
                }
                let (x, y) = wgs84_to_rd(lat, lon);
                Ok(Coord { x, y })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(LineString(coords))
}

/// Reads `[a, b]` or `[a, b, z]` (the height is ignored).
fn parse_position(position: &Value) -> Option<(f64, f64)> {
    match position.as_array()?.as_slice() {
        [a, b, ..] => {
            let (a, b) = (a.as_f64()?, b.as_f64()?);
            (a.is_finite() && b.is_finite()).then_some((a, b))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crs_spellings() {
        for rd in [
            "urn:ogc:def:crs:EPSG::28992",
            "EPSG:28992",
            "epsg:28992",
            " urn:ogc:def:crs:EPSG:6.9:28992 ",
            "http://www.opengis.net/def/crs/EPSG/0/28992",
            "http://www.opengis.net/gml/srs/epsg.xml#28992",
            "Amersfoort / RD New",
        ] {
            assert_eq!(crs_from_name(rd).ok(), Some(Crs::Rd), "{rd}");
        }
        for wgs in [
            "urn:ogc:def:crs:OGC:1.3:CRS84",
            "urn:ogc:def:crs:OGC::CRS84",
            "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
            "CRS84",
            "EPSG:4326",
            "urn:ogc:def:crs:EPSG::4326",
            "WGS84",
        ] {
            assert_eq!(crs_from_name(wgs).ok(), Some(Crs::Wgs84), "{wgs}");
        }
        for other in [
            "EPSG:3857",
            "EPSG:289920",
            "EPSG:128992",
            "28992",
            "EPSG:4258",
        ] {
            assert!(
                matches!(crs_from_name(other), Err(GeoError::UnsupportedCrs { .. })),
                "{other}"
            );
        }
    }
}
