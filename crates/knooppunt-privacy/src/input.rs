//! What the query engine hands to disclosure control.

use knooppunt_core::{Level, PrivacyUnit};
use serde::{Deserialize, Serialize};

/// Contributions to a sum (e.g. koopsom) for the dominance rule: the total
/// and the two largest contributions of single privacy units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contributions {
    /// The whole sum (≥ 0).
    pub total: i64,
    /// The largest contribution of one unit.
    pub largest: i64,
    /// The second-largest contribution of one unit (0 if there is one unit).
    pub second_largest: i64,
}

/// One indicator in one area, exact, before disclosure control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellInput {
    /// Indicator id (`I01`…`I12` or a municipality's own).
    pub indicator: String,
    /// Indicators with the same denominator share this id (e.g. I04 and I07
    /// `inhabitants`); their denominators in one area must be identical.
    pub denominator_group: String,
    /// Level of the area.
    pub level: Level,
    /// Area code at that level (`onbekend` possible).
    pub code: String,
    /// The wijk a buurt belongs to; for a wijk its own code; for a gemeente
    /// its gemeentecode.
    pub wijkcode: String,
    /// The gemeente the area belongs to (its own code for a gemeente).
    pub gemeentecode: String,
    /// Numerator, exact.
    pub numerator: i64,
    /// Denominator, exact.
    pub denominator: i64,
    /// Distinct privacy units behind the numerator.
    pub numerator_support: i64,
    /// Distinct privacy units behind the denominator.
    pub denominator_support: i64,
    /// Privacy unit of the numerator (selects its `k`).
    pub numerator_unit: PrivacyUnit,
    /// Privacy unit of the denominator (selects its `k`).
    pub denominator_unit: PrivacyUnit,
    /// Sum of the record keys (each in `[0, 2³²)`) of the records counted in
    /// the numerator; only the residue modulo 2³² is used.
    pub numerator_key: i64,
    /// Sum of the record keys of the records counted in the denominator.
    pub denominator_key: i64,
    /// For a numerator that is a sum of values rather than a count: the
    /// contributions for the dominance rule. `None` for counts.
    #[serde(default)]
    pub numerator_dominance: Option<Contributions>,
}
