//! The one error type of this crate.

use std::path::PathBuf;

use knooppunt_core::ErrorKind;

/// Everything that can go wrong while generating exports.
///
/// Messages name files and settings, never generated values.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// The configuration cannot be honoured (scale out of range, no buurten,
    /// a scale so large that an identifier space runs out).
    #[error("invalid synth configuration: {reason}")]
    InvalidConfig {
        /// What is wrong with the configuration.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("io error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying IO error.
        #[source]
        source: std::io::Error,
    },
    /// Writing a CSV record failed (IO, or text that the file's encoding
    /// cannot represent).
    #[error("cannot write csv {path}: {source}")]
    Csv {
        /// The CSV file being written.
        path: PathBuf,
        /// The underlying CSV error.
        #[source]
        source: csv::Error,
    },
    /// Writing the spreadsheet failed.
    #[error("cannot write spreadsheet {path}: {source}")]
    Xlsx {
        /// The workbook being written.
        path: PathBuf,
        /// The underlying writer error.
        #[source]
        source: rust_xlsxwriter::XlsxError,
    },
    /// Serialising the report failed.
    #[error("cannot write report {path}: {source}")]
    Json {
        /// The report file.
        path: PathBuf,
        /// The underlying serde error.
        #[source]
        source: serde_json::Error,
    },
    /// The buurten file could not be loaded.
    #[error(transparent)]
    Geo(#[from] knooppunt_geo::GeoError),
}

impl SynthError {
    /// Classifies the error by fault.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SynthError::InvalidConfig { .. } => ErrorKind::BadInput,
            SynthError::Geo(e) => e.kind(),
            SynthError::Io { .. }
            | SynthError::Csv { .. }
            | SynthError::Xlsx { .. }
            | SynthError::Json { .. } => ErrorKind::Internal,
        }
    }

    /// An [`SynthError::Io`] on `path`, for `map_err`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> SynthError {
        let path = path.into();
        move |source| SynthError::Io { path, source }
    }

    /// An [`SynthError::InvalidConfig`] with `reason`.
    pub(crate) fn config(reason: impl Into<String>) -> SynthError {
        SynthError::InvalidConfig {
            reason: reason.into(),
        }
    }
}
