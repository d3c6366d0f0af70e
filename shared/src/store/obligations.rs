//! Refund obligations: money we have decided to give back, recorded in the
//! same transaction as the decision and kept until Stripe says how it ended.
//! They live in their payment's partition (`PAYMENT#<pi>`, `OWED#<id>`), so
//! one ledger read sees the payment, its refunds and what is still owed,
//! and while open they are listed in `gsi1` under `REFUNDS_OWED` for the
//! reconcile sweep.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::item::{item, key, put_new, s};
use super::keys::payment_pk;
use super::{Store, StoreError, TransactError};
use crate::domain::{BookingId, CheckoutId, Currency};

const OWED_INDEX_PK: &str = "REFUNDS_OWED";

/// Why money goes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundReason {
    /// A late payment for a lesson that was taken or had started meanwhile.
    LessonUnavailable,
    /// A booking cancelled by its student, teacher or an admin (the booking
    /// says who), refunded as the policy it kept says.
    Cancelled,
    /// The teacher did not come to a paid lesson: refunded in full.
    TeacherNoShow,
    /// A package's unused credits, asked back by its student in the first
    /// days or by an admin: at their value.
    CreditsUnused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObligationStatus {
    /// No refund exists at Stripe yet (or creating it failed transiently).
    Owed,
    /// The refund exists and is `pending` or `requires_action` at Stripe.
    Pending,
    /// Stripe reports the refund `succeeded`.
    Succeeded,
    /// Nothing was left on the payment to refund (refunded elsewhere first).
    Covered,
    /// Stripe refused the refund, or it failed after it was made: a person
    /// must reach the student. Never retried automatically.
    Failed,
}

