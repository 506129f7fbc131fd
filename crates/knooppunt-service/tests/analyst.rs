//! Analyst SQL through the service (issue 7, "Tests"): the attacks and
//! their pass criteria, on the hand-made lakes of the query crate's
//! analyst tests (`analyst_lake`: persons P1–P7 in GM9999, P8 born 1937,
//! F with 60 registrations).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

#[path = "../../knooppunt-query/tests/analyst_lake/mod.rs"]
mod analyst_lake;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use analyst_lake::{GM, Lake, brp_csv, peildatum};
use chrono::Utc;
use knooppunt_audit::{AuditConfig, AuditLog, Outcome, RecordKind, read_records};
use knooppunt_core::SystemClock;
use knooppunt_privacy::dp::Rational;
use knooppunt_query::analyst::rules;
use knooppunt_query::{AnalystQuery, Engine, ExactAnswer};
use knooppunt_service::analyst::{
    Calibration, PRIVATE_KEYS_NEED_COUNT, QueryConfig, noisy, noisy_rows,
};
use knooppunt_service::{
    Access, BudgetConfig, Endpoint, Ledger, MicroEpsilon, Period, Purposes, Role, Service,
    ServiceError, ServiceOptions, TokenStore,
};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use serde_json::Value;

const PURPOSE: &str = "bibob";

struct Fixture {
    lake: Lake,
    service: Arc<Service>,
    token: String,
    audit_dir: PathBuf,
    budget_dir: PathBuf,
    budget: BudgetConfig,
}

fn eps(text: &str) -> MicroEpsilon {
    MicroEpsilon::parse(text).unwrap()
}

fn budget(per_period: &str) -> BudgetConfig {
    BudgetConfig::new(eps(per_period), Period::Month)
}

fn fixture(lake: Lake, budget: BudgetConfig) -> Fixture {
    let root = lake.dir.path().to_path_buf();
    let tokens = root.join("tokens.json");
    let mut store = TokenStore::load(&tokens).unwrap();
    let (record, token) = store
        .create(
            "analyst",
            Role::Analyst,
            vec![GM.to_string()],
            None,
            Utc::now(),
        )
        .unwrap();
    store.set_subject(&record.id, "a.jansen").unwrap();
    let audit_dir = root.join("audit");
    let (audit, _) = AuditLog::open(AuditConfig::new(&audit_dir), Arc::new(SystemClock)).unwrap();
    let budget_dir = root.join("budget");
    let service = Service::new(
        lake.engine(),
        audit,
        ServiceOptions {
            lake: root.join("lake"),
            tokens,
            release: Default::default(),
            purposes: Purposes::default(),
            rate_limit: None,
            budget_dir: budget_dir.clone(),
            budget: budget.clone(),
        },
    )
    .unwrap();
    Fixture {
        lake,
        service: Arc::new(service),
        token,
        audit_dir,
        budget_dir,
        budget,
    }
}

impl Fixture {
    async fn access(&self) -> Access {
        self.service
            .authorize(Some(&self.token), Some(PURPOSE), Endpoint::Query)
            .await
            .unwrap()
    }

    async fn ask(&self, sql: &str) -> Result<Value, ServiceError> {
        let access = self.access().await;
        self.service.query(&access, sql, Some(peildatum())).await
    }

    /// A second ledger on the same directory (what an officer would read).
    fn ledger(&self) -> Ledger {
        Ledger::open(&self.budget_dir, self.budget.clone()).unwrap()
    }

    /// The exact bounded answer, from a second engine on the same lake.
    async fn exact(&self, sql: &str) -> (AnalystQuery, ExactAnswer) {
        exact(&self.lake.engine(), sql, &self.budget.query).await
    }
}

async fn exact(engine: &Engine, sql: &str, config: &QueryConfig) -> (AnalystQuery, ExactAnswer) {
    let session = engine
        .analyst_session(peildatum(), &[GM.to_string()])
        .await
        .unwrap();
    let q = engine
        .analyst_prepare(&session, sql, &config.analyst_options())
        .await
        .unwrap();
    let a = engine.analyst_execute(&q).await.unwrap();
    (q, a)
}

fn rows(answer: &Value) -> &Vec<Value> {
    answer["rows"].as_array().unwrap()
}

