//! `ClientRequestToken`s derived from what a transaction writes.
//!
//! The SDK fills in a random token per call, which covers its own retries;
//! a token derived from the items also covers ours: when a transaction's
//! answer is lost (timeout, 5xx after the SDK gave up) we send the identical
//! items again, and DynamoDB answers from its 10-minute token cache instead
//! of running them a second time (whose conditions would then fail against
//! our own first write). Identical items mean an identical intent: every day
//! write carries the version it read, so two different edits never collide.

use std::collections::BTreeMap;
use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use sha2::{Digest, Sha256};

/// DynamoDB accepts 1 to 36 characters.
const TOKEN_LEN: usize = 36;

pub fn for_items(items: &[TransactWriteItem]) -> String {
    let mut hash = Sha256::new();
    for item in items {
        item_bytes(&mut hash, item);
    }
    let mut token = hex::encode(hash.finalize());
    token.truncate(TOKEN_LEN);
    token
}

fn item_bytes(h: &mut Sha256, item: &TransactWriteItem) {
    if let Some(put) = item.put() {
        field(h, "put", put.table_name());
        map(h, put.item());
        expression(h, put.condition_expression(), put.expression_attribute_names(), put.expression_attribute_values());
    }
    if let Some(update) = item.update() {
        field(h, "update", update.table_name());
        map(h, update.key());
        field(h, "set", update.update_expression());
        expression(h, update.condition_expression(), update.expression_attribute_names(), update.expression_attribute_values());
    }
    if let Some(delete) = item.delete() {
        field(h, "delete", delete.table_name());
        map(h, delete.key());
        expression(h, delete.condition_expression(), delete.expression_attribute_names(), delete.expression_attribute_values());
    }
    if let Some(check) = item.condition_check() {
        field(h, "check", check.table_name());
        map(h, check.key());
        expression(h, Some(check.condition_expression()), check.expression_attribute_names(), check.expression_attribute_values());
    }
}

fn expression(h: &mut Sha256, condition: Option<&str>, names: Option<&HashMap<String, String>>, values: Option<&HashMap<String, AttributeValue>>) {
    field(h, "if", condition.unwrap_or(""));
    let names: BTreeMap<_, _> = names.into_iter().flatten().collect();
    for (k, v) in names {
        field(h, k, v);
    }
    if let Some(values) = values {
        map(h, values);
    }
}

/// Length-prefixed, so no two different inputs share their bytes.
fn field(h: &mut Sha256, tag: &str, value: &str) {
    for part in [tag, value] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
}

/// Keys sorted: the SDK's maps iterate in a random order.
fn map(h: &mut Sha256, item: &HashMap<String, AttributeValue>) {
    let sorted: BTreeMap<_, _> = item.iter().collect();
    field(h, "map", &sorted.len().to_string());
    for (k, v) in sorted {
        field(h, "key", k);
        value(h, v);
    }
}

fn value(h: &mut Sha256, v: &AttributeValue) {
    match v {
        AttributeValue::S(s) => field(h, "S", s),
        AttributeValue::N(n) => field(h, "N", n),
        AttributeValue::Bool(b) => field(h, "BOOL", if *b { "1" } else { "0" }),
        AttributeValue::Null(_) => field(h, "NULL", ""),
        AttributeValue::B(b) => field(h, "B", &hex::encode(b.as_ref())),
        AttributeValue::Ss(set) | AttributeValue::Ns(set) => {
            let mut sorted: Vec<&String> = set.iter().collect();
            sorted.sort();
            field(h, "SET", &sorted.len().to_string());
            sorted.into_iter().for_each(|s| field(h, "E", s));
        }
        AttributeValue::Bs(set) => {
            let mut sorted: Vec<String> = set.iter().map(|b| hex::encode(b.as_ref())).collect();
            sorted.sort();
            field(h, "BS", &sorted.len().to_string());
            sorted.iter().for_each(|s| field(h, "E", s));
        }
        AttributeValue::L(list) => {
            field(h, "L", &list.len().to_string());
            list.iter().for_each(|v| value(h, v));
        }
        AttributeValue::M(m) => map(h, m),
        // A variant newer than this code: hash its debug form rather than drop it.
        other => field(h, "other", &format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::Put;

    use super::*;

    fn put(pairs: &[(&str, AttributeValue)]) -> TransactWriteItem {
        let item: HashMap<String, AttributeValue> = pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        TransactWriteItem::builder().put(Put::builder().table_name("t").set_item(Some(item)).build().unwrap()).build()
    }

    #[test]
    fn same_items_same_token_whatever_the_map_order() {
        let pairs: Vec<(String, AttributeValue)> = (0..20).map(|i| (format!("k{i}"), AttributeValue::N(i.to_string()))).collect();
        let forward: Vec<(&str, AttributeValue)> = pairs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let backward: Vec<(&str, AttributeValue)> = forward.iter().rev().cloned().collect();
        let a = for_items(&[put(&forward)]);
        assert_eq!(a, for_items(&[put(&backward)]));
        assert_eq!(a.len(), 36);
    }

    #[test]
    fn any_difference_changes_the_token() {
        let base = for_items(&[put(&[("pk", AttributeValue::S("a".into())), ("v", AttributeValue::N("1".into()))])]);
        assert_ne!(base, for_items(&[put(&[("pk", AttributeValue::S("a".into())), ("v", AttributeValue::N("2".into()))])]));
        assert_ne!(base, for_items(&[put(&[("pk", AttributeValue::S("a".into())), ("v", AttributeValue::S("1".into()))])]));
        assert_ne!(base, for_items(&[put(&[("pk", AttributeValue::S("a1".into()))])]));
    }
}
