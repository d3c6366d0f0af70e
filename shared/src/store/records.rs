//! Checkouts, bookings, trial markers and idempotency records: the items the
//! money path writes, each next to the conditions that make it safe.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::keys::{PK, SK};
use super::{Store, StoreError};
use crate::domain::{BookingId, CheckoutId, Currency, TeacherId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckoutStatus {
    AwaitingPayment,
    Paid,
    Confirmed,
    Expired,
    Failed,
    Refunded,
    PartiallyRefunded,
}

impl CheckoutStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingPayment => "awaiting_payment",
            Self::Paid => "paid",
            Self::Confirmed => "confirmed",
            Self::Expired => "expired",
            Self::Failed => "failed",
            Self::Refunded => "refunded",
            Self::PartiallyRefunded => "partially_refunded",
        }
    }
}

/// One priced lesson of a checkout; its booking id is fixed when the
/// checkout is created, so confirming twice can never make two bookings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutLesson {
    pub teacher_id: TeacherId,
    pub teacher_name: String,
    pub start: Timestamp,
    pub end: Timestamp,
    pub duration_minutes: u32,
    pub amount: u64,
    pub trial: bool,
    pub booking_id: BookingId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkout {
    pub checkout_id: CheckoutId,
    pub student_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub status: CheckoutStatus,
    pub currency: Currency,
    pub amount_total: u64,
    pub lessons: Vec<CheckoutLesson>,
    pub created_at: Timestamp,
    /// When the Stripe session stops accepting payment.
    pub expires_at: Timestamp,
    /// When the holds stop blocking: `expires_at` plus a grace for late webhooks.
    pub hold_until: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_status: Option<String>,
    #[serde(default)]
    pub booking_ids: Vec<BookingId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    pub booking_id: BookingId,
    pub checkout_id: CheckoutId,
    pub teacher_id: TeacherId,
    pub student_id: String,
    pub start: Timestamp,
    pub end: Timestamp,
    pub duration_minutes: u32,
    pub amount: u64,
    pub currency: Currency,
    pub trial: bool,
    pub created_at: Timestamp,
}

/// What an `Idempotency-Key` was first used for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub request_hash: String,
    pub checkout_id: CheckoutId,
}

pub fn checkout_pk(id: &CheckoutId) -> String {
    format!("CHECKOUT#{id}")
}

fn booking_pk(id: &BookingId) -> String {
    format!("BOOKING#{id}")
}

fn trial_key(student: &str, teacher: &TeacherId) -> (String, String) {
    (format!("STUDENT#{student}"), format!("TRIAL#{teacher}"))
}

fn idempotency_pk(key_hash: &str) -> String {
    format!("IDEMPOTENCY#{key_hash}")
}

fn key(pk: String, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([(PK.to_owned(), AttributeValue::S(pk)), (SK.to_owned(), AttributeValue::S(sk.to_owned()))])
}

