//! Tests of loading and locating, on the real Almere buurten and on small
//! hand-made fixtures.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

use geo::coordinate_position::{CoordPos, CoordinatePosition};
use geo::{Contains, Coord, InteriorPoint, Intersects, LineString, MultiPolygon, Polygon};
use knooppunt_core::ErrorKind;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};

use crate::{Buurt, BuurtIndex, GeoError, rd_to_wgs84, wgs84_to_rd};

const ALMERE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../sample-data/buurten_almere_2024.geojson"
);

fn almere() -> &'static BuurtIndex {
    static INDEX: OnceLock<BuurtIndex> = OnceLock::new();
    INDEX.get_or_init(|| BuurtIndex::from_path(Path::new(ALMERE)).unwrap())
}

/// Every vertex of every ring of a buurt.
fn vertices(buurt: &Buurt) -> impl Iterator<Item = Coord<f64>> + '_ {
    buurt
        .geometry
        .0
        .iter()
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
        .flat_map(|ring| ring.0.iter().copied())
}

/// An edge between two integer vertices, endpoints in a canonical order.
type Edge = ((i64, i64), (i64, i64));

/// Every edge of every ring of a buurt.
fn edges(buurt: &Buurt) -> Vec<Edge> {
    let mut out = Vec::new();
    for polygon in &buurt.geometry.0 {
        for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
            for line in ring.lines() {
                let a = (line.start.x as i64, line.start.y as i64);
                let b = (line.end.x as i64, line.end.y as i64);
                out.push((a.min(b), a.max(b)));
            }
        }
    }
    out
}

/// The tie rule by brute force over all buurten, without the R-tree and
/// with geo's `Contains`/`Intersects` rather than `CoordinatePosition`.
fn brute_force(index: &BuurtIndex, x: f64, y: f64) -> Option<usize> {
    let c = Coord { x, y };
    let buurten = index.buurten();
    let inside = buurten
        .iter()
        .position(|b| b.geometry.0.iter().any(|p| p.contains(&c)));
    inside.or_else(|| {
        buurten
            .iter()
            .position(|b| b.geometry.0.iter().any(|p| p.intersects(&c)))
    })
}

fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<[f64; 2]> {
    vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
}

fn props(buurtcode: &str) -> Value {
    json!({
        "buurtcode": buurtcode,
        "buurtnaam": format!("Buurt {buurtcode}"),
        "wijkcode": format!("WK{}", &buurtcode[2..8]),
        "gemeentecode": format!("GM{}", &buurtcode[2..6]),
        "gemeentenaam": "Testdorp",
    })
}

fn feature(buurtcode: &str, geometry: Value) -> Value {
    json!({ "type": "Feature", "properties": props(buurtcode), "geometry": geometry })
}

fn rd_collection(features: Vec<Value>) -> String {
    json!({
        "type": "FeatureCollection",
        "crs": { "type": "name", "properties": { "name": "urn:ogc:def:crs:EPSG::28992" } },
        "features": features,
    })
    .to_string()
}

fn polygon(rings: Vec<Vec<[f64; 2]>>) -> Value {
    json!({ "type": "Polygon", "coordinates": rings })
}

// ---------------------------------------------------------------- Almere

#[test]
fn almere_has_238_buurten_in_71_wijken() {
    let index = almere();
    let buurten = index.buurten();
    assert_eq!(buurten.len(), 238);
    let wijken: BTreeSet<&str> = buurten.iter().map(|b| b.wijkcode.as_str()).collect();
    assert_eq!(wijken.len(), 71);
    assert!(buurten.windows(2).all(|w| w[0].buurtcode < w[1].buurtcode));
    assert!(buurten.iter().all(|b| b.gemeentecode == "GM0034"));
    assert!(buurten.iter().all(|b| b.wijknaam.is_none()));
    assert_eq!(
        index.bbox(),
        (136_986.0, 479_461.0, 154_451.0, 494_190.0),
        "bounding box from data/README.md"
    );
    let total_km2: f64 = buurten.iter().map(|b| b.area_m2).sum::<f64>() / 1e6;
    assert!((total_km2 - 138.74).abs() < 0.01, "{total_km2} km²");
    let first = &buurten[0];
    assert_eq!(first.buurtcode, "BU00340101");
    assert_eq!(first.buurtnaam, "Centrum Haven Noord");
}

