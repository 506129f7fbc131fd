//! Helpers shared by knooppunt's benchmarks.
//!
//! # Brief overview
//! - [`random_points`] draws seeded, uniformly distributed points in a
//!   bounding box (RD New metres): the same seed gives the same points on
//!   every machine.
//! - [`write_points`] and [`read_points`] store them as Parquet (columns
//!   `x`, `y`, Float64), so that knooppunt and the DuckDB peer
//!   (`benches/peer/run.py`) locate exactly the same points.
//! - [`locate_parallel`] assigns every point to its buurt with
//!   [`BuurtIndex::locate`] on all cores (rayon, chunks of [`CHUNK`]).
//! - [`almere_buurten`] is the path of the real Almere buurt polygons in
//!   `sample-data/`.
//!
//! The criterion benches live in `benches/` (`ingest`, `pip`); the binary
//! `pip_points` is what the peer script calls.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{Array, ArrayRef, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use knooppunt_geo::BuurtIndex;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::properties::WriterProperties;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Points per rayon task in [`locate_parallel`].
pub const CHUNK: usize = 16 * 1024;

/// Rows per Parquet row group and record batch of a points file.
const BATCH: usize = 1 << 20;

/// The CBS buurten of Almere (2024, RD New) shipped in `sample-data/`.
pub fn almere_buurten() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-data/buurten_almere_2024.geojson")
}

/// Points as two columns: `xs[i], ys[i]` is point `i`, in RD New metres.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Points {
    /// X (easting) of every point.
    pub xs: Vec<f64>,
    /// Y (northing) of every point.
    pub ys: Vec<f64>,
}

impl Points {
    /// Number of points.
    pub fn len(&self) -> usize {
        self.xs.len()
    }

    /// True when there are no points.
    pub fn is_empty(&self) -> bool {
        self.xs.is_empty()
    }
}

/// `n` points drawn uniformly from the box `(minx, miny, maxx, maxy)` with
/// a ChaCha8 stream seeded by `seed`.
pub fn random_points(bbox: (f64, f64, f64, f64), n: usize, seed: u64) -> Points {
    let (minx, miny, maxx, maxy) = bbox;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut xs = Vec::with_capacity(n);
    let mut ys = Vec::with_capacity(n);
    for _ in 0..n {
        xs.push(rng.random_range(minx..maxx));
        ys.push(rng.random_range(miny..maxy));
    }
    Points { xs, ys }
}

fn points_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("x", DataType::Float64, false),
        Field::new("y", DataType::Float64, false),
    ]))
}

/// Writes points to a Parquet file with columns `x` and `y` (Float64, not
/// null; uncompressed, since random doubles do not compress).
pub fn write_points(path: &Path, points: &Points) -> Result<()> {
    let schema = points_schema();
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(BATCH))
        .build();
    let mut writer = ArrowWriter::try_new(file, Arc::clone(&schema), Some(props))?;
    for (xs, ys) in points.xs.chunks(BATCH).zip(points.ys.chunks(BATCH)) {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Float64Array::from(xs.to_vec())),
            Arc::new(Float64Array::from(ys.to_vec())),
        ];
        writer.write(&RecordBatch::try_new(Arc::clone(&schema), columns)?)?;
    }
    writer.close()?;
    Ok(())
}

/// Reads a points file written by [`write_points`] (or any Parquet file
/// with non-null Float64 columns `x` and `y`).
pub fn read_points(path: &Path) -> Result<Points> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?
        .with_batch_size(BATCH)
        .build()?;
    let mut points = Points::default();
    for batch in reader {
        let batch = batch?;
        for (name, out) in [("x", &mut points.xs), ("y", &mut points.ys)] {
            let column = batch
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<Float64Array>())
                .with_context(|| format!("{}: no Float64 column {name}", path.display()))?;
            if column.null_count() > 0 {
                bail!("{}: column {name} has nulls", path.display());
            }
            out.extend_from_slice(column.values());
        }
    }
    Ok(points)
}

/// The buurt of every point (an index into [`BuurtIndex::buurten`], or
/// `None` outside every buurt), computed on all threads of the current
/// rayon pool in chunks of [`CHUNK`] points.
pub fn locate_parallel(index: &BuurtIndex, points: &Points) -> Vec<Option<u32>> {
    let mut out = vec![None; points.len()];
    out.par_chunks_mut(CHUNK)
        .zip(points.xs.par_chunks(CHUNK))
        .zip(points.ys.par_chunks(CHUNK))
        .for_each(|((out, xs), ys)| {
            for ((o, &x), &y) in out.iter_mut().zip(xs).zip(ys) {
                // Indexes fit in u32: BuurtIndex refuses more buurten.
                *o = index.locate(x, y).map(|b| b as u32);
            }
        });
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn points_are_seeded_and_inside_the_box() {
        let bbox = (10.0, 20.0, 30.0, 50.0);
        let a = random_points(bbox, 1000, 7);
        assert_eq!(a, random_points(bbox, 1000, 7));
        assert_ne!(a, random_points(bbox, 1000, 8));
        assert!(a.xs.iter().all(|x| (10.0..30.0).contains(x)));
        assert!(a.ys.iter().all(|y| (20.0..50.0).contains(y)));
    }

    #[test]
    fn parquet_round_trip_and_parallel_locate_match_serial() {
        let index = BuurtIndex::from_path(&almere_buurten()).unwrap();
        let points = random_points(index.bbox(), 50_000, 1);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("points.parquet");
        write_points(&path, &points).unwrap();
        assert_eq!(read_points(&path).unwrap(), points);
        let parallel = locate_parallel(&index, &points);
        assert_eq!(parallel, index.locate_many(&points.xs, &points.ys));
        assert!(parallel.iter().any(Option::is_some));
    }
}
