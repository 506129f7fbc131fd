//! The buurt record and the formats of CBS area codes.

use geo::MultiPolygon;

/// One CBS buurt (neighbourhood) with its wijk, gemeente and boundary.
#[derive(Debug, Clone)]
pub struct Buurt {
    /// `"BU"` followed by 8 digits, e.g. `BU00340101`.
    pub buurtcode: String,
    /// Name of the buurt, as given by the source.
    pub buurtnaam: String,
    /// `"WK"` followed by 6 digits, e.g. `WK003401`.
    pub wijkcode: String,
    /// Name of the wijk, when the source gives one.
    pub wijknaam: Option<String>,
    /// `"GM"` followed by 4 digits, e.g. `GM0034`.
    pub gemeentecode: String,
    /// Name of the gemeente.
    pub gemeentenaam: String,
    /// Boundary, always in RD New metres (EPSG:28992); holes are interior
    /// rings.
    pub geometry: MultiPolygon<f64>,
    /// Area of `geometry` in square metres (holes excluded).
    pub area_m2: f64,
}

/// Whether `code` is `prefix` followed by exactly `digits` ASCII digits.
fn is_code(code: &str, prefix: &str, digits: usize) -> bool {
    code.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == digits && rest.bytes().all(|b| b.is_ascii_digit()))
}

/// The three CBS area code properties and their formats.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CodeKind {
    Buurt,
    Wijk,
    Gemeente,
}

impl CodeKind {
    /// Property name of this code in the GeoJSON contract.
    pub(crate) fn property(self) -> &'static str {
        match self {
            CodeKind::Buurt => "buurtcode",
            CodeKind::Wijk => "wijkcode",
            CodeKind::Gemeente => "gemeentecode",
        }
    }

    /// Human description of the format, for error messages.
    pub(crate) fn format(self) -> &'static str {
        match self {
            CodeKind::Buurt => "\"BU\" followed by 8 digits",
            CodeKind::Wijk => "\"WK\" followed by 6 digits",
            CodeKind::Gemeente => "\"GM\" followed by 4 digits",
        }
    }

    /// Whether `code` has this kind's format.
    pub(crate) fn is_valid(self, code: &str) -> bool {
        match self {
            CodeKind::Buurt => is_code(code, "BU", 8),
            CodeKind::Wijk => is_code(code, "WK", 6),
            CodeKind::Gemeente => is_code(code, "GM", 4),
        }
    }

    /// The error reason for a code of the wrong format.
    pub(crate) fn bad_format(self) -> String {
        format!("property `{}` must be {}", self.property(), self.format())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_formats() {
        assert!(CodeKind::Buurt.is_valid("BU00340101"));
        assert!(!CodeKind::Buurt.is_valid("BU0034010"));
        assert!(!CodeKind::Buurt.is_valid("bu00340101"));
        assert!(!CodeKind::Buurt.is_valid("BU0034010x"));
        assert!(!CodeKind::Buurt.is_valid("BU003401011"));
        assert!(CodeKind::Wijk.is_valid("WK003401"));
        assert!(!CodeKind::Wijk.is_valid("WK00340"));
        assert!(CodeKind::Gemeente.is_valid("GM0034"));
        assert!(!CodeKind::Gemeente.is_valid("GM034"));
        assert!(!CodeKind::Gemeente.is_valid("GM00٣4"));
    }
}
