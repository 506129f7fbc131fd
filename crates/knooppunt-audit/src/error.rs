use std::path::PathBuf;

use knooppunt_core::ErrorKind;

/// Everything that can go wrong in the audit log.
///
/// No variant carries a record's field values or a data value: they name
/// files, lines, sequence numbers and rules only.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A file or directory of the log could not be read or created.
    #[error("audit log: cannot {op} {path}: {source}")]
    Io {
        /// What was being done (`open`, `read`, `create`, …).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Writing or syncing a batch of records failed; the records in it were
    /// not acknowledged and their results must not be released.
    #[error("audit log: record could not be written durably, nothing may be released: {source}")]
    WriteFailed {
        /// The operating system's error.
        source: std::io::Error,
    },
    /// An earlier batch failed to be written; the log refuses every further
    /// append until it is reopened (which detects a torn tail).
    #[error("audit log: refusing appends after an earlier write failure; reopen the log")]
    Poisoned,
    /// The log's writer has stopped (the log was closed or its thread died).
    #[error("audit log: the writer has stopped")]
    Closed,
    /// Another process (or handle) holds the log directory.
    #[error("audit log: {dir} is in use by another writer")]
    Locked {
        /// The log directory.
        dir: PathBuf,
    },
    /// A draft record is not acceptable (for example a non-finite number).
    #[error("audit log: invalid record field `{field}`: {reason}")]
    InvalidDraft {
        /// The field's name.
        field: &'static str,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The signing key file lies inside the log directory.
    #[error("audit log: signing key {key} must not lie inside the log directory {dir}")]
    KeyInsideLogDir {
        /// The key file.
        key: PathBuf,
        /// The log directory.
        dir: PathBuf,
    },
    /// The signing key file is malformed, too widely readable, or exists
    /// already when a new one is generated.
    #[error("audit log: signing key {path}: {reason}")]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A checkpoint was asked for but the log was opened without a key.
    #[error("audit log: no signing key configured, cannot write a checkpoint")]
    NoSigningKey,
    /// A line of a segment or checkpoint file cannot be understood.
    #[error("audit log: {file}:{line}: {reason}")]
    Corrupt {
        /// The file.
        file: PathBuf,
        /// One-based line number.
        line: u64,
        /// What is wrong (never the line's content).
        reason: String,
    },
    /// Building the Arrow record batch failed.
    #[error("audit log: building the record batch: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

impl AuditError {
    /// Classifies the error by fault.
    pub fn kind(&self) -> ErrorKind {
        match self {
            AuditError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            AuditError::Io { .. }
            | AuditError::WriteFailed { .. }
            | AuditError::Poisoned
            | AuditError::Closed
            | AuditError::Corrupt { .. }
            | AuditError::Arrow(_) => ErrorKind::Internal,
            AuditError::Locked { .. } => ErrorKind::Exhausted,
            AuditError::InvalidDraft { .. } => ErrorKind::BadInput,
            AuditError::KeyInsideLogDir { .. }
            | AuditError::KeyFile { .. }
            | AuditError::NoSigningKey => ErrorKind::BadInput,
        }
    }

    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> AuditError {
        let path = path.into();
        move |source| AuditError::Io { op, path, source }
    }
}
