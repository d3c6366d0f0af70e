//! Helpers for building Stripe-shaped JSON objects.

use serde_json::{Map, Value};

/// The fields of several JSON objects as one object; later fields win.
pub fn merge<const N: usize>(parts: [Value; N]) -> Value {
    let mut merged = Map::new();
    for part in parts {
        if let Value::Object(fields) = part {
            merged.extend(fields);
        }
    }
    Value::Object(merged)
}
