//! Integration tests of ingestion: the hand-made fixtures in
//! `sample-data/fixtures` (one per quirk), quarantine, idempotency,
//! dependency tracking and the absence of raw BSNs in the lake.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

mod fuzz;
mod support;

use knooppunt_core::Source;
use knooppunt_ingest::{Manifest, Status};
use support::*;

#[test]
fn base_fixture_ingests_every_source_with_links_and_unlinked_counts() {
    let t = TestLake::base();
    let summary = t.ingest();
    assert!(summary.ok(), "{}", summary.render());
    for s in Source::ALL {
        assert!(
            matches!(summary.source(s).unwrap().status, Status::Written { .. }),
            "{s:?}"
        );
    }
    let counts = |s| summary.source(s).unwrap().counts.clone();
    // Two BAG points lie outside every buurt: one in the hole of Zuid, one far away.
    assert_eq!(
        (
            counts(Source::Bag).rows_written,
            counts(Source::Bag).unlinked
        ),
        (5, 2)
    );
    // One registration points at an address that is not in BAG.
    assert_eq!(
        (
            counts(Source::Brp).rows_written,
            counts(Source::Brp).unlinked
        ),
        (5, 1)
    );
    assert_eq!(
        (
            counts(Source::Kvk).rows_written,
            counts(Source::Kvk).unlinked
        ),
        (3, 1)
    );
    assert_eq!(counts(Source::Energie).unlinked, 1);
    assert_eq!(counts(Source::Kerncijfers).unlinked, 1);
    assert_eq!(
        (
            counts(Source::Meldingen).rows_written,
            counts(Source::Meldingen).unlinked
        ),
        (4, 2)
    );

    let bag = t.read(Source::Bag);
    assert_eq!(
        bag.str("buurtcode"),
        [
            "BU99990001",
            "BU99990001",
            "BU99990002",
            "onbekend",
            "onbekend"
        ]
    );
    assert_eq!(bag.str("wijkcode")[0], "WK999900");
    assert_eq!(bag.f64("x")[0], 150500.5);
    assert_eq!(bag.bool("woonfunctie"), [true, true, false, true, true]);

    let kvk = t.read(Source::Kvk);
    assert_eq!(
        kvk.opt_str("adresseerbaarobject_id"),
        [
            Some("0999010000000002".to_string()),
            Some("0999010000000003".into()),
            None
        ]
    );
    assert_eq!(
        kvk.str("buurtcode"),
        ["BU99990001", "BU99990002", "onbekend"]
    );

    let brp = t.read(Source::Brp);
    assert_eq!(
        brp.str("buurtcode"),
        [
            "BU99990001",
            "BU99990001",
            "BU99990001",
            "BU99990002",
            "onbekend"
        ]
    );
    // Same BSN, same pseudonym; different BSN, different pseudonym.
    let p = brp.str("persoon_id");
    assert_eq!(p[1], p[2]);
    assert_ne!(p[0], p[1]);
    assert!(
        brp.i64("record_key")
            .iter()
            .all(|k| (0..1i64 << 32).contains(k))
    );
    assert_eq!(brp.i64("record_key")[1], brp.i64("record_key")[2]);

    let meldingen = t.read(Source::Meldingen);
    assert_eq!(
        meldingen.str("buurtcode"),
        ["BU99990001", "BU99990002", "onbekend", "onbekend"]
    );
    // The second report came as lat/lon and was converted to RD.
    assert!(
        (meldingen.f64("x")[1] - 151500.0).abs() < 1.0,
        "{}",
        meldingen.f64("x")[1]
    );
    assert_eq!(
        meldingen.date("datum"),
        ["2024-05-01", "2024-06-15", "2024-07-01", "2024-07-02"]
    );
    assert!(t.schema_has(Source::Meldingen, "toelichting").not());
}

