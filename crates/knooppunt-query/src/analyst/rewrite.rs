//! The rewrite: total expressions (no data-dependent errors) and
//! per-unit contribution bounding after joins.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, ScalarValue};
use datafusion::execution::SessionState;
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::functions_window::expr_fn::lag;
use datafusion::logical_expr::expr::{AggregateFunction, ScalarFunction};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{
    BinaryExpr, Case, Expr, ExprFunctionExt, LogicalPlan, LogicalPlanBuilder, Operator, TryCast,
    lit,
};
use sha2::{Digest, Sha256};

use super::gate::Gated;
use super::rules::INVALID_SQL;
use super::{AggregateKind, AnalystError, AnalystOptions, GateError, UnitPlan};
use crate::error::QueryError;

fn setup(what: &str, e: impl std::fmt::Display) -> AnalystError {
    AnalystError::Query(QueryError::Setup {
        reason: format!("analyst rewrite ({what}): {e}"),
    })
}

fn column(name: &str) -> Expr {
    Expr::Column(Column::from_name(name))
}

fn try_cast(e: Expr, t: DataType) -> Expr {
    Expr::TryCast(TryCast::new(Box::new(e), t))
}

fn case(when_then: Vec<(Expr, Expr)>, otherwise: Expr) -> Expr {
    Expr::Case(Case::new(
        None,
        when_then
            .into_iter()
            .map(|(w, t)| (Box::new(w), Box::new(t)))
            .collect(),
        Some(Box::new(otherwise)),
    ))
}

/// `x` clamped to `[lo, hi]` (NULL stays NULL).
fn clamp(x: Expr, lo: i64, hi: i64) -> Expr {
    case(
        vec![
            (x.clone().lt(lit(lo)), lit(lo)),
            (x.clone().gt(lit(hi)), lit(hi)),
        ],
        x,
    )
}

/// Makes one expression total: division and modulo by zero give NULL,
/// casts give NULL instead of failing, `abs` wraps instead of failing.
fn totalize_expr(e: Expr) -> datafusion::error::Result<Transformed<Expr>> {
    match e {
        Expr::BinaryExpr(b) if matches!(b.op, Operator::Divide | Operator::Modulo) => {
            let divisor = (*b.right).clone();
            let guarded = case(
                vec![(divisor.eq(lit(0i64)), lit(ScalarValue::Null))],
                Expr::BinaryExpr(BinaryExpr::new(b.left, b.op, b.right)),
            );
            Ok(Transformed::yes(guarded))
        }
        Expr::Cast(c) => Ok(Transformed::yes(try_cast(
            *c.expr,
            c.field.data_type().clone(),
        ))),
        Expr::ScalarFunction(f) if f.name() == "abs" && f.args.len() == 1 => {
            let x = f.args[0].clone();
            Ok(Transformed::yes(case(
                vec![(x.clone().lt(lit(0i64)), Expr::Negative(Box::new(x.clone())))],
                x,
            )))
        }
        e => Ok(Transformed::no(e)),
    }
}

/// Applies [`totalize_expr`] to every expression of `plan`, keeping
/// output names.
fn totalize(plan: LogicalPlan) -> datafusion::error::Result<LogicalPlan> {
    plan.transform_up(|node| {
        let names = NamePreserver::new(&node);
        node.map_expressions(|e| {
            let saved = names.save(&e);
            e.transform_up(totalize_expr)
                .map(|t| t.update_data(|e| saved.restore(e)))
        })
    })
    .map(|t| t.data)
}

fn scalar(state: &SessionState, name: &str, args: Vec<Expr>) -> Result<Expr, AnalystError> {
    let f = state
        .scalar_functions()
        .get(name)
        .ok_or_else(|| setup("functions", format!("built-in function {name} is missing")))?;
    Ok(Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::clone(f),
        args,
    )))
}

fn aggregate(
    func: Arc<datafusion::logical_expr::AggregateUDF>,
    arg: Expr,
    filter: Option<Box<Expr>>,
) -> Expr {
    Expr::AggregateFunction(AggregateFunction::new_udf(
        func,
        vec![arg],
        false,
        filter,
        vec![],
        None,
    ))
}

