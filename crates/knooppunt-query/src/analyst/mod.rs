//! Analyst SQL: the plan gate and the contribution-bounding rewrite
//! (PRIVACY.md, "Analyst SQL"). No noise is added here.
//!
//! # Overview
//! - [`Engine::analyst_session`](crate::Engine::analyst_session) builds an
//!   [`AnalystSession`]: a DataFusion session whose catalogue holds only
//!   the analyst views of [`AnalystCatalog`] — each limited to the
//!   municipalities in the token's scope, without `record_key` and
//!   coordinates. Views are inlined when a plan is built, so the gate sees
//!   each analyst table as `SubqueryAlias(name, <view plan>)` and checks
//!   that the inlined plan is exactly the registered view.
//! - [`Engine::analyst_prepare`](crate::Engine::analyst_prepare) plans the
//!   SQL (DDL, DML and statements refused), runs the gate on the logical
//!   plan (a [`GateError`] names its rule), makes every expression total
//!   (division and modulo by zero give NULL, `CAST` becomes `TRY_CAST`)
//!   and rewrites the one aggregate so that each privacy unit contributes
//!   at most `max_contribution` per value to at most `max_groups` groups,
//!   after joins. The result is an [`AnalystQuery`]: unit, tables,
//!   columns, group keys with their public domains, aggregates with their
//!   sensitivity, and a fingerprint of the canonical plan.
//! - [`Engine::analyst_execute`](crate::Engine::analyst_execute) runs the
//!   rewritten plan (locally or on Ballista: built-in functions only) and
//!   returns an [`ExactAnswer`] with public-domain group keys completed.
//!
//! # Rows per unit
//! Per-unit bounding (aggregate per unit and group, clamp, keep at most
//! `max_groups` groups per unit by a keyed hash, sum) costs a
//! high-cardinality aggregate, a hash per row and a sort. Some of it is
//! the identity when a unit reaches few rows of the aggregate's input:
//! with at most `max_groups` rows it reaches at most `max_groups` groups
//! (no ranking: [`UnitPlan::PerUnit`]), and with at most one row the
//! per-unit aggregate is one clamped row too ([`UnitPlan::OneRow`]: the
//! rows are aggregated directly). The gate bounds the rows per unit from
//! the plan ([`Bounding::Auto`]): a table column's value has at most
//! m(table, column) rows, the most any non-NULL value has in the
//! session's data (counted once per session, that is per peildatum and scope, at least
//! 1); through a join on `a = b` (NULLs never match) a value of one side
//! has at most its own bound times the other side's bound for its join
//! column; projections and filters keep bounds, expressions have none.
//!
//! The choice depends on the data, but the answer does not: the plans
//! compute the same function of the data where they are chosen (tests
//! compare every plan with the ranked one on lakes with one and with
//! several rows per person), and the noise is calibrated from the options
//! alone. Only timing could tell which plan ran, and so whether the most
//! rows some value has in scope is 1, at most `max_groups` or more.
//! Differential privacy here, as in the libraries PRIVACY.md names, covers
//! the content of answers, not their timing; the counts are fixed per
//! peildatum and scope (counted once), so repeating queries does not
//! sharpen them.

mod catalog;
mod domain;
mod gate;
mod rewrite;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use knooppunt_core::PrivacyUnit;

use crate::error::QueryError;

pub use catalog::{
    AnalystCatalog, AnalystColumn, AnalystTable, DomainSpec, EVENT_YEARS, HANDHAVING_SOORTEN,
    KOPER_TYPES, LIFE_YEARS, MELDING_CATEGORIES, SOORT_ADRES, unit_strength,
};
pub use domain::AreaDomains;
pub(crate) use domain::{answer, build_session};
pub(crate) use gate::Gated;

