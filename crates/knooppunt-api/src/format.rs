//! Content negotiation: JSON by default; the list in a list answer as CSV
//! or as an Arrow IPC stream when the `Accept` header asks for it.
//!
//! Tabular forms flatten each row: nested objects become `parent.child`
//! columns, arrays become JSON text. In CSV a suppressed number (null with
//! a `<name>_status` column saying why) is written as the release
//! configuration's `csv_suppressed` marker (`-99997`, the CBS code for
//! "geheim", by default), never as empty or zero (PRIVACY.md, released
//! tables rule 5); Arrow keeps it null next to its status column.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use knooppunt_service::Body;
use serde_json::{Map, Value};

/// Media type of JSON answers.
pub const JSON: &str = "application/json";
/// Media type of CSV answers.
pub const CSV: &str = "text/csv";
/// Media type of Arrow IPC stream answers.
pub const ARROW: &str = "application/vnd.apache.arrow.stream";
/// Media type of GeoJSON answers.
pub const GEOJSON: &str = "application/geo+json";

/// The form of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON (the default).
    Json,
    /// CSV of the answer's list, with a header row.
    Csv,
    /// An Arrow IPC stream of the answer's list.
    Arrow,
}

/// One `Accept` entry: media range and quality.
fn ranges(headers: &HeaderMap) -> Vec<(String, f32)> {
    let mut out = Vec::new();
    for value in headers.get_all(header::ACCEPT) {
        let Ok(text) = value.to_str() else { continue };
        for item in text.split(',') {
            let mut parts = item.split(';');
            let range = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            if range.is_empty() {
                continue;
            }
            let mut q = 1.0f32;
            for p in parts {
                if let Some(v) = p.trim().strip_prefix("q=") {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
            out.push((range, q.clamp(0.0, 1.0)));
        }
    }
    out
}

/// The best form for `headers` among JSON (always) and, when `tabular`,
/// CSV and Arrow. `json_type` is the JSON media type the endpoint answers
/// with (`application/json` or `application/geo+json`). `None`: nothing
/// acceptable (406).
pub fn negotiate(headers: &HeaderMap, tabular: bool, json_type: &str) -> Option<Format> {
    let ranges = ranges(headers);
    if ranges.is_empty() {
        return Some(Format::Json);
    }
    let quality = |media: &str| -> f32 {
        let (kind, _) = media.split_once('/').unwrap_or((media, ""));
        let mut best: Option<(u8, f32)> = None;
        for (range, q) in &ranges {
            let specificity = if range == media {
                3
            } else if range.strip_suffix("/*") == Some(kind) {
                2
            } else if range == "*/*" {
                1
            } else {
                continue;
            };
            if best.is_none_or(|(s, _)| specificity > s) {
                best = Some((specificity, *q));
            }
        }
        best.map_or(0.0, |(_, q)| q)
    };
    let mut choices = vec![(Format::Json, quality(json_type).max(quality(JSON)))];
    if tabular {
        choices.push((Format::Csv, quality(CSV)));
        choices.push((Format::Arrow, quality(ARROW)));
    }
    // The first (JSON) wins ties.
    let mut best: Option<(Format, f32)> = None;
    for (format, q) in choices {
        if q > 0.0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((format, q));
        }
    }
    best.map(|(f, _)| f)
}

/// Columns that lead a table, in this order, when present.
const KEY_COLUMNS: [&str; 8] = [
    "indicator",
    "id",
    "level",
    "code",
    "buurtcode",
    "wijkcode",
    "gemeentecode",
    "seq",
];

/// Rows flattened into named columns (first-seen order).
struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

fn flatten_into(prefix: &str, object: &Map<String, Value>, out: &mut Vec<(String, Value)>) {
    for (key, value) in object {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Object(inner) => flatten_into(&name, inner, out),
            Value::Array(_) => out.push((name, Value::String(value.to_string()))),
            v => out.push((name, v.clone())),
        }
    }
}

