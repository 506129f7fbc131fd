//! The engine: a DataFusion session factory over the lake's current
//! snapshots, with a memory budget, spilling, and its own CPU runtime.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type, Int64Type};
use datafusion::catalog::TableProvider;
use datafusion::error::DataFusionError;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, MemoryLimit};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use knooppunt_core::Source;

use crate::analyst::{
    AnalystError, AnalystOptions, AnalystQuery, AnalystSession, Bounding, ExactAnswer, UnitPlan,
};
use crate::error::QueryError;
use crate::lake;
use crate::model::{IndicatorTable, IndicatorValue, Level};
use crate::registry::{IndicatorQuery, Registry, VIEWS, render};

/// Default memory budget of an engine: 8 GiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 8 * 1024 * 1024 * 1024;

/// How an [`Engine`] runs queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineOptions {
    /// Memory budget in bytes shared by all queries of the engine. Sorts,
    /// aggregations and joins that can spill do so beyond their fair share;
    /// a query that cannot fails with [`QueryError::ResourcesExhausted`].
    pub memory_limit: usize,
    /// Directory for spill files; `None` uses a fresh temporary directory
    /// under the system's temp dir, removed when the engine is dropped.
    pub spill_dir: Option<PathBuf>,
    /// Worker threads of the engine's runtime and DataFusion's target
    /// partitions; `None` uses the number of CPUs.
    pub threads: Option<usize>,
    /// Where plans execute.
    pub execution: Execution,
}

/// Where an engine executes its plans.
///
/// The SQL, the registered tables and the views are the same everywhere;
/// only the physical execution moves. Knooppunt registers no custom
/// functions, so the stock Ballista scheduler and executor binaries run its
/// plans unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Execution {
    /// In this process, on the engine's own runtime.
    #[default]
    Local,
    /// On an Apache DataFusion Ballista cluster whose scheduler listens at
    /// `host:port`. Every executor must read the lake's Parquet files at
    /// the same absolute paths as this machine (a shared file system).
    Ballista {
        /// Scheduler host name or address.
        host: String,
        /// Scheduler port (Ballista's default is 50050).
        port: u16,
    },
    /// A Ballista scheduler and executor started inside this process on
    /// first use: the whole distributed path (plan serialisation, stages,
    /// shuffles over Arrow Flight) on one machine, for tests.
    BallistaStandalone,
}

impl Execution {
    /// Parses `local`, `ballista://HOST:PORT` or `ballista-standalone`.
    pub fn parse(text: &str) -> Result<Execution, String> {
        match text {
            "local" => return Ok(Execution::Local),
            "ballista-standalone" => return Ok(Execution::BallistaStandalone),
            _ => {}
        }
        let Some(rest) = text.strip_prefix("ballista://") else {
            return Err(format!(
                "`{text}` is not an engine: use `local`, `ballista://HOST:PORT` or `ballista-standalone`"
            ));
        };
        let url = url::Url::parse(&format!("df://{rest}"))
            .map_err(|e| format!("`{text}` is not a scheduler address: {e}"))?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("`{text}` names no scheduler host"))?;
        let path_is_empty = url.path().is_empty() || url.path() == "/";
        if !path_is_empty || url.query().is_some() {
            return Err(format!("`{text}`: give only ballista://HOST:PORT"));
        }
        Ok(Execution::Ballista {
            host: host.to_string(),
            port: url.port().unwrap_or(50050),
        })
    }
}

impl std::fmt::Display for Execution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Execution::Local => f.write_str("local"),
            Execution::Ballista { host, port } => write!(f, "ballista://{host}:{port}"),
            Execution::BallistaStandalone => f.write_str("ballista-standalone"),
        }
    }
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            memory_limit: DEFAULT_MEMORY_LIMIT,
            spill_dir: None,
            threads: None,
            execution: Execution::Local,
        }
    }
}

/// What every query task needs; shared with the tasks on the engine's
/// runtime.
struct Shared {
    runtime_env: Arc<RuntimeEnv>,
    tables: Vec<(Source, Arc<dyn TableProvider>)>,
    partitions: usize,
    memory_limit: usize,
    execution: Execution,
    /// The scheduler URL (`http://host:port`) once known; for
    /// [`Execution::BallistaStandalone`] set when the in-process cluster
    /// has started.
    scheduler: tokio::sync::OnceCell<String>,
    /// Where the in-process cluster runs, for
    /// [`Execution::BallistaStandalone`].
    cluster: Option<tokio::runtime::Handle>,
    /// One Ballista client session for executing finished logical plans
    /// (analyst queries and their row counts), which register nothing in
    /// it; opened on first use.
    plan_session: tokio::sync::OnceCell<SessionContext>,
}

