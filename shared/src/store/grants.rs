//! Credit grants: what a paid lesson package gives its student. A grant
//! lives in its payment's partition (`PAYMENT#<pi>`, `GRANT`), so the one
//! ledger query that reads a payment reads what its credits became, and is
//! listed per student (`gsi2`: `STUDENT#<id>`, `GRANT#<created>#<id>`). Every
//! change is a whole-item put conditioned on the version it read, so two
//! checkouts racing for the last credit cannot both take it. While credits
//! may remain, the grant is durable work (`GRANT_DUE`): its reminders and
//! its expiry are due at fixed times before and at `expires_at`.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::item::{item, s};
use super::keys::{PK, payment_pk};
use super::work::{WorkKey, WorkKind};
use super::{Store, StoreError};
use crate::domain::{BookingId, CheckoutId, Currency, TeacherId};

/// The due index of grants with a reminder or their expiry ahead.
pub const GRANTS: WorkKind = WorkKind("GRANT");
pub const GRANT_SK: &str = "GRANT";
/// How long after its payment a student may have a grant's unused credits back.
pub const SELF_REFUND_DAYS: i64 = 14;

/// What became of one credit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Credit {
    Free,
    /// Booked: the lesson keeps it unless it comes back.
    Used { booking_id: BookingId },
    /// Unused at expiry: earned by the teacher.
    Expired,
    /// Given back as money (`obligation_id`).
    Refunded { obligation_id: String },
    /// Taken back with the payment (refunded in full or charged back).
    Revoked,
}

/// The next piece of a grant's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantStage {
    Remind30,
    Remind7,
    Expire,
}

impl GrantStage {
    pub fn due(self, expires_at: Timestamp) -> Timestamp {
        match self {
            Self::Remind30 => expires_at - SignedDuration::from_hours(30 * 24),
            Self::Remind7 => expires_at - SignedDuration::from_hours(7 * 24),
            Self::Expire => expires_at,
        }
    }

    /// The first stage due after `now` (the expiry always is, once it is ahead).
    pub fn first_after(now: Timestamp, expires_at: Timestamp) -> Self {
        [Self::Remind30, Self::Remind7].into_iter().find(|s| s.due(expires_at) > now).unwrap_or(Self::Expire)
    }

    pub fn next(self) -> Option<Self> {
        match self {
            Self::Remind30 => Some(Self::Remind7),
            Self::Remind7 => Some(Self::Expire),
            Self::Expire => None,
        }
    }

    pub fn days_before(self) -> u32 {
        match self {
            Self::Remind30 => 30,
            Self::Remind7 => 7,
            Self::Expire => 0,
        }
    }
}

/// One line of a grant's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantEvent {
    pub at: Timestamp,
    /// `granted`, `used`, `returned`, `expired`, `refunded`, `revoked`.
    pub what: String,
    pub credits: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking_id: Option<BookingId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub grant_id: String,
    pub student_id: String,
    pub teacher_id: TeacherId,
    pub teacher_name: String,
    pub duration_minutes: u32,
    pub currency: Currency,
    pub price: u64,
    pub discount_percent: u32,
    /// What each credit is worth (the last keeps the price's remainder).
    pub unit_values: Vec<u64>,
    pub credits: Vec<Credit>,
    /// The teacher's cancellation policy when the package was bought: what
    /// every lesson booked with its credits keeps, whatever the profile says later.
    #[serde(default)]
    pub policy: crate::domain::CancellationPolicy,
    pub expires_at: Timestamp,
    pub payment_intent: String,
    /// The package's checkout: the lessons booked with its credits name it
    /// as theirs, so their refunds and earnings find this payment.
    pub checkout_id: CheckoutId,
    pub created_at: Timestamp,
    #[serde(default)]
    pub version: u64,
    /// The next reminder or the expiry; none once expired or emptied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<GrantStage>,
    #[serde(default)]
    pub history: Vec<GrantEvent>,
}

