//! Appending, concurrency, keys, checkpoints, reading and the Arrow view.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::datatypes::{DataType, TimeUnit};
use knooppunt_audit::{
    Actor, AuditConfig, AuditError, AuditLog, GENESIS_HASH, Outcome, RecordDraft, RecordKind,
    audit_schema, generate_signing_key, read_checkpoints, read_records, records_to_batch, verify,
};

use crate::{Fixture, clock, draft};

#[test]
fn records_get_seq_time_and_chain() {
    let f = Fixture::with_records(3);
    let records = read_records(&f.dir).expect("read");
    assert_eq!(
        records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(records[0].prev_hash, GENESIS_HASH);
    assert_eq!(records[0].time, clock().now());
    let lines = f.lines();
    assert!(
        lines[0].contains("\"time\":\"2025-03-01T10:00:00.000000Z\""),
        "{}",
        lines[0]
    );
    use sha2::Digest;
    assert_eq!(
        records[1].prev_hash,
        hex::encode(sha2::Sha256::digest(lines[0].as_bytes()))
    );
}

#[test]
fn receipt_matches_the_stored_line() {
    let f = Fixture::new();
    let log = f.open();
    let receipt = log.append(draft(1)).expect("append");
    assert_eq!(receipt.seq, 1);
    assert_eq!(log.head().hash, receipt.hash);
    drop(log);
    use sha2::Digest;
    assert_eq!(
        receipt.hash,
        hex::encode(sha2::Sha256::digest(f.lines()[0].as_bytes()))
    );
}

#[test]
fn thirty_two_threads_append_and_the_chain_verifies() {
    let f = Fixture::new();
    let log = f.open();
    let per_thread = 40u64;
    let receipts: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..32u64)
            .map(|t| {
                let log = log.clone();
                s.spawn(move || {
                    (0..per_thread)
                        .map(|i| log.append(draft(t * 1000 + i)).expect("append").seq)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    });
    drop(log);
    let total = 32 * per_thread;
    let unique: BTreeSet<u64> = receipts.iter().copied().collect();
    assert_eq!(unique.len() as u64, total, "every receipt has its own seq");
    let report = verify(&f.dir, None);
    assert!(report.is_ok(), "{report}");
    let seqs: Vec<u64> = read_records(&f.dir)
        .expect("read")
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(
        seqs,
        (1..=total).collect::<Vec<_>>(),
        "all seqs exactly once, in order"
    );
    let traces: BTreeSet<String> = read_records(&f.dir)
        .expect("read")
        .into_iter()
        .map(|r| r.trace_id)
        .collect();
    assert_eq!(traces.len() as u64, total);
}

#[test]
fn audit_log_is_send_sync_and_clone() {
    fn assert_traits<T: Send + Sync + Clone + 'static>() {}
    assert_traits::<AuditLog>();
}

#[test]
fn second_writer_is_locked_out() {
    let f = Fixture::new();
    let log = f.open();
    let err = AuditLog::open(f.config(), clock()).expect_err("locked");
    assert!(matches!(err, AuditError::Locked { .. }), "{err}");
    drop(log);
    drop(f.open());
}

#[test]
fn key_inside_the_log_directory_is_refused() {
    let f = Fixture::new();
    std::fs::create_dir_all(&f.dir).expect("mkdir");
    let inside = f.dir.join("audit.key");
    generate_signing_key(&inside).expect("key");
    let err = AuditLog::open(AuditConfig::new(&f.dir).with_signing_key(&inside), clock())
        .expect_err("refused");
    assert!(matches!(err, AuditError::KeyInsideLogDir { .. }), "{err}");
}

#[cfg(unix)]
#[test]
fn key_file_is_private_and_not_overwritten() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new();
    let mode = std::fs::metadata(&f.key)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(matches!(
        generate_signing_key(&f.key),
        Err(AuditError::KeyFile { .. })
    ));
    std::fs::set_permissions(&f.key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = AuditLog::open(f.config(), clock()).expect_err("world-readable key");
    assert!(matches!(err, AuditError::KeyFile { .. }), "{err}");
}

#[test]
fn checkpoint_without_key_is_an_error() {
    let f = Fixture::new();
    let (log, _) = AuditLog::open(AuditConfig::new(&f.dir), clock()).expect("open");
    assert!(matches!(log.checkpoint(), Err(AuditError::NoSigningKey)));
}

#[test]
fn checkpoints_every_n_records_and_on_demand() {
    let f = Fixture::new();
    let mut config = f.config();
    config.checkpoint_every_records = 10;
    config.checkpoint_interval = None;
    let (log, _) = AuditLog::open(config, clock()).expect("open");
    for i in 1..=25 {
        log.append(draft(i)).expect("append");
    }
    let automatic = read_checkpoints(&f.dir.join("checkpoints.jsonl")).expect("read");
    assert_eq!(
        automatic.iter().map(|c| c.seq).collect::<Vec<_>>(),
        vec![10, 20]
    );
    let cp = log.checkpoint().expect("checkpoint");
    assert_eq!(cp.seq, 25);
    assert_eq!(cp.head_hash, log.head().hash);
    assert!(cp.signature_is_valid());
    let line = cp.to_json_line();
    assert!(!line.contains('\n'));
    drop(log);
    let report = verify(&f.dir, None);
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.checkpoints_ok, 3);
}

#[test]
fn checkpoints_by_time() {
    let f = Fixture::new();
    let mut config = f.config();
    config.checkpoint_every_records = 0;
    config.checkpoint_interval = Some(std::time::Duration::from_millis(50));
    let (log, _) = AuditLog::open(config, clock()).expect("open");
    log.append(draft(1)).expect("append");
    let path = f.dir.join("checkpoints.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while read_checkpoints(&path).expect("read").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no time-based checkpoint"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(log);
}

#[test]
fn non_finite_numbers_are_refused() {
    let f = Fixture::new();
    let log = f.open();
    let mut d = draft(1);
    d.budget_left = Some(f64::NAN);
    assert!(matches!(
        log.append(d),
        Err(AuditError::InvalidDraft {
            field: "budget_left",
            ..
        })
    ));
    let mut d = draft(1);
    d.kind = RecordKind::LogEvent;
    assert!(matches!(
        log.append(d),
        Err(AuditError::InvalidDraft { .. })
    ));
    assert!(!log.is_poisoned());
}

#[test]
fn segments_roll_and_are_read_in_order() {
    let f = Fixture::new();
    let mut config = f.config();
    config.segment_max_bytes = 2000;
    let (log, _) = AuditLog::open(config.clone(), clock()).expect("open");
    for i in 1..=30 {
        log.append(draft(i)).expect("append");
    }
    drop(log);
    // Reopen continues the chain in the last segment.
    let (log, report) = AuditLog::open(config, clock()).expect("reopen");
    assert_eq!(report.head.seq, 30);
    assert!(report.torn_tail.is_none());
    log.append(draft(31)).expect("append");
    drop(log);
    let report = verify(&f.dir, None);
    assert!(report.is_ok(), "{report}");
    assert!(report.segments > 5, "{report}");
    let seqs: Vec<u64> = read_records(&f.dir)
        .expect("read")
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(seqs, (1..=31).collect::<Vec<_>>());
}

/// Results with distinctive values pass through the release path; the log
/// records how many cells, never which values.
#[test]
fn result_values_never_reach_the_log() {
    let f = Fixture::new();
    let log = f.open();
    let distinctive = ["731904.25", "BSN-999994811", "Zwanenburgwal-17", "48213977"];
    for (i, value) in distinctive.iter().enumerate() {
        // A "query result": cells with distinctive values.
        let result: Vec<(String, String)> = vec![
            ("BU03630001".to_owned(), (*value).to_owned()),
            ("BU03630002".to_owned(), "1".to_owned()),
        ];
        let mut d = RecordDraft::new(
            RecordKind::Query,
            Actor::Token("tok-x".into()),
            "analyst",
            "bibob",
            "POST /v1/sql",
        );
        d.sql = Some("SELECT buurt, sum(koopsom) FROM vastgoed GROUP BY buurt".to_owned());
        d.cells_returned = result.len() as u64;
        d.trace_id = format!("t{i}");
        log.append(d).expect("append");
    }
    log.checkpoint().expect("checkpoint");
    drop(log);
    for entry in std::fs::read_dir(&f.dir).expect("read dir") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("read file");
        let text = String::from_utf8_lossy(&bytes);
        for value in distinctive {
            assert!(
                !text.contains(value),
                "result value {value} found in the log"
            );
        }
    }
}

#[test]
fn records_as_an_arrow_batch() {
    let f = Fixture::with_records(4);
    let mut records = read_records(&f.dir).expect("read");
    records[1].outcome = Outcome::Refused {
        rule: "budget_exhausted".into(),
    };
    records[1].noise_scale = None;
    let batch = records_to_batch(&records).expect("batch");
    assert_eq!(batch.num_rows(), 4);
    assert_eq!(batch.schema(), audit_schema());
    let schema = audit_schema();
    let field = |n: &str| {
        schema
            .field_with_name(n)
            .expect("field")
            .data_type()
            .clone()
    };
    assert_eq!(field("seq"), DataType::UInt64);
    assert_eq!(
        field("time"),
        DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
    );
    assert!(matches!(field("tables"), DataType::List(_)));
    // The zone is an offset, so arrow prints it without chrono-tz.
    let text = arrow::util::pretty::pretty_format_batches(std::slice::from_ref(&batch))
        .expect("pretty")
        .to_string();
    assert!(text.contains("+00:00") || text.contains("Z"), "{text}");
    assert!(text.contains("budget_exhausted"));
    assert!(text.contains("token:tok-1"));
    assert!(text.contains("brp=snap-2025-03-01"));
    assert!(records_to_batch(&[]).expect("empty").num_rows() == 0);
    let _ = Arc::new(());
}

#[test]
fn reading_the_log_is_logged_as_its_own_kind() {
    let f = Fixture::with_records(2);
    let log = f.open();
    let mut d = RecordDraft::log_read(
        Actor::LocalUser("fg".into()),
        "toezicht",
        "knooppunt audit sql",
    );
    d.sql = Some("SELECT role, count(*) FROM audit_log GROUP BY role".to_owned());
    log.append(d).expect("append");
    drop(log);
    let records = read_records(&f.dir).expect("read");
    let last = records.last().expect("a record");
    assert_eq!(last.kind, RecordKind::LogRead);
    assert_eq!(last.role, "privacy_officer");
    assert_eq!(last.actor.to_string(), "local:fg");
    assert!(verify(&f.dir, None).is_ok());
}