/// The query engine over one lake.
///
/// Opening reads `manifest.json` once and registers each source's current
/// snapshot; later ingests are not seen until the lake is opened again, so
/// every result of one engine describes one consistent set of snapshots
/// ([`Engine::snapshots`]).
///
/// # Runtimes
/// DataFusion's documentation advises against running CPU-heavy plans on
/// the runtime that serves IO (a server's request handling, the CLI's main
/// task): a long aggregation occupies a worker for seconds and starves
/// everything else scheduled there. The engine therefore owns a dedicated
/// multi-thread tokio runtime; every query is spawned onto it and the
/// caller's runtime only awaits the result.
pub struct Engine {
    shared: Arc<Shared>,
    registry: Arc<Registry>,
    snapshots: BTreeMap<Source, String>,
    /// `Some` until drop; taken there to shut down without blocking.
    runtime: Option<tokio::runtime::Runtime>,
    /// The runtime of an in-process Ballista scheduler and executor
    /// ([`Execution::BallistaStandalone`]), apart from the engine's: the
    /// executor's tasks must not starve the scheduler or the client.
    cluster_runtime: Option<tokio::runtime::Runtime>,
    /// Secret salt (hex) of the keyed hash that orders each unit's groups
    /// in analyst queries; fresh per engine, never shown.
    analyst_salt: String,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("snapshots", &self.snapshots)
            .field("memory_limit", &self.shared.memory_limit)
            .field("partitions", &self.shared.partitions)
            .field("indicators", &self.registry.len())
            .finish_non_exhaustive()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its workers stop, which tokio
        // forbids inside another runtime (where an engine is usually
        // dropped); queries still running are cancelled either way.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        if let Some(runtime) = self.cluster_runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Engine {
    /// Opens the lake at `lake` with the built-in indicator registry.
    pub fn open(lake: impl AsRef<Path>, options: EngineOptions) -> Result<Engine, QueryError> {
        let lake = lake.as_ref();
        let current = lake::current_snapshots(lake)?;
        let mut tables = Vec::with_capacity(Source::ALL.len());
        for source in Source::ALL {
            tables.push((source, lake::table(source, current.get(&source))?));
        }
        if options.execution != Execution::Local {
            // An empty source is an in-memory table here, which cannot be
            // sent to an executor; the lake must hold every source.
            let missing: Vec<&str> = Source::ALL
                .into_iter()
                .filter(|s| !current.contains_key(s))
                .map(|s| s.name())
                .collect();
            if !missing.is_empty() {
                return Err(QueryError::Setup {
                    reason: format!(
                        "--engine {}: every source needs a snapshot in the lake; missing: {}",
                        options.execution,
                        missing.join(", ")
                    ),
                });
            }
        }
        let snapshots = current.into_iter().map(|(s, c)| (s, c.id)).collect();

        let threads = options
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
            .max(1);
        let setup = |reason: String| QueryError::Setup { reason };
        let disk_mode = match &options.spill_dir {
            Some(dir) => DiskManagerMode::Directories(vec![dir.clone()]),
            None => DiskManagerMode::OsTmpDirectory,
        };
        let runtime_env = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(options.memory_limit)))
            .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(disk_mode))
            .build_arc()
            .map_err(|e| setup(format!("DataFusion runtime: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("knooppunt-query")
            .enable_all()
            .build()
            .map_err(|e| setup(format!("query runtime: {e}")))?;
        let cluster_runtime = match options.execution {
            Execution::BallistaStandalone => Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(threads + 2)
                    .thread_name("knooppunt-ballista")
                    .enable_all()
                    .build()
                    .map_err(|e| setup(format!("Ballista runtime: {e}")))?,
            ),
            _ => None,
        };
        Ok(Engine {
            shared: Arc::new(Shared {
                runtime_env,
                tables,
                partitions: threads,
                memory_limit: options.memory_limit,
                scheduler: match &options.execution {
                    Execution::Ballista { host, port } => {
                        tokio::sync::OnceCell::new_with(Some(format!("http://{host}:{port}")))
                    }
                    _ => tokio::sync::OnceCell::new(),
                },
                cluster: cluster_runtime.as_ref().map(|r| r.handle().clone()),
                plan_session: tokio::sync::OnceCell::new(),
                execution: options.execution,
            }),
            registry: Arc::new(Registry::builtin()?),
            snapshots,
            runtime: Some(runtime),
            cluster_runtime,
            analyst_salt: {
                let mut salt = [0u8; 32];
                getrandom::fill(&mut salt).map_err(|e| setup(format!("analyst salt: {e}")))?;
                hex::encode(salt)
            },
        })
    }

    /// Replaces the indicator registry (for example with
    /// [`Registry::from_dir`]).
    pub fn with_registry(mut self, registry: Registry) -> Engine {
        self.registry = Arc::new(registry);
        self
    }

    /// The indicators this engine computes.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The current snapshot id of every source the lake holds (absent
    /// sources are queried as empty tables).
    pub fn snapshots(&self) -> &BTreeMap<Source, String> {
        &self.snapshots
    }

    /// The memory budget in bytes.
    pub fn memory_limit(&self) -> usize {
        self.shared.memory_limit
    }

    /// Where this engine executes plans.
    pub fn execution(&self) -> &Execution {
        &self.shared.execution
    }

    /// Runs `task` on the engine's runtime and awaits it from the caller's.
    async fn on_engine<T, F, Fut>(&self, task: F) -> Result<T, QueryError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Shared>) -> Fut,
        Fut: Future<Output = Result<T, QueryError>> + Send + 'static,
    {
        let runtime = self.runtime.as_ref().ok_or(QueryError::TaskFailed)?;
        let handle = runtime.spawn(task(Arc::clone(&self.shared)));
        handle.await.map_err(|_| QueryError::TaskFailed)?
    }

    /// The default peildatum: the latest date in any dated source (brp
    /// in- and uitschrijving, kvk inschrijving and opheffing, meldingen,
    /// vastgoed transactiedatum, handhaving start and einde).
    pub async fn default_peildatum(&self) -> Result<NaiveDate, QueryError> {
        self.on_engine(|shared| async move {
            // Always in this process: it is a scan of a few date columns,
            // and Ballista 55 never finishes this union of aggregates (its
            // scheduler rejects the tasks' metrics: "task metrics array size
            // 18 does not equal with the stage metrics array size 17").
            let ctx = shared.local_session()?;
            let batches = run(&ctx, LATEST_DATE_SQL, "default_peildatum", "(built in)").await?;
            let latest = batches
                .iter()
                .filter(|b| b.num_rows() > 0)
                .find_map(|b| {
                    let col = b.column(0).as_primitive_opt::<Date32Type>()?;
                    col.is_valid(0).then(|| col.value(0))
                })
                .ok_or(QueryError::NoDatedRecords)?;
            NaiveDate::default()
                .checked_add_signed(chrono::TimeDelta::days(i64::from(latest)))
                .ok_or(QueryError::PeildatumOutOfRange)
        })
        .await
    }

    /// Computes every registered indicator at `peildatum`, for every buurt,
    /// wijk and gemeente (and `onbekend` where it holds records), sorted by
    /// (indicator, level, code).
    pub async fn indicators(&self, peildatum: NaiveDate) -> Result<IndicatorTable, QueryError> {
        let registry = Arc::clone(&self.registry);
        let mut values = self
            .on_engine(move |shared| async move {
                let ctx = shared.session(peildatum).await?;
                let areas = areas(&ctx).await?;
                let mut values = Vec::new();
                for query in registry.queries() {
                    values.extend(run_indicator(&ctx, query, peildatum, &areas).await?);
                }
                Ok(values)
            })
            .await?;
        values.sort_by(|a, b| {
            (&a.indicator, a.level, &a.code).cmp(&(&b.indicator, b.level, &b.code))
        });
        Ok(IndicatorTable { peildatum, values })
    }

    /// Computes one indicator (which need not be in the registry) at
    /// `peildatum`, sorted by (level, code).
    pub async fn indicator(
        &self,
        query: &IndicatorQuery,
        peildatum: NaiveDate,
    ) -> Result<Vec<IndicatorValue>, QueryError> {
        let query = query.clone();
        let mut values = self
            .on_engine(move |shared| async move {
                let ctx = shared.session(peildatum).await?;
                let areas = areas(&ctx).await?;
                run_indicator(&ctx, &query, peildatum, &areas).await
            })
            .await?;
        values.sort_by(|a, b| (a.level, &a.code).cmp(&(b.level, &b.code)));
        Ok(values)
    }

    /// Runs arbitrary SQL over the lake tables and the derived views at
    /// `peildatum`; `{{peildatum}}` and `{{window_start}}` are replaced as
    /// in indicator files.
    ///
    /// # Privacy
    /// This bypasses every release rule: the result can hold row-level
    /// data. It exists for tests, benchmarks and the privacy layer's own
    /// plumbing; never hand it text from an analyst or a client.
    pub async fn sql_trusted(
        &self,
        peildatum: NaiveDate,
        sql: &str,
    ) -> Result<Vec<RecordBatch>, QueryError> {
        let sql = render(sql, peildatum)?;
        self.on_engine(move |shared| async move {
            let ctx = shared.session(peildatum).await?;
            run(&ctx, &sql, "sql", "(trusted SQL)").await
        })
        .await
    }

    /// A DataFusion session with the lake tables and the derived views at
    /// `peildatum` registered, sharing the engine's memory pool and spill
    /// directory. Plans executed from it run on the caller's runtime; use
    /// it for planning (for example a privacy gate inspecting logical
    /// plans) and run heavy work through the engine's methods.
    pub async fn session(&self, peildatum: NaiveDate) -> Result<SessionContext, QueryError> {
        self.on_engine(move |shared| async move { shared.session(peildatum).await })
            .await
    }

    /// A session for analyst SQL at `peildatum`: only the analyst views
    /// ([`AnalystCatalog`](crate::analyst::AnalystCatalog)), each limited
    /// to rows whose `gemeentecode` is in `scope`, without `record_key` and
    /// coordinates; information_schema off.
    pub async fn analyst_session(
        &self,
        peildatum: NaiveDate,
        scope: &[String],
    ) -> Result<AnalystSession, QueryError> {
        let scope = scope.to_vec();
        self.on_engine(move |shared| async move {
            let admin = shared.local_views_session(peildatum).await?;
            // The buurt rows of the areas every indicator run reads.
            let rows = areas(&admin)
                .await?
                .into_iter()
                .filter(|(level, ..)| *level == Level::Buurt)
                .map(|(_, buurt, wijk, gemeente)| (buurt, wijk, gemeente))
                .collect();
            crate::analyst::build_session(&admin, shared.plain_session(), peildatum, &scope, rows)
                .await
        })
        .await
    }

    /// Plans `sql` in `session`, runs the privacy gate on the logical plan
    /// and rewrites it to bound each privacy unit's contribution; refusals
    /// name their rule ([`crate::analyst::rules`]).
    pub async fn analyst_prepare(
        &self,
        session: &AnalystSession,
        sql: &str,
        options: &AnalystOptions,
    ) -> Result<AnalystQuery, AnalystError> {
        self.analyst_prepare_with(session, sql, options, Bounding::Auto)
            .await
    }

    /// [`Engine::analyst_prepare`] with a choice of [`Bounding`].
    pub async fn analyst_prepare_with(
        &self,
        session: &AnalystSession,
        sql: &str,
        options: &AnalystOptions,
        bounding: Bounding,
    ) -> Result<AnalystQuery, AnalystError> {
        if options.max_groups == 0 || options.max_contribution == 0 {
            return Err(AnalystError::Query(QueryError::Setup {
                reason: "analyst options: max_groups and max_contribution must be at least 1"
                    .to_string(),
            }));
        }
        let (gated, group_keys) = session.gate_sql(sql, options).await?;
        let rows = match (&gated.rows_per_unit, bounding) {
            (Some(factors), Bounding::Auto) => Some(self.rows_bound(session, factors).await?),
            _ => None,
        };
        let plan = match bounding {
            Bounding::Auto => UnitPlan::for_rows(rows, options, !gated.keys.is_empty()),
            Bounding::AlwaysRanked => UnitPlan::PerUnitRanked,
        };
        session.prepare_gated(
            gated,
            group_keys,
            options,
            &self.analyst_salt,
            &self.snapshots,
            plan,
        )
    }

    /// Π max(1, m(table, column)) over `factors`, with m the most rows one
    /// non-NULL value of the column has in `session`'s views; each m is
    /// counted once per session (a peildatum and scope), on the engine's
    /// [`Execution`].
    async fn rows_bound(
        &self,
        session: &AnalystSession,
        factors: &[(&'static str, &'static str)],
    ) -> Result<u64, QueryError> {
        let mut bound: u64 = 1;
        for &at in factors {
            let (table, column) = at;
            let known = session
                .multiplicities
                .lock()
                .map_err(|_| QueryError::TaskFailed)?
                .get(&at)
                .copied();
            let m = match known {
                Some(m) => m,
                None => {
                    let plan = session.multiplicity_plan(table, column).await?;
                    let batches = self.execute_plan(plan).await?;
                    let m = batches
                        .iter()
                        .find(|b| b.num_rows() > 0)
                        .and_then(|b| cast(b.column(0), &DataType::Int64).ok())
                        .and_then(|c| {
                            let c = c.as_primitive::<Int64Type>();
                            c.is_valid(0).then(|| c.value(0))
                        })
                        .map_or(0, |n| u64::try_from(n).unwrap_or(u64::MAX));
                    session
                        .multiplicities
                        .lock()
                        .map_err(|_| QueryError::TaskFailed)?
                        .insert(at, m);
                    m
                }
            };
            bound = bound.saturating_mul(m.max(1));
        }
        Ok(bound)
    }

    /// Executes a prepared analyst query (locally or on Ballista) and
    /// returns its exact bounded answer, public group keys completed.
    pub async fn analyst_execute(&self, query: &AnalystQuery) -> Result<ExactAnswer, QueryError> {
        let batches = self.execute_plan(query.plan().clone()).await?;
        crate::analyst::answer(query, &batches)
    }

    /// Runs a logical plan built by a session of this engine on the
    /// engine's runtime and [`Execution`]. Errors carry no data values.
    pub(crate) async fn execute_plan(
        &self,
        plan: LogicalPlan,
    ) -> Result<Vec<RecordBatch>, QueryError> {
        self.on_engine(move |shared| async move {
            let ctx = match shared.execution {
                Execution::Local => shared.plain_session(),
                _ => shared
                    .plan_session
                    .get_or_try_init(|| shared.ballista_session())
                    .await?
                    .clone(),
            };
            let limit = shared.memory_limit;
            let error = |e: DataFusionError| execution_error(&e, "analyst", "(analyst SQL)", limit);
            let frame = ctx.execute_logical_plan(plan).await.map_err(error)?;
            frame.collect().await.map_err(error)
        })
        .await
    }
}

