//! The engine (`knooppunt-query`, SQL on DataFusion) against the oracle:
//! every field of every row, on generated exports (several seeds, several
//! peildata) and on the hand-made edge fixture.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use knooppunt_query::{Engine, EngineOptions, Execution, IndicatorValue, Level};
use knooppunt_synth::{SynthConfig, generate};

use super::edge::{edge_lake, ingest_exports, leap_day};
use super::{LakeRows, Lvl, ONBEKEND, OracleValue, indicators};

/// The engine's indicator table for `peildatum` (its default when `None`),
/// converted to the oracle's row type. Returns the peildatum it used.
fn engine_values(lake: &Path, peildatum: Option<NaiveDate>) -> (NaiveDate, Vec<OracleValue>) {
    engine_values_on(lake, peildatum, Execution::Local)
}

/// [`engine_values`] with the plans executed by `execution`.
fn engine_values_on(
    lake: &Path,
    peildatum: Option<NaiveDate>,
    execution: Execution,
) -> (NaiveDate, Vec<OracleValue>) {
    let options = EngineOptions {
        threads: Some(2),
        execution,
        ..EngineOptions::default()
    };
    let engine = Engine::open(lake, options).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let table = runtime.block_on(async {
        let peildatum = match peildatum {
            Some(p) => p,
            None => engine.default_peildatum().await.unwrap(),
        };
        engine.indicators(peildatum).await.unwrap()
    });
    let values = table.values.iter().map(from_engine).collect();
    (table.peildatum, values)
}

fn from_engine(v: &IndicatorValue) -> OracleValue {
    OracleValue {
        indicator: v.indicator.clone(),
        level: match v.level {
            Level::Buurt => Lvl::Buurt,
            Level::Wijk => Lvl::Wijk,
            Level::Gemeente => Lvl::Gemeente,
        },
        code: v.code.clone(),
        wijkcode: v.wijkcode.clone(),
        gemeentecode: v.gemeentecode.clone(),
        numerator: v.numerator,
        denominator: v.denominator,
        numerator_support: v.numerator_support,
        denominator_support: v.denominator_support,
        // An engine row without keys shows up as a difference (-1 ≠ Σ).
        numerator_key: v.numerator_key.unwrap_or(-1),
        denominator_key: v.denominator_key.unwrap_or(-1),
    }
}

type Key = (String, Lvl, String);

fn key(v: &OracleValue) -> Key {
    (v.indicator.clone(), v.level, v.code.clone())
}

fn show(v: &OracleValue) -> String {
    format!(
        "wijk {} gemeente {} num {} den {} num_support {} den_support {}",
        v.wijkcode,
        v.gemeentecode,
        v.numerator,
        v.denominator,
        v.numerator_support,
        v.denominator_support
    )
}

/// Compares two tables exactly; returns a readable list of the first
/// differences (empty when equal).
pub fn differences(oracle: &[OracleValue], engine: &[OracleValue], limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let o: BTreeMap<Key, &OracleValue> = oracle.iter().map(|v| (key(v), v)).collect();
    let mut e: BTreeMap<Key, &OracleValue> = BTreeMap::new();
    for v in engine {
        if e.insert(key(v), v).is_some() {
            out.push(format!(
                "{} {} {}: duplicate row in the engine's table",
                v.indicator,
                v.level.name(),
                v.code
            ));
        }
    }
    for (k, ov) in &o {
        let label = format!("{} {} {}", k.0, k.1.name(), k.2);
        match e.get(k) {
            None => out.push(format!("{label}: missing in engine; oracle {}", show(ov))),
            Some(ev) if ev != ov => {
                let mut fields = Vec::new();
                let pairs = [
                    ("numerator", ov.numerator, ev.numerator),
                    ("denominator", ov.denominator, ev.denominator),
                    (
                        "numerator_support",
                        ov.numerator_support,
                        ev.numerator_support,
                    ),
                    (
                        "denominator_support",
                        ov.denominator_support,
                        ev.denominator_support,
                    ),
                    ("numerator_key", ov.numerator_key, ev.numerator_key),
                    ("denominator_key", ov.denominator_key, ev.denominator_key),
                ];
                for (name, a, b) in pairs {
                    if a != b {
                        fields.push(format!("{name} oracle {a} engine {b}"));
                    }
                }
                if ov.wijkcode != ev.wijkcode {
                    fields.push(format!(
                        "wijkcode oracle {} engine {}",
                        ov.wijkcode, ev.wijkcode
                    ));
                }
                if ov.gemeentecode != ev.gemeentecode {
                    fields.push(format!(
                        "gemeentecode oracle {} engine {}",
                        ov.gemeentecode, ev.gemeentecode
                    ));
                }
                out.push(format!("{label}: {}", fields.join(", ")));
            }
            Some(_) => {}
        }
    }
    for (k, ev) in &e {
        if !o.contains_key(k) {
            out.push(format!(
                "{} {} {}: extra row in engine {}",
                k.0,
                k.1.name(),
                k.2,
                show(ev)
            ));
        }
    }
    let sorted = engine.windows(2).all(|w| key(&w[0]) < key(&w[1]));
    if !sorted {
        out.push("engine rows are not sorted by (indicator, level, code)".into());
    }
    let total = out.len();
    out.truncate(limit);
    if total > limit {
        out.push(format!("… and {} more", total - limit));
    }
    out
}