#[test]
fn interior_point_of_every_buurt_locates_to_it() {
    let index = almere();
    for (i, buurt) in index.buurten().iter().enumerate() {
        let p = buurt.geometry.interior_point().unwrap();
        assert_eq!(index.locate(p.x(), p.y()), Some(i), "{}", buurt.buurtcode);
    }
}

#[test]
fn shared_vertices_go_to_the_smallest_buurtcode() {
    let index = almere();
    let mut owners: BTreeMap<(i64, i64), BTreeSet<usize>> = BTreeMap::new();
    for (i, buurt) in index.buurten().iter().enumerate() {
        for c in vertices(buurt) {
            owners
                .entry((c.x as i64, c.y as i64))
                .or_default()
                .insert(i);
        }
    }
    let mut shared = 0;
    for ((x, y), set) in &owners {
        let expected = set.first().copied();
        assert_eq!(
            index.locate(*x as f64, *y as f64),
            expected,
            "vertex {x},{y}"
        );
        shared += usize::from(set.len() > 1);
    }
    // Almere's buurten tile the municipality: most vertices are shared.
    assert!(shared > 400, "only {shared} shared vertices");
}

#[test]
fn shared_edges_go_to_the_smallest_buurtcode() {
    let index = almere();
    let mut owners: BTreeMap<Edge, BTreeSet<usize>> = BTreeMap::new();
    for (i, buurt) in index.buurten().iter().enumerate() {
        for edge in edges(buurt) {
            owners.entry(edge).or_default().insert(i);
        }
    }
    let mut shared = 0;
    for (((x0, y0), (x1, y1)), set) in &owners {
        // Midpoints of integer vertices are exact in f64.
        let (mx, my) = ((*x0 + *x1) as f64 / 2.0, (*y0 + *y1) as f64 / 2.0);
        let got = index.locate(mx, my);
        assert_eq!(got, set.first().copied(), "edge midpoint {mx},{my}");
        assert_eq!(got, brute_force(index, mx, my));
        if set.len() > 1 {
            shared += 1;
            // The smaller buurtcode wins, the other touches the point too.
            let other = *set.last().unwrap();
            let poly = &index.buurten()[other].geometry;
            assert_eq!(
                poly.coordinate_position(&Coord { x: mx, y: my }),
                CoordPos::OnBoundary
            );
        }
    }
    assert!(shared > 500, "only {shared} shared edges");
}

#[test]
fn points_outside_the_bbox_are_in_no_buurt() {
    let index = almere();
    let (minx, miny, maxx, maxy) = index.bbox();
    for (x, y) in [
        (minx - 1.0, miny),
        (maxx + 0.5, maxy),
        (155_000.0, 463_000.0),
        ((minx + maxx) / 2.0, maxy + 10.0),
        (f64::NAN, 480_000.0),
    ] {
        assert_eq!(index.locate(x, y), None, "{x},{y}");
    }
}

#[test]
fn locate_many_matches_locate() {
    let index = almere();
    let (minx, miny, maxx, maxy) = index.bbox();
    let n = 1_000;
    let xs: Vec<f64> = (0..n)
        .map(|i| minx + (maxx - minx) * f64::from(i) / 999.0)
        .collect();
    let ys: Vec<f64> = (0..n)
        .map(|i| miny + (maxy - miny) * f64::from((i * 37) % n) / 999.0)
        .collect();
    let got = index.locate_many(&xs, &ys);
    assert_eq!(got.len(), xs.len());
    for i in 0..xs.len() {
        assert_eq!(got[i].map(|b| b as usize), index.locate(xs[i], ys[i]));
    }
    assert!(got.iter().any(Option::is_some) && got.iter().any(Option::is_none));
}

