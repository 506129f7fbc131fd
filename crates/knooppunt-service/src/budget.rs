//! The privacy-budget ledger of analyst SQL (PRIVACY.md, "Analyst SQL").
//!
//! Every analyst — the natural person behind one or more tokens — has a
//! budget of ε and one of δ per calendar period, from [`BudgetConfig`].
//! Before a query runs, its cost ([`Cost`]: the ε per query and the δ its
//! calibration uses, see [`crate::analyst`]) is debited by
//! [`Ledger::charge`]:
//!
//! 1. if an answer for the identical canonical plan on the same data snapshot
//!    ([`CacheKey`]) is stored, that answer is returned and nothing is
//!    debited — re-releasing the same noisy answer reveals nothing new, so
//!    the cache is shared by all analysts; a re-worded query has another
//!    plan fingerprint and pays again;
//! 2. if the cost's ε or its δ does not fit in what is left of the analyst's
//!    budget for the current period, the query is refused
//!    ([`BudgetError::Exhausted`] for ε, [`BudgetError::DeltaExhausted`]
//!    for δ);
//! 3. otherwise one debit line is appended to `ledger.jsonl` and fsynced
//!    before `charge` returns, so no query runs on an unrecorded debit.
//!
//! After the query ran and its answer was noised, the caller stores the
//! released answer with [`Ledger::store_answer`]. A debit whose query then
//! fails stays spent: the ledger cannot know how far the query got, and
//! over-counting spend is the safe side.
//!
//! Amounts are exact integers ([`MicroEpsilon`], and [`Delta`] in units of
//! 10⁻¹⁸); there is no float in the budget arithmetic.
//!
//! # Files
//! In the ledger directory:
//! - `ledger.jsonl`: append-only, one JSON line per debit
//!   ([`LedgerEntry`]: `seq`, `time`, `analyst`, `period`, `charged`,
//!   `delta_charged`, `plan_fingerprint`, `snapshot`, `trace_id`), sequence
//!   numbers 1, 2, … without gaps; a line written before δ was recorded has
//!   no `delta_charged` and reads as δ 0 (those queries were pure ε-DP or
//!   spent δ only on a private-key threshold that was not yet accounted);
//! - `ledger.lock`: the OS file lock that serialises check-and-debit across
//!   processes (the CLI and the server may share one directory);
//! - `answers/<sha256>.json`: the answer cache, one file per [`CacheKey`],
//!   written atomically (temporary file, fsync, rename, fsync directory);
//! - `torn-<n>.bin`: the bytes of a torn last line, moved aside (below).
//!
//! # Crashes
//! A debit is acknowledged only after its whole line, newline included, is
//! fsynced. Bytes after the last newline are therefore a debit that was
//! never acknowledged, so its query never ran: the ledger moves them into
//! `torn-<n>.bin` (for inspection) and truncates the ledger to the last
//! complete line. A complete line that does not parse, or a gap in the
//! sequence numbers, is corruption, not a crash: the ledger refuses to open
//! (or to charge) and names the file and line ([`BudgetError::Corrupt`]).
//!
//! # Concurrency
//! Check-and-debit is serialisable: one ledger holds an in-process mutex,
//! then the exclusive OS lock on `ledger.lock`, reads the lines other
//! processes appended since it last looked, checks, appends and fsyncs, and
//! only then releases both. All processes sharing a directory must use the
//! same [`BudgetConfig`].
//!
//! # Who sees what
//! [`Ledger::balance`] and [`Ledger::entries`] serve both the analyst (own
//! entries) and privacy officers (all); the caller decides which one may ask
//! for what. Each entry carries the trace id of its request, so the ledger
//! can be reconciled with the audit log, whose records carry the same trace
//! id and the charged and left amounts of [`Charge::Debited`].

mod amount;
mod ledger;
mod period;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use amount::{Cost, Delta, MicroEpsilon};
pub use ledger::{Balance, Charge, LEDGER_FILE, LOCK_FILE, Ledger, LedgerEntry};
pub use period::Period;

/// Why the ledger did not debit (or could not be read). Messages name files,
/// lines and budget amounts, never data values.
#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    /// The query costs more than is left of the analyst's budget for this
    /// period.
    #[error("privacy budget exhausted: the query costs ε {cost}, ε {left} is left in this period")]
    Exhausted {
        /// Budget left in the current period.
        left: MicroEpsilon,
        /// Cost of the refused query.
        cost: MicroEpsilon,
    },
    /// The query's δ is more than is left of the analyst's δ budget for
    /// this period (its ε may still fit).
    #[error("privacy budget exhausted: the query costs δ {cost}, δ {left} is left in this period")]
    DeltaExhausted {
        /// δ left in the current period.
        left: Delta,
        /// δ of the refused query.
        cost: Delta,
    },
    /// A ledger file could not be read, written or synced.
    #[error("budget ledger: cannot {op} {}: {kind}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The kind of I/O error.
        kind: std::io::ErrorKind,
    },
    /// A ledger or answer file holds a complete line that is not a valid
    /// entry.
    #[error("budget ledger corrupt: {}, line {line}: {reason}", file.display())]
    Corrupt {
        /// The file.
        file: PathBuf,
        /// The line (1-based).
        line: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Invalid configuration or argument.
    #[error("budget configuration: {0}")]
    Config(String),
}

