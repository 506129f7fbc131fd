//! Durable appends per second with 1 and 32 concurrent writers, and verify
//! throughput, on a temporary directory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use knooppunt_audit::{Actor, AuditConfig, AuditLog, Outcome, RecordDraft, RecordKind, verify};
use knooppunt_core::SystemClock;

fn draft(i: u64) -> RecordDraft {
    let mut d = RecordDraft::new(
        RecordKind::Query,
        Actor::Token(format!("tok-{}", i % 7)),
        "analyst",
        "gebiedsanalyse",
        "POST /v1/sql",
    );
    d.trace_id = format!("trace-{i}");
    d.client = "http".to_owned();
    d.sql = Some("SELECT buurt, count(*) FROM brp WHERE leeftijd > 30 GROUP BY buurt".to_owned());
    d.plan_fingerprint = Some("9f2c1e0d5b7a".to_owned());
    d.snapshots
        .insert("brp".to_owned(), "snap-2025-03-01".to_owned());
    d.tables = vec!["brp".to_owned()];
    d.columns = vec!["brp.buurt".to_owned(), "brp.leeftijd".to_owned()];
    d.cells_returned = 120;
    d.cells_suppressed.insert("threshold".to_owned(), 4);
    d.noise_scale = Some(2.0);
    d.budget_charged = Some(0.05);
    d.budget_left = Some(4.2);
    d.outcome = Outcome::Released;
    d.policy_version = "policy-v1".to_owned();
    d.duration_ms = 12;
    d
}

/// Appends `total` records from `writers` threads; returns the elapsed time.
fn run(log: &AuditLog, writers: u64, total: u64) -> Duration {
    let per = total.div_ceil(writers);
    let start = Instant::now();
    std::thread::scope(|s| {
        for w in 0..writers {
            let log = log.clone();
            s.spawn(move || {
                for i in 0..per {
                    log.append(draft(w * per + i)).expect("append");
                }
            });
        }
    });
    start.elapsed()
}

fn appends(c: &mut Criterion) {
    let mut group = c.benchmark_group("durable_append");
    group.sample_size(10);
    for writers in [1u64, 32] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let key = tmp.path().join("bench.key");
        knooppunt_audit::generate_signing_key(&key).expect("key");
        let config = AuditConfig::new(tmp.path().join("log")).with_signing_key(&key);
        let (log, _) = AuditLog::open(config, Arc::new(SystemClock)).expect("open");
        let batch = if writers == 1 { 64 } else { 1024 };
        group.throughput(Throughput::Elements(batch));
        group.bench_function(format!("{writers}_writers"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| run(&log, writers, batch)).sum())
        });
    }
    group.finish();
}

fn verify_throughput(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("log");
    let n = 20_000u64;
    {
        let (log, _) = AuditLog::open(AuditConfig::new(&dir), Arc::new(SystemClock)).expect("open");
        run(&log, 32, n);
    }
    let mut group = c.benchmark_group("verify");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n));
    group.bench_function("records", |b| {
        b.iter(|| {
            let report = verify(&dir, None);
            assert!(report.is_ok());
        })
    });
    group.finish();
}

criterion_group!(benches, appends, verify_throughput);
criterion_main!(benches);
