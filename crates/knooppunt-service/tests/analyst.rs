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
use knooppunt_privacy::dp::{Mechanism, Rational, zcdp_epsilon};
use knooppunt_query::analyst::rules;
use knooppunt_query::{AnalystQuery, Engine, ExactAnswer};
use knooppunt_service::analyst::{
    CALIBRATION, Calibration, NoiseKind, PRIVATE_KEYS_NEED_COUNT, QueryConfig, ValueNoise,
    noisy_rows,
};
use knooppunt_service::budget::Delta;
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
    assert!(matches!(
        refused,
        Err(ServiceError::BudgetExhausted { budget: "ε" })
    ));
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
            Err(ServiceError::BudgetExhausted { .. }) => exhausted += 1,
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

fn laplace_scale(v: &ValueNoise) -> Rational {
    match v.mechanism {
        Mechanism::Laplace { scale } => scale,
        other => panic!("expected Laplace noise, got {other:?}"),
    }
}

fn gaussian_sigma2(v: &ValueNoise) -> Rational {
    match v.mechanism {
        Mechanism::Gaussian { sigma2 } => sigma2,
        other => panic!("expected Gaussian noise, got {other:?}"),
    }
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
    let bins = assert_ratios_within(&ha, &hb, (0.1f64).exp(), draws / 20);
    assert!(bins >= 4, "only {bins} bins compared");
}

/// Pass: in every bin where both histograms have at least `min_count`
/// draws, their ratio is within `bound` both ways. Returns the bins
/// compared.
fn assert_ratios_within(
    ha: &BTreeMap<i64, u64>,
    hb: &BTreeMap<i64, u64>,
    bound: f64,
    min_count: u64,
) -> usize {
    let mut bins = 0;
    for (bin, &na) in ha {
        let nb = hb.get(bin).copied().unwrap_or(0);
        if na.min(nb) < min_count {
            continue;
        }
        bins += 1;
        let ratio = na as f64 / nb as f64;
        assert!(
            ratio <= bound && 1.0 / ratio <= bound,
            "bin {bin}: {na} vs {nb}"
        );
    }
    bins
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
    // Blank or longer than MAX_SQL_CHARS (the one limit, for the CLI as for
    // HTTP): refused as a bad request, recorded without the text.
    let long = format!(
        "SELECT COUNT(*) FROM brp WHERE {}",
        "geboortejaar > 0 AND ".repeat(200) + "TRUE"
    );
    assert!(long.chars().count() > knooppunt_service::MAX_SQL_CHARS);
    for sql in ["  ", long.as_str()] {
        assert!(matches!(
            f.ask(sql).await,
            Err(ServiceError::BadRequest("sql"))
        ));
    }
    let records = read_records(&f.audit_dir).unwrap();
    let bad: Vec<_> = records
        .iter()
        .filter(|r| {
            r.outcome
                == Outcome::Refused {
                    rule: "bad_request".to_string(),
                }
        })
        .collect();
    assert_eq!(bad.len(), 2);
    assert!(bad.iter().all(|r| r.sql.is_none()));
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
        Err(ServiceError::BudgetExhausted { .. })
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
    let (q, a, calibration) = coverage_query(NoiseKind::Laplace).await;
    assert_coverage(&q, &a, &calibration, 95);
}

/// The coverage question (`soort_adres`, a count `n`, an average `gj`) on
/// the lake with person F, at ε 10 and 4 groups, calibrated for `mechanism`.
async fn coverage_query(mechanism: NoiseKind) -> (AnalystQuery, ExactAnswer, Calibration) {
    let config = QueryConfig {
        epsilon_per_query: eps("10.0"),
        max_groups: 4,
        mechanism,
        ..QueryConfig::default()
    };
    let lake = Lake::small(true);
    let engine = lake.engine();
    let sql =
        "SELECT soort_adres, COUNT(*) AS n, AVG(geboortejaar) AS gj FROM brp GROUP BY soort_adres";
    let (q, a) = exact(&engine, sql, &config).await;
    let calibration = Calibration::new(&q, &config).unwrap();
    (q, a, calibration)
}

