//! [`BuurtIndex`]: the buurten of an area and point-in-polygon over them.

use std::ops::ControlFlow;
use std::path::Path;

use geo::coordinate_position::{CoordPos, CoordinatePosition};
use geo::{Area, BoundingRect, Coord, Polygon};
use rstar::RTree;
use rstar::primitives::{GeomWithData, Rectangle};
use serde_json::{Map, Value, json};

use crate::buurt::{Buurt, CodeKind};
use crate::error::GeoError;
use crate::parse::parse_buurten;
use crate::rd::rd_to_wgs84;

/// One R-tree entry: the bounding box of one polygon of one buurt, with
/// (index into `buurten`, index into that buurt's `MultiPolygon`).
type Entry = GeomWithData<Rectangle<[f64; 2]>, (u32, u32)>;

/// The buurten of an area, sorted by buurtcode, with an R-tree over the
/// bounding boxes of their polygons for point-in-polygon lookups.
///
/// Build it once (from GeoJSON or from [`Buurt`] values) and share it;
/// [`BuurtIndex::locate`] takes `&self` and does not allocate.
#[derive(Debug)]
pub struct BuurtIndex {
    buurten: Vec<Buurt>,
    tree: RTree<Entry>,
    bbox: (f64, f64, f64, f64),
}

impl BuurtIndex {
    /// Builds the index from the text of a GeoJSON FeatureCollection (see
    /// the crate docs for the accepted properties and coordinate systems).
    pub fn from_geojson_str(text: &str) -> Result<BuurtIndex, GeoError> {
        BuurtIndex::from_buurten(parse_buurten(text.as_bytes())?)
    }