/// The latest date of every dated column of the lake.
const LATEST_DATE_SQL: &str = "SELECT MAX(d) FROM (
    SELECT MAX(datum_inschrijving) AS d FROM brp
    UNION ALL SELECT MAX(datum_uitschrijving) FROM brp
    UNION ALL SELECT MAX(datum_inschrijving) FROM kvk
    UNION ALL SELECT MAX(datum_opheffing) FROM kvk
    UNION ALL SELECT MAX(datum) FROM meldingen
    UNION ALL SELECT MAX(transactiedatum) FROM vastgoed
    UNION ALL SELECT MAX(datum_start) FROM handhaving
    UNION ALL SELECT MAX(datum_einde) FROM handhaving
)";

impl Shared {
    /// A session with the lake tables registered under their source names.
    async fn base_session(&self) -> Result<SessionContext, QueryError> {
        let ctx = match &self.execution {
            Execution::Local => self.plain_session(),
            Execution::Ballista { .. } | Execution::BallistaStandalone => {
                self.ballista_session().await?
            }
        };
        self.register_tables(&ctx)?;
        Ok(ctx)
    }

    /// A session executing in this process whatever the engine's
    /// [`Execution`], with the lake tables registered.
    fn local_session(&self) -> Result<SessionContext, QueryError> {
        let ctx = self.plain_session();
        self.register_tables(&ctx)?;
        Ok(ctx)
    }