const BY_BUURT: &str = "SELECT buurtcode, COUNT(*) AS n FROM brp GROUP BY buurtcode";

/// Averaging: the same query 1,000 times. Pass: the first answer is
/// charged ε 0.1, the 999 others are the cached, identical answer at no
/// cost (one debit in the ledger), so the mean of the 1,000 released
/// values equals the first released value: the averaged error does not
/// shrink.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn averaging_the_same_query_gets_the_cached_answer_charged_once() {
    let f = fixture(Lake::small(false), budget("3.0"));
    let first = f.ask(BY_BUURT).await.unwrap();
    assert_eq!(first["cached"], false);
    assert_eq!(first["epsilon_charged"], "0.1");
    let mut sums: BTreeMap<String, i64> = BTreeMap::new();
    for _ in 1..1000 {
        let again = f.ask(BY_BUURT).await.unwrap();
        assert_eq!(again["cached"], true);
        assert_eq!(again["epsilon_charged"], "0.0");
        assert_eq!(again["budget_left"], "2.9");
        assert_eq!(again["rows"], first["rows"]);
        for r in rows(&again) {
            *sums
                .entry(r["buurtcode"].as_str().unwrap().to_string())
                .or_default() += r["n"]["value"].as_i64().unwrap();
        }
    }
    for r in rows(&first) {
        let code = r["buurtcode"].as_str().unwrap();
        assert_eq!(sums[code], 999 * r["n"]["value"].as_i64().unwrap());
    }
    let entries = f.ledger().entries(Some("a.jansen")).unwrap();
    assert_eq!(entries.len(), 1, "charged once");
}

/// 200 reworded variants of one question (`geboortejaar + i > i` is true
/// for everyone, each i gives another canonical plan). Pass: 200 distinct
/// fingerprints, each answer charged ε 0.1 (200 debits, ε 20.0 spent),
/// and the 201st variant is refused for the exhausted budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reworded_variants_each_pay() {
    let f = fixture(Lake::small(false), budget("20.0"));
    let mut fingerprints = BTreeSet::new();
    for i in 0..200 {
        let sql = format!("SELECT COUNT(*) AS n FROM brp WHERE geboortejaar + {i} > {i}");
        let a = f.ask(&sql).await.unwrap();
        assert_eq!(a["cached"], false, "variant {i}");
        assert_eq!(a["epsilon_charged"], "0.1");
        fingerprints.insert(a["fingerprint"].as_str().unwrap().to_string());
    }
    assert_eq!(fingerprints.len(), 200);
    let ledger = f.ledger();
    assert_eq!(ledger.entries(Some("a.jansen")).unwrap().len(), 200);
    let balance = ledger.balance("a.jansen", Utc::now()).unwrap();
    assert_eq!(balance.spent, eps("20.0"));
    assert_eq!(balance.left, MicroEpsilon::ZERO);
    let refused = f
        .ask("SELECT COUNT(*) AS n FROM brp WHERE geboortejaar + 200 > 200")
        .await;
    assert!(matches!(refused, Err(ServiceError::BudgetExhausted)));
    // The identical first variant is still answered, from the cache.
    let cached = f
        .ask("SELECT COUNT(*) AS n FROM brp WHERE geboortejaar + 0 > 0")
        .await
        .unwrap();
    assert_eq!(cached["cached"], true);
}

/// Budget race: 100 different queries at once against a budget of ε 1.0
/// at ε 0.1 each. Pass: exactly floor(1.0 / 0.1) = 10 answers, 90
/// refusals for the budget, and the ledger shows exactly ε 1.0 spent.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_queries_at_the_limit_never_overspend() {
    let f = Arc::new(fixture(Lake::small(false), budget("1.0")));
    let mut tasks = Vec::new();
    for i in 0..100 {
        let f = Arc::clone(&f);
        tasks.push(tokio::spawn(async move {
            f.ask(&format!(
                "SELECT COUNT(*) AS n FROM brp WHERE geboortejaar > {}",
                1800 + i
            ))
            .await
        }));
    }
    let (mut answered, mut exhausted) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => answered += 1,
            Err(ServiceError::BudgetExhausted) => exhausted += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((answered, exhausted), (10, 90));
    let balance = f.ledger().balance("a.jansen", Utc::now()).unwrap();
    assert_eq!(balance.spent, eps("1.0"));
    assert_eq!(f.ledger().entries(None).unwrap().len(), 10);
}

