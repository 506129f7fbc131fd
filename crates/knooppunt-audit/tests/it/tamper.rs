//! One test per kind of tampering; `verify` must catch it and name the
//! right record.

use knooppunt_audit::{
    AuditConfig, AuditLog, ProblemKind, VerifyOptions, generate_signing_key, verify, verify_with,
};

use crate::{Fixture, clock, draft};

fn first(f: &Fixture) -> knooppunt_audit::Problem {
    let report = verify(&f.dir, None);
    assert!(!report.is_ok(), "tampering not detected:\n{report}");
    assert!(report.tampered());
    report.first_problem().cloned().expect("a problem")
}

#[test]
fn untouched_log_verifies() {
    let f = Fixture::with_records(5);
    let report = verify(&f.dir, None);
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.records, 5);
    assert_eq!(report.head_seq, 5);
    assert!(report.checkpoints_ok >= 1, "the close writes a checkpoint");
}

#[test]
fn edited_field_is_named() {
    let f = Fixture::with_records(5);
    let mut lines = f.lines();
    lines[2] = lines[2].replace("gebiedsanalyse", "bibob");
    f.write_lines(&lines);
    let p = first(&f);
    assert_eq!(p.kind, ProblemKind::Edited, "{p}");
    let loc = p.location.clone().expect("location");
    assert_eq!((loc.line, loc.seq), (3, Some(3)), "{loc}");
    assert_eq!(loc.segment, "segment-000001.jsonl");
}

#[test]
fn edited_sequence_number_is_named() {
    let f = Fixture::with_records(5);
    let mut lines = f.lines();
    lines[2] = lines[2].replacen("\"seq\":3", "\"seq\":9", 1);
    f.write_lines(&lines);
    let p = first(&f);
    assert_eq!(p.kind, ProblemKind::Edited, "{p}");
    assert_eq!(p.location.expect("location").line, 3);
}

#[test]
fn added_result_field_does_not_parse() {
    let f = Fixture::with_records(5);
    let mut lines = f.lines();
    lines[1] = lines[1].replacen("{", "{\"result\":[1,2,3],", 1);
    f.write_lines(&lines);
    let p = first(&f);
    assert_eq!(p.kind, ProblemKind::Edited, "{p}");
    assert_eq!(p.location.expect("location").line, 2);
}

#[test]
fn deleted_record_is_named() {
    let f = Fixture::with_records(5);
    let mut lines = f.lines();
    lines.remove(2);
    f.write_lines(&lines);
    let p = first(&f);
    assert_eq!(p.kind, ProblemKind::Removed, "{p}");
    let loc = p.location.clone().expect("location");
    assert_eq!(
        (loc.line, loc.seq),
        (3, Some(4)),
        "the record after the gap"
    );
    assert!(p.detail.contains("seq 3 is missing"), "{p}");
}

#[test]
fn swapped_records_are_named() {
    let f = Fixture::with_records(5);
    let mut lines = f.lines();
    lines.swap(2, 3);
    f.write_lines(&lines);
    let p = first(&f);
    assert_eq!(p.kind, ProblemKind::Reordered, "{p}");
    let loc = p.location.clone().expect("location");
    assert_eq!((loc.line, loc.seq), (3, Some(4)));
}

#[test]
fn inserted_record_is_named() {
    let f = Fixture::with_records(5);
    let mut lines = f.lines();
    // A forged record that claims seq 3 and links correctly to seq 2, put
    // before the genuine seq 3.
    let forged = lines[2].replace("trace-3", "trace-forged");
    lines.insert(2, forged);
    f.write_lines(&lines);
    let p = first(&f);
    assert_eq!(p.kind, ProblemKind::Inserted, "{p}");
    let loc = p.location.clone().expect("location");
    assert_eq!((loc.line, loc.seq), (3, Some(3)), "{loc}");
}

