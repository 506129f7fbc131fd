//! Integration tests of knooppunt-audit (one test binary for the package).

mod crash;
mod failclosed;
mod log;
mod review;
mod tamper;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use knooppunt_audit::{
    Actor, AuditConfig, AuditLog, Outcome, RecordDraft, RecordKind, generate_signing_key,
};
use knooppunt_core::{FixedClock, TimeProvider};

/// A fixed instant for deterministic record times.
pub(crate) fn clock() -> Arc<dyn TimeProvider> {
    let t = Utc
        .with_ymd_and_hms(2025, 3, 1, 10, 0, 0)
        .single()
        .expect("valid time");
    Arc::new(FixedClock(t))
}

/// An analyst query record, numbered `i` so that records differ.
pub(crate) fn draft(i: u64) -> RecordDraft {
    let mut d = RecordDraft::new(
        RecordKind::Query,
        Actor::Token(format!("tok-{}", i % 3)),
        "analyst",
        "gebiedsanalyse",
        "knooppunt sql",
    );
    d.trace_id = format!("trace-{i}");
    d.client = "cli".to_owned();
    d.sql = Some(format!(
        "SELECT buurt, count(*) FROM brp WHERE leeftijd > {i} GROUP BY buurt"
    ));
    d.plan_fingerprint = Some(format!("fp-{i}"));
    d.snapshots
        .insert("brp".to_owned(), "snap-2025-03-01".to_owned());
    d.tables = vec!["brp".to_owned()];
    d.columns = vec!["brp.buurt".to_owned(), "brp.leeftijd".to_owned()];
    d.cells_returned = 12;
    d.cells_suppressed.insert("threshold".to_owned(), 2);
    d.noise_scale = Some(1.5);
    d.budget_charged = Some(0.1);
    d.budget_left = Some(9.9 - 0.1 * i as f64);
    d.outcome = Outcome::Released;
    d.policy_version = "policy-v1".to_owned();
    d.duration_ms = 7;
    d
}

/// A temporary directory with a log directory and a signing key beside it.
pub(crate) struct Fixture {
    _tmp: tempfile::TempDir,
    pub(crate) dir: PathBuf,
    pub(crate) key: PathBuf,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("log");
        let key = tmp.path().join("audit.key");
        generate_signing_key(&key).expect("generate key");
        Fixture {
            _tmp: tmp,
            dir,
            key,
        }
    }

    pub(crate) fn root(&self) -> &Path {
        self._tmp.path()
    }

    pub(crate) fn config(&self) -> AuditConfig {
        AuditConfig::new(&self.dir).with_signing_key(&self.key)
    }

    pub(crate) fn open(&self) -> AuditLog {
        AuditLog::open(self.config(), clock()).expect("open log").0
    }

    /// Writes `n` records and closes the log (which writes a checkpoint).
    pub(crate) fn with_records(n: u64) -> Fixture {
        let f = Fixture::new();
        let log = f.open();
        for i in 1..=n {
            log.append(draft(i)).expect("append");
        }
        drop(log);
        f
    }

    pub(crate) fn segment(&self) -> PathBuf {
        self.dir.join("segment-000001.jsonl")
    }

    pub(crate) fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.segment())
            .expect("read segment")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub(crate) fn write_lines(&self, lines: &[String]) {
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(self.segment(), text).expect("write segment");
    }
}