    fn plain_session(&self) -> SessionContext {
        let config = SessionConfig::new()
            .with_target_partitions(self.partitions)
            .with_information_schema(false);
        SessionContext::new_with_config_rt(config, Arc::clone(&self.runtime_env))
    }

    fn register_tables(&self, ctx: &SessionContext) -> Result<(), QueryError> {
        for (source, table) in &self.tables {
            ctx.register_table(source.name(), Arc::clone(table))
                .map_err(|e| QueryError::Setup {
                    reason: format!("registering {}: {e}", source.name()),
                })?;
        }
        Ok(())
    }

    /// [`Shared::local_session`] plus the derived views at `peildatum`:
    /// for planning analyst views, whatever the engine's [`Execution`].
    async fn local_views_session(
        &self,
        peildatum: NaiveDate,
    ) -> Result<SessionContext, QueryError> {
        with_views(self.local_session()?, peildatum).await
    }

    /// [`Shared::base_session`] plus the derived views at `peildatum`.
    async fn session(&self, peildatum: NaiveDate) -> Result<SessionContext, QueryError> {
        with_views(self.base_session().await?, peildatum).await
    }
}

/// `ctx` with the derived views (`queries/views/`) at `peildatum`.
async fn with_views(
    ctx: SessionContext,
    peildatum: NaiveDate,
) -> Result<SessionContext, QueryError> {
    for (file, text) in VIEWS {
        let sql = render(text, peildatum)?;
        run(&ctx, &sql, file, file).await?;
    }
    Ok(ctx)
}