/// Rule names of [`GateError`], stable across versions.
pub mod rules {
    /// No aggregate, a non-aggregated output, or SELECT DISTINCT.
    pub const NOT_AGGREGATED: &str = "not_aggregated";
    /// An aggregate other than COUNT, COUNT(DISTINCT unit), SUM/AVG of a
    /// clamped column (MIN, MAX, percentiles, …), or a grouping set.
    pub const AGGREGATE_NOT_ALLOWED: &str = "aggregate_not_allowed";
    /// A window function anywhere.
    pub const WINDOW_FUNCTION: &str = "window_function";
    /// LIMIT/OFFSET anywhere, ORDER BY other than over output group keys.
    pub const ORDER_LIMIT: &str = "order_limit";
    /// An identifier column in the output.
    pub const IDENTIFIER_OUTPUT: &str = "identifier_output";
    /// An identifier column (or an expression over one) as group key.
    pub const IDENTIFIER_GROUPED: &str = "identifier_grouped";
    /// An identifier used other than to join (column = column), count or
    /// test for NULL: compared with a literal, LIKE, IN-list, functions.
    pub const IDENTIFIER_LITERAL: &str = "identifier_literal";
    /// A reference to `record_key`.
    pub const RECORD_KEY: &str = "record_key";
    /// A table outside the analyst catalogue.
    pub const UNKNOWN_TABLE: &str = "unknown_table";
    /// A column the analyst tables do not have.
    pub const UNKNOWN_COLUMN: &str = "unknown_column";
    /// An aggregate below the top aggregate (also DISTINCT in a subquery).
    pub const NESTED_AGGREGATE: &str = "nested_aggregate";
    /// A filter over aggregate results (HAVING).
    pub const HAVING: &str = "having";
    /// A scalar, IN or EXISTS subquery.
    pub const SUBQUERY: &str = "subquery";
    /// UNION, INTERSECT, EXCEPT, recursive queries.
    pub const SET_OPERATION: &str = "set_operation";
    /// A scalar function or operator outside the allow-list, or one whose
    /// argument must be a literal from a fixed set.
    pub const FUNCTION_NOT_ALLOWED: &str = "function_not_allowed";
    /// The unit column of the query's unit does not reach the aggregate,
    /// two tables of that unit are not joined on it, or no table has a unit.
    pub const UNIT_NOT_TRACEABLE: &str = "unit_not_traceable";
    /// A join that is not inner/left/right/full on at least one equality of
    /// columns.
    pub const JOIN_NOT_ALLOWED: &str = "join_not_allowed";
    /// An output that computes on aggregates or group keys instead of
    /// returning them.
    pub const OUTPUT_EXPRESSION: &str = "output_expression";
    /// DDL, DML, SET, EXPLAIN, PREPARE and other statements.
    pub const STATEMENT: &str = "statement";
    /// Public group keys whose complete domain is too large to release.
    pub const DOMAIN_TOO_LARGE: &str = "domain_too_large";
    /// SQL that does not parse or plan.
    pub const INVALID_SQL: &str = "invalid_sql";
}

/// A refusal of the gate: a stable rule name and a message that never
/// holds a value from the data or a literal from the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateError {
    /// The rule (see [`rules`]).
    pub rule: &'static str,
    /// What is not allowed, in general terms.
    pub message: String,
}

impl GateError {
    pub(crate) fn new(rule: &'static str, message: impl Into<String>) -> GateError {
        GateError {
            rule,
            message: message.into(),
        }
    }
}

impl fmt::Display for GateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused ({}): {}", self.rule, self.message)
    }
}

impl std::error::Error for GateError {}

/// Why an analyst query was not prepared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalystError {
    /// The gate refused the query.
    #[error("{0}")]
    Refused(GateError),
    /// The engine failed (not the query's fault).
    #[error(transparent)]
    Query(#[from] QueryError),
}

impl AnalystError {
    /// The rule of a refusal, if this is one.
    pub fn rule(&self) -> Option<&'static str> {
        match self {
            AnalystError::Refused(g) => Some(g.rule),
            AnalystError::Query(_) => None,
        }
    }
}

impl From<GateError> for AnalystError {
    fn from(g: GateError) -> Self {
        AnalystError::Refused(g)
    }
}

/// Contribution bounds of the rewrite; both bounds must be at least 1
/// ([`Engine::analyst_prepare`](crate::Engine::analyst_prepare) refuses 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalystOptions {
    /// Groups one unit may contribute to (default 4).
    pub max_groups: u64,
    /// Per group, what one unit may add to a count (and, times the clamp
    /// bounds, to a sum) (default 1).
    pub max_contribution: u64,
    /// Most group combinations a complete public domain may have.
    pub max_domain_size: u64,
}

