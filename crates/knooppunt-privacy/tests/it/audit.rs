//! The attacker's audit: for every suppressed number, the interval of values
//! consistent with everything released, by linear programming (good_lp with
//! the pure-Rust microlp solver).
//!
//! The attacker is given more than a release shows: every released number
//! as its *exact* (unperturbed) value, every additive relation (wijk = Σ
//! buurten, gemeente = Σ wijken, for each indicator's numerator and each
//! denominator group's denominator — one unknown per group and area, since
//! indicators sharing a denominator show the same number) and that every
//! value is ≥ 0. Integrality is relaxed, which only widens intervals by
//! less than 1; we demand width ≥ k of the relaxation.

use std::collections::{BTreeMap, HashMap};

use good_lp::{
    Expression, ResolutionError, Solution, SolverModel, Variable, microlp, variable, variables,
};
use knooppunt_core::Level;
use knooppunt_privacy::{CellInput, Release, ReleaseParameters, ReleasedCell};

/// One additive tree: per area (level, code) its exact value, its parent
/// and whether it is suppressed.
#[derive(Debug, Default)]
pub(crate) struct AuditTree {
    /// Tree name (`numerator I01`, `denominator inhabitants`).
    pub(crate) name: String,
    /// The `k` its suppressed cells need.
    pub(crate) k: i64,
    /// Every area of the tree.
    pub(crate) areas: BTreeMap<Area, Node>,
}

/// An area by level and code.
pub(crate) type Area = (Level, String);

/// One area of a tree.
#[derive(Debug)]
pub(crate) struct Node {
    /// Its exact value.
    pub(crate) value: i64,
    /// Its parent area.
    pub(crate) parent: Option<Area>,
    /// Whether the release hides it.
    pub(crate) suppressed: bool,
}

/// A suppressed cell whose interval is narrower than `k`.
#[derive(Debug)]
#[expect(dead_code, reason = "read through Debug in assertion messages")]
pub(crate) struct Violation {
    /// Tree.
    pub(crate) tree: String,
    /// Area.
    pub(crate) area: Area,
    /// Feasible minimum and maximum (`f64::INFINITY` when unbounded).
    pub(crate) interval: (f64, f64),
    /// Its exact value.
    pub(crate) value: i64,
}

fn parent_of(c: &CellInput) -> Option<(Level, String)> {
    match c.level {
        Level::Buurt => Some((Level::Wijk, c.wijkcode.clone())),
        Level::Wijk => Some((Level::Gemeente, c.gemeentecode.clone())),
        Level::Gemeente => None,
    }
}

/// The trees of a release: one per indicator numerator, one per
/// denominator group. Panics if the indicators of a group disagree on
/// whether a denominator is suppressed (that would itself be a leak).
pub(crate) fn trees(
    cells: &[CellInput],
    release: &Release,
    params: &ReleaseParameters,
) -> Vec<AuditTree> {
    let released: HashMap<(&str, Level, &str), &ReleasedCell> = release
        .cells
        .iter()
        .map(|c| ((c.indicator.as_str(), c.level, c.code.as_str()), c))
        .collect();
    let mut trees: BTreeMap<String, AuditTree> = BTreeMap::new();
    for c in cells {
        let r = released
            .get(&(c.indicator.as_str(), c.level, c.code.as_str()))
            .expect("every input cell is in the release");
        let area = (c.level, c.code.clone());
        let num = trees
            .entry(format!("numerator {}", c.indicator))
            .or_insert_with(|| AuditTree {
                name: format!("numerator {}", c.indicator),
                k: i64::from(params.k(c.numerator_unit)),
                ..AuditTree::default()
            });
        num.areas.insert(
            area.clone(),
            Node {
                value: c.numerator,
                parent: parent_of(c),
                suppressed: r.numerator.value().is_none(),
            },
        );
        let den_name = format!("denominator {}", c.denominator_group);
        let den = trees.entry(den_name.clone()).or_insert_with(|| AuditTree {
            name: den_name,
            k: i64::from(params.k(c.denominator_unit)),
            ..AuditTree::default()
        });
        let suppressed = r.denominator.value().is_none();
        let node = Node {
            value: c.denominator,
            parent: parent_of(c),
            suppressed,
        };
        if let Some(prev) = den.areas.insert(area, node) {
            assert_eq!(
                prev.suppressed,
                suppressed,
                "group {} shows {} {} to one indicator and hides it from another",
                c.denominator_group,
                c.level.name(),
                c.code
            );
        }
    }
    trees.into_values().collect()
}

/// Solves min and max of every suppressed cell of a tree; returns the cells
/// whose interval is narrower than `k`, and the number of LPs solved.
pub(crate) fn audit_tree(tree: &AuditTree) -> (Vec<Violation>, usize) {
    // Equations: parent = Σ children (children present in the tree).
    let mut children: BTreeMap<&Area, Vec<&Area>> = BTreeMap::new();
    for (area, node) in &tree.areas {
        if let Some(p) = &node.parent
            && tree.areas.contains_key(p)
        {
            children.entry(p).or_default().push(area);
        }
    }
    let suppressed: Vec<&Area> = tree
        .areas
        .iter()
        .filter(|(_, v)| v.suppressed)
        .map(|(a, _)| a)
        .collect();
    let mut violations = Vec::new();
    let mut solved = 0;
    for target in &suppressed {
        let mut bounds = [0.0f64; 2];
        for (i, maximise) in [false, true].into_iter().enumerate() {
            let mut vars = variables!();
            let x: HashMap<&Area, Variable> = suppressed
                .iter()
                .map(|a| (*a, vars.add(variable().min(0))))
                .collect();
            let term = |a: &Area| -> Expression {
                match x.get(a) {
                    Some(v) => (*v).into(),
                    None => Expression::from(tree.areas[a].value as f64),
                }
            };
            let objective: Expression = x[target].into();
            let mut model = if maximise {
                vars.maximise(objective).using(microlp)
            } else {
                vars.minimise(objective).using(microlp)
            };
            for (parent, kids) in &children {
                let lhs = term(parent);
                let rhs: Expression = kids.iter().map(|k| term(k)).sum();
                if x.contains_key(*parent) || kids.iter().any(|k| x.contains_key(*k)) {
                    model = model.with((lhs - rhs).eq(0));
                }
            }
            solved += 1;
            bounds[i] = match model.solve() {
                Ok(sol) => sol.value(x[target]),
                Err(ResolutionError::Unbounded) if maximise => f64::INFINITY,
                Err(e) => panic!("{}: LP for {:?} failed: {e}", tree.name, target),
            };
        }
        if bounds[1] - bounds[0] < tree.k as f64 - 1e-6 {
            violations.push(Violation {
                tree: tree.name.clone(),
                area: (*target).clone(),
                interval: (bounds[0], bounds[1]),
                value: tree.areas[*target].value,
            });
        }
    }
    (violations, solved)
}

/// Checks that the released (exact) values satisfy every relation: the
/// synthetic data is exactly additive, so the true point is feasible.
pub(crate) fn assert_additive(tree: &AuditTree) {
    let mut sums: BTreeMap<&Area, i64> = BTreeMap::new();
    for node in tree.areas.values() {
        if let Some(p) = &node.parent
            && tree.areas.contains_key(p)
        {
            *sums.entry(p).or_default() += node.value;
        }
    }
    for (p, s) in sums {
        assert_eq!(
            tree.areas[p].value, s,
            "{}: {:?} is not the sum of its parts",
            tree.name, p
        );
    }
}
