//! The outbox: one durable work item (`work`) per notice owed to one
//! recipient, written in the transaction of the change it tells of. Items
//! live in their subject's outbox partition (`OUTBOX#<checkout, booking or
//! obligation id>`), so everything said about one booking is one query, and
//! their sort keys are derived from the change (`rescheduled#3#student`), so
//! a change retried writes the same item, never a second one.

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::item::{item, key, put_new};
use super::work::{WorkKey, WorkKind, WorkStatus};
use super::{Booking, Checkout, Obligation, Store, StoreError};
use crate::domain::TeacherId;

/// The due index of notices.
pub const NOTICES: WorkKind = WorkKind("OUTBOX");

/// What a notice tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// A checkout's lessons are booked (one notice per checkout and reader).
    Confirmed,
    Rescheduled,
    Cancelled,
    /// The lesson's outcome was decided as a no-show.
    Outcome,
    /// A refund Stripe refused or that failed later: for the operator (and
    /// the webhooks).
    RefundFailed,
    /// A refund reached the student's card (webhooks only).
    RefundSucceeded,
    /// 24 hours, then 1 hour, before the lesson.
    Reminder,
    /// A lesson's earning went to its teacher's Stripe account (the
    /// teacher, and the webhooks).
    Transferred,
    /// A grant's unused credits expire in 30, then 7 days (its student).
    CreditsExpiring,
}

impl Topic {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Rescheduled => "rescheduled",
            Self::Cancelled => "cancelled",
            Self::Outcome => "outcome",
            Self::RefundFailed => "refund_failed",
            Self::RefundSucceeded => "refund_succeeded",
            Self::Reminder => "reminder",
            Self::Transferred => "transferred",
            Self::CreditsExpiring => "credits_expiring",
        }
    }
}

/// Who reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "role", content = "teacher_id")]
pub enum Recipient {
    Student,
    Teacher(TeacherId),
    /// The address in `MAIL_OPERATOR`.
    Operator,
    /// A booking's student and teacher, one after the other (a reminder: one
    /// item per booking keeps a ten-lesson checkout's transaction within
    /// DynamoDB's 100 items); `told` records who has been sent it.
    Parties,
    /// The marketplace's own systems: the registered webhook endpoints that
    /// want this event (the notice fans out to one message per endpoint).
    Webhooks,
}

impl Recipient {
    fn key_part(&self) -> String {
        match self {
            Self::Student => "student".into(),
            Self::Teacher(id) => format!("teacher#{id}"),
            Self::Operator => "operator".into(),
            Self::Parties => "parties".into(),
            Self::Webhooks => "webhooks".into(),
        }
    }
}

/// Which reminder is next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    DayBefore,
    HourBefore,
}

impl Stage {
    pub fn lead(self) -> SignedDuration {
        match self {
            Self::DayBefore => SignedDuration::from_hours(24),
            Self::HourBefore => SignedDuration::from_hours(1),
        }
    }

    /// The first stage still ahead at `now` for a lesson starting at `start`.
    pub fn first_after(now: Timestamp, start: Timestamp) -> Option<Self> {
        [Self::DayBefore, Self::HourBefore].into_iter().find(|stage| start - stage.lead() > now)
    }

    pub fn next(self) -> Option<Self> {
        match self {
            Self::DayBefore => Some(Self::HourBefore),
            Self::HourBefore => None,
        }
    }
}

/// One notice to one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The checkout (confirmed), booking, or refund obligation it is about.
    pub subject: String,
    pub topic: Topic,
    pub recipient: Recipient,
    /// The booking's sequence this notice was written with (0 for a checkout).
    #[serde(default)]
    pub sequence: u32,
    /// A reminder's lesson start and stage as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lesson_start: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// Of a refund failure: the payment whose ledger holds the obligation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_intent: Option<String>,
    /// Of [`Recipient::Parties`]: who has been sent the current stage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub told: Vec<String>,
    pub created_at: Timestamp,
    /// Set by the work mechanism.
    #[serde(default = "owed")]
    pub status: WorkStatus,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn owed() -> WorkStatus {
    WorkStatus::Owed
}

