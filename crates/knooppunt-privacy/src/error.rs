//! The crate's one error type.

use knooppunt_core::{ErrorKind, Level, PrivacyUnit};

/// What is wrong with one input cell. Named by rule, never by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CellProblem {
    /// A count or a support is negative.
    Negative,
    /// A count of zero has a positive support (units behind nothing).
    /// A support above a positive count is allowed: several units can
    /// stand behind one counted item (companies sharing an address).
    SupportAboveCount,
    /// A count is positive but its support is zero.
    CountWithoutSupport,
    /// Dominance contributions are negative, not ordered
    /// (`largest >= second_largest`) or exceed the total.
    InvalidContributions,
    /// A buurt or wijk names no parent code, or the code is empty.
    MissingCode,
}

impl std::fmt::Display for CellProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CellProblem::Negative => "a count or support is negative",
            CellProblem::SupportAboveCount => "a count of zero has a positive support",
            CellProblem::CountWithoutSupport => "a positive count has zero support",
            CellProblem::InvalidContributions => {
                "dominance contributions are negative, unordered or exceed the total"
            }
            CellProblem::MissingCode => "an area or parent code is empty",
        })
    }
}

/// Errors of disclosure control. Messages name parameters, indicators and
/// (public) area codes, never a value from the data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrivacyError {
    /// A threshold `k` is configured below the floor of 3 that PRIVACY.md
    /// sets.
    #[error("k for privacy unit {} is {k}; PRIVACY.md never allows k below {minimum}", unit.name())]
    KBelowMinimum {
        /// The privacy unit whose `k` is too low.
        unit: PrivacyUnit,
        /// The configured value.
        k: u32,
        /// The floor (3).
        minimum: u32,
    },
    /// Some other release parameter is out of range.
    #[error("release configuration: {field} {rule}")]
    InvalidConfig {
        /// The configuration field.
        field: &'static str,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// The perturbation table is not a valid table.
    #[error("perturbation table {id}: {rule}")]
    InvalidPerturbationTable {
        /// The table id.
        id: String,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// An input cell is internally inconsistent.
    #[error("indicator {indicator}, {} {code}: {problem}", level.name())]
    InvalidCell {
        /// The indicator id.
        indicator: String,
        /// The level of the area.
        level: Level,
        /// The area code.
        code: String,
        /// What is wrong.
        problem: CellProblem,
    },
    /// The same indicator and area appear twice.
    #[error("indicator {indicator}, {} {code} appears more than once", level.name())]
    DuplicateCell {
        /// The indicator id.
        indicator: String,
        /// The level of the area.
        level: Level,
        /// The area code.
        code: String,
    },
    /// Two cells of the same area name different parent codes.
    #[error("{} {code} is given different wijk or gemeente codes by different cells", level.name())]
    InconsistentArea {
        /// The level of the area.
        level: Level,
        /// The area code.
        code: String,
    },
    /// Indicators of one denominator group disagree on the denominator (its
    /// count, support, record key or unit) of one area, so it cannot be
    /// the same number.
    #[error(
        "denominator group {group}: indicators disagree on the denominator of {} {code}",
        level.name()
    )]
    DenominatorMismatch {
        /// The denominator group.
        group: String,
        /// The level of the area.
        level: Level,
        /// The area code.
        code: String,
    },
    /// An indicator's cells name different numerator units or denominator
    /// groups.
    #[error("indicator {indicator}: its cells disagree on the {what}")]
    InconsistentIndicator {
        /// The indicator id.
        indicator: String,
        /// `numerator unit`, `denominator group` or `denominator unit`.
        what: &'static str,
    },
    /// Secondary suppression found no cell left to suppress. This cannot
    /// happen for a tree-shaped hierarchy; it would be a bug.
    #[error("secondary suppression could not protect indicator or group {tree} (internal error)")]
    Unprotectable {
        /// The indicator or denominator group.
        tree: String,
    },
    /// Writing CSV or JSON failed.
    #[error("cannot write the release: {reason}")]
    Write {
        /// The writer's message (about IO, never about values).
        reason: String,
    },
}

impl PrivacyError {
    /// Classifies the error by fault.
    pub fn kind(&self) -> ErrorKind {
        match self {
            PrivacyError::KBelowMinimum { .. }
            | PrivacyError::InvalidConfig { .. }
            | PrivacyError::InvalidPerturbationTable { .. }
            | PrivacyError::InvalidCell { .. }
            | PrivacyError::DuplicateCell { .. }
            | PrivacyError::InconsistentArea { .. }
            | PrivacyError::DenominatorMismatch { .. }
            | PrivacyError::InconsistentIndicator { .. } => ErrorKind::BadInput,
            PrivacyError::Unprotectable { .. } | PrivacyError::Write { .. } => ErrorKind::Internal,
        }
    }
}
