//! The twelve indicators and the signals on a generated scale-1 lake
//! (≈ 150,000 inhabitants; exports with quirks and invalid rows, ingested
//! once outside the timing).
//!
//! - `indicators/all_twelve`: [`Engine::indicators`] at the generator's
//!   peildatum — planning and executing every indicator file at buurt, wijk
//!   and gemeente level, and collecting the values. The engine and its
//!   runtime are opened once; every iteration builds a fresh session with
//!   the derived views, as every real call does.
//! - `indicators/signals`: [`compute_signals`] on two precomputed tables
//!   (the peildatum and a year earlier): shrinkage, percentiles, robust z,
//!   drivers and trend, in Rust.
//!
//! Scales 10 and 100, peak memory and the DuckDB comparison on the same
//! Parquet files are `benches/peer/indicators.py`.

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use knooppunt_benches::almere_buurten;
use knooppunt_core::SystemClock;
use knooppunt_ingest::{IngestOptions, NoProgress, PseudonymKey, ingest};
use knooppunt_query::{Engine, EngineOptions, SignalConfig, compute_signals};
use knooppunt_synth::{SynthConfig, generate};
use tempfile::TempDir;

const SCALE: f64 = 1.0;

fn bench_indicators(c: &mut Criterion) {
    let root = TempDir::new().unwrap();
    let exports = root.path().join("exports");
    let lake = root.path().join("lake");
    let cfg = SynthConfig {
        out: exports.clone(),
        scale: SCALE,
        seed: 1,
        clean: false,
        buurten: almere_buurten(),
    };
    generate(&cfg, &mut |_| {}).unwrap();
    let opts = IngestOptions {
        exports,
        lake: lake.clone(),
        key: PseudonymKey::from_secret(&[7u8; 32]).unwrap(),
        clock: Arc::new(SystemClock),
    };
    ingest(&opts, &NoProgress).unwrap();

    let engine = Engine::open(&lake, EngineOptions::default()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let peildatum = NaiveDate::from_ymd_opt(2026, 9, 30).unwrap();
    let year_before = NaiveDate::from_ymd_opt(2025, 9, 30).unwrap();

    let mut group = c.benchmark_group("indicators");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    group.bench_function("all_twelve_scale_1", |b| {
        b.iter(|| runtime.block_on(engine.indicators(peildatum)).unwrap())
    });
    let current = runtime.block_on(engine.indicators(peildatum)).unwrap();
    let previous = runtime.block_on(engine.indicators(year_before)).unwrap();
    group.bench_function("signals_scale_1", |b| {
        b.iter(|| compute_signals(&current, Some(&previous), &SignalConfig::default()))
    });
    group.finish();
}

criterion_group!(benches, bench_indicators);
criterion_main!(benches);