#[test]
fn wgs84_export_round_trips_through_wgs84_input() {
    let index = almere();
    let exported = index.to_geojson_wgs84();
    assert_eq!(exported["type"], "FeatureCollection");
    assert!(exported.get("crs").is_none());
    let features = exported["features"].as_array().unwrap();
    assert_eq!(features.len(), 238);

    let first = &features[0];
    assert_eq!(first["id"], "BU00340101");
    assert_eq!(first["properties"]["buurtnaam"], "Centrum Haven Noord");
    assert_eq!(first["properties"]["wijkcode"], "WK003401");
    assert_eq!(first["properties"]["gemeentecode"], "GM0034");
    assert_eq!(first["properties"]["gemeentenaam"], "Almere");
    assert!(first["properties"].get("wijknaam").is_none());
    assert_eq!(first["geometry"]["type"], "Polygon");
    let lon = first["geometry"]["coordinates"][0][0][0].as_f64().unwrap();
    let lat = first["geometry"]["coordinates"][0][0][1].as_f64().unwrap();
    let (want_lat, want_lon) = rd_to_wgs84(143_508.0, 483_344.0);
    assert!((lat - want_lat).abs() <= 0.6e-7 && (lon - want_lon).abs() <= 0.6e-7);
    for v in [lat, lon] {
        let scaled = v * 1e7;
        assert!(
            (scaled - scaled.round()).abs() < 1e-6,
            "{v} has more than 7 decimals"
        );
    }

    // Reading the export back (no crs: WGS84) gives the same buurten, with
    // vertices within a few centimetres of the originals.
    let back = BuurtIndex::from_geojson_str(&exported.to_string()).unwrap();
    assert_eq!(back.buurten().len(), 238);
    for (a, b) in index.buurten().iter().zip(back.buurten()) {
        assert_eq!(a.buurtcode, b.buurtcode);
        assert_eq!(a.buurtnaam, b.buurtnaam);
        for (ca, cb) in vertices(a).zip(vertices(b)) {
            assert!((ca.x - cb.x).hypot(ca.y - cb.y) < 0.05, "{}", a.buurtcode);
        }
        assert!((a.area_m2 - b.area_m2).abs() / a.area_m2 < 1e-4);
    }
    for (i, buurt) in back.buurten().iter().enumerate() {
        let p = buurt.geometry.interior_point().unwrap();
        assert_eq!(back.locate(p.x(), p.y()), Some(i));
    }
}

// -------------------------------------------------------------- fixtures

#[test]
fn a_point_in_a_hole_is_not_in_the_buurt() {
    let ring = polygon(vec![
        square(0.0, 0.0, 10.0, 10.0),
        square(3.0, 3.0, 7.0, 7.0),
    ]);
    let alone =
        BuurtIndex::from_geojson_str(&rd_collection(vec![feature("BU00010002", ring.clone())]))
            .unwrap();
    assert_eq!(alone.locate(5.0, 5.0), None, "in the hole");
    assert_eq!(alone.locate(1.0, 1.0), Some(0));
    assert_eq!(alone.locate(3.0, 5.0), Some(0), "on the hole's boundary");
    assert!((alone.buurten()[0].area_m2 - 84.0).abs() < 1e-9);

    // A buurt filling the hole gets its interior; on the hole's boundary
    // the smaller buurtcode (here the filler) wins.
    let filled = BuurtIndex::from_geojson_str(&rd_collection(vec![
        feature("BU00010002", ring),
        feature("BU00010001", polygon(vec![square(3.0, 3.0, 7.0, 7.0)])),
    ]))
    .unwrap();
    let code = |i: Option<usize>| i.map(|i| filled.buurten()[i].buurtcode.as_str());
    assert_eq!(code(filled.locate(5.0, 5.0)), Some("BU00010001"));
    assert_eq!(code(filled.locate(1.0, 1.0)), Some("BU00010002"));
    assert_eq!(code(filled.locate(3.0, 5.0)), Some("BU00010001"));
    assert_eq!(code(filled.locate(7.0, 7.0)), Some("BU00010001"));
    assert_eq!(code(filled.locate(10.0, 5.0)), Some("BU00010002"));
    assert_eq!(filled.locate(10.5, 5.0), None);
}

