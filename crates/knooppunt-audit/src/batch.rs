use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Builder, ListBuilder, StringBuilder, TimestampMicrosecondBuilder,
    UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;

use crate::AuditError;
use crate::record::AuditRecord;

fn list_of_utf8() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

/// The Arrow schema of the audit log as a table (one row per record), for
/// privacy officers' SQL.
///
/// `snapshots` is `source=snapshot` pairs joined by commas and
/// `suppressed_reasons` is `reason=count` pairs joined by commas;
/// `cells_suppressed` is their total.
pub fn audit_schema() -> SchemaRef {
    let utc = || DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()));
    Arc::new(Schema::new(vec![
        Field::new("seq", DataType::UInt64, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("time", utc(), false),
        Field::new("trace_id", DataType::Utf8, false),
        Field::new("actor", DataType::Utf8, false),
        Field::new("role", DataType::Utf8, false),
        Field::new("purpose", DataType::Utf8, false),
        Field::new("client", DataType::Utf8, false),
        Field::new("command", DataType::Utf8, false),
        Field::new("sql", DataType::Utf8, true),
        Field::new("plan_fingerprint", DataType::Utf8, true),
        Field::new("snapshots", DataType::Utf8, false),
        Field::new("tables", list_of_utf8(), false),
        Field::new("columns", list_of_utf8(), false),
        Field::new("cells_returned", DataType::UInt64, false),
        Field::new("cells_suppressed", DataType::UInt64, false),
        Field::new("suppressed_reasons", DataType::Utf8, false),
        Field::new("noise_scale", DataType::Float64, true),
        Field::new("budget_charged", DataType::Float64, true),
        Field::new("budget_left", DataType::Float64, true),
        Field::new("budget_delta_charged", DataType::Float64, true),
        Field::new("budget_delta_left", DataType::Float64, true),
        Field::new("outcome", DataType::Utf8, false),
        Field::new("rule", DataType::Utf8, true),
        Field::new("policy_version", DataType::Utf8, false),
        Field::new("duration_ms", DataType::UInt64, false),
        Field::new("prev_hash", DataType::Utf8, false),
    ]))
}

/// Builds one record batch (schema [`audit_schema`]) from records.
pub fn records_to_batch(records: &[AuditRecord]) -> Result<RecordBatch, AuditError> {
    let n = records.len();
    let mut seq = UInt64Builder::with_capacity(n);
    let mut kind = StringBuilder::new();
    let mut time = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("+00:00");
    let mut trace_id = StringBuilder::new();
    let mut actor = StringBuilder::new();
    let mut role = StringBuilder::new();
    let mut purpose = StringBuilder::new();
    let mut client = StringBuilder::new();
    let mut command = StringBuilder::new();
    let mut sql = StringBuilder::new();
    let mut fingerprint = StringBuilder::new();
    let mut snapshots = StringBuilder::new();
    let mut tables = ListBuilder::new(StringBuilder::new());
    let mut columns = ListBuilder::new(StringBuilder::new());
    let mut cells_returned = UInt64Builder::with_capacity(n);
    let mut cells_suppressed = UInt64Builder::with_capacity(n);
    let mut reasons = StringBuilder::new();
    let mut noise = Float64Builder::with_capacity(n);
    let mut delta_charged = Float64Builder::with_capacity(n);
    let mut delta_left = Float64Builder::with_capacity(n);
    let mut charged = Float64Builder::with_capacity(n);
    let mut left = Float64Builder::with_capacity(n);
    let mut outcome = StringBuilder::new();
    let mut rule = StringBuilder::new();
    let mut policy = StringBuilder::new();
    let mut duration = UInt64Builder::with_capacity(n);
    let mut prev = StringBuilder::new();

    for r in records {
        seq.append_value(r.seq);
        kind.append_value(r.kind.as_str());
        time.append_value(r.time.timestamp_micros());
        trace_id.append_value(&r.trace_id);
        actor.append_value(r.actor.to_string());
        role.append_value(&r.role);
        purpose.append_value(&r.purpose);
        client.append_value(&r.client);
        command.append_value(&r.command);
        sql.append_option(r.sql.as_deref());
        fingerprint.append_option(r.plan_fingerprint.as_deref());
        snapshots.append_value(join_pairs(
            r.snapshots.iter().map(|(k, v)| (k.as_str(), v.to_string())),
        ));
        for t in &r.tables {
            tables.values().append_value(t);
        }
        tables.append(true);
        for c in &r.columns {
            columns.values().append_value(c);
        }
        columns.append(true);
        cells_returned.append_value(r.cells_returned);
        cells_suppressed.append_value(r.cells_suppressed_total());
        reasons.append_value(join_pairs(
            r.cells_suppressed
                .iter()
                .map(|(k, v)| (k.as_str(), v.to_string())),
        ));
        noise.append_option(r.noise_scale);
        charged.append_option(r.budget_charged);
        left.append_option(r.budget_left);
        delta_charged.append_option(r.budget_delta_charged);
        delta_left.append_option(r.budget_delta_left);
        outcome.append_value(r.outcome.as_str());
        rule.append_option(r.outcome.rule());
        policy.append_value(&r.policy_version);
        duration.append_value(r.duration_ms);
        prev.append_value(&r.prev_hash);
    }

    let columns: Vec<ArrayRef> = vec![
        Arc::new(seq.finish()),
        Arc::new(kind.finish()),
        Arc::new(time.finish()),
        Arc::new(trace_id.finish()),
        Arc::new(actor.finish()),
        Arc::new(role.finish()),
        Arc::new(purpose.finish()),
        Arc::new(client.finish()),
        Arc::new(command.finish()),
        Arc::new(sql.finish()),
        Arc::new(fingerprint.finish()),
        Arc::new(snapshots.finish()),
        Arc::new(tables.finish()),
        Arc::new(columns.finish()),
        Arc::new(cells_returned.finish()),
        Arc::new(cells_suppressed.finish()),
        Arc::new(reasons.finish()),
        Arc::new(noise.finish()),
        Arc::new(charged.finish()),
        Arc::new(left.finish()),
        Arc::new(delta_charged.finish()),
        Arc::new(delta_left.finish()),
        Arc::new(outcome.finish()),
        Arc::new(rule.finish()),
        Arc::new(policy.finish()),
        Arc::new(duration.finish()),
        Arc::new(prev.finish()),
    ];
    Ok(RecordBatch::try_new(audit_schema(), columns)?)
}

fn join_pairs<'a>(pairs: impl Iterator<Item = (&'a str, String)>) -> String {
    pairs
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}