pub fn outbox_pk(subject: &str) -> String {
    format!("OUTBOX#{subject}")
}

impl Notice {
    fn new(subject: String, topic: Topic, recipient: Recipient, sequence: u32, now: Timestamp) -> Self {
        Self { subject, topic, recipient, sequence, lesson_start: None, stage: None, payment_intent: None, told: Vec::new(), created_at: now, status: WorkStatus::Owed, attempts: 0, provider_id: None, error: None }
    }

    /// Where it is stored: one key per change and reader.
    pub fn key(&self) -> WorkKey {
        let change = match self.topic {
            // A booking may move, and its outcome be overruled, more than once: each is its own notice.
            Topic::Rescheduled | Topic::Outcome | Topic::CreditsExpiring => format!("{}#{}", self.topic.as_str(), self.sequence),
            _ => self.topic.as_str().to_owned(),
        };
        WorkKey { pk: outbox_pk(&self.subject), sk: format!("{change}#{}", self.recipient.key_part()) }
    }

    /// Where the confirmation of a checkout to `recipient` is kept.
    pub fn confirmation_key(checkout: &crate::domain::CheckoutId, recipient: Recipient) -> WorkKey {
        Self::new(checkout.to_string(), Topic::Confirmed, recipient, 0, Timestamp::UNIX_EPOCH).key()
    }

    /// The confirmation of a checkout: to its student, to each teacher
    /// once, and to the webhooks.
    pub fn confirmed(checkout: &Checkout, booked: &[&crate::store::CheckoutLesson], now: Timestamp) -> Vec<Self> {
        let mut teachers: Vec<&TeacherId> = booked.iter().map(|l| &l.teacher_id).collect();
        teachers.sort();
        teachers.dedup();
        let subject = checkout.checkout_id.to_string();
        let readers = std::iter::once(Recipient::Student).chain(teachers.into_iter().cloned().map(Recipient::Teacher)).chain([Recipient::Webhooks]);
        readers.map(|r| Self::new(subject.clone(), Topic::Confirmed, r, 0, now)).collect()
    }

    /// A change of one booking (rescheduled, cancelled, a no-show outcome),
    /// told to both parties and the webhooks; `sequence` is the booking's
    /// after the change.
    pub fn of_change(booking: &Booking, topic: Topic, sequence: u32, now: Timestamp) -> [Self; 3] {
        let subject = booking.booking_id.to_string();
        [Recipient::Student, Recipient::Teacher(booking.teacher_id.clone()), Recipient::Webhooks].map(|r| Self::new(subject.clone(), topic, r, sequence, now))
    }

    /// A transfer of a lesson's earning, told to its teacher and the webhooks;
    /// the amount is read from the payment's ledger when it is told.
    pub fn transferred(booking: &crate::domain::BookingId, teacher: &TeacherId, payment_intent: &str, now: Timestamp) -> [Self; 2] {
        [Recipient::Teacher(teacher.clone()), Recipient::Webhooks].map(|r| Self { payment_intent: Some(payment_intent.to_owned()), ..Self::new(booking.to_string(), Topic::Transferred, r, 0, now) })
    }

    /// A grant's reminder that its credits expire in `days_before` days;
    /// the credits left are read from the grant when it is sent.
    pub fn credits_expiring(grant_id: &str, payment_intent: &str, days_before: u32, now: Timestamp) -> Self {
        Self { payment_intent: Some(payment_intent.to_owned()), ..Self::new(grant_id.to_owned(), Topic::CreditsExpiring, Recipient::Student, days_before, now) }
    }

