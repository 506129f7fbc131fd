use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::AuditError;

/// The `prev_hash` of the very first record: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What kind of access or event a record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// Analyst SQL answered through the privacy gate.
    Query,
    /// A request for released tables from the fixed catalogue (indicators,
    /// signals, dashboards): no SQL of the caller's own, but data is read.
    Release,
    /// A privacy officer read, queried, verified or reviewed the audit log;
    /// the contract requires access to the log to be logged too.
    LogRead,
    /// An event of the log itself, written by the log (for example a torn
    /// tail moved aside at start-up); carries [`AuditRecord::event`].
    LogEvent,
}

impl RecordKind {
    /// Every kind.
    pub const ALL: [RecordKind; 4] = [
        RecordKind::Query,
        RecordKind::Release,
        RecordKind::LogRead,
        RecordKind::LogEvent,
    ];

    /// The name used in JSON and in the SQL view.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Query => "query",
            RecordKind::Release => "release",
            RecordKind::LogRead => "log_read",
            RecordKind::LogEvent => "log_event",
        }
    }

    /// The kind named `name` (as [`RecordKind::as_str`] writes it).
    pub fn from_name(name: &str) -> Option<RecordKind> {
        RecordKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// Who made the request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// A bearer token, by its id (never the token itself).
    Token(String),
    /// A local user of the CLI, by login name.
    LocalUser(String),
    /// The audit log itself (for [`RecordKind::LogEvent`]).
    System,
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::Token(id) => write!(f, "token:{id}"),
            Actor::LocalUser(name) => write!(f, "local:{name}"),
            Actor::System => f.write_str("system"),
        }
    }
}

/// Whether the result was released, or refused and by which rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case", deny_unknown_fields)]
pub enum Outcome {
    /// The result left the engine (after this record was durable).
    Released,
    /// Nothing was released.
    Refused {
        /// The rule that refused it, by code (never a value).
        rule: String,
    },
}

impl Outcome {
    /// `released` or `refused`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Released => "released",
            Outcome::Refused { .. } => "refused",
        }
    }

    /// The refusing rule, if refused.
    pub fn rule(&self) -> Option<&str> {
        match self {
            Outcome::Released => None,
            Outcome::Refused { rule } => Some(rule),
        }
    }
}

/// Events the log records about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
pub enum LogEvent {
    /// At start-up the last segment ended in a torn (partial or unparsable)
    /// line; its bytes were moved aside and the chain continues from the
    /// last whole record.
    TornTailMovedAside {
        /// The segment file name the bytes were cut from.
        segment: String,
        /// How many bytes were moved.
        bytes: u64,
        /// The file name they were moved to (in the log directory).
        moved_to: String,
    },
}

/// What a caller fills in for one access; the log adds sequence number,
/// time and previous hash when it appends it.
///
/// There is deliberately no field for result values: counts of cells are
/// the only thing about a result that is recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordDraft {
    /// The kind of access.
    pub kind: RecordKind,
    /// Trace id of the request, to join with other logs.
    pub trace_id: String,
    /// Token id or local user.
    pub actor: Actor,
    /// The role the actor acted in (`analyst`, `dashboard`, …).
    pub role: String,
    /// The stated purpose (doelbinding).
    pub purpose: String,
    /// The client (`cli`, `http`, `flight-sql`, …).
    pub client: String,
    /// Command or endpoint (`knooppunt indicators`, `GET /v1/signals`).
    pub command: String,
    /// The SQL text, where the caller sent SQL.
    pub sql: Option<String>,
    /// Canonical fingerprint of the logical plan.
    pub plan_fingerprint: Option<String>,
    /// Data snapshot id per source.
    pub snapshots: BTreeMap<String, String>,
    /// Tables touched.
    pub tables: Vec<String>,
    /// Columns touched, as `table.column`.
    pub columns: Vec<String>,
    /// Groups or cells returned.
    pub cells_returned: u64,
    /// Cells suppressed, per reason code.
    pub cells_suppressed: BTreeMap<String, u64>,
    /// Noise scale of the released answer, if noise was added.
    pub noise_scale: Option<f64>,
    /// Privacy budget (ε) charged for this request.
    pub budget_charged: Option<f64>,
    /// Privacy budget (ε) left after it.
    pub budget_left: Option<f64>,
    /// Privacy budget δ charged for this request (analyst SQL).
    pub budget_delta_charged: Option<f64>,
    /// Privacy budget δ left after it.
    pub budget_delta_left: Option<f64>,
    /// Released or refused.
    pub outcome: Outcome,
    /// Version of the disclosure policy applied.
    pub policy_version: String,
    /// Wall time the request took, in milliseconds.
    pub duration_ms: u64,
}