/// The differences between the engine and the oracle at `peildatum` (the
/// default when `None`, which must then equal the oracle's default), each
/// prefixed with the context.
fn engine_differences(
    lake: &Path,
    rows: &LakeRows,
    peildatum: Option<NaiveDate>,
    context: &str,
) -> Vec<String> {
    let (used, engine) = engine_values(lake, peildatum);
    let expected = peildatum.or(rows.default_peildatum()).unwrap();
    if used != expected {
        return vec![format!(
            "{context}: default peildatum oracle {expected} engine {used}"
        )];
    }
    let oracle = indicators(rows, expected);
    differences(&oracle, &engine, 25)
        .into_iter()
        .map(|d| format!("{context}, peildatum {expected}: {d}"))
        .collect()
}

fn assert_no_differences(diffs: &[String]) {
    assert!(
        diffs.is_empty(),
        "the engine differs from the oracle:\n  {}",
        diffs.join("\n  ")
    );
}

/// Internal consistency of an oracle table: buurt counts add up to wijk
/// and gemeente counts (except distinct-person denominators), supports
/// never exceed what they count, and rows have consistent codes.
fn assert_consistent(values: &[OracleValue], context: &str) {
    let mut sums: BTreeMap<(&str, Lvl, &str), (i64, i64)> = BTreeMap::new();
    for v in values.iter().filter(|v| v.level == Lvl::Buurt) {
        for (lvl, code) in [(Lvl::Wijk, &v.wijkcode), (Lvl::Gemeente, &v.gemeentecode)] {
            let s = sums.entry((&v.indicator, lvl, code)).or_default();
            s.0 += v.numerator;
            s.1 += v.denominator;
        }
    }
    for v in values.iter().filter(|v| v.level != Lvl::Buurt) {
        let s = sums
            .get(&(v.indicator.as_str(), v.level, v.code.as_str()))
            .copied()
            .unwrap_or_default();
        let label = format!("{context} {} {} {}", v.indicator, v.level.name(), v.code);
        assert_eq!(v.numerator, s.0, "{label}: numerator is the buurt sum");
        if !matches!(v.indicator.as_str(), "I04" | "I07") {
            assert_eq!(v.denominator, s.1, "{label}: denominator is the buurt sum");
        }
        match v.level {
            Lvl::Wijk => assert_eq!(v.wijkcode, v.code, "{label}"),
            Lvl::Gemeente => assert_eq!(
                (v.wijkcode.as_str(), v.gemeentecode.as_str()),
                (v.code.as_str(), v.code.as_str()),
                "{label}"
            ),
            Lvl::Buurt => {}
        }
    }
    for v in values {
        let label = format!("{context} {} {} {}", v.indicator, v.level.name(), v.code);
        assert!(v.numerator >= 0 && v.denominator >= 0, "{label}");
        assert_eq!(
            v.numerator_support == 0,
            v.numerator == 0,
            "{label}: support is zero exactly when the count is"
        );
        assert_eq!(v.denominator_support == 0, v.denominator == 0, "{label}");
        // Supports count units of rows: never more than the rows, except
        // I02 (establishments' kvk numbers per address).
        if v.indicator != "I02" {
            assert!(v.numerator_support <= v.numerator, "{label}");
            assert!(v.denominator_support <= v.denominator, "{label}");
        }
        if v.code == ONBEKEND {
            assert_eq!(
                (v.wijkcode.as_str(), v.gemeentecode.as_str()),
                (ONBEKEND, ONBEKEND)
            );
        }
    }
}

