//! The one error type of the query layer.

use std::fmt;
use std::path::PathBuf;

use knooppunt_core::ErrorKind;

/// What is wrong with an indicator query file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryFileProblem {
    /// The file does not start with a `-- key: value` header block.
    NoHeader,
    /// A header line is not of the form `-- key: value`.
    MalformedHeaderLine,
    /// A header key this registry does not know.
    UnknownKey(String),
    /// A header key given twice.
    DuplicateKey(String),
    /// A required header key is missing (or empty).
    MissingKey(&'static str),
    /// The id is neither `I` + digits nor a custom id (an upper-case letter
    /// followed by up to 31 upper-case letters, digits, `_` or `-`).
    InvalidId,
    /// `privacy_unit` is not one of person, address, company, report, sale.
    UnknownPrivacyUnit,
    /// `sources` names a source the contract does not know.
    UnknownSource,
    /// The SQL uses a `{{placeholder}}` other than `peildatum` and
    /// `window_start`, or an unterminated one.
    UnknownPlaceholder,
    /// There is no SQL after the header.
    EmptyQuery,
    /// The file is not valid UTF-8.
    NotUtf8,
}

impl fmt::Display for QueryFileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryFileProblem::NoHeader => {
                write!(
                    f,
                    "no header: the file must start with `-- key: value` lines"
                )
            }
            QueryFileProblem::MalformedHeaderLine => {
                write!(f, "header line is not of the form `-- key: value`")
            }
            QueryFileProblem::UnknownKey(k) => write!(
                f,
                "unknown header key `{k}` (known: id, title, numerator, denominator, sources, privacy_unit)"
            ),
            QueryFileProblem::DuplicateKey(k) => write!(f, "header key `{k}` given twice"),
            QueryFileProblem::MissingKey(k) => write!(f, "header key `{k}` is missing or empty"),
            QueryFileProblem::InvalidId => write!(
                f,
                "invalid id: use `I` + digits (I13) or an upper-case custom id such as GM0034_LEEGSTAND"
            ),
            QueryFileProblem::UnknownPrivacyUnit => write!(
                f,
                "unknown privacy_unit (use person, address, company, report or sale)"
            ),
            QueryFileProblem::UnknownSource => write!(
                f,
                "unknown source in `sources` (use buurten, kerncijfers, bag, brp, kvk, meldingen, energie, vastgoed, handhaving)"
            ),
            QueryFileProblem::UnknownPlaceholder => write!(
                f,
                "unknown or unterminated placeholder (only {{{{peildatum}}}} and {{{{window_start}}}} exist)"
            ),
            QueryFileProblem::EmptyQuery => write!(f, "no SQL after the header"),
            QueryFileProblem::NotUtf8 => write!(f, "not valid UTF-8"),
        }
    }
}

/// Errors of the query layer. Messages name files, sources, indicators and
/// columns, never a value from the data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The lake directory has no `manifest.json`.
    #[error("{} is not a lake: it has no manifest.json (run `knooppunt ingest` first)", lake.display())]
    LakeNotFound {
        /// The lake directory.
        lake: PathBuf,
    },
    /// A file or directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The manifest is not what ingest writes.
    #[error("invalid lake manifest {}: {reason}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong (structure only).
        reason: String,
    },
    /// A data file named by the manifest is missing or its name is unsafe.
    #[error(
        "snapshot {snapshot} of source {source_name}: data file {file} is missing or not a plain relative path"
    )]
    SnapshotFile {
        /// The source.
        source_name: &'static str,
        /// The snapshot id.
        snapshot: String,
        /// The file name as listed in the manifest.
        file: String,
    },
    /// An indicator query file is malformed.
    #[error("indicator file {file}: {problem}")]
    QueryFile {
        /// The file name.
        file: String,
        /// What is wrong.
        problem: QueryFileProblem,
    },
    /// Two indicator files declare the same id.
    #[error("indicator id {id} is declared by both {first} and {second}")]
    DuplicateIndicator {
        /// The id.
        id: String,
        /// The first file.
        first: String,
        /// The second file.
        second: String,
    },
    /// The peildatum cannot be written as a SQL date, or its window start
    /// does not exist.
    #[error("peildatum out of range (years 1 to 9999)")]
    PeildatumOutOfRange,
    /// No dated record exists in the lake, so there is no default peildatum.
    #[error("the lake holds no dated records: pass a peildatum explicitly")]
    NoDatedRecords,
    /// A query (an indicator or a derived view) failed to plan: bad SQL, an
    /// unknown table or column, a type error.
    #[error("query {query} ({file}) does not plan: {reason}")]
    Plan {
        /// Indicator id or view name.
        query: String,
        /// The file it came from.
        file: String,
        /// The planner's message (derived from the SQL and the schemas,
        /// never from data).
        reason: String,
    },
    /// A query failed while running. Only the category of the failure is
    /// kept: execution messages can quote values from the data.
    #[error("query {query} ({file}) failed while running ({category})")]
    Execution {
        /// Indicator id or view name.
        query: String,
        /// The file it came from.
        file: String,
        /// The failure category (`arrow`, `io`, `execution`, ...).
        category: &'static str,
    },
    /// The memory budget was exhausted and the operator could not spill.
    #[error("query {query} exhausted the memory limit of {limit} bytes; raise --memory-limit")]
    ResourcesExhausted {
        /// Indicator id or view name.
        query: String,
        /// The configured limit.
        limit: usize,
    },
    /// An indicator query returned something other than the required
    /// columns and values.
    #[error("indicator {indicator} ({file}): result {problem}")]
    InvalidResult {
        /// The indicator id.
        indicator: String,
        /// The file it came from.
        file: String,
        /// What is wrong (a column name and a rule, never a value).
        problem: String,
    },
    /// The engine's DataFusion runtime or worker threads could not be set up.
    #[error("engine setup failed: {reason}")]
    Setup {
        /// What failed.
        reason: String,
    },
    /// A query task on the engine's runtime panicked or was cancelled.
    #[error("query task on the engine runtime did not finish")]
    TaskFailed,
}

impl QueryError {
    /// Classifies the error by fault.
    pub fn kind(&self) -> ErrorKind {
        match self {
            QueryError::LakeNotFound { .. } | QueryError::NoDatedRecords => ErrorKind::NotFound,
            QueryError::QueryFile { .. }
            | QueryError::DuplicateIndicator { .. }
            | QueryError::PeildatumOutOfRange
            | QueryError::Plan { .. }
            | QueryError::InvalidResult { .. } => ErrorKind::BadInput,
            QueryError::ResourcesExhausted { .. } => ErrorKind::Exhausted,
            QueryError::Io { .. }
            | QueryError::Manifest { .. }
            | QueryError::SnapshotFile { .. }
            | QueryError::Execution { .. }
            | QueryError::Setup { .. }
            | QueryError::TaskFailed => ErrorKind::Internal,
        }
    }
}
