//! Capacity as DynamoDB bills it on demand: read request units (4 KB, a
//! strongly consistent read twice, a transactional one twice again) and
//! write request units (1 KB, each index write too, a transaction twice),
//! read from the `ConsumedCapacity` dynoxide computes by those rules.

use serde_json::Value;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Units {
    pub read: f64,
    pub write: f64,
    pub calls: u64,
}

impl std::ops::AddAssign for Units {
    fn add_assign(&mut self, other: Self) {
        self.read += other.read;
        self.write += other.write;
        self.calls += other.calls;
    }
}

impl std::ops::Sub for Units {
    type Output = Self;
    fn sub(self, other: Self) -> Self {
        Self { read: self.read - other.read, write: self.write - other.write, calls: self.calls.saturating_sub(other.calls) }
    }
}

const READS: [&str; 5] = ["GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"];
const WRITES: [&str; 5] = ["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"];

/// Whether `operation` is billed per request (and can report what it consumed).
pub fn reports(operation: &str) -> bool {
    READS.contains(&operation) || WRITES.contains(&operation)
}

/// One answer's `ConsumedCapacity` (one object, or one per table) as units
/// of the operation's kind.
pub fn of(operation: &str, consumed: &Value) -> Units {
    if !reports(operation) {
        return Units::default();
    }
    let entries: Vec<&Value> = match consumed {
        Value::Array(list) => list.iter().collect(),
        Value::Object(_) => vec![consumed],
        _ => Vec::new(),
    };
    let total: f64 = entries.iter().filter_map(|c| c["CapacityUnits"].as_f64()).sum();
    let (read, write) = if READS.contains(&operation) { (total, 0.0) } else { (0.0, total) };
    Units { read, write, calls: 1 }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn units_are_read_as_the_operation_bills_them() {
        assert_eq!(of("GetItem", &json!({"TableName": "t", "CapacityUnits": 0.5})), Units { read: 0.5, write: 0.0, calls: 1 });
        assert_eq!(of("TransactWriteItems", &json!([{"TableName": "t", "CapacityUnits": 6.0}])), Units { read: 0.0, write: 6.0, calls: 1 });
        assert_eq!(of("DescribeTable", &json!({"CapacityUnits": 1.0})), Units::default());
        let mut sum = Units::default();
        sum += of("Query", &json!({"CapacityUnits": 1.5}));
        sum += of("PutItem", &json!({"CapacityUnits": 2.0}));
        assert_eq!(sum - of("Query", &json!({"CapacityUnits": 1.5})), Units { read: 0.0, write: 2.0, calls: 1 });
    }
}
