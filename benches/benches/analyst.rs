//! Overhead of analyst SQL (issue 7, "Benchmark"): the same exact
//! question — registrations joined to addresses, counted per buurt — at
//! scale 10 (≈ 1.5 million inhabitants), in plain DataFusion and through
//! the privacy path.
//!
//! - `analyst/plain_datafusion`: [`Engine::sql_trusted`] with the join,
//!   the scope filter and GROUP BY buurtcode (no gate, no bounding, no
//!   noise).
//! - `analyst/gate_rewrite_execute_noise`: [`Engine::analyst_prepare`]
//!   (plan, gate, rewrite: per-person contribution bounding after the join,
//!   total expressions) + [`Engine::analyst_execute`] (exact bounded
//!   aggregates, public buurt domain completed) + calibration and discrete
//!   Laplace noise from the OS-keyed ChaCha20 RNG, in an analyst session
//!   built once. Each person has one current registration and each
//!   registration one address (rows per value counted once per session,
//!   that is per peildatum and scope), so the rewrite aggregates rows directly
//!   (`Bounding::Auto` chooses `UnitPlan::OneRow`).
//! - `analyst/always_ranked`: the same with `Bounding::AlwaysRanked`: the
//!   general plan (aggregate per person and buurt, clamp, keep at most
//!   `max_groups` groups per person by a keyed hash, sum), same values.
//! - `analyst/history_plain_datafusion`, `analyst/history_gated` and
//!   `analyst/history_always_ranked`: registrations per year of
//!   inschrijving over the whole BRP history, where a person reaches
//!   several rows (at most 3 at scale 10, within `max_groups`, so `Auto`
//!   chooses `UnitPlan::PerUnit`: per-person aggregate, no ranking).
//! - `analyst/with_session`: the same plus building the analyst session
//!   (scoped views) and counting the rows per value the plan choice needs
//!   (kept in the session), as the first `Service::query` of a peildatum
//!   and scope does.
//! - `analyst/with_ledger`: the same plus the durable debit
//!   (`Ledger::charge`, fsync) and storing the answer (fsync, rename), each
//!   iteration under a new cache key.
//!
//! The lake is `benches/peer/work/scale-10/lake` (git-ignored, shared with
//! the DuckDB peer); when absent it is generated (knooppunt-synth, scale 10,
//! seed 1) and ingested there first.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use knooppunt_benches::almere_buurten;
use knooppunt_core::SystemClock;
use knooppunt_ingest::{IngestOptions, NoProgress, PseudonymKey, ingest};
use knooppunt_privacy::dp::NoiseRng;
use knooppunt_query::{AnalystSession, Bounding, Engine, EngineOptions};
use knooppunt_service::analyst::{Calibration, QueryConfig, answer_body, noisy_rows};
use knooppunt_service::{BudgetConfig, CacheKey, Charge, Ledger, MicroEpsilon, Period};
use knooppunt_synth::{SynthConfig, generate};

/// The values of text column `i` of `batches` (NULLs skipped).
fn text_column(batches: &[RecordBatch], i: usize) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let col = cast(b.column(i), &DataType::Utf8).unwrap();
        let col = col.as_string::<i32>();
        out.extend(
            (0..col.len())
                .filter(|r| col.is_valid(*r))
                .map(|r| col.value(r).to_string()),
        );
    }
    out
}

const ANALYST_SQL: &str = "SELECT a.buurtcode, COUNT(*) AS n FROM actuele_inschrijvingen p \
     JOIN adressen a ON p.adresseerbaarobject_id = a.identificatie GROUP BY a.buurtcode";

/// A question where a person reaches several rows (the registration
/// history): per-unit bounding is needed.
const HISTORY_SQL: &str =
    "SELECT date_part('year', datum_inschrijving) AS jaar, COUNT(*) AS n FROM brp GROUP BY 1";

fn lake() -> PathBuf {
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("peer/work/scale-10");
    let lake = work.join("lake");
    if !lake.join("brp").exists() {
        let exports = work.join("analyst-exports");
        generate(
            &SynthConfig {
                out: exports.clone(),
                scale: 10.0,
                seed: 1,
                clean: false,
                buurten: almere_buurten(),
            },
            &mut |_| {},
        )
        .unwrap();
        ingest(
            &IngestOptions {
                exports,
                lake: lake.clone(),
                key: PseudonymKey::from_secret(&[7u8; 32]).unwrap(),
                clock: Arc::new(SystemClock),
            },
            &NoProgress,
        )
        .unwrap();
    }
    lake
}

/// The analyst path of `Service::query` without the ledger: gate and
/// rewrite, execution, calibration, noise, the JSON answer.
async fn analyst_answer(
    engine: &Engine,
    session: &AnalystSession,
    config: &QueryConfig,
    peildatum: chrono::NaiveDate,
    sql: &str,
    bounding: Bounding,
) -> serde_json::Value {
    let q = engine
        .analyst_prepare_with(session, sql, &config.analyst_options(), bounding)
        .await
        .unwrap();
    let exact = engine.analyst_execute(&q).await.unwrap();
    let calibration = Calibration::new(&q, config).unwrap();
    let mut rng = NoiseRng::from_os().unwrap();
    let rows = noisy_rows(&q, &exact, &calibration, &mut rng);
    answer_body(&q, peildatum, &rows, &calibration)
}

