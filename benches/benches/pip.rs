//! Point-in-polygon: locating 1 million seeded random points in the
//! bounding box of the real Almere buurten (238 polygons, RD New), on one
//! thread and on all cores. The 10-million-point comparison with DuckDB's
//! spatial join is `benches/peer/run.py`.

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use knooppunt_benches::{almere_buurten, locate_parallel, random_points};
use knooppunt_geo::BuurtIndex;

const POINTS: usize = 1_000_000;

fn bench_pip(c: &mut Criterion) {
    let index = BuurtIndex::from_path(&almere_buurten()).unwrap();
    let points = random_points(index.bbox(), POINTS, 1);

    let mut group = c.benchmark_group("pip_almere_1m");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(POINTS as u64));
    group.bench_function("locate_one_thread", |b| {
        b.iter(|| black_box(index.locate_many(&points.xs, &points.ys)));
    });
    group.bench_function("locate_all_cores", |b| {
        b.iter(|| black_box(locate_parallel(&index, &points)));
    });
    group.finish();
}

criterion_group!(benches, bench_pip);
criterion_main!(benches);