#[test]
fn inserted_record_with_bad_link_is_named() {
    let f = Fixture::with_records(5);
    let mut lines = f.lines();
    // A forged copy of seq 3 with a made-up link, after the genuine seq 3;
    // the chain goes on from seq 3 to seq 4 as if it were not there.
    let forged = lines[2].replace("trace-3", "trace-forged");
    let start = forged.find("\"prev_hash\":\"").expect("prev_hash") + "\"prev_hash\":\"".len();
    let forged = format!(
        "{}{}{}",
        &forged[..start],
        "0".repeat(64),
        &forged[start + 64..]
    );
    lines.insert(3, forged);
    f.write_lines(&lines);
    let p = first(&f);
    assert_eq!(p.kind, ProblemKind::Inserted, "{p}");
    assert_eq!(p.location.expect("location").line, 4);
}

#[test]
fn torn_tail_is_not_tampering_and_open_moves_it_aside() {
    let f = Fixture::new();
    {
        // No key: no checkpoint covers the last record, as after a crash.
        let (log, _) = AuditLog::open(AuditConfig::new(&f.dir), clock()).expect("open");
        for i in 1..=5 {
            log.append(draft(i)).expect("append");
        }
    }
    let bytes = std::fs::read(f.segment()).expect("read");
    std::fs::write(f.segment(), &bytes[..bytes.len() - 40]).expect("truncate");

    let report = verify(&f.dir, None);
    assert!(
        !report.tampered(),
        "a torn tail is not tampering:\n{report}"
    );
    assert!(!report.is_ok(), "but not all is well either");
    assert_eq!(report.torn_tail.as_ref().map(|t| t.line), Some(5));
    assert_eq!(report.verified_records, 4);

    let (log, open) = AuditLog::open(f.config(), clock()).expect("reopen");
    let torn = open.torn_tail.expect("open reports the torn tail");
    assert_eq!(torn.line, 5);
    assert!(torn.moved_to.exists());
    assert!(
        torn.moved_to.ends_with("torn-000005.bin"),
        "{}",
        torn.moved_to.display()
    );
    assert_eq!(torn.event_seq, 5, "the chain continues from seq 4");
    log.append(draft(6)).expect("append after recovery");
    drop(log);
    let after = verify(&f.dir, None);
    assert!(after.is_ok(), "{after}");
    assert_eq!(
        after.records, 6,
        "4 whole records, the recovery event and one more"
    );
    assert_eq!(after.moved_aside, vec!["torn-000005.bin".to_owned()]);
    let records = knooppunt_audit::read_records(&f.dir).expect("read");
    assert_eq!(records[4].kind, knooppunt_audit::RecordKind::LogEvent);
}

#[test]
fn faked_torn_tail_over_a_checkpointed_record_is_truncation() {
    let f = Fixture::with_records(5);
    let bytes = std::fs::read(f.segment()).expect("read");
    std::fs::write(f.segment(), &bytes[..bytes.len() - 40]).expect("truncate");
    let report = verify(&f.dir, None);
    assert!(report.torn_tail.is_some());
    let p = report
        .first_problem()
        .expect("the checkpoint vouches for seq 5");
    assert_eq!(p.kind, ProblemKind::Truncated, "{report}");
}

#[test]
fn records_cut_from_the_end_are_caught_by_the_checkpoint() {
    let f = Fixture::with_records(5);
    let mut lines = f.lines();
    lines.truncate(3);
    f.write_lines(&lines);
    let p = first(&f);
    assert_eq!(p.kind, ProblemKind::Truncated, "{p}");
    assert_eq!(p.checkpoint_seq, Some(5));
}

#[test]
fn edited_last_record_is_caught_by_the_checkpoint() {
    let f = Fixture::with_records(5);
    let mut lines = f.lines();
    lines[4] = lines[4].replace("gebiedsanalyse", "bibob");
    f.write_lines(&lines);
    let p = first(&f);
    assert_eq!(p.kind, ProblemKind::CheckpointMismatch, "{p}");
    assert_eq!(p.location.expect("location").seq, Some(5));
}

