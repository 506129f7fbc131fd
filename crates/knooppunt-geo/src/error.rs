//! The one error type of this crate.

use std::path::PathBuf;

use knooppunt_core::ErrorKind;

/// Everything that can go wrong while loading buurt polygons.
///
/// Messages name positions, feature indexes, property names and buurtcodes,
/// never other values from the input.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file that was read.
        path: PathBuf,
        /// The underlying IO error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not well-formed JSON (or not UTF-8).
    #[error("malformed JSON at line {line}, column {column}: {message}")]
    Json {
        /// 1-based line of the error, as reported by serde_json.
        line: usize,
        /// 1-based column of the error, as reported by serde_json.
        column: usize,
        /// What serde_json found wrong, without the position.
        message: String,
    },
    /// The JSON is well-formed but is not a GeoJSON FeatureCollection
    /// (wrong top-level `type`, no `features` array, malformed `crs`).
    #[error("not a GeoJSON FeatureCollection: {reason}")]
    InvalidDocument {
        /// What is wrong with the document.
        reason: String,
    },
    /// One feature is unusable: a missing or badly formatted property, an
    /// unsupported geometry type, a ring that is not closed, and so on.
    #[error("feature {index}{}: {reason}", buurtcode.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    InvalidFeature {
        /// 0-based position of the feature in `features`.
        index: usize,
        /// The feature's buurtcode, when it has a well-formed one.
        buurtcode: Option<String>,
        /// What is wrong with the feature.
        reason: String,
    },
    /// Two features carry the same buurtcode.
    #[error("buurtcode {buurtcode} occurs more than once")]
    DuplicateBuurt {
        /// The repeated buurtcode.
        buurtcode: String,
    },
    /// The top-level `crs` names a coordinate reference system other than
    /// RD New (EPSG:28992) or WGS84.
    #[error(
        "unsupported coordinate reference system {name:?}; expected EPSG:28992 (RD New) or WGS84"
    )]
    UnsupportedCrs {
        /// The name given in the `crs` member (truncated when very long).
        name: String,
    },
    /// There are no buurten at all.
    #[error("no buurten: the FeatureCollection is empty")]
    Empty,
}

impl GeoError {
    /// Classifies the error by fault: content errors are
    /// [`ErrorKind::BadInput`], a missing file is [`ErrorKind::NotFound`],
    /// any other IO failure is [`ErrorKind::Internal`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            GeoError::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => ErrorKind::NotFound,
                _ => ErrorKind::Internal,
            },
            GeoError::Json { .. }
            | GeoError::InvalidDocument { .. }
            | GeoError::InvalidFeature { .. }
            | GeoError::DuplicateBuurt { .. }
            | GeoError::UnsupportedCrs { .. }
            | GeoError::Empty => ErrorKind::BadInput,
        }
    }

    /// Builds a [`GeoError::Json`] from a serde_json error, keeping the
    /// position in fields rather than in the message.
    pub(crate) fn from_json(err: &serde_json::Error) -> GeoError {
        let (line, column) = (err.line(), err.column());
        let full = err.to_string();
        let suffix = format!(" at line {line} column {column}");
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
        GeoError::Json {
            line,
            column,
            message,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_fault() {
        let missing = GeoError::Io {
            path: PathBuf::from("/nope"),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(missing.kind(), ErrorKind::NotFound);
        let denied = GeoError::Io {
            path: PathBuf::from("/nope"),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert_eq!(denied.kind(), ErrorKind::Internal);
        assert_eq!(GeoError::Empty.kind(), ErrorKind::BadInput);
        let dup = GeoError::DuplicateBuurt {
            buurtcode: "BU00340101".into(),
        };
        assert_eq!(dup.kind(), ErrorKind::BadInput);
    }

    #[test]
    fn json_message_drops_the_position() {
        let err = serde_json::from_str::<serde_json::Value>("{\n  \"a\": ]\n}").unwrap_err();
        let GeoError::Json {
            line,
            column,
            message,
        } = GeoError::from_json(&err)
        else {
            panic!("not a Json error");
        };
        assert_eq!((line, column), (2, 8));
        assert!(!message.contains("line"), "{message}");
    }

    #[test]
    fn invalid_feature_display_names_index_and_code() {
        let e = GeoError::InvalidFeature {
            index: 3,
            buurtcode: Some("BU00340101".into()),
            reason: "ring not closed".into(),
        };
        assert_eq!(e.to_string(), "feature 3 (BU00340101): ring not closed");
        let e = GeoError::InvalidFeature {
            index: 0,
            buurtcode: None,
            reason: "missing property `buurtcode`".into(),
        };
        assert_eq!(e.to_string(), "feature 0: missing property `buurtcode`");
    }
}
