//! Released cells, their JSON and CSV forms, and the release summary.

use std::io::Write;

use knooppunt_core::Level;
use serde::{Deserialize, Serialize};

use crate::{CsvSuppressedMarker, PrivacyError, ReleaseParameters};

/// Why a number was suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionReason {
    /// Its support (or its denominator's support) is below `k`.
    Threshold,
    /// The largest contributors make up too much of a sum.
    Dominance,
    /// Suppressed so that another suppressed number cannot be derived.
    Secondary,
}

impl SuppressionReason {
    /// The reason code as written in JSON and CSV.
    pub fn code(self) -> &'static str {
        match self {
            SuppressionReason::Threshold => "threshold",
            SuppressionReason::Dominance => "dominance",
            SuppressionReason::Secondary => "secondary",
        }
    }
}

/// A released number, or the reason it is suppressed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CellValue<T> {
    /// Released (perturbed) value.
    Released(T),
    /// Suppressed, with the reason.
    Suppressed(SuppressionReason),
}

impl<T: Copy> CellValue<T> {
    /// The value if released.
    pub fn value(&self) -> Option<T> {
        match self {
            CellValue::Released(v) => Some(*v),
            CellValue::Suppressed(_) => None,
        }
    }

    /// The reason if suppressed.
    pub fn reason(&self) -> Option<SuppressionReason> {
        match self {
            CellValue::Released(_) => None,
            CellValue::Suppressed(r) => Some(*r),
        }
    }

    /// `released` or the reason code.
    pub fn status(&self) -> &'static str {
        match self {
            CellValue::Released(_) => "released",
            CellValue::Suppressed(r) => r.code(),
        }
    }
}

/// One indicator in one area after disclosure control.
///
/// In JSON every number comes with a status field:
/// `"numerator": 12, "numerator_status": "released"` or
/// `"numerator": null, "numerator_status": "threshold"` (`dominance`,
/// `secondary`). A suppressed number is `null` with its reason, never 0 and
/// never absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "CellWire", try_from = "CellWire")]
pub struct ReleasedCell {
    /// Indicator id.
    pub indicator: String,
    /// Level of the area.
    pub level: Level,
    /// Area code.
    pub code: String,
    /// Wijk code (see [`crate::CellInput::wijkcode`]).
    pub wijkcode: String,
    /// Gemeente code.
    pub gemeentecode: String,
    /// Perturbed numerator or reason.
    pub numerator: CellValue<i64>,
    /// Perturbed denominator or reason.
    pub denominator: CellValue<i64>,
    /// Rate per `rate_per` computed from the perturbed counts, or reason.
    pub rate: CellValue<f64>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CellWire {
    indicator: String,
    level: Level,
    code: String,
    wijkcode: String,
    gemeentecode: String,
    numerator: Option<i64>,
    numerator_status: Status,
    denominator: Option<i64>,
    denominator_status: Status,
    rate: Option<f64>,
    rate_status: Status,
}

#[derive(Serialize, Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Status {
    Released,
    Threshold,
    Dominance,
    Secondary,
}

fn to_wire<T: Copy>(v: CellValue<T>) -> (Option<T>, Status) {
    match v {
        CellValue::Released(x) => (Some(x), Status::Released),
        CellValue::Suppressed(SuppressionReason::Threshold) => (None, Status::Threshold),
        CellValue::Suppressed(SuppressionReason::Dominance) => (None, Status::Dominance),
        CellValue::Suppressed(SuppressionReason::Secondary) => (None, Status::Secondary),
    }
}

fn from_wire<T>(v: Option<T>, s: Status) -> Result<CellValue<T>, &'static str> {
    match (v, s) {
        (Some(x), Status::Released) => Ok(CellValue::Released(x)),
        (None, Status::Threshold) => Ok(CellValue::Suppressed(SuppressionReason::Threshold)),
        (None, Status::Dominance) => Ok(CellValue::Suppressed(SuppressionReason::Dominance)),
        (None, Status::Secondary) => Ok(CellValue::Suppressed(SuppressionReason::Secondary)),
        (None, Status::Released) => Err("a released number must not be null"),
        (Some(_), _) => Err("a suppressed number must be null"),
    }
}

impl From<ReleasedCell> for CellWire {
    fn from(c: ReleasedCell) -> CellWire {
        let (numerator, numerator_status) = to_wire(c.numerator);
        let (denominator, denominator_status) = to_wire(c.denominator);
        let (rate, rate_status) = to_wire(c.rate);
        CellWire {
            indicator: c.indicator,
            level: c.level,
            code: c.code,
            wijkcode: c.wijkcode,
            gemeentecode: c.gemeentecode,
            numerator,
            numerator_status,
            denominator,
            denominator_status,
            rate,
            rate_status,
        }
    }
}

impl TryFrom<CellWire> for ReleasedCell {
    type Error = &'static str;
    fn try_from(w: CellWire) -> Result<ReleasedCell, &'static str> {
        Ok(ReleasedCell {
            indicator: w.indicator,
            level: w.level,
            code: w.code,
            wijkcode: w.wijkcode,
            gemeentecode: w.gemeentecode,
            numerator: from_wire(w.numerator, w.numerator_status)?,
            denominator: from_wire(w.denominator, w.denominator_status)?,
            rate: from_wire(w.rate, w.rate_status)?,
        })
    }
}

