//! The gate: checks an analyst's logical plan against the allow-list of
//! PRIVACY.md ("Analyst SQL") and extracts what the rewrite needs.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::common::{Column, DFSchema, DFSchemaRef, ScalarValue, SchemaError};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Expr, JoinType, LogicalPlan, Operator, SubqueryAlias};
use knooppunt_core::PrivacyUnit;

use super::catalog::{AnalystColumn, AnalystTable, DomainSpec, unit_strength};
use super::rules::*;
use super::{AggregateKind, AnalystSession, GateError};

/// A group key as the gate sees it.
#[derive(Debug, Clone)]
pub(crate) struct KeyGate {
    pub(crate) name: String,
    pub(crate) domain: DomainSpec,
    /// A year key: cast to an integer so it prints as in the domain.
    pub(crate) year: bool,
}

/// An aggregate output as the gate sees it.
#[derive(Debug, Clone)]
pub(crate) struct AggGate {
    pub(crate) name: String,
    pub(crate) kind: AggregateKind,
    /// Index in the aggregate's `aggr_expr`.
    pub(crate) index: usize,
}

/// What the rewrite needs of an allowed query.
#[derive(Debug, Clone)]
pub(crate) struct Gated {
    /// The top aggregate node (unanalysed).
    pub(crate) aggregate: LogicalPlan,
    pub(crate) unit: PrivacyUnit,
    /// The unit column in the aggregate's input schema.
    pub(crate) unit_column: Column,
    pub(crate) tables: Vec<String>,
    pub(crate) columns: Vec<String>,
    /// In GROUP BY order.
    pub(crate) keys: Vec<KeyGate>,
    /// In output order.
    pub(crate) aggregates: Vec<AggGate>,
    /// `Some(factors)`: one unit reaches at most Π m(table, column) rows of
    /// the aggregate's input, where m is the most rows one non-NULL value
    /// of the column has in the session's data (at least 1); factors may
    /// repeat, sorted. `None`: not bounded by the plan.
    pub(crate) rows_per_unit: Option<Vec<(&'static str, &'static str)>>,
}

/// Where a column of a node's output comes from, when it is a table
/// column passed through unchanged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ColInfo {
    /// (instance, column index in its table).
    origin: Option<(usize, usize)>,
}

/// A relation below the top aggregate.
struct Rel {
    cols: Vec<ColInfo>,
    /// Cross joins still waiting for an equality in a filter above.
    pending: Vec<(DFSchemaRef, DFSchemaRef)>,
    /// Per output position: table columns (origins) whose multiplicities
    /// multiply to a bound on the rows one non-NULL value of the position
    /// has. Absent: unbounded (an expression, or not traced).
    rows_per_value: BTreeMap<usize, Vec<(usize, usize)>>,
}

impl Rel {
    /// A relation with `cols` and no bounds.
    fn plain(cols: Vec<ColInfo>) -> Rel {
        Rel {
            cols,
            pending: Vec::new(),
            rows_per_value: BTreeMap::new(),
        }
    }
}

fn refuse<T>(rule: &'static str, message: &str) -> Result<T, GateError> {
    Err(GateError::new(rule, message))
}

/// Maps a planning error to a refusal without values or literals.
pub(crate) fn plan_error(e: &DataFusionError) -> GateError {
    let root = e.find_root();
    if let DataFusionError::SchemaError(schema_error, _) = root
        && let SchemaError::FieldNotFound { field, .. } = schema_error.as_ref()
    {
        if field.name == "record_key" {
            return GateError::new(RECORD_KEY, "record_key is never available to analysts");
        }
        return GateError::new(
            UNKNOWN_COLUMN,
            format!("column `{}` is not in the analyst tables", field.name),
        );
    }
    if let DataFusionError::SchemaError(schema_error, _) = root
        && let SchemaError::AmbiguousReference { .. } = schema_error.as_ref()
    {
        return GateError::new(INVALID_SQL, "an ambiguous column reference: qualify it");
    }
    if let DataFusionError::Plan(msg) = root {
        if msg.starts_with("table '") && msg.contains("not found") {
            return GateError::new(UNKNOWN_TABLE, "a table is not in the analyst catalogue");
        }
        if msg.contains("information_schema") {
            return GateError::new(STATEMENT, "only SELECT queries are allowed");
        }
    }
    if let DataFusionError::NotImplemented(msg) = root
        && (msg.contains("statement") || msg.contains("Statement"))
    {
        return GateError::new(STATEMENT, "only SELECT queries are allowed");
    }
    GateError::new(
        INVALID_SQL,
        "the query does not parse or plan (syntax, types, GROUP BY)",
    )
}