impl Default for AnalystOptions {
    fn default() -> Self {
        AnalystOptions {
            max_groups: 4,
            max_contribution: 1,
            max_domain_size: 100_000,
        }
    }
}

/// How the rewrite may bound each unit's contribution.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Bounding {
    /// The cheapest [`UnitPlan`] the rows per unit allow (see the module
    /// docs). All plans give the same values.
    #[default]
    Auto,
    /// Always [`UnitPlan::PerUnitRanked`] (for tests and benchmarks of the
    /// general plan).
    AlwaysRanked,
}

/// The plan that bounds each unit's contribution; all three compute the
/// same values where they apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum UnitPlan {
    /// Each unit reaches at most one row: the clamped rows are aggregated
    /// directly.
    OneRow,
    /// Each unit reaches at most `max_groups` rows: aggregate per unit and
    /// group and clamp, no ranking.
    PerUnit,
    /// Aggregate per unit and group, clamp, keep at most `max_groups`
    /// groups per unit by a keyed hash (the general plan).
    PerUnitRanked,
}

impl UnitPlan {
    /// The plan for a unit that reaches at most `rows` rows (`None`:
    /// unbounded) under `options`; a query without group keys has one
    /// group, so it never needs ranking.
    pub(crate) fn for_rows(rows: Option<u64>, options: &AnalystOptions, grouped: bool) -> UnitPlan {
        match rows {
            Some(0 | 1) => UnitPlan::OneRow,
            Some(n) if n <= options.max_groups => UnitPlan::PerUnit,
            _ if !grouped => UnitPlan::PerUnit,
            _ => UnitPlan::PerUnitRanked,
        }
    }
}

/// A group key of an analyst query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupKey {
    /// Output name.
    pub name: String,
    /// `Some`: a public domain, complete (every value is in the answer,
    /// values outside it and NULL are dropped); `None`: private (needs a
    /// noisy threshold before release).
    pub domain: Option<Vec<String>>,
}

/// What an aggregate computes, after bounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateKind {
    /// COUNT(*) or COUNT(expr): bounded count of rows.
    Count,
    /// COUNT(DISTINCT unit column): units in the group.
    CountDistinctUnit,
    /// SUM of a column clamped to `[lower, upper]`, rounded per unit.
    Sum {
        /// Lower clamp bound.
        lower: i64,
        /// Upper clamp bound.
        upper: i64,
    },
    /// AVG of a clamped column, answered as its bounded sum and count
    /// (two values) so noise can be added to each.
    Avg {
        /// Lower clamp bound.
        lower: i64,
        /// Upper clamp bound.
        upper: i64,
    },
}

/// One aggregate output of an analyst query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregateSpec {
    /// Output name.
    pub name: String,
    /// What it computes.
    pub kind: AggregateKind,
    /// Most change of this aggregate in one group from adding or removing
    /// one unit (for [`AggregateKind::Avg`]: of its sum and count
    /// together).
    pub per_group_sensitivity: u64,
}

impl AggregateSpec {
    /// The values this aggregate puts in each row of an [`ExactAnswer`]
    /// (two for AVG: sum, count), with the sensitivity of each.
    pub fn value_sensitivities(&self, max_contribution: u64) -> Vec<u64> {
        match self.kind {
            AggregateKind::Avg { lower, upper } => vec![
                max_contribution.saturating_mul(lower.unsigned_abs().max(upper.unsigned_abs())),
                max_contribution,
            ],
            _ => vec![self.per_group_sensitivity],
        }
    }
}

/// A gated, rewritten analyst query, ready to execute.
#[derive(Clone)]
pub struct AnalystQuery {
    /// SHA-256 (hex) of the canonical rewritten, unoptimised plan text
    /// (the engine's salt masked), the bounds, peildatum, scope and the
    /// lake snapshots: an identical question on identical data shares it.
    pub fingerprint: String,
    /// The privacy unit whose contributions are bounded.
    pub unit: PrivacyUnit,
    /// Analyst tables read, sorted.
    pub tables: Vec<String>,
    /// Columns touched (`table.column`), sorted.
    pub columns: Vec<String>,
    /// Group keys, in GROUP BY order.
    pub group_keys: Vec<GroupKey>,
    /// Aggregates, in output order.
    pub aggregates: Vec<AggregateSpec>,
    /// Groups one unit can change (1 without GROUP BY).
    pub max_groups: u64,
    /// What one unit adds per group at most.
    pub max_contribution: u64,
    /// How the plan bounds each unit ([`Bounding`]); the values are those
    /// of [`UnitPlan::PerUnitRanked`] whichever it is.
    pub unit_plan: UnitPlan,
    /// The peildatum of the views.
    pub peildatum: NaiveDate,
    /// The municipalities in scope, sorted.
    pub scope: Vec<String>,
    plan: LogicalPlan,
}