#[test]
fn both_parts_of_a_multipolygon_belong_to_the_buurt() {
    let multi = json!({
        "type": "MultiPolygon",
        "coordinates": [
            [square(0.0, 0.0, 10.0, 10.0)],
            [square(100.0, 100.0, 110.0, 120.0), square(102.0, 102.0, 104.0, 104.0)],
        ],
    });
    let other = polygon(vec![square(10.0, 0.0, 20.0, 10.0)]);
    let index = BuurtIndex::from_geojson_str(&rd_collection(vec![
        feature("BU05990101", multi),
        feature("BU05990100", other),
    ]))
    .unwrap();
    let multi_i = index
        .buurten()
        .iter()
        .position(|b| b.buurtcode == "BU05990101")
        .unwrap();
    assert_eq!(index.buurten()[multi_i].geometry.0.len(), 2);
    assert_eq!(index.locate(5.0, 5.0), Some(multi_i));
    assert_eq!(index.locate(105.0, 115.0), Some(multi_i));
    assert_eq!(index.locate(103.0, 103.0), None, "hole of the second part");
    assert_eq!(index.locate(50.0, 50.0), None, "between the parts");
    assert_eq!(index.locate(15.0, 5.0), Some(1 - multi_i));
    // Shared edge x = 10: BU05990100 < BU05990101.
    assert_eq!(index.locate(10.0, 5.0), Some(1 - multi_i));
    assert!((index.buurten()[multi_i].area_m2 - (100.0 + 200.0 - 4.0)).abs() < 1e-9);
    assert_eq!(index.bbox(), (0.0, 0.0, 110.0, 120.0));

    let exported = index.to_geojson_wgs84();
    assert_eq!(
        exported["features"][multi_i]["geometry"]["type"],
        "MultiPolygon"
    );
}

#[test]
fn wgs84_input_without_crs_is_converted_to_rd() {
    // A 200 m square around Amersfoort's reference point, written in WGS84.
    let rd_ring = square(154_900.0, 462_900.0, 155_100.0, 463_100.0);
    let wgs_ring: Vec<[f64; 3]> = rd_ring
        .iter()
        .map(|&[x, y]| {
            let (lat, lon) = rd_to_wgs84(x, y);
            [lon, lat, 3.5] // a height is allowed and ignored
        })
        .collect();
    let text = json!({
        "type": "FeatureCollection",
        "features": [feature("BU03070000", json!({ "type": "Polygon", "coordinates": [wgs_ring] }))],
    })
    .to_string();
    let index = BuurtIndex::from_geojson_str(&text).unwrap();
    let geometry = &index.buurten()[0].geometry;
    for (got, want) in vertices(&index.buurten()[0]).zip(&rd_ring) {
        assert!((got.x - want[0]).hypot(got.y - want[1]) < 0.01, "{got:?}");
    }
    assert!((index.buurten()[0].area_m2 - 40_000.0).abs() < 1.0);
    assert!(geometry.0[0].interiors().is_empty());
    assert_eq!(index.locate(155_000.0, 463_000.0), Some(0));
    assert_eq!(index.locate(155_150.0, 463_000.0), None);
    let (x, y) = wgs84_to_rd(52.155_174_40, 5.387_206_21);
    assert_eq!(index.locate(x, y), Some(0));

    // The same with an explicit CRS84 name.
    let named = text.replacen(
        "\"features\"",
        "\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"urn:ogc:def:crs:OGC:1.3:CRS84\"}},\"features\"",
        1,
    );
    assert_eq!(
        BuurtIndex::from_geojson_str(&named)
            .unwrap()
            .locate(155_000.0, 463_000.0),
        Some(0)
    );
}