/// The bounded plan of a gated query (see the module docs of `analyst`).
///
/// `unit_plan` must be allowed by the rows each unit reaches (see
/// [`UnitPlan`]); the steps it leaves out are then the identity, so every
/// plan gives the values of [`UnitPlan::PerUnitRanked`]:
/// - with at most `max_groups` rows a unit reaches at most `max_groups`
///   groups, and keeping its first `max_groups` groups keeps them all
///   ([`UnitPlan::PerUnit`]: no hash, sort or window);
/// - with at most one row, that row is one group, a count of at most 1
///   (≤ `max_contribution`) and one clamped value
///   ([`UnitPlan::OneRow`]: the clamped rows are aggregated directly).
pub(crate) fn rewrite(
    gated: &Gated,
    options: &AnalystOptions,
    salt: &str,
    state: &SessionState,
    unit_plan: UnitPlan,
) -> Result<LogicalPlan, AnalystError> {
    let analyzed = state
        .analyzer()
        .execute_and_check(gated.aggregate.clone(), state.config_options(), |_, _| {})
        .map_err(|_| GateError::new(INVALID_SQL, "the query does not type-check"))?;
    let total = totalize(analyzed).map_err(|e| setup("totalize", e))?;
    let LogicalPlan::Aggregate(agg) = total else {
        return Err(setup("shape", "the top node is no longer an aggregate"));
    };
    let plan_err = |e: datafusion::error::DataFusionError| setup("plan", e.strip_backtrace());
    let mc = i64::try_from(options.max_contribution).unwrap_or(i64::MAX);
    let u = Expr::Column(gated.unit_column.clone());

    // 1. Per unit and group.
    let mut groups = vec![u.clone().alias("__u")];
    for (i, (g, key)) in agg.group_expr.iter().zip(&gated.keys).enumerate() {
        let g = match g {
            Expr::Alias(a) => (*a.expr).clone(),
            g => g.clone(),
        };
        let g = if key.year {
            try_cast(g, DataType::Int64)
        } else {
            g
        };
        groups.push(g.alias(format!("__g{i}")));
    }
    let mut per_unit = Vec::new();
    let mut bounded = Vec::new();
    // The same values when each unit has at most one row: aggregates over
    // rows, in the order of `bounded`.
    let mut per_row = Vec::new();
    for (k, a) in gated.aggregates.iter().enumerate() {
        let original = match &agg.aggr_expr[a.index] {
            Expr::Alias(al) => (*al.expr).clone(),
            e => e.clone(),
        };
        let Expr::AggregateFunction(f) = &original else {
            return Err(setup("shape", "an aggregate is not an aggregate function"));
        };
        let filter = f.params.filter.clone();
        let arg = f.params.args.first().cloned().unwrap_or_else(|| lit(1i64));
        let c = format!("__c{k}");
        let s = format!("__s{k}");
        match a.kind {
            AggregateKind::Count => {
                per_row.push(original.clone());
                per_unit.push(original.clone().alias(&c));
                bounded.push(
                    case(vec![(column(&c).gt(lit(mc)), lit(mc))], column(&c))
                        .alias(format!("__b{k}_0")),
                );
            }
            AggregateKind::CountDistinctUnit => {
                per_row.push(aggregate(count_udaf(), u.clone(), filter.clone()));
                per_unit.push(aggregate(count_udaf(), u.clone(), filter).alias(&c));
                bounded.push(
                    case(vec![(column(&c).gt(lit(0i64)), lit(1i64))], lit(0i64))
                        .alias(format!("__b{k}_0")),
                );
            }
            AggregateKind::Sum { lower, upper } | AggregateKind::Avg { lower, upper } => {
                let clamped = clamp(try_cast(arg.clone(), DataType::Float64), lower, upper);
                let row_value = try_cast(
                    scalar(state, "round", vec![clamped.clone()])?,
                    DataType::Int64,
                );
                per_row.push(aggregate(sum_udaf(), row_value, filter.clone()));
                per_unit.push(aggregate(sum_udaf(), clamped, filter.clone()).alias(&s));
                let rounded = try_cast(scalar(state, "round", vec![column(&s)])?, DataType::Int64);
                // One unit adds at most `max_contribution` clamped values to
                // a group: its sum is kept within [mc·lower, mc·upper]
                // widened to 0, so a unit with fewer values (one year, 1950)
                // is not raised to mc·lower; |sum| ≤ mc·max(|lower|, |upper|)
                // either way, the sensitivity of the calibration.
                let (lo, hi) = (
                    mc.saturating_mul(lower).min(0),
                    mc.saturating_mul(upper).max(0),
                );
                bounded.push(
                    case(
                        vec![
                            (rounded.clone().is_null(), lit(0i64)),
                            (rounded.clone().lt(lit(lo)), lit(lo)),
                            (rounded.clone().gt(lit(hi)), lit(hi)),
                        ],
                        rounded,
                    )
                    .alias(format!("__b{k}_0")),
                );
                if matches!(a.kind, AggregateKind::Avg { .. }) {
                    per_row.push(aggregate(count_udaf(), arg.clone(), filter.clone()));
                    per_unit.push(aggregate(count_udaf(), arg, filter).alias(&c));
                    bounded.push(
                        case(vec![(column(&c).gt(lit(mc)), lit(mc))], column(&c))
                            .alias(format!("__b{k}_1")),
                    );
                }
            }
        }
    }
    let n_keys = gated.keys.len();
    let key_cols: Vec<Expr> = (0..n_keys).map(|i| column(&format!("__g{i}"))).collect();
    let output = |n_values: usize| -> Result<Vec<Expr>, AnalystError> {
        let mut output: Vec<Expr> = key_cols.clone();
        for m in 0..n_values {
            output.push(
                scalar(
                    state,
                    "coalesce",
                    vec![
                        try_cast(column(&format!("__t{m}")), DataType::Int64),
                        lit(0i64),
                    ],
                )?
                .alias(format!("__v{m}")),
            );
        }
        Ok(output)
    };
    if unit_plan == UnitPlan::OneRow {
        let n_values = per_row.len();
        let totals: Vec<Expr> = per_row
            .into_iter()
            .enumerate()
            .map(|(m, e)| e.alias(format!("__t{m}")))
            .collect();
        let out = output(n_values)?;
        return LogicalPlanBuilder::from(agg.input.as_ref().clone())
            .filter(u.is_not_null())
            .and_then(|b| b.aggregate(groups.into_iter().skip(1), totals))
            .and_then(|b| b.project(out))
            .and_then(|b| b.build())
            .map_err(plan_err);
    }

    // 2. Bound each unit's values.
    let value_names: Vec<String> = bounded
        .iter()
        .map(|e| e.schema_name().to_string())
        .collect();
    let totals: Vec<Expr> = value_names
        .iter()
        .enumerate()
        .map(|(m, n)| aggregate(sum_udaf(), column(n), None).alias(format!("__t{m}")))
        .collect();
    let out = output(value_names.len())?;
    let per_unit_plan = LogicalPlanBuilder::from(agg.input.as_ref().clone())
        .filter(u.is_not_null())
        .and_then(|b| b.aggregate(groups, per_unit))
        .map_err(plan_err)?;
    if unit_plan == UnitPlan::PerUnit {
        let mut projected = key_cols.clone();
        projected.extend(bounded);
        return per_unit_plan
            .project(projected)
            .and_then(|b| b.aggregate(key_cols, totals))
            .and_then(|b| b.project(out))
            .and_then(|b| b.build())
            .map_err(plan_err);
    }

    // 3. A keyed hash orders each unit's groups; keep the first
    //    `max_groups`.
    let mut hash_args = vec![lit(salt), try_cast(column("__u"), DataType::Utf8)];
    for k in &key_cols {
        hash_args.push(scalar(
            state,
            "coalesce",
            vec![try_cast(k.clone(), DataType::Utf8), lit("\u{0}null")],
        )?);
    }
    let hash = scalar(
        state,
        "sha256",
        vec![scalar(state, "concat_ws", {
            let mut a = vec![lit("\u{1f}")];
            a.extend(hash_args);
            a
        })?],
    )?;
    let mut projected = vec![column("__u")];
    projected.extend(key_cols.iter().cloned());
    projected.extend(bounded);
    projected.push(hash.alias("__h"));
    // A unit's rows are contiguous when sorted by (unit, hash), so a row
    // is among its unit's first `max_groups` exactly when the row
    // `max_groups` places earlier belongs to another unit (or there is
    // none). `lag` over coarse partitions (the unit's last two
    // characters) computes this; `row_number() OVER (PARTITION BY unit)`
    // gives the same rows but costs DataFusion per partition, and there
    // is one per unit (BENCHMARKS.md, "Analyst SQL").
    let max_groups = i64::try_from(options.max_groups).unwrap_or(i64::MAX);
    let bucket = scalar(
        state,
        "right",
        vec![try_cast(column("__u"), DataType::Utf8), lit(2i64)],
    )?;
    let earlier = lag(column("__u"), Some(max_groups), None)
        .partition_by(vec![bucket])
        .order_by(vec![
            column("__u").sort(true, false),
            column("__h").sort(true, false),
        ])
        .build()
        .map_err(plan_err)?
        .alias("__prev");
    let first_groups = Expr::BinaryExpr(BinaryExpr::new(
        Box::new(column("__prev")),
        Operator::IsDistinctFrom,
        Box::new(column("__u")),
    ));

    // 4. Sum the bounded values per group.
    per_unit_plan
        .project(projected)
        .and_then(|b| b.window(vec![earlier]))
        .and_then(|b| b.filter(first_groups))
        .and_then(|b| b.aggregate(key_cols, totals))
        .and_then(|b| b.project(out))
        .and_then(|b| b.build())
        .map_err(plan_err)
}

/// SHA-256 of the canonical plan text (salt masked) and the context.
pub(crate) fn fingerprint(
    plan: &LogicalPlan,
    salt: &str,
    options: &AnalystOptions,
    peildatum: NaiveDate,
    scope: &[String],
    snapshots: &BTreeMap<knooppunt_core::Source, String>,
) -> String {
    let text = plan.display_indent().to_string().replace(salt, "<salt>");
    let mut h = Sha256::new();
    h.update(b"knooppunt analyst plan v1\n");
    h.update(text.as_bytes());
    h.update(
        format!(
            "\nmax_groups={}\nmax_contribution={}\npeildatum={peildatum}\nscope={}\n",
            options.max_groups,
            options.max_contribution,
            scope.join(",")
        )
        .as_bytes(),
    );
    for (source, snapshot) in snapshots {
        h.update(format!("{}={snapshot}\n", source.name()).as_bytes());
    }
    hex::encode(h.finalize())
}
