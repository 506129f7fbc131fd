//! Public domains: the areas in scope, the analyst views limited to them,
//! and completing an answer's public group keys.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::datasource::ViewTable;
use datafusion::logical_expr::{Expr, lit};
use datafusion::prelude::{SessionContext, col};

use super::catalog::{AnalystCatalog, DomainSpec};
use super::{AnalystQuery, AnalystSession, ExactAnswer};
use crate::error::QueryError;

/// The area codes of the municipalities in scope, from the lake's
/// buurten: the public domains of `buurtcode`, `wijkcode` and
/// `gemeentecode`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AreaDomains {
    /// Buurtcodes, sorted.
    pub buurten: Vec<String>,
    /// Wijkcodes, sorted.
    pub wijken: Vec<String>,
    /// Gemeentecodes, sorted.
    pub gemeenten: Vec<String>,
}

impl AreaDomains {
    /// The areas of `rows` (buurtcode, wijkcode, gemeentecode) whose
    /// gemeente is in `scope`.
    pub fn from_rows(rows: &[(String, String, String)], scope: &[String]) -> AreaDomains {
        let scope: BTreeSet<&str> = scope.iter().map(String::as_str).collect();
        let mut b = BTreeSet::new();
        let mut w = BTreeSet::new();
        let mut g = BTreeSet::new();
        for (buurt, wijk, gemeente) in rows {
            if scope.contains(gemeente.as_str()) {
                b.insert(buurt.clone());
                w.insert(wijk.clone());
                g.insert(gemeente.clone());
            }
        }
        AreaDomains {
            buurten: b.into_iter().collect(),
            wijken: w.into_iter().collect(),
            gemeenten: g.into_iter().collect(),
        }
    }

    /// The complete, sorted list of values of `spec`, or `None` when
    /// private.
    pub fn resolve(&self, spec: DomainSpec) -> Option<Vec<String>> {
        match spec {
            DomainSpec::Private => None,
            DomainSpec::Buurt => Some(self.buurten.clone()),
            DomainSpec::Wijk => Some(self.wijken.clone()),
            DomainSpec::Gemeente => Some(self.gemeenten.clone()),
            // Sorted here, not by the order of the lists they come from:
            // `answer` looks values up by binary search.
            DomainSpec::Years(lo, hi) => Some(sorted((lo..=hi).map(|y| y.to_string()))),
            DomainSpec::Values(v) => Some(sorted(v.iter().map(|s| (*s).to_string()))),
            DomainSpec::Bool => Some(vec!["false".to_string(), "true".to_string()]),
        }
    }
}

fn sorted(values: impl Iterator<Item = String>) -> Vec<String> {
    let set: BTreeSet<String> = values.collect();
    set.into_iter().collect()
}

/// Builds an analyst session from the admin session `admin` (lake tables
/// and derived views at `peildatum`) and the area rows of the lake.
pub(crate) async fn build_session(
    admin: &SessionContext,
    fresh: SessionContext,
    peildatum: NaiveDate,
    scope: &[String],
    area_rows: Vec<(String, String, String)>,
) -> Result<AnalystSession, QueryError> {
    let setup = |name: &str, e: datafusion::error::DataFusionError| QueryError::Setup {
        reason: format!("analyst view {name}: {}", e.strip_backtrace()),
    };
    let mut scope: Vec<String> = scope.to_vec();
    scope.sort();
    scope.dedup();
    let catalog = Arc::new(AnalystCatalog::standard());
    let mut views = BTreeMap::new();
    for table in catalog.tables() {
        let frame = admin
            .table(table.name)
            .await
            .map_err(|e| setup(table.name, e))?;
        let in_scope: Expr = if scope.is_empty() {
            lit(false)
        } else {
            col("gemeentecode").in_list(scope.iter().map(|s| lit(s.as_str())).collect(), false)
        };
        let names: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
        let plan = frame
            .filter(in_scope)
            .and_then(|f| f.select_columns(&names))
            .map_err(|e| setup(table.name, e))?
            .into_unoptimized_plan();
        fresh
            .register_table(table.name, Arc::new(ViewTable::new(plan.clone(), None)))
            .map_err(|e| setup(table.name, e))?;
        views.insert(table.name.to_string(), plan);
    }
    let areas = AreaDomains::from_rows(&area_rows, &scope);
    Ok(AnalystSession {
        ctx: fresh,
        views,
        catalog,
        areas,
        peildatum,
        scope,
        multiplicities: std::sync::Mutex::new(BTreeMap::new()),
    })
}

