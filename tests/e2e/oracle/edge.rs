//! The hand-made edge-case exports of `sample-data/fixtures/edge/` and
//! hand-computed expectations: they check the oracle itself, and then the
//! engine against the oracle.
//!
//! Geography: GM9999 has wijk WK999900 with BU99990001 (Noord) and
//! BU99990002 (Zuid, with a hole), and wijk WK999901 with the empty buurt
//! BU99990101; GM9998 has WK999800 with BU99980001 (Oost). Addresses A1..A9
//! are `09990100000000N`; A3 lies on the shared edge of Noord and Zuid
//! (Noord wins: smallest buurtcode), A6 in Zuid's hole (`onbekend`).
//! `0999019999999999` is not in BAG. The peildatum of the expectations is
//! the leap day 2024-02-29, so the window is (2023-02-28, 2024-02-29].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use knooppunt_core::SystemClock;
use knooppunt_ingest::{IngestOptions, NoProgress, PseudonymKey, ingest};

use super::{Counts, LakeRows, Lvl, ONBEKEND, OracleValue, counts, indicators};

pub fn edge_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-data/fixtures/edge")
}

/// Ingests an exports directory into a lake with the library.
pub fn ingest_exports(exports: &Path, lake: &Path) {
    let options = IngestOptions {
        exports: exports.to_path_buf(),
        lake: lake.to_path_buf(),
        key: PseudonymKey::from_secret(b"the oracle's end-to-end test key, 32+ bytes").unwrap(),
        clock: Arc::new(SystemClock),
    };
    let summary = ingest(&options, &NoProgress).unwrap();
    let text = format!("{summary:?}");
    assert!(!text.contains("Failed"), "ingest failed: {text}");
}

/// The edge exports plus a meldingen workbook, ingested; returns the
/// temporary directory (holding `exports/` and `lake/`).
pub fn edge_lake() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let exports = dir.path().join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    for entry in std::fs::read_dir(edge_fixture()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), exports.join(entry.file_name())).unwrap();
    }
    write_meldingen(&exports.join("meldingen.xlsx"));
    ingest_exports(&exports, &dir.path().join("lake"));
    dir
}

/// id, date (y, m, d), categorie, RD point.
type MeldingRow = (
    &'static str,
    (u16, u8, u8),
    &'static str,
    Option<(f64, f64)>,
);

/// Meldingen M1..M8: see the comments per row.
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
    let rows: [MeldingRow; 8] = [
        // In Noord, in the window.
        (
            "M-1",
            (2023, 6, 1),
            "Drugsoverlast",
            Some((150500.0, 480500.0)),
        ),
        // On the Noord/Zuid edge (Noord), on the peildatum (leap day).
        (
            "M-2",
            (2024, 2, 29),
            "Drugsoverlast",
            Some((151000.0, 480700.0)),
        ),
        // Exactly 12 months before the peildatum: outside the window.
        (
            "M-3",
            (2023, 2, 28),
            "Drugsoverlast",
            Some((150600.0, 480600.0)),
        ),
        // Another category.
        ("M-4", (2023, 6, 1), "Afval", Some((151200.0, 480300.0))),
        // Without a location: onbekend.
        ("M-5", (2023, 7, 1), "Drugsoverlast", None),
        // Outside every buurt: onbekend.
        (
            "M-6",
            (2023, 7, 1),
            "Drugsoverlast",
            Some((165000.0, 485000.0)),
        ),
        // In Oost (GM9998).
        (
            "M-7",
            (2023, 10, 1),
            "Drugsoverlast",
            Some((160200.0, 480200.0)),
        ),
        // After the peildatum.
        (
            "M-8",
            (2024, 3, 1),
            "Drugsoverlast",
            Some((150700.0, 480700.0)),
        ),
    ];
    for (i, (id, (y, m, d), cat, point)) in rows.iter().enumerate() {
        let r = i as u32 + 1;
        ws.write_string(r, 0, *id).unwrap();
        ws.write_datetime_with_format(
            r,
            1,
            ExcelDateTime::from_ymd(*y, *m, *d).unwrap(),
            &date_format,
        )
        .unwrap();
        ws.write_string(r, 2, *cat).unwrap();
        ws.write_string(r, 3, "vrije tekst die nooit wordt opgeslagen")
            .unwrap();
        if let Some((x, y)) = point {
            ws.write_number(r, 4, *x).unwrap();
            ws.write_number(r, 5, *y).unwrap();
        }
    }
    wb.save(path).unwrap();
}