impl ObligationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owed => "owed",
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Covered => "covered",
            Self::Failed => "failed",
        }
    }

    /// Still ours to follow up: listed for the reconcile sweep.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Owed | Self::Pending)
    }

    /// The obligation a refund with Stripe's `status` leaves behind.
    pub fn of_refund(status: &str) -> Self {
        match status {
            "succeeded" => Self::Succeeded,
            "failed" | "canceled" => Self::Failed,
            _ => Self::Pending,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Obligation {
    /// Also the Stripe idempotency key and the refund's `metadata.obligation_id`.
    pub obligation_id: String,
    pub payment_intent: String,
    pub amount: u64,
    pub currency: Currency,
    pub reason: RefundReason,
    pub checkout_id: CheckoutId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lesson_index: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking_id: Option<BookingId>,
    pub status: ObligationStatus,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
    /// Stripe's error code (refused) or `failure_reason` (failed later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Bumped each time Stripe answers a creation with a 5xx: Stripe saves
    /// that answer under the idempotency key and would replay it for 24
    /// hours, so the next try needs a key of its own (reading the
    /// payment's refunds first still guards against a second refund).
    #[serde(default)]
    pub attempt: u32,
}

impl Obligation {
    /// The refund of one lesson of a checkout. Its id is the idempotency key
    /// refunds of lessons have always used, so a refund made before
    /// obligations existed is recognised as this one's.
    pub fn for_lesson(checkout_id: &CheckoutId, lesson_index: usize, payment_intent: &str, amount: u64, currency: Currency, reason: RefundReason, now: Timestamp) -> Self {
        Self {
            obligation_id: lesson_obligation_id(checkout_id, lesson_index),
            payment_intent: payment_intent.to_owned(),
            amount,
            currency,
            reason,
            checkout_id: checkout_id.clone(),
            lesson_index: Some(lesson_index),
            booking_id: None,
            status: ObligationStatus::Owed,
            created_at: now,
            refund_id: None,
            error: None,
            attempt: 0,
        }
    }

    /// The refund of a cancelled booking: one per booking, whoever cancels
    /// it and however often.
    pub fn for_booking(booking: &crate::store::Booking, payment_intent: &str, amount: u64, now: Timestamp) -> Self {
        Self {
            obligation_id: cancel_obligation_id(&booking.booking_id),
            lesson_index: None,
            booking_id: Some(booking.booking_id.clone()),
            ..Self::for_lesson(&booking.checkout_id, 0, payment_intent, amount, booking.currency, RefundReason::Cancelled, now)
        }
    }

    /// The Stripe idempotency key of a refund of `amount` for it now.
    pub fn idempotency_key(&self, amount: u64) -> String {
        format!("{}-{amount}-{}", self.obligation_id, self.attempt)
    }
}

/// The refund of a grant's unused credits: one per grant.
pub fn credits_obligation_id(grant_id: &str) -> String {
    format!("credits-{grant_id}")
}

pub fn cancel_obligation_id(booking: &BookingId) -> String {
    format!("cancel-{booking}")
}

pub fn lesson_obligation_id(checkout_id: &CheckoutId, lesson_index: usize) -> String {
    format!("refund-{checkout_id}-{lesson_index}")
}

/// The obligation a refund at Stripe settles, from its metadata: ours carry
/// `obligation_id`; refunds of lessons made before obligations existed
/// carry the checkout and lesson it is derived from.
pub fn obligation_of_metadata(get: impl Fn(&str) -> Option<String>) -> Option<String> {
    get("obligation_id").or_else(|| {
        let checkout = CheckoutId::parse(&get("checkout_id")?).ok()?;
        let index = get("lesson_index")?.parse().ok()?;
        Some(lesson_obligation_id(&checkout, index))
    })
}

fn obligation_sk(id: &str) -> String {
    format!("OWED#{id}")
}

/// What settling an obligation records.
#[derive(Debug, Clone, Default)]
pub struct ObligationOutcome<'a> {
    pub refund_id: Option<&'a str>,
    pub error: Option<&'a str>,
}

/// Where an open obligation is listed for the sweep: oldest first.
fn listed_sk(obligation: &Obligation) -> String {
    format!("{}#{}", obligation.created_at, obligation.obligation_id)
}

impl Store {
    /// A new obligation, for the transaction that decides it.
    pub fn new_obligation_item(&self, obligation: &Obligation) -> Result<TransactWriteItem, StoreError> {
        let listed = [("gsi1pk", s(OWED_INDEX_PK)), ("gsi1sk", s(listed_sk(obligation)))];
        let item = item("put obligation", payment_pk(&obligation.payment_intent), &obligation_sk(&obligation.obligation_id), obligation, &listed)?;
        put_new(&self.table, item, "put obligation")
    }

    /// Moves an obligation to `to` if its status is one of `from`, as an item
    /// for a transaction (with an attention record, say); leaving the open
    /// states unlists it.
    pub fn obligation_update_item(&self, obligation: &Obligation, from: &[ObligationStatus], to: ObligationStatus, outcome: &ObligationOutcome<'_>) -> Result<TransactWriteItem, StoreError> {
        let update = self.obligation_update(obligation, from, to, outcome).build().map_err(|e| StoreError::corrupt("update obligation", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The same on its own; `false` when its status was not one of `from`.
    pub async fn update_obligation(&self, obligation: &Obligation, from: &[ObligationStatus], to: ObligationStatus, outcome: &ObligationOutcome<'_>) -> Result<bool, StoreError> {
        match self.transact(vec![self.obligation_update_item(obligation, from, to, outcome)?]).await {
            Ok(()) => Ok(true),
            Err(TransactError::Conflict { .. }) => Ok(false),
            Err(TransactError::Busy(err) | TransactError::Store(err)) => Err(err),
        }
    }

    fn obligation_update(&self, obligation: &Obligation, from: &[ObligationStatus], to: ObligationStatus, outcome: &ObligationOutcome<'_>) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        let names: Vec<String> = (0..from.len()).map(|i| format!(":from{i}")).collect();
        let mut set = vec!["#status = :to"];
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(payment_pk(&obligation.payment_intent), &obligation_sk(&obligation.obligation_id))))
            .condition_expression(format!("#status IN ({})", names.join(", ")))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(to.as_str()));
        for (name, status) in names.iter().zip(from) {
            update = update.expression_attribute_values(name, s(status.as_str()));
        }
        if let Some(refund_id) = outcome.refund_id {
            set.push("refund_id = :refund");
            update = update.expression_attribute_values(":refund", s(refund_id));
        }
        if let Some(error) = outcome.error {
            set.push("#error = :error");
            update = update.expression_attribute_names("#error", "error").expression_attribute_values(":error", s(error));
        }
        // Open: listed for the sweep (again, when a covered one reopens); closed: unlisted.
        let unlist = if to.is_open() {
            set.extend(["gsi1pk = :listed", "gsi1sk = :listed_sk"]);
            update = update.expression_attribute_values(":listed", s(OWED_INDEX_PK)).expression_attribute_values(":listed_sk", s(listed_sk(obligation)));
            ""
        } else {
            " REMOVE gsi1pk, gsi1sk"
        };
        update.update_expression(format!("SET {}{unlist}", set.join(", ")))
    }

    /// Stripe failed the last creation with a 5xx: the next try takes a new
    /// key. `false` when it is no longer owed, or another try bumped it.
    pub async fn next_attempt(&self, obligation: &Obligation) -> Result<bool, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(payment_pk(&obligation.payment_intent), &obligation_sk(&obligation.obligation_id))))
            .update_expression("SET attempt = :next")
            .condition_expression("#status = :owed AND (attribute_not_exists(attempt) OR attempt = :current)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":owed", s(ObligationStatus::Owed.as_str()))
            .expression_attribute_values(":current", AttributeValue::N(obligation.attempt.to_string()))
            .expression_attribute_values(":next", AttributeValue::N((obligation.attempt + 1).to_string()))
            .build()
            .map_err(|e| StoreError::corrupt("next refund attempt", e))?;
        match self.transact(vec![TransactWriteItem::builder().update(update).build()]).await {
            Ok(()) => Ok(true),
            Err(TransactError::Conflict { .. }) => Ok(false),
            Err(TransactError::Busy(err) | TransactError::Store(err)) => Err(err),
        }
    }

    /// Every open obligation, oldest first (the index is eventually
    /// consistent; the sweep re-reads each payment's ledger before acting).
    pub async fn open_obligations(&self) -> Result<Vec<Obligation>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(OWED_INDEX_PK.to_owned()));
        let items = self.query_all("list owed refunds", query).await?;
        items.into_iter().map(|item| serde_dynamo::from_item(item).map_err(|e| StoreError::corrupt("list owed refunds", e))).collect()
    }
}
