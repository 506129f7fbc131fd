//! The release pipeline: validate, primary suppression, secondary
//! suppression, perturbation, rates, sorted output.

use std::collections::{BTreeMap, HashMap};

use knooppunt_core::{Level, PrivacyUnit};

use crate::error::CellProblem;
use crate::suppress::{Hierarchy, Tree, protect};
use crate::{
    CellInput, CellValue, Contributions, Dominance, PrivacyError, Release, ReleaseConfig,
    ReleaseParameters, ReleaseSummary, ReleasedCell, SuppressionReason,
};

/// Applies disclosure control to every cell and returns the release.
///
/// In order: threshold and dominance (primary suppression), secondary
/// suppression across the hierarchy and across indicators sharing a
/// denominator, cell-key perturbation of the released counts, rates from
/// the perturbed counts. The cells come back sorted by indicator, level and
/// code; the same input (in any order) and configuration give the same
/// release, byte for byte.
pub fn release(cells: &[CellInput], config: &ReleaseConfig) -> Result<Release, PrivacyError> {
    let parameters = config.validate()?;
    release_with(cells, &parameters)
}

/// [`release`] with parameters validated beforehand.
pub fn release_with(
    cells: &[CellInput],
    parameters: &ReleaseParameters,
) -> Result<Release, PrivacyError> {
    for c in cells {
        validate_cell(c)?;
    }
    let areas = Areas::build(cells)?;
    let n = areas.len();

    // Indicators and denominator groups, in sorted order.
    let mut indicators: BTreeMap<&str, IndicatorInfo> = BTreeMap::new();
    let mut groups: BTreeMap<&str, GroupInfo> = BTreeMap::new();
    for c in cells {
        let info = indicators
            .entry(c.indicator.as_str())
            .or_insert_with(|| IndicatorInfo {
                unit: c.numerator_unit,
                group: c.denominator_group.as_str(),
                cells: vec![None; n],
            });
        if info.unit != c.numerator_unit {
            return Err(inconsistent(c, "numerator unit"));
        }
        if info.group != c.denominator_group {
            return Err(inconsistent(c, "denominator group"));
        }
        groups
            .entry(c.denominator_group.as_str())
            .or_insert_with(|| GroupInfo {
                unit: c.denominator_unit,
                cells: vec![None; n],
            });
    }
    for (i, c) in cells.iter().enumerate() {
        let a = areas.cell_area[i];
        let info = indicators
            .get_mut(c.indicator.as_str())
            .ok_or(PrivacyError::Unprotectable {
                tree: c.indicator.clone(),
            })?;
        if info.cells[a].replace(i).is_some() {
            return Err(PrivacyError::DuplicateCell {
                indicator: c.indicator.clone(),
                level: c.level,
                code: c.code.clone(),
            });
        }
        let group =
            groups
                .get_mut(c.denominator_group.as_str())
                .ok_or(PrivacyError::Unprotectable {
                    tree: c.denominator_group.clone(),
                })?;
        match group.cells[a] {
            None => group.cells[a] = Some(i),
            Some(first) => {
                let f = &cells[first];
                if group.unit != c.denominator_unit
                    || (f.denominator, f.denominator_support, f.denominator_key)
                        != (c.denominator, c.denominator_support, c.denominator_key)
                {
                    return Err(PrivacyError::DenominatorMismatch {
                        group: c.denominator_group.clone(),
                        level: c.level,
                        code: c.code.clone(),
                    });
                }
            }
        }
        if group.unit != c.denominator_unit {
            return Err(PrivacyError::DenominatorMismatch {
                group: c.denominator_group.clone(),
                level: c.level,
                code: c.code.clone(),
            });
        }
    }

    let dominance = parameters.config().dominance;
    let mut present = vec![false; n];
    let mut value = vec![0i64; n];

    // Denominators: threshold, then secondary suppression per group.
    let mut group_state: BTreeMap<&str, Vec<Option<SuppressionReason>>> = BTreeMap::new();
    for (&name, g) in &groups {
        let k = i64::from(parameters.k(g.unit));
        let mut state = vec![None; n];
        for a in 0..n {
            present[a] = g.cells[a].is_some();
            value[a] = 0;
            if let Some(i) = g.cells[a] {
                value[a] = cells[i].denominator;
                if cells[i].denominator_support < k {
                    state[a] = Some(SuppressionReason::Threshold);
                }
            }
        }
        protect(
            &areas.hierarchy,
            Tree {
                present: &present,
                value: &value,
                state: &mut state,
                k,
            },
        )
        .map_err(|_| PrivacyError::Unprotectable {
            tree: name.to_owned(),
        })?;
        group_state.insert(name, state);
    }

    // Numerators: threshold (own support, or the denominator's), dominance,
    // then secondary suppression per indicator.
    let mut indicator_state: BTreeMap<&str, Vec<Option<SuppressionReason>>> = BTreeMap::new();
    for (&name, info) in &indicators {
        let k = i64::from(parameters.k(info.unit));
        let denominators = group_state
            .get(info.group)
            .ok_or(PrivacyError::Unprotectable {
                tree: name.to_owned(),
            })?;
        let mut state = vec![None; n];
        for a in 0..n {
            present[a] = info.cells[a].is_some();
            value[a] = 0;
            if let Some(i) = info.cells[a] {
                let c = &cells[i];
                value[a] = c.numerator;
                let support = c.numerator_support;
                state[a] = if denominators[a] == Some(SuppressionReason::Threshold)
                    || (1..k).contains(&support)
                {
                    Some(SuppressionReason::Threshold)
                } else if c
                    .numerator_dominance
                    .is_some_and(|d| dominated(&d, dominance))
                {
                    Some(SuppressionReason::Dominance)
                } else {
                    None
                };
            }
        }
        protect(
            &areas.hierarchy,
            Tree {
                present: &present,
                value: &value,
                state: &mut state,
                k,
            },
        )
        .map_err(|_| PrivacyError::Unprotectable {
            tree: name.to_owned(),
        })?;
        indicator_state.insert(name, state);
    }

    // Perturb, compute rates, emit in sorted order.
    let table = parameters.perturbation();
    let rate_per = f64::from(parameters.config().rate_per);
    let scale = 10f64.powi(parameters.config().rate_decimals as i32);
    let mut order: Vec<usize> = (0..cells.len()).collect();
    order.sort_by(|&x, &y| {
        let (a, b) = (&cells[x], &cells[y]);
        (a.indicator.as_str(), a.level, a.code.as_str()).cmp(&(
            b.indicator.as_str(),
            b.level,
            b.code.as_str(),
        ))
    });
    let mut out = Vec::with_capacity(cells.len());
    for i in order {
        let c = &cells[i];
        let a = areas.cell_area[i];
        let num_state = indicator_state
            .get(c.indicator.as_str())
            .and_then(|s| s[a])
            .map_or_else(
                || CellValue::Released(table.perturb(c.numerator, c.numerator_key)),
                CellValue::Suppressed,
            );
        let den_state = group_state
            .get(c.denominator_group.as_str())
            .and_then(|s| s[a])
            .map_or_else(
                || CellValue::Released(table.perturb(c.denominator, c.denominator_key)),
                CellValue::Suppressed,
            );
        let rate = match (num_state, den_state) {
            (CellValue::Suppressed(r), _) | (_, CellValue::Suppressed(r)) => {
                CellValue::Suppressed(r)
            }
            (CellValue::Released(num), CellValue::Released(den)) if den > 0 => {
                let r = num as f64 * rate_per / den as f64;
                CellValue::Released((r * scale).round() / scale)
            }
            // A released denominator has support >= k >= 3, so its count is
            // at least 3 and the table never perturbs it to 0; this arm is
            // defensive only.
            (CellValue::Released(_), CellValue::Released(_)) => {
                CellValue::Suppressed(SuppressionReason::Threshold)
            }
        };
        out.push(ReleasedCell {
            indicator: c.indicator.clone(),
            level: c.level,
            code: c.code.clone(),
            wijkcode: c.wijkcode.clone(),
            gemeentecode: c.gemeentecode.clone(),
            numerator: num_state,
            denominator: den_state,
            rate,
        });
    }
    Ok(Release {
        parameters_fingerprint: parameters.fingerprint(),
        parameters: parameters.clone(),
        summary: ReleaseSummary::of(&out),
        cells: out,
    })
}

