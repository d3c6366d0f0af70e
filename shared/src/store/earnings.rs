//! What teachers earn, as durable work (`work`): one earning per lesson
//! whose outcome is known, and one reversal per refund after its transfer.
//! Both live in their payment's partition (`PAYMENT#<pi>`: `EARNING#<booking>`,
//! `REVERSAL#<booking>#<n>`), so the one ledger query that reads the
//! payment, its refunds and disputes reads what its teachers were paid too.
//! Earnings are also listed per teacher (`gsi2`: `EARNINGS#<teacher>`, by
//! lesson end) for the teacher's ledger.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::item::{item, put_new, s};
use super::keys::payment_pk;
use super::work::{WorkKey, WorkKind, WorkStatus};
use super::{BookingStatus, Store, StoreError};
use crate::domain::{BookingId, CheckoutId, Currency, TeacherId};
use crate::domain::Percent;

/// The due index of earnings to transfer.
pub const EARNINGS: WorkKind = WorkKind("EARNING");
/// The due index of transfer reversals.
pub const REVERSALS: WorkKind = WorkKind("REVERSAL");

/// Why a lesson earns, or does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    Completed,
    StudentNoShow,
    /// Cancelled by the student after the free window: the policy kept part of the price.
    LateCancel,
    /// The teacher did not come: nothing earned (kept so an overrule can change it).
    TeacherNoShow,
    /// A package's credits expired unused: the teacher earns their value.
    CreditsExpired,
}

impl Basis {
    pub fn earns(self) -> bool {
        self != Self::TeacherNoShow
    }

    pub fn of_outcome(status: BookingStatus) -> Option<Self> {
        match status {
            BookingStatus::Completed => Some(Self::Completed),
            BookingStatus::StudentNoShow => Some(Self::StudentNoShow),
            BookingStatus::TeacherNoShow => Some(Self::TeacherNoShow),
            BookingStatus::Confirmed | BookingStatus::Cancelled => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::StudentNoShow => "student_no_show",
            Self::LateCancel => "late_cancel",
            Self::TeacherNoShow => "teacher_no_show",
            Self::CreditsExpired => "credits_expired",
        }
    }
}

fn owed() -> WorkStatus {
    WorkStatus::Owed
}

/// One lesson's earning. Its amount is not stored until it is transferred:
/// it is derived from the ledger when needed (`payouts::share`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Earning {
    pub booking_id: BookingId,
    pub checkout_id: CheckoutId,
    pub teacher_id: TeacherId,
    pub payment_intent: String,
    pub currency: Currency,
    pub lesson_end: Timestamp,
    pub basis: Basis,
    pub created_at: Timestamp,
    #[serde(default = "owed")]
    pub status: WorkStatus,
    #[serde(default)]
    pub attempts: u32,
    /// What went to the teacher, set with the transfer.
    #[serde(default)]
    pub transferred: u64,
    /// The commission the transfer was worked out with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission: Option<Percent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transferred_at: Option<Timestamp>,
    /// Stripe's transfer id (`tr_…`), once made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// Reversals written so far (each conditioned on this count).
    #[serde(default)]
    pub reversals: u32,
    /// Why it is not going out yet (no account, restricted, on hold, a chargeback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What an earning is for: a lesson (or a package's expired credits), its
/// teacher, and the payment it is paid from.
#[derive(Debug, Clone)]
pub struct EarningOf {
    pub booking_id: BookingId,
    pub checkout_id: CheckoutId,
    pub teacher_id: TeacherId,
    pub payment_intent: String,
    pub currency: Currency,
    /// When the claim window starts (the payout sweep adds the hold).
    pub lesson_end: Timestamp,
}

impl Earning {
    /// A new earning, owed from `of.lesson_end`; nothing transferred yet.
    pub fn owed(of: EarningOf, basis: Basis, now: Timestamp) -> Self {
        let EarningOf { booking_id, checkout_id, teacher_id, payment_intent, currency, lesson_end } = of;
        Self {
            booking_id,
            checkout_id,
            teacher_id,
            payment_intent,
            currency,
            lesson_end,
            basis,
            created_at: now,
            status: WorkStatus::Owed,
            attempts: 0,
            transferred: 0,
            commission: None,
            transferred_at: None,
            provider_id: None,
            reversals: 0,
            waiting: None,
            error: None,
        }
    }