/// Refuses plans that are not queries.
pub(crate) fn check_statement(plan: &LogicalPlan) -> Result<(), GateError> {
    match plan {
        LogicalPlan::Ddl(_)
        | LogicalPlan::Dml(_)
        | LogicalPlan::Statement(_)
        | LogicalPlan::Copy(_)
        | LogicalPlan::Explain(_)
        | LogicalPlan::Analyze(_)
        | LogicalPlan::DescribeTable(_) => refuse(STATEMENT, "only SELECT queries are allowed"),
        _ => Ok(()),
    }
}

/// What a column of the chain above the aggregate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutKind {
    Key(usize),
    Agg(usize),
}

/// Checks `plan` and returns what the rewrite needs.
pub(crate) fn gate(plan: &LogicalPlan, session: &AnalystSession) -> Result<Gated, GateError> {
    check_statement(plan)?;
    let mut g = Gate {
        session,
        instances: Vec::new(),
        equalities: Vec::new(),
        touched: BTreeSet::new(),
    };
    // The chain of nodes above the top aggregate.
    let mut chain: Vec<&LogicalPlan> = Vec::new();
    let mut node = plan;
    let aggregate = loop {
        match node {
            LogicalPlan::Projection(p) => {
                chain.push(node);
                node = &p.input;
            }
            LogicalPlan::SubqueryAlias(s) if g.view_of(s).is_none() => {
                chain.push(node);
                node = &s.input;
            }
            LogicalPlan::Sort(s) => {
                if s.fetch.is_some() {
                    return refuse(ORDER_LIMIT, "LIMIT and OFFSET are not allowed");
                }
                chain.push(node);
                node = &s.input;
            }
            LogicalPlan::Limit(_) => {
                return refuse(ORDER_LIMIT, "LIMIT and OFFSET are not allowed");
            }
            LogicalPlan::Window(_) => {
                return refuse(WINDOW_FUNCTION, "window functions are not allowed");
            }
            LogicalPlan::Filter(f) => {
                chain.push(node);
                node = &f.input;
            }
            LogicalPlan::Distinct(d) => {
                chain.push(node);
                node = d.input();
            }
            LogicalPlan::Aggregate(a) => break Some(a),
            _ => break None,
        }
    };
    let Some(aggregate) = aggregate else {
        return g.not_aggregated(&chain, node);
    };
    for n in &chain {
        match n {
            LogicalPlan::Filter(_) => {
                return refuse(
                    HAVING,
                    "filters over aggregate results (HAVING) are not allowed",
                );
            }
            LogicalPlan::Distinct(_) => {
                return refuse(NESTED_AGGREGATE, "DISTINCT over aggregates is not allowed");
            }
            _ => {}
        }
    }

    // Below the aggregate.
    let rel = g.walk(&aggregate.input)?;
    if !rel.pending.is_empty() {
        return refuse(
            JOIN_NOT_ALLOWED,
            "joins need an equality of columns (JOIN … ON a = b)",
        );
    }
    let unit = g.unit()?;
    let in_schema = aggregate.input.schema();
    let unit_column = g.unit_column(unit, in_schema, &rel.cols)?;
    let rows_per_unit = in_schema
        .index_of_column(&unit_column)
        .ok()
        .and_then(|i| rel.rows_per_value.get(&i))
        .map(|factors| {
            let mut named: Vec<(&'static str, &'static str)> = factors
                .iter()
                .map(|&o| {
                    let (t, c) = g.column(o);
                    (t.name, c.name)
                })
                .collect();
            named.sort_unstable();
            named
        });

    // The aggregate itself.
    let mut key_domains = Vec::new();
    for e in &aggregate.group_expr {
        if matches!(e, Expr::GroupingSet(_)) {
            return refuse(
                AGGREGATE_NOT_ALLOWED,
                "ROLLUP, CUBE and GROUPING SETS are not allowed",
            );
        }
        for c in e.column_refs() {
            let info = g.info(c, in_schema, &rel.cols)?;
            if g.tainted(info) {
                return refuse(
                    IDENTIFIER_GROUPED,
                    "identifier columns cannot be group keys",
                );
            }
        }
        g.check_expr(e, in_schema, &rel.cols)?;
        key_domains.push(g.key_domain(e, in_schema, &rel.cols)?);
    }
    let mut agg_kinds = Vec::new();
    for e in &aggregate.aggr_expr {
        agg_kinds.push(g.aggregate_kind(e, unit, in_schema, &rel.cols)?);
    }
    if aggregate.aggr_expr.is_empty() {
        return refuse(
            NOT_AGGREGATED,
            "a query must compute at least one aggregate",
        );
    }

    // The chain above: outputs are group keys and aggregates themselves.
    let n_keys = aggregate.group_expr.len();
    let mut kinds: Vec<OutKind> = (0..n_keys)
        .map(OutKind::Key)
        .chain((0..aggregate.aggr_expr.len()).map(OutKind::Agg))
        .collect();
    let mut schema = &aggregate.schema;
    for n in chain.iter().rev() {
        match n {
            LogicalPlan::Projection(p) => {
                let mut out = Vec::with_capacity(p.expr.len());
                for e in &p.expr {
                    let Expr::Column(c) = strip_alias(e) else {
                        return refuse(
                            OUTPUT_EXPRESSION,
                            "outputs must be group keys or aggregates, not expressions over them",
                        );
                    };
                    let i = schema
                        .index_of_column(c)
                        .map_err(|_| GateError::new(INVALID_SQL, "an output does not resolve"))?;
                    out.push(kinds[i]);
                }
                kinds = out;
                schema = &p.schema;
            }
            LogicalPlan::Sort(s) => {
                for se in &s.expr {
                    let ok = match strip_alias(&se.expr) {
                        Expr::Column(c) => schema
                            .index_of_column(c)
                            .is_ok_and(|i| matches!(kinds[i], OutKind::Key(_))),
                        _ => false,
                    };
                    if !ok {
                        return refuse(ORDER_LIMIT, "ORDER BY is only allowed over group keys");
                    }
                }
            }
            LogicalPlan::SubqueryAlias(s) => schema = &s.schema,
            _ => return refuse(NOT_AGGREGATED, "unexpected node above the aggregate"),
        }
    }
    let out_schema = plan.schema();
    let mut key_names: Vec<Option<String>> = vec![None; n_keys];
    let mut aggregates = Vec::new();
    for (i, k) in kinds.iter().enumerate() {
        let name = out_schema.field(i).name().clone();
        match *k {
            OutKind::Key(j) => {
                key_names[j].get_or_insert(name);
            }
            OutKind::Agg(j) => aggregates.push(AggGate {
                name,
                kind: agg_kinds[j],
                index: j,
            }),
        }
    }
    if aggregates.is_empty() {
        return refuse(NOT_AGGREGATED, "a query must output at least one aggregate");
    }
    let keys = key_domains
        .into_iter()
        .enumerate()
        .map(|(i, (domain, year))| KeyGate {
            name: key_names[i]
                .clone()
                .unwrap_or_else(|| aggregate.schema.field(i).name().clone()),
            domain,
            year,
        })
        .collect();
    let mut tables: Vec<String> = g.instances.iter().map(|t| t.name.to_string()).collect();
    tables.sort();
    tables.dedup();
    Ok(Gated {
        aggregate: LogicalPlan::Aggregate(aggregate.clone()),
        unit,
        unit_column,
        tables,
        columns: g.touched.into_iter().collect(),
        keys,
        aggregates,
        rows_per_unit,
    })
}