#[test]
fn rd_coordinates_without_crs_are_refused() {
    let text = json!({
        "type": "FeatureCollection",
        "features": [feature("BU00340101", polygon(vec![square(143_000.0, 483_000.0, 143_100.0, 483_100.0)]))],
    })
    .to_string();
    let err = BuurtIndex::from_geojson_str(&text).unwrap_err();
    assert!(
        matches!(&err, GeoError::InvalidFeature { index: 0, buurtcode: Some(c), reason } if c == "BU00340101" && reason.contains("WGS84")),
        "{err:?}"
    );
}

#[test]
fn unsupported_crs_is_an_error() {
    let text = rd_collection(vec![feature(
        "BU00340101",
        polygon(vec![square(0.0, 0.0, 1.0, 1.0)]),
    )])
    .replace("urn:ogc:def:crs:EPSG::28992", "urn:ogc:def:crs:EPSG::3857");
    let err = BuurtIndex::from_geojson_str(&text).unwrap_err();
    assert!(
        matches!(&err, GeoError::UnsupportedCrs { name } if name == "urn:ogc:def:crs:EPSG::3857"),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::BadInput);

    let link = r#"{"type":"FeatureCollection","crs":{"type":"link","properties":{"href":"x"}},"features":[]}"#;
    assert!(matches!(
        BuurtIndex::from_geojson_str(link),
        Err(GeoError::InvalidDocument { .. })
    ));
}

#[test]
fn malformed_json_reports_line_and_column() {
    let text =
        "{\"type\": \"FeatureCollection\",\n \"features\": [\n  {\"type\": \"Feature\",, }\n]}";
    let err = BuurtIndex::from_geojson_str(text).unwrap_err();
    match &err {
        GeoError::Json {
            line,
            column,
            message,
        } => {
            assert_eq!((*line, *column), (3, 22), "{message}");
            assert!(!message.is_empty());
        }
        other => panic!("expected Json, got {other:?}"),
    }
    assert_eq!(err.kind(), ErrorKind::BadInput);
    assert!(err.to_string().contains("line 3, column 22"), "{err}");

    // Bytes that are not UTF-8 are a Json error too.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.geojson");
    std::fs::write(&path, b"{\"type\": \"Lumi\xe8re\"}").unwrap();
    assert!(matches!(
        BuurtIndex::from_path(&path),
        Err(GeoError::Json { line: 1, .. })
    ));
}

#[test]
fn missing_property_names_the_feature_index() {
    let mut broken = feature("BU00340102", polygon(vec![square(0.0, 0.0, 1.0, 1.0)]));
    broken["properties"]
        .as_object_mut()
        .unwrap()
        .remove("gemeentenaam");
    let text = rd_collection(vec![
        feature("BU00340101", polygon(vec![square(2.0, 0.0, 3.0, 1.0)])),
        broken,
    ]);
    let err = BuurtIndex::from_geojson_str(&text).unwrap_err();
    match &err {
        GeoError::InvalidFeature {
            index,
            buurtcode,
            reason,
        } => {
            assert_eq!(*index, 1);
            assert_eq!(buurtcode.as_deref(), Some("BU00340102"));
            assert!(reason.contains("gemeentenaam"), "{reason}");
        }
        other => panic!("expected InvalidFeature, got {other:?}"),
    }
    assert_eq!(err.kind(), ErrorKind::BadInput);

    let mut no_code = feature("BU00340101", polygon(vec![square(0.0, 0.0, 1.0, 1.0)]));
    no_code["properties"]
        .as_object_mut()
        .unwrap()
        .remove("buurtcode");
    let err = BuurtIndex::from_geojson_str(&rd_collection(vec![no_code])).unwrap_err();
    assert!(matches!(
        err,
        GeoError::InvalidFeature { index: 0, buurtcode: None, ref reason } if reason.contains("buurtcode")
    ));
}

