//! What one DynamoDB request asks of IAM: for each item or query in it, an
//! action on a resource with the partition keys it touches, as AWS
//! evaluates it (a transaction is authorised item by item, with the inner
//! action; a query of an index is on the index's ARN, keyed by the index's
//! partition key).

use serde_json::Value;

use super::policy::{Access, table_arn};
use infra::table::TableSpec;

/// The key attributes that `dynamodb:LeadingKeys` reads.
pub struct KeyNames {
    table: String,
    indexes: Vec<(String, String)>,
}

impl KeyNames {
    pub fn of(spec: &TableSpec) -> Self {
        Self { table: spec.partition_key.clone(), indexes: spec.global_secondary_indexes.iter().map(|i| (i.name.clone(), i.partition_key.clone())).collect() }
    }
}

/// The accesses of `operation` (the `X-Amz-Target` after the dot) with `body`.
pub fn accesses(operation: &str, body: &Value, keys: &KeyNames) -> Vec<Access> {
    let table = |v: &Value| v["TableName"].as_str().unwrap_or_default().to_owned();
    let on = |action: &str, table_name: &str, leading: Vec<String>| Access { action: format!("dynamodb:{action}"), resource: table_arn(table_name), leading_keys: leading };
    let key_of = |item: &Value| item[&keys.table]["S"].as_str().map(str::to_owned).into_iter().collect::<Vec<_>>();
    match operation {
        "GetItem" | "UpdateItem" | "DeleteItem" => vec![on(operation, &table(body), key_of(&body["Key"]))],
        "PutItem" => vec![on(operation, &table(body), key_of(&body["Item"]))],
        "Query" => vec![query(body, keys)],
        "BatchGetItem" => per_table(&body["RequestItems"], |name, request| {
            vec![on("BatchGetItem", name, request["Keys"].as_array().map(Vec::as_slice).unwrap_or_default().iter().flat_map(key_of).collect())]
        }),
        "BatchWriteItem" => per_table(&body["RequestItems"], |name, writes| {
            let leading = writes.as_array().map(Vec::as_slice).unwrap_or_default().iter().flat_map(|w| key_of(&w["PutRequest"]["Item"]).into_iter().chain(key_of(&w["DeleteRequest"]["Key"]))).collect();
            vec![on("BatchWriteItem", name, leading)]
        }),
        "TransactWriteItems" => inner_items(body, &[("Put", "PutItem", "Item"), ("Update", "UpdateItem", "Key"), ("Delete", "DeleteItem", "Key"), ("ConditionCheck", "ConditionCheckItem", "Key")], &on, &key_of),
        "TransactGetItems" => inner_items(body, &[("Get", "GetItem", "Key")], &on, &key_of),
        // Scan and the rest: on the index when one is named, keyed by nothing.
        _ => vec![Access { action: format!("dynamodb:{operation}"), resource: resource_of(body), leading_keys: Vec::new() }],
    }
}

/// The table's ARN, or its index's when the request names one.
fn resource_of(body: &Value) -> String {
    let table = table_arn(body["TableName"].as_str().unwrap_or_default());
    body["IndexName"].as_str().map_or_else(|| table.clone(), |index| format!("{table}/index/{index}"))
}

fn per_table(request_items: &Value, each: impl Fn(&str, &Value) -> Vec<Access>) -> Vec<Access> {
    request_items.as_object().map(|tables| tables.iter().flat_map(|(name, request)| each(name, request)).collect()).unwrap_or_default()
}

fn inner_items(body: &Value, kinds: &[(&str, &str, &str)], on: &impl Fn(&str, &str, Vec<String>) -> Access, key_of: &impl Fn(&Value) -> Vec<String>) -> Vec<Access> {
    let items = body["TransactItems"].as_array().map(Vec::as_slice).unwrap_or_default();
    items
        .iter()
        .flat_map(|item| kinds.iter().filter_map(move |(field, action, key)| item.get(*field).map(|inner| on(action, inner["TableName"].as_str().unwrap_or_default(), key_of(&inner[*key])))))
        .collect()
}

/// A query's resource (the table, or its index) and the partition key value
/// its key condition names.
fn query(body: &Value, keys: &KeyNames) -> Access {
    let resource = resource_of(body);
    let attribute = match body["IndexName"].as_str() {
        Some(index) => keys.indexes.iter().find(|(name, _)| name == index).map_or("", |(_, pk)| pk.as_str()),
        None => keys.table.as_str(),
    };
    // The legacy form names the key attribute and its value directly.
    if let Some(value) = body["KeyConditions"][attribute]["AttributeValueList"][0]["S"].as_str() {
        return Access { action: "dynamodb:Query".into(), resource, leading_keys: vec![value.to_owned()] };
    }
    let names = &body["ExpressionAttributeNames"];
    let values = &body["ExpressionAttributeValues"];
    let name_of = |token: &str| names[token].as_str().map_or_else(|| token.to_owned(), str::to_owned);
    let condition = body["KeyConditionExpression"].as_str().unwrap_or_default();
    let leading = clauses(condition)
        .filter_map(|clause| {
            let (left, right) = clause.split_once('=')?;
            let (left, right) = (left.trim_matches(|c: char| c.is_whitespace() || c == '('), right.trim_matches(|c: char| c.is_whitespace() || c == ')'));
            let (name, value) = if right.starts_with(':') { (left, right) } else { (right, left) };
            (name_of(name) == attribute).then(|| values[value]["S"].as_str().map(str::to_owned)).flatten()
        })
        .collect();
    Access { action: "dynamodb:Query".into(), resource, leading_keys: leading }
}