#[test]
fn every_quirk_fixture_parses_to_the_same_values() {
    type Check = fn(&Table);
    let cases: [(&str, &str, Check); 7] = [
        ("bag_bom.csv", "bag_verblijfsobjecten.csv", |t| {
            assert_eq!(t.str("identificatie")[0], "0999010000000001")
        }),
        ("bag_cp1252.csv", "bag_verblijfsobjecten.csv", |t| {
            assert_eq!(
                t.opt_str("openbareruimtenaam")[0].as_deref(),
                Some("Curaçaostraat")
            );
            assert_eq!(t.opt_str("woonplaatsnaam")[1].as_deref(), Some("Café-dorp"));
        }),
        ("bag_headers.csv", "bag_verblijfsobjecten.csv", |t| {
            assert_eq!(t.f64("y")[0], 480500.25)
        }),
        ("bag_quoted.csv", "bag_verblijfsobjecten.csv", |t| {
            assert_eq!(
                t.opt_str("openbareruimtenaam")[0].as_deref(),
                Some("Dorpsstraat; \"oud\"\nhoek")
            );
            assert_eq!(t.str("identificatie")[1], "0999010000000002");
        }),
        ("bag_crlf.csv", "bag_verblijfsobjecten.csv", |t| {
            assert_eq!(
                t.opt_str("status")[4].as_deref(),
                Some("Verblijfsobject in gebruik")
            )
        }),
        ("bag_numbers.csv", "bag_verblijfsobjecten.csv", |t| {
            assert_eq!(t.i32("oppervlakte")[0], 1250)
        }),
        ("bag_postcode.csv", "bag_verblijfsobjecten.csv", |t| {
            assert_eq!(t.opt_str("postcode")[0].as_deref(), Some("1234AB"))
        }),
    ];
    for (fixture, target, check) in cases {
        let t = TestLake::base();
        t.replace(target, fixture);
        let summary = t.ingest();
        let bag = summary.source(Source::Bag).unwrap();
        assert!(
            matches!(bag.status, Status::Written { .. }),
            "{fixture}: {:?}",
            bag.status
        );
        assert_eq!(
            (bag.counts.rows_written, bag.counts.quarantined_total()),
            (5, 0),
            "{fixture}"
        );
        let table = t.read(Source::Bag);
        check(&table);
        assert_eq!(
            table.str("buurtcode")[..3],
            ["BU99990001", "BU99990001", "BU99990002"],
            "{fixture}"
        );
    }
}

#[test]
fn dates_money_and_leading_zeros() {
    let t = TestLake::base();
    t.replace("brp_inschrijvingen.csv", "brp_dates.csv");
    t.replace("kvk_vestigingen.csv", "kvk_leading_zeros.csv");
    t.replace("vastgoedtransacties.csv", "vastgoed_money.csv");
    assert!(t.ingest().ok());
    let brp = t.read(Source::Brp);
    assert_eq!(brp.date("datum_inschrijving"), ["2024-02-29", "2024-02-29"]);
    assert_eq!(
        brp.opt_date("datum_uitschrijving"),
        [None, Some("2024-03-01".into())]
    );
    assert_eq!(brp.str("soort_adres"), ["W", "W"]);
    let kvk = t.read(Source::Kvk);
    assert_eq!(kvk.str("kvk_nummer"), ["01234567"]);
    assert_eq!(kvk.str("vestigingsnummer"), ["000000000001"]);
    assert_eq!(kvk.str("sbi_code"), ["01130"]);
    let vastgoed = t.read(Source::Vastgoed);
    assert_eq!(vastgoed.decimal("koopsom"), ["1250000.00", "999.50"]);
    assert_eq!(
        vastgoed.str("koper_type"),
        ["natuurlijk persoon", "rechtspersoon"]
    );
    assert_eq!(
        vastgoed.opt_str("koper_kvk")[1].as_deref(),
        Some("01234567")
    );
}

#[test]
fn invalid_rows_go_to_quarantine_with_line_column_and_rule_only() {
    let t = TestLake::base();
    t.replace("brp_inschrijvingen.csv", "brp_invalid.csv");
    let summary = t.ingest();
    let brp = summary.source(Source::Brp).unwrap();
    assert_eq!((brp.counts.rows_read, brp.counts.rows_written), (8, 1));
    let q = t.read_quarantine(Source::Brp);
    let got: Vec<(i64, Option<String>, String)> = q
        .i64("line")
        .into_iter()
        .zip(q.opt_str("column"))
        .zip(q.str("rule"))
        .map(|((l, c), r)| (l, c, r))
        .collect();
    let expected = [
        (3, Some("bsn"), "bsn_checksum"),
        (4, Some("datum_inschrijving"), "invalid_date"),
        (5, Some("adresseerbaarobject_id"), "invalid_code"),
        (6, Some("soort_adres"), "invalid_value"),
        (7, Some("datum_inschrijving"), "missing_required"),
        (8, Some("geboortejaar"), "invalid_number"),
        (9, None, "field_count"),
    ];
    let expected: Vec<(i64, Option<String>, String)> = expected
        .iter()
        .map(|(l, c, r)| (*l, c.map(String::from), r.to_string()))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(q.str("file")[0], "brp_inschrijvingen.csv");
    let summary_txt = t.quarantine_summary(Source::Brp);
    assert!(summary_txt.contains("bsn_checksum: 1"), "{summary_txt}");
    assert!(
        summary_txt.contains("brp_inschrijvingen.csv:3 bsn bsn_checksum"),
        "{summary_txt}"
    );
    for bsn in ["999900007", "999900018", "999900031"] {
        assert!(!summary_txt.contains(bsn));
    }
    t.assert_no_raw_bsn(&[
        "999900006",
        "999900007",
        "999900018",
        "999900031",
        "999900043",
        "999900055",
        "999900067",
        "999900079",
    ]);
}

