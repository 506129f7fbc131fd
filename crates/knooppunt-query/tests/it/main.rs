//! Integration tests of the query layer: a lake ingested from the
//! hand-made fixture (`sample-data/fixtures/base`) and indicator values
//! computed by hand from it.
//!
//! The fixture, at the default peildatum 2024-08-01 (the latest date:
//! handhaving Z-1's datum_einde), window (2023-08-01, 2024-08-01]:
//!
//! | address | buurt | use | m² | current registrations | active establishments |
//! |---|---|---|---|---|---|
//! | A1 …0001 | BU99990001 | woon | 80 | P6 W | – |
//! | A2 …0002 | BU99990001 | woon+winkel | 120 | P18 W (since 2024-03-16) | K78 (sbi 96021) |
//! | A3 …0003 | BU99990002 | kantoor | 300 | P31 B | – (K79 ended 2024-02-01) |
//! | A4 …0004 | onbekend (in the hole) | woon | 45 | – | – |
//! | A5 …0005 | onbekend (outside) | woon | 70 | – | – |
//! | (…9999, not in BAG) | onbekend | | | P43 W | |
//! | (9999ZZ 1, unlinked) | onbekend | | | | K80 (sbi 4711) |
//!
//! P18 was registered at A1 until 2024-03-15. Sales: A1 on 2023-03-01 for
//! 350,000 and on 2023-12-01 for 495,000 (buyer K78's company). Reports:
//! Drugsoverlast on 2024-05-01 in BU99990001 and on 2024-07-02 outside.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

mod slt;
#[path = "../slt_runner/mod.rs"]
mod slt_runner;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use knooppunt_core::{ErrorKind, SystemClock};
use knooppunt_ingest::{IngestOptions, NoProgress, PseudonymKey, ingest};
use knooppunt_query::{
    Engine, EngineOptions, IndicatorTable, IndicatorValue, Level, QueryError, QueryFileProblem,
    Registry,
};

const BU1: &str = "BU99990001";
const BU2: &str = "BU99990002";
const WK: &str = "WK999900";
const GM: &str = "GM9999";
const ONBEKEND: &str = "onbekend";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sample-data/fixtures/base")
}

/// Exports and lake in a temporary directory.
struct TestLake {
    dir: tempfile::TempDir,
}

impl TestLake {
    /// Ingests the base fixture (plus a meldingen workbook), keeping only
    /// the export files for which `keep` is true.
    fn build(keep: impl Fn(&str) -> bool, meldingen: bool) -> TestLake {
        TestLake::build_edited(keep, meldingen, |_| {})
    }

    /// The base fixture with the exports edited before ingesting.
    fn build_with(edit: impl FnOnce(&Path)) -> TestLake {
        TestLake::build_edited(|_| true, true, edit)
    }

    fn build_edited(
        keep: impl Fn(&str) -> bool,
        meldingen: bool,
        edit: impl FnOnce(&Path),
    ) -> TestLake {
        let dir = tempfile::tempdir().unwrap();
        let exports = dir.path().join("exports");
        std::fs::create_dir_all(&exports).unwrap();
        for entry in std::fs::read_dir(fixtures()).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if keep(&name) {
                std::fs::copy(entry.path(), exports.join(&name)).unwrap();
            }
        }
        if meldingen {
            write_meldingen(&exports.join("meldingen.xlsx"));
        }
        edit(&exports);
        let opts = IngestOptions {
            exports,
            lake: dir.path().join("lake"),
            key: PseudonymKey::from_secret(b"a query integration-test key, 32+ bytes").unwrap(),
            clock: Arc::new(SystemClock),
        };
        ingest(&opts, &NoProgress).unwrap();
        TestLake { dir }
    }

    fn base() -> TestLake {
        TestLake::build(|_| true, true)
    }

    fn lake(&self) -> PathBuf {
        self.dir.path().join("lake")
    }

    fn engine(&self) -> Engine {
        let options = EngineOptions {
            memory_limit: 256 * 1024 * 1024,
            spill_dir: Some(self.dir.path().to_path_buf()),
            threads: Some(2),
            ..EngineOptions::default()
        };
        Engine::open(self.lake(), options).unwrap()
    }
}

