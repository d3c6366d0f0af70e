//! Calendar feeds: a person's feed is found by the SHA-256 of its secret
//! (`FEED#<hash>`, so the table never holds a usable URL), and the person's
//! current feed is named beside their login (`USER#<login>` / `FEED`), so
//! rotating writes the new one and deletes the old one in one transaction.

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::item::{item, key, put_new, s};
use super::keys::{self, PK};
use super::{Store, StoreError, TransactError};

const FEED_SK: &str = "FEED";

fn feed_pk(hash: &str) -> String {
    format!("FEED#{hash}")
}

/// Whose lessons a feed shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedOwner {
    pub user_id: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CurrentFeed {
    hash: String,
}

impl Store {
    /// The owner of the feed whose secret hashes to `hash`.
    pub async fn feed_owner(&self, hash: &str) -> Result<Option<FeedOwner>, StoreError> {
        self.get_typed("read feed", feed_pk(hash), FEED_SK).await
    }

    /// The hash of `user_id`'s current feed, if they have one.
    pub async fn current_feed(&self, user_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self.get_typed::<CurrentFeed>("read current feed", keys::user_pk(user_id), FEED_SK).await?.map(|c| c.hash))
    }

    /// Makes `hash` `user_id`'s feed, ending `old` (as read) in the same
    /// transaction; `false` when another rotation went first (read again).
    pub async fn rotate_feed(&self, user_id: &str, old: Option<&str>, hash: &str, now: Timestamp) -> Result<bool, StoreError> {
        let owner = item("put feed", feed_pk(hash), FEED_SK, &FeedOwner { user_id: user_id.to_owned(), created_at: now }, &[])?;
        let mut items = vec![put_new(&self.table, owner, "put feed")?];
        let current = item("put current feed", keys::user_pk(user_id), FEED_SK, &CurrentFeed { hash: hash.to_owned() }, &[])?;
        let mut put = Put::builder().table_name(&self.table).set_item(Some(current)).expression_attribute_names("#pk", PK);
        put = match old {
            None => put.condition_expression("attribute_not_exists(#pk)"),
            Some(old) => {
                let delete = Delete::builder().table_name(&self.table).set_key(Some(key(feed_pk(old), FEED_SK))).build().map_err(|e| StoreError::corrupt("end feed", e))?;
                items.push(TransactWriteItem::builder().delete(delete).build());
                put.condition_expression("attribute_exists(#pk) AND #hash = :old").expression_attribute_names("#hash", "hash").expression_attribute_values(":old", s(old))
            }
        };
        items.push(TransactWriteItem::builder().put(put.build().map_err(|e| StoreError::corrupt("put current feed", e))?).build());
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactError::Conflict { .. }) => Ok(false),
            Err(TransactError::Busy(err) | TransactError::Store(err)) => Err(err),
        }
    }
}
