//! The release path shared by the command line and the HTTP API: an exact
//! indicator table becomes disclosure-controlled cells (`knooppunt-privacy`),
//! and released signals are computed from released numbers only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result, bail};
use knooppunt_core::Level;
use knooppunt_privacy::{CellInput, CellValue, Release, ReleaseConfig, ReleasedCell, release};
use knooppunt_query::{
    IndicatorTable, IndicatorValue, Registry, SignalConfig, SignalRow, compute_signals,
};

/// Reads a release configuration (JSON, every field optional; defaults
/// from PRIVACY.md), or the defaults when `path` is `None`.
pub fn load_config(path: Option<&Path>) -> Result<ReleaseConfig> {
    let Some(path) = path else {
        return Ok(ReleaseConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading release configuration {}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "release configuration {}: line {} column {}: {}",
            path.display(),
            e.line(),
            e.column(),
            e
        )
    })
}

/// The disclosure-control input of every cell of `table`.
///
/// Indicators whose denominator columns are identical everywhere (same
/// value, support and record-key sum in every area, e.g. I01 and I03) form
/// one denominator group, so a denominator hidden for one of them is hidden
/// for all; the grouping is derived from the numbers, so a municipality's
/// own indicator that shares a denominator is grouped too.
pub fn cell_inputs(table: &IndicatorTable, registry: &Registry) -> Result<Vec<CellInput>> {
    type Signature = Vec<(Level, String, i64, i64, Option<i64>)>;
    let mut by_indicator: BTreeMap<&str, Signature> = BTreeMap::new();
    for v in &table.values {
        by_indicator.entry(&v.indicator).or_default().push((
            v.level,
            v.code.clone(),
            v.denominator,
            v.denominator_support,
            v.denominator_key,
        ));
    }
    // Grouped by unit too: when the numbers cannot tell denominators apart
    // (all zero, e.g. at a peildatum before any data), denominators of
    // different units are still different numbers.
    let mut groups: BTreeMap<(&str, Signature), String> = BTreeMap::new();
    let mut group_of: BTreeMap<&str, String> = BTreeMap::new();
    for (id, mut signature) in by_indicator {
        signature.sort();
        let unit = registry.get(id).map_or("", |q| q.denominator_unit.name());
        let name = groups
            .entry((unit, signature))
            .or_insert_with(|| format!("denominator_of_{id}"))
            .clone();
        group_of.insert(id, name);
    }
    let mut cells = Vec::with_capacity(table.values.len());
    for v in &table.values {
        let query = registry
            .get(&v.indicator)
            .with_context(|| format!("indicator {} is not in the registry", v.indicator))?;
        let (Some(numerator_key), Some(denominator_key)) = (v.numerator_key, v.denominator_key)
        else {
            bail!(
                "indicator {} ({}) reports no numerator_key and denominator_key, so it cannot be released",
                v.indicator,
                query.file
            );
        };
        cells.push(CellInput {
            indicator: v.indicator.clone(),
            denominator_group: group_of
                .get(v.indicator.as_str())
                .cloned()
                .unwrap_or_else(|| v.indicator.clone()),
            level: v.level,
            code: v.code.clone(),
            wijkcode: v.wijkcode.clone(),
            gemeentecode: v.gemeentecode.clone(),
            numerator: v.numerator,
            denominator: v.denominator,
            numerator_support: v.numerator_support,
            denominator_support: v.denominator_support,
            numerator_unit: query.privacy_unit,
            denominator_unit: query.denominator_unit,
            numerator_key,
            denominator_key,
            numerator_dominance: None,
        });
    }
    Ok(cells)
}

/// Disclosure control of a whole table (all levels at once: secondary
/// suppression works across the hierarchy).
pub fn release_table(
    table: &IndicatorTable,
    registry: &Registry,
    config: &ReleaseConfig,
) -> Result<Release> {
    let cells = cell_inputs(table, registry)?;
    Ok(release(&cells, config)?)
}