fn strip_alias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => strip_alias(&a.expr),
        e => e,
    }
}

/// `a = b` of two columns, if `e` is one.
fn column_equality(e: &Expr) -> Option<(&Column, &Column)> {
    if let Expr::BinaryExpr(b) = e
        && matches!(b.op, Operator::Eq | Operator::IsNotDistinctFrom)
        && let (Expr::Column(l), Expr::Column(r)) = (strip_alias(&b.left), strip_alias(&b.right))
    {
        return Some((l, r));
    }
    None
}

struct Gate<'a> {
    session: &'a AnalystSession,
    instances: Vec<&'a AnalystTable>,
    /// Equalities `a = b` between table columns (origins) that hold on
    /// every row above where they were found.
    equalities: Vec<((usize, usize), (usize, usize))>,
    touched: BTreeSet<String>,
}

/// Scalar functions an analyst may use: total on every input, or made
/// total by the rewrite, with their literal-argument checks.
const ALLOWED_FUNCTIONS: &[&str] = &[
    "date_part",
    "datepart",
    "date_trunc",
    "datetrunc",
    "upper",
    "lower",
    "trim",
    "btrim",
    "ltrim",
    "rtrim",
    "length",
    "char_length",
    "character_length",
    "octet_length",
    "concat",
    "substr",
    "substring",
    "coalesce",
    "nullif",
    "nvl",
    "ifnull",
    "abs",
    "round",
    "floor",
    "ceil",
    "trunc",
    "signum",
    "greatest",
    "least",
];
const DATE_PARTS: &[&str] = &[
    "year", "quarter", "month", "week", "day", "dow", "doy", "isoyear",
];
const DATE_TRUNCS: &[&str] = &["year", "quarter", "month", "week", "day"];

fn literal_str(e: &Expr) -> Option<String> {
    match strip_alias(e) {
        Expr::Literal(v, _) => v.try_as_str().flatten().map(str::to_lowercase),
        _ => None,
    }
}

fn literal_int(e: &Expr) -> Option<i64> {
    match strip_alias(e) {
        Expr::Literal(v, _) if !v.is_null() => {
            match v.cast_to(&datafusion::arrow::datatypes::DataType::Int64) {
                Ok(ScalarValue::Int64(Some(i))) => Some(i),
                _ => None,
            }
        }
        _ => None,
    }
}