#[test]
fn a_row_with_bytes_invalid_in_the_detected_encoding_is_quarantined_alone() {
    let t = TestLake::base();
    t.replace("bag_verblijfsobjecten.csv", "bag_bad_utf8.csv");
    let summary = t.ingest();
    let bag = summary.source(Source::Bag).unwrap();
    assert_eq!((bag.counts.rows_read, bag.counts.rows_written), (5, 4));
    let q = t.read_quarantine(Source::Bag);
    assert_eq!(q.i64("line"), [3]);
    assert_eq!(
        q.opt_str("column"),
        [Some("openbareruimtenaam".to_string())]
    );
    assert_eq!(q.str("rule"), ["encoding"]);
}

#[test]
fn a_file_lacking_required_columns_fails_alone_and_keeps_the_previous_snapshot() {
    let t = TestLake::base();
    assert!(t.ingest().ok());
    let before = Manifest::load(&t.lake()).unwrap();
    t.replace("bag_verblijfsobjecten.csv", "bag_missing_column.csv");
    let summary = t.ingest();
    assert!(!summary.ok());
    let Status::Failed { reason } = &summary.source(Source::Bag).unwrap().status else {
        panic!("bag should fail: {}", summary.render())
    };
    assert!(
        reason.contains("bag_verblijfsobjecten.csv") && reason.contains("gebruiksdoel"),
        "{reason}"
    );
    let after = Manifest::load(&t.lake()).unwrap();
    assert_eq!(before.current(Source::Bag), after.current(Source::Bag));
    // Dependents are unchanged: they still link against the previous BAG.
    assert!(matches!(
        summary.source(Source::Brp).unwrap().status,
        Status::Unchanged { .. }
    ));
    assert_eq!(t.read(Source::Bag).str("identificatie").len(), 5);
}

#[test]
fn reingesting_identical_files_is_a_no_op_and_changes_propagate_to_dependents() {
    let t = TestLake::base();
    assert!(t.ingest().ok());
    let manifest = std::fs::read(t.lake().join("manifest.json")).unwrap();
    let again = t.ingest();
    for s in &again.sources {
        assert!(matches!(s.status, Status::Unchanged { .. }), "{:?}", s);
    }
    assert_eq!(
        manifest,
        std::fs::read(t.lake().join("manifest.json")).unwrap()
    );

    // A new BAG export re-links everything that depends on it, and nothing else.
    t.replace("bag_verblijfsobjecten.csv", "bag_crlf.csv");
    let third = t.ingest();
    let written: Vec<Source> = third
        .sources
        .iter()
        .filter(|s| matches!(s.status, Status::Written { .. }))
        .map(|s| s.source)
        .collect();
    assert_eq!(
        written,
        [
            Source::Bag,
            Source::Brp,
            Source::Kvk,
            Source::Energie,
            Source::Vastgoed,
            Source::Handhaving
        ]
    );
    let m = Manifest::load(&t.lake()).unwrap();
    let bag_id = m.current(Source::Bag).unwrap().id.clone();
    assert_eq!(m.current(Source::Brp).unwrap().depends_on["bag"], bag_id);
    assert_eq!(m.sources["bag"].snapshots.len(), 2);
}

#[test]
fn ingest_refuses_to_run_without_a_usable_key() {
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.key");
    std::fs::write(&short, "abc").unwrap();
    let err = knooppunt_ingest::PseudonymKey::from_file(&short).unwrap_err();
    assert!(err.to_string().contains("at least 32 bytes"), "{err}");
    let missing =
        knooppunt_ingest::PseudonymKey::from_file(&dir.path().join("absent.key")).unwrap_err();
    assert!(missing.to_string().contains("absent.key"));
}

trait Not {
    fn not(self) -> bool;
}
impl Not for bool {
    fn not(self) -> bool {
        !self
    }
}