pub fn leap_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()
}

const NOORD: &str = "BU99990001";
const ZUID: &str = "BU99990002";
const LEEG: &str = "BU99990101";
const OOST: &str = "BU99980001";
const CENTRUM: &str = "WK999900";
const BUITEN: &str = "WK999901";
const OOSTKERN: &str = "WK999800";
const TESTDORP: &str = "GM9999";
const OOSTDORP: &str = "GM9998";

fn address(n: u8) -> String {
    format!("099901000000000{n}")
}

/// The linking the expectations rely on (done by ingest, checked here so a
/// failure points at the right layer).
fn assert_linking(rows: &LakeRows) {
    let area_of = |id: &str| {
        rows.bag
            .iter()
            .find(|a| a.id == id)
            .map(|a| a.area.buurt.clone())
            .unwrap()
    };
    assert_eq!(area_of(&address(3)), NOORD, "A3 on the shared edge");
    assert_eq!(area_of(&address(6)), ONBEKEND, "A6 in Zuid's hole");
    assert_eq!(area_of(&address(7)), OOST);
    assert_eq!(rows.bag.len(), 9);
    assert_eq!(rows.brp.len(), 25);
    assert_eq!(rows.kvk.len(), 16);
    assert_eq!(rows.meldingen.len(), 8);
    assert_eq!(rows.energie.len(), 12);
    assert_eq!(rows.vastgoed.len(), 14);
    assert_eq!(rows.handhaving.len(), 6);
    let reopened = rows
        .kvk
        .iter()
        .find(|k| k.vestiging == "000066666662")
        .unwrap();
    assert_eq!(
        reopened.adres.as_deref(),
        Some(address(3).as_str()),
        "postcode 1234ab is normalised"
    );
    let unlinked = rows.kvk.iter().filter(|k| k.adres.is_none()).count();
    assert_eq!(unlinked, 3);
}

/// Asserts `(numerator, denominator, numerator_support, denominator_support)`
/// for several cells of one indicator.
fn expect(values: &[OracleValue], id: &str, cells: &[(Lvl, &str, Counts)]) {
    for (lvl, code, want) in cells {
        assert_eq!(
            counts(values, id, *lvl, code),
            *want,
            "{id} {} {code}: (num, den, num_support, den_support)",
            lvl.name()
        );
    }
}