/// Counts, sums and averages together, with and without GROUP BY (the
/// calibration tests of both mechanisms).
const CALIBRATED: [&str; 3] = [
    "SELECT soort_adres, COUNT(*) AS n, AVG(geboortejaar) AS gj, SUM(geboortejaar) AS s \
     FROM brp GROUP BY soort_adres",
    "SELECT COUNT(DISTINCT persoon_id) AS n, SUM(geboortejaar) AS s FROM brp",
    BY_BUURT,
];

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
    for sql in CALIBRATED {
        let (q, _) = exact(&engine, sql, &config).await;
        let c = Calibration::new(&q, &config).unwrap();
        let mut loss: Option<Rational> = None;
        for v in &c.values {
            let term = Rational::from_integer(q.max_groups * v.sensitivity)
                .unwrap()
                .checked_div(laplace_scale(v))
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
    assert_eq!(laplace_scale(&c.values[0]), expected);
}

/// A budget of `per_period` whose queries cost `per_query` each and get
/// discrete Gaussian noise.
fn gaussian_budget(per_period: &str, per_query: &str) -> BudgetConfig {
    let mut b = budget(per_period);
    b.query.mechanism = NoiseKind::Gaussian;
    b.query.epsilon_per_query = eps(per_query);
    b
}

fn half(r: Rational) -> Rational {
    r.checked_mul(Rational::new(1, 2).unwrap()).unwrap()
}

/// Gaussian calibration, for counts, sums and averages together, with and
/// without GROUP BY. Pass: half of δ goes to the conversion, the chosen ρ
/// converts back (ε = ρ + 2√(ρ·ln(1/δ_noise))) to at most the query's ε
/// and within 10⁻⁸ of it; the noise's actual ρ over one unit's worst case,
/// Σ over max_groups · V values of Δⱼ²/(2σⱼ²), is at most ρ (each term
/// checked in exact integer arithmetic) and converts to an ε within 10⁻⁶
/// of the query's; δ spent is exactly δ/2 (no private keys).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gaussian_calibration_spends_epsilon_at_the_conversion() {
    let lake = Lake::small(false);
    let engine = lake.engine();
    for per_query in ["0.1", "1.0"] {
        let config = QueryConfig {
            mechanism: NoiseKind::Gaussian,
            epsilon_per_query: eps(per_query),
            ..QueryConfig::default()
        };
        let epsilon = config.epsilon().unwrap().to_f64();
        let delta_noise = half(config.delta);
        for sql in CALIBRATED {
            let (q, _) = exact(&engine, sql, &config).await;
            let c = Calibration::new(&q, &config).unwrap();
            assert_eq!(c.kind, NoiseKind::Gaussian);
            assert_eq!(c.delta_noise, Some(delta_noise));
            assert_eq!(c.delta_threshold, None, "public keys need no threshold");
            assert_eq!(c.delta_spent, Delta::at_least(delta_noise).unwrap());
            assert_eq!(c.delta_spent, Delta::from_units(50_000_000_000));
            let rho = c.rho.unwrap();
            let back = zcdp_epsilon(rho.to_f64(), delta_noise.to_f64());
            assert!(back <= epsilon, "{sql}: ε {back}");
            assert!(back >= epsilon * (1.0 - 1e-8), "{sql}: ε {back}");
            let groups = u128::from(q.max_groups);
            let v = c.values.len() as u128;
            let mut actual = 0.0;
            for value in &c.values {
                let s2 = gaussian_sigma2(value);
                let d2 = u128::from(value.sensitivity).pow(2);
                // groups · Δ² / (2σ²) <= ρ / V, cross-multiplied.
                let lhs = (groups * v * d2)
                    .checked_mul(u128::from(s2.denom()) * u128::from(rho.denom()))
                    .unwrap();
                let rhs = 2 * u128::from(s2.numer()) * u128::from(rho.numer());
                assert!(lhs <= rhs, "{sql}: {} gets σ² {s2}", value.name);
                actual += (groups * d2) as f64 / (2.0 * s2.to_f64());
            }
            let spent = zcdp_epsilon(actual, delta_noise.to_f64());
            assert!(spent <= epsilon, "{sql}: ε {spent}");
            assert!(spent >= epsilon * (1.0 - 1e-6), "{sql}: ε {spent}");
        }
    }
}

