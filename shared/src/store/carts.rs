//! A student's saved cart: a head item (`STUDENT#<sub>` / `CART`) carrying
//! the version every replacement is conditioned on, and one item per lesson
//! (`CART#<teacher>#<start>`), so that confirming a checkout can take its
//! lessons out with unconditional deletes, in its own transaction, without
//! reading the cart. Everything carries a `ttl` 30 days after the last
//! change; reads ignore what is past it, since DynamoDB sweeps late.
//!
//! A version is never issued twice for one cart, even after DynamoDB swept
//! its head: a replacement's version is above the one it read and at least
//! its time in milliseconds, a purchase adds one, and a head created afresh
//! starts from the time; so an `ETag` a forgotten tab still holds cannot
//! match a later, different cart.

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::item::{item, key, s};
use super::keys::{PK, SK};
use super::{Store, StoreError, TransactError};
use crate::domain::{LessonPick, TeacherId};

/// How long a cart is kept after its last change.
pub const CART_LIFETIME: SignedDuration = SignedDuration::from_hours(30 * 24);
const HEAD_SK: &str = "CART";

/// A cart as read: its live lessons in the order they were put, and what a
/// replacement must condition on and clear.
#[derive(Debug, Clone, Default)]
pub struct StoredCart {
    /// 0: never written.
    pub version: u64,
    pub updated_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub picks: Vec<LessonPick>,
    /// Every lesson item's sort key, expired ones included.
    item_keys: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct Head {
    version: u64,
    updated_at: Timestamp,
    ttl: i64,
}

#[derive(Serialize, Deserialize)]
struct Line {
    #[serde(flatten)]
    entry: LessonPick,
    position: usize,
    ttl: i64,
}

/// After `read`, and at least `now` in milliseconds (see the module's note).
fn next_version(read: u64, now: Timestamp) -> u64 {
    (read + 1).max(u64::try_from(now.as_millisecond()).unwrap_or(0))
}

fn cart_pk(student: &str) -> String {
    format!("STUDENT#{student}")
}

fn line_sk(teacher: &TeacherId, start: Timestamp) -> String {
    format!("{HEAD_SK}#{teacher}#{start}")
}

impl Store {
    /// The student's cart, strongly consistent (a PUT's answer and the next
    /// GET agree). Expired items read as an empty cart.
    pub async fn get_cart(&self, student: &str, now: Timestamp) -> Result<StoredCart, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :cart)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(cart_pk(student)))
            .expression_attribute_values(":cart", s(HEAD_SK))
            .consistent_read(true);
        let mut cart = StoredCart::default();
        let mut lines = Vec::new();
        for raw in self.query_all("get cart", query).await? {
            let sk = raw.get(SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            if sk == HEAD_SK {
                let head: Head = serde_dynamo::from_item(raw).map_err(|e| StoreError::corrupt("get cart", e))?;
                cart.version = head.version;
                if head.ttl > now.as_second() {
                    cart.updated_at = Some(head.updated_at);
                    cart.expires_at = Timestamp::from_second(head.ttl).ok();
                }
            } else {
                let line: Line = serde_dynamo::from_item(raw).map_err(|e| StoreError::corrupt("get cart", e))?;
                if line.ttl > now.as_second() {
                    lines.push(line);
                }
                cart.item_keys.push(sk);
            }
        }
        if cart.updated_at.is_none() {
            lines.clear();
        }
        lines.sort_by_key(|l| l.position);
        cart.picks = lines.into_iter().map(|l| l.entry).collect();
        Ok(cart)
    }

    /// Replaces the cart read as `read` by `entries` (none: clears it).
    /// `Ok(false)`: someone changed the cart since it was read (or another
    /// transaction held it): read it again and retry.
    pub async fn replace_cart(&self, student: &str, read: &StoredCart, entries: &[LessonPick], now: Timestamp) -> Result<bool, StoreError> {
        let ttl = (now + CART_LIFETIME).as_second();
        let pk = cart_pk(student);
        let keep: Vec<String> = entries.iter().map(|e| line_sk(&e.teacher_id, e.start)).collect();
        // A cleared cart keeps its head, already expired, so the version
        // sequence (and the condition of the next replacement) goes on.
        let head = Head { version: next_version(read.version, now), updated_at: now, ttl: if entries.is_empty() { now.as_second() } else { ttl } };
        let mut items = vec![self.cart_head_item(&pk, read.version, &head)?];
        for gone in read.item_keys.iter().filter(|k| !keep.contains(k)) {
            items.push(self.cart_delete(&pk, gone)?);
        }
        for (position, (entry, sk)) in entries.iter().zip(&keep).enumerate() {
            let put = Put::builder().table_name(&self.table).set_item(Some(item("put cart", pk.clone(), sk, &Line { entry: entry.clone(), position, ttl }, &[])?));
            // A line kept from the cart as read must still be there: a confirmation
            // that took it out (bought) meanwhile must not be undone by this write.
            let put = if read.item_keys.contains(sk) { put.condition_expression("attribute_exists(#pk)").expression_attribute_names("#pk", PK) } else { put };
            let put = put.build().map_err(|e| StoreError::corrupt("put cart", e))?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactError::Conflict { .. } | TransactError::Busy(_)) => Ok(false),
            Err(TransactError::Store(err)) => Err(err),
        }
    }

    /// Takes one lesson out of a student's cart, whatever the cart holds:
    /// for the transaction that confirms the checkout it was bought with.
    pub fn cart_line_delete_item(&self, student: &str, teacher: &TeacherId, start: Timestamp) -> Result<TransactWriteItem, StoreError> {
        self.cart_delete(&cart_pk(student), &line_sk(teacher, start))
    }

    /// Moves the cart's version on without reading it, in the transaction
    /// that takes bought lessons out of it: a tab showing the cart from
    /// before the purchase then gets a 412 on its next write, not a refusal
    /// of a lesson it never added. A head swept meanwhile comes back expired.
    pub fn cart_bought_item(&self, student: &str, now: Timestamp) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(cart_pk(student), HEAD_SK)))
            .update_expression("SET #version = if_not_exists(#version, :floor) + :one, #updated = if_not_exists(#updated, :now), #ttl = if_not_exists(#ttl, :expired)")
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#updated", "updated_at")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":floor", AttributeValue::N(next_version(0, now).to_string()))
            .expression_attribute_values(":one", AttributeValue::N("1".to_owned()))
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":expired", AttributeValue::N(now.as_second().to_string()))
            .build()
            .map_err(|e| StoreError::corrupt("mark a cart bought", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The head written as `next`, provided it is still at version `read`.
    fn cart_head_item(&self, pk: &str, read: u64, next: &Head) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder().table_name(&self.table).set_item(Some(item("put cart", pk.to_owned(), HEAD_SK, next, &[])?));
        let put = if read == 0 {
            put.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", PK)
        } else {
            put.condition_expression("#version = :read").expression_attribute_names("#version", "version").expression_attribute_values(":read", AttributeValue::N(read.to_string()))
        };
        Ok(TransactWriteItem::builder().put(put.build().map_err(|e| StoreError::corrupt("put cart", e))?).build())
    }

    fn cart_delete(&self, pk: &str, sk: &str) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder().table_name(&self.table).set_key(Some(key(pk.to_owned(), sk))).build().map_err(|e| StoreError::corrupt("delete cart line", e))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}