fn item<T: Serialize>(operation: &'static str, pk: String, sk: &str, value: &T, extra: &[(&str, AttributeValue)]) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(value).map_err(|e| StoreError::corrupt(operation, e))?;
    item.extend(key(pk, sk));
    item.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    Ok(item)
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn put_new(table: &str, item: HashMap<String, AttributeValue>, operation: &'static str) -> Result<TransactWriteItem, StoreError> {
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

    pub fn new_checkout_item(&self, checkout: &Checkout) -> Result<TransactWriteItem, StoreError> {
        let extra = [("gsi2pk", s(format!("STUDENT#{}", checkout.student_id))), ("gsi2sk", s(format!("CHECKOUT#{}", checkout.created_at)))];
        let item = item("put checkout", checkout_pk(&checkout.checkout_id), "CHECKOUT", checkout, &extra)?;
        put_new(&self.table, item, "put checkout")
    }

    pub async fn get_checkout(&self, id: &CheckoutId) -> Result<Option<Checkout>, StoreError> {
        self.get_typed("get checkout", checkout_pk(id), "CHECKOUT").await
    }

    /// Replaces a checkout, provided its status is still `expected` (so two
    /// writers racing on one checkout cannot both move it).
    pub fn checkout_update_item(&self, checkout: &Checkout, expected: CheckoutStatus) -> Result<TransactWriteItem, StoreError> {
        let extra = [("gsi2pk", s(format!("STUDENT#{}", checkout.student_id))), ("gsi2sk", s(format!("CHECKOUT#{}", checkout.created_at)))];
        let item = item("update checkout", checkout_pk(&checkout.checkout_id), "CHECKOUT", checkout, &extra)?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("#status = :expected")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":expected", s(expected.as_str()))
            .build()
            .map_err(|e| StoreError::corrupt("update checkout", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Records the Stripe session of a checkout that still awaits payment.
    pub async fn set_checkout_session(&self, id: &CheckoutId, session_id: &str, url: &str) -> Result<(), StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(checkout_pk(id), "CHECKOUT")))
            .update_expression("SET stripe_session_id = :sid, checkout_url = :url")
            .condition_expression("#status = :awaiting")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":sid", s(session_id))
            .expression_attribute_values(":url", s(url))
            .expression_attribute_values(":awaiting", s(CheckoutStatus::AwaitingPayment.as_str()))
            .build()
            .map_err(|e| StoreError::corrupt("set session", e))?;
        self.transact(vec![TransactWriteItem::builder().update(update).build()]).await.map_err(|e| match e {
            super::TransactError::Store(e) => e,
            super::TransactError::Conflict { .. } => StoreError::corrupt("set session", "checkout is no longer awaiting payment"),
        })
    }

    pub fn new_booking_item(&self, booking: &Booking) -> Result<TransactWriteItem, StoreError> {
        let extra = [
            ("gsi1pk", s(format!("TEACHER#{}", booking.teacher_id))),
            ("gsi1sk", s(booking.start.to_string())),
            ("gsi2pk", s(format!("STUDENT#{}", booking.student_id))),
            ("gsi2sk", s(format!("BOOKING#{}", booking.start))),
        ];
        let item = item("put booking", booking_pk(&booking.booking_id), "BOOKING", booking, &extra)?;
        put_new(&self.table, item, "put booking")
    }

    pub async fn get_booking(&self, id: &BookingId) -> Result<Option<Booking>, StoreError> {
        self.get_typed("get booking", booking_pk(id), "BOOKING").await
    }

    /// Claims a student's one trial with a teacher; fails if already claimed.
    pub fn trial_marker_item(&self, student: &str, teacher: &TeacherId, checkout: &CheckoutId) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = trial_key(student, teacher);
        let mut item = key(pk, &sk);
        item.insert("checkout_id".into(), s(checkout.as_str()));
        put_new(&self.table, item, "put trial marker")
    }

    /// Gives a trial back, but only the claim this checkout made.
    pub fn trial_release_item(&self, student: &str, teacher: &TeacherId, checkout: &CheckoutId) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = trial_key(student, teacher);
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk, &sk)))
            .condition_expression("attribute_not_exists(#pk) OR checkout_id = :checkout")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":checkout", s(checkout.as_str()))
            .build()
            .map_err(|e| StoreError::corrupt("release trial", e))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    pub fn idempotency_item(&self, key_hash: &str, record: &IdempotencyRecord, expires: Timestamp) -> Result<TransactWriteItem, StoreError> {
        let item = item("put idempotency", idempotency_pk(key_hash), "IDEMPOTENCY", record, &[("ttl", AttributeValue::N(expires.as_second().to_string()))])?;
        put_new(&self.table, item, "put idempotency")
    }

    pub async fn get_idempotency(&self, key_hash: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.get_typed("get idempotency", idempotency_pk(key_hash), "IDEMPOTENCY").await
    }
}
