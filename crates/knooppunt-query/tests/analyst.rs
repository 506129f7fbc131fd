//! Analyst SQL: contribution bounding, differencing, the error oracle,
//! identifiers and record keys, complete public domains and fingerprints,
//! on the hand-made lakes of `analyst_lake` (exact checks) and a small
//! synthetic lake.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

mod analyst_lake;

use std::collections::{BTreeMap, BTreeSet};

use analyst_lake::{BU1, BU2, GM, Lake, brp_csv, peildatum};
use knooppunt_query::analyst::rules;
use knooppunt_query::{
    AggregateKind, AnalystOptions, AnalystQuery, AnalystSession, Bounding, Engine, ExactAnswer,
    UnitPlan,
};

async fn session(engine: &Engine) -> AnalystSession {
    engine
        .analyst_session(peildatum(), &[GM.to_string()])
        .await
        .unwrap()
}

async fn run(engine: &Engine, session: &AnalystSession, sql: &str) -> (AnalystQuery, ExactAnswer) {
    run_with(engine, session, sql, Bounding::Auto).await
}

type Cells = BTreeMap<Vec<Option<String>>, Vec<i64>>;

fn cells(a: &ExactAnswer) -> Cells {
    a.keys
        .iter()
        .cloned()
        .zip(a.values.iter().cloned())
        .collect()
}