fn buurten_file() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-data/buurten_almere_2024.geojson")
}

/// Generated exports (quirks and invalid rows included), ingested.
fn synth_lake(seed: u64, scale: f64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let exports = dir.path().join("exports");
    let cfg = SynthConfig {
        out: exports.clone(),
        scale,
        seed,
        clean: false,
        buurten: buurten_file(),
    };
    generate(&cfg, &mut |_| {}).unwrap();
    ingest_exports(&exports, &dir.path().join("lake"));
    dir
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// The oracle on generated data: consistent, and not trivially zero.
fn check_oracle_on_synth(rows: &LakeRows, context: &str) {
    assert_eq!(
        rows.default_peildatum(),
        Some(date(2026, 9, 30)),
        "{context}"
    );
    for p in [date(2026, 9, 30), date(2025, 12, 31), date(2024, 2, 29)] {
        let values = indicators(rows, p);
        assert_consistent(&values, &format!("{context} {p}"));
    }
    let values = indicators(rows, date(2026, 9, 30));
    for id in [
        "I01", "I02", "I03", "I04", "I05", "I06", "I07", "I08", "I09", "I10", "I11", "I12",
    ] {
        let total: i64 = values
            .iter()
            .filter(|v| v.indicator == id && v.level == Lvl::Gemeente)
            .map(|v| v.numerator)
            .sum();
        assert!(total > 0, "{context}: {id} has no numerator anywhere");
    }
}

#[test]
fn oracle_is_consistent_on_generated_exports() {
    for (seed, scale) in [(7, 0.03), (21, 0.02), (1234, 0.05)] {
        let dir = synth_lake(seed, scale);
        let rows = LakeRows::load(&dir.path().join("lake"));
        check_oracle_on_synth(&rows, &format!("seed {seed} scale {scale}"));
    }
}

#[test]
fn engine_matches_the_oracle_on_generated_exports() {
    let mut diffs = Vec::new();
    for (seed, scale) in [(7, 0.03), (21, 0.02), (1234, 0.05)] {
        let dir = synth_lake(seed, scale);
        let lake = dir.path().join("lake");
        let rows = LakeRows::load(&lake);
        let context = format!("seed {seed} scale {scale}");
        for p in [None, Some(date(2025, 12, 31)), Some(date(2024, 2, 29))] {
            diffs.extend(engine_differences(&lake, &rows, p, &context));
        }
    }
    assert_no_differences(&diffs);
}

/// The same indicator SQL on an in-process Ballista cluster (scheduler,
/// executor, plan serialisation and shuffles) gives exactly the local
/// engine's table, which in turn equals the oracle's.
#[test]
fn ballista_standalone_gives_the_local_results() {
    let dir = synth_lake(7, 0.03);
    let lake = dir.path().join("lake");
    let rows = LakeRows::load(&lake);
    let mut diffs = Vec::new();
    for p in [None, Some(date(2025, 12, 31))] {
        let (used, local) = engine_values(&lake, p);
        let (used_ballista, ballista) = engine_values_on(&lake, p, Execution::BallistaStandalone);
        assert_eq!(used, used_ballista, "default peildatum on Ballista");
        assert!(!ballista.is_empty());
        diffs.extend(
            differences(&local, &ballista, 25)
                .into_iter()
                .map(|d| format!("Ballista vs local at {used}: {d}")),
        );
        diffs.extend(
            differences(&indicators(&rows, used), &ballista, 25)
                .into_iter()
                .map(|d| format!("Ballista vs oracle at {used}: {d}")),
        );
    }
    assert_no_differences(&diffs);
}

#[test]
fn engine_matches_the_oracle_on_the_edge_fixture() {
    let dir = edge_lake();
    let lake = dir.path().join("lake");
    let rows = LakeRows::load(&lake);
    let mut diffs = Vec::new();
    // The default (2024-03-01), the leap day, and a window holding the leap
    // day: (2024-02-28, 2025-02-28].
    for p in [None, Some(leap_day()), Some(date(2025, 2, 28))] {
        diffs.extend(engine_differences(&lake, &rows, p, "edge"));
    }
    assert_no_differences(&diffs);
}

#[test]
fn differences_are_reported_readably() {
    let row = |code: &str, num: i64| OracleValue {
        indicator: "I01".into(),
        level: Lvl::Buurt,
        code: code.into(),
        wijkcode: "WK000100".into(),
        gemeentecode: "GM0001".into(),
        numerator: num,
        denominator: 10,
        numerator_support: num,
        denominator_support: 10,
        numerator_key: 0,
        denominator_key: 0,
    };
    let oracle = vec![row("BU00010001", 1), row("BU00010002", 2)];
    assert!(differences(&oracle, &oracle, 10).is_empty());
    let engine = vec![row("BU00010002", 3), row("BU00010003", 0)];
    let diffs = differences(&oracle, &engine, 10);
    assert_eq!(diffs.len(), 3, "{diffs:?}");
    assert!(diffs[0].starts_with("I01 buurt BU00010001: missing in engine"));
    assert_eq!(
        diffs[1],
        "I01 buurt BU00010002: numerator oracle 2 engine 3, numerator_support oracle 2 engine 3"
    );
    assert!(diffs[2].contains("extra row in engine"));
}

/// Analyst SQL (issue 7): a query prepared by the gate and rewrite of the
/// local engine runs on an in-process Ballista cluster with exactly the
/// local exact bounded answer: the rewritten plan (per-unit bounding with
/// a keyed hash and a window, public domains) needs no custom function.
#[test]
fn ballista_standalone_gives_the_local_analyst_answers() {
    use knooppunt_query::{AnalystOptions, Bounding, UnitPlan};

    let dir = synth_lake(7, 0.03);
    let lake = dir.path().join("lake");
    let open = |execution| {
        Engine::open(
            &lake,
            EngineOptions {
                threads: Some(2),
                execution,
                ..EngineOptions::default()
            },
        )
        .unwrap()
    };
    let local = open(Execution::Local);
    let ballista = open(Execution::BallistaStandalone);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let queries = [
        "SELECT a.buurtcode, COUNT(*) AS n FROM actuele_inschrijvingen p \
         JOIN adressen a ON p.adresseerbaarobject_id = a.identificatie GROUP BY a.buurtcode",
        "SELECT soort_adres, COUNT(DISTINCT persoon_id) AS n, AVG(geboortejaar) AS gj \
         FROM brp GROUP BY soort_adres",
        "SELECT categorie, COUNT(*) AS n FROM meldingen GROUP BY categorie",
        "SELECT buurtcode, SUM(koopsom) AS s FROM vastgoed GROUP BY buurtcode",
    ];
    runtime.block_on(async {
        let peildatum = local.default_peildatum().await.unwrap();
        let scope = ["GM0034".to_string()];
        let session = local.analyst_session(peildatum, &scope).await.unwrap();
        let remote = ballista.analyst_session(peildatum, &scope).await.unwrap();
        let options = AnalystOptions::default();
        let mut plans = Vec::new();
        for sql in queries {
            // The plan `Auto` chooses and the general plan, each run here
            // and on Ballista.
            let mut auto = None;
            for bounding in [Bounding::Auto, Bounding::AlwaysRanked] {
                let query = local
                    .analyst_prepare_with(&session, sql, &options, bounding)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                let here = local.analyst_execute(&query).await.unwrap();
                let there = ballista.analyst_execute(&query).await.unwrap();
                assert!(!here.values.is_empty(), "{sql}");
                assert!(
                    here.values.iter().flatten().any(|v| *v != 0),
                    "{sql}: all zero"
                );
                assert_eq!(here, there, "{sql} ({bounding:?})");
                auto.get_or_insert((query.unit_plan, here));
            }
            // Prepared by the Ballista engine: the rows per value are
            // counted there, and it chooses the same plan. Without ranking
            // no salt is involved, so the answer is the local one.
            let (plan, answer) = auto.unwrap();
            let query = ballista
                .analyst_prepare(&remote, sql, &options)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert_eq!(query.unit_plan, plan, "{sql}");
            if plan != UnitPlan::PerUnitRanked {
                assert_eq!(ballista.analyst_execute(&query).await.unwrap(), answer);
            }
            plans.push(plan);
        }
        assert!(plans.contains(&UnitPlan::OneRow), "{plans:?}");
    });
}