/// Reports: two Drugsoverlast (one inside BU99990001, one outside every
/// buurt), one Afval, one Woonoverlast without a location (an Excel serial
/// date, 2024-07-01).
fn write_meldingen(path: &Path) {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet().set_name("Meldingen").unwrap();
    for (c, h) in ["melding_id", "datum", "categorie", "toelichting", "x", "y"]
        .iter()
        .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    let date_format = Format::new().set_num_format("dd-mm-yyyy");
    type Report<'a> = (&'a str, (u16, u8, u8), &'a str, Option<(f64, f64)>);
    let rows: [Report<'_>; 4] = [
        (
            "M-1",
            (2024, 5, 1),
            "Drugsoverlast",
            Some((150100.0, 480100.0)),
        ),
        ("M-2", (2024, 6, 15), "Afval", Some((151500.0, 480200.0))),
        ("M-3", (2024, 7, 1), "Woonoverlast", None),
        (
            "M-4",
            (2024, 7, 2),
            "Drugsoverlast",
            Some((160000.0, 490000.0)),
        ),
    ];
    for (r, (id, (y, m, d), cat, xy)) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        ws.write_string(r, 0, *id).unwrap();
        ws.write_datetime_with_format(
            r,
            1,
            ExcelDateTime::from_ymd(*y, *m, *d).unwrap(),
            &date_format,
        )
        .unwrap();
        ws.write_string(r, 2, *cat).unwrap();
        if let Some((x, y)) = xy {
            ws.write_number(r, 4, *x).unwrap();
            ws.write_number(r, 5, *y).unwrap();
        }
    }
    wb.save(path).unwrap();
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// (numerator, denominator, numerator_support, denominator_support) of one
/// cell, or `None` when the table has no such row.
fn cell(t: &IndicatorTable, id: &str, level: Level, code: &str) -> Option<(i64, i64, i64, i64)> {
    t.values
        .iter()
        .find(|v| v.indicator == id && v.level == level && v.code == code)
        .map(|v| {
            (
                v.numerator,
                v.denominator,
                v.numerator_support,
                v.denominator_support,
            )
        })
}