    pub fn key(&self) -> WorkKey {
        earning_key(&self.payment_intent, &self.booking_id)
    }
}

pub fn earning_key(payment_intent: &str, booking: &BookingId) -> WorkKey {
    WorkKey { pk: payment_pk(payment_intent), sk: format!("EARNING#{booking}") }
}

/// Money taken back from a teacher's transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reversal {
    pub booking_id: BookingId,
    pub teacher_id: TeacherId,
    pub payment_intent: String,
    pub transfer_id: String,
    pub amount: u64,
    pub currency: Currency,
    /// 1 for the first reversal of the booking's transfer: part of its
    /// idempotency key (`reversal-<booking>-<n>`).
    pub number: u32,
    pub created_at: Timestamp,
    #[serde(default = "owed")]
    pub status: WorkStatus,
    #[serde(default)]
    pub attempts: u32,
    /// Stripe's reversal id (`trr_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Reversal {
    pub fn key(&self) -> WorkKey {
        WorkKey { pk: payment_pk(&self.payment_intent), sk: format!("REVERSAL#{}#{:03}", self.booking_id, self.number) }
    }

    pub fn idempotency_key(&self) -> String {
        format!("reversal-{}-{}", self.booking_id, self.number)
    }

    /// Refused for good: Stripe would not take the money back (the
    /// teacher's balance no longer covers it). The platform bears it.
    pub fn is_loss(&self) -> bool {
        self.status == WorkStatus::Failed
    }
}

/// One page of a teacher's earnings, newest lesson first.
#[derive(Debug, Clone, Default)]
pub struct EarningsPage {
    pub earnings: Vec<Earning>,
    /// The `after` of the next page, if there is one.
    pub next: Option<String>,
}

fn teacher_earnings_pk(teacher: &TeacherId) -> String {
    format!("EARNINGS#{teacher}")
}

impl Store {
    /// The earning of a lesson whose outcome was just decided, written in
    /// the decision's transaction; listed as due at the lesson's end (the
    /// payout sweep applies the hold). Written once: an overrule changes
    /// its basis ([`Self::earning_basis_item`]).
    pub fn new_earning_item(&self, earning: &Earning) -> Result<TransactWriteItem, StoreError> {
        let key = earning.key();
        let mut listing = EARNINGS.listing(&key, earning.lesson_end).to_vec();
        listing.push(("gsi2pk", s(teacher_earnings_pk(&earning.teacher_id))));
        listing.push(("gsi2sk", s(format!("{}#{}", earning.lesson_end, earning.booking_id))));
        let item = item("write earning", key.pk, &key.sk, earning, &listing)?;
        put_new(&self.table, item, "write earning")
    }