/// The exact pmf of the discrete Gaussian (for the tests' privacy checks).
fn gaussian_pmf(sigma2: f64) -> impl Fn(i64) -> f64 {
    let reach = (60.0 * sigma2.sqrt()).ceil() as i64 + 10;
    let w = move |x: i64| (-((x * x) as f64) / (2.0 * sigma2)).exp();
    let z: f64 = (-reach..=reach).map(w).sum();
    move |x| w(x) / z
}

/// Differencing pair under Gaussian noise (ε 1.0 per query, δ 10⁻⁷): the
/// count of everyone with and without P8, a worst-case neighbouring pair
/// (one value, max_groups 1, the exact answers differ by Δ = 1). Pass:
/// both answers say `discrete_gaussian` with σ² at least Δ²/(2ρ) for the
/// closed-form ρ = (√(L+ε) − √L)², L = ln(2/δ); over 50,000 seeded draws
/// of the released value for each exact answer, the histograms (bins of
/// half a standard deviation holding at least 2 % of the draws of both)
/// have a likelihood ratio within e^ε; the draws whose exact privacy loss
/// ln(P_a(x)/P_b(x)) exceeds ε number at most δ_noise · 50,000 (that is,
/// none); and the exact hockey-stick divergence
/// Σₓ max(0, P_a(x) − e^ε·P_b(x)), the δ the pair actually needs at this
/// ε, is at most δ_noise = δ/2.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gaussian_differencing_pair_is_hidden_by_the_noise() {
    let f = fixture(
        Lake::with_brp(&brp_csv(false, &[(8, "A1", 1937)])),
        gaussian_budget("3.0", "1.0"),
    );
    let with = "SELECT COUNT(*) AS n FROM brp";
    let without = "SELECT COUNT(*) AS n FROM brp WHERE geboortejaar <> 1937";
    let (qa, a) = f.exact(with).await;
    let (_, b) = f.exact(without).await;
    assert_eq!(qa.max_groups, 1);
    let (xa, xb) = (a.values[0][0], b.values[0][0]);
    assert_eq!(xa - xb, 1, "P8 is one count");
    assert_eq!(qa.l1_sensitivity(), 1);

    let epsilon = 1.0f64;
    let delta_noise = half(f.budget.query.delta).to_f64();
    let l = (1.0 / delta_noise).ln();
    let rho = ((l + epsilon).sqrt() - l.sqrt()).powi(2);
    let min_sigma2 = 1.0 / (2.0 * rho);
    for sql in [with, without] {
        let released = f.ask(sql).await.unwrap();
        assert_eq!(released["mechanism"]["kind"], "discrete_gaussian");
        let value = &released["mechanism"]["values"][0];
        let s2: Rational = value["sigma2"].as_str().unwrap().parse().unwrap();
        assert!(s2.to_f64() >= min_sigma2, "σ² {s2} < {min_sigma2}");
        assert!(s2.to_f64() <= min_sigma2 * (1.0 + 1e-6), "σ² {s2} wastes ε");
    }

    let calibration = Calibration::new(&qa, &f.budget.query).unwrap();
    let s2 = gaussian_sigma2(&calibration.values[0]).to_f64();
    let width = (s2.sqrt() / 2.0).ceil() as i64;
    let draws = 50_000u64;
    let pmf = gaussian_pmf(s2);
    let loss = |x: i64| (pmf(x - xa) / pmf(x - xb)).ln();
    let mut beyond = 0u64;
    let mut histogram = |exact: &ExactAnswer, seed: u64| {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut h: BTreeMap<i64, u64> = BTreeMap::new();
        for _ in 0..draws {
            let out = noisy_rows(&qa, exact, &calibration, &mut rng);
            let x = out.rows[0]["n"]["value"].as_i64().unwrap();
            if exact == &a {
                beyond += u64::from(loss(x) > epsilon);
            }
            *h.entry(x.div_euclid(width)).or_default() += 1;
        }
        h
    };
    let (ha, hb) = (histogram(&a, 11), histogram(&b, 12));
    let bound = epsilon.exp();
    let bins = assert_ratios_within(&ha, &hb, bound, draws / 50);
    assert!(bins >= 6, "only {bins} bins compared");
    assert!(
        beyond as f64 <= delta_noise * draws as f64,
        "{beyond} draws with privacy loss above ε"
    );
    let reach = (60.0 * s2.sqrt()) as i64;
    let hockey: f64 = (-reach..=reach)
        .map(|x| (pmf(x - 1) - bound * pmf(x)).max(0.0))
        .sum();
    assert!(hockey <= delta_noise, "δ(ε) = {hockey} > {delta_noise}");
}