impl fmt::Debug for AnalystQuery {
    // The plan holds the engine's salt: never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnalystQuery")
            .field("fingerprint", &self.fingerprint)
            .field("unit", &self.unit)
            .field("tables", &self.tables)
            .field("columns", &self.columns)
            .field("group_keys", &self.group_keys)
            .field("aggregates", &self.aggregates)
            .field("max_groups", &self.max_groups)
            .field("max_contribution", &self.max_contribution)
            .field("unit_plan", &self.unit_plan)
            .finish_non_exhaustive()
    }
}

impl AnalystQuery {
    /// Total L1 sensitivity over all groups and values: how much the whole
    /// exact answer can change (sum of absolute changes) when one unit is
    /// added or removed: `max_groups × Σ per_group_sensitivity`.
    pub fn l1_sensitivity(&self) -> u64 {
        let per_group: u64 = self
            .aggregates
            .iter()
            .map(|a| a.per_group_sensitivity)
            .fold(0, u64::saturating_add);
        self.max_groups.saturating_mul(per_group)
    }

    /// Names of the values of each [`ExactAnswer`] row: one per aggregate,
    /// two (`name.sum`, `name.count`) per AVG.
    pub fn value_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for a in &self.aggregates {
            match a.kind {
                AggregateKind::Avg { .. } => {
                    names.push(format!("{}.sum", a.name));
                    names.push(format!("{}.count", a.name));
                }
                _ => names.push(a.name.clone()),
            }
        }
        names
    }

    /// The sensitivity of each value of a row (see [`Self::value_names`]).
    pub fn value_sensitivities(&self) -> Vec<u64> {
        self.aggregates
            .iter()
            .flat_map(|a| a.value_sensitivities(self.max_contribution))
            .collect()
    }

    /// The rewritten logical plan. It embeds the engine's secret salt:
    /// never show or log it.
    pub fn plan(&self) -> &LogicalPlan {
        &self.plan
    }
}

/// The exact (not yet noised) answer of an analyst query.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExactAnswer {
    /// Per row, the group key values (NULL as `None`), in
    /// [`AnalystQuery::group_keys`] order.
    pub keys: Vec<Vec<Option<String>>>,
    /// Per row, the bounded values, in [`AnalystQuery::value_names`]
    /// order.
    pub values: Vec<Vec<i64>>,
}

