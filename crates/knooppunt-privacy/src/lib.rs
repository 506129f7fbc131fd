//! Disclosure control of knooppunt's released tables (PRIVACY.md,
//! "Released tables"): what a dashboard or `knooppunt … --release` may show
//! of the indicator tables.
//!
//! # Brief overview
//! - [`CellInput`] is one indicator in one area (buurt, wijk or gemeente),
//!   exact: numerator, denominator, their support (distinct privacy units),
//!   their privacy units, and the sums of their records' secret keys.
//! - [`release`] applies, in order: the **threshold** on support (`k` per
//!   privacy unit, [`Thresholds`]), **dominance** for sums ([`Dominance`]),
//!   **secondary suppression** across buurt ⊂ wijk ⊂ gemeente and across
//!   indicators sharing a denominator, and **cell-key perturbation** of the
//!   released counts ([`PerturbationTable`]); rates are computed from the
//!   perturbed counts. It returns a [`Release`]: the [`ReleaseParameters`]
//!   used, a [`ReleaseSummary`] for the audit log and the [`ReleasedCell`]s,
//!   each number a [`CellValue`] — released, or suppressed with a
//!   [`SuppressionReason`].
//! - [`Release::to_json`] and [`Release::write_csv`] are the two output
//!   forms. Both are byte-identical for identical input.
//! - [`ReleaseConfig`] is the serde configuration, defaulted from
//!   PRIVACY.md; [`ReleaseConfig::validate`] refuses any `k` below 3.
//! - [`PrivacyError`] is the one error type; no message carries a value
//!   from the data.
//!
//! # Threshold and dominance (primary suppression)
//! A numerator whose support is 1 … `k − 1` (`k` of the numerator's unit)
//! is suppressed (`threshold`). A denominator whose support is below `k` (of
//! the denominator's unit) is suppressed with its numerator and rate
//! (`threshold`): the whole cell. A numerator of 0 (support 0) over a
//! denominator with support ≥ `k` is released as exactly 0. A numerator that
//! is a sum ([`CellInput::numerator_dominance`]) is suppressed
//! (`dominance`) when its 2 largest contributors make up more than 85 % of
//! it.
//!
//! # Secondary suppression
//! Every wijk is the sum of its buurten and every gemeente the sum of its
//! wijken, for every indicator's numerator and every denominator group's
//! denominator (indicators sharing a denominator show the same number, so a
//! denominator is suppressed for all of them or for none). Extra cells are
//! suppressed (`secondary`) until, for an attacker who knows every released
//! number exactly (conservative: they are perturbed), every relation and
//! that nothing is negative, every suppressed number can still take values
//! in an interval at least `k` wide. The suppression pattern is chosen on
//! the exact values, before perturbation. The method (a sufficient
//! condition per equation, repaired greedily with the smallest adequate
//! cells) is described in the `suppress` module; the tests check it with an
//! attacker's linear programs. A rate is released only when both its
//! numerator and its denominator are (else numerator × rate would reveal
//! the denominator); it then carries the reason of the suppressed part.
//!
//! # Perturbation (cell-key method)
//! A cell's key is the sum of the secret record keys of the units counted,
//! modulo 2³²; mapped to `[0, 1)` it selects the noise from the row of the
//! published table for the true count. Identical cells get identical noise
//! (repeating a request gains nothing); a cell with one unit more has a key
//! shifted by that unit's uniformly random key, so its noise is unrelated.
//! The default table `knooppunt-ckm-v1` (probabilities in 32nds):
//!
//! | true count | −2 | −1 | 0 | +1 | +2 | mean | variance | max \|noise\| |
//! |---|---|---|---|---|---|---|---|---|
//! | 0, 1 | | | 32 | | | 0 | 0 | 0 |
//! | 2 | | 10 | 14 | 6 | 2 | 0 | 0.75 | 2 |
//! | ≥ 3 | 2 | 9 | 10 | 9 | 2 | 0 | 1.0625 | 2 |
//!
//! Every row has mean exactly 0 (the released counts are unbiased), a count
//! of 0 stays 0, and a positive count never becomes 0 or negative. Counts 1
//! and 2 are never released in practice (their support is below every
//! `k`); their rows exist so that the table is total. The **differencing
//! bound**: for released counts (≥ 3) the total variation distance between
//! the released values of a count `v` and `v + 1` is 10/32 = 0.3125 per
//! cell ([`PerturbationTable::differencing_bound`]); no test on one
//! released cell can tell "with" from "without" one unit with an advantage
//! beyond that. [`PerturbationTable::to_markdown`] prints the table.
//!
//! # Output
//! JSON: `"numerator": 12, "numerator_status": "released"`, or
//! `"numerator": null, "numerator_status": "threshold" | "dominance" |
//! "secondary"`; likewise `denominator` and `rate`. CSV: the same columns
//! ([`CSV_HEADER`]); a suppressed number is written `-99997` (CBS's code
//! for "geheim" in its machine-readable Kerncijfers Wijken en Buurten
//! files; [`CsvSuppressedMarker::Dot`] writes CBS's printed `.` instead) and
//! its status column names the reason. Cells are sorted by indicator, level
//! (buurt, wijk, gemeente) and code.
//!
//! # Noise for analyst SQL
//! The [`dp`] module (PRIVACY.md, "Analyst SQL") draws integer noise —
//! discrete Laplace and discrete Gaussian — with exact integer samplers
//! from [`dp::NoiseRng`], a ChaCha20 generator keyed by the operating
//! system, and calibrates it: scales from ε or ρ ([`dp::Rational`], never a
//! float), confidence half-widths and the threshold for releasing group
//! keys outside a public domain ([`dp::threshold_for_delta`]).

mod config;
pub mod dp;
mod error;
mod input;
mod output;
mod perturbation;
mod release;
mod suppress;

pub use config::{
    CsvSuppressedMarker, Dominance, MIN_K, ReleaseConfig, ReleaseParameters, Thresholds,
};
pub use error::{CellProblem, PrivacyError};
pub use input::{CellInput, Contributions};
pub use output::{
    CSV_HEADER, CellValue, Release, ReleaseSummary, ReleasedCell, StatusCounts, SuppressionReason,
};
pub use perturbation::{NoiseWeight, PerturbationRow, PerturbationTable, RowStatistics};
pub use release::{release, release_with};