#[test]
fn invalid_features_are_refused() {
    let good = || polygon(vec![square(0.0, 0.0, 1.0, 1.0)]);
    let with_prop = |key: &str, value: Value| {
        let mut f = feature("BU00340101", good());
        f["properties"][key] = value;
        f
    };
    let cases: Vec<(Value, &str)> = vec![
        (with_prop("buurtcode", json!("BU003401")), "buurtcode"),
        (with_prop("wijkcode", json!("WK34")), "wijkcode"),
        (with_prop("gemeentecode", json!("GM34")), "gemeentecode"),
        (with_prop("buurtnaam", json!(12)), "buurtnaam"),
        (with_prop("wijknaam", json!(["x"])), "wijknaam"),
        (
            feature(
                "BU00340101",
                json!({ "type": "Point", "coordinates": [1.0, 2.0] }),
            ),
            "Polygon or MultiPolygon",
        ),
        (feature("BU00340101", Value::Null), "missing geometry"),
        (
            feature(
                "BU00340101",
                polygon(vec![vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]]),
            ),
            "not closed",
        ),
        (
            feature(
                "BU00340101",
                polygon(vec![vec![[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]]),
            ),
            "at least 4",
        ),
        (feature("BU00340101", polygon(vec![])), "no rings"),
        (
            feature(
                "BU00340101",
                json!({ "type": "Polygon", "coordinates": [[[0, 0], [1], [1, 1], [0, 0]]] }),
            ),
            "position 1",
        ),
        (
            feature(
                "BU00340101",
                json!({ "type": "MultiPolygon", "coordinates": [] }),
            ),
            "no polygons",
        ),
    ];
    for (f, needle) in cases {
        let err = BuurtIndex::from_geojson_str(&rd_collection(vec![f])).unwrap_err();
        match &err {
            GeoError::InvalidFeature {
                index: 0, reason, ..
            } => {
                assert!(reason.contains(needle), "{reason:?} lacks {needle:?}");
            }
            other => panic!("expected InvalidFeature for {needle}, got {other:?}"),
        }
    }
    // A wijknaam, when present, is kept.
    let index =
        BuurtIndex::from_geojson_str(&rd_collection(vec![with_prop("wijknaam", json!("Wijk 1"))]))
            .unwrap();
    assert_eq!(index.buurten()[0].wijknaam.as_deref(), Some("Wijk 1"));
    assert_eq!(
        index.to_geojson_wgs84()["features"][0]["properties"]["wijknaam"],
        "Wijk 1"
    );
}

#[test]
fn document_level_errors() {
    let sq = || polygon(vec![square(0.0, 0.0, 1.0, 1.0)]);
    let dup = rd_collection(vec![
        feature("BU00340101", sq()),
        feature("BU00340101", sq()),
    ]);
    assert!(matches!(
        BuurtIndex::from_geojson_str(&dup),
        Err(GeoError::DuplicateBuurt { ref buurtcode }) if buurtcode == "BU00340101"
    ));
    assert!(matches!(
        BuurtIndex::from_geojson_str(&rd_collection(vec![])),
        Err(GeoError::Empty)
    ));
    for text in [
        "[]",
        r#"{"type": "Feature", "features": []}"#,
        r#"{"type": "FeatureCollection"}"#,
    ] {
        let err = BuurtIndex::from_geojson_str(text).unwrap_err();
        assert!(
            matches!(err, GeoError::InvalidDocument { .. }),
            "{text}: {err:?}"
        );
        assert_eq!(err.kind(), ErrorKind::BadInput);
    }
}

