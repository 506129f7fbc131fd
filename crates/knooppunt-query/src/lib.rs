//! The query layer: DataFusion over the Parquet lake, the indicator
//! registry, indicators and signals.
//!
//! # Brief overview
//! - [`Engine`] opens a lake: it reads `manifest.json` and registers each
//!   source's *current* snapshot as a table named after the source (`bag`,
//!   `brp`, `kvk`, …) with the contract schema of
//!   [`knooppunt_core::schema`]; a source without a snapshot is an empty
//!   table, so every query still plans. Queries share one memory budget
//!   ([`EngineOptions::memory_limit`], a fair spill pool with a spill
//!   directory) and run on the engine's own CPU runtime — or, with
//!   [`Execution::Ballista`], on an Apache DataFusion Ballista cluster
//!   (the same SQL, tables and views; the plan is shipped to executors).
//! - Per peildatum the engine registers the derived views every indicator
//!   builds on (`queries/views/`): `gebieden` (every buurt, wijk and
//!   gemeente), `adressen`, `actuele_inschrijvingen`, `inwoners` and
//!   `actieve_vestigingen`.
//! - [`Registry`] holds the indicators, one SQL file each
//!   (`queries/iNN_*.sql`, compiled in, or a directory of a municipality's
//!   own files) with a validated header ([`IndicatorQuery`]).
//! - [`Engine::indicators`] runs every indicator at a peildatum into an
//!   [`IndicatorTable`] of [`IndicatorValue`]s: exact numerator,
//!   denominator and their support (distinct privacy units) per buurt, wijk
//!   and gemeente ([`Level`]). Nothing here applies disclosure control:
//!   that is `knooppunt-privacy`'s job, before anything is released.
//! - [`compute_signals`] turns indicator tables into per-buurt signals.
//! - [`analyst`]: analyst SQL through the privacy gate —
//!   [`Engine::analyst_session`], [`Engine::analyst_prepare`] (gate and
//!   contribution-bounding rewrite of the logical plan) and
//!   [`Engine::analyst_execute`] (exact bounded answers; noise is added by
//!   the privacy layer).
//! - [`QueryError`] is the one error type; [`QueryError::kind`] classifies
//!   it. No error carries a value from the data.

pub mod analyst;
mod engine;
mod error;
mod lake;
mod model;
mod registry;
mod signals;

pub use analyst::{
    AggregateKind, AggregateSpec, AnalystCatalog, AnalystError, AnalystOptions, AnalystQuery,
    AnalystSession, Bounding, ExactAnswer, GateError, GroupKey, UnitPlan,
};
pub use engine::{DEFAULT_MEMORY_LIMIT, Engine, EngineOptions, Execution, sql_over_table};
pub use error::{QueryError, QueryFileProblem};
pub use model::{IndicatorTable, IndicatorValue, Level};
pub use registry::{IndicatorQuery, Registry};
pub use signals::{
    CompositeTrend, Driver, IndicatorSignal, SignalConfig, SignalRow, TrendFigures, compute_signals,
};