fn table(rows: &[Value]) -> Table {
    let mut columns: Vec<String> = Vec::new();
    let mut index = std::collections::HashMap::new();
    let mut flat_rows = Vec::with_capacity(rows.len());
    for row in rows {
        let mut flat = Vec::new();
        match row {
            Value::Object(object) => flatten_into("", object, &mut flat),
            v => flat.push(("value".to_string(), v.clone())),
        }
        for (name, _) in &flat {
            if !index.contains_key(name) {
                index.insert(name.clone(), columns.len());
                columns.push(name.clone());
            }
        }
        flat_rows.push(flat);
    }
    // Keys first, in a fixed order; the rest as they came (JSON objects
    // arrive with sorted keys).
    let mut ordered = columns.clone();
    ordered.sort_by_key(|c| {
        KEY_COLUMNS
            .iter()
            .position(|k| k == c)
            .unwrap_or(usize::MAX)
    });
    let columns = ordered;
    let index: std::collections::HashMap<String, usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.clone(), i))
        .collect();
    let rows = flat_rows
        .into_iter()
        .map(|flat| {
            let mut row = vec![Value::Null; columns.len()];
            for (name, value) in flat {
                if let Some(&i) = index.get(&name) {
                    row[i] = value;
                }
            }
            row
        })
        .collect();
    Table { columns, rows }
}

/// CSV of `rows`; a suppressed number (null, with a sibling
/// `<name>_status` column that is not `released`) is written as `marker`,
/// the release configuration's `csv_suppressed`.
fn csv_body(rows: &[Value], marker: &str) -> Result<Vec<u8>, csv::Error> {
    let table = table(rows);
    // Per column, the index of its `<name>_status` sibling.
    let status: Vec<Option<usize>> = table
        .columns
        .iter()
        .map(|c| {
            let name = format!("{c}_status");
            table.columns.iter().position(|s| *s == name)
        })
        .collect();
    let suppressed = |row: &[Value], i: usize| {
        status[i]
            .and_then(|j| row[j].as_str())
            .is_some_and(|s| s != "released")
    };
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&table.columns)?;
    for row in &table.rows {
        let fields: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Null if suppressed(row, i) => marker.to_string(),
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                v => v.to_string(),
            })
            .collect();
        writer.write_record(&fields)?;
    }
    writer.into_inner().map_err(|e| e.into_error().into())
}

fn column_type(table: &Table, i: usize) -> DataType {
    let values = table.rows.iter().map(|r| &r[i]).filter(|v| !v.is_null());
    let mut kind = None;
    for v in values {
        let this = match v {
            Value::Bool(_) => DataType::Boolean,
            Value::Number(n) if n.is_i64() => DataType::Int64,
            Value::Number(_) => DataType::Float64,
            _ => return DataType::Utf8,
        };
        kind = Some(match (kind, this) {
            (None, t) => t,
            (Some(a), b) if a == b => a,
            (Some(DataType::Int64 | DataType::Float64), DataType::Int64 | DataType::Float64) => {
                DataType::Float64
            }
            _ => return DataType::Utf8,
        });
    }
    // An all-null column: numbers of this kind are what gets suppressed.
    kind.unwrap_or(DataType::Utf8)
}

