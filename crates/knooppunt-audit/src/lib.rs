//! The audit log of knooppunt: every access to the fused data, recorded
//! durably before any result leaves the engine, tamper-evident, and
//! queryable by privacy officers (`../shared/contract/PRIVACY.md`, "Audit
//! log").
//!
//! # Brief overview
//! - [`RecordDraft`] is what a caller fills in for one access; [`AuditLog::append`]
//!   turns it into an [`AuditRecord`] (adding sequence number, time from the
//!   injected [`knooppunt_core::TimeProvider`], and the previous record's
//!   hash) and returns a [`Receipt`] only once the record is fsynced. No type
//!   here has a field for result values.
//! - Records are JSON lines in segment files `segment-000001.jsonl`, … in
//!   the log directory; each carries the SHA-256 of the previous line's exact
//!   bytes ([`GENESIS_HASH`] for the first).
//! - [`AuditLog`] is a cloneable, `Send + Sync` handle to one writer thread
//!   that batches concurrent appends into one write and one fsync (group
//!   commit). A failed write refuses that batch and every later append until
//!   the log is reopened (fail closed). The file layer is the
//!   [`SegmentSink`] trait, so tests can inject faults.
//! - [`Checkpoint`]s sign (Ed25519) a sequence number and head hash; they
//!   are written to `checkpoints.jsonl` every N records or T seconds, on
//!   [`AuditLog::checkpoint`], and when the last handle closes. The key lives
//!   in a file outside the log directory ([`generate_signing_key`]).
//! - Opening a log moves a torn tail (a record cut short by a crash) aside to
//!   `torn-<seq>.bin` and records a [`RecordKind::LogEvent`]; see
//!   [`OpenReport`].
//! - [`verify`] checks segments, chain and checkpoints, and names the first
//!   bad record with a [`ProblemKind`]; [`VerifyReport::is_ok`] is the CLI's
//!   exit status.
//! - [`read_log`]/[`read_records`] read records back; [`records_to_batch`] and
//!   [`audit_schema`] give them as an Arrow table for SQL; [`review`] computes
//!   the review aids ([`Review`]).

mod batch;
mod checkpoint;
mod error;
mod log;
mod reader;
mod record;
mod review;
mod segment;
mod verify;

pub use batch::{audit_schema, records_to_batch};
pub use checkpoint::{
    CHECKPOINTS_FILE, Checkpoint, PublicKeyInfo, generate_signing_key, public_key_of,
    read_checkpoints,
};
pub use error::AuditError;
pub use log::{AuditConfig, AuditLog, Head, OpenReport, Receipt, TornTail};
pub use reader::{RecordIter, read_log, read_records};
pub use record::{Actor, AuditRecord, GENESIS_HASH, LogEvent, Outcome, RecordDraft, RecordKind};
pub use review::{
    ActorRate, BudgetBurn, BusyHour, NarrowDifference, NarrowPair, NearDuplicate, Review,
    ReviewConfig, normalise_sql, review,
};
pub use segment::{FileSink, SegmentSink};
pub use verify::{
    Location, Problem, ProblemKind, VerifyOptions, VerifyReport, verify, verify_with,
};
