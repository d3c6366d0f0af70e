//! Bookings and the list of bookings whose rooms are still to be made.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::error::lost_condition;
use super::item::{item, key, put_new, s};
use super::keys::{PK, STATS_SK};
use super::{Store, StoreError};
use crate::domain::{BookingId, CancellationPolicy, CheckoutId, Currency, TeacherId};

/// Whose bookings to list: a teacher by their id (a login is mapped to it
/// first, see `Store::teacher_of`), a student by their login.
#[derive(Debug, Clone, Copy)]
pub enum BookingsOf<'a> {
    Student(&'a str),
    Teacher(&'a TeacherId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    Confirmed,
    /// Its slot is free again; `cancelled_by` says who or what ended it.
    Cancelled,
    /// Both came (decided after the lesson from what 100ms saw).
    Completed,
    /// The teacher came, the student did not: the lesson counts.
    StudentNoShow,
    /// The teacher did not come: refunded in full.
    TeacherNoShow,
}

impl BookingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
            Self::Completed => "completed",
            Self::StudentNoShow => "student_no_show",
            Self::TeacherNoShow => "teacher_no_show",
        }
    }
}

/// Who or what cancelled a booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelledBy {
    Student,
    Teacher,
    Admin,
    /// Its payment was refunded in full (in the Stripe dashboard, or every lesson by us).
    Refund,
    Dispute,
}

impl CancelledBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Student => "student",
            Self::Teacher => "teacher",
            Self::Admin => "admin",
            Self::Refund => "refund",
            Self::Dispute => "dispute",
        }
    }
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
    /// `paid` or `free`; `disputed` once a chargeback reached a lesson that had started.
    pub payment_status: String,
    pub room_status: RoomStatus,
    pub checkout_id: CheckoutId,
    pub teacher_id: TeacherId,
    pub student_id: String,
    /// The student's display name when they checked out (none: "Student").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub student_name: Option<String>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<CancelledBy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<Timestamp>,
    /// How often the student has moved it (the policy caps it).
    #[serde(default)]
    pub reschedule_count: u32,
    /// The teacher's cancellation policy in force when the lesson was paid
    /// for (bookings from before policies existed read the defaults).
    #[serde(default)]
    pub policy: CancellationPolicy,
    /// What its cancellation refunds (0: nothing), set with `cancelled_by`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_amount: Option<u64>,
    /// The times it had before each reschedule, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Moved>,
    /// Each party's presence, once the outcome is decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attendance: Option<crate::domain::Attendance>,
    /// The calendar invite's `SEQUENCE`: raised by each change of its time or
    /// status, in the change's transaction (RFC 5545: a calendar applies an
    /// update only when its sequence is higher).
    #[serde(default)]
    pub sequence: u32,
    /// Paid with a package's credit: the grant's payment and which credit.
    /// `checkout_id` then names the package's checkout (whose payment its
    /// refunds and earning come from), and `amount` is the credit's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit: Option<CreditUse>,
}

/// The credit a booking was paid with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditUse {
    pub grant_id: String,
    pub payment_intent: String,
    /// The package's checkout: what the booking names as its `checkout_id`.
    pub package_checkout: CheckoutId,
    /// The checkout that booked it (with the student's address and zone then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booked_by: Option<CheckoutId>,
    pub index: usize,
}

/// Where a booking was before the student moved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moved {
    pub start: Timestamp,
    pub end: Timestamp,
    pub moved_at: Timestamp,
}

/// How a booking's cancellation is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelling {
    pub by: CancelledBy,
    pub at: Timestamp,
    pub refund_amount: u64,
}

pub(super) fn booking_pk(id: &BookingId) -> String {
    format!("BOOKING#{id}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    OldestFirst,
    NewestFirst,
}

/// What [`TeacherStats`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeacherCount {
    Cancellations,
    NoShows,
}

/// Counters kept beside a teacher's profile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeacherStats {
    #[serde(default)]
    pub teacher_cancellations: u64,
    /// Lessons the teacher did not come to (apart from cancellations).
    #[serde(default)]
    pub teacher_no_shows: u64,
}

/// Raises a booking's invite sequence (with `:seq_zero` and `:seq_one`).
pub(super) const RAISE_SEQUENCE: &str = "#sequence = if_not_exists(#sequence, :seq_zero) + :seq_one";