/// Identical queries at the same moment: one pays, the others wait for its
/// stored answer. Pass: 20 concurrent asks give exactly 1 debit and 20
/// identical answers, 19 of them marked cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_identical_queries_pay_once_and_share_one_answer() {
    let f = Arc::new(fixture(Lake::small(false), budget("3.0")));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let f = Arc::clone(&f);
        tasks.push(tokio::spawn(async move {
            f.ask("SELECT COUNT(*) AS n FROM brp").await
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap().unwrap());
    }
    assert_eq!(f.ledger().entries(None).unwrap().len(), 1);
    let cached = answers.iter().filter(|a| a["cached"] == true).count();
    assert_eq!(cached, 19);
    let first = &rows(&answers[0])[0]["n"]["value"];
    assert!(answers.iter().all(|a| &rows(a)[0]["n"]["value"] == first));
}

fn scale_of(answer: &Value, value: &str) -> Rational {
    let values = answer["mechanism"]["values"].as_array().unwrap();
    let v = values.iter().find(|v| v["name"] == value).unwrap();
    v["scale"].as_str().unwrap().parse().unwrap()
}

/// Differencing pair: the same count with and without one person (P8, the
/// only one born in 1937, excluded by a filter). Pass: the exact answers
/// differ (by at most the L1 sensitivity); both released answers carry a
/// noise scale of at least sensitivity / ε; and over 20,000 seeded draws
/// of the same noise function, the histograms (bins of width 20) of the
/// differing value for the two exact answers have a likelihood ratio of at
/// most e^ε in every bin holding at least 5 % of the draws of both.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn differencing_pair_is_hidden_by_the_noise() {
    let f = fixture(
        Lake::with_brp(&brp_csv(false, &[(8, "A1", 1937)])),
        budget("3.0"),
    );
    let without = format!(
        "{} ",
        BY_BUURT.replace("FROM brp", "FROM brp WHERE geboortejaar <> 1937")
    );
    let (qa, a) = f.exact(BY_BUURT).await;
    let (_, b) = f.exact(&without).await;
    let diff: u64 = a
        .values
        .iter()
        .zip(&b.values)
        .flat_map(|(x, y)| x.iter().zip(y).map(|(x, y)| x.abs_diff(*y)))
        .sum();
    assert!(diff > 0 && diff <= qa.l1_sensitivity(), "L1 {diff}");
    let epsilon = Rational::new(1, 10).unwrap();
    let min_scale = Rational::from_integer(qa.l1_sensitivity())
        .unwrap()
        .checked_div(epsilon)
        .unwrap();
    for sql in [BY_BUURT, without.as_str()] {
        let released = f.ask(sql).await.unwrap();
        assert!(scale_of(&released, "n") >= min_scale);
    }

    // The likelihood ratio of the released distributions, empirically.
    let calibration = Calibration::new(&qa, &f.budget.query).unwrap();
    let row = a
        .values
        .iter()
        .zip(&b.values)
        .position(|(x, y)| x != y)
        .unwrap();
    let draws = 20_000;
    let histogram = |exact: &ExactAnswer, seed: u64| {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut h: BTreeMap<i64, u64> = BTreeMap::new();
        for _ in 0..draws {
            let out = noisy_rows(&qa, exact, &calibration, &mut rng);
            let v = out.rows[row]["n"]["value"].as_i64().unwrap();
            *h.entry(v.div_euclid(20)).or_default() += 1;
        }
        h
    };
    let (ha, hb) = (histogram(&a, 1), histogram(&b, 2));
    let bound = (0.1f64).exp();
    let mut bins = 0;
    for (bin, &na) in &ha {
        let nb = hb.get(bin).copied().unwrap_or(0);
        if na.min(nb) < draws / 20 {
            continue;
        }
        bins += 1;
        let ratio = na as f64 / nb as f64;
        assert!(
            ratio <= bound && 1.0 / ratio <= bound,
            "bin {bin}: {na} vs {nb}"
        );
    }
    assert!(bins >= 4, "only {bins} bins compared");
}