/// Pass: as for the Laplace, over 2,000 seeded draws with Gaussian noise
/// the 95 % intervals of the counts contain the exact value between 94 %
/// and 97.5 % of the time and those of the averages at least 94 %; the
/// reported half-width and standard deviation are the discrete Gaussian's
/// of the value's σ², and the noise is centred.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gaussian_intervals_contain_the_exact_value_about_95_percent_of_the_time() {
    let (q, a, calibration) = coverage_query(NoiseKind::Gaussian).await;
    for v in &calibration.values {
        let s2 = gaussian_sigma2(v);
        assert_eq!(
            v.half_width_95,
            knooppunt_privacy::dp::gaussian_half_width(s2, 0.95)
        );
        let sd = knooppunt_privacy::dp::gaussian_variance(s2).sqrt();
        assert_eq!(v.std_dev, sd);
        assert!(sd <= s2.to_f64().sqrt() && sd > 0.99 * s2.to_f64().sqrt());
    }
    assert_coverage(&q, &a, &calibration, 96);
}

/// A Gaussian answer through the service. Pass: the answer's mechanism
/// says `discrete_gaussian` with ρ, δ_noise and each value's σ²; every
/// released count carries noise_scale, half_width_95 and interval_95; the
/// answer, the ledger entry, the balance and the audit record all show the
/// δ spent (δ/2 = 5·10⁻⁸) and what is left of the δ budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gaussian_answer_reports_sigma2_and_debits_delta() {
    let f = fixture(Lake::small(false), gaussian_budget("3.0", "0.1"));
    let answer = f.ask(BY_BUURT).await.unwrap();
    let m = &answer["mechanism"];
    assert_eq!(m["kind"], "discrete_gaussian");
    assert_eq!(m["delta"], "1/10000000");
    assert_eq!(m["delta_noise"], "1/20000000");
    assert_eq!(m["delta_spent"], "0.00000005");
    assert!(m["rho"].as_str().unwrap().parse::<Rational>().is_ok());
    let (q, _) = f.exact(BY_BUURT).await;
    let c = Calibration::new(&q, &f.budget.query).unwrap();
    let s2 = gaussian_sigma2(&c.values[0]);
    assert_eq!(m["values"][0]["sigma2"], s2.to_string());
    assert!(m["values"][0].get("scale").is_none());
    assert!(!rows(&answer).is_empty());
    for r in rows(&answer) {
        let n = &r["n"];
        let (v, h) = (
            n["value"].as_i64().unwrap(),
            n["half_width_95"].as_i64().unwrap(),
        );
        assert_eq!(n["noise_scale"].as_f64(), Some(c.values[0].std_dev));
        assert_eq!(n["interval_95"], serde_json::json!([v - h, v + h]));
    }
    assert_eq!(answer["epsilon_charged"], "0.1");
    assert_eq!(answer["delta_charged"], "0.00000005");
    assert_eq!(answer["delta_left"], "0.00000995");

    let ledger = f.ledger();
    let entries = ledger.entries(Some("a.jansen")).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].delta_charged, Delta::from_units(50_000_000_000));
    let balance = ledger.balance("a.jansen", Utc::now()).unwrap();
    assert_eq!(balance.delta_spent, Delta::from_units(50_000_000_000));
    assert_eq!(balance.delta_left, Delta::parse("0.00000995").unwrap());

    let cached = f.ask(BY_BUURT).await.unwrap();
    assert_eq!(cached["cached"], true);
    assert_eq!(cached["delta_charged"], "0.0");
    assert_eq!(cached["delta_left"], "0.00000995");

    let records = read_records(&f.audit_dir).unwrap();
    let released: Vec<_> = records
        .iter()
        .filter(|r| r.kind == RecordKind::Query && r.outcome == Outcome::Released)
        .collect();
    assert_eq!(released.len(), 2);
    let paid = released
        .iter()
        .find(|r| r.trace_id == entries[0].trace_id)
        .unwrap();
    assert_eq!(paid.budget_delta_charged, Some(5e-8));
    assert_eq!(paid.budget_delta_left, Some(9.95e-6));
    let recorded = paid.noise_scale.unwrap();
    assert!(
        (recorded - c.max_std_dev()).abs() <= 1e-12 * recorded,
        "{recorded}"
    );
    let free = released
        .iter()
        .find(|r| r.trace_id != entries[0].trace_id)
        .unwrap();
    assert_eq!(free.budget_delta_charged, Some(0.0));
}

