//! Disclosure control of a national release: ≈14,000 buurten, ≈3,300
//! wijken, 342 gemeenten × 12 indicators (issue 4: under a second).

use criterion::{Criterion, criterion_group, criterion_main};
use knooppunt_privacy::{ReleaseConfig, release};

#[allow(dead_code, unreachable_pub)]
#[path = "../tests/it/synth.rs"]
mod synth;

fn national(c: &mut Criterion) {
    let cells = synth::generate(2025, &synth::Spec::national());
    let config = ReleaseConfig::default();
    let rel = release(&cells, &config).expect("releases");
    let levels = |l: knooppunt_core::Level| cells.iter().filter(|c| c.level == l).count() / 12;
    eprintln!(
        "national synthetic release: {} cells ({} buurten, {} wijken, {} gemeenten incl. onbekend); {:?}",
        cells.len(),
        levels(knooppunt_core::Level::Buurt),
        levels(knooppunt_core::Level::Wijk),
        levels(knooppunt_core::Level::Gemeente),
        rel.summary
    );
    let mut group = c.benchmark_group("release");
    group.sample_size(10);
    group.bench_function("national_12_indicators", |b| {
        b.iter(|| release(std::hint::black_box(&cells), &config).expect("releases"))
    });
    group.finish();
}

criterion_group!(benches, national);
criterion_main!(benches);