fn arrow_body(rows: &[Value]) -> Result<Vec<u8>, arrow::error::ArrowError> {
    let table = table(rows);
    let mut fields = Vec::with_capacity(table.columns.len());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(table.columns.len());
    for (i, name) in table.columns.iter().enumerate() {
        let kind = column_type(&table, i);
        let column = table.rows.iter().map(|r| &r[i]);
        let array: ArrayRef = match kind {
            DataType::Boolean => {
                let mut b = BooleanBuilder::new();
                column.for_each(|v| b.append_option(v.as_bool()));
                Arc::new(b.finish())
            }
            DataType::Int64 => {
                let mut b = Int64Builder::new();
                column.for_each(|v| b.append_option(v.as_i64()));
                Arc::new(b.finish())
            }
            DataType::Float64 => {
                let mut b = Float64Builder::new();
                column.for_each(|v| b.append_option(v.as_f64()));
                Arc::new(b.finish())
            }
            _ => {
                let mut b = StringBuilder::new();
                column.for_each(|v| match v {
                    Value::Null => b.append_null(),
                    Value::String(s) => b.append_value(s),
                    v => b.append_value(v.to_string()),
                });
                Arc::new(b.finish())
            }
        };
        fields.push(Field::new(name, kind, true));
        arrays.push(array);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = if arrays.is_empty() {
        RecordBatch::new_empty(Arc::clone(&schema))
    } else {
        RecordBatch::try_new(Arc::clone(&schema), arrays)?
    };
    let mut writer = StreamWriter::try_new(Vec::new(), &schema)?;
    writer.write(&batch)?;
    writer.finish()?;
    writer.into_inner()
}

/// Renders `body` in `format`: JSON as is (with `json_type`), or its
/// `list` field as CSV or Arrow. A `total` field becomes the
/// `X-Total-Count` header in every form.
/// `csv_marker` stands for a suppressed number in CSV (the release
/// configuration's `csv_suppressed`).
pub fn render(
    body: Body,
    format: Format,
    list: Option<&str>,
    json_type: &str,
    csv_marker: &str,
) -> Response {
    let total = body.field("total").and_then(Value::as_u64);
    let mut response = match (format, body) {
        (Format::Json, Body::Listed(listed)) => {
            ([(header::CONTENT_TYPE, json_type)], listed.to_bytes()).into_response()
        }
        (Format::Json, Body::Value(body)) => {
            let mut r = axum::Json(body).into_response();
            if json_type != JSON {
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_str(json_type).unwrap_or(HeaderValue::from_static(JSON)),
                );
            }
            r
        }
        (Format::Csv | Format::Arrow, body) => {
            let body = body.into_value();
            let rows = list
                .and_then(|l| body.get(l))
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let (bytes, media) = if format == Format::Csv {
                (csv_body(rows, csv_marker).map_err(|e| e.to_string()), CSV)
            } else {
                (arrow_body(rows).map_err(|e| e.to_string()), ARROW)
            };
            match bytes {
                Ok(bytes) => ([(header::CONTENT_TYPE, media)], bytes).into_response(),
                Err(e) => {
                    eprintln!("knooppunt-api: rendering {media}: {e}");
                    crate::error::ApiError::internal().into_response()
                }
            }
        }
    };
    if let Some(total) = total {
        response
            .headers_mut()
            .insert("x-total-count", HeaderValue::from(total));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).expect("header"));
        h
    }

    #[test]
    fn negotiates_by_quality_and_specificity() {
        assert_eq!(negotiate(&HeaderMap::new(), true, JSON), Some(Format::Json));
        assert_eq!(negotiate(&accept("*/*"), true, JSON), Some(Format::Json));
        assert_eq!(
            negotiate(&accept("text/csv"), true, JSON),
            Some(Format::Csv)
        );
        assert_eq!(negotiate(&accept(ARROW), true, JSON), Some(Format::Arrow));
        assert_eq!(
            negotiate(&accept("application/json;q=0.5, text/csv"), true, JSON),
            Some(Format::Csv)
        );
        assert_eq!(
            negotiate(&accept("text/csv;q=0.2, */*;q=0.9"), true, JSON),
            Some(Format::Json)
        );
        assert_eq!(negotiate(&accept("text/csv"), false, JSON), None);
        assert_eq!(negotiate(&accept("text/html"), true, JSON), None);
        assert_eq!(
            negotiate(&accept(GEOJSON), false, GEOJSON),
            Some(Format::Json)
        );
        assert_eq!(negotiate(&accept("application/json;q=0"), true, JSON), None);
    }

    #[test]
    fn csv_flattens_and_marks_suppressed_numbers() {
        let rows = vec![
            json!({"code": "BU1", "numerator": 12, "numerator_status": "released", "x": {"a": 1}}),
            json!({"code": "BU2", "numerator": null, "numerator_status": "threshold", "list": [1, 2]}),
        ];
        let text = String::from_utf8(csv_body(&rows, "-99997").expect("csv")).expect("utf8");
        assert_eq!(
            text,
            "code,numerator,numerator_status,x.a,list\n\
             BU1,12,released,1,\n\
             BU2,-99997,threshold,,\"[1,2]\"\n"
        );
        let text = String::from_utf8(csv_body(&rows, ".").expect("csv")).expect("utf8");
        assert!(text.contains("BU2,.,threshold"), "{text}");
    }

    #[test]
    fn arrow_stream_round_trips() {
        let rows = vec![
            json!({"code": "BU1", "n": 1, "r": 0.5, "ok": true}),
            json!({"code": "BU2", "n": null, "r": 2, "ok": false}),
        ];
        let bytes = arrow_body(&rows).expect("arrow");
        let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
            .expect("reader");
        let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("batches");
        assert_eq!(batches.len(), 1);
        let schema = batches[0].schema();
        let types: Vec<&DataType> = schema.fields().iter().map(|f| f.data_type()).collect();
        assert_eq!(
            types,
            // JSON objects arrive with sorted keys: code, n, ok, r.
            [
                &DataType::Utf8,
                &DataType::Int64,
                &DataType::Boolean,
                &DataType::Float64
            ]
        );
        assert_eq!(batches[0].num_rows(), 2);
        assert_eq!(batches[0].column(1).null_count(), 1);
    }
}