/// MIN/MAX, ORDER BY … LIMIT, window functions, a non-aggregated SELECT,
/// an identifier filter and private keys without a count. Pass: each is
/// refused with its rule's name, and the audit log holds one refusal
/// record per query with that rule and the SQL text; no budget is spent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refusals_name_the_rule_and_are_audited() {
    let f = fixture(Lake::small(false), budget("3.0"));
    let cases = [
        (
            "SELECT MIN(geboortejaar) FROM brp",
            rules::AGGREGATE_NOT_ALLOWED,
        ),
        (
            "SELECT buurtcode, MAX(geboortejaar) FROM brp GROUP BY buurtcode",
            rules::AGGREGATE_NOT_ALLOWED,
        ),
        (
            "SELECT buurtcode, COUNT(*) AS n FROM brp GROUP BY buurtcode ORDER BY n DESC LIMIT 1",
            rules::ORDER_LIMIT,
        ),
        (
            "SELECT COUNT(*) OVER (PARTITION BY buurtcode) FROM brp",
            rules::WINDOW_FUNCTION,
        ),
        ("SELECT geboortejaar FROM brp", rules::NOT_AGGREGATED),
        (
            "SELECT COUNT(*) FROM brp WHERE persoon_id = '123456782'",
            rules::IDENTIFIER_LITERAL,
        ),
        (
            "SELECT gebruiksdoel, SUM(oppervlakte) FROM bag GROUP BY gebruiksdoel",
            PRIVATE_KEYS_NEED_COUNT,
        ),
    ];
    for (sql, rule) in cases {
        match f.ask(sql).await {
            Err(ServiceError::QueryRefused { rule: r }) => assert_eq!(r, rule, "{sql}"),
            other => panic!("{sql}: {other:?}"),
        }
    }
    let records = read_records(&f.audit_dir).unwrap();
    for (sql, rule) in cases {
        let matching: Vec<_> = records
            .iter()
            .filter(|r| r.kind == RecordKind::Query && r.sql.as_deref() == Some(sql))
            .collect();
        assert_eq!(matching.len(), 1, "{sql}");
        assert_eq!(
            matching[0].outcome,
            Outcome::Refused {
                rule: rule.to_string()
            }
        );
        assert_eq!(matching[0].command, "POST /v1/query");
    }
    assert!(f.ledger().entries(None).unwrap().is_empty());
}

/// Private group keys: a count by `gebruiksdoel` on a lake of a handful of
/// addresses. Pass: every group's exact count (at most 5) is far below the
/// threshold for δ, so every group is withheld and the answer says how
/// many.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn private_keys_need_a_noisy_count_above_the_threshold() {
    let f = fixture(Lake::small(false), budget("3.0"));
    let a = f
        .ask("SELECT gebruiksdoel, COUNT(*) AS n FROM bag GROUP BY gebruiksdoel")
        .await
        .unwrap();
    assert!(a["mechanism"]["threshold"].as_u64().unwrap() > 100);
    assert!(rows(&a).is_empty(), "{a}");
    assert!(a["withheld"].as_u64().unwrap() >= 1);
}

/// Error oracle: P8's row divides by zero. Pass: the service answers
/// both lakes (no error reveals P8), with the same columns and groups, the
/// exact bounded answers are equal, and the same noise seed gives the same
/// released rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_row_that_would_fail_gives_the_same_answer() {
    let with = fixture(
        Lake::with_brp(&brp_csv(false, &[(8, "A1", 1937)])),
        budget("3.0"),
    );
    let without = fixture(Lake::small(false), budget("3.0"));
    let sql = "SELECT buurtcode, COUNT(*) AS n FROM brp WHERE 1000 / (geboortejaar - 1937) > 0 \
               GROUP BY buurtcode";
    let (ra, rb) = (
        with.ask(sql).await.unwrap(),
        without.ask(sql).await.unwrap(),
    );
    assert_eq!(ra["columns"], rb["columns"]);
    let keys = |a: &Value| {
        rows(a)
            .iter()
            .map(|r| r["buurtcode"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&ra), keys(&rb));
    let (q, a) = with.exact(sql).await;
    let (_, b) = without.exact(sql).await;
    assert_eq!(a, b);
    let calibration = Calibration::new(&q, &with.budget.query).unwrap();
    let draw =
        |e: &ExactAnswer| noisy_rows(&q, e, &calibration, &mut ChaCha20Rng::seed_from_u64(7));
    assert_eq!(draw(&a), draw(&b));
}