impl<'a> Gate<'a> {
    fn view_of(&self, s: &SubqueryAlias) -> Option<&'a AnalystTable> {
        let name = s.alias.table();
        let view = self.session.views.get(name)?;
        (s.input.as_ref() == view)
            .then(|| self.session.catalog.table(name))
            .flatten()
    }

    fn column(&self, origin: (usize, usize)) -> (&'a AnalystTable, &'a AnalystColumn) {
        let t = self.instances[origin.0];
        (t, &t.columns[origin.1])
    }

    fn tainted(&self, info: ColInfo) -> bool {
        info.origin.is_some_and(|o| self.column(o).1.identifier)
    }

    fn info(
        &mut self,
        c: &Column,
        schema: &DFSchema,
        cols: &[ColInfo],
    ) -> Result<ColInfo, GateError> {
        let i = schema
            .index_of_column(c)
            .map_err(|_| GateError::new(UNKNOWN_COLUMN, "a column does not resolve"))?;
        let info = cols
            .get(i)
            .copied()
            .ok_or_else(|| GateError::new(INVALID_SQL, "a column does not resolve"))?;
        if let Some(o) = info.origin {
            let (t, col) = self.column(o);
            self.touched.insert(format!("{}.{}", t.name, col.name));
        }
        Ok(info)
    }

    /// The strongest privacy unit among the tables read.
    fn unit(&self) -> Result<PrivacyUnit, GateError> {
        self.instances
            .iter()
            .filter_map(|t| t.unit)
            .max_by_key(|u| unit_strength(*u))
            .ok_or_else(|| {
                GateError::new(
                    UNIT_NOT_TRACEABLE,
                    "the query reads no table with a privacy unit",
                )
            })
    }

    /// The unit column reaching the aggregate; every table of the unit
    /// must be joined to the others on it.
    fn unit_column(
        &self,
        unit: PrivacyUnit,
        schema: &DFSchema,
        cols: &[ColInfo],
    ) -> Result<Column, GateError> {
        let unit_origin = |i: usize| -> Option<(usize, usize)> {
            let t = self.instances[i];
            if t.unit != Some(unit) {
                return None;
            }
            let name = t.unit_column?;
            t.columns
                .iter()
                .position(|c| c.name == name)
                .map(|c| (i, c))
        };
        let unit_instances: Vec<(usize, usize)> =
            (0..self.instances.len()).filter_map(unit_origin).collect();
        // Union-find over unit columns equated by joins or filters.
        let mut parent: Vec<usize> = (0..self.instances.len()).collect();
        fn find(p: &mut [usize], mut x: usize) -> usize {
            while p[x] != x {
                p[x] = p[p[x]];
                x = p[x];
            }
            x
        }
        for (a, b) in &self.equalities {
            if unit_instances.contains(a) && unit_instances.contains(b) {
                let (ra, rb) = (find(&mut parent, a.0), find(&mut parent, b.0));
                parent[ra] = rb;
            }
        }
        let roots: BTreeSet<usize> = unit_instances
            .iter()
            .map(|(i, _)| find(&mut parent, *i))
            .collect();
        if roots.len() > 1 {
            return refuse(
                UNIT_NOT_TRACEABLE,
                "tables of the query's privacy unit must be joined on its unit column",
            );
        }
        for (i, info) in cols.iter().enumerate() {
            if let Some(o) = info.origin
                && unit_instances.contains(&o)
            {
                return Ok(Column::from(schema.qualified_field(i)));
            }
        }
        refuse(
            UNIT_NOT_TRACEABLE,
            "the unit column of the query's privacy unit does not reach the aggregate",
        )
    }

    fn key_domain(
        &mut self,
        e: &Expr,
        schema: &DFSchema,
        cols: &[ColInfo],
    ) -> Result<(DomainSpec, bool), GateError> {
        match strip_alias(e) {
            Expr::Column(c) => {
                let info = self.info(c, schema, cols)?;
                Ok(info.origin.map_or((DomainSpec::Private, false), |o| {
                    let d = self.column(o).1.domain;
                    (d, matches!(d, DomainSpec::Years(..)))
                }))
            }
            Expr::ScalarFunction(f)
                if matches!(f.name(), "date_part" | "datepart")
                    && f.args.len() == 2
                    && literal_str(&f.args[0]).as_deref() == Some("year") =>
            {
                if let Expr::Column(c) = strip_alias(&f.args[1]) {
                    let info = self.info(c, schema, cols)?;
                    if let Some(o) = info.origin
                        && let Some((lo, hi)) = self.column(o).1.date_years
                    {
                        return Ok((DomainSpec::Years(lo, hi), true));
                    }
                }
                Ok((DomainSpec::Private, false))
            }
            _ => Ok((DomainSpec::Private, false)),
        }
    }

    fn aggregate_kind(
        &mut self,
        e: &Expr,
        unit: PrivacyUnit,
        schema: &DFSchema,
        cols: &[ColInfo],
    ) -> Result<AggregateKind, GateError> {
        let Expr::AggregateFunction(AggregateFunction { func, params }) = strip_alias(e) else {
            return refuse(AGGREGATE_NOT_ALLOWED, "only COUNT, SUM and AVG are allowed");
        };
        if !params.order_by.is_empty() {
            return refuse(AGGREGATE_NOT_ALLOWED, "ordered aggregates are not allowed");
        }
        if let Some(f) = &params.filter {
            self.check_expr(f, schema, cols)?;
        }
        let name = func.name().to_lowercase();
        let [arg] = params.args.as_slice() else {
            return refuse(AGGREGATE_NOT_ALLOWED, "aggregates take one argument");
        };
        match name.as_str() {
            "count" if params.distinct => {
                if let Expr::Column(c) = strip_alias(arg) {
                    let info = self.info(c, schema, cols)?;
                    if let Some(o) = info.origin {
                        let (t, col) = self.column(o);
                        if t.unit == Some(unit) && t.unit_column == Some(col.name) {
                            return Ok(AggregateKind::CountDistinctUnit);
                        }
                    }
                }
                refuse(
                    AGGREGATE_NOT_ALLOWED,
                    "COUNT(DISTINCT …) is only allowed over the query's privacy-unit column",
                )
            }
            "count" => {
                match strip_alias(arg) {
                    Expr::Column(c) => {
                        self.info(c, schema, cols)?;
                    }
                    a => self.check_expr(a, schema, cols)?,
                }
                Ok(AggregateKind::Count)
            }
            "sum" | "avg" if !params.distinct => {
                if let Expr::Column(c) = strip_alias(arg) {
                    let info = self.info(c, schema, cols)?;
                    if let Some(o) = info.origin
                        && let Some((lower, upper)) = self.column(o).1.bounds
                    {
                        return Ok(if name == "sum" {
                            AggregateKind::Sum { lower, upper }
                        } else {
                            AggregateKind::Avg { lower, upper }
                        });
                    }
                }
                refuse(
                    AGGREGATE_NOT_ALLOWED,
                    "SUM and AVG are only allowed over a numeric column with declared bounds",
                )
            }
            _ => refuse(
                AGGREGATE_NOT_ALLOWED,
                "only COUNT(*), COUNT(col), COUNT(DISTINCT unit), SUM and AVG are allowed",
            ),
        }
    }

    /// Outputs of a query without aggregate: refused either way, naming
    /// identifiers first.
    fn not_aggregated(
        &mut self,
        chain: &[&LogicalPlan],
        bottom: &LogicalPlan,
    ) -> Result<Gated, GateError> {
        let rel = self.walk(bottom)?;
        let mut cols = rel.cols;
        let mut schema = bottom.schema();
        for n in chain.iter().rev() {
            if let LogicalPlan::Projection(p) = n {
                let mut out = Vec::new();
                for e in &p.expr {
                    let mut tainted = false;
                    for c in e.column_refs() {
                        let info = self.info(c, schema, &cols)?;
                        tainted |= self.tainted(info);
                    }
                    out.push(ColInfo { origin: None });
                    if tainted {
                        return refuse(IDENTIFIER_OUTPUT, "identifier columns cannot be output");
                    }
                }
                cols = out;
            }
            schema = n.schema();
        }
        if cols.iter().any(|c| self.tainted(*c)) {
            return refuse(IDENTIFIER_OUTPUT, "identifier columns cannot be output");
        }
        refuse(NOT_AGGREGATED, "only aggregated results are allowed")
    }

    fn walk(&mut self, plan: &LogicalPlan) -> Result<Rel, GateError> {
        match plan {
            LogicalPlan::SubqueryAlias(s) => {
                if let Some(t) = self.view_of(s) {
                    let instance = self.instances.len();
                    self.instances.push(t);
                    let cols = s
                        .schema
                        .fields()
                        .iter()
                        .map(|f| ColInfo {
                            origin: t
                                .columns
                                .iter()
                                .position(|c| c.name == f.name())
                                .map(|c| (instance, c)),
                        })
                        .collect::<Vec<ColInfo>>();
                    let rows_per_value = cols
                        .iter()
                        .enumerate()
                        .filter_map(|(p, c)| c.origin.map(|o| (p, vec![o])))
                        .collect();
                    return Ok(Rel {
                        rows_per_value,
                        ..Rel::plain(cols)
                    });
                }
                let rel = self.walk(&s.input)?;
                no_pending(&rel)?;
                Ok(rel)
            }
            LogicalPlan::Projection(p) => {
                let rel = self.walk(&p.input)?;
                no_pending(&rel)?;
                let schema = p.input.schema();
                let mut cols = Vec::with_capacity(p.expr.len());
                let mut rows_per_value = BTreeMap::new();
                for (out, e) in p.expr.iter().enumerate() {
                    match strip_alias(e) {
                        Expr::Column(c) => {
                            cols.push(self.info(c, schema, &rel.cols)?);
                            if let Some(f) = schema
                                .index_of_column(c)
                                .ok()
                                .and_then(|i| rel.rows_per_value.get(&i))
                            {
                                rows_per_value.insert(out, f.clone());
                            }
                        }
                        e => {
                            self.check_expr(e, schema, &rel.cols)?;
                            cols.push(ColInfo::default());
                        }
                    }
                }
                Ok(Rel {
                    rows_per_value,
                    ..Rel::plain(cols)
                })
            }
            LogicalPlan::Filter(f) => {
                let rel = self.walk(&f.input)?;
                let schema = f.input.schema();
                self.check_expr(&f.predicate, schema, &rel.cols)?;
                let conjuncts = split_conjunction(&f.predicate);
                self.record_equalities(&conjuncts, schema, &rel.cols)?;
                for (ls, rs) in &rel.pending {
                    if !links(&conjuncts, ls, rs) {
                        return refuse(
                            JOIN_NOT_ALLOWED,
                            "joins need an equality of columns (JOIN … ON a = b)",
                        );
                    }
                }
                Ok(Rel {
                    pending: Vec::new(),
                    ..rel
                })
            }
            LogicalPlan::Join(j) => {
                match j.join_type {
                    JoinType::Inner | JoinType::Left | JoinType::Right | JoinType::Full => {}
                    _ => return refuse(SUBQUERY, "semi-, anti- and mark joins are not allowed"),
                }
                let left = self.walk(&j.left)?;
                let right = self.walk(&j.right)?;
                let rows_per_value = join_rows_per_value(j, &left, &right);
                let mut cols = left.cols;
                cols.extend(right.cols);
                if cols.len() != j.schema.fields().len() {
                    return refuse(JOIN_NOT_ALLOWED, "this join form is not supported");
                }
                let schema = &j.schema;
                for (l, r) in &j.on {
                    let pair = (strip_alias(l), strip_alias(r));
                    if let (Expr::Column(a), Expr::Column(b)) = pair {
                        let ia = self.info(a, schema, &cols)?;
                        let ib = self.info(b, schema, &cols)?;
                        if self.tainted(ia) != self.tainted(ib) {
                            return refuse(
                                IDENTIFIER_LITERAL,
                                "identifiers can only be joined to identifiers",
                            );
                        }
                        if let (Some(x), Some(y)) = (ia.origin, ib.origin) {
                            self.equalities.push((x, y));
                        }
                    } else {
                        self.check_expr(l, schema, &cols)?;
                        self.check_expr(r, schema, &cols)?;
                    }
                }
                let mut equi = !j.on.is_empty();
                if let Some(f) = &j.filter {
                    self.check_expr(f, schema, &cols)?;
                    let conjuncts = split_conjunction(f);
                    self.record_equalities(&conjuncts, schema, &cols)?;
                    equi |= links(&conjuncts, j.left.schema(), j.right.schema());
                }
                let mut pending = left.pending;
                pending.extend(right.pending);
                if !equi {
                    if j.join_type == JoinType::Inner && j.filter.is_none() {
                        pending.push((j.left.schema().clone(), j.right.schema().clone()));
                    } else {
                        return refuse(
                            JOIN_NOT_ALLOWED,
                            "joins need an equality of columns (JOIN … ON a = b)",
                        );
                    }
                }
                Ok(Rel {
                    cols,
                    pending,
                    rows_per_value,
                })
            }
            LogicalPlan::TableScan(_) | LogicalPlan::EmptyRelation(_) | LogicalPlan::Values(_) => {
                refuse(UNKNOWN_TABLE, "only the analyst tables can be read")
            }
            LogicalPlan::Aggregate(_) | LogicalPlan::Distinct(_) => refuse(
                NESTED_AGGREGATE,
                "only one aggregate, at the top of the query, is allowed",
            ),
            LogicalPlan::Window(_) => refuse(WINDOW_FUNCTION, "window functions are not allowed"),
            LogicalPlan::Sort(_) | LogicalPlan::Limit(_) => refuse(
                ORDER_LIMIT,
                "ORDER BY, LIMIT and OFFSET are not allowed below the aggregate",
            ),
            LogicalPlan::Union(_) | LogicalPlan::RecursiveQuery(_) => refuse(
                SET_OPERATION,
                "UNION, INTERSECT, EXCEPT and recursive queries are not allowed",
            ),
            LogicalPlan::Subquery(_) => refuse(SUBQUERY, "subqueries are not allowed"),
            LogicalPlan::Unnest(_) => refuse(FUNCTION_NOT_ALLOWED, "UNNEST is not allowed"),
            _ => refuse(STATEMENT, "only SELECT queries are allowed"),
        }
    }

    fn record_equalities(
        &mut self,
        conjuncts: &[&Expr],
        schema: &DFSchema,
        cols: &[ColInfo],
    ) -> Result<(), GateError> {
        for e in conjuncts {
            if let Some((a, b)) = column_equality(e) {
                let ia = self.info(a, schema, cols)?;
                let ib = self.info(b, schema, cols)?;
                if let (Some(x), Some(y)) = (ia.origin, ib.origin) {
                    self.equalities.push((x, y));
                }
            }
        }
        Ok(())
    }

    /// Checks one expression below (or in) the top aggregate: allowed
    /// functions and operators, identifiers only in `col = col` and
    /// `IS [NOT] NULL`.
    fn check_expr(
        &mut self,
        e: &Expr,
        schema: &DFSchema,
        cols: &[ColInfo],
    ) -> Result<(), GateError> {
        let identifier_literal = || {
            refuse(
                IDENTIFIER_LITERAL,
                "identifier columns can only be joined (a = b), counted or tested for NULL",
            )
        };
        match e {
            Expr::Alias(a) => self.check_expr(&a.expr, schema, cols),
            Expr::Column(c) => {
                let info = self.info(c, schema, cols)?;
                if self.tainted(info) {
                    return identifier_literal();
                }
                Ok(())
            }
            Expr::Literal(..) => Ok(()),
            Expr::BinaryExpr(b) => {
                if let Some((l, r)) = column_equality(e) {
                    let il = self.info(l, schema, cols)?;
                    let ir = self.info(r, schema, cols)?;
                    return match (self.tainted(il), self.tainted(ir)) {
                        (false, false) | (true, true) => Ok(()),
                        _ => identifier_literal(),
                    };
                }
                use Operator::*;
                match b.op {
                    Eq | NotEq | Lt | LtEq | Gt | GtEq | Plus | Minus | Multiply | Divide
                    | Modulo | And | Or | IsDistinctFrom | IsNotDistinctFrom | StringConcat
                    | LikeMatch | ILikeMatch | NotLikeMatch | NotILikeMatch => {}
                    _ => {
                        return refuse(FUNCTION_NOT_ALLOWED, "this operator is not allowed");
                    }
                }
                self.check_expr(&b.left, schema, cols)?;
                self.check_expr(&b.right, schema, cols)
            }
            Expr::IsNull(inner) | Expr::IsNotNull(inner) => match strip_alias(inner) {
                Expr::Column(c) => self.info(c, schema, cols).map(|_| ()),
                inner => self.check_expr(inner, schema, cols),
            },
            Expr::Not(inner)
            | Expr::IsTrue(inner)
            | Expr::IsFalse(inner)
            | Expr::IsUnknown(inner)
            | Expr::IsNotTrue(inner)
            | Expr::IsNotFalse(inner)
            | Expr::IsNotUnknown(inner)
            | Expr::Negative(inner) => self.check_expr(inner, schema, cols),
            Expr::Between(b) => {
                self.check_expr(&b.expr, schema, cols)?;
                self.check_expr(&b.low, schema, cols)?;
                self.check_expr(&b.high, schema, cols)
            }
            Expr::Like(l) => {
                self.check_expr(&l.expr, schema, cols)?;
                self.check_expr(&l.pattern, schema, cols)
            }
            Expr::Case(c) => {
                if let Some(x) = &c.expr {
                    self.check_expr(x, schema, cols)?;
                }
                for (w, t) in &c.when_then_expr {
                    self.check_expr(w, schema, cols)?;
                    self.check_expr(t, schema, cols)?;
                }
                if let Some(x) = &c.else_expr {
                    self.check_expr(x, schema, cols)?;
                }
                Ok(())
            }
            Expr::Cast(c) => self.check_expr(&c.expr, schema, cols),
            Expr::TryCast(c) => self.check_expr(&c.expr, schema, cols),
            Expr::InList(l) => {
                self.check_expr(&l.expr, schema, cols)?;
                for x in &l.list {
                    self.check_expr(x, schema, cols)?;
                }
                Ok(())
            }
            Expr::ScalarFunction(f) => {
                let name = f.name();
                if !ALLOWED_FUNCTIONS.contains(&name) {
                    return refuse(FUNCTION_NOT_ALLOWED, "this function is not allowed");
                }
                let bad_literal = || {
                    refuse(
                        FUNCTION_NOT_ALLOWED,
                        "this function needs a literal argument from its allowed set",
                    )
                };
                let first_in = |set: &[&str]| {
                    f.args
                        .first()
                        .and_then(literal_str)
                        .is_some_and(|s| set.contains(&s.as_str()))
                };
                let literal_ok = match name {
                    "date_part" | "datepart" => first_in(DATE_PARTS),
                    "date_trunc" | "datetrunc" => first_in(DATE_TRUNCS),
                    "substr" | "substring" => {
                        f.args.len() >= 2
                            && literal_int(&f.args[1]).is_some()
                            && f.args
                                .get(2)
                                .is_none_or(|n| literal_int(n).is_some_and(|n| n >= 0))
                    }
                    "round" | "trunc" => f
                        .args
                        .get(1)
                        .is_none_or(|n| literal_int(n).is_some_and(|n| (-20..=20).contains(&n))),
                    _ => true,
                };
                if !literal_ok {
                    return bad_literal();
                }
                for a in &f.args {
                    self.check_expr(a, schema, cols)?;
                }
                Ok(())
            }
            Expr::AggregateFunction(_) => refuse(
                NESTED_AGGREGATE,
                "aggregates are only allowed in the top aggregate",
            ),
            Expr::WindowFunction(_) => refuse(WINDOW_FUNCTION, "window functions are not allowed"),
            Expr::Exists(_)
            | Expr::InSubquery(_)
            | Expr::SetComparison(_)
            | Expr::ScalarSubquery(_)
            | Expr::OuterReferenceColumn(..) => refuse(SUBQUERY, "subqueries are not allowed"),
            Expr::GroupingSet(_) => refuse(
                AGGREGATE_NOT_ALLOWED,
                "ROLLUP, CUBE and GROUPING SETS are not allowed",
            ),
            Expr::ScalarVariable(..) | Expr::Placeholder(_) => {
                refuse(INVALID_SQL, "parameters and variables are not allowed")
            }
            _ => refuse(FUNCTION_NOT_ALLOWED, "this expression is not allowed"),
        }
    }
}

