//! Checkouts, bookings, trial markers and idempotency records: the items the
//! money path writes, each next to the conditions that make it safe.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::keys::{PK, SK};
use super::error::lost_condition;
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
    /// Where Stripe sends the student back; kept for the same reason as `title`.
    #[serde(default)]
    pub success_url: String,
    #[serde(default)]
    pub cancel_url: String,
    /// The PaymentIntent that paid it, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_intent: Option<String>,
    /// Lessons that could not be honoured after a late payment (taken by
    /// someone else, or already started) and are refunded instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refunded_lessons: Vec<usize>,
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

/// A student's claim on their one trial with a teacher. It counts while its
/// checkout can still be paid (`hold_until`) or once it is `confirmed`; a
/// lapsed, unconfirmed claim may be taken over by a new checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrialClaim {
    pub checkout_id: CheckoutId,
    // Defaults read markers written before claims could lapse; the write
    // conditions treat their missing attributes as "counts" all the same.
    #[serde(default)]
    pub confirmed: bool,
    /// Unix seconds, a number so conditions can compare it.
    #[serde(default)]
    pub hold_until: i64,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    Confirmed,
    /// Its payment was refunded in full; its slot is free again.
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomStatus {
    Pending,
    Ready,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    pub booking_id: BookingId,
    pub status: BookingStatus,
    /// `paid` or `free`.
    pub payment_status: String,
    pub room_status: RoomStatus,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_room_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub student_room_code: Option<String>,
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

/// The partition listing bookings whose rooms are still to be made.
const PENDING_ROOMS: &str = "PENDING_ROOMS";

fn unsettled_pk(day: jiff::civil::Date) -> String {
    format!("UNSETTLED#{day}")
}

fn open_checkouts_pk(student: &str) -> String {
    format!("STUDENT#{student}")
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

    /// A new checkout; while unsettled it is also listed in `gsi1` under the
    /// UTC day its holds end, so reconciliation finds stuck ones without a scan.
    pub fn new_checkout_item(&self, checkout: &Checkout) -> Result<TransactWriteItem, StoreError> {
        let extra = [
            ("gsi1pk", s(unsettled_pk(super::utc_day(checkout.hold_until)))),
            ("gsi1sk", s(format!("{}#{}", checkout.hold_until, checkout.checkout_id))),
            ("gsi2pk", s(format!("STUDENT#{}", checkout.student_id))),
            ("gsi2sk", s(format!("CHECKOUT#{}", checkout.created_at))),
        ];
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

    /// Lists a booking whose room is still to be made, for the repair path;
    /// written in the transaction that creates the booking.
    pub fn pending_room_item(&self, id: &BookingId) -> Result<TransactWriteItem, StoreError> {
        let mut item = key(PENDING_ROOMS.to_owned(), id.as_str());
        item.insert("booking_id".into(), s(id.as_str()));
        let put = Put::builder().table_name(&self.table).set_item(Some(item)).build().map_err(|e| StoreError::corrupt("list pending room", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Bookings whose rooms are still to be made.
    pub async fn pending_rooms(&self) -> Result<Vec<BookingId>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", s(PENDING_ROOMS))
            .consistent_read(true);
        let items = self.query_all("list pending rooms", query).await?;
        Ok(items.iter().filter_map(|i| i.get("booking_id").and_then(|v| v.as_s().ok()).and_then(|id| BookingId::parse(id).ok())).collect())
    }

    /// Records a booking's room and codes (`room_status: ready`) and takes it
    /// off the pending list, provided the booking is still confirmed (`false`:
    /// it was cancelled meanwhile). Identical values from a concurrent
    /// provisioning are harmless.
    pub async fn set_booking_room(&self, id: &BookingId, room_id: &str, teacher_code: &str, student_code: &str) -> Result<bool, StoreError> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(booking_pk(id), "BOOKING")))
            .update_expression("SET room_id = :room, teacher_room_code = :teacher, student_room_code = :student, room_status = :ready")
            .condition_expression("attribute_exists(#pk) AND #status = :confirmed")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":room", s(room_id))
            .expression_attribute_values(":teacher", s(teacher_code))
            .expression_attribute_values(":student", s(student_code))
            .expression_attribute_values(":ready", s("ready"))
            .expression_attribute_values(":confirmed", s("confirmed"))
            .send()
            .await;
        match sent {
            Ok(_) => self.room_settled(id).await.map(|()| true),
            Err(err) if lost_condition(&err) => Ok(false),
            Err(err) => Err(StoreError::sdk("set booking room", err)),
        }
    }

    /// A room that cannot be made until someone fixes the configuration.
    pub async fn set_room_failed(&self, id: &BookingId) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(booking_pk(id), "BOOKING")))
            .update_expression("SET room_status = :failed")
            .condition_expression("attribute_exists(#pk) AND room_status <> :ready")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":failed", s("failed"))
            .expression_attribute_values(":ready", s("ready"))
            .send()
            .await
            .map(|_| ())
            .or_else(|err| if lost_condition(&err) { Ok(()) } else { Err(StoreError::sdk("set room failed", err)) })
    }

    /// Takes a booking off the pending-room list (its room is ready, or it was cancelled).
    pub async fn room_settled(&self, id: &BookingId) -> Result<(), StoreError> {
        self.client.delete_item().table_name(&self.table).set_key(Some(key(PENDING_ROOMS.to_owned(), id.as_str()))).send().await.map_err(|e| StoreError::sdk("unlist pending room", e))?;
        Ok(())
    }

    /// A user's bookings starting at or after `from`, as student (`gsi2`)
    /// or as teacher (`gsi1`), in start order.
    pub async fn bookings_of(&self, user: &str, as_teacher: bool, from: Timestamp, limit: i32) -> Result<Vec<Booking>, StoreError> {
        let (index, pk, sk, lower, upper) = if as_teacher {
            ("gsi1", format!("TEACHER#{user}"), "gsi1sk", from.to_string(), "~".to_owned())
        } else {
            ("gsi2", format!("STUDENT#{user}"), "gsi2sk", format!("BOOKING#{from}"), "BOOKING#~".to_owned())
        };
        let pk_name = if as_teacher { "gsi1pk" } else { "gsi2pk" };
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression(format!("{pk_name} = :pk AND {sk} BETWEEN :lower AND :upper"))
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":lower", s(lower))
            .expression_attribute_values(":upper", s(upper))
            .limit(limit)
            .send()
            .await
            .map_err(|e| StoreError::sdk("list bookings", e))?;
        output.items().iter().map(|item| serde_dynamo::from_item(item.clone()).map_err(|e| StoreError::corrupt("list bookings", e))).collect()
    }

    /// Marks a booking cancelled (its payment was refunded in full).
    pub fn booking_cancel_item(&self, id: &BookingId) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(booking_pk(id), "BOOKING")))
            .update_expression("SET #status = :cancelled")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":cancelled", s("cancelled"))
            .build()
            .map_err(|e| StoreError::corrupt("cancel booking", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    pub async fn get_booking(&self, id: &BookingId) -> Result<Option<Booking>, StoreError> {
        self.get_typed("get booking", booking_pk(id), "BOOKING").await
    }

    /// Claims a student's one trial with a teacher for `checkout`. Fails if
    /// another claim still counts; takes over a lapsed unconfirmed one, or
    /// one of the checkouts this one `replaces` (superseded in the same
    /// transaction), in one conditional write.
    pub fn trial_claim_item(&self, student: &str, teacher: &TeacherId, checkout: &CheckoutId, hold_until: Timestamp, now: Timestamp, replaces: &[&CheckoutId]) -> Result<TransactWriteItem, StoreError> {
        let claim = TrialClaim { checkout_id: checkout.clone(), confirmed: false, hold_until: hold_until.as_second() };
        self.trial_put(student, teacher, &claim, now, replaces)
    }

    /// Makes `checkout`'s claim permanent; fails if another claim counts.
    pub fn trial_confirm_item(&self, student: &str, teacher: &TeacherId, checkout: &CheckoutId, now: Timestamp) -> Result<TransactWriteItem, StoreError> {
        let claim = TrialClaim { checkout_id: checkout.clone(), confirmed: true, hold_until: now.as_second() };
        self.trial_put(student, teacher, &claim, now, &[checkout])
    }

    fn trial_put(&self, student: &str, teacher: &TeacherId, claim: &TrialClaim, now: Timestamp, replaces: &[&CheckoutId]) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = trial_key(student, teacher);
        let item = item("put trial claim", pk, &sk, claim, &[])?;
        let mut condition = "attribute_not_exists(#pk) OR (confirmed = :false AND hold_until <= :now)".to_owned();
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":now", AttributeValue::N(now.as_second().to_string()));
        if !replaces.is_empty() {
            let names: Vec<String> = (0..replaces.len()).map(|i| format!(":replaces{i}")).collect();
            condition.push_str(&format!(" OR checkout_id IN ({})", names.join(", ")));
            for (name, id) in names.iter().zip(replaces) {
                put = put.expression_attribute_values(name, s(id.as_str()));
            }
        }
        let put = put.condition_expression(condition).build().map_err(|e| StoreError::corrupt("put trial claim", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub async fn get_trial_claim(&self, student: &str, teacher: &TeacherId) -> Result<Option<TrialClaim>, StoreError> {
        let (pk, sk) = trial_key(student, teacher);
        self.get_typed("get trial claim", pk, &sk).await
    }

    /// Gives back `checkout`'s unconfirmed claim; fails if the claim is no
    /// longer that (the caller read it just before, so it re-reads).
    pub fn trial_release_item(&self, student: &str, teacher: &TeacherId, checkout: &CheckoutId) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = trial_key(student, teacher);
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk, &sk)))
            .condition_expression("checkout_id = :checkout AND confirmed = :false")
            .expression_attribute_values(":checkout", s(checkout.as_str()))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .build()
            .map_err(|e| StoreError::corrupt("release trial", e))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
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

    pub fn idempotency_item(&self, key_hash: &str, record: &IdempotencyRecord, expires: Timestamp) -> Result<TransactWriteItem, StoreError> {
        let item = item("put idempotency", idempotency_pk(key_hash), "IDEMPOTENCY", record, &[("ttl", AttributeValue::N(expires.as_second().to_string()))])?;
        put_new(&self.table, item, "put idempotency")
    }

    pub async fn get_idempotency(&self, key_hash: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.get_typed("get idempotency", idempotency_pk(key_hash), "IDEMPOTENCY").await
    }
}