/// Join fan-out: person F has 60 registrations, each joining an address.
/// Pass: with and without F, no count moves by more than
/// `max_contribution`, at most `max_groups` groups change, the L1 change
/// is within the sensitivity the noise is calibrated to, and the service
/// answers both.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn join_fanout_of_one_person_is_bounded() {
    let with = fixture(Lake::small(true), budget("3.0"));
    let without = fixture(Lake::small(false), budget("3.0"));
    let sql = "SELECT date_part('year', p.datum_inschrijving) AS jaar, COUNT(*) AS n \
               FROM brp p JOIN adressen b ON p.adresseerbaarobject_id = b.identificatie GROUP BY 1";
    let (q, a) = with.exact(sql).await;
    let (_, b) = without.exact(sql).await;
    let cells = |e: &ExactAnswer| {
        e.keys
            .iter()
            .cloned()
            .zip(e.values.iter().cloned())
            .collect::<BTreeMap<_, _>>()
    };
    let (ca, cb) = (cells(&a), cells(&b));
    let (mut l1, mut groups) = (0u64, 0u64);
    for (k, va) in &ca {
        let d = va[0].abs_diff(cb.get(k).map_or(0, |v| v[0]));
        assert!(d <= q.max_contribution, "{k:?} moved by {d}");
        l1 += d;
        groups += u64::from(d > 0);
    }
    assert!(l1 > 0 && l1 <= q.l1_sensitivity());
    assert!(groups <= q.max_groups);
    assert!(with.ask(sql).await.is_ok());
    assert!(without.ask(sql).await.is_ok());
}

/// Pass: every answered query (charged or cached) has exactly one
/// released audit record, and for every debit the record with the same
/// trace id shows the ledger's charged amount and what was left after it;
/// cached answers show ε 0 charged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_answer_has_one_audit_record_agreeing_with_the_ledger() {
    let f = fixture(Lake::small(false), budget("0.3"));
    let queries = [
        BY_BUURT,
        "SELECT soort_adres, COUNT(*) AS n, AVG(geboortejaar) AS gj FROM brp GROUP BY soort_adres",
        BY_BUURT,
        "SELECT COUNT(DISTINCT persoon_id) AS n FROM brp",
    ];
    let mut answered = 0;
    for sql in queries {
        if f.ask(sql).await.is_ok() {
            answered += 1;
        }
    }
    assert_eq!(answered, 4);
    assert!(matches!(
        f.ask("SELECT COUNT(*) AS n FROM inwoners").await,
        Err(ServiceError::BudgetExhausted)
    ));
    let records = read_records(&f.audit_dir).unwrap();
    let released: Vec<_> = records
        .iter()
        .filter(|r| r.kind == RecordKind::Query && r.outcome == Outcome::Released)
        .collect();
    assert_eq!(released.len(), 4);
    let entries = f.ledger().entries(Some("a.jansen")).unwrap();
    assert_eq!(entries.len(), 3);
    let mut left = eps("0.3");
    for e in &entries {
        left = left.saturating_sub(e.charged);
        let matching: Vec<_> = released
            .iter()
            .filter(|r| r.trace_id == e.trace_id)
            .collect();
        assert_eq!(matching.len(), 1, "debit {}", e.seq);
        assert_eq!(matching[0].budget_charged, Some(e.charged.to_f64()));
        assert_eq!(matching[0].budget_left, Some(left.to_f64()));
        assert_eq!(
            matching[0].plan_fingerprint.as_deref(),
            Some(e.plan_fingerprint.as_str())
        );
    }
    let cached: Vec<_> = released
        .iter()
        .filter(|r| !entries.iter().any(|e| e.trace_id == r.trace_id))
        .collect();
    assert_eq!(cached.len(), 1);
    assert_eq!(cached[0].budget_charged, Some(0.0));
    let refused = records
        .iter()
        .filter(|r| r.outcome.rule() == Some("budget_exhausted"))
        .count();
    assert_eq!(refused, 1);
}