fn no_pending(rel: &Rel) -> Result<(), GateError> {
    if rel.pending.is_empty() {
        Ok(())
    } else {
        refuse(
            JOIN_NOT_ALLOWED,
            "joins need an equality of columns (JOIN … ON a = b)",
        )
    }
}

/// Whether some conjunct equates a column of `left` with one of `right`.
fn links(conjuncts: &[&Expr], left: &DFSchema, right: &DFSchema) -> bool {
    conjuncts.iter().any(|e| {
        column_equality(e).is_some_and(|(a, b)| {
            (left.has_column(a) && right.has_column(b))
                || (left.has_column(b) && right.has_column(a))
        })
    })
}

/// `a = b` of two columns (not `IS NOT DISTINCT FROM`: NULLs must not
/// match), if `e` is one.
fn strict_column_equality(e: &Expr) -> Option<(&Column, &Column)> {
    match e {
        Expr::BinaryExpr(b) if b.op == Operator::Eq => column_equality(e),
        _ => None,
    }
}

/// The row bounds of a join's output (see [`Rel::rows_per_value`]). Each
/// row of one side meets at most as many rows of the other as one value of
/// the other side's join column has there (or none, and an outer join
/// keeps the row once: multiplicities count at least 1), so a value of
/// the first side has at most its own bound times that many rows. Join
/// columns are equated with `=` (NULLs never match); of several, the one
/// with the fewest factors is used.
fn join_rows_per_value(
    j: &datafusion::logical_expr::Join,
    left: &Rel,
    right: &Rel,
) -> BTreeMap<usize, Vec<(usize, usize)>> {
    let (ls, rs) = (j.left.schema(), j.right.schema());
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let mut add = |a: &Column, b: &Column| {
        if let (Ok(l), Ok(r)) = (ls.index_of_column(a), rs.index_of_column(b)) {
            pairs.push((l, r));
        } else if let (Ok(l), Ok(r)) = (ls.index_of_column(b), rs.index_of_column(a)) {
            pairs.push((l, r));
        }
    };
    if j.null_equality == datafusion::common::NullEquality::NullEqualsNothing {
        for (l, r) in &j.on {
            if let (Expr::Column(a), Expr::Column(b)) = (strip_alias(l), strip_alias(r)) {
                add(a, b);
            }
        }
    }
    if let Some(f) = &j.filter {
        for e in split_conjunction(f) {
            if let Some((a, b)) = strict_column_equality(e) {
                add(a, b);
            }
        }
    }
    // The fewest factors of the other side over the join pairs.
    let fewest = |side: &Rel, pick: fn(&(usize, usize)) -> usize| {
        pairs
            .iter()
            .filter_map(|p| side.rows_per_value.get(&pick(p)))
            .min_by_key(|f| f.len())
            .cloned()
    };
    let mut out = BTreeMap::new();
    if let Some(fan) = fewest(right, |p| p.1) {
        for (&p, f) in &left.rows_per_value {
            out.insert(p, f.iter().chain(&fan).copied().collect());
        }
    }
    if let Some(fan) = fewest(left, |p| p.0) {
        let n = left.cols.len();
        for (&p, f) in &right.rows_per_value {
            out.insert(p + n, f.iter().chain(&fan).copied().collect());
        }
    }
    out
}