impl RecordDraft {
    /// A draft with the identifying fields set and everything else empty,
    /// released, with zero cells; callers set the rest with struct update
    /// syntax or field assignment.
    pub fn new(kind: RecordKind, actor: Actor, role: &str, purpose: &str, command: &str) -> Self {
        RecordDraft {
            kind,
            trace_id: String::new(),
            actor,
            role: role.to_owned(),
            purpose: purpose.to_owned(),
            client: String::new(),
            command: command.to_owned(),
            sql: None,
            plan_fingerprint: None,
            snapshots: BTreeMap::new(),
            tables: Vec::new(),
            columns: Vec::new(),
            cells_returned: 0,
            cells_suppressed: BTreeMap::new(),
            noise_scale: None,
            budget_charged: None,
            budget_left: None,
            budget_delta_charged: None,
            budget_delta_left: None,
            outcome: Outcome::Released,
            policy_version: String::new(),
            duration_ms: 0,
        }
    }

    /// A draft for a privacy officer's access to the audit log itself
    /// (`audit sql`, `audit review`, `audit verify`): the contract requires
    /// reading the log to be logged. Set `sql` for `audit sql`.
    pub fn log_read(actor: Actor, purpose: &str, command: &str) -> Self {
        let mut draft = RecordDraft::new(
            RecordKind::LogRead,
            actor,
            "privacy_officer",
            purpose,
            command,
        );
        draft.tables = vec!["audit_log".to_owned()];
        draft
    }

    /// Checks what JSON cannot carry faithfully: numbers must be finite.
    pub(crate) fn validate(&self) -> Result<(), AuditError> {
        for (field, value) in [
            ("noise_scale", self.noise_scale),
            ("budget_charged", self.budget_charged),
            ("budget_left", self.budget_left),
            ("budget_delta_charged", self.budget_delta_charged),
            ("budget_delta_left", self.budget_delta_left),
        ] {
            if value.is_some_and(|v| !v.is_finite()) {
                return Err(AuditError::InvalidDraft {
                    field,
                    reason: "must be a finite number",
                });
            }
        }
        if self.kind == RecordKind::LogEvent {
            return Err(AuditError::InvalidDraft {
                field: "kind",
                reason: "log_event records are written by the log itself",
            });
        }
        Ok(())
    }
}