    /// Reads a GeoJSON FeatureCollection from `path` and builds the index.
    /// The file must be UTF-8; other encodings give [`GeoError::Json`].
    pub fn from_path(path: &Path) -> Result<BuurtIndex, GeoError> {
        let bytes = std::fs::read(path).map_err(|source| GeoError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        BuurtIndex::from_buurten(parse_buurten(&bytes)?)
    }

    /// Builds the index from buurten made in code (tests, synthetic data).
    ///
    /// The codes and geometries are checked as for GeoJSON input
    /// ([`GeoError::InvalidFeature`] names the position in `buurten`), the
    /// buurten are sorted by buurtcode and `area_m2` is recomputed from
    /// the geometry, so that it always matches it.
    pub fn from_buurten(mut buurten: Vec<Buurt>) -> Result<BuurtIndex, GeoError> {
        if buurten.is_empty() {
            return Err(GeoError::Empty);
        }
        for (index, buurt) in buurten.iter_mut().enumerate() {
            check_buurt(buurt).map_err(|reason| GeoError::InvalidFeature {
                index,
                buurtcode: CodeKind::Buurt
                    .is_valid(&buurt.buurtcode)
                    .then(|| buurt.buurtcode.clone()),
                reason,
            })?;
            buurt.area_m2 = buurt.geometry.unsigned_area();
        }
        buurten.sort_by(|a, b| a.buurtcode.cmp(&b.buurtcode));
        if let Some(pair) = buurten
            .windows(2)
            .find(|pair| pair[0].buurtcode == pair[1].buurtcode)
        {
            return Err(GeoError::DuplicateBuurt {
                buurtcode: pair[0].buurtcode.clone(),
            });
        }

        let mut entries = Vec::new();
        let mut bbox = (
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        );
        for (b, buurt) in buurten.iter().enumerate() {
            for (p, polygon) in buurt.geometry.0.iter().enumerate() {
                // check_buurt guarantees a non-empty exterior ring.
                let Some(rect) = polygon.exterior().bounding_rect() else {
                    continue;
                };
                let (min, max) = (rect.min(), rect.max());
                bbox = (
                    bbox.0.min(min.x),
                    bbox.1.min(min.y),
                    bbox.2.max(max.x),
                    bbox.3.max(max.y),
                );
                let (Ok(b), Ok(p)) = (u32::try_from(b), u32::try_from(p)) else {
                    return Err(GeoError::InvalidDocument {
                        reason: "more than 2^32 buurten or polygons".to_owned(),
                    });
                };
                let envelope = Rectangle::from_corners([min.x, min.y], [max.x, max.y]);
                entries.push(Entry::new(envelope, (b, p)));
            }
        }
        Ok(BuurtIndex {
            buurten,
            tree: RTree::bulk_load(entries),
            bbox,
        })
    }

    /// All buurten, sorted by buurtcode. [`BuurtIndex::locate`] returns
    /// positions in this slice.
    pub fn buurten(&self) -> &[Buurt] {
        &self.buurten
    }

    /// The buurt containing the RD New point `(x, y)`, as an index into
    /// [`BuurtIndex::buurten`]; `None` when the point is in no buurt (also
    /// when it lies in a hole of a polygon and no buurt fills the hole).
    ///
    /// A point strictly inside a buurt belongs to that buurt. A point on a
    /// boundary (a shared edge or vertex, or the outer boundary) belongs to
    /// exactly one buurt: the one with the smallest buurtcode among those
    /// whose boundary it lies on. So every point gets the same answer on
    /// every run and in every order of input.
    pub fn locate(&self, x: f64, y: f64) -> Option<usize> {
        let coord = Coord { x, y };
        let mut inside: Option<usize> = None;
        let mut boundary: Option<usize> = None;
        let _: ControlFlow<()> = self.tree.locate_all_at_point_int(&[x, y], |entry| {
            let b = entry.data.0 as usize;
            // Buurten are sorted, so a lower index is a smaller buurtcode. A
            // candidate that cannot beat the interior hit already found needs
            // no exact test. (Valid buurten do not overlap, so there is at
            // most one interior hit; this keeps overlapping input
            // deterministic too.)
            if inside.is_some_and(|i| i <= b) {
                return ControlFlow::Continue(());
            }
            match self.polygon(entry).coordinate_position(&coord) {
                CoordPos::Inside => inside = Some(b),
                CoordPos::OnBoundary if boundary.is_none_or(|c| b < c) => boundary = Some(b),
                CoordPos::OnBoundary | CoordPos::Outside => {}
            }
            ControlFlow::Continue(())
        });
        inside.or(boundary)
    }

    /// [`BuurtIndex::locate`] for many points: `xs[i], ys[i]` gives element
    /// `i`. Single-threaded; callers parallelise over chunks.
    ///
    /// # Panics
    ///
    /// When `xs` and `ys` differ in length.
    pub fn locate_many(&self, xs: &[f64], ys: &[f64]) -> Vec<Option<u32>> {
        assert_eq!(xs.len(), ys.len(), "xs and ys must have the same length");
        xs.iter()
            .zip(ys)
            // Indexes fit in u32: from_buurten refuses more buurten.
            .map(|(&x, &y)| self.locate(x, y).map(|i| i as u32))
            .collect()
    }

    /// Bounding box `(minx, miny, maxx, maxy)` of all buurten, in RD New
    /// metres.
    pub fn bbox(&self) -> (f64, f64, f64, f64) {
        self.bbox
    }

    /// The buurten as a GeoJSON FeatureCollection in WGS84 (RFC 7946, no
    /// `crs` member), for maps: same properties, feature `id` = buurtcode,
    /// coordinates `[lon, lat]` rounded to 7 decimals (about 1 cm).
    /// `wijknaam` is left out when unknown; a buurt with one polygon is
    /// written as a Polygon, otherwise as a MultiPolygon.
    pub fn to_geojson_wgs84(&self) -> Value {
        let features: Vec<Value> = self.buurten.iter().map(feature_wgs84).collect();
        json!({ "type": "FeatureCollection", "features": features })
    }

    fn polygon(&self, entry: &Entry) -> &Polygon<f64> {
        let (b, p) = entry.data;
        &self.buurten[b as usize].geometry.0[p as usize]
    }
}

/// Checks a buurt made in code against the same rules as GeoJSON input.
fn check_buurt(buurt: &Buurt) -> Result<(), String> {
    for (kind, code) in [
        (CodeKind::Buurt, &buurt.buurtcode),
        (CodeKind::Wijk, &buurt.wijkcode),
        (CodeKind::Gemeente, &buurt.gemeentecode),
    ] {
        if !kind.is_valid(code) {
            return Err(kind.bad_format());
        }
    }
    if buurt.geometry.0.is_empty() {
        return Err("geometry has no polygons".to_owned());
    }
    for (i, polygon) in buurt.geometry.0.iter().enumerate() {
        for (j, ring) in std::iter::once(polygon.exterior())
            .chain(polygon.interiors())
            .enumerate()
        {
            if ring.0.len() < 4 {
                return Err(format!(
                    "polygon {i}: ring {j}: a linear ring needs at least 4 positions"
                ));
            }
            if ring.0.iter().any(|c| !c.x.is_finite() || !c.y.is_finite()) {
                return Err(format!("polygon {i}: ring {j}: coordinates must be finite"));
            }
            if !ring.is_closed() {
                return Err(format!("polygon {i}: ring {j}: ring is not closed"));
            }
        }
    }
    Ok(())
}

fn round7(v: f64) -> f64 {
    (v * 1e7).round() / 1e7
}

fn ring_wgs84(ring: &geo::LineString<f64>) -> Value {
    ring.0
        .iter()
        .map(|c| {
            let (lat, lon) = rd_to_wgs84(c.x, c.y);
            json!([round7(lon), round7(lat)])
        })
        .collect()
}

fn polygon_wgs84(polygon: &Polygon<f64>) -> Value {
    std::iter::once(polygon.exterior())
        .chain(polygon.interiors())
        .map(ring_wgs84)
        .collect()
}

fn feature_wgs84(buurt: &Buurt) -> Value {
    let mut props = Map::new();
    props.insert("buurtcode".into(), buurt.buurtcode.clone().into());
    props.insert("buurtnaam".into(), buurt.buurtnaam.clone().into());
    props.insert("wijkcode".into(), buurt.wijkcode.clone().into());
    if let Some(wijknaam) = &buurt.wijknaam {
        props.insert("wijknaam".into(), wijknaam.clone().into());
    }
    props.insert("gemeentecode".into(), buurt.gemeentecode.clone().into());
    props.insert("gemeentenaam".into(), buurt.gemeentenaam.clone().into());
    let geometry = match buurt.geometry.0.as_slice() {
        [polygon] => json!({ "type": "Polygon", "coordinates": polygon_wgs84(polygon) }),
        parts => json!({
            "type": "MultiPolygon",
            "coordinates": parts.iter().map(polygon_wgs84).collect::<Vec<_>>(),
        }),
    };
    json!({
        "type": "Feature",
        "id": buurt.buurtcode,
        "properties": props,
        "geometry": geometry,
    })
}
