//! Building blocks shared by every entity's items: keys, typed items, and
//! the conditional put that creates an item once.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use serde::Serialize;

use super::keys::{PK, SK};
use super::{Store, StoreError};

pub(super) fn key(pk: String, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([(PK.to_owned(), AttributeValue::S(pk)), (SK.to_owned(), AttributeValue::S(sk.to_owned()))])
}

pub(super) fn item<T: Serialize>(operation: &'static str, pk: String, sk: &str, value: &T, extra: &[(&str, AttributeValue)]) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(value).map_err(|e| StoreError::corrupt(operation, e))?;
    item.extend(key(pk, sk));
    item.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    Ok(item)
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn put_new(table: &str, item: HashMap<String, AttributeValue>, operation: &'static str) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#pk)")
        .expression_attribute_names("#pk", PK)
        .build()
        .map_err(|e| StoreError::corrupt(operation, e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

impl Store {
    /// Every item of one partition, strongly consistent, following pages.
    pub(super) async fn partition(&self, operation: &'static str, pk: &str) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", s(pk))
            .consistent_read(true);
        self.query_all(operation, query).await
    }

    /// One item by key, strongly consistent (the money path reads its own writes).
    pub(super) async fn get_typed<T: serde::de::DeserializeOwned>(&self, operation: &'static str, pk: String, sk: &str) -> Result<Option<T>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::sdk(operation, e))?;
        output.item.map(|item| serde_dynamo::from_item(item).map_err(|e| StoreError::corrupt(operation, e))).transpose()
    }
}