/// The `AND`-separated parts of a key condition (any case, any blanks
/// around it: a newline before `AND` is as good as a space).
fn clauses(expression: &str) -> impl Iterator<Item = String> {
    let words: Vec<&str> = expression.split_whitespace().collect();
    words.split(|w| w.eq_ignore_ascii_case("AND")).map(|part| part.join(" ")).collect::<Vec<_>>().into_iter()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn keys() -> KeyNames {
        KeyNames::of(&TableSpec::load().unwrap())
    }

    #[test]
    fn a_transaction_is_authorised_item_by_item_with_the_inner_actions() {
        let body = json!({"TransactItems": [
            {"Put": {"TableName": "lessons", "Item": {"pk": {"S": "BOOKING#b1"}, "sk": {"S": "A"}}}},
            {"Update": {"TableName": "lessons", "Key": {"pk": {"S": "TEACHER#t1"}, "sk": {"S": "B"}}}},
            {"ConditionCheck": {"TableName": "lessons", "Key": {"pk": {"S": "STUDENT#s1"}, "sk": {"S": "C"}}}},
            {"Delete": {"TableName": "lessons", "Key": {"pk": {"S": "HOLD#h"}, "sk": {"S": "D"}}}}
        ]});
        let got: Vec<(String, Vec<String>)> = accesses("TransactWriteItems", &body, &keys()).into_iter().map(|a| (a.action, a.leading_keys)).collect();
        assert_eq!(got, vec![
            ("dynamodb:PutItem".into(), vec!["BOOKING#b1".into()]),
            ("dynamodb:UpdateItem".into(), vec!["TEACHER#t1".into()]),
            ("dynamodb:ConditionCheckItem".into(), vec!["STUDENT#s1".into()]),
            ("dynamodb:DeleteItem".into(), vec!["HOLD#h".into()]),
        ]);
    }

    #[test]
    fn an_index_query_is_on_the_index_arn_keyed_by_the_index_partition_key() {
        let body = json!({"TableName": "lessons", "IndexName": "gsi2", "KeyConditionExpression": "#p = :p AND #s BETWEEN :a AND :b",
            "ExpressionAttributeNames": {"#p": "gsi2pk", "#s": "gsi2sk"}, "ExpressionAttributeValues": {":p": {"S": "STUDENT#s1"}, ":a": {"S": "x"}, ":b": {"S": "y"}}});
        let [access] = accesses("Query", &body, &keys()).try_into().unwrap();
        assert_eq!(access.resource, "arn:aws:dynamodb:us-east-1:000000000000:table/lessons/index/gsi2");
        assert_eq!(access.leading_keys, vec!["STUDENT#s1".to_owned()]);
        let plain = json!({"TableName": "lessons", "KeyConditionExpression": "pk = :p and begins_with(sk, :s)", "ExpressionAttributeValues": {":p": {"S": "TEACHER#t"}, ":s": {"S": "DAY#"}}});
        let [access] = accesses("Query", &plain, &keys()).try_into().unwrap();
        assert_eq!((access.resource.ends_with("table/lessons"), access.leading_keys), (true, vec!["TEACHER#t".to_owned()]));
    }

    #[test]
    fn a_key_condition_is_read_across_newlines_and_in_its_legacy_form_and_a_scan_of_an_index_is_on_the_index() {
        let split = json!({"TableName": "lessons", "KeyConditionExpression": "#p = :p\nAND #s > :s", "ExpressionAttributeNames": {"#p": "pk", "#s": "sk"}, "ExpressionAttributeValues": {":p": {"S": "BOOKING#x"}, ":s": {"S": "a"}}});
        assert_eq!(accesses("Query", &split, &keys())[0].leading_keys, vec!["BOOKING#x".to_owned()]);
        let legacy = json!({"TableName": "lessons", "KeyConditions": {"pk": {"AttributeValueList": [{"S": "BOOKING#y"}], "ComparisonOperator": "EQ"}}});
        assert_eq!(accesses("Query", &legacy, &keys())[0].leading_keys, vec!["BOOKING#y".to_owned()]);
        let unreadable = json!({"TableName": "lessons", "KeyConditionExpression": "#p = :p", "ExpressionAttributeValues": {":p": {"S": "BOOKING#z"}}});
        assert!(accesses("Query", &unreadable, &keys())[0].leading_keys.is_empty(), "#p names nothing: no key, which the checker refuses");
        let scan = json!({"TableName": "lessons", "IndexName": "gsi1"});
        assert!(accesses("Scan", &scan, &keys())[0].resource.ends_with("table/lessons/index/gsi1"));
    }

    #[test]
    fn a_batch_read_names_every_key_it_reads() {
        let body = json!({"RequestItems": {"lessons": {"Keys": [{"pk": {"S": "CHECKOUT#a"}, "sk": {"S": "x"}}, {"pk": {"S": "CHECKOUT#b"}, "sk": {"S": "x"}}]}}});
        let [access] = accesses("BatchGetItem", &body, &keys()).try_into().unwrap();
        assert_eq!((access.action.as_str(), access.leading_keys), ("dynamodb:BatchGetItem", vec!["CHECKOUT#a".to_owned(), "CHECKOUT#b".to_owned()]));
    }
}