impl Shared {
    /// A client session whose plans run on the Ballista scheduler; for
    /// [`Execution::BallistaStandalone`] the first call starts the
    /// in-process scheduler and executor on the engine's runtime.
    async fn ballista_session(&self) -> Result<SessionContext, QueryError> {
        use ballista::prelude::{SessionConfigExt, SessionContextExt};
        use datafusion::execution::SessionStateBuilder;

        let partitions = self.partitions;
        let cluster = self.cluster.clone();
        let url = self
            .scheduler
            .get_or_try_init(|| async move {
                let cluster = cluster.ok_or_else(|| QueryError::Setup {
                    reason: "no Ballista scheduler configured".to_string(),
                })?;
                cluster
                    .spawn(start_standalone_cluster(partitions))
                    .await
                    .map_err(|_| QueryError::TaskFailed)?
            })
            .await?;
        let config = SessionConfig::new_with_ballista()
            .with_target_partitions(self.partitions)
            .with_information_schema(false);
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(Arc::clone(&self.runtime_env))
            .with_default_features()
            .build();
        // `remote_with_state` wants a `df://` address and keeps only host
        // and port.
        let address = url.replacen("http://", "df://", 1);
        SessionContext::remote_with_state(&address, state)
            .await
            .map_err(|e| QueryError::Setup {
                reason: format!("Ballista session at {url}: {}", e.strip_backtrace()),
            })
    }
}