/// Why credits could not be taken or given back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditError {
    NoneLeft,
    NotThisBooking,
}

impl Grant {
    pub fn grant_id_of(checkout: &CheckoutId) -> String {
        format!("gr_{}", checkout.as_str().trim_start_matches("co_"))
    }

    /// The package checkout a grant id names.
    pub fn checkout_of(grant_id: &str) -> Option<CheckoutId> {
        grant_id.strip_prefix("gr_").and_then(|rest| CheckoutId::parse(&format!("co_{rest}")).ok())
    }

    pub fn remaining(&self) -> u32 {
        self.count(|c| *c == Credit::Free)
    }

    pub fn count(&self, which: impl Fn(&Credit) -> bool) -> u32 {
        u32::try_from(self.credits.iter().filter(|c| which(c)).count()).unwrap_or(u32::MAX)
    }

    /// Usable for a lesson starting at `start`: not expired by then.
    pub fn usable_for(&self, start: Timestamp, now: Timestamp) -> bool {
        self.expires_at > start && self.expires_at > now && self.remaining() > 0
    }

    pub fn self_refundable_until(&self) -> Timestamp {
        self.created_at + SignedDuration::from_hours(SELF_REFUND_DAYS * 24)
    }

    /// The earning key of the credits that expired unused.
    pub fn expiry_booking_id(&self) -> Option<BookingId> {
        BookingId::parse(&format!("bk_{}_expired", self.grant_id.trim_start_matches("gr_"))).ok()
    }

    fn log(&mut self, at: Timestamp, what: &str, credits: u32, booking_id: Option<&BookingId>, amount: Option<u64>) {
        self.history.push(GrantEvent { at, what: what.to_owned(), credits, booking_id: booking_id.cloned(), amount });
    }

    /// Takes the first free credit for `booking`: its index.
    pub fn take(&mut self, booking: &BookingId, now: Timestamp) -> Result<usize, CreditError> {
        let index = self.credits.iter().position(|c| *c == Credit::Free).ok_or(CreditError::NoneLeft)?;
        self.credits[index] = Credit::Used { booking_id: booking.clone() };
        self.log(now, "used", 1, Some(booking), None);
        Ok(index)
    }

    /// Gives `booking`'s credit back (keeping the grant's expiry).
    pub fn give_back(&mut self, booking: &BookingId, now: Timestamp) -> Result<usize, CreditError> {
        let index = self.credits.iter().position(|c| matches!(c, Credit::Used { booking_id } if booking_id == booking)).ok_or(CreditError::NotThisBooking)?;
        self.credits[index] = Credit::Free;
        self.log(now, "returned", 1, Some(booking), None);
        Ok(index)
    }

    /// The free credits become expired: what they were worth.
    pub fn expire(&mut self, now: Timestamp) -> u64 {
        let (n, value) = self.turn_free(&Credit::Expired);
        if n > 0 {
            self.log(now, "expired", n, None, Some(value));
        }
        self.stage = None;
        value
    }

    /// The free credits go back as money (`obligation_id`): what they were worth.
    pub fn refund_free(&mut self, obligation_id: &str, now: Timestamp) -> u64 {
        let (n, value) = self.turn_free(&Credit::Refunded { obligation_id: obligation_id.to_owned() });
        self.log(now, "refunded", n, None, Some(value));
        self.stage = None;
        value
    }

    /// The free credits are taken back with the payment.
    pub fn revoke(&mut self, now: Timestamp) {
        let (n, _) = self.turn_free(&Credit::Revoked);
        if n > 0 {
            self.log(now, "revoked", n, None, None);
        }
        self.stage = None;
    }

    /// Turns every free credit into `to`: how many, and what they were worth.
    fn turn_free(&mut self, to: &Credit) -> (u32, u64) {
        let (mut n, mut value) = (0, 0);
        for (credit, unit) in self.credits.iter_mut().zip(&self.unit_values) {
            if *credit == Credit::Free {
                *credit = to.clone();
                (n, value) = (n + 1, value + unit);
            }
        }
        (n, value)
    }

