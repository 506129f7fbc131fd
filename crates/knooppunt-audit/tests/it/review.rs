//! Review aids over records.

use chrono::{TimeDelta, TimeZone, Utc};
use knooppunt_audit::{Actor, AuditRecord, NarrowDifference, Outcome, ReviewConfig, review};

use crate::{Fixture, draft};

fn records_from(sqls: &[(&str, &str)]) -> Vec<AuditRecord> {
    let f = Fixture::new();
    let log = f.open();
    for (i, (actor, sql)) in sqls.iter().enumerate() {
        let mut d = draft(i as u64);
        d.actor = Actor::Token((*actor).to_owned());
        d.sql = Some((*sql).to_owned());
        d.plan_fingerprint = None;
        log.append(d).expect("append");
    }
    drop(log);
    knooppunt_audit::read_records(&f.dir).expect("read")
}

#[test]
fn review_finds_duplicates_pairs_rates_and_burn() {
    let mut records = records_from(&[
        ("a", "SELECT count(*) FROM brp WHERE leeftijd > 30"),
        ("a", "select COUNT(*)  from brp where leeftijd>30;"),
        ("a", "SELECT count(*) FROM brp WHERE leeftijd > 31"),
        (
            "a",
            "SELECT count(*) FROM brp WHERE leeftijd > 30 AND geslacht = 'V'",
        ),
        ("b", "SELECT count(*) FROM brp WHERE leeftijd > 30"),
        ("b", "SELECT avg(x) FROM energie"),
    ]);
    // Spread b's records over hours and make a's burst in one hour.
    let base = Utc
        .with_ymd_and_hms(2025, 3, 1, 10, 0, 0)
        .single()
        .expect("time");
    for r in &mut records {
        r.time = if r.actor == Actor::Token("b".into()) {
            base + TimeDelta::hours(r.seq as i64)
        } else {
            base
        };
    }
    records[5].outcome = Outcome::Refused {
        rule: "budget_exhausted".into(),
    };
    let config = ReviewConfig {
        max_requests_per_hour: 3,
        ..ReviewConfig::default()
    };
    let review = review(&records, &config);

    assert_eq!(review.near_duplicates.len(), 1, "{review}");
    assert_eq!(review.near_duplicates[0].actor, "token:a");
    assert_eq!(review.near_duplicates[0].seqs, vec![1, 2]);
    assert_eq!(review.near_duplicates[0].distinct_texts, 2);

    let kinds: Vec<(u64, u64, NarrowDifference)> = review
        .narrow_pairs
        .iter()
        .map(|p| (p.first_seq, p.second_seq, p.difference))
        .collect();
    assert!(
        kinds.contains(&(1, 3, NarrowDifference::Literal)),
        "{review}"
    );
    assert!(
        kinds.contains(&(1, 4, NarrowDifference::ExtraCondition)),
        "{review}"
    );
    assert!(
        review.narrow_pairs.iter().all(|p| p.actor == "token:a"),
        "pairs are per actor"
    );

    assert_eq!(review.busy_hours.len(), 1, "{review}");
    assert_eq!(review.busy_hours[0].actor, "token:a");
    assert_eq!(review.busy_hours[0].requests, 4);

    let b = review
        .budget
        .iter()
        .find(|b| b.actor == "token:b")
        .expect("b's budget");
    assert_eq!(b.refused, 1);
    assert_eq!(b.charged_requests, 2);

    let json = serde_json::to_string(&review).expect("json");
    assert!(json.contains("near_duplicates"));
    let text = review.to_string();
    assert!(text.contains("FLAG token:a made 4 requests"), "{text}");
}