#[test]
fn oracle_matches_hand_computed_values_on_the_edge_fixture() {
    use Lvl::{Buurt, Gemeente, Wijk};
    let dir = edge_lake();
    let rows = LakeRows::load(&dir.path().join("lake"));
    assert_linking(&rows);
    // The latest date: an establishment and a registration starting on
    // 2024-03-01, after the leap day.
    assert_eq!(
        rows.default_peildatum(),
        NaiveDate::from_ymd_opt(2024, 3, 1)
    );
    let v = indicators(&rows, leap_day());

    // Row set: 4 buurten + 3 wijken + 2 gemeenten per indicator, plus
    // onbekend where it has something.
    // Every indicator has an onbekend row here (A6 in the hole is in BAG).
    for id in [
        "I01", "I02", "I03", "I04", "I05", "I06", "I07", "I08", "I09", "I10", "I11", "I12",
    ] {
        let n = v.iter().filter(|r| r.indicator == id).count();
        assert_eq!(n, 12, "{id}: 9 areas + onbekend at 3 levels");
        let empty = super::find(&v, id, Buurt, LEEG);
        assert_eq!(
            (empty.numerator, empty.denominator, empty.wijkcode.as_str()),
            (0, 0, BUITEN),
            "{id}: the empty buurt has a zero row"
        );
        let wijk = super::find(&v, id, Wijk, BUITEN);
        assert_eq!((wijk.numerator, wijk.denominator), (0, 0));
        assert_eq!(wijk.wijkcode, BUITEN);
        assert_eq!(wijk.gemeentecode, TESTDORP);
        let gm = super::find(&v, id, Gemeente, OOSTDORP);
        assert_eq!(
            (gm.wijkcode.as_str(), gm.gemeentecode.as_str()),
            (OOSTDORP, OOSTDORP)
        );
        let unk = super::find(&v, id, Wijk, ONBEKEND);
        assert_eq!(
            (unk.wijkcode.as_str(), unk.gemeentecode.as_str()),
            (ONBEKEND, ONBEKEND)
        );
    }

    // I01: at A4 five active establishments (one starting on the
    // peildatum), one closing on it; 47711 matches 4771; unlinked garages.
    expect(
        &v,
        "I01",
        &[
            (Buurt, NOORD, (1, 2, 1, 2)),
            (Buurt, ZUID, (3, 5, 2, 4)),
            (Buurt, OOST, (0, 0, 0, 0)),
            (Buurt, ONBEKEND, (3, 4, 2, 3)),
            (Wijk, CENTRUM, (4, 7, 3, 6)),
            (Gemeente, TESTDORP, (4, 7, 3, 6)),
            (Gemeente, ONBEKEND, (3, 4, 2, 3)),
        ],
    );
    // I02: A4 is the only hotspot; unlinked establishments are their own
    // addresses (2 garages + Vastgoed BV) next to A6 in the hole.
    expect(
        &v,
        "I02",
        &[
            (Buurt, NOORD, (0, 2, 0, 2)),
            (Buurt, ZUID, (1, 1, 4, 4)),
            (Buurt, ONBEKEND, (0, 4, 0, 3)),
            (Gemeente, TESTDORP, (1, 3, 4, 6)),
        ],
    );
    // I03: closed and reopened (2 events), started and ended inside the
    // window (2 events), started 2023-02-28 (outside), started and closed
    // on the peildatum (1 event each).
    expect(
        &v,
        "I03",
        &[
            (Buurt, NOORD, (4, 2, 2, 2)),
            (Buurt, ZUID, (3, 5, 3, 4)),
            (Buurt, OOST, (0, 0, 0, 0)),
            (Buurt, ONBEKEND, (1, 4, 1, 3)),
            (Gemeente, TESTDORP, (7, 7, 5, 6)),
        ],
    );
    // I04: 181 days (ended on the peildatum) and 59 days count, 183 days
    // does not, one ended 2023-02-28 (outside); a short B registration.
    expect(
        &v,
        "I04",
        &[
            (Buurt, NOORD, (0, 11, 0, 11)),
            (Buurt, ZUID, (1, 1, 1, 1)),
            (Buurt, OOST, (2, 1, 2, 1)),
            (Buurt, ONBEKEND, (0, 2, 0, 2)),
            (Wijk, CENTRUM, (1, 12, 1, 12)),
            (Wijk, OOSTKERN, (2, 1, 2, 1)),
            (Gemeente, OOSTDORP, (2, 1, 2, 1)),
        ],
    );
    // I05: 40 m² for 4 is overcrowded, 48 m² for 4 is not, 30 m² for 3 is
    // not; the registration starting on the peildatum counts, the one
    // ending on it does not.
    expect(
        &v,
        "I05",
        &[
            (Buurt, NOORD, (1, 3, 1, 3)),
            (Buurt, ZUID, (0, 1, 0, 1)),
            (Buurt, OOST, (0, 1, 0, 1)),
            (Buurt, ONBEKEND, (0, 1, 0, 1)),
            (Gemeente, TESTDORP, (1, 4, 1, 4)),
        ],
    );
    // I06 (D1: A2's two rows are summed; the older year, the office and the
    // address not in BAG drop out): band [0,50) of GM9999 is {3000, 3000,
    // 5000}, threshold 4960, so A3 counts; {4000, 4000} ties; A7 and A8 are
    // alone in GM9998's bands; A6 alone in onbekend's partition.
    expect(
        &v,
        "I06",
        &[
            (Buurt, NOORD, (1, 3, 1, 3)),
            (Buurt, ZUID, (0, 2, 0, 2)),
            (Buurt, OOST, (0, 2, 0, 2)),
            (Buurt, ONBEKEND, (0, 1, 0, 1)),
            (Wijk, CENTRUM, (1, 5, 1, 5)),
            (Gemeente, OOSTDORP, (0, 2, 0, 2)),
        ],
    );
    // I07: the report on the edge and on the leap day counts for Noord.
    expect(
        &v,
        "I07",
        &[
            (Buurt, NOORD, (2, 11, 2, 11)),
            (Buurt, ZUID, (0, 1, 0, 1)),
            (Buurt, OOST, (1, 1, 1, 1)),
            (Buurt, ONBEKEND, (2, 2, 2, 2)),
            (Gemeente, TESTDORP, (2, 12, 2, 12)),
        ],
    );
    // I08 (D3): A5 sold 5 times: T-04 is +30% exactly on T-02 (its
    // same-day T-03 is not its previous sale), T-05 counts against the
    // cheaper (T-03) of its two same-day previous sales; A1's T-07 doubles
    // T-06 on the same day (no previous sale: not counted); A2 resold on the
    // leap day 12 months after 2023-02-28 (outside the window itself); A9
    // resold.
    expect(
        &v,
        "I08",
        &[
            (Buurt, NOORD, (1, 3, 1, 3)),
            (Buurt, ZUID, (3, 6, 2, 6)),
            (Buurt, OOST, (0, 2, 0, 2)),
            (Buurt, ONBEKEND, (0, 1, 0, 1)),
            (Wijk, CENTRUM, (4, 9, 3, 9)),
        ],
    );
    // I09 (D4): a company registered after the sale does not count, one
    // registered 7 months before does, one not in the kvk file does not,
    // one registered exactly 12 months before does not.
    expect(
        &v,
        "I09",
        &[
            (Buurt, NOORD, (0, 3, 0, 3)),
            (Buurt, ZUID, (1, 6, 1, 6)),
            (Buurt, OOST, (0, 2, 0, 2)),
            (Buurt, ONBEKEND, (0, 1, 0, 1)),
        ],
    );
    // I10: Bibob and 2023-02-28 excluded; two cases at A4 are one address.
    expect(
        &v,
        "I10",
        &[
            (Buurt, NOORD, (1, 3, 1, 3)),
            (Buurt, ZUID, (2, 3, 1, 3)),
            (Buurt, OOST, (0, 2, 0, 2)),
            (Buurt, ONBEKEND, (1, 1, 1, 1)),
            (Wijk, CENTRUM, (3, 6, 2, 6)),
            (Gemeente, TESTDORP, (3, 6, 2, 6)),
        ],
    );
    // I11: A5 (only a closed establishment and sales) and A8 (registration
    // ended on the peildatum, the next starts after it) are vacant; A7 is
    // not (registration starting on the peildatum).
    expect(
        &v,
        "I11",
        &[
            (Buurt, NOORD, (0, 3, 0, 3)),
            (Buurt, ZUID, (1, 3, 1, 3)),
            (Buurt, OOST, (1, 2, 1, 2)),
            (Buurt, ONBEKEND, (0, 1, 0, 1)),
            (Gemeente, TESTDORP, (1, 6, 1, 6)),
        ],
    );
    // I12: a person with a W and a B registration in Zuid is one unit.
    expect(
        &v,
        "I12",
        &[
            (Buurt, NOORD, (0, 11, 0, 11)),
            (Buurt, ZUID, (2, 3, 2, 2)),
            (Buurt, OOST, (0, 1, 0, 1)),
            (Buurt, ONBEKEND, (0, 2, 0, 2)),
            (Gemeente, TESTDORP, (2, 14, 2, 13)),
        ],
    );
}