/// One audit record, exactly as stored: one JSON object per line.
///
/// Unknown fields are refused when reading, so a line into which someone
/// added, say, a result column does not parse and `verify` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// Sequence number, from 1, without gaps.
    pub seq: u64,
    /// Hex SHA-256 of the previous record's line (without its newline);
    /// [`GENESIS_HASH`] for the first record.
    pub prev_hash: String,
    /// The kind of access.
    pub kind: RecordKind,
    /// When the log appended the record (from the injected clock), UTC.
    #[serde(with = "rfc3339")]
    pub time: DateTime<Utc>,
    /// Trace id of the request.
    pub trace_id: String,
    /// Token id or local user.
    pub actor: Actor,
    /// Role acted in.
    pub role: String,
    /// Stated purpose.
    pub purpose: String,
    /// Client.
    pub client: String,
    /// Command or endpoint.
    pub command: String,
    /// SQL text, if any.
    pub sql: Option<String>,
    /// Canonical plan fingerprint, if any.
    pub plan_fingerprint: Option<String>,
    /// Snapshot id per source.
    pub snapshots: BTreeMap<String, String>,
    /// Tables touched.
    pub tables: Vec<String>,
    /// Columns touched.
    pub columns: Vec<String>,
    /// Groups or cells returned.
    pub cells_returned: u64,
    /// Cells suppressed per reason code.
    pub cells_suppressed: BTreeMap<String, u64>,
    /// Noise scale, if noise was added.
    pub noise_scale: Option<f64>,
    /// Budget charged.
    pub budget_charged: Option<f64>,
    /// Budget left.
    pub budget_left: Option<f64>,
    /// δ charged (absent in records written before δ was recorded, and
    /// where no δ budget applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_delta_charged: Option<f64>,
    /// δ left (absent like `budget_delta_charged`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_delta_left: Option<f64>,
    /// Released or refused with the rule.
    pub outcome: Outcome,
    /// Policy version.
    pub policy_version: String,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// For [`RecordKind::LogEvent`] records: what happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<LogEvent>,
}

impl AuditRecord {
    /// Completes a draft with what the log assigns.
    pub(crate) fn from_draft(
        d: RecordDraft,
        seq: u64,
        time: DateTime<Utc>,
        prev_hash: String,
    ) -> Self {
        AuditRecord {
            seq,
            prev_hash,
            kind: d.kind,
            time,
            trace_id: d.trace_id,
            actor: d.actor,
            role: d.role,
            purpose: d.purpose,
            client: d.client,
            command: d.command,
            sql: d.sql,
            plan_fingerprint: d.plan_fingerprint,
            snapshots: d.snapshots,
            tables: d.tables,
            columns: d.columns,
            cells_returned: d.cells_returned,
            cells_suppressed: d.cells_suppressed,
            noise_scale: d.noise_scale,
            budget_charged: d.budget_charged,
            budget_left: d.budget_left,
            budget_delta_charged: d.budget_delta_charged,
            budget_delta_left: d.budget_delta_left,
            outcome: d.outcome,
            policy_version: d.policy_version,
            duration_ms: d.duration_ms,
            event: None,
        }
    }

    /// A log event record (written by the log itself).
    pub(crate) fn log_event(
        event: LogEvent,
        seq: u64,
        time: DateTime<Utc>,
        prev_hash: String,
    ) -> Self {
        let mut draft = RecordDraft::new(
            RecordKind::LogEvent,
            Actor::System,
            "system",
            "audit",
            "audit.open",
        );
        draft.client = "knooppunt-audit".to_owned();
        let mut record = AuditRecord::from_draft(draft, seq, time, prev_hash);
        record.event = Some(event);
        record
    }

    /// Total number of suppressed cells over all reasons.
    pub fn cells_suppressed_total(&self) -> u64 {
        self.cells_suppressed.values().sum()
    }

    /// The line this record is stored as, without the newline.
    pub(crate) fn to_line(&self) -> Vec<u8> {
        // Serialising a struct of strings, integers, finite floats and maps
        // with string keys cannot fail; fall back to an empty line (which
        // would never parse and so never pass as a record) rather than panic.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Hex SHA-256 of a line's bytes (without newline).
pub(crate) fn line_hash(line: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(line))
}

/// Time stamps as RFC 3339 in UTC with microseconds and a `Z`.
pub(crate) mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Micros, true))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// Formats a time the way records store it.
pub(crate) fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod kind_tests {
    use super::RecordKind;

    #[test]
    fn record_kinds_round_trip_by_name() {
        for kind in RecordKind::ALL {
            assert_eq!(RecordKind::from_name(kind.as_str()), Some(kind));
            let json = serde_json::to_value(kind).expect("json");
            assert_eq!(json, kind.as_str());
        }
        assert_eq!(RecordKind::from_name("Query"), None);
    }
}