    /// The reminder of a booking starting at `start`, with its due time,
    /// when one is still ahead.
    pub fn reminder(booking: &Booking, start: Timestamp, now: Timestamp) -> Option<(Self, Timestamp)> {
        let stage = Stage::first_after(now, start)?;
        Some((Self { lesson_start: Some(start), stage: Some(stage), ..Self::reminder_of(booking, now) }, start - stage.lead()))
    }

    fn reminder_of(booking: &Booking, now: Timestamp) -> Self {
        Self::new(booking.booking_id.to_string(), Topic::Reminder, Recipient::Parties, 0, now)
    }

    /// A refund that did not reach the student: for the operator, and as an
    /// event for the webhooks.
    pub fn refund_failed(obligation: &Obligation, now: Timestamp) -> [Self; 2] {
        [Recipient::Operator, Recipient::Webhooks].map(|r| Self { payment_intent: Some(obligation.payment_intent.clone()), ..Self::new(obligation.obligation_id.clone(), Topic::RefundFailed, r, 0, now) })
    }

    /// A refund that reached the student, as an event for the webhooks.
    pub fn refund_succeeded(obligation: &Obligation, now: Timestamp) -> Self {
        Self { payment_intent: Some(obligation.payment_intent.clone()), ..Self::new(obligation.obligation_id.clone(), Topic::RefundSucceeded, Recipient::Webhooks, 0, now) }
    }

    /// A change of a booking (or a checkout's confirmation) as an event for the webhooks.
    pub fn event(subject: String, topic: Topic, sequence: u32, now: Timestamp) -> Self {
        Self::new(subject, topic, Recipient::Webhooks, sequence, now)
    }
}

impl Store {
    /// A new notice due now, for the transaction of its change.
    pub fn notice_item(&self, notice: &Notice, now: Timestamp) -> Result<TransactWriteItem, StoreError> {
        let key = notice.key();
        let listing = NOTICES.listing(&key, now);
        let item = item("put notice", key.pk, &key.sk, notice, &listing)?;
        put_new(&self.table, item, "put notice")
    }

    /// A notice due at `due` that replaces one of the same key: a reminder
    /// (a reschedule writes it again for the new time), or a second refund
    /// failure of one obligation (told again).
    pub fn notice_due_item(&self, notice: &Notice, due: Timestamp) -> Result<TransactWriteItem, StoreError> {
        let key = notice.key();
        let listing = NOTICES.listing(&key, due);
        let item = item("put reminder", key.pk, &key.sk, notice, &listing)?;
        let put = Put::builder().table_name(&self.table).set_item(Some(item)).build().map_err(|e| StoreError::corrupt("put reminder", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Removes a booking's reminder (cancelled, or moved too close for
    /// one); harmless when it has none (booked before reminders existed, or
    /// too late for any).
    pub fn reminder_delete_item(&self, booking: &Booking) -> Result<TransactWriteItem, StoreError> {
        let key = Notice::reminder_of(booking, booking.created_at).key();
        let delete = Delete::builder().table_name(&self.table).set_key(Some(key_of(&key))).build().map_err(|e| StoreError::corrupt("remove reminder", e))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Records that `reader` was sent the current stage of a claimed
    /// reminder; `false` when the lease was lost.
    pub async fn record_told(&self, key: &WorkKey, lease: Timestamp, reader: &str) -> Result<bool, StoreError> {
        self.append_while_leased(key, lease, "told", reader).await
    }

    /// One notice as stored.
    pub async fn notice(&self, key: &WorkKey) -> Result<Option<Notice>, StoreError> {
        self.get_typed("read notice", key.pk.clone(), &key.sk).await
    }

    /// Every notice about one subject (an operator's view, the tests).
    pub async fn notices_of(&self, subject: &str) -> Result<Vec<Notice>, StoreError> {
        let items = self.partition("list notices", &outbox_pk(subject)).await?;
        items.into_iter().map(|i| serde_dynamo::from_item(i).map_err(|e| StoreError::corrupt("list notices", e))).collect()
    }
}

fn key_of(key_: &WorkKey) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    key(key_.pk.clone(), &key_.sk)
}