/// A session for analyst SQL: only the analyst views, limited to a scope.
pub struct AnalystSession {
    pub(crate) ctx: SessionContext,
    pub(crate) views: BTreeMap<String, LogicalPlan>,
    pub(crate) catalog: Arc<AnalystCatalog>,
    pub(crate) areas: AreaDomains,
    pub(crate) peildatum: NaiveDate,
    pub(crate) scope: Vec<String>,
    /// Rows per value counted on this session's data ([`Bounding::Auto`]):
    /// the most rows one non-NULL value of `(table, column)` has.
    pub(crate) multiplicities: std::sync::Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl fmt::Debug for AnalystSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnalystSession")
            .field("peildatum", &self.peildatum)
            .field("scope", &self.scope)
            .field("tables", &self.views.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl AnalystSession {
    /// The peildatum of the views.
    pub fn peildatum(&self) -> NaiveDate {
        self.peildatum
    }

    /// The municipalities in scope, sorted.
    pub fn scope(&self) -> &[String] {
        &self.scope
    }

    /// The areas in scope (the public domains of area codes).
    pub fn areas(&self) -> &AreaDomains {
        &self.areas
    }

    pub(crate) async fn plan_sql(&self, sql: &str) -> Result<LogicalPlan, GateError> {
        let state = self.ctx.state();
        let plan = state
            .create_logical_plan(sql)
            .await
            .map_err(|e| gate::plan_error(&e))?;
        gate::check_statement(&plan)?;
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|_| GateError::new(rules::STATEMENT, "only SELECT queries are allowed"))?;
        Ok(plan)
    }

    /// Plans and gates `sql`, and resolves its group keys' public domains
    /// (refusing more than `max_domain_size` combinations).
    pub(crate) async fn gate_sql(
        &self,
        sql: &str,
        options: &AnalystOptions,
    ) -> Result<(Gated, Vec<GroupKey>), GateError> {
        let plan = self.plan_sql(sql).await?;
        let gated = gate::gate(&plan, self)?;
        let group_keys = gated
            .keys
            .iter()
            .map(|k| GroupKey {
                name: k.name.clone(),
                domain: self.areas.resolve(k.domain),
            })
            .collect::<Vec<_>>();
        let combos = group_keys
            .iter()
            .filter_map(|k| k.domain.as_ref().map(Vec::len))
            .fold(1u64, |acc, n| acc.saturating_mul(n as u64));
        if combos > options.max_domain_size {
            return Err(GateError::new(
                rules::DOMAIN_TOO_LARGE,
                format!(
                    "the public group keys have more than {} combinations",
                    options.max_domain_size
                ),
            ));
        }
        Ok((gated, group_keys))
    }

    /// The plan of the most rows one non-NULL value of `column` has in
    /// `table` (catalogue names only; NULL when the table is empty).
    pub(crate) async fn multiplicity_plan(
        &self,
        table: &str,
        column: &str,
    ) -> Result<LogicalPlan, QueryError> {
        let frame = self
            .ctx
            .sql(&format!(
                "SELECT MAX(n) FROM (SELECT \"{column}\", COUNT(*) AS n FROM \"{table}\" \
                 WHERE \"{column}\" IS NOT NULL GROUP BY \"{column}\")"
            ))
            .await
            .map_err(|e| QueryError::Setup {
                reason: format!(
                    "rows per value of {table}.{column}: {}",
                    e.strip_backtrace()
                ),
            })?;
        Ok(frame.into_unoptimized_plan())
    }

    /// Rewrites a gated query (see the module docs) with `unit_plan`,
    /// which the rows per unit must allow.
    pub(crate) fn prepare_gated(
        &self,
        gated: Gated,
        group_keys: Vec<GroupKey>,
        options: &AnalystOptions,
        salt: &str,
        snapshots: &BTreeMap<knooppunt_core::Source, String>,
        unit_plan: UnitPlan,
    ) -> Result<AnalystQuery, AnalystError> {
        let state = self.ctx.state();
        let rewritten = rewrite::rewrite(&gated, options, salt, &state, unit_plan)?;
        let mc = options.max_contribution;
        let aggregates = gated
            .aggregates
            .iter()
            .map(|a| {
                let sens = match a.kind {
                    AggregateKind::Count => mc,
                    AggregateKind::CountDistinctUnit => 1,
                    AggregateKind::Sum { lower, upper } => {
                        mc.saturating_mul(lower.unsigned_abs().max(upper.unsigned_abs()))
                    }
                    AggregateKind::Avg { lower, upper } => mc
                        .saturating_mul(lower.unsigned_abs().max(upper.unsigned_abs()))
                        .saturating_add(mc),
                };
                AggregateSpec {
                    name: a.name.clone(),
                    kind: a.kind,
                    per_group_sensitivity: sens,
                }
            })
            .collect();
        let max_groups = if gated.keys.is_empty() {
            1
        } else {
            options.max_groups
        };
        let fingerprint = rewrite::fingerprint(
            &rewritten,
            salt,
            options,
            self.peildatum,
            &self.scope,
            snapshots,
        );
        Ok(AnalystQuery {
            fingerprint,
            unit: gated.unit,
            tables: gated.tables.clone(),
            columns: gated.columns.clone(),
            group_keys,
            aggregates,
            max_groups,
            max_contribution: mc,
            unit_plan,
            peildatum: self.peildatum,
            scope: self.scope.clone(),
            plan: rewritten,
        })
    }
}