/// Pass: over 2,000 seeded draws, the 95 % intervals of the counts contain
/// the exact value between 94 % and 97.5 % of the time, and those of the
/// averages (where the count's interval allows one) at least 94 %.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn intervals_contain_the_exact_value_about_95_percent_of_the_time() {
    let mut config = QueryConfig {
        epsilon_per_query: eps("10.0"),
        ..QueryConfig::default()
    };
    config.max_groups = 4;
    let lake = Lake::small(true);
    let engine = lake.engine();
    let sql =
        "SELECT soort_adres, COUNT(*) AS n, AVG(geboortejaar) AS gj FROM brp GROUP BY soort_adres";
    let (q, a) = exact(&engine, sql, &config).await;
    let calibration = Calibration::new(&q, &config).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(95);
    let (mut n_in, mut n_all, mut avg_in, mut avg_all) = (0u64, 0u64, 0u64, 0u64);
    for _ in 0..2000 {
        let out = noisy_rows(&q, &a, &calibration, &mut rng);
        for (row, values) in out.rows.iter().zip(&a.values) {
            let lo = row["n"]["interval_95"][0].as_i64().unwrap();
            let hi = row["n"]["interval_95"][1].as_i64().unwrap();
            n_all += 1;
            n_in += u64::from(lo <= values[0] && values[0] <= hi);
            if let (Some(lo), Some(hi)) = (
                row["gj"]["interval_95"][0].as_f64(),
                row["gj"]["interval_95"][1].as_f64(),
            ) && values[2] > 0
            {
                let truth = values[1] as f64 / values[2] as f64;
                avg_all += 1;
                avg_in += u64::from(lo <= truth && truth <= hi);
            }
        }
    }
    let coverage = n_in as f64 / n_all as f64;
    assert!(
        (0.94..=0.975).contains(&coverage),
        "count coverage {coverage}"
    );
    assert!(avg_all > 1000, "{avg_all} average intervals");
    let coverage = avg_in as f64 / avg_all as f64;
    assert!(coverage >= 0.94, "average coverage {coverage}");
    // And the noise function itself is centred: the mean error is small.
    let scale = calibration.values[0].scale;
    let mean: f64 = (0..20_000)
        .map(|_| noisy(0, scale, &mut rng) as f64)
        .sum::<f64>()
        / 20_000.0;
    assert!(mean.abs() < 0.1, "mean noise {mean}");
}

/// Calibration: for counts, sums and averages together, with and without
/// GROUP BY. Pass: the worst-case privacy loss of the whole answer,
/// Σ over the values of a row of max_groups · Δⱼ / bⱼ, is exactly ε
/// (exact rational arithmetic), and a single count gets b = L1 / ε.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calibration_spends_exactly_epsilon_over_the_whole_answer() {
    let lake = Lake::small(false);
    let engine = lake.engine();
    let config = QueryConfig::default();
    let epsilon = config.epsilon().unwrap();
    for sql in [
        "SELECT soort_adres, COUNT(*) AS n, AVG(geboortejaar) AS gj, SUM(geboortejaar) AS s \
         FROM brp GROUP BY soort_adres",
        "SELECT COUNT(DISTINCT persoon_id) AS n, SUM(geboortejaar) AS s FROM brp",
        BY_BUURT,
    ] {
        let (q, _) = exact(&engine, sql, &config).await;
        let c = Calibration::new(&q, &config).unwrap();
        let mut loss: Option<Rational> = None;
        for v in &c.values {
            let term = Rational::from_integer(q.max_groups * v.sensitivity)
                .unwrap()
                .checked_div(v.scale)
                .unwrap();
            loss = Some(match loss {
                None => term,
                Some(l) => l.checked_add(term).unwrap(),
            });
        }
        assert_eq!(loss, Some(epsilon), "{sql}");
    }
    let (q, _) = exact(&engine, BY_BUURT, &config).await;
    let c = Calibration::new(&q, &config).unwrap();
    let expected = Rational::from_integer(q.l1_sensitivity())
        .unwrap()
        .checked_div(epsilon)
        .unwrap();
    assert_eq!(c.values[0].scale, expected);
}
