//! `pip_points`: the knooppunt side of the point-in-polygon comparison with
//! DuckDB (`benches/peer/run.py`).
//!
//! - `pip_points write --out F --points N --seed S [--buurten G]` writes N
//!   seeded random points inside the bounding box of the buurten to the
//!   Parquet file F (columns `x`, `y`, Float64).
//! - `pip_points locate --input F [--buurten G] [--repeat R]` reads F into
//!   memory, builds the buurt index and times only the assignment of every
//!   point to its buurt on all cores (rayon over `BuurtIndex::locate`). It
//!   prints one JSON object: `points`, `seconds` (median of the R runs),
//!   `runs` (every run), `points_per_sec`, `matched`, `threads`,
//!   `load_seconds` (reading F) and `index_seconds` (building the index).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use knooppunt_benches::{
    almere_buurten, locate_parallel, random_points, read_points, write_points,
};
use knooppunt_geo::BuurtIndex;
use serde_json::json;

/// Point-in-polygon benchmark helper.
#[derive(Parser, Debug)]
#[command(name = "pip_points", about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write seeded random points in the buurten's bounding box to Parquet.
    Write {
        /// Output Parquet file.
        #[arg(long)]
        out: PathBuf,
        /// Number of points.
        #[arg(long, default_value_t = 10_000_000)]
        points: usize,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Buurt polygons (GeoJSON); default: Almere 2024 from sample-data.
        #[arg(long)]
        buurten: Option<PathBuf>,
    },
    /// Time locating every point of a Parquet file (points in memory).
    Locate {
        /// Parquet file with columns x and y.
        #[arg(long)]
        input: PathBuf,
        /// Buurt polygons (GeoJSON); default: Almere 2024 from sample-data.
        #[arg(long)]
        buurten: Option<PathBuf>,
        /// Timed runs; the median is reported.
        #[arg(long, default_value_t = 1)]
        repeat: usize,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Write {
            out,
            points,
            seed,
            buurten,
        } => {
            let index = load_index(buurten)?;
            let pts = random_points(index.bbox(), points, seed);
            write_points(&out, &pts)?;
            let (minx, miny, maxx, maxy) = index.bbox();
            println!(
                "{}",
                json!({
                    "points": pts.len(),
                    "seed": seed,
                    "bbox": [minx, miny, maxx, maxy],
                    "file": out.display().to_string(),
                })
            );
        }
        Command::Locate {
            input,
            buurten,
            repeat,
        } => {
            if repeat == 0 {
                bail!("--repeat must be at least 1");
            }
            let started = Instant::now();
            let index = load_index(buurten)?;
            let index_seconds = started.elapsed().as_secs_f64();
            let started = Instant::now();
            let pts = read_points(&input)?;
            let load_seconds = started.elapsed().as_secs_f64();
            let mut runs = Vec::with_capacity(repeat);
            let mut matched = 0usize;
            for _ in 0..repeat {
                let started = Instant::now();
                let located = locate_parallel(&index, &pts);
                matched = located.iter().filter(|b| b.is_some()).count();
                runs.push(started.elapsed().as_secs_f64());
            }
            let mut sorted = runs.clone();
            sorted.sort_by(f64::total_cmp);
            let seconds = sorted[sorted.len() / 2];
            println!(
                "{}",
                json!({
                    "points": pts.len(),
                    "seconds": seconds,
                    "runs": runs,
                    "points_per_sec": pts.len() as f64 / seconds,
                    "matched": matched,
                    "threads": rayon::current_num_threads(),
                    "load_seconds": load_seconds,
                    "index_seconds": index_seconds,
                })
            );
        }
    }
    Ok(())
}

fn load_index(buurten: Option<PathBuf>) -> Result<BuurtIndex> {
    let path = buurten.unwrap_or_else(almere_buurten);
    BuurtIndex::from_path(&path).with_context(|| format!("loading buurten {}", path.display()))
}