#[test]
fn forged_checkpoint_signature_is_caught() {
    let f = Fixture::with_records(5);
    let path = f.dir.join("checkpoints.jsonl");
    let text = std::fs::read_to_string(&path).expect("read checkpoints");
    let line = text.lines().last().expect("a checkpoint").to_owned();
    // Move the checkpoint to a different head without re-signing.
    let mut cp: serde_json::Value = serde_json::from_str(&line).expect("json");
    cp["seq"] = serde_json::json!(4);
    std::fs::write(&path, format!("{text}{}\n", cp)).expect("write");
    let report = verify(&f.dir, None);
    let p = report.first_problem().expect("problem");
    assert_eq!(p.kind, ProblemKind::CheckpointSignatureInvalid, "{report}");
    assert_eq!(p.checkpoint_seq, Some(4));
}

#[test]
fn checkpoint_by_an_untrusted_key_is_caught() {
    // Someone rewrites the log and signs it with their own key; the
    // checkpoint kept outside the system names the real key.
    let f = Fixture::with_records(3);
    let external = f.root().join("kept-outside.jsonl");
    let log = f.open();
    let cp = log.checkpoint().expect("checkpoint");
    drop(log);
    std::fs::write(&external, format!("{}\n", cp.to_json_line())).expect("write external");
    assert!(verify(&f.dir, Some(&external)).is_ok());

    let other_key = f.root().join("attacker.key");
    generate_signing_key(&other_key).expect("key");
    let (log, _) = AuditLog::open(f.config().with_signing_key(&other_key), clock()).expect("open");
    log.checkpoint().expect("checkpoint");
    drop(log);
    let report = verify(&f.dir, Some(&external));
    let p = report.first_problem().expect("problem");
    assert_eq!(p.kind, ProblemKind::CheckpointUntrustedKey, "{report}");

    let trusted = knooppunt_audit::public_key_of(&f.key).expect("public key");
    let report = verify_with(
        &f.dir,
        &VerifyOptions {
            external_checkpoints: None,
            trusted_keys: vec![trusted.public_key],
        },
    );
    assert_eq!(
        report.first_problem().map(|p| p.kind),
        Some(ProblemKind::CheckpointUntrustedKey)
    );
}

#[test]
fn external_checkpoint_catches_a_rewritten_tail() {
    let f = Fixture::with_records(4);
    let external = f.root().join("kept-outside.jsonl");
    let log = f.open();
    std::fs::write(
        &external,
        format!("{}\n", log.checkpoint().expect("cp").to_json_line()),
    )
    .expect("write");
    drop(log);
    // Rewrite the tail and drop the internal checkpoints as an attacker would.
    let mut lines = f.lines();
    lines.truncate(2);
    f.write_lines(&lines);
    std::fs::remove_file(f.dir.join("checkpoints.jsonl")).expect("remove");
    let report = verify(&f.dir, Some(&external));
    assert_eq!(
        report.first_problem().map(|p| p.kind),
        Some(ProblemKind::Truncated),
        "{report}"
    );
}

#[test]
fn removed_segment_is_named() {
    let f = Fixture::new();
    let mut config = f.config();
    config.segment_max_bytes = 1500;
    let (log, _) = AuditLog::open(config, clock()).expect("open");
    for i in 1..=20 {
        log.append(draft(i)).expect("append");
    }
    drop(log);
    let report = verify(&f.dir, None);
    assert!(report.is_ok(), "{report}");
    assert!(report.segments >= 3, "{report}");
    std::fs::remove_file(f.dir.join("segment-000002.jsonl")).expect("remove");
    let report = verify(&f.dir, None);
    let p = report.first_problem().expect("problem");
    assert_eq!(p.kind, ProblemKind::Removed, "{report}");
    assert_eq!(
        p.location.as_ref().map(|l| l.segment.as_str()),
        Some("segment-000003.jsonl")
    );
}
