//! Geography of knooppunt: RD New ⇄ WGS84, buurt polygons and
//! point-in-polygon.
//!
//! # Brief overview
//! - [`rd_to_wgs84`] and [`wgs84_to_rd`] convert between RD New
//!   (EPSG:28992, metres) and WGS84 (degrees) with the published
//!   approximation polynomials (better than 1 m inside the Netherlands).
//! - [`Buurt`] is one CBS buurt: its codes and names, its boundary as a
//!   `geo::MultiPolygon` in RD New metres, and its area.
//! - [`BuurtIndex`] holds the buurten of an area, sorted by buurtcode, and
//!   an R-tree (rstar) over the bounding boxes of their polygons.
//!   [`BuurtIndex::locate`] maps an RD point to the buurt containing it with
//!   an exact test (geo's `CoordinatePosition`); a point on a boundary goes
//!   to the buurt with the smallest buurtcode among those it touches.
//!   [`BuurtIndex::to_geojson_wgs84`] gives the buurten back as WGS84
//!   GeoJSON for maps.
//! - [`GeoError`] is the error of every fallible function; its
//!   [`GeoError::kind`] classifies it by fault.
//!
//! # Input
//! A GeoJSON FeatureCollection whose features carry the properties
//! `buurtcode` (`BU` + 8 digits), `buurtnaam`, `wijkcode` (`WK` + 6
//! digits), `wijknaam` (optional), `gemeentecode` (`GM` + 4 digits) and
//! `gemeentenaam`, with a Polygon or MultiPolygon geometry (holes allowed).
//! A top-level `crs` naming EPSG:28992 means RD New metres; no `crs` (or
//! one naming CRS84/WGS84) means WGS84 `[lon, lat]`, converted to RD New on
//! load. All geometry work happens in RD New metres; WGS84 is only an input
//! and output format.
//!
//! This crate knows nothing about departmental sources: it links
//! coordinates to buurten and nothing else.

mod buurt;
mod error;
mod index;
mod parse;
mod rd;

pub use buurt::Buurt;
pub use error::GeoError;
pub use index::BuurtIndex;
pub use rd::{rd_to_wgs84, wgs84_to_rd};

#[cfg(test)]
mod tests;