impl BudgetError {
    /// A closure that turns an I/O error on `path` into [`BudgetError::Io`].
    pub(crate) fn io(
        op: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> BudgetError {
        let path = path.to_path_buf();
        move |e| BudgetError::Io {
            op,
            path,
            kind: e.kind(),
        }
    }
}

/// How much ε and δ every analyst gets per period.
///
/// ```json
/// {"epsilon_per_period": "3.0", "delta_per_period": "0.00001", "period": "month",
///  "overrides": {"a.jansen": "5.0"}, "delta_overrides": {"a.jansen": "0.00002"},
///  "query": {"epsilon_per_query": "0.1", "delta": "1/10000000"}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetConfig {
    /// Budget of an analyst per period, unless overridden.
    pub epsilon_per_period: MicroEpsilon,
    /// δ budget of every analyst per period (default 10⁻⁵): the δ of all
    /// answered queries of a period adds up to at most this (a decimal or a
    /// fraction: `"0.00001"`, `"1/100000"`).
    pub delta_per_period: Delta,
    /// The calendar period the budget is granted for.
    pub period: Period,
    /// Per-analyst budgets per period, replacing `epsilon_per_period`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub overrides: BTreeMap<String, MicroEpsilon>,
    /// Per-analyst δ budgets per period, replacing `delta_per_period`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub delta_overrides: BTreeMap<String, Delta>,
    /// What each analyst query costs and how it is noised (ε per query,
    /// δ, contribution bounds): `"query": {…}`.
    pub query: crate::analyst::QueryConfig,
}

impl BudgetConfig {
    /// The default budget: ε 3.0 per calendar month.
    pub const DEFAULT_EPSILON: MicroEpsilon = MicroEpsilon::from_micros(3_000_000);
    /// The default δ budget: 10⁻⁵ per period.
    pub const DEFAULT_DELTA: Delta = Delta::from_units(10_000_000_000_000);

    /// A configuration without overrides.
    pub fn new(epsilon_per_period: MicroEpsilon, period: Period) -> BudgetConfig {
        BudgetConfig {
            epsilon_per_period,
            delta_per_period: BudgetConfig::DEFAULT_DELTA,
            period,
            overrides: BTreeMap::new(),
            delta_overrides: BTreeMap::new(),
            query: crate::analyst::QueryConfig::default(),
        }
    }

    /// The same configuration with `analyst` granted `epsilon` per period.
    pub fn with_override(mut self, analyst: &str, epsilon: MicroEpsilon) -> BudgetConfig {
        self.overrides.insert(analyst.to_owned(), epsilon);
        self
    }

    /// Reads a configuration from JSON (missing fields take the defaults).
    pub fn from_json(text: &str) -> Result<BudgetConfig, BudgetError> {
        let config: BudgetConfig =
            serde_json::from_str(text).map_err(|e| BudgetError::Config(e.to_string()))?;
        if config.query.max_groups == 0 || config.query.max_contribution == 0 {
            return Err(BudgetError::Config(
                "query.max_groups and query.max_contribution must be at least 1".to_string(),
            ));
        }
        Ok(config)
    }

    /// The budget per period of `analyst`.
    pub fn limit_for(&self, analyst: &str) -> MicroEpsilon {
        self.overrides
            .get(analyst)
            .copied()
            .unwrap_or(self.epsilon_per_period)
    }

    /// The δ budget per period of `analyst`.
    pub fn delta_limit_for(&self, analyst: &str) -> Delta {
        self.delta_overrides
            .get(analyst)
            .copied()
            .unwrap_or(self.delta_per_period)
    }
}

impl Default for BudgetConfig {
    fn default() -> BudgetConfig {
        BudgetConfig::new(BudgetConfig::DEFAULT_EPSILON, Period::Month)
    }
}

/// What makes two queries identical for the answer cache: the canonical plan
/// fingerprint and the data snapshot it ran on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CacheKey {
    /// Fingerprint of the canonical logical plan.
    pub plan_fingerprint: String,
    /// Identifier of the data snapshot.
    pub snapshot: String,
}

impl CacheKey {
    /// A key from a plan fingerprint and a snapshot.
    pub fn new(plan_fingerprint: impl Into<String>, snapshot: impl Into<String>) -> CacheKey {
        CacheKey {
            plan_fingerprint: plan_fingerprint.into(),
            snapshot: snapshot.into(),
        }
    }

    /// Hex SHA-256 of the key, unambiguous (each part length-prefixed): the
    /// name of its answer file.
    pub fn digest(&self) -> String {
        let mut hash = Sha256::new();
        for part in [&self.plan_fingerprint, &self.snapshot] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        hex::encode(hash.finalize())
    }
}
