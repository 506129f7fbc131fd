//! Shared vocabulary of knooppunt.
//!
//! # Brief overview
//! - [`Source`] names every departmental export of the contract
//!   (`../shared/contract/EXPORTS.md`), its file name and its privacy unit.
//! - [`schema`] gives the Arrow schema of each source's Parquet dataset in the
//!   lake; it is the only place where ingest (which writes) and query (which
//!   reads) meet. [`quarantine_schema`] is the schema of quarantined rows.
//! - [`Rule`] lists the validation rules whose failure sends a row to
//!   quarantine; rules are named by code, never by the offending value.
//! - [`bsn_passes_eleven_check`] is the BSN 11-check, shared by the validator
//!   and the synthetic generator.
//! - [`Level`] is the area hierarchy buurt ⊂ wijk ⊂ gemeente.
//! - [`ErrorKind`] classifies errors by fault, [`TimeProvider`] injects time.
//!
//! This crate does no IO.

mod bsn;
mod clock;
mod level;
mod schema;
mod source;

pub use bsn::bsn_passes_eleven_check;
pub use clock::{FixedClock, SystemClock, TimeProvider};
pub use level::Level;
pub use schema::{quarantine_schema, schema};
pub use source::{PrivacyUnit, Rule, Source};

/// Version of the departmental export contract this build implements.
pub const CONTRACT_VERSION: &str = "exports-v1";

/// Buurt, wijk and gemeente code given to records that cannot be linked.
pub const ONBEKEND: &str = "onbekend";

/// Classification of an error by whose fault it is; the API maps this to a
/// status code in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The caller's input is malformed or violates the contract.
    BadInput,
    /// A named thing (file, snapshot, token) does not exist.
    NotFound,
    /// No or invalid credentials.
    Unauthorised,
    /// Credentials are valid but the action is not allowed.
    Forbidden,
    /// A budget or resource is exhausted.
    Exhausted,
    /// A fault of the system itself (IO, bug).
    Internal,
}