/// The released numbers as an indicator table, for computing released
/// signals. A cell whose numerator or denominator is suppressed is left
/// out (the signal code then treats that buurt as having no rate for the
/// indicator, so it enters no municipal statistic); the returned set names
/// them. Supports are not released and are 0 here.
pub fn released_table(
    release: &Release,
    peildatum: chrono::NaiveDate,
) -> (IndicatorTable, BTreeSet<(String, String)>) {
    let mut values = Vec::new();
    let mut suppressed = BTreeSet::new();
    for c in &release.cells {
        match (&c.numerator, &c.denominator) {
            (CellValue::Released(n), CellValue::Released(d)) => values.push(IndicatorValue {
                indicator: c.indicator.clone(),
                level: c.level,
                code: c.code.clone(),
                wijkcode: c.wijkcode.clone(),
                gemeentecode: c.gemeentecode.clone(),
                numerator: *n,
                denominator: *d,
                numerator_support: 0,
                denominator_support: 0,
                numerator_key: None,
                denominator_key: None,
            }),
            _ => {
                suppressed.insert((c.indicator.clone(), c.code.clone()));
            }
        }
    }
    (IndicatorTable { peildatum, values }, suppressed)
}

/// Noise scale of the released counts: the standard deviation of the
/// perturbation table's row for counts large enough to be released.
pub fn noise_scale(release: &Release) -> Option<f64> {
    release
        .parameters
        .perturbation()
        .statistics()
        .iter()
        .map(|s| s.variance)
        .fold(None, |acc: Option<f64>, v| {
            Some(acc.map_or(v, |a| a.max(v)))
        })
        .map(f64::sqrt)
}

/// Numbers suppressed per reason in `cells` (numerator, denominator and
/// rate counted separately), for the audit record.
pub fn suppressed_counts<'a>(
    cells: impl IntoIterator<Item = &'a ReleasedCell>,
) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for c in cells {
        for status in [
            c.numerator.status(),
            c.denominator.status(),
            c.rate.status(),
        ] {
            if status != "released" {
                *out.entry(status.to_string()).or_insert(0) += 1;
            }
        }
    }
    out
}

/// The audit record's policy version of a release: the configured policy
/// and the fingerprint of the parameters applied.
pub fn policy_version(release: &Release) -> String {
    format!(
        "{} {}",
        release.parameters.config().policy_version,
        release.parameters_fingerprint
    )
}

/// Signals computed from released numbers only, as released: no supports
/// anywhere, and an indicator suppressed in `now` is marked suppressed with
/// no numbers (it enters no statistic). `now` is the release at
/// `peildatum`, `before` the release a year earlier (with its peildatum)
/// when there is one.
pub fn released_signals(
    now: &Release,
    peildatum: chrono::NaiveDate,
    before: Option<(&Release, chrono::NaiveDate)>,
) -> Result<Vec<serde_json::Value>, serde_json::Error> {
    signal_rows(now, peildatum, before)
        .iter()
        .map(|s| serde_json::to_value(s).map(released_view))
        .collect()
}

/// The signal rows of [`released_signals`], before the released view.
fn signal_rows(
    now: &Release,
    peildatum: chrono::NaiveDate,
    before: Option<(&Release, chrono::NaiveDate)>,
) -> Vec<SignalRow> {
    let (table_now, suppressed) = released_table(now, peildatum);
    let table_before = before.map(|(r, p)| released_table(r, p).0);
    let mut signals = compute_signals(&table_now, table_before.as_ref(), &SignalConfig::default());
    for row in &mut signals {
        for (indicator, code) in &suppressed {
            if *code == row.buurtcode {
                row.mark_suppressed(indicator);
            }
        }
    }
    signals
}

/// A signal row as released: no supports anywhere, and a suppressed
/// indicator shows no numbers (null), only that it is suppressed.
fn released_view(mut value: serde_json::Value) -> serde_json::Value {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.remove("numerator_support");
                map.remove("denominator_support");
                if map.get("suppressed") == Some(&serde_json::Value::Bool(true)) {
                    for key in [
                        "numerator",
                        "denominator",
                        "rate",
                        "shrunk_rate",
                        "shrinkage_weight",
                    ] {
                        if map.contains_key(key) {
                            map.insert(key.to_string(), serde_json::Value::Null);
                        }
                    }
                }
                for child in map.values_mut() {
                    walk(child);
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

/// Fills an audit draft with what any indicator run reads: the lake's
/// snapshot id per source and the tables of the engine's indicators.
pub fn record_sources(engine: &knooppunt_query::Engine, draft: &mut knooppunt_audit::RecordDraft) {
    draft.snapshots = engine
        .snapshots()
        .iter()
        .map(|(source, id)| (source.name().to_string(), id.clone()))
        .collect();
    let mut tables: Vec<String> = engine
        .registry()
        .queries()
        .iter()
        .flat_map(|q| q.sources.iter().map(|s| s.name().to_string()))
        .collect();
    tables.sort();
    tables.dedup();
    draft.tables = tables;
}
