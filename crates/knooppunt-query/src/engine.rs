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
use datafusion::prelude::{SessionConfig, SessionContext};
use knooppunt_core::Source;

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
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            memory_limit: DEFAULT_MEMORY_LIMIT,
            spill_dir: None,
            threads: None,
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
        Ok(Engine {
            shared: Arc::new(Shared {
                runtime_env,
                tables,
                partitions: threads,
                memory_limit: options.memory_limit,
            }),
            registry: Arc::new(Registry::builtin()?),
            snapshots,
            runtime: Some(runtime),
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
            let ctx = shared.base_session()?;
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
                let mut values = Vec::new();
                for query in registry.queries() {
                    values.extend(run_indicator(&ctx, query, peildatum).await?);
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
                run_indicator(&ctx, &query, peildatum).await
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
    fn base_session(&self) -> Result<SessionContext, QueryError> {
        let config = SessionConfig::new()
            .with_target_partitions(self.partitions)
            .with_information_schema(false);
        let ctx = SessionContext::new_with_config_rt(config, Arc::clone(&self.runtime_env));
        for (source, table) in &self.tables {
            ctx.register_table(source.name(), Arc::clone(table))
                .map_err(|e| QueryError::Setup {
                    reason: format!("registering {}: {e}", source.name()),
                })?;
        }
        Ok(ctx)
    }

    /// [`Shared::base_session`] plus the derived views at `peildatum`.
    async fn session(&self, peildatum: NaiveDate) -> Result<SessionContext, QueryError> {
        let ctx = self.base_session()?;
        for (file, text) in VIEWS {
            let sql = render(text, peildatum)?;
            run(&ctx, &sql, file, file).await?;
        }
        Ok(ctx)
    }
}

/// Plans and runs one statement, mapping errors without data values.
async fn run(
    ctx: &SessionContext,
    sql: &str,
    query: &str,
    file: &str,
) -> Result<Vec<RecordBatch>, QueryError> {
    let frame = ctx.sql(sql).await.map_err(|e| QueryError::Plan {
        query: query.to_string(),
        file: file.to_string(),
        reason: e.find_root().strip_backtrace(),
    })?;
    let memory_limit = match ctx.runtime_env().memory_pool.memory_limit() {
        MemoryLimit::Finite(n) => n,
        _ => 0,
    };
    frame
        .collect()
        .await
        .map_err(|e| execution_error(&e, query, file, memory_limit))
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
async fn run_indicator(
    ctx: &SessionContext,
    query: &IndicatorQuery,
    peildatum: NaiveDate,
) -> Result<Vec<IndicatorValue>, QueryError> {
    let sql = query.render(peildatum)?;
    let batches = run(ctx, &sql, &query.id, &query.file).await?;
    to_values(query, &batches)
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
            });
        }
    }
    Ok(values)
}
