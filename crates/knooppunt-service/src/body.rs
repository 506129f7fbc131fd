//! Answers of the service: a JSON value, or a page of a list whose items
//! were serialised once when the release was computed. The released tables
//! are immutable per peildatum and snapshot set, so a page is a slice of
//! pre-rendered JSON: answering costs a copy, not a serialisation.

use std::sync::Arc;

use serde_json::{Map, Value};

/// What a service call answers.
#[derive(Debug, Clone)]
pub enum Body {
    /// A JSON value.
    Value(Value),
    /// A head object plus one list of pre-serialised items.
    Listed(Listed),
}

impl From<Value> for Body {
    fn from(v: Value) -> Body {
        Body::Value(v)
    }
}

/// A JSON object `head` with one more field `field` holding `items`, each
/// item one compact JSON text.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The other fields of the answer (`total`, `limit`, `peildatum`, …).
    pub head: Map<String, Value>,
    /// The name of the list field.
    pub field: &'static str,
    /// The list, each item valid compact JSON.
    pub items: Vec<Arc<str>>,
}

impl Listed {
    /// The answer as JSON bytes: the head's fields, then the list.
    pub fn to_bytes(&self) -> Vec<u8> {
        let size: usize = self.items.iter().map(|i| i.len() + 1).sum();
        let mut out = Vec::with_capacity(size + 256);
        out.push(b'{');
        for (key, value) in &self.head {
            // Keys and values come from serde_json, which cannot fail on a
            // `Value`.
            out.extend_from_slice(Value::from(key.as_str()).to_string().as_bytes());
            out.push(b':');
            out.extend_from_slice(value.to_string().as_bytes());
            out.push(b',');
        }
        out.extend_from_slice(Value::from(self.field).to_string().as_bytes());
        out.extend_from_slice(b":[");
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(item.as_bytes());
        }
        out.extend_from_slice(b"]}");
        out
    }

    /// The answer as a JSON value (for CSV and Arrow, and for tests).
    pub fn to_value(&self) -> Value {
        let mut map = self.head.clone();
        let items = self
            .items
            .iter()
            .map(|i| serde_json::from_str(i).unwrap_or(Value::Null))
            .collect();
        map.insert(self.field.to_string(), Value::Array(items));
        Value::Object(map)
    }
}

impl Body {
    /// The answer as a JSON value.
    pub fn into_value(self) -> Value {
        match self {
            Body::Value(v) => v,
            Body::Listed(l) => l.to_value(),
        }
    }

    /// A top-level field of the answer (e.g. `total`).
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Body::Value(v) => v.get(name),
            Body::Listed(l) => l.head.get(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn listed_bytes_are_the_same_json_as_the_value() {
        let mut head = Map::new();
        head.insert("total".into(), json!(2));
        head.insert("peildatum".into(), json!("2026-01-01"));
        head.insert("note".into(), json!("quote \" and \\ slash"));
        let listed = Listed {
            head,
            field: "signals",
            items: vec![
                Arc::from(json!({"a": 1, "b": [1, 2]}).to_string()),
                Arc::from(json!({"a": null}).to_string()),
            ],
        };
        let parsed: Value = serde_json::from_slice(&listed.to_bytes()).expect("valid JSON");
        assert_eq!(parsed, listed.to_value());
        assert_eq!(parsed["signals"][0]["b"][1], 2);
        let empty = Listed {
            head: Map::new(),
            field: "cells",
            items: Vec::new(),
        };
        assert_eq!(empty.to_bytes(), b"{\"cells\":[]}");
    }
}
