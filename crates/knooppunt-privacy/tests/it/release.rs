//! Release-level tests: the LP audit on synthetic hierarchies, direct
//! support checks, repetition, output formats, validation.

use std::collections::{BTreeMap, HashMap};

use knooppunt_core::{Level, PrivacyUnit};
use knooppunt_privacy::{
    CSV_HEADER, CellInput, CellValue, CsvSuppressedMarker, PrivacyError, ReleaseConfig,
    ReleasedCell, SuppressionReason, release,
};
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::audit::{AuditTree, assert_additive, audit_tree, trees};
use crate::synth::{Spec, generate};

fn config() -> ReleaseConfig {
    ReleaseConfig::default()
}

/// Issue 4: every suppressed cell's feasible interval is at least k wide,
/// for an attacker holding every released number exactly.
#[test]
fn attacker_lp_audit_finds_no_narrow_interval() {
    let mut total_suppressed = 0;
    let mut total_lps = 0;
    for seed in [1, 2, 3, 4, 5, 6] {
        let cells = generate(seed, &Spec::small());
        let params = config().validate().expect("valid");
        let rel = release(&cells, &config()).expect("releases");
        for tree in trees(&cells, &rel, &params) {
            assert_additive(&tree);
            let (violations, lps) = audit_tree(&tree);
            total_lps += lps;
            total_suppressed += tree.areas.values().filter(|v| v.suppressed).count();
            assert!(violations.is_empty(), "seed {seed}: {violations:#?}");
        }
    }
    // The data must actually exercise the audit.
    assert!(
        total_suppressed > 200,
        "only {total_suppressed} suppressed cells"
    );
    assert!(total_lps >= 2 * total_suppressed);
}

/// The same audit with larger wijken, more tiny buurten and raised `k`s.
#[test]
fn attacker_lp_audit_holds_with_large_wijken_and_raised_k() {
    let spec = Spec {
        gemeenten: 2,
        wijken: (1, 7),
        buurten: (1, 12),
        tiny_share: 0.45,
        with_sum: true,
    };
    let mut cfg = config();
    cfg.k.person = 15;
    cfg.k.address = 5;
    cfg.k.company = 4;
    let params = cfg.validate().expect("valid");
    for seed in [31, 32, 33] {
        let cells = generate(seed, &spec);
        let rel = release(&cells, &cfg).expect("releases");
        for tree in trees(&cells, &rel, &params) {
            let (violations, _) = audit_tree(&tree);
            assert!(violations.is_empty(), "seed {seed}: {violations:#?}");
            remainders_are_zero_or_at_least_k(&tree);
        }
    }
}

/// Issue 4: no released number has true support below k, and no released
/// parent minus its released parts leaves a positive remainder below k.
#[test]
fn no_small_cell_is_visible_directly_or_as_a_remainder() {
    for seed in 10..20 {
        let cells = generate(seed, &Spec::small());
        let params = config().validate().expect("valid");
        let rel = release(&cells, &config()).expect("releases");
        let by_key: HashMap<(&str, Level, &str), &ReleasedCell> = rel
            .cells
            .iter()
            .map(|c| ((c.indicator.as_str(), c.level, c.code.as_str()), c))
            .collect();
        for c in &cells {
            let r = by_key[&(c.indicator.as_str(), c.level, c.code.as_str())];
            let kn = i64::from(params.k(c.numerator_unit));
            let kd = i64::from(params.k(c.denominator_unit));
            if r.numerator.value().is_some() {
                assert!(
                    c.numerator_support == 0 || c.numerator_support >= kn,
                    "{c:?}"
                );
                assert!(
                    c.denominator_support >= kd,
                    "numerator over a small denominator: {c:?}"
                );
            }
            if r.denominator.value().is_some() {
                assert!(c.denominator_support >= kd, "{c:?}");
            }
            if r.rate.value().is_some() {
                assert!(r.numerator.value().is_some() && r.denominator.value().is_some());
            }
        }
        for tree in trees(&cells, &rel, &params) {
            remainders_are_zero_or_at_least_k(&tree);
        }
    }
}