/// How many numbers of one kind were released or suppressed, per reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    /// Released.
    pub released: usize,
    /// Suppressed by the threshold rule.
    pub threshold: usize,
    /// Suppressed by the dominance rule.
    pub dominance: usize,
    /// Suppressed by secondary suppression.
    pub secondary: usize,
}

impl StatusCounts {
    fn add<T: Copy>(&mut self, v: &CellValue<T>) {
        match v.reason() {
            None => self.released += 1,
            Some(SuppressionReason::Threshold) => self.threshold += 1,
            Some(SuppressionReason::Dominance) => self.dominance += 1,
            Some(SuppressionReason::Secondary) => self.secondary += 1,
        }
    }

    /// All suppressed numbers.
    pub fn suppressed(&self) -> usize {
        self.threshold + self.dominance + self.secondary
    }
}

/// Counts for the audit log: cells, and per number (numerator, denominator,
/// rate) how many were released or suppressed for which reason.
/// Denominators are counted once per cell (so a shared denominator counts
/// once for each indicator that shows it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseSummary {
    /// Number of cells (indicator × area).
    pub cells: usize,
    /// Numerators.
    pub numerator: StatusCounts,
    /// Denominators.
    pub denominator: StatusCounts,
    /// Rates.
    pub rate: StatusCounts,
}

impl ReleaseSummary {
    pub(crate) fn of(cells: &[ReleasedCell]) -> ReleaseSummary {
        let mut s = ReleaseSummary {
            cells: cells.len(),
            ..ReleaseSummary::default()
        };
        for c in cells {
            s.numerator.add(&c.numerator);
            s.denominator.add(&c.denominator);
            s.rate.add(&c.rate);
        }
        s
    }
}

/// A released table: the parameters used, the summary and the cells, sorted
/// by indicator, level (buurt, wijk, gemeente) and code.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Release {
    /// The parameters applied.
    pub parameters: ReleaseParameters,
    /// [`ReleaseParameters::fingerprint`] of them.
    pub parameters_fingerprint: String,
    /// Counts per reason, for the audit log.
    pub summary: ReleaseSummary,
    /// The released cells.
    pub cells: Vec<ReleasedCell>,
}

/// The CSV header.
pub const CSV_HEADER: [&str; 11] = [
    "indicator",
    "level",
    "code",
    "wijkcode",
    "gemeentecode",
    "numerator",
    "numerator_status",
    "denominator",
    "denominator_status",
    "rate",
    "rate_status",
];

impl Release {
    /// The release as pretty-printed JSON (two-space indent, trailing
    /// newline): `{"parameters", "parameters_fingerprint", "summary",
    /// "cells"}`. Byte-identical for identical input and parameters.
    pub fn to_json(&self) -> Result<String, PrivacyError> {
        let mut s = serde_json::to_string_pretty(self).map_err(|e| PrivacyError::Write {
            reason: e.to_string(),
        })?;
        s.push('\n');
        Ok(s)
    }

    /// Writes the cells as CSV (comma-separated, `.` as decimal point,
    /// header [`CSV_HEADER`]). A suppressed number is written as the
    /// configured marker (default `-99997`, CBS's code for "geheim"), and
    /// its status column names the reason; a released number's status is
    /// `released`. Rates have `rate_decimals` decimals.
    pub fn write_csv<W: Write>(&self, writer: W) -> Result<(), PrivacyError> {
        let marker = self.parameters.config().csv_suppressed.text();
        let decimals = self.parameters.config().rate_decimals as usize;
        let err = |e: csv::Error| PrivacyError::Write {
            reason: e.to_string(),
        };
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(writer);
        w.write_record(CSV_HEADER).map_err(err)?;
        for c in &self.cells {
            let int = |v: &CellValue<i64>| match v {
                CellValue::Released(x) => x.to_string(),
                CellValue::Suppressed(_) => marker.to_owned(),
            };
            let rate = match c.rate {
                CellValue::Released(x) => format!("{x:.decimals$}"),
                CellValue::Suppressed(_) => marker.to_owned(),
            };
            w.write_record([
                c.indicator.as_str(),
                c.level.name(),
                c.code.as_str(),
                c.wijkcode.as_str(),
                c.gemeentecode.as_str(),
                &int(&c.numerator),
                c.numerator.status(),
                &int(&c.denominator),
                c.denominator.status(),
                &rate,
                c.rate.status(),
            ])
            .map_err(err)?;
        }
        w.flush().map_err(|e| PrivacyError::Write {
            reason: e.to_string(),
        })
    }

    /// The CSV as a string (see [`Release::write_csv`]).
    pub fn to_csv(&self) -> Result<String, PrivacyError> {
        let mut buf = Vec::new();
        self.write_csv(&mut buf)?;
        String::from_utf8(buf).map_err(|e| PrivacyError::Write {
            reason: e.to_string(),
        })
    }

    /// The marker this release writes for a suppressed number in CSV.
    pub fn csv_marker(&self) -> CsvSuppressedMarker {
        self.parameters.config().csv_suppressed
    }
}