fn rows_of<'a>(t: &'a IndicatorTable, id: &str) -> Vec<&'a IndicatorValue> {
    t.values.iter().filter(|v| v.indicator == id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn fixture_indicators_match_hand_computed_values() {
    let lake = TestLake::base();
    let engine = lake.engine();
    let peildatum = engine.default_peildatum().await.unwrap();
    assert_eq!(peildatum, date(2024, 8, 1));
    let t = engine.indicators(peildatum).await.unwrap();
    assert_eq!(t.peildatum, peildatum);

    // Sorted by (indicator, level, code), every indicator present.
    let mut sorted = t.values.clone();
    sorted.sort_by(|a, b| (&a.indicator, a.level, &a.code).cmp(&(&b.indicator, b.level, &b.code)));
    assert_eq!(sorted, t.values);
    let ids: std::collections::BTreeSet<&str> =
        t.values.iter().map(|v| v.indicator.as_str()).collect();
    assert_eq!(ids.len(), 12);

    use Level::{Buurt, Gemeente, Wijk};
    // I12 mailbox addresses: current B / current registrations.
    assert_eq!(cell(&t, "I12", Buurt, BU1), Some((0, 2, 0, 2)));
    assert_eq!(cell(&t, "I12", Buurt, BU2), Some((1, 1, 1, 1)));
    assert_eq!(cell(&t, "I12", Buurt, ONBEKEND), Some((0, 1, 0, 1)));
    assert_eq!(cell(&t, "I12", Wijk, WK), Some((1, 3, 1, 3)));
    assert_eq!(cell(&t, "I12", Gemeente, GM), Some((1, 3, 1, 3)));
    assert_eq!(cell(&t, "I12", Gemeente, ONBEKEND), Some((0, 1, 0, 1)));

    // I11 vacancy: A4 and A5 (both onbekend) are empty.
    assert_eq!(cell(&t, "I11", Buurt, BU1), Some((0, 2, 0, 2)));
    assert_eq!(cell(&t, "I11", Buurt, BU2), Some((0, 1, 0, 1)));
    assert_eq!(cell(&t, "I11", Buurt, ONBEKEND), Some((2, 2, 2, 2)));
    assert_eq!(cell(&t, "I11", Wijk, WK), Some((0, 3, 0, 3)));
    assert_eq!(cell(&t, "I11", Wijk, ONBEKEND), Some((2, 2, 2, 2)));

    // I01 cash-intensive: K78 (9602) in BU1; K80 (4711) unlinked; K79 ended.
    assert_eq!(cell(&t, "I01", Buurt, BU1), Some((1, 1, 1, 1)));
    assert_eq!(cell(&t, "I01", Buurt, BU2), Some((0, 0, 0, 0)));
    assert_eq!(cell(&t, "I01", Buurt, ONBEKEND), Some((0, 1, 0, 1)));
    assert_eq!(cell(&t, "I01", Gemeente, GM), Some((1, 1, 1, 1)));

    // I02 hotspots: no address holds 5; K80 is its own unknown address.
    assert_eq!(cell(&t, "I02", Buurt, BU1), Some((0, 1, 0, 1)));
    assert_eq!(cell(&t, "I02", Buurt, ONBEKEND), Some((0, 1, 0, 1)));

    // I03 churn: K79 ended inside the window, in a buurt without active
    // establishments.
    assert_eq!(cell(&t, "I03", Buurt, BU2), Some((1, 0, 1, 0)));
    assert_eq!(cell(&t, "I03", Wijk, WK), Some((1, 1, 1, 1)));

    // I04: P18's move ended a registration of 14 years: not short.
    assert_eq!(cell(&t, "I04", Buurt, BU1), Some((0, 2, 0, 2)));

    // I05: A1 and A2 are residential with one W registration each.
    assert_eq!(cell(&t, "I05", Buurt, BU1), Some((0, 2, 0, 2)));
    assert_eq!(cell(&t, "I05", Buurt, ONBEKEND), None);

    // I06: one address per (gemeente, band): the threshold is the value
    // itself, and "above" is strict. The energy row of an id not in BAG
    // drops out.
    assert_eq!(cell(&t, "I06", Buurt, BU1), Some((0, 2, 0, 2)));
    assert_eq!(cell(&t, "I06", Buurt, ONBEKEND), None);

    // I07 drug nuisance: reports in the window per inhabitants.
    assert_eq!(cell(&t, "I07", Buurt, BU1), Some((1, 2, 1, 2)));
    assert_eq!(cell(&t, "I07", Buurt, BU2), Some((0, 0, 0, 0)));
    assert_eq!(cell(&t, "I07", Buurt, ONBEKEND), Some((1, 1, 1, 1)));
    assert_eq!(cell(&t, "I07", Gemeente, GM), Some((1, 2, 1, 2)));

    // I08: the 2023-12-01 sale resold A1 nine months after buying, at
    // 495/350 = 1.41.
    assert_eq!(cell(&t, "I08", Buurt, BU1), Some((1, 1, 1, 1)));
    assert_eq!(cell(&t, "I08", Buurt, ONBEKEND), None);
    // I09: the buyer's company was registered in 2020: not young.
    assert_eq!(cell(&t, "I09", Buurt, BU1), Some((0, 1, 0, 1)));

    // I10: the Opiumwet closure counts, the Bibob-toets does not.
    assert_eq!(cell(&t, "I10", Buurt, BU1), Some((1, 2, 1, 2)));
    assert_eq!(cell(&t, "I10", Buurt, BU2), Some((0, 1, 0, 1)));
    assert_eq!(cell(&t, "I10", Gemeente, GM), Some((1, 3, 1, 3)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn every_area_appears_once_per_level_and_onbekend_only_when_nonzero() {
    let lake = TestLake::base();
    let engine = lake.engine();
    let t = engine.indicators(date(2024, 8, 1)).await.unwrap();
    for id in ["I01", "I05", "I07", "I08", "I12"] {
        let rows = rows_of(&t, id);
        let codes: Vec<(Level, &str)> = rows.iter().map(|v| (v.level, v.code.as_str())).collect();
        for expected in [
            (Level::Buurt, BU1),
            (Level::Buurt, BU2),
            (Level::Wijk, WK),
            (Level::Gemeente, GM),
        ] {
            assert!(codes.contains(&expected), "{id} lacks {expected:?}");
        }
        for v in &rows {
            if v.code == ONBEKEND {
                assert!(
                    v.numerator != 0 || v.denominator != 0,
                    "{id}: empty onbekend row"
                );
                assert_eq!(
                    (v.wijkcode.as_str(), v.gemeentecode.as_str()),
                    (ONBEKEND, ONBEKEND)
                );
            }
            match v.level {
                Level::Buurt if v.code != ONBEKEND => {
                    assert_eq!((v.wijkcode.as_str(), v.gemeentecode.as_str()), (WK, GM))
                }
                Level::Wijk => assert_eq!(v.wijkcode, v.code),
                Level::Gemeente => assert_eq!(
                    (v.wijkcode.as_str(), v.gemeentecode.as_str()),
                    (v.code.as_str(), v.code.as_str())
                ),
                Level::Buurt => {}
            }
        }
    }
    // Wijk and gemeente counts add up from buurten here (one wijk), while
    // support is counted as distinct units at each level.
    for id in ["I01", "I07", "I10", "I11", "I12"] {
        let buurt_sum: i64 = rows_of(&t, id)
            .iter()
            .filter(|v| v.level == Level::Buurt && v.gemeentecode == GM)
            .map(|v| v.denominator)
            .sum();
        assert_eq!(cell(&t, id, Level::Wijk, WK).unwrap().1, buurt_sum, "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn support_at_wijk_level_counts_distinct_units_not_buurt_sums() {
    // P6 also gets a current W registration at A3 (BU99990002): an
    // inhabitant of both buurten, but one inhabitant of the wijk.
    let lake = TestLake::build_with(|exports| {
        let brp = exports.join("brp_inschrijvingen.csv");
        let mut text = std::fs::read_to_string(&brp).unwrap();
        text.push_str("999900006;1980;0999010000000003;W;01-01-2024;\n");
        std::fs::write(&brp, text).unwrap();
    });
    let engine = lake.engine();
    let t = engine.indicators(date(2024, 8, 1)).await.unwrap();
    use Level::{Buurt, Gemeente, Wijk};
    // I07's denominator is inhabitants (distinct persons) at every level.
    assert_eq!(cell(&t, "I07", Buurt, BU1), Some((1, 2, 1, 2)));
    assert_eq!(cell(&t, "I07", Buurt, BU2), Some((0, 1, 0, 1)));
    assert_eq!(cell(&t, "I07", Wijk, WK), Some((1, 2, 1, 2)));
    assert_eq!(cell(&t, "I07", Gemeente, GM), Some((1, 2, 1, 2)));
    // I12 counts registrations, supported by distinct persons.
    assert_eq!(cell(&t, "I12", Buurt, BU2), Some((1, 2, 1, 2)));
    assert_eq!(cell(&t, "I12", Wijk, WK), Some((1, 4, 1, 3)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn registrations_end_on_their_uitschrijving_date() {
    let lake = TestLake::base();
    let engine = lake.engine();
    // P18 lived at A1 until 2024-03-15 and at A2 from 2024-03-16.
    let before = engine.indicators(date(2024, 3, 14)).await.unwrap();
    assert_eq!(cell(&before, "I12", Level::Buurt, BU1), Some((0, 2, 0, 2)));
    let on = engine.indicators(date(2024, 3, 15)).await.unwrap();
    assert_eq!(cell(&on, "I12", Level::Buurt, BU1), Some((0, 1, 0, 1)));
    // The window (2023-03-15, 2024-03-15] holds the ending of K79.
    assert_eq!(cell(&on, "I03", Level::Buurt, BU2), Some((1, 0, 1, 0)));
    // A year earlier, K79 is still active and the I08 resale is outside
    // (2022-03-15, 2023-03-15]: only the first sale counts.
    let earlier = engine.indicators(date(2023, 3, 15)).await.unwrap();
    assert_eq!(cell(&earlier, "I08", Level::Buurt, BU1), Some((0, 1, 0, 1)));
    assert_eq!(cell(&earlier, "I01", Level::Buurt, BU2), Some((0, 1, 0, 1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn window_start_clamps_at_month_end_in_sql() {
    let lake = TestLake::base();
    let engine = lake.engine();
    let batches = engine
        .sql_trusted(
            date(2024, 2, 29),
            "SELECT CAST({{window_start}} AS VARCHAR) AS w, \
             CAST(DATE '2024-02-29' - INTERVAL '12 months' AS VARCHAR) AS m",
        )
        .await
        .unwrap();
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::datatypes::DataType;
    let b = &batches[0];
    for i in 0..2 {
        let text = cast(b.column(i), &DataType::Utf8).unwrap();
        assert_eq!(text.as_string::<i32>().value(0), "2023-02-28", "column {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn absent_sources_are_empty_tables() {
    // Only buurten and BAG: every indicator still runs.
    let lake = TestLake::build(|f| f == "buurten.geojson" || f.starts_with("bag_"), false);
    let engine = lake.engine();
    assert!(matches!(
        engine.default_peildatum().await,
        Err(QueryError::NoDatedRecords)
    ));
    let t = engine.indicators(date(2024, 8, 1)).await.unwrap();
    assert_eq!(cell(&t, "I11", Level::Buurt, BU1), Some((2, 2, 2, 2)));
    assert_eq!(cell(&t, "I12", Level::Buurt, BU1), Some((0, 0, 0, 0)));
    assert_eq!(cell(&t, "I12", Level::Buurt, ONBEKEND), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_municipality_adds_its_own_indicator_from_a_directory() {
    let lake = TestLake::base();
    let queries = tempfile::tempdir().unwrap();
    let own = "-- id: GM9999_OFFICES\n\
        -- title: offices\n\
        -- numerator: addresses whose gebruiksdoel is kantoorfunctie only\n\
        -- denominator: addresses\n\
        -- sources: bag\n\
        -- privacy_unit: address\n\
        SELECT 'buurt' AS level, buurtcode AS code, wijkcode, gemeentecode,\n\
          SUM(CASE WHEN NOT woonfunctie AND oppervlakte >= 300 THEN 1 ELSE 0 END) AS numerator,\n\
          COUNT(*) AS denominator,\n\
          SUM(CASE WHEN NOT woonfunctie AND oppervlakte >= 300 THEN 1 ELSE 0 END) AS numerator_support,\n\
          COUNT(*) AS denominator_support\n\
        FROM adressen WHERE {{peildatum}} IS NOT NULL GROUP BY buurtcode, wijkcode, gemeentecode\n";
    std::fs::write(queries.path().join("gm9999_offices.sql"), own).unwrap();
    let registry = Registry::from_dir(queries.path()).unwrap();
    assert_eq!(registry.len(), 1);
    let engine = lake.engine().with_registry(registry);
    let t = engine.indicators(date(2024, 8, 1)).await.unwrap();
    assert_eq!(
        cell(&t, "GM9999_OFFICES", Level::Buurt, BU2),
        Some((1, 1, 1, 1))
    );
    assert!(t.values.iter().all(|v| v.indicator == "GM9999_OFFICES"));
    // It reports no record keys, so it is never released; completed rows
    // (every area, here all of them) stay without keys too, also when the
    // file returns no row at all.
    assert!(t.values.iter().all(|v| v.numerator_key.is_none()));
    let none = own.replace("GM9999_OFFICES", "GM9999_NONE").replace(
        "WHERE {{peildatum}} IS NOT NULL",
        "WHERE {{peildatum}} IS NULL",
    );
    let empty = tempfile::tempdir().unwrap();
    std::fs::write(empty.path().join("none.sql"), none).unwrap();
    let engine = lake
        .engine()
        .with_registry(Registry::from_dir(empty.path()).unwrap());
    let t = engine.indicators(date(2024, 8, 1)).await.unwrap();
    assert!(!t.values.is_empty());
    assert!(
        t.values
            .iter()
            .all(|v| v.numerator_key.is_none() && v.denominator_key.is_none())
    );

    // A broken file is refused, naming the file.
    std::fs::write(
        queries.path().join("zz_broken.sql"),
        own.replace("GM9999_OFFICES", "GM9999_OTHER")
            .replace("-- privacy_unit: address\n", "-- privacy_unit: household\n"),
    )
    .unwrap();
    let err = Registry::from_dir(queries.path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadInput);
    assert!(
        matches!(&err, QueryError::QueryFile { file, problem: QueryFileProblem::UnknownPrivacyUnit } if file == "zz_broken.sql"),
        "{err}"
    );
    assert!(err.to_string().contains("zz_broken.sql"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn query_errors_name_the_indicator_and_carry_no_data() {
    let lake = TestLake::base();
    let engine = lake.engine();
    let bad_column = Registry::from_files([(
        "bad.sql".to_string(),
        "-- id: I99\n-- title: t\n-- numerator: n\n-- denominator: d\n-- sources: bag\n-- privacy_unit: address\n\
         SELECT no_such_column FROM bag\n"
            .to_string(),
    )])
    .unwrap();
    let q = bad_column.get("I99").unwrap();
    let err = engine.indicator(q, date(2024, 8, 1)).await.unwrap_err();
    assert!(matches!(err, QueryError::Plan { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::BadInput);
    assert!(err.to_string().contains("I99") && err.to_string().contains("bad.sql"));

    let wrong_shape = Registry::from_files([(
        "shape.sql".to_string(),
        "-- id: I98\n-- title: t\n-- numerator: n\n-- denominator: d\n-- sources: bag\n-- privacy_unit: address\n\
         SELECT identificatie AS level FROM bag\n"
            .to_string(),
    )])
    .unwrap();
    let err = engine
        .indicator(wrong_shape.get("I98").unwrap(), date(2024, 8, 1))
        .await
        .unwrap_err();
    assert!(matches!(err, QueryError::InvalidResult { .. }), "{err}");
    assert!(!err.to_string().contains("0999010000000001"), "{err}");
}

#[test]
fn opening_a_directory_without_manifest_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let err = Engine::open(dir.path(), EngineOptions::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn only_the_current_snapshot_is_read() {
    // Re-ingesting a changed BRP export makes a new snapshot; the engine
    // must see the new one only, even though the old directory remains.
    let lake = TestLake::base();
    let exports = lake.dir.path().join("exports");
    let brp = exports.join("brp_inschrijvingen.csv");
    let mut text = std::fs::read_to_string(&brp).unwrap();
    text.push_str("999900055;1970;0999010000000003;B;01-01-2024;\n");
    std::fs::write(&brp, text).unwrap();
    let opts = IngestOptions {
        exports,
        lake: lake.lake(),
        key: PseudonymKey::from_secret(b"a query integration-test key, 32+ bytes").unwrap(),
        clock: Arc::new(SystemClock),
    };
    ingest(&opts, &NoProgress).unwrap();
    let brp_dirs = std::fs::read_dir(lake.lake().join("brp")).unwrap().count();
    assert!(brp_dirs >= 2, "expected the old snapshot to remain");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let t = runtime.block_on(async {
        let engine = lake.engine();
        engine.indicators(date(2024, 8, 1)).await.unwrap()
    });
    assert_eq!(cell(&t, "I12", Level::Buurt, BU2), Some((2, 2, 2, 2)));
}