struct IndicatorInfo<'a> {
    unit: PrivacyUnit,
    group: &'a str,
    cells: Vec<Option<usize>>,
}

struct GroupInfo {
    unit: PrivacyUnit,
    cells: Vec<Option<usize>>,
}

fn inconsistent(c: &CellInput, what: &'static str) -> PrivacyError {
    PrivacyError::InconsistentIndicator {
        indicator: c.indicator.clone(),
        what,
    }
}

/// Whether the largest `units` contributions exceed the allowed share.
fn dominated(d: &Contributions, rule: Dominance) -> bool {
    let top = if rule.units >= 2 {
        d.largest + d.second_largest
    } else {
        d.largest
    };
    d.total > 0 && i128::from(top) * 100 > i128::from(rule.max_share_percent) * i128::from(d.total)
}

fn validate_cell(c: &CellInput) -> Result<(), PrivacyError> {
    let fail = |problem| {
        Err(PrivacyError::InvalidCell {
            indicator: c.indicator.clone(),
            level: c.level,
            code: c.code.clone(),
            problem,
        })
    };
    if c.code.is_empty()
        || c.indicator.is_empty()
        || (c.level == Level::Buurt && c.wijkcode.is_empty())
        || (c.level != Level::Gemeente && c.gemeentecode.is_empty())
    {
        return fail(CellProblem::MissingCode);
    }
    if c.numerator < 0 || c.denominator < 0 || c.numerator_support < 0 || c.denominator_support < 0
    {
        return fail(CellProblem::Negative);
    }
    // A support may exceed its count: I02 counts addresses, and several
    // companies can stand behind one address.
    let count_rules = |count: i64, support: i64| {
        if count == 0 && support > 0 {
            Some(CellProblem::SupportAboveCount)
        } else if count > 0 && support == 0 {
            Some(CellProblem::CountWithoutSupport)
        } else {
            None
        }
    };
    if let Some(p) = count_rules(c.denominator, c.denominator_support) {
        return fail(p);
    }
    match c.numerator_dominance {
        None => {
            if let Some(p) = count_rules(c.numerator, c.numerator_support) {
                return fail(p);
            }
        }
        Some(d) => {
            if d.total < 0
                || d.second_largest < 0
                || d.largest < d.second_largest
                || d.largest.saturating_add(d.second_largest) > d.total
            {
                return fail(CellProblem::InvalidContributions);
            }
        }
    }
    Ok(())
}