/// The partition listing bookings whose rooms are still to be made.
const PENDING_ROOMS: &str = "PENDING_ROOMS";

impl Store {
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

    /// Lists a booking whose room is still to be settled, for the repair
    /// path: made (written with the booking) or disabled (written with its
    /// cancellation, so a 100ms outage then only delays it).
    pub fn pending_room_item(&self, id: &BookingId) -> Result<TransactWriteItem, StoreError> {
        let mut item = key(PENDING_ROOMS.to_owned(), id.as_str());
        item.insert("booking_id".into(), s(id.as_str()));
        let put = Put::builder().table_name(&self.table).set_item(Some(item)).build().map_err(|e| StoreError::corrupt("list pending room", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Bookings whose rooms are still to be made.
    pub async fn pending_rooms(&self) -> Result<Vec<BookingId>, StoreError> {
        let items = self.partition("list pending rooms", PENDING_ROOMS).await?;
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

    /// A student's (`gsi2`) or a teacher's (`gsi1`) bookings starting
    /// before `before`, newest first.
    pub async fn bookings_before(&self, of: BookingsOf<'_>, before: Timestamp, limit: i32) -> Result<Vec<Booking>, StoreError> {
        let items = self.bookings_between(of, None, Some(before), Direction::NewestFirst, limit).await?;
        // BETWEEN is inclusive; the bound itself is not before.
        Ok(items.into_iter().filter(|b| b.start < before).collect())
    }

    /// A student's (`gsi2`) or a teacher's (`gsi1`) bookings starting at or
    /// after `from`, in start order.
    pub async fn bookings_of(&self, of: BookingsOf<'_>, from: Timestamp, limit: i32) -> Result<Vec<Booking>, StoreError> {
        self.bookings_between(of, Some(from), None, Direction::OldestFirst, limit).await
    }

    /// One page of a student's or teacher's index between two starts (each
    /// bound inclusive, open when absent).
    async fn bookings_between(&self, of: BookingsOf<'_>, from: Option<Timestamp>, to: Option<Timestamp>, direction: Direction, limit: i32) -> Result<Vec<Booking>, StoreError> {
        let bound = |t: Option<Timestamp>, open: &str| t.map_or_else(|| open.to_owned(), |t| t.to_string());
        let (index, pk_name, pk, sk, lower, upper) = match of {
            BookingsOf::Teacher(teacher) => ("gsi1", "gsi1pk", format!("TEACHER#{teacher}"), "gsi1sk", bound(from, "0"), bound(to, "~")),
            BookingsOf::Student(sub) => ("gsi2", "gsi2pk", format!("STUDENT#{sub}"), "gsi2sk", format!("BOOKING#{}", bound(from, "0")), format!("BOOKING#{}", bound(to, "~"))),
        };
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression(format!("{pk_name} = :pk AND {sk} BETWEEN :lower AND :upper"))
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":lower", s(lower))
            .expression_attribute_values(":upper", s(upper))
            .scan_index_forward(direction == Direction::OldestFirst)
            .limit(limit)
            .send()
            .await
            .map_err(|e| StoreError::sdk("list bookings", e))?;
        output.items().iter().map(|item| serde_dynamo::from_item(item.clone()).map_err(|e| StoreError::corrupt("list bookings", e))).collect()
    }

    /// Marks a confirmed booking cancelled, by whom, when and with what
    /// refund; fails (the whole transaction) if it is no longer confirmed
    /// or no longer starts when it did as read, so of two cancellations
    /// racing only one is written, and one decided before a reschedule
    /// (which would clear the old days, not the new) is decided again.
    pub fn booking_cancel_item(&self, booking: &Booking, cancelling: Cancelling) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(booking_pk(&booking.booking_id), "BOOKING")))
            .update_expression(format!("SET #status = :cancelled, cancelled_by = :by, cancelled_at = :at, refund_amount = :refund, {RAISE_SEQUENCE}"))
            .condition_expression("#status = :confirmed AND #start = :start")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#start", "start")
            .expression_attribute_values(":start", s(booking.start.to_string()))
            .expression_attribute_values(":cancelled", s("cancelled"))
            .expression_attribute_values(":confirmed", s("confirmed"))
            .expression_attribute_values(":by", s(cancelling.by.as_str()))
            .expression_attribute_values(":at", s(cancelling.at.to_string()))
            .expression_attribute_values(":refund", AttributeValue::N(cancelling.refund_amount.to_string()))
            .expression_attribute_values(":seq_zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":seq_one", AttributeValue::N("1".into()))
            .expression_attribute_names("#sequence", "sequence")
            .build()
            .map_err(|e| StoreError::corrupt("cancel booking", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Moves a confirmed booking to `start`..`end` (its index keys with it),
    /// counting the move and keeping the old times in `history`; fails if
    /// the booking changed since `booking` was read.
    pub fn booking_move_item(&self, booking: &Booking, start: Timestamp, end: Timestamp, at: Timestamp) -> Result<TransactWriteItem, StoreError> {
        let moved = serde_dynamo::to_attribute_value(vec![Moved { start: booking.start, end: booking.end, moved_at: at }]).map_err(|e| StoreError::corrupt("move booking", e))?;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(booking_pk(&booking.booking_id), "BOOKING")))
            .update_expression(format!("SET #start = :start, #end = :end, gsi1sk = :gsi1sk, gsi2sk = :gsi2sk, reschedule_count = :count, history = list_append(if_not_exists(history, :none), :moved), {RAISE_SEQUENCE}"))
            .condition_expression("#status = :confirmed AND #start = :was AND (attribute_not_exists(reschedule_count) OR reschedule_count = :counted)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#start", "start")
            .expression_attribute_names("#end", "end")
            .expression_attribute_values(":confirmed", s("confirmed"))
            .expression_attribute_values(":was", s(booking.start.to_string()))
            .expression_attribute_values(":counted", AttributeValue::N(booking.reschedule_count.to_string()))
            .expression_attribute_values(":count", AttributeValue::N((booking.reschedule_count + 1).to_string()))
            .expression_attribute_values(":start", s(start.to_string()))
            .expression_attribute_values(":end", s(end.to_string()))
            .expression_attribute_values(":gsi1sk", s(start.to_string()))
            .expression_attribute_values(":gsi2sk", s(format!("BOOKING#{start}")))
            .expression_attribute_values(":none", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":moved", moved)
            .expression_attribute_values(":seq_zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":seq_one", AttributeValue::N("1".into()))
            .expression_attribute_names("#sequence", "sequence")
            .build()
            .map_err(|e| StoreError::corrupt("move booking", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Marks a confirmed booking's payment `disputed` (a chargeback after
    /// the lesson started: the booking stands, the money is the bank's).
    pub fn booking_disputed_item(&self, id: &BookingId) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(booking_pk(id), "BOOKING")))
            .update_expression("SET payment_status = :disputed")
            .condition_expression("#status = :confirmed")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":disputed", s("disputed"))
            .expression_attribute_values(":confirmed", s("confirmed"))
            .build()
            .map_err(|e| StoreError::corrupt("mark booking disputed", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Counts what a teacher did beside the profile (`TEACHER#<id>` /
    /// `STATS`, for the directory; not in the document a teacher edits), in
    /// the transaction that decides it (`-1`: an operator took it back).
    pub fn teacher_count_item(&self, teacher: &TeacherId, count: TeacherCount, by: i64) -> Result<TransactWriteItem, StoreError> {
        let field = match count {
            TeacherCount::Cancellations => "teacher_cancellations",
            TeacherCount::NoShows => "teacher_no_shows",
        };
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(super::keys::teacher_pk(teacher), STATS_SK)))
            .update_expression(format!("ADD {field} :by"))
            .expression_attribute_values(":by", AttributeValue::N(by.to_string()))
            .build()
            .map_err(|e| StoreError::corrupt("count for a teacher", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// A teacher's statistics (none yet: all zero).
    pub async fn teacher_stats(&self, teacher: &TeacherId) -> Result<TeacherStats, StoreError> {
        Ok(self.get_typed("get teacher stats", super::keys::teacher_pk(teacher), STATS_SK).await?.unwrap_or_default())
    }

    /// A booking's item as stored, every attribute (for operators).
    pub async fn booking_as_stored(&self, id: &BookingId) -> Result<Option<serde_json::Value>, StoreError> {
        self.get_typed("get booking", booking_pk(id), "BOOKING").await
    }

    pub async fn get_booking(&self, id: &BookingId) -> Result<Option<Booking>, StoreError> {
        self.get_typed("get booking", booking_pk(id), "BOOKING").await
    }
}