/// (L1 distance over all groups and values, groups that differ, largest
/// change of one value).
fn distance(a: &Cells, b: &Cells) -> (u64, usize, u64) {
    let keys: std::collections::BTreeSet<_> = a.keys().chain(b.keys()).collect();
    let (mut l1, mut groups, mut max) = (0, 0, 0);
    for k in keys {
        let zero = vec![];
        let va = a.get(k).unwrap_or(&zero);
        let vb = b.get(k).unwrap_or(&zero);
        let n = va.len().max(vb.len());
        let mut differs = false;
        for i in 0..n {
            let d = va
                .get(i)
                .copied()
                .unwrap_or(0)
                .abs_diff(vb.get(i).copied().unwrap_or(0));
            l1 += d;
            max = max.max(d);
            differs |= d > 0;
        }
        groups += usize::from(differs);
    }
    (l1, groups, max)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_fanout_of_one_person_is_bounded_in_count_and_groups() {
    let with = Lake::small(true);
    let without = Lake::small(false);
    let (ew, eo) = (with.engine(), without.engine());
    let (sw, so) = (session(&ew).await, session(&eo).await);
    for sql in [
        // F has 60 registrations, one per year 1961-2020: 60 groups.
        "SELECT date_part('year', datum_inschrijving) AS jaar, COUNT(*) FROM brp GROUP BY 1",
        // ... and every registration joins an address: 60 joined rows.
        "SELECT b.woonfunctie, date_part('year', p.datum_inschrijving), COUNT(*), COUNT(DISTINCT p.persoon_id) \
         FROM brp p JOIN bag b ON p.adresseerbaarobject_id = b.identificatie GROUP BY 1, 2",
        "SELECT b.buurtcode, COUNT(*) FROM brp p JOIN adressen b ON p.adresseerbaarobject_id = b.identificatie GROUP BY b.buurtcode",
    ] {
        let (q, a) = run(&ew, &sw, sql).await;
        let (_, b) = run(&eo, &so, sql).await;
        let (l1, groups, max) = distance(&cells(&a), &cells(&b));
        assert!(max <= q.max_contribution, "{sql}: one value moved by {max}");
        assert!(
            groups as u64 <= q.max_groups,
            "{sql}: {groups} groups changed"
        );
        assert!(
            l1 <= q.l1_sensitivity(),
            "{sql}: L1 {l1} > {}",
            q.l1_sensitivity()
        );
        assert!(l1 > 0, "{sql}: F is counted somewhere");
    }
    // Without bounding, F would be in 60 year groups; bounded: exactly 4.
    let sql = "SELECT date_part('year', datum_inschrijving), COUNT(*) FROM brp GROUP BY 1";
    let (q, a) = run(&ew, &sw, sql).await;
    let (_, b) = run(&eo, &so, sql).await;
    assert_eq!(distance(&cells(&a), &cells(&b)).1 as u64, q.max_groups);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_one_person_changes_answers_by_at_most_the_sensitivity() {
    // P8 and P9 live at A1 and A3; removing P8 is the neighbouring lake.
    let with = Lake::with_brp(&brp_csv(true, &[(8, "A1", 1937), (9, "A3", 1950)]));
    let without = Lake::with_brp(&brp_csv(true, &[(9, "A3", 1950)]));
    let (ew, eo) = (with.engine(), without.engine());
    let (sw, so) = (session(&ew).await, session(&eo).await);
    for sql in [
        "SELECT buurtcode, COUNT(*) FROM brp GROUP BY buurtcode",
        "SELECT buurtcode, geboortejaar, COUNT(DISTINCT persoon_id) FROM brp GROUP BY buurtcode, geboortejaar",
        "SELECT soort_adres, AVG(geboortejaar), SUM(geboortejaar) FROM brp GROUP BY soort_adres",
        "SELECT b.woonfunctie, SUM(b.oppervlakte), COUNT(*) FROM actuele_inschrijvingen p \
         JOIN bag b ON p.adresseerbaarobject_id = b.identificatie GROUP BY b.woonfunctie",
    ] {
        let (q, a) = run(&ew, &sw, sql).await;
        let (_, b) = run(&eo, &so, sql).await;
        let (l1, groups, _) = distance(&cells(&a), &cells(&b));
        assert!(l1 > 0, "{sql}: P8 is counted");
        assert!(
            l1 <= q.l1_sensitivity(),
            "{sql}: L1 {l1} > {}",
            q.l1_sensitivity()
        );
        assert!(groups as u64 <= q.max_groups, "{sql}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_that_would_fail_the_query_changes_nothing() {
    // P8 (born 1937) makes 1 / (geboortejaar - 1937) divide by zero, and
    // a cast of a text to an integer fail.
    let with = Lake::with_brp(&brp_csv(false, &[(8, "A1", 1937)]));
    let without = Lake::small(false);
    let (ew, eo) = (with.engine(), without.engine());
    let (sw, so) = (session(&ew).await, session(&eo).await);
    for sql in [
        "SELECT buurtcode, COUNT(*) FROM brp WHERE 1000 / (geboortejaar - 1937) > 0 GROUP BY buurtcode",
        "SELECT buurtcode, COUNT(*) FROM brp WHERE 1000 % (geboortejaar - 1937) >= 0 GROUP BY buurtcode",
        "SELECT buurtcode, COUNT(*) FROM brp WHERE CAST(CASE WHEN geboortejaar = 1937 THEN 'x' ELSE '1' END AS INT) = 1 \
         GROUP BY buurtcode",
        "SELECT buurtcode, COUNT(*) FROM brp WHERE abs(geboortejaar - 1937) / (geboortejaar - 1937) > 5 GROUP BY buurtcode",
    ] {
        // As trusted SQL (no rewrite), P8's row makes the query fail...
        assert!(ew.sql_trusted(peildatum(), sql).await.is_err(), "{sql}");
        assert!(eo.sql_trusted(peildatum(), sql).await.is_ok(), "{sql}");
        // ... through the gate it gives the same answer as without P8.
        let (_, a) = run(&ew, &sw, sql).await;
        let (_, b) = run(&eo, &so, sql).await;
        assert_eq!(a, b, "{sql}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounds_of_zero_are_refused() {
    let lake = Lake::small(false);
    let engine = lake.engine();
    let s = session(&engine).await;
    for options in [
        AnalystOptions {
            max_groups: 0,
            ..AnalystOptions::default()
        },
        AnalystOptions {
            max_contribution: 0,
            ..AnalystOptions::default()
        },
    ] {
        let err = engine
            .analyst_prepare(
                &s,
                "SELECT buurtcode, COUNT(*) FROM brp GROUP BY 1",
                &options,
            )
            .await
            .expect_err("refused");
        assert!(err.to_string().contains("at least 1"), "{err}");
    }
}

async fn rule(engine: &Engine, session: &AnalystSession, sql: &str) -> &'static str {
    match engine
        .analyst_prepare(session, sql, &AnalystOptions::default())
        .await
    {
        Ok(_) => panic!("{sql}: allowed"),
        Err(e) => {
            let text = e.to_string();
            for secret in ["123456782", "1234AB", "abc", "0999010000000001"] {
                assert!(!text.contains(secret), "{sql}: {text}");
            }
            e.rule().expect("a refusal")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identifiers_and_record_keys_are_never_reachable() {
    let lake = Lake::small(false);
    let engine = lake.engine();
    let s = session(&engine).await;
    assert_eq!(
        rule(
            &engine,
            &s,
            "SELECT COUNT(*) FROM brp WHERE persoon_id = '123456782'"
        )
        .await,
        rules::IDENTIFIER_LITERAL
    );
    assert_eq!(
        rule(
            &engine,
            &s,
            "SELECT COUNT(*) FROM bag WHERE postcode = '1234AB' AND huisnummer = 1"
        )
        .await,
        rules::IDENTIFIER_LITERAL
    );
    assert_eq!(
        rule(
            &engine,
            &s,
            "SELECT COUNT(*) FROM bag WHERE identificatie > '0999010000000001'"
        )
        .await,
        rules::IDENTIFIER_LITERAL
    );
    assert_eq!(
        rule(
            &engine,
            &s,
            "SELECT MIN(geboortejaar), MAX(geboortejaar) FROM brp"
        )
        .await,
        rules::AGGREGATE_NOT_ALLOWED
    );
    assert_eq!(
        rule(
            &engine,
            &s,
            "SELECT buurtcode, COUNT(*) FROM brp GROUP BY buurtcode ORDER BY buurtcode LIMIT 1"
        )
        .await,
        rules::ORDER_LIMIT
    );
    assert_eq!(
        rule(
            &engine,
            &s,
            "SELECT COUNT(*) OVER (PARTITION BY buurtcode) FROM brp"
        )
        .await,
        rules::WINDOW_FUNCTION
    );
    assert_eq!(
        rule(&engine, &s, "SELECT buurtcode, geboortejaar FROM brp").await,
        rules::NOT_AGGREGATED
    );
    // record_key is in no analyst table, whatever the spelling.
    for t in knooppunt_query::AnalystCatalog::standard().tables() {
        for sql in [
            format!("SELECT SUM(record_key) FROM {}", t.name),
            format!("SELECT COUNT(*) FROM {} GROUP BY \"record_key\"", t.name),
            format!("SELECT COUNT(*) FROM {} x WHERE x.record_key > 0", t.name),
        ] {
            assert_eq!(rule(&engine, &s, &sql).await, rules::RECORD_KEY, "{sql}");
        }
    }
    // The raw lake tables are not in the analyst catalogue either.
    assert_eq!(
        rule(
            &engine,
            &s,
            "SELECT COUNT(*) FROM datafusion.public.kerncijfers"
        )
        .await,
        rules::UNKNOWN_TABLE
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_domains_are_complete_and_out_of_scope_rows_absent() {
    let lake = Lake::small(false);
    let engine = lake.engine();
    let s = session(&engine).await;
    let (q, a) = run(
        &engine,
        &s,
        "SELECT buurtcode, geboortejaar, COUNT(*) AS n FROM brp GROUP BY buurtcode, geboortejaar",
    )
    .await;
    assert_eq!(q.group_keys.len(), 2);
    assert!(q.group_keys.iter().all(|k| k.domain.is_some()));
    assert_eq!(a.keys.len(), 2 * 131, "2 buurten × 1900..=2030");
    let c = cells(&a);
    let get = |b: &str, y: &str| c[&vec![Some(b.to_string()), Some(y.to_string())]].clone();
    assert_eq!(get(BU1, "1980"), vec![3]);
    assert_eq!(get(BU1, "1990"), vec![2]);
    assert_eq!(get(BU2, "2001"), vec![1]);
    assert_eq!(get(BU2, "1980"), vec![0], "an empty group is released as 0");
    // P7 (born 1970) lives outside every buurt: out of scope.
    assert_eq!(get(BU1, "1970"), vec![0]);
    assert_eq!(a.values.iter().map(|v| v[0]).sum::<i64>(), 6);

    // A private key is not completed.
    let (q, _) = run(
        &engine,
        &s,
        "SELECT gebruiksdoel, COUNT(*) FROM bag GROUP BY gebruiksdoel",
    )
    .await;
    assert_eq!(q.group_keys[0].domain, None);

    // An empty scope sees nothing: no areas, no rows.
    let empty = engine.analyst_session(peildatum(), &[]).await.unwrap();
    let (_, a) = run(
        &engine,
        &empty,
        "SELECT buurtcode, COUNT(*) FROM brp GROUP BY buurtcode",
    )
    .await;
    assert!(a.keys.is_empty());
    let (_, a) = run(&engine, &empty, "SELECT COUNT(*) FROM brp").await;
    assert_eq!(a.values, vec![vec![0]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_sensitivity_and_fingerprints() {
    let lake = Lake::small(false);
    let engine = lake.engine();
    let s = session(&engine).await;
    let (q, _) = run(
        &engine,
        &s,
        "SELECT koper_type, COUNT(*) AS n, AVG(koopsom) AS gem FROM vastgoed GROUP BY koper_type",
    )
    .await;
    assert_eq!(q.unit, knooppunt_core::PrivacyUnit::Sale);
    assert_eq!(q.tables, vec!["vastgoed".to_string()]);
    assert!(q.columns.contains(&"vastgoed.koopsom".to_string()));
    assert_eq!(q.group_keys[0].name, "koper_type");
    assert_eq!(q.aggregates[0].kind, AggregateKind::Count);
    assert_eq!(
        q.aggregates[1].kind,
        AggregateKind::Avg {
            lower: 0,
            upper: 2_000_000
        }
    );
    assert_eq!(q.aggregates[1].per_group_sensitivity, 2_000_001);
    assert_eq!(q.l1_sensitivity(), 4 * (1 + 2_000_001));
    assert_eq!(q.value_names(), vec!["n", "gem.sum", "gem.count"]);
    let debug = format!("{q:?}");
    assert!(
        !debug.contains("sha256"),
        "the plan (and salt) is not printed"
    );

    // The same question spelled differently shares the fingerprint, also
    // on another engine (another salt); another question does not.
    let other = lake.engine();
    let so = session(&other).await;
    let a = run(
        &engine,
        &s,
        "SELECT buurtcode, COUNT(*) FROM brp GROUP BY buurtcode",
    )
    .await
    .0;
    let b = run(
        &other,
        &so,
        "select   buurtcode,count( * )\nFROM brp group by buurtcode",
    )
    .await
    .0;
    let c = run(
        &engine,
        &s,
        "SELECT buurtcode, COUNT(*) FROM brp WHERE geboortejaar > 1900 GROUP BY buurtcode",
    )
    .await
    .0;
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_ne!(a.fingerprint, c.fingerprint);
    assert_eq!(a.fingerprint.len(), 64);
}

/// A small synthetic municipality: removing the person with the most
/// registrations changes each answer by at most its L1 sensitivity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthetic_lake_neighbours_stay_within_sensitivity() {
    use knooppunt_synth::{SynthConfig, generate};
    let build = |drop: Option<&str>| {
        let dir = tempfile::tempdir().unwrap();
        let exports = dir.path().join("exports");
        let cfg = SynthConfig {
            out: exports.clone(),
            scale: 0.003,
            seed: 7,
            clean: true,
            buurten: std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../sample-data/buurten_almere_2024.geojson"),
        };
        generate(&cfg, &mut |_| {}).unwrap();
        let brp = exports.join("brp_inschrijvingen.csv");
        let text = std::fs::read_to_string(&brp).unwrap();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for line in text.lines().skip(1) {
            *counts
                .entry(line.split(';').next().unwrap().to_string())
                .or_default() += 1;
        }
        let busiest = counts.iter().max_by_key(|(_, n)| **n).unwrap().0.clone();
        if let Some(d) = drop {
            let kept: Vec<&str> = text
                .lines()
                .filter(|l| l.split(';').next() != Some(d))
                .collect();
            std::fs::write(&brp, kept.join("\n") + "\n").unwrap();
        }
        (Lake::ingest(dir, exports), busiest)
    };
    let (with, busiest) = build(None);
    let (without, _) = build(Some(&busiest));
    let (ew, eo) = (with.engine(), without.engine());
    let peil = ew.default_peildatum().await.unwrap();
    let scope: Vec<String> = {
        let s = ew
            .analyst_session(peil, &["GM0034".to_string()])
            .await
            .unwrap();
        s.areas().gemeenten.clone()
    };
    assert!(!scope.is_empty());
    let sw = ew.analyst_session(peil, &scope).await.unwrap();
    let so = eo.analyst_session(peil, &scope).await.unwrap();
    for sql in [
        "SELECT buurtcode, COUNT(*) FROM brp GROUP BY buurtcode",
        "SELECT wijkcode, date_part('year', datum_inschrijving), COUNT(DISTINCT persoon_id) FROM brp GROUP BY 1, 2",
        "SELECT b.woonfunctie, AVG(b.oppervlakte) FROM brp p JOIN bag b ON p.adresseerbaarobject_id = b.identificatie GROUP BY 1",
    ] {
        let (q, a) = run(&ew, &sw, sql).await;
        let (_, b) = run(&eo, &so, sql).await;
        let (l1, groups, _) = distance(&cells(&a), &cells(&b));
        assert!(
            l1 <= q.l1_sensitivity(),
            "{sql}: {l1} > {}",
            q.l1_sensitivity()
        );
        assert!(groups as u64 <= q.max_groups, "{sql}");
    }
}

use UnitPlan::{OneRow, PerUnit, PerUnitRanked as Ranked};

/// Queries and the plan `Bounding::Auto` must choose on the three lakes of
/// [`plans_follow_the_rows_per_unit_and_give_the_ranked_answers`] (`None`:
/// not pinned, the data of the fixture decides).
#[allow(clippy::type_complexity)]
const PLANS: &[(&str, [Option<UnitPlan>; 3])] = &[
    (
        "SELECT a.buurtcode, COUNT(*) FROM actuele_inschrijvingen p \
         JOIN adressen a ON p.adresseerbaarobject_id = a.identificatie GROUP BY a.buurtcode",
        [Some(OneRow), Some(PerUnit), Some(PerUnit)],
    ),
    (
        "SELECT a.buurtcode, COUNT(*) FROM adressen a \
         JOIN actuele_inschrijvingen p ON a.identificatie = p.adresseerbaarobject_id GROUP BY a.buurtcode",
        [Some(OneRow), Some(PerUnit), Some(PerUnit)],
    ),
    (
        "SELECT b.woonfunctie, COUNT(DISTINCT p.persoon_id), SUM(b.oppervlakte), AVG(b.bouwjaar), COUNT(b.oppervlakte) \
         FROM actuele_inschrijvingen p LEFT JOIN bag b ON p.adresseerbaarobject_id = b.identificatie \
         WHERE p.soort_adres = 'W' GROUP BY b.woonfunctie",
        [Some(OneRow), Some(PerUnit), Some(PerUnit)],
    ),
    (
        "SELECT soort_adres, buurtcode, COUNT(*) FROM actuele_inschrijvingen GROUP BY soort_adres, buurtcode",
        [Some(OneRow), Some(PerUnit), Some(PerUnit)],
    ),
    (
        "SELECT a.woonfunctie, COUNT(*) FROM adressen a \
         RIGHT JOIN actuele_inschrijvingen p ON a.identificatie = p.adresseerbaarobject_id GROUP BY a.woonfunctie",
        [Some(OneRow), Some(PerUnit), Some(PerUnit)],
    ),
    // Person 8: 2 inwoners rows × 2 registrations × 1 address = 4 rows.
    (
        "SELECT b.buurtcode, COUNT(DISTINCT i.persoon_id) FROM inwoners i \
         JOIN actuele_inschrijvingen p ON i.persoon_id = p.persoon_id \
         FULL JOIN bag b ON p.adresseerbaarobject_id = b.identificatie GROUP BY b.buurtcode",
        [Some(OneRow), Some(PerUnit), Some(PerUnit)],
    ),
    // ... and 8 through one more self-join: more than max_groups rows.
    (
        "SELECT b.buurtcode, COUNT(*) FROM inwoners i \
         JOIN actuele_inschrijvingen p ON i.persoon_id = p.persoon_id \
         JOIN actuele_inschrijvingen q ON p.persoon_id = q.persoon_id \
         JOIN bag b ON q.adresseerbaarobject_id = b.identificatie GROUP BY b.buurtcode",
        [Some(OneRow), Some(Ranked), Some(Ranked)],
    ),
    // Without GROUP BY there is one group: never ranked.
    (
        "SELECT COUNT(*), COUNT(DISTINCT persoon_id) FROM inwoners",
        [Some(OneRow), Some(PerUnit), Some(PerUnit)],
    ),
    (
        "SELECT COUNT(*), SUM(geboortejaar) FROM brp",
        [Some(PerUnit), Some(PerUnit), Some(PerUnit)],
    ),
    (
        "SELECT koper_type, SUM(koopsom), AVG(koopsom), COUNT(*) FROM vastgoed GROUP BY koper_type",
        [Some(OneRow), Some(OneRow), Some(OneRow)],
    ),
    // brp is a history: person F has 60 registrations on the first two
    // lakes, person 8 two on the third.
    (
        "SELECT buurtcode, COUNT(*) FROM brp GROUP BY buurtcode",
        [Some(Ranked), Some(Ranked), Some(PerUnit)],
    ),
    (
        "SELECT date_part('year', datum_inschrijving), COUNT(*) FROM brp GROUP BY 1",
        [Some(Ranked), Some(Ranked), Some(PerUnit)],
    ),
    // The address unit through its sales, energy years and cases.
    (
        "SELECT a.buurtcode, COUNT(*) FROM vastgoed v \
         JOIN adressen a ON v.adresseerbaarobject_id = a.identificatie GROUP BY a.buurtcode",
        [None, None, None],
    ),
    (
        "SELECT e.jaar, COUNT(*) FROM actuele_inschrijvingen p \
         JOIN energie e ON p.adresseerbaarobject_id = e.adresseerbaarobject_id GROUP BY e.jaar",
        [None, None, None],
    ),
    (
        "SELECT soort, COUNT(*) FROM handhaving GROUP BY soort",
        [None, None, None],
    ),
    // A cross join equated in WHERE: not bounded by the plan.
    (
        "SELECT a.buurtcode, COUNT(*) FROM actuele_inschrijvingen p, adressen a \
         WHERE p.adresseerbaarobject_id = a.identificatie GROUP BY a.buurtcode",
        [Some(Ranked), Some(Ranked), Some(Ranked)],
    ),
];

async fn run_with(
    engine: &Engine,
    session: &AnalystSession,
    sql: &str,
    bounding: Bounding,
) -> (AnalystQuery, ExactAnswer) {
    let q = engine
        .analyst_prepare_with(session, sql, &AnalystOptions::default(), bounding)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let a = engine.analyst_execute(&q).await.unwrap();
    (q, a)
}

/// Pass: on each lake every query gives the same exact answer with the
/// plan `Auto` chooses as with the general plan, and the chosen plans are
/// the pinned ones (each of the three occurs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_follow_the_rows_per_unit_and_give_the_ranked_answers() {
    // 1. F has 60 registrations, one current; 2. and person 8 has two
    // current registrations (A1 and A3); 3. person 8 without F.
    let lakes = [
        Lake::small(true),
        Lake::with_brp(&brp_csv(true, &[(8, "A1", 1960), (8, "A3", 1960)])),
        Lake::with_brp(&brp_csv(false, &[(8, "A1", 1960), (8, "A3", 1960)])),
    ];
    let mut seen = BTreeSet::new();
    for (l, lake) in lakes.iter().enumerate() {
        let engine = lake.engine();
        let s = session(&engine).await;
        for (sql, expected) in PLANS {
            let (auto, a) = run_with(&engine, &s, sql, Bounding::Auto).await;
            let (ranked, b) = run_with(&engine, &s, sql, Bounding::AlwaysRanked).await;
            assert_eq!(a, b, "{sql} (lake {l})");
            assert!(a.values.iter().flatten().any(|v| *v > 0), "{sql}: empty");
            assert_eq!(ranked.unit_plan, Ranked);
            if let Some(plan) = expected[l] {
                assert_eq!(auto.unit_plan, plan, "{sql} (lake {l})");
            }
            if auto.unit_plan != Ranked {
                assert_ne!(auto.fingerprint, ranked.fingerprint, "{sql}");
            }
            seen.insert(auto.unit_plan);
        }
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_registered_twice_is_still_bounded() {
    // The neighbouring lakes differ by person 8, who is registered at two
    // addresses at once: the plans differ (one row per person on one lake
    // only), and the answers still differ by at most the sensitivity.
    let with = Lake::with_brp(&brp_csv(false, &[(8, "A1", 1960), (8, "A3", 1960)]));
    let without = Lake::small(false);
    let (ew, eo) = (with.engine(), without.engine());
    let (sw, so) = (session(&ew).await, session(&eo).await);
    for (sql, _) in &PLANS[..8] {
        let (q, a) = run(&ew, &sw, sql).await;
        let (p, b) = run(&eo, &so, sql).await;
        assert!(q.unit_plan > p.unit_plan, "{sql}");
        let (l1, groups, max) = distance(&cells(&a), &cells(&b));
        assert!(l1 > 0, "{sql}: person 8 is counted");
        assert!(l1 <= q.l1_sensitivity(), "{sql}: L1 {l1}");
        assert!(max <= q.max_contribution.max(1) * 2_030, "{sql}");
        assert!(groups as u64 <= q.max_groups, "{sql}");
    }
}

/// With `max_contribution` 3, a person with one birth year (say 1950)
/// adds 1950 to a sum, not 3 × 1900: the per-unit clamp keeps its bound
/// widened to 0 instead of raising small sums. Pass: on a lake where each
/// person has one row, the bounded sum equals the exact sum computed
/// here, and every plan gives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_larger_max_contribution_does_not_raise_small_sums() {
    let lake = Lake::with_brp(&brp_csv(false, &[(8, "A1", 1937)]));
    let engine = lake.engine();
    let s = session(&engine).await;
    let options = AnalystOptions {
        max_contribution: 3,
        ..AnalystOptions::default()
    };
    // The exact sum, unbounded, over the scope.
    let trusted = engine
        .sql_trusted(
            peildatum(),
            &format!(
                "SELECT CAST(SUM(geboortejaar) AS BIGINT) FROM brp WHERE gemeentecode = '{GM}'"
            ),
        )
        .await
        .unwrap();
    let exact = trusted[0]
        .column(0)
        .as_any()
        .downcast_ref::<datafusion::arrow::array::Int64Array>()
        .unwrap()
        .value(0);
    assert!(exact > 0, "{exact}");
    for sql in [
        "SELECT SUM(geboortejaar) FROM brp",
        "SELECT soort_adres, SUM(geboortejaar) FROM brp GROUP BY soort_adres",
    ] {
        let mut answers = Vec::new();
        for bounding in [Bounding::Auto, Bounding::AlwaysRanked] {
            let q = engine
                .analyst_prepare_with(&s, sql, &options, bounding)
                .await
                .unwrap();
            let a = engine.analyst_execute(&q).await.unwrap();
            let total: i64 = a.values.iter().map(|v| v[0]).sum();
            assert_eq!(total, exact, "{sql} ({bounding:?})");
            answers.push(a);
        }
        assert_eq!(answers[0], answers[1], "{sql}");
    }
}