/// Private group keys under Gaussian noise: the threshold is the discrete
/// Gaussian's for δ/2 / max_groups, every small group is withheld, and the
/// query spends δ/2 + δ/2 = δ.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gaussian_private_keys_use_the_gaussian_threshold_and_spend_delta() {
    let f = fixture(Lake::small(false), gaussian_budget("3.0", "0.1"));
    let sql = "SELECT gebruiksdoel, COUNT(*) AS n FROM bag GROUP BY gebruiksdoel";
    let a = f.ask(sql).await.unwrap();
    let (q, _) = f.exact(sql).await;
    let c = Calibration::new(&q, &f.budget.query).unwrap();
    let delta_t = half(f.budget.query.delta);
    assert_eq!(c.delta_threshold, Some(delta_t));
    let (index, tau) = c.threshold.unwrap();
    let noise = &c.values[index];
    assert_eq!(
        tau,
        knooppunt_privacy::dp::gaussian_threshold_for_delta(
            gaussian_sigma2(noise),
            noise.sensitivity,
            delta_t.to_f64() / q.max_groups as f64
        )
    );
    assert!(tau > 100, "τ {tau}");
    assert_eq!(a["mechanism"]["threshold"].as_u64(), Some(tau));
    assert_eq!(a["mechanism"]["delta_threshold"], "1/20000000");
    assert!(rows(&a).is_empty(), "{a}");
    assert!(a["withheld"].as_u64().unwrap() >= 1);
    assert_eq!(a["delta_charged"], "0.0000001");
    assert_eq!(c.delta_spent, Delta::from_units(100_000_000_000));
    let entries = f.ledger().entries(None).unwrap();
    assert_eq!(entries[0].delta_charged, Delta::from_units(100_000_000_000));
}

/// Laplace spends δ only on a private-key threshold: a public-key count
/// debits δ 0, a private-key count δ.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn laplace_spends_delta_only_on_private_keys() {
    let f = fixture(Lake::small(false), budget("3.0"));
    let a = f.ask(BY_BUURT).await.unwrap();
    assert_eq!(a["mechanism"]["kind"], "discrete_laplace");
    assert_eq!(a["delta_charged"], "0.0");
    let b = f
        .ask("SELECT gebruiksdoel, COUNT(*) AS n FROM bag GROUP BY gebruiksdoel")
        .await
        .unwrap();
    assert_eq!(b["delta_charged"], "0.0000001");
    let deltas: Vec<Delta> = f
        .ledger()
        .entries(None)
        .unwrap()
        .iter()
        .map(|e| e.delta_charged)
        .collect();
    assert_eq!(deltas, [Delta::ZERO, Delta::from_units(100_000_000_000)]);
}