fn bench_analyst(c: &mut Criterion) {
    let lake = lake();
    let engine = Engine::open(&lake, EngineOptions::default()).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let peildatum = runtime.block_on(engine.default_peildatum()).unwrap();
    let scope = text_column(
        &runtime
            .block_on(engine.sql_trusted(
                peildatum,
                "SELECT DISTINCT gemeentecode FROM buurten ORDER BY 1",
            ))
            .unwrap(),
        0,
    );
    let in_scope = scope
        .iter()
        .map(|g| format!("'{g}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let plain = format!(
        "SELECT a.buurtcode, COUNT(*) AS n FROM actuele_inschrijvingen p \
         JOIN adressen a ON p.adresseerbaarobject_id = a.identificatie \
         WHERE p.gemeentecode IN ({in_scope}) AND a.gemeentecode IN ({in_scope}) \
         GROUP BY a.buurtcode"
    );
    let config = QueryConfig::default();
    let session = runtime
        .block_on(engine.analyst_session(peildatum, &scope))
        .unwrap();

    let answer_of = |sql: &'static str, bounding: Bounding| {
        analyst_answer(&engine, &session, &config, peildatum, sql, bounding)
    };
    let gated = || answer_of(ANALYST_SQL, Bounding::Auto);
    let per_unit = || answer_of(ANALYST_SQL, Bounding::AlwaysRanked);
    let history_plain = format!(
        "SELECT date_part('year', datum_inschrijving) AS jaar, COUNT(*) AS n FROM brp \
         WHERE gemeentecode IN ({in_scope}) GROUP BY 1"
    );
    // Sanity: both paths see the same groups (the analyst answer adds the
    // empty buurten of the public domain).
    let plain_rows: usize = runtime
        .block_on(engine.sql_trusted(peildatum, &plain))
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    let first = std::time::Instant::now();
    let answer = runtime.block_on(gated());
    let first = first.elapsed();
    let gated_rows = answer["rows"].as_array().unwrap().len();
    let plan = runtime
        .block_on(engine.analyst_prepare(&session, ANALYST_SQL, &config.analyst_options()))
        .unwrap()
        .unit_plan;
    eprintln!(
        "analyst bench: scale 10, peildatum {peildatum}, scope {scope:?}: {plain_rows} groups plain, \
         {gated_rows} released, plan {plan:?}; first analyst query \
         (rows per value counted) {first:.2?}"
    );
    assert!(gated_rows >= plain_rows);
    let general = runtime.block_on(per_unit());
    assert_eq!(general["rows"].as_array().unwrap().len(), gated_rows);
    let history = runtime
        .block_on(engine.analyst_prepare(&session, HISTORY_SQL, &config.analyst_options()))
        .unwrap();
    eprintln!("history question: plan {:?}", history.unit_plan);

    let budget_dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(
        budget_dir.path(),
        BudgetConfig::new(MicroEpsilon::from_epsilon(1_000_000).unwrap(), Period::Year),
    )
    .unwrap();
    let mut counter = 0u64;

    let mut group = c.benchmark_group("analyst");
    group
        .sample_size(20)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(15));
    group.bench_function("plain_datafusion", |b| {
        b.iter(|| {
            runtime
                .block_on(engine.sql_trusted(peildatum, &plain))
                .unwrap()
        })
    });
    group.bench_function("gate_rewrite_execute_noise", |b| {
        b.iter(|| runtime.block_on(gated()))
    });
    group.bench_function("always_ranked", |b| b.iter(|| runtime.block_on(per_unit())));
    group.bench_function("history_plain_datafusion", |b| {
        b.iter(|| {
            runtime
                .block_on(engine.sql_trusted(peildatum, &history_plain))
                .unwrap()
        })
    });
    group.bench_function("history_gated", |b| {
        b.iter(|| runtime.block_on(answer_of(HISTORY_SQL, Bounding::Auto)))
    });
    group.bench_function("history_always_ranked", |b| {
        b.iter(|| runtime.block_on(answer_of(HISTORY_SQL, Bounding::AlwaysRanked)))
    });
    group.bench_function("with_session", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let session = engine.analyst_session(peildatum, &scope).await.unwrap();
                analyst_answer(
                    &engine,
                    &session,
                    &config,
                    peildatum,
                    ANALYST_SQL,
                    Bounding::Auto,
                )
                .await
            })
        })
    });
    group.bench_function("with_ledger", |b| {
        b.iter(|| {
            counter += 1;
            let key = CacheKey::new(format!("bench-{counter}"), "scale-10");
            let charge = ledger
                .charge(
                    "bench",
                    config.epsilon_per_query,
                    &key,
                    "trace",
                    chrono::Utc::now(),
                )
                .unwrap();
            assert!(matches!(charge, Charge::Debited { .. }));
            let answer = runtime.block_on(gated());
            ledger.store_answer(&key, &answer).unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, bench_analyst);
criterion_main!(benches);