/// An area by level and code.
type AreaKey<'a> = (Level, &'a str);

/// Every area of the input (level and code), with its parent.
struct Areas {
    /// The area of each input cell.
    cell_area: Vec<usize>,
    hierarchy: Hierarchy,
}

impl Areas {
    fn build<'a>(cells: &'a [CellInput]) -> Result<Areas, PrivacyError> {
        let mut ids: HashMap<(Level, &'a str), usize> = HashMap::new();
        // Per area: level, code and the parent key it names.
        let mut info: Vec<(Level, &'a str, Option<AreaKey<'a>>)> = Vec::new();
        let mut cell_area = Vec::with_capacity(cells.len());
        for c in cells {
            let parent = match c.level {
                Level::Buurt => Some((Level::Wijk, c.wijkcode.as_str())),
                Level::Wijk => Some((Level::Gemeente, c.gemeentecode.as_str())),
                Level::Gemeente => None,
            };
            match ids.get(&(c.level, c.code.as_str())) {
                Some(&a) => {
                    if info[a].2 != parent {
                        return Err(PrivacyError::InconsistentArea {
                            level: c.level,
                            code: c.code.clone(),
                        });
                    }
                    cell_area.push(a);
                }
                None => {
                    ids.insert((c.level, c.code.as_str()), info.len());
                    cell_area.push(info.len());
                    info.push((c.level, c.code.as_str(), parent));
                }
            }
        }
        let n = info.len();
        let parent: Vec<Option<usize>> = info
            .iter()
            .map(|(_, _, p)| p.and_then(|key| ids.get(&key).copied()))
            .collect();
        let mut children = vec![Vec::new(); n];
        for (a, p) in parent.iter().enumerate() {
            if let Some(p) = p {
                children[*p].push(a);
            }
        }
        for kids in &mut children {
            kids.sort_by(|&x, &y| info[x].1.cmp(info[y].1));
        }
        Ok(Areas {
            cell_area,
            hierarchy: Hierarchy { parent, children },
        })
    }

    fn len(&self) -> usize {
        self.hierarchy.parent.len()
    }
}