/// δ exhaustion: a δ budget of 10⁻⁷ per period and Gaussian queries
/// spending δ/2 = 5·10⁻⁸ each. Pass: two answers, the third distinct query
/// is refused for the budget although ε is left, the refusal is audited
/// with rule `budget_exhausted`, nothing more is debited, and an identical
/// earlier query is still answered from the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delta_exhaustion_refuses_while_epsilon_is_left() {
    let mut config = gaussian_budget("3.0", "0.1");
    config.delta_per_period = Delta::parse("1/10000000").unwrap();
    let f = fixture(Lake::small(false), config);
    for i in 0..2 {
        let a = f
            .ask(&format!(
                "SELECT COUNT(*) AS n FROM brp WHERE geboortejaar > {}",
                1800 + i
            ))
            .await
            .unwrap();
        assert_eq!(a["cached"], false);
    }
    let refused = f
        .ask("SELECT COUNT(*) AS n FROM brp WHERE geboortejaar > 1900")
        .await;
    assert!(
        matches!(refused, Err(ServiceError::BudgetExhausted { budget: "δ" })),
        "{refused:?}"
    );
    let ledger = f.ledger();
    let balance = ledger.balance("a.jansen", Utc::now()).unwrap();
    assert_eq!(balance.left, eps("2.8"));
    assert_eq!(balance.delta_left, Delta::ZERO);
    assert_eq!(balance.delta_spent, Delta::parse("0.0000001").unwrap());
    assert_eq!(ledger.entries(None).unwrap().len(), 2);
    let records = read_records(&f.audit_dir).unwrap();
    let refusal: Vec<_> = records
        .iter()
        .filter(|r| r.outcome.rule() == Some("budget_exhausted"))
        .collect();
    assert_eq!(refusal.len(), 1);
    assert_eq!(refusal[0].budget_delta_left, Some(0.0));
    let cached = f
        .ask("SELECT COUNT(*) AS n FROM brp WHERE geboortejaar > 1800")
        .await
        .unwrap();
    assert_eq!(cached["cached"], true);
}

/// Pass: over 2,000 seeded draws of the answer of `q` (`soort_adres`, a
/// count `n` and an average `gj`), every count carries the calibration's
/// noise scale and half-width, its 95 % interval contains the exact value
/// between 94 % and 97.5 % of the time, the averages' intervals (where the
/// count's interval allows one) at least 94 %, and the noise is centred.
fn assert_coverage(q: &AnalystQuery, a: &ExactAnswer, calibration: &Calibration, seed: u64) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let (mut n_in, mut n_all, mut avg_in, mut avg_all) = (0u64, 0u64, 0u64, 0u64);
    for _ in 0..2000 {
        let out = noisy_rows(q, a, calibration, &mut rng);
        for (row, values) in out.rows.iter().zip(&a.values) {
            let n = &row["n"];
            assert_eq!(
                n["noise_scale"].as_f64(),
                Some(calibration.values[0].std_dev)
            );
            assert_eq!(
                n["half_width_95"].as_u64(),
                Some(calibration.values[0].half_width_95)
            );
            let lo = n["interval_95"][0].as_i64().unwrap();
            let hi = n["interval_95"][1].as_i64().unwrap();
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
    let mechanism = calibration.values[0].mechanism;
    let mean: f64 = (0..20_000)
        .map(|_| knooppunt_privacy::dp::add_noise(0, &mechanism, &mut rng) as f64)
        .sum::<f64>()
        / 20_000.0;
    assert!(mean.abs() < 0.1, "mean noise {mean}");
}

/// The Gaussian's σ² is an exact rational with parts of at most 2⁴⁰
/// (about 1.1·10¹²). A sum over `koopsom` (clamped to 2,000,000) would need
/// σ² ≈ 10¹⁴, so the Gaussian refuses it with the `calibration` rule and
/// nothing is charged; the Laplace answers the same query.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gaussian_too_wide_for_exact_sampling_is_refused_by_rule() {
    let sql = "SELECT SUM(koopsom) AS s FROM vastgoed";
    let f = fixture(Lake::small(false), gaussian_budget("3.0", "1.0"));
    assert!(matches!(
        f.ask(sql).await,
        Err(ServiceError::QueryRefused { rule: CALIBRATION })
    ));
    assert!(f.ledger().entries(None).unwrap().is_empty());
    let f = fixture(Lake::small(false), budget("3.0"));
    assert!(f.ask(sql).await.is_ok());
}