/// Reads the result batches of a rewritten plan into an answer, keeps
/// public keys inside their domains and completes them.
pub(crate) fn answer(
    query: &AnalystQuery,
    batches: &[RecordBatch],
) -> Result<ExactAnswer, QueryError> {
    let n_keys = query.group_keys.len();
    let n_values = query.value_names().len();
    let invalid = |what: &str| QueryError::Setup {
        reason: format!("analyst result: {what}"),
    };
    let mut rows: BTreeMap<Vec<Option<String>>, Vec<i64>> = BTreeMap::new();
    for batch in batches {
        if batch.num_columns() != n_keys + n_values {
            return Err(invalid("unexpected column count"));
        }
        let mut keys = Vec::with_capacity(n_keys);
        for i in 0..n_keys {
            let c = cast(batch.column(i), &DataType::Utf8)
                .map_err(|_| invalid("a group key is not text"))?;
            keys.push(c);
        }
        let mut values = Vec::with_capacity(n_values);
        for i in 0..n_values {
            let c = cast(batch.column(n_keys + i), &DataType::Int64)
                .map_err(|_| invalid("a value is not an integer"))?;
            values.push(c);
        }
        'row: for r in 0..batch.num_rows() {
            let mut key = Vec::with_capacity(n_keys);
            for (k, spec) in keys.iter().zip(&query.group_keys) {
                let k = k.as_string::<i32>();
                let v = (!k.is_null(r)).then(|| k.value(r).to_string());
                if let Some(domain) = &spec.domain {
                    // Outside the public domain (or NULL): not released.
                    match &v {
                        Some(s) if domain.binary_search(s).is_ok() => {}
                        _ => continue 'row,
                    }
                }
                key.push(v);
            }
            let vals = values
                .iter()
                .map(|v| {
                    let v = v.as_primitive::<Int64Type>();
                    if v.is_null(r) { 0 } else { v.value(r) }
                })
                .collect();
            rows.insert(key, vals);
        }
    }
    complete(query, &mut rows, n_values);
    let (keys, values) = rows.into_iter().unzip();
    Ok(ExactAnswer { keys, values })
}

/// Adds a zero row for every combination of the public keys' domains
/// (for every combination of private keys present).
fn complete(
    query: &AnalystQuery,
    rows: &mut BTreeMap<Vec<Option<String>>, Vec<i64>>,
    n_values: usize,
) {
    let keys = &query.group_keys;
    let private: Vec<usize> = (0..keys.len())
        .filter(|i| keys[*i].domain.is_none())
        .collect();
    let mut prefixes: BTreeSet<Vec<Option<String>>> = BTreeSet::new();
    if private.is_empty() {
        prefixes.insert(Vec::new());
    } else {
        for key in rows.keys() {
            prefixes.insert(private.iter().map(|i| key[*i].clone()).collect());
        }
    }
    for prefix in prefixes {
        // Enumerate the product of public domains, placing private values.
        let mut combos: Vec<Vec<Option<String>>> = vec![Vec::new()];
        let mut next_private = 0;
        for key in keys {
            match &key.domain {
                Some(domain) => {
                    let mut grown = Vec::with_capacity(combos.len() * domain.len());
                    for c in &combos {
                        for v in domain {
                            let mut c = c.clone();
                            c.push(Some(v.clone()));
                            grown.push(c);
                        }
                    }
                    combos = grown;
                }
                None => {
                    let v = prefix[next_private].clone();
                    next_private += 1;
                    for c in &mut combos {
                        c.push(v.clone());
                    }
                }
            }
        }
        for c in combos {
            rows.entry(c).or_insert_with(|| vec![0; n_values]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{AreaDomains, DomainSpec};

    #[test]
    fn resolved_domains_are_sorted_whatever_the_order_of_their_lists() {
        let areas = AreaDomains::default();
        for spec in [
            DomainSpec::Values(&["W", "B"]),
            DomainSpec::Years(998, 1002),
            DomainSpec::Bool,
        ] {
            let values = areas.resolve(spec).expect("public");
            let mut sorted = values.clone();
            sorted.sort();
            assert_eq!(values, sorted, "{spec:?}");
        }
    }
}
