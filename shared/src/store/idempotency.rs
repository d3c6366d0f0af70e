//! What an `Idempotency-Key` of initiate-checkout was first used for.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::item::{item, put_new};
use super::{Store, StoreError};
use crate::domain::CheckoutId;

/// What an `Idempotency-Key` was first used for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub request_hash: String,
    pub checkout_id: CheckoutId,
}

fn idempotency_pk(key_hash: &str) -> String {
    format!("IDEMPOTENCY#{key_hash}")
}

impl Store {
    pub fn idempotency_item(&self, key_hash: &str, record: &IdempotencyRecord, expires: Timestamp) -> Result<TransactWriteItem, StoreError> {
        let item = item("put idempotency", idempotency_pk(key_hash), "IDEMPOTENCY", record, &[("ttl", AttributeValue::N(expires.as_second().to_string()))])?;
        put_new(&self.table, item, "put idempotency")
    }

    pub async fn get_idempotency(&self, key_hash: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.get_typed("get idempotency", idempotency_pk(key_hash), "IDEMPOTENCY").await
    }
}