//! Checkouts and a student's set of open checkouts: the items the hold and
//! settlement transactions write, each next to the conditions that make it safe.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::error::lost_condition;
use super::item::{item, key, put_new, s};
use super::keys::PK;
use super::{Store, StoreError};
use crate::domain::{BookingId, CheckoutId, Currency, TeacherId};


#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckoutStatus {
    AwaitingPayment,
    /// Completed with a delayed method; the money is not settled yet.
    PaymentPending,
    Confirmed,
    Expired,
    Failed,
    Refunded,
    PartiallyRefunded,
    /// A payment that does not match what we created; an operator decides.
    NeedsAttention,
}

impl CheckoutStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingPayment => "awaiting_payment",
            Self::PaymentPending => "payment_pending",
            Self::Confirmed => "confirmed",
            Self::Expired => "expired",
            Self::Failed => "failed",
            Self::Refunded => "refunded",
            Self::PartiallyRefunded => "partially_refunded",
            Self::NeedsAttention => "needs_attention",
        }
    }

    /// Money was taken and the checkout's outcome is decided.
    pub fn is_settled(self) -> bool {
        matches!(self, Self::Confirmed | Self::PartiallyRefunded | Self::Refunded)
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
    /// The line item's name at Stripe, kept so the session can be asked for
    /// again with identical parameters (same idempotency key).
    #[serde(default)]
    pub title: String,
    /// The teacher's buffer when the lesson was held: which days its
    /// calendar entry was written to, whatever the profile says later.
    #[serde(default)]
    pub buffer_minutes: u32,
    /// The teacher's cancellation policy when the student checked out: what
    /// they saw, and what the booking keeps however late the payment
    /// settles (checkouts from before this was kept read the profile then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<crate::domain::CancellationPolicy>,
    /// Paid with a package's credit (then `amount` is the credit's value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit: Option<super::CreditUse>,
}

/// A lesson package bought by a checkout: priced from the offer in force,
/// frozen with the checkout with the policy its lessons will keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageOrder {
    pub teacher_id: TeacherId,
    pub teacher_name: String,
    pub lessons: u32,
    pub duration_minutes: u32,
    pub discount_percent: u32,
    pub price: u64,
    pub unit_values: Vec<u64>,
    pub valid_days: u32,
    pub policy: crate::domain::CancellationPolicy,
    /// The line item's name at Stripe.
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkout {
    pub checkout_id: CheckoutId,
    pub student_id: String,
    /// The token's `email` claim: where the student's notices go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The token said `email_verified: false`: kept, and marked so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub email_unverified: bool,
    /// The student's IANA zone when the checkout named one (else UTC, said so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The student's display name from their token, shown to the teacher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub student_name: Option<String>,
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
    /// Where Stripe sends the student back; kept for the same reason as `title`.
    #[serde(default)]
    pub success_url: String,
    #[serde(default)]
    pub cancel_url: String,
    /// Bought from the student's saved cart: confirming it takes its
    /// lessons out of the cart.
    #[serde(default)]
    pub from_cart: bool,
    /// The PaymentIntent that paid it, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_intent: Option<String>,
    /// Lessons that could not be honoured after a late payment (taken by
    /// someone else, or already started) and are refunded instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refunded_lessons: Vec<usize>,
    /// A package bought instead of lessons (then `lessons` is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<PackageOrder>,
    /// Its lessons were paid with credits: confirmed when it was made.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paid_with_credits: bool,
}

impl Checkout {
    /// Whether a student can still pay it: open at Stripe and still holding its slots.
    pub fn is_open(&self, now: Timestamp) -> bool {
        self.status == CheckoutStatus::AwaitingPayment && now < self.hold_until
    }

    pub fn trial_teachers(&self) -> impl Iterator<Item = &TeacherId> {
        self.lessons.iter().filter(|l| l.trial).map(|l| &l.teacher_id)
    }
}

/// A status change of a checkout and the fields that change with it.
#[derive(Debug, Clone, Default)]
pub struct CheckoutChange<'a> {
    pub payment_status: Option<&'a str>,
    pub booking_ids: Option<&'a [BookingId]>,
    pub payment_intent: Option<&'a str>,
    pub refunded_lessons: Option<&'a [usize]>,
}


/// A student's checkouts that may still be open, with their `hold_until`
/// (Unix seconds). Written in every hold transaction, conditioned on its
/// version, so the per-student limit holds under concurrent requests.
/// Entries of checkouts that were since paid or released linger until the
/// next checkout prunes them (by reading those checkouts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenCheckouts {
    pub version: u64,
    pub open: std::collections::BTreeMap<CheckoutId, i64>,
}

pub fn checkout_pk(id: &CheckoutId) -> String {
    format!("CHECKOUT#{id}")
}

fn unsettled_pk(day: jiff::civil::Date) -> String {
    format!("UNSETTLED#{day}")
}

fn open_checkouts_pk(student: &str) -> String {
    format!("STUDENT#{student}")
}

impl Store {
    /// A new checkout; while unsettled it is also listed in `gsi1` under the
    /// UTC day its holds end, so reconciliation finds stuck ones without a scan.
    /// One settled at birth (paid with credits) is not listed as unsettled.
    pub fn new_checkout_item(&self, checkout: &Checkout) -> Result<TransactWriteItem, StoreError> {
        let mut extra = vec![("gsi2pk", s(format!("STUDENT#{}", checkout.student_id))), ("gsi2sk", s(format!("CHECKOUT#{}", checkout.created_at)))];
        if !checkout.status.is_settled() {
            extra.push(("gsi1pk", s(unsettled_pk(super::utc_day(checkout.hold_until)))));
            extra.push(("gsi1sk", s(format!("{}#{}", checkout.hold_until, checkout.checkout_id))));
        }
        let item = item("put checkout", checkout_pk(&checkout.checkout_id), "CHECKOUT", checkout, &extra)?;
        put_new(&self.table, item, "put checkout")
    }

    pub async fn get_checkout(&self, id: &CheckoutId) -> Result<Option<Checkout>, StoreError> {
        self.get_typed("get checkout", checkout_pk(id), "CHECKOUT").await
    }

    /// Moves a checkout from `from` to `to`, changing only the fields that
    /// go with the move, so a concurrent write of other fields (the session
    /// id and URL) can never be lost; fails unless the status is still `from`.
    pub fn checkout_transition_item(&self, id: &CheckoutId, from: CheckoutStatus, to: CheckoutStatus, change: &CheckoutChange<'_>) -> Result<TransactWriteItem, StoreError> {
        let mut set = vec!["#status = :to"];
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(checkout_pk(id), "CHECKOUT")))
            .condition_expression("#status = :from")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":from", s(from.as_str()))
            .expression_attribute_values(":to", s(to.as_str()));
        if let Some(payment_status) = change.payment_status {
            set.push("payment_status = :payment_status");
            update = update.expression_attribute_values(":payment_status", s(payment_status));
        }
        if let Some(ids) = change.booking_ids {
            set.push("booking_ids = :booking_ids");
            update = update.expression_attribute_values(":booking_ids", AttributeValue::L(ids.iter().map(|b| s(b.as_str())).collect()));
        }
        if let Some(intent) = change.payment_intent {
            set.push("payment_intent = :payment_intent");
            update = update.expression_attribute_values(":payment_intent", s(intent));
        }
        if let Some(lessons) = change.refunded_lessons {
            set.push("refunded_lessons = :refunded_lessons");
            update = update.expression_attribute_values(":refunded_lessons", AttributeValue::L(lessons.iter().map(|i| AttributeValue::N(i.to_string())).collect()));
        }
        // Leaving the unsettled states leaves the reconciliation index too.
        let unlist = if matches!(to, CheckoutStatus::AwaitingPayment | CheckoutStatus::PaymentPending) { "" } else { " REMOVE gsi1pk, gsi1sk" };
        let update = update.update_expression(format!("SET {}{unlist}", set.join(", "))).build().map_err(|e| StoreError::corrupt("update checkout", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Claims the right to ask Stripe about a checkout now: at most once per
    /// `interval` per checkout, however many success pages poll it.
    pub async fn claim_poll(&self, id: &CheckoutId, now: Timestamp, interval: jiff::SignedDuration) -> Result<bool, StoreError> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(checkout_pk(id), "CHECKOUT")))
            .update_expression("SET polled_at = :now")
            .condition_expression("attribute_exists(#pk) AND (attribute_not_exists(polled_at) OR polled_at <= :due)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":now", AttributeValue::N(now.as_second().to_string()))
            .expression_attribute_values(":due", AttributeValue::N((now - interval).as_second().to_string()))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(err) if lost_condition(&err) => Ok(false),
            Err(err) => Err(StoreError::sdk("claim poll", err)),
        }
    }

    /// Unsettled checkouts whose holds ended on `day` (UTC) at or before
    /// `until` (the reconciliation index; eventually consistent, as GSIs are).
    pub async fn unsettled_checkouts(&self, day: jiff::civil::Date, until: Timestamp) -> Result<Vec<CheckoutId>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk AND gsi1sk <= :until")
            .expression_attribute_values(":pk", s(unsettled_pk(day)))
            .expression_attribute_values(":until", s(format!("{until}#~")))
            .projection_expression("checkout_id");
        let items = self.query_all("list unsettled", query).await?;
        Ok(items.iter().filter_map(|item| item.get("checkout_id").and_then(|v| v.as_s().ok()).and_then(|id| CheckoutId::parse(id).ok())).collect())
    }

    /// The given checkouts that exist, strongly consistent.
    pub async fn get_checkouts(&self, ids: &[&CheckoutId]) -> Result<Vec<Checkout>, StoreError> {
        let keys: Vec<_> = ids.iter().map(|id| key(checkout_pk(id), "CHECKOUT")).collect();
        let mut found = Vec::with_capacity(ids.len());
        for chunk in keys.chunks(super::MAX_BATCH_GET) {
            for item in self.batch_get("get checkouts", chunk.to_vec()).await? {
                found.push(serde_dynamo::from_item(item).map_err(|e| StoreError::corrupt("get checkouts", e))?);
            }
        }
        Ok(found)
    }

    /// Records the Stripe session of a checkout that still awaits payment;
    /// `false` when the checkout has moved on (abandoned, superseded, failed).
    pub async fn set_checkout_session(&self, id: &CheckoutId, session_id: &str, url: &str) -> Result<bool, StoreError> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(checkout_pk(id), "CHECKOUT")))
            .update_expression("SET stripe_session_id = :sid, checkout_url = :url")
            .condition_expression("#status = :awaiting")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":sid", s(session_id))
            .expression_attribute_values(":url", s(url))
            .expression_attribute_values(":awaiting", s(CheckoutStatus::AwaitingPayment.as_str()))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(err) if lost_condition(&err) => Ok(false),
            Err(err) => Err(StoreError::sdk("set session", err)),
        }
    }

    pub async fn get_open_checkouts(&self, student: &str) -> Result<OpenCheckouts, StoreError> {
        Ok(self.get_typed("get open checkouts", open_checkouts_pk(student), "OPEN_CHECKOUTS").await?.unwrap_or_default())
    }

    /// Replaces a student's open-checkout set, provided nobody wrote it since `read`.
    pub fn open_checkouts_item(&self, student: &str, read: &OpenCheckouts, open: std::collections::BTreeMap<CheckoutId, i64>) -> Result<TransactWriteItem, StoreError> {
        let next = OpenCheckouts { version: read.version + 1, open };
        let item = item("put open checkouts", open_checkouts_pk(student), "OPEN_CHECKOUTS", &next, &[])?;
        let put = Put::builder().table_name(&self.table).set_item(Some(item));
        let put = if read.version == 0 {
            put.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", PK)
        } else {
            put.condition_expression("#version = :read")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":read", AttributeValue::N(read.version.to_string()))
        };
        let put = put.build().map_err(|e| StoreError::corrupt("put open checkouts", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}
