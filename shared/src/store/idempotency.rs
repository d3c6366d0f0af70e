//! What an `Idempotency-Key` of initiate-checkout was first used for.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::item::item;
use super::keys::PK;
use super::{Store, StoreError};
use crate::domain::CheckoutId;

/// What an `Idempotency-Key` was first used for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub request_hash: String,
    pub checkout_id: CheckoutId,
}

/// The record as stored, with the expiry DynamoDB's TTL acts on.
#[derive(Deserialize)]
struct Stored {
    request_hash: String,
    checkout_id: CheckoutId,
    ttl: Option<i64>,
}

fn idempotency_pk(key_hash: &str) -> String {
    format!("IDEMPOTENCY#{key_hash}")
}

impl Store {
    /// Writes the record once; a record past its `ttl` that DynamoDB has
    /// not deleted yet counts as absent and is replaced.
    pub fn idempotency_item(&self, key_hash: &str, record: &IdempotencyRecord, now: Timestamp, expires: Timestamp) -> Result<TransactWriteItem, StoreError> {
        let item = item("put idempotency", idempotency_pk(key_hash), "IDEMPOTENCY", record, &[("ttl", AttributeValue::N(expires.as_second().to_string()))])?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #ttl <= :now")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", AttributeValue::N(now.as_second().to_string()))
            .build()
            .map_err(|e| StoreError::corrupt("put idempotency", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The record of a key, if it is still live. DynamoDB deletes expired
    /// items only when it gets round to it (often days later), so a record
    /// past its `ttl` is ignored here: the key is free again after 24 hours.
    pub async fn get_idempotency(&self, key_hash: &str, now: Timestamp) -> Result<Option<IdempotencyRecord>, StoreError> {
        let stored: Option<Stored> = self.get_typed("get idempotency", idempotency_pk(key_hash), "IDEMPOTENCY").await?;
        Ok(stored.filter(|s| s.ttl.is_none_or(|ttl| ttl > now.as_second())).map(|s| IdempotencyRecord { request_hash: s.request_hash, checkout_id: s.checkout_id }))
    }
}