fn remainders_are_zero_or_at_least_k(tree: &AuditTree) {
    let mut hidden: BTreeMap<&(Level, String), (i64, usize)> = BTreeMap::new();
    for node in tree.areas.values() {
        if let Some(p) = &node.parent
            && let Some(parent) = tree.areas.get(p)
            && !parent.suppressed
            && node.suppressed
        {
            let e = hidden.entry(p).or_default();
            e.0 += node.value;
            e.1 += 1;
        }
    }
    for (p, (remainder, parts)) in hidden {
        assert!(
            parts >= 2,
            "{}: {p:?} minus its visible parts is one cell",
            tree.name
        );
        assert!(
            remainder >= tree.k,
            "{}: {p:?} minus its visible parts is {remainder}",
            tree.name
        );
    }
}

/// Issue 4: the same request gives byte-identical JSON and CSV, whatever
/// the order of the input.
#[test]
fn repetition_gives_byte_identical_output() {
    let cells = generate(7, &Spec::small());
    let a = release(&cells, &config()).expect("releases");
    let b = release(&cells, &config()).expect("releases");
    let mut shuffled = cells.clone();
    shuffled.shuffle(&mut ChaCha8Rng::seed_from_u64(99));
    let c = release(&shuffled, &config()).expect("releases");
    let json = a.to_json().expect("json");
    let csv = a.to_csv().expect("csv");
    assert_eq!(json, b.to_json().expect("json"));
    assert_eq!(json, c.to_json().expect("json"));
    assert_eq!(csv, b.to_csv().expect("csv"));
    assert_eq!(csv, c.to_csv().expect("csv"));
    // Sorted by indicator, level (buurt, wijk, gemeente), code.
    let keys: Vec<_> = a
        .cells
        .iter()
        .map(|c| (c.indicator.clone(), c.level, c.code.clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn summary_counts_every_reason() {
    let cells = generate(8, &Spec::small());
    let rel = release(&cells, &config()).expect("releases");
    let s = rel.summary;
    assert_eq!(s.cells, cells.len());
    for counts in [s.numerator, s.denominator, s.rate] {
        assert_eq!(counts.released + counts.suppressed(), cells.len());
    }
    assert!(
        s.numerator.threshold > 0 && s.numerator.secondary > 0,
        "{s:?}"
    );
    assert!(
        s.numerator.dominance > 0,
        "the koopsom indicator trips the dominance rule: {s:?}"
    );
    assert!(
        s.denominator.threshold > 0 && s.denominator.secondary > 0,
        "{s:?}"
    );
}

fn cell(level: Level, code: &str, wijk: &str, num: i64, den: i64) -> CellInput {
    CellInput {
        indicator: "I10".to_owned(),
        denominator_group: "addresses".to_owned(),
        level,
        code: code.to_owned(),
        wijkcode: wijk.to_owned(),
        gemeentecode: "GM0001".to_owned(),
        numerator: num,
        denominator: den,
        numerator_support: num,
        denominator_support: den,
        numerator_unit: PrivacyUnit::Address,
        denominator_unit: PrivacyUnit::Address,
        numerator_key: num * 1_000_003,
        denominator_key: den * 7_000_001,
        numerator_dominance: None,
    }
}

/// A wijk of three buurten: one with a small numerator, one with a zero
/// numerator, one large.
fn tiny_table() -> Vec<CellInput> {
    vec![
        cell(Level::Buurt, "BU00010001", "WK000100", 2, 100),
        cell(Level::Buurt, "BU00010002", "WK000100", 0, 50),
        cell(Level::Buurt, "BU00010003", "WK000100", 30, 400),
        cell(Level::Wijk, "WK000100", "WK000100", 32, 550),
        cell(Level::Gemeente, "GM0001", "GM0001", 32, 550),
    ]
}

#[test]
fn json_says_suppressed_explicitly_and_round_trips() {
    let rel = release(&tiny_table(), &config()).expect("releases");
    let json = rel.to_json().expect("json");
    let v: serde_json::Value = serde_json::from_str(&json).expect("parses");
    let first = &v["cells"][0];
    assert_eq!(first["code"], "BU00010001");
    assert_eq!(first["numerator"], serde_json::Value::Null);
    assert_eq!(first["numerator_status"], "threshold");
    assert_eq!(first["rate"], serde_json::Value::Null);
    assert_eq!(first["rate_status"], "threshold");
    assert_eq!(first["denominator_status"], "released");
    assert!(first["denominator"].is_i64());
    // Hiding the zero buurt would leave 2 = 32 − 30 − x with x in [0, 2]:
    // too narrow, so the buurt of 30 is hidden and the zero stays visible.
    assert_eq!(v["cells"][1]["numerator_status"], "released");
    assert_eq!(v["cells"][1]["numerator"], 0);
    assert_eq!(v["cells"][2]["numerator_status"], "secondary");
    assert_eq!(v["parameters"]["k"]["person"], 10);
    assert_eq!(v["parameters"]["perturbation"]["id"], "knooppunt-ckm-v1");
    assert!(
        v["parameters_fingerprint"]
            .as_str()
            .is_some_and(|s| s.starts_with("sha256:"))
    );
    let back: Vec<ReleasedCell> =
        serde_json::from_value(v["cells"].clone()).expect("cells deserialise");
    assert_eq!(back, rel.cells);
    // A suppressed number with a value, or a released one without, is refused.
    let mut bad = v["cells"][0].clone();
    bad["numerator"] = serde_json::json!(0);
    assert!(serde_json::from_value::<ReleasedCell>(bad).is_err());
}

#[test]
fn csv_uses_the_cbs_marker_and_a_status_column() {
    let rel = release(&tiny_table(), &config()).expect("releases");
    let csv = rel.to_csv().expect("csv");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(CSV_HEADER.join(",").as_str()));
    let first = lines.next().expect("a row");
    assert!(
        first.starts_with("I10,buurt,BU00010001,WK000100,GM0001,-99997,threshold,"),
        "{first}"
    );
    assert!(first.ends_with(",-99997,threshold"), "{first}");
    assert_eq!(csv.lines().count(), 6);
    assert!(!csv.contains("\r\n"));

    let mut dot = config();
    dot.csv_suppressed = CsvSuppressedMarker::Dot;
    let csv = release(&tiny_table(), &dot)
        .expect("releases")
        .to_csv()
        .expect("csv");
    assert!(csv.contains("GM0001,.,threshold,"), "{csv}");
}

#[test]
fn released_rate_comes_from_the_perturbed_counts() {
    let rel = release(&tiny_table(), &config()).expect("releases");
    for c in &rel.cells {
        if let (CellValue::Released(n), CellValue::Released(d), CellValue::Released(r)) =
            (c.numerator, c.denominator, c.rate)
        {
            let expected = (n as f64 * 1000.0 / d as f64 * 100.0).round() / 100.0;
            assert_eq!(r, expected);
        }
    }
}

#[test]
fn a_zero_numerator_over_a_large_denominator_is_exactly_zero() {
    // Alone in its gemeente (nothing else to protect), a zero stays 0.
    let cells = vec![
        cell(Level::Buurt, "BU00010001", "WK000100", 0, 100),
        cell(Level::Buurt, "BU00010002", "WK000100", 0, 50),
        cell(Level::Wijk, "WK000100", "WK000100", 0, 150),
        cell(Level::Gemeente, "GM0001", "GM0001", 0, 150),
    ];
    let rel = release(&cells, &config()).expect("releases");
    for c in &rel.cells {
        assert_eq!(c.numerator, CellValue::Released(0));
        assert_eq!(c.rate, CellValue::Released(0.0));
    }
}

#[test]
fn a_small_denominator_hides_the_whole_cell() {
    let mut cells = tiny_table();
    cells[1].denominator = 2;
    cells[1].denominator_support = 2;
    cells[3].denominator = 502;
    cells[3].denominator_support = 502;
    cells[4].denominator = 502;
    cells[4].denominator_support = 502;
    let rel = release(&cells, &config()).expect("releases");
    let c = &rel.cells[1];
    assert_eq!(
        c.numerator,
        CellValue::Suppressed(SuppressionReason::Threshold)
    );
    assert_eq!(
        c.denominator,
        CellValue::Suppressed(SuppressionReason::Threshold)
    );
    assert_eq!(c.rate, CellValue::Suppressed(SuppressionReason::Threshold));
}

#[test]
fn inputs_that_cannot_be_right_are_refused() {
    // Units behind nothing: a zero count with a positive support. (A
    // support above a positive count is valid: I02 counts addresses with
    // several companies behind one.)
    let mut cells = tiny_table();
    cells[0].numerator = 0;
    cells[0].numerator_support = 5;
    assert!(matches!(
        release(&cells, &config()),
        Err(PrivacyError::InvalidCell { .. })
    ));
    let mut cells = tiny_table();
    cells.push(cells[0].clone());
    assert!(matches!(
        release(&cells, &config()),
        Err(PrivacyError::DuplicateCell { .. })
    ));
    // Two indicators of one group disagreeing on a denominator.
    let mut cells = tiny_table();
    let mut other = cells[0].clone();
    other.indicator = "I11".to_owned();
    other.denominator += 1;
    other.denominator_support += 1;
    cells.push(other);
    assert!(matches!(
        release(&cells, &config()),
        Err(PrivacyError::DenominatorMismatch { .. })
    ));
    let mut bad = config();
    bad.k.person = 2;
    let err = release(&tiny_table(), &bad).expect_err("k below 3");
    assert!(matches!(err, PrivacyError::KBelowMinimum { k: 2, .. }));
}

/// A denominator shared by two indicators is hidden from both or neither,
/// and gets the same noise in both.
#[test]
fn shared_denominators_agree() {
    let cells = generate(12, &Spec::small());
    let rel = release(&cells, &config()).expect("releases");
    let mut seen: HashMap<(String, Level, String), CellValue<i64>> = HashMap::new();
    let group: HashMap<&str, &str> = cells
        .iter()
        .map(|c| (c.indicator.as_str(), c.denominator_group.as_str()))
        .collect();
    for c in &rel.cells {
        let key = (
            group[c.indicator.as_str()].to_owned(),
            c.level,
            c.code.clone(),
        );
        if let Some(prev) = seen.insert(key, c.denominator) {
            assert_eq!(prev, c.denominator);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// Random small hierarchies, mostly tiny counts: the LP audit finds no
    /// interval narrower than k, whatever the values.
    #[test]
    fn lp_audit_holds_on_random_small_hierarchies(
        seed in 0u64..1_000_000,
        wijken in 1usize..5,
        k in 3u32..6,
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut cells = Vec::new();
        let mut g = (0i64, 0i64);
        for w in 0..wijken {
            let wk = format!("WK0001{w:02}");
            let mut s = (0i64, 0i64);
            for b in 0..rng.random_range(1..6) {
                let num = if rng.random_bool(0.6) { rng.random_range(0..4) } else { rng.random_range(0..40) };
                let den = num + if rng.random_bool(0.3) { rng.random_range(0..4) } else { rng.random_range(0..200) };
                cells.push(cell(Level::Buurt, &format!("BU0001{w:02}{b:02}"), &wk, num, den));
                s.0 += num;
                s.1 += den;
            }
            cells.push(cell(Level::Wijk, &wk, &wk, s.0, s.1));
            g.0 += s.0;
            g.1 += s.1;
        }
        cells.push(cell(Level::Gemeente, "GM0001", "GM0001", g.0, g.1));
        let mut cfg = config();
        cfg.k.address = k;
        let params = cfg.validate().expect("valid");
        let rel = release(&cells, &cfg).expect("releases");
        for tree in trees(&cells, &rel, &params) {
            let (violations, _) = audit_tree(&tree);
            prop_assert!(violations.is_empty(), "{:?}", violations);
            remainders_are_zero_or_at_least_k(&tree);
        }
    }
}
