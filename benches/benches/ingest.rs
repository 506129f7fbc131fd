//! Ingest throughput per source on a generated scale-0.1 export set.
//!
//! For every source, each iteration starts from a fresh lake that already
//! holds the source's dependencies (buurten, and bag for the
//! address-linked sources; prepared outside the timing) and ingests an
//! exports directory holding only that source's file: hashing, encoding
//! detection, loading the linker, validation, pseudonymisation,
//! quarantine, linking and the Parquet write are all inside the timing.
//! Throughput is in input bytes. The comparison with DuckDB at scale 1 and
//! 10 is `benches/peer/run.py`.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use knooppunt_benches::almere_buurten;
use knooppunt_core::{Source, SystemClock};
use knooppunt_ingest::{IngestOptions, NoProgress, PseudonymKey, Status, ingest};
use knooppunt_synth::{SynthConfig, generate};
use tempfile::TempDir;

const SCALE: f64 = 0.1;

fn run_ingest(exports: &Path, lake: &Path) -> knooppunt_ingest::IngestSummary {
    let opts = IngestOptions {
        exports: exports.to_path_buf(),
        lake: lake.to_path_buf(),
        key: PseudonymKey::from_secret(&[7u8; 32]).unwrap(),
        clock: Arc::new(SystemClock),
    };
    ingest(&opts, &NoProgress).unwrap()
}

/// An exports directory holding copies of the files of `sources`.
fn exports_with(root: &Path, all: &Path, name: &str, sources: &[Source]) -> std::path::PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for s in sources {
        std::fs::copy(all.join(s.file_name()), dir.join(s.file_name())).unwrap();
    }
    dir
}

fn bench_ingest(c: &mut Criterion) {
    let root = TempDir::new().unwrap();
    let all = root.path().join("exports");
    let cfg = SynthConfig {
        out: all.clone(),
        scale: SCALE,
        seed: 1,
        clean: false,
        buurten: almere_buurten(),
    };
    generate(&cfg, &mut |_| {}).unwrap();

    let mut group = c.benchmark_group("ingest_scale_0.1");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for source in Source::ALL {
        let deps: &[Source] = match source.depends_on() {
            [] => &[],
            [Source::Buurten] => &[Source::Buurten],
            _ => &[Source::Buurten, Source::Bag],
        };
        let deps_dir = exports_with(root.path(), &all, &format!("deps-{}", source.name()), deps);
        let only_dir = exports_with(
            root.path(),
            &all,
            &format!("only-{}", source.name()),
            &[source],
        );
        let bytes = std::fs::metadata(all.join(source.file_name()))
            .unwrap()
            .len();
        group.throughput(Throughput::Bytes(bytes));
        group.bench_function(source.name(), |b| {
            b.iter_batched(
                || {
                    let lake = TempDir::new().unwrap();
                    if !deps.is_empty() {
                        assert!(run_ingest(&deps_dir, lake.path()).ok());
                    }
                    lake
                },
                |lake| {
                    let summary = run_ingest(&only_dir, lake.path());
                    let report = summary.source(source).unwrap();
                    assert!(matches!(report.status, Status::Written { .. }));
                    lake
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, bench_ingest);
criterion_main!(benches);
