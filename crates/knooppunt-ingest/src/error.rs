use std::path::PathBuf;

use knooppunt_core::ErrorKind;

/// Everything that can stop the ingestion of a file or a run. Row-level
/// problems are not errors: they go to quarantine. No variant ever carries
/// a value from the input, only where it was and what rule it broke.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The pseudonym key file is missing or unusable.
    #[error("pseudonym key file {}: {reason}", path.display())]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it (never the key).
        reason: String,
    },
    /// No key file was given, so BSNs cannot be pseudonymised.
    #[error(
        "no pseudonym key file: pass --key-file or set KNOOPPUNT_PSEUDONYM_KEY_FILE; ingest refuses to run without one"
    )]
    NoKey,
    /// A file lacks columns the contract requires.
    #[error("{file}: missing required column(s): {}", columns.join(", "))]
    MissingColumns {
        /// The export file name.
        file: String,
        /// The missing column names.
        columns: Vec<String>,
    },
    /// A file cannot be parsed at all (not a CSV, not an xlsx workbook, no
    /// header, missing sheet).
    #[error("{file}: unreadable: {reason}")]
    Unreadable {
        /// The export file name.
        file: String,
        /// What made it unreadable (structure only, never a value).
        reason: String,
    },
    /// The buurt boundaries are invalid.
    #[error("{file}: {source}")]
    Geo {
        /// The GeoJSON file.
        file: String,
        /// The geo error.
        source: knooppunt_geo::GeoError,
    },
    /// A source needs another source's snapshot, and there is none.
    #[error(
        "{source_name}: needs a current snapshot of {dependency}, which the lake does not have"
    )]
    MissingDependency {
        /// The source being ingested.
        source_name: String,
        /// The source it depends on.
        dependency: String,
    },
    /// Writing Parquet failed.
    #[error("{}: parquet: {message}", path.display())]
    Parquet {
        /// The file being written or read.
        path: PathBuf,
        /// The error text from the Parquet library.
        message: String,
    },
    /// The lake's manifest is unreadable or inconsistent.
    #[error("manifest {}: {reason}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Another process holds the lake's lock.
    #[error("lake {} is locked by another ingest", path.display())]
    Locked {
        /// The lake directory.
        path: PathBuf,
    },
}

impl IngestError {
    /// Classifies the error by fault.
    pub fn kind(&self) -> ErrorKind {
        match self {
            IngestError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            IngestError::Io { .. } | IngestError::Parquet { .. } | IngestError::Manifest { .. } => {
                ErrorKind::Internal
            }
            IngestError::KeyFile { .. } | IngestError::NoKey => ErrorKind::BadInput,
            IngestError::MissingColumns { .. }
            | IngestError::Unreadable { .. }
            | IngestError::Geo { .. } => ErrorKind::BadInput,
            IngestError::MissingDependency { .. } => ErrorKind::NotFound,
            IngestError::Locked { .. } => ErrorKind::Exhausted,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> IngestError {
        let path = path.into();
        move |source| IngestError::Io { path, source }
    }

    pub(crate) fn parquet(
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(parquet::errors::ParquetError) -> IngestError {
        let path = path.into();
        move |e| IngestError::Parquet {
            path,
            message: e.to_string(),
        }
    }
}
