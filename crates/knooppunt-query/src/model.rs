//! The result types every part of the query layer agrees on: one indicator
//! value per (indicator, level, area), and the table of them for a peildatum.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use knooppunt_core::Level;

/// One indicator for one area: exact counts and their support (distinct
/// privacy units), before any disclosure control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndicatorValue {
    /// Indicator id, `I01` … `I12` (or a municipality's own id).
    pub indicator: String,
    /// The level of `code`.
    pub level: Level,
    /// The area code at that level (`onbekend` for unlinked records).
    pub code: String,
    /// The wijk the area belongs to (for a wijk its own code; for a gemeente
    /// row the gemeentecode is repeated here).
    pub wijkcode: String,
    /// The gemeente the area belongs to.
    pub gemeentecode: String,
    /// Numerator count.
    pub numerator: i64,
    /// Denominator count.
    pub denominator: i64,
    /// Distinct privacy units behind the numerator.
    pub numerator_support: i64,
    /// Distinct privacy units behind the denominator.
    pub denominator_support: i64,
    /// Sum of the secret record keys (ingest's `record_key`, each in
    /// [0, 2^32)) of the records counted in the numerator: the input of
    /// cell-key perturbation. `None` when the indicator file does not
    /// report it (such an indicator cannot be released). Never printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerator_key: Option<i64>,
    /// The same for the denominator's records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denominator_key: Option<i64>,
}

impl IndicatorValue {
    /// Rate per 1,000 of the denominator; `None` when the denominator is 0.
    pub fn rate(&self) -> Option<f64> {
        (self.denominator != 0).then(|| self.numerator as f64 * 1000.0 / self.denominator as f64)
    }
}

/// All indicator values for one peildatum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndicatorTable {
    /// The reference date.
    pub peildatum: NaiveDate,
    /// Values, sorted by (indicator, level, code).
    pub values: Vec<IndicatorValue>,
}