    /// The credit `booking` holds and its value.
    pub fn credit_of(&self, booking: &BookingId) -> Option<(usize, u64)> {
        let index = self.credits.iter().position(|c| matches!(c, Credit::Used { booking_id } if booking_id == booking))?;
        Some((index, self.unit_values[index]))
    }

    pub fn key(&self) -> WorkKey {
        WorkKey { pk: payment_pk(&self.payment_intent), sk: GRANT_SK.to_owned() }
    }
}

impl Store {
    /// A grant as it is now, written whole: new (`read` none) or replacing
    /// the version read. Listed as due while a stage is ahead.
    pub fn grant_put_item(&self, grant: &Grant, read: Option<u64>) -> Result<TransactWriteItem, StoreError> {
        let next = Grant { version: read.map_or(1, |v| v + 1), ..grant.clone() };
        let key = grant.key();
        let mut extra: Vec<(&str, AttributeValue)> = vec![("gsi2pk", s(format!("STUDENT#{}", grant.student_id))), ("gsi2sk", s(format!("GRANT#{}#{}", grant.created_at, grant.grant_id)))];
        if let Some(stage) = grant.stage {
            extra.extend(GRANTS.listing(&key, stage.due(grant.expires_at)));
        }
        let item = item("put grant", key.pk, &key.sk, &next, &extra)?;
        let put = Put::builder().table_name(&self.table).set_item(Some(item));
        let put = match read {
            None => put.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", PK),
            Some(v) => put.condition_expression("#version = :read").expression_attribute_names("#version", "version").expression_attribute_values(":read", AttributeValue::N(v.to_string())),
        };
        Ok(TransactWriteItem::builder().put(put.build().map_err(|e| StoreError::corrupt("put grant", e))?).build())
    }

    /// The grant paid by `payment_intent`.
    pub async fn grant_of_payment(&self, payment_intent: &str) -> Result<Option<Grant>, StoreError> {
        self.get_typed("get grant", payment_pk(payment_intent), GRANT_SK).await
    }

    /// A grant by its id (through its package checkout's payment).
    pub async fn grant(&self, grant_id: &str) -> Result<Option<Grant>, StoreError> {
        let Some(checkout_id) = Grant::checkout_of(grant_id) else { return Ok(None) };
        let Some(pi) = self.get_checkout(&checkout_id).await?.and_then(|c| c.payment_intent) else { return Ok(None) };
        Ok(self.grant_of_payment(&pi).await?.filter(|g| g.grant_id == grant_id))
    }

    /// A student's grants, newest first, each read strongly consistent
    /// (the index only says where they are).
    pub async fn grants_of(&self, student: &str) -> Result<Vec<Grant>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi2")
            .key_condition_expression("gsi2pk = :pk AND begins_with(gsi2sk, :grant)")
            .expression_attribute_values(":pk", s(format!("STUDENT#{student}")))
            .expression_attribute_values(":grant", s("GRANT#"))
            .scan_index_forward(false)
            .projection_expression("payment_intent");
        let items = self.query_all("list grants", query).await?;
        let mut grants = Vec::with_capacity(items.len());
        for pi in items.iter().filter_map(|i| i.get("payment_intent").and_then(|v| v.as_s().ok())) {
            if let Some(grant) = self.grant_of_payment(pi).await? {
                grants.push(grant);
            }
        }
        Ok(grants)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(values: &[u64]) -> Grant {
        let at: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        Grant {
            grant_id: "gr_x".into(),
            student_id: "s".into(),
            teacher_id: TeacherId::parse("t_a").unwrap(),
            teacher_name: "A".into(),
            duration_minutes: 60,
            currency: Currency::parse("eur").unwrap(),
            price: values.iter().sum(),
            discount_percent: 10,
            unit_values: values.to_vec(),
            credits: vec![Credit::Free; values.len()],
            policy: crate::domain::CancellationPolicy::default(),
            expires_at: at + SignedDuration::from_hours(180 * 24),
            payment_intent: "pi_x".into(),
            checkout_id: CheckoutId::parse("co_x").unwrap(),
            created_at: at,
            version: 1,
            stage: Some(GrantStage::Remind30),
            history: Vec::new(),
        }
    }