#[test]
fn a_missing_file_is_not_found() {
    let path = Path::new("/nonexistent/knooppunt/buurten.geojson");
    let err = BuurtIndex::from_path(path).unwrap_err();
    assert!(matches!(&err, GeoError::Io { path: p, .. } if p == path));
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn from_buurten_sorts_checks_and_computes_area() {
    let make = |code: &str, x0: f64| Buurt {
        buurtcode: code.into(),
        buurtnaam: "b".into(),
        wijkcode: "WK123401".into(),
        wijknaam: None,
        gemeentecode: "GM1234".into(),
        gemeentenaam: "g".into(),
        geometry: MultiPolygon(vec![Polygon::new(
            LineString::from(vec![
                (x0, 0.0),
                (x0 + 2.0, 0.0),
                (x0 + 2.0, 2.0),
                (x0, 2.0),
                (x0, 0.0),
            ]),
            vec![],
        )]),
        area_m2: 0.0,
    };
    let index =
        BuurtIndex::from_buurten(vec![make("BU12340102", 0.0), make("BU12340101", 2.0)]).unwrap();
    let codes: Vec<&str> = index
        .buurten()
        .iter()
        .map(|b| b.buurtcode.as_str())
        .collect();
    assert_eq!(codes, ["BU12340101", "BU12340102"]);
    assert!(
        index
            .buurten()
            .iter()
            .all(|b| (b.area_m2 - 4.0).abs() < 1e-12)
    );
    assert_eq!(index.locate(1.0, 1.0), Some(1));
    assert_eq!(index.locate(2.0, 1.0), Some(0), "shared edge: smaller code");

    let mut bad = make("BU12340103", 0.0);
    bad.gemeentecode = "GM12345".into();
    let err = BuurtIndex::from_buurten(vec![make("BU12340101", 5.0), bad]).unwrap_err();
    assert!(
        matches!(
            err,
            GeoError::InvalidFeature {
                index: 1,
                buurtcode: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    // geo closes rings itself, so a degenerate ring is the way to break one.
    let mut degenerate = make("BU12340103", 0.0);
    degenerate.geometry.0[0] = Polygon::new(LineString::from(vec![(0.0, 0.0), (1.0, 0.0)]), vec![]);
    assert!(matches!(
        BuurtIndex::from_buurten(vec![degenerate]),
        Err(GeoError::InvalidFeature { index: 0, ref reason, .. }) if reason.contains("at least 4")
    ));
    let mut infinite = make("BU12340103", 0.0);
    infinite.geometry.0[0].exterior_mut(|ring| ring.0[1].x = f64::INFINITY);
    assert!(matches!(
        BuurtIndex::from_buurten(vec![infinite]),
        Err(GeoError::InvalidFeature { index: 0, ref reason, .. }) if reason.contains("finite")
    ));
    assert!(matches!(
        BuurtIndex::from_buurten(vec![]),
        Err(GeoError::Empty)
    ));
}

/// Throughput on the Almere index; run with `--ignored --nocapture`.
#[test]
#[ignore = "timing, not a check"]
fn locate_throughput() {
    let index = almere();
    let (minx, miny, maxx, maxy) = index.bbox();
    let n = 2_000_000_u32;
    let start = std::time::Instant::now();
    let mut hits = 0_usize;
    for i in 0..n {
        // A low-discrepancy sequence over the bounding box.
        let fx = (f64::from(i) * 0.754_877_666_246_692_7).fract();
        let fy = (f64::from(i) * 0.569_840_290_998_053_2).fract();
        hits += usize::from(
            index
                .locate(minx + fx * (maxx - minx), miny + fy * (maxy - miny))
                .is_some(),
        );
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{:.2} M points/s ({hits} hits)", f64::from(n) / secs / 1e6);
}

// ------------------------------------------------------------- proptest

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// `locate` agrees with a brute-force scan, also on vertices, edge
    /// midpoints and integer points, where boundary ties are common.
    #[test]
    fn locate_agrees_with_brute_force(
        mode in 0_u8..4,
        fx in -0.05_f64..1.05,
        fy in -0.05_f64..1.05,
        pick_buurt in any::<Index>(),
        pick_vertex in any::<Index>(),
    ) {
        let index = almere();
        let (minx, miny, maxx, maxy) = index.bbox();
        let (x, y) = (minx + fx * (maxx - minx), miny + fy * (maxy - miny));
        let buurt = pick_buurt.get(index.buurten());
        let ring = buurt.geometry.0[0].exterior();
        let v = pick_vertex.index(ring.0.len() - 1);
        let (x, y) = match mode {
            0 => (x, y),
            1 => (x.round(), y.round()),
            2 => (ring.0[v].x, ring.0[v].y),
            _ => ((ring.0[v].x + ring.0[v + 1].x) / 2.0, (ring.0[v].y + ring.0[v + 1].y) / 2.0),
        };
        prop_assert_eq!(index.locate(x, y), brute_force(index, x, y), "point {},{}", x, y);
    }
}