    /// A new basis for an existing earning (an operator's overrule): what
    /// it is worth follows from it at transfer, or in a reversal after.
    pub fn earning_basis_item(&self, key: &WorkKey, basis: Basis) -> Result<TransactWriteItem, StoreError> {
        let basis = serde_dynamo::to_attribute_value(basis).map_err(|e| StoreError::corrupt("change earning", e))?;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_of(key)))
            .update_expression("SET basis = :basis")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":basis", basis)
            .build()
            .map_err(|e| StoreError::corrupt("change earning", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    pub async fn earning(&self, key: &WorkKey) -> Result<Option<Earning>, StoreError> {
        self.get_typed("read earning", key.pk.clone(), &key.sk).await
    }

    /// A reversal of `amount` of the earning's transfer, with the earning's
    /// count raised on the condition that it is the count read: two reviews
    /// of one refund write one reversal.
    pub fn new_reversal_items(&self, earning: &Earning, amount: u64, now: Timestamp) -> Result<Vec<TransactWriteItem>, StoreError> {
        let transfer_id = earning.provider_id.clone().ok_or_else(|| StoreError::corrupt("write reversal", "the earning was never transferred"))?;
        let reversal = Reversal {
            booking_id: earning.booking_id.clone(),
            teacher_id: earning.teacher_id.clone(),
            payment_intent: earning.payment_intent.clone(),
            transfer_id,
            amount,
            currency: earning.currency,
            number: earning.reversals + 1,
            created_at: now,
            status: WorkStatus::Owed,
            attempts: 0,
            provider_id: None,
            error: None,
        };
        let key = reversal.key();
        let listing = REVERSALS.listing(&key, now);
        let put = put_new(&self.table, item("write reversal", key.pk, &key.sk, &reversal, &listing)?, "write reversal")?;
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_of(&earning.key())))
            .update_expression("SET reversals = :next")
            .condition_expression("(attribute_not_exists(reversals) AND :read = :zero) OR reversals = :read")
            .expression_attribute_values(":next", AttributeValue::N(reversal.number.to_string()))
            .expression_attribute_values(":read", AttributeValue::N(earning.reversals.to_string()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .build()
            .map_err(|e| StoreError::corrupt("write reversal", e))?;
        Ok(vec![put, TransactWriteItem::builder().update(count).build()])
    }

    /// Makes an earning due again at `due`: one skipped when it was worth
    /// nothing that is worth something again (a chargeback won), or one
    /// waiting for its teacher's account that can go out now. A worked or
    /// transferred one is left alone.
    pub async fn relist_earning(&self, key: &WorkKey, due: Timestamp) -> Result<bool, StoreError> {
        self.owe_again(EARNINGS, key, due, &[WorkStatus::Skipped, WorkStatus::Owed], Vec::new(), &["waiting"]).await
    }

    /// A teacher's earnings, newest lesson first, `limit` a page; `after`
    /// is the previous page's `next`.
    pub async fn earnings_of(&self, teacher: &TeacherId, limit: i32, after: Option<&str>) -> Result<EarningsPage, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi2")
            .key_condition_expression("gsi2pk = :pk")
            .expression_attribute_values(":pk", s(teacher_earnings_pk(teacher)))
            .scan_index_forward(false)
            .limit(limit);
        if let Some(after) = after {
            // `<lesson end>#<booking>#<payment intent>`: none of them holds a `#`.
            let mut parts = after.splitn(3, '#');
            let (Some(end), Some(booking), Some(intent)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(StoreError::corrupt("list earnings", "a malformed cursor"));
            };
            query = query.set_exclusive_start_key(Some(std::collections::HashMap::from([
                ("gsi2pk".to_owned(), s(teacher_earnings_pk(teacher))),
                ("gsi2sk".to_owned(), s(format!("{end}#{booking}"))),
                ("pk".to_owned(), s(payment_pk(intent))),
                ("sk".to_owned(), s(format!("EARNING#{booking}"))),
            ])));
        }
        let output = query.send().await.map_err(|e| StoreError::sdk("list earnings", e))?;
        let earnings: Vec<Earning> = output.items.unwrap_or_default().into_iter().map(|i| serde_dynamo::from_item(i).map_err(|e| StoreError::corrupt("list earnings", e))).collect::<Result<_, _>>()?;
        let next = output.last_evaluated_key.is_some().then(|| earnings.last().map(|e| format!("{}#{}#{}", e.lesson_end, e.booking_id, e.payment_intent))).flatten();
        Ok(EarningsPage { earnings, next })
    }
}

impl Store {
    /// An earning Stripe refused, due again at `now` once an operator fixed
    /// the cause (`admin earning-retry`): its next try reads back what Stripe
    /// made and asks under a new key. `false` when it had not failed.
    pub async fn requeue_earning(&self, key: &WorkKey, now: Timestamp) -> Result<bool, StoreError> {
        self.owe_again(EARNINGS, key, now, &[WorkStatus::Failed], vec![("stripe_called", AttributeValue::Bool(true))], &[]).await
    }
}

fn key_of(key: &WorkKey) -> std::collections::HashMap<String, AttributeValue> {
    super::item::key(key.pk.clone(), &key.sk)
}