    #[test]
    fn credits_are_taken_in_order_and_come_back_to_their_grant() {
        let now: Timestamp = "2026-12-02T00:00:00Z".parse().unwrap();
        let mut g = grant(&[900, 900, 902]);
        let (a, b) = (BookingId::parse("bk_a_0").unwrap(), BookingId::parse("bk_b_0").unwrap());
        assert_eq!(g.take(&a, now), Ok(0));
        assert_eq!(g.take(&b, now), Ok(1));
        assert_eq!(g.give_back(&a, now), Ok(0));
        assert_eq!(g.give_back(&a, now), Err(CreditError::NotThisBooking), "a credit comes back once");
        assert_eq!(g.remaining(), 2);
        assert_eq!(g.credit_of(&b), Some((1, 900)));
        assert_eq!(g.expire(now), 1802, "the free credits' values, the remainder included");
        assert_eq!(g.expire(now), 0, "expired once");
        assert_eq!(g.take(&a, now), Err(CreditError::NoneLeft));
        assert_eq!(g.history.iter().map(|e| (e.what.as_str(), e.credits)).collect::<Vec<_>>(), [("used", 1), ("used", 1), ("returned", 1), ("expired", 2)], "nothing logged when nothing expired");
    }

    #[test]
    fn a_credit_pays_only_for_a_lesson_that_starts_before_it_expires_while_one_is_left() {
        let mut g = grant(&[1000, 1000]);
        let (second, now) = (SignedDuration::from_secs(1), g.created_at);
        assert!(g.usable_for(g.expires_at - second, now), "a lesson starting a second before the expiry");
        assert!(!g.usable_for(g.expires_at, now), "not one starting at the expiry");
        assert!(!g.usable_for(g.expires_at - days(1), g.expires_at), "nor once it has expired");
        assert!(g.usable_for(g.expires_at - days(1), g.expires_at - second));
        g.credits = vec![Credit::Used { booking_id: BookingId::parse("bk_a_0").unwrap() }, Credit::Expired];
        assert!(!g.usable_for(g.expires_at - days(1), now), "nor with no credit left");
        assert_eq!(g.self_refundable_until(), g.created_at + days(14), "the student's refund window: 14 days to the second");
    }

    fn days(n: i64) -> SignedDuration {
        SignedDuration::from_hours(24 * n)
    }

    #[test]
    fn stages_run_30_then_7_days_before_then_the_expiry() {
        assert_eq!([GrantStage::Remind30, GrantStage::Remind7, GrantStage::Expire].map(GrantStage::days_before), [30, 7, 0], "what the reminders say");
        let g = grant(&[1, 1]);
        let created = g.created_at;
        assert_eq!(GrantStage::first_after(created, g.expires_at), GrantStage::Remind30);
        let short = created + SignedDuration::from_hours(30 * 24);
        assert_eq!(GrantStage::first_after(created, short), GrantStage::Remind7, "a 30-day grant starts with the week's reminder");
        assert_eq!(GrantStage::Remind7.due(short), created + SignedDuration::from_hours(23 * 24));
        assert_eq!(GrantStage::Remind30.next(), Some(GrantStage::Remind7));
        assert_eq!(GrantStage::Expire.next(), None);
        assert_eq!(Grant::checkout_of(&Grant::grant_id_of(&g.checkout_id)), Some(g.checkout_id.clone()));
    }
}