/// Starts an in-process Ballista scheduler and one executor with
/// `vcores` task slots; returns the scheduler's URL.
async fn start_standalone_cluster(vcores: usize) -> Result<String, QueryError> {
    use ballista_core::serde::BallistaCodec;
    use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;

    let setup = |what: &str, e: String| QueryError::Setup {
        reason: format!("standalone Ballista {what}: {e}"),
    };
    let address = ballista_scheduler::standalone::new_standalone_scheduler()
        .await
        .map_err(|e| setup("scheduler", e.to_string()))?;
    let url = format!("http://localhost:{}", address.port());
    let mut attempts = 0;
    let scheduler = loop {
        match SchedulerGrpcClient::connect(url.clone()).await {
            Ok(client) => break client,
            Err(e) if attempts >= 100 => return Err(setup("scheduler connection", e.to_string())),
            Err(_) => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    };
    ballista_executor::new_standalone_executor(scheduler, vcores.max(1), BallistaCodec::default())
        .await
        .map_err(|e| setup("executor", e.to_string()))?;
    Ok(url)
}

/// Plans and runs one statement, mapping errors without data values.
async fn run(
    ctx: &SessionContext,
    sql: &str,
    query: &str,
    file: &str,
) -> Result<Vec<RecordBatch>, QueryError> {
    run_with_columns(ctx, sql, query, file)
        .await
        .map(|(_, batches)| batches)
}

/// [`run`], also naming the result's columns (known from the plan even
/// when no row comes back).
async fn run_with_columns(
    ctx: &SessionContext,
    sql: &str,
    query: &str,
    file: &str,
) -> Result<(Vec<String>, Vec<RecordBatch>), QueryError> {
    let frame = ctx.sql(sql).await.map_err(|e| QueryError::Plan {
        query: query.to_string(),
        file: file.to_string(),
        reason: e.find_root().strip_backtrace(),
    })?;
    let columns = frame
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let memory_limit = match ctx.runtime_env().memory_pool.memory_limit() {
        MemoryLimit::Finite(n) => n,
        _ => 0,
    };
    let batches = frame
        .collect()
        .await
        .map_err(|e| execution_error(&e, query, file, memory_limit))?;
    Ok((columns, batches))
}

fn execution_error(
    e: &DataFusionError,
    query: &str,
    file: &str,
    memory_limit: usize,
) -> QueryError {
    let root = e.find_root();
    if let DataFusionError::ResourcesExhausted(_) = root {
        return QueryError::ResourcesExhausted {
            query: query.to_string(),
            limit: memory_limit,
        };
    }
    let category = match root {
        DataFusionError::ArrowError(..) => "arrow",
        DataFusionError::ParquetError(..) => "parquet",
        DataFusionError::ObjectStore(..) | DataFusionError::IoError(..) => "io",
        DataFusionError::Internal(..) => "internal",
        DataFusionError::NotImplemented(..) => "not implemented",
        DataFusionError::ExecutionJoin(..) => "task",
        DataFusionError::Plan(..) | DataFusionError::SchemaError(..) => "plan",
        _ => "execution",
    };
    QueryError::Execution {
        query: query.to_string(),
        file: file.to_string(),
        category,
    }
}

/// Runs one indicator query and checks its result.
/// One area of the `gebieden` view: (level, code, wijkcode, gemeentecode).
type Area = (Level, String, String, String);

/// Every area of the buurten table at every level (the `gebieden` view),
/// read once per session.
async fn areas(ctx: &SessionContext) -> Result<Vec<Area>, QueryError> {
    let gebieden = IndicatorQuery {
        id: "gebieden".to_string(),
        title: String::new(),
        numerator: String::new(),
        denominator: String::new(),
        sources: vec![Source::Buurten],
        privacy_unit: knooppunt_core::PrivacyUnit::Area,
        denominator_unit: knooppunt_core::PrivacyUnit::Area,
        file: "views/gebieden.sql".to_string(),
        text: String::new(),
    };
    let sql = "SELECT level, code, wijkcode, gemeentecode, 0 AS numerator, 0 AS denominator, \
               0 AS numerator_support, 0 AS denominator_support FROM gebieden";
    let batches = run(ctx, sql, "gebieden", "views/gebieden.sql").await?;
    Ok(to_values(&gebieden, &batches)?
        .into_iter()
        .map(|v| (v.level, v.code, v.wijkcode, v.gemeentecode))
        .collect())
}

/// Runs one indicator and completes it: every area of `areas` without a
/// row gets zeros (an indicator file returns only the areas holding
/// records; `onbekend` rows come from the file alone).
async fn run_indicator(
    ctx: &SessionContext,
    query: &IndicatorQuery,
    peildatum: NaiveDate,
    areas: &[Area],
) -> Result<Vec<IndicatorValue>, QueryError> {
    let sql = query.render(peildatum)?;
    let (columns, batches) = run_with_columns(ctx, &sql, &query.id, &query.file).await?;
    let mut values = to_values(query, &batches)?;
    let present: HashSet<(Level, &str)> =
        values.iter().map(|v| (v.level, v.code.as_str())).collect();
    // Keys of the completed rows exactly when the file reports keys at all
    // (from its columns: an empty result must not make a keyless
    // indicator releasable).
    let keys = columns.iter().any(|c| c == "numerator_key").then_some(0);
    let missing: Vec<IndicatorValue> = areas
        .iter()
        .filter(|(level, code, _, _)| !present.contains(&(*level, code.as_str())))
        .map(|(level, code, wijkcode, gemeentecode)| IndicatorValue {
            indicator: query.id.clone(),
            level: *level,
            code: code.clone(),
            wijkcode: wijkcode.clone(),
            gemeentecode: gemeentecode.clone(),
            numerator: 0,
            denominator: 0,
            numerator_support: 0,
            denominator_support: 0,
            numerator_key: keys,
            denominator_key: keys,
        })
        .collect();
    values.extend(missing);
    Ok(values)
}

/// Reads the result columns of an indicator query into values. Columns
/// are found by name and cast (any string type to text, any integer type
/// to Int64), so a municipality's own query need not match types exactly.
fn to_values(
    query: &IndicatorQuery,
    batches: &[RecordBatch],
) -> Result<Vec<IndicatorValue>, QueryError> {
    let invalid = |problem: String| QueryError::InvalidResult {
        indicator: query.id.clone(),
        file: query.file.clone(),
        problem,
    };
    let mut values = Vec::new();
    let mut seen: HashSet<(Level, String)> = HashSet::new();
    for batch in batches {
        let text = |name: &str| -> Result<Vec<String>, QueryError> {
            let col = batch
                .column_by_name(name)
                .ok_or_else(|| invalid(format!("lacks column {name}")))?;
            let col = cast(col, &DataType::Utf8)
                .map_err(|_| invalid(format!("column {name} is not text")))?;
            let col = col.as_string::<i32>();
            if col.null_count() > 0 {
                return Err(invalid(format!("column {name} holds nulls")));
            }
            Ok(col
                .iter()
                .map(|v| v.unwrap_or_default().to_string())
                .collect())
        };
        let int = |name: &str| -> Result<Vec<i64>, QueryError> {
            let col = batch
                .column_by_name(name)
                .ok_or_else(|| invalid(format!("lacks column {name}")))?;
            if !col.data_type().is_integer() {
                return Err(invalid(format!("column {name} is not an integer")));
            }
            let col = cast(col, &DataType::Int64)
                .map_err(|_| invalid(format!("column {name} does not fit Int64")))?;
            let col = col.as_primitive::<Int64Type>();
            if col.null_count() > 0 {
                return Err(invalid(format!("column {name} holds nulls")));
            }
            Ok(col.values().to_vec())
        };
        let levels = text("level")?;
        let codes = text("code")?;
        let wijken = text("wijkcode")?;
        let gemeenten = text("gemeentecode")?;
        let numerators = int("numerator")?;
        let denominators = int("denominator")?;
        let num_support = int("numerator_support")?;
        let den_support = int("denominator_support")?;
        // Optional: a municipality's own indicator need not report record
        // keys; it is then computed but never released.
        let optional = |name: &str| -> Result<Option<Vec<i64>>, QueryError> {
            match batch.column_by_name(name) {
                Some(_) => int(name).map(Some),
                None => Ok(None),
            }
        };
        let num_keys = optional("numerator_key")?;
        let den_keys = optional("denominator_key")?;
        for i in 0..batch.num_rows() {
            let level = Level::from_name(&levels[i]).ok_or_else(|| {
                invalid("column level holds a value other than buurt, wijk, gemeente".into())
            })?;
            if !seen.insert((level, codes[i].clone())) {
                return Err(invalid("has two rows for one (level, code)".into()));
            }
            values.push(IndicatorValue {
                indicator: query.id.clone(),
                level,
                code: codes[i].clone(),
                wijkcode: wijken[i].clone(),
                gemeentecode: gemeenten[i].clone(),
                numerator: numerators[i],
                denominator: denominators[i],
                numerator_support: num_support[i],
                denominator_support: den_support[i],
                numerator_key: num_keys.as_ref().map(|k| k[i]),
                denominator_key: den_keys.as_ref().map(|k| k[i]),
            });
        }
    }
    Ok(values)
}

/// Runs one read-only SQL statement over a single in-memory table `name`
/// (for example the audit log for privacy officers), in a plain DataFusion
/// session of its own. DDL, DML and statements such as `SET` are refused.
pub async fn sql_over_table(
    name: &str,
    batch: RecordBatch,
    sql: &str,
) -> Result<Vec<RecordBatch>, QueryError> {
    use datafusion::datasource::MemTable;
    use datafusion::execution::context::SQLOptions;

    let setup = |e: DataFusionError| QueryError::Setup {
        reason: format!("table {name}: {}", e.strip_backtrace()),
    };
    let ctx = SessionContext::new();
    let table = MemTable::try_new(batch.schema(), vec![vec![batch]]).map_err(setup)?;
    ctx.register_table(name, Arc::new(table)).map_err(setup)?;
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let plan_error = |e: DataFusionError| QueryError::Plan {
        query: "sql".to_string(),
        file: "(command line)".to_string(),
        reason: e.find_root().strip_backtrace(),
    };
    let frame = ctx
        .sql_with_options(sql, options)
        .await
        .map_err(plan_error)?;
    frame.collect().await.map_err(plan_error)
}