#[test]
fn window_and_percentile_arithmetic() {
    use super::{Window, minus_12_months, percentile_cont};
    let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
    assert_eq!(minus_12_months(d(2024, 2, 29)), d(2023, 2, 28));
    assert_eq!(minus_12_months(d(2025, 2, 28)), d(2024, 2, 28));
    let w = Window::new(d(2024, 2, 29));
    assert!(!w.contains(d(2023, 2, 28)));
    assert!(w.contains(d(2023, 3, 1)));
    assert!(w.contains(d(2024, 2, 29)));
    assert!(!w.contains(d(2024, 3, 1)));
    // A window of 2025-02-28 holds the leap day.
    assert!(Window::new(d(2025, 2, 28)).contains(d(2024, 2, 29)));

    assert_eq!(percentile_cont(&mut [7.0], 0.99), 7.0);
    // p = 0.99: 1 + 0.99 × (3 − 1).
    assert!((percentile_cont(&mut [3.0, 1.0], 0.99) - 2.98).abs() < 1e-12);
    // p = 1.98 over {3000, 3000, 5000}: 3000 + 0.98 × 2000.
    let t = percentile_cont(&mut [5000.0, 3000.0, 3000.0], 0.99);
    assert!((t - 4960.0).abs() < 1e-9);
    // 101 values 0..=100: p = 99 exactly, the threshold is the value 99.
    let mut v: Vec<f64> = (0..=100).map(f64::from).collect();
    assert_eq!(percentile_cont(&mut v, 0.99), 99.0);
}
