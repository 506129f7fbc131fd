//! Ingestion: departmental exports in, a crash-safe Parquet lake out.
//!
//! # Brief overview
//! - [`ingest`] runs everything for an exports directory and a lake, with
//!   [`IngestOptions`] and a [`Progress`] observer, and returns an
//!   [`IngestSummary`] (per source: [`Status`] and [`Counts`]).
//! - [`PseudonymKey`] turns BSNs into keyed pseudonyms and every privacy
//!   unit into a secret record key (HMAC-SHA-256, two domains).
//! - [`Manifest`] is the lake's table of contents: the current immutable
//!   [`Snapshot`] of each source, its input hashes and counts.
//!
//! Inside: `input` hashes files and detects their encoding; `rows` streams
//! CSV and xlsx rows with line numbers; `parse` handles the contract's
//! quirks; `spec` holds the per-source columns and turns a valid row into a
//! lake row; `link` assigns buurten; `batch` writes Parquet; `lake` keeps
//! snapshots and the manifest atomic. Bad rows go to a per-snapshot
//! quarantine with file, line, column and rule, never the value.
//!
//! This crate knows nothing of DataFusion or HTTP.

mod batch;
mod error;
mod input;
mod key;
mod lake;
mod link;
mod parse;
mod rows;
mod run;
mod spec;

pub use error::IngestError;
pub use input::Encoding;
pub use key::{MIN_KEY_BYTES, PseudonymKey};
pub use lake::{
    Counts, InputFile, KEEP_SNAPSHOTS, MANIFEST, Manifest, Snapshot, SourceEntry, snapshot_dir,
};
pub use run::{IngestOptions, IngestSummary, NoProgress, Progress, SourceReport, Status, ingest};
