//! change-booking as a use case: what the booking's student, teacher or an
//! admin may change now (the quote a frontend shows), and the change
//! itself, decided by the same rules on fresh reads. Nobody else learns
//! that a booking exists.

use jiff::Timestamp;
use serde::Serialize;

use super::cancel::{CancelError, Cancellation, commit};
use super::request::{Action, ChangeRequest, parse_change};
use super::reschedule::{MoveError, move_booking};
use super::rules::{Actor, CancelQuote, Refusal, cancel_quote, reschedule_quote};
use crate::credits::CreditReturn;
use aws_sdk_dynamodb::types::TransactWriteItem;
use crate::auth::{Principal, Role};
use crate::clock::Clock;
use crate::domain::{BookingId, Currency, TeacherId};
use crate::error::ApiError;
use crate::payments::Payments;
use crate::refunds::{INLINE_REFUND_BUDGET, Refunds};
use crate::rooms::{RoomError, Rooms};
use crate::store::{Backoff, Booking, BookingStatus, CONTENTION_BUDGET, CancelledBy, Cancelling, Ledger, Obligation, ObligationStatus, Store, cancel_obligation_id};

pub struct BookingChanges {
    pub store: Store,
    pub payments: Payments,
    pub rooms: Rooms,
    pub clock: Clock,
}

#[derive(Debug, Serialize)]
pub struct ChangeOptions {
    pub booking_id: BookingId,
    pub status: BookingStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<CancelledBy>,
    pub start: Timestamp,
    pub end: Timestamp,
    pub cancel: CancelOption,
    pub reschedule: RescheduleOption,
}

#[derive(Debug, Serialize)]
pub struct CancelOption {
    pub allowed: bool,
    pub refund_amount: u64,
    /// Paid with a credit: a cancel now gives the credit back.
    pub credit_back: bool,
    pub currency: Currency,
    pub free_until: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct RescheduleOption {
    pub allowed: bool,
    pub until: Timestamp,
    pub remaining: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// What a cancel did (or, asked again, had done).
#[derive(Debug, Serialize)]
pub struct Cancelled {
    pub booking_id: BookingId,
    pub status: BookingStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<CancelledBy>,
    pub refund: RefundView,
}

#[derive(Debug, Serialize)]
pub struct RefundView {
    pub amount: u64,
    pub currency: Currency,
    /// `none` (nothing to refund), `pending` (on its way, or left to
    /// reconcile or an operator) or `succeeded`.
    pub status: &'static str,
}

/// A booking after a reschedule.
#[derive(Debug, Serialize)]
pub struct Rescheduled {
    pub booking_id: BookingId,
    pub status: BookingStatus,
    pub teacher_id: TeacherId,
    pub start: Timestamp,
    pub end: Timestamp,
    pub duration_minutes: u32,
    pub reschedule_count: u32,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ChangeOutcome {
    Cancelled(Cancelled),
    Rescheduled(Rescheduled),
}

impl BookingChanges {
    /// What the caller may do with one of their bookings now.
    pub async fn options(&self, who: &Principal, booking_id: &str) -> Result<ChangeOptions, ApiError> {
        let id = BookingId::parse(booking_id).map_err(|e| ApiError::invalid("booking_id", e))?;
        let (booking, actor) = self.booking_for(who, &id).await?;
        let now = self.clock.now();
        let left = self.refundable(&booking).await?.left;
        let (cancel, _) = self.with_credit(cancel_quote(&booking, actor, now, left), &booking, left, now).await?;
        let reschedule = reschedule_quote(&booking, actor, now);
        Ok(ChangeOptions {
            booking_id: booking.booking_id,
            status: booking.status,
            cancelled_by: booking.cancelled_by,
            start: booking.start,
            end: booking.end,
            cancel: CancelOption { allowed: cancel.allowed, refund_amount: cancel.refund_amount, credit_back: cancel.credit_back, currency: booking.currency, free_until: cancel.free_until, reason: cancel.reason.map(Refusal::code) },
            reschedule: RescheduleOption { allowed: reschedule.allowed, until: reschedule.until, remaining: reschedule.remaining, reason: reschedule.reason.map(Refusal::code) },
        })
    }

    pub async fn change(&self, who: &Principal, body: &[u8]) -> Result<ChangeOutcome, ApiError> {
        let ChangeRequest { booking_id, action } = parse_change(body)?;
        let (booking, actor) = self.booking_for(who, &booking_id).await?;
        match action {
            Action::Cancel { refund_amount } => {
                if refund_amount.is_some() && actor != Actor::Admin {
                    return Err(ApiError::invalid("refund_amount", "only an admin chooses the refund; the policy decides it for students and teachers"));
                }
                Ok(ChangeOutcome::Cancelled(self.cancel(booking, actor, refund_amount).await?))
            }
            Action::Reschedule { start } => Ok(ChangeOutcome::Rescheduled(self.reschedule(booking, actor, start).await?)),
        }
    }

    /// The booking and the caller's part in it: an admin token may change
    /// any booking, otherwise only its student or teacher (a teacher known
    /// by their login's mapping), and anyone else is told it does not exist.
    async fn booking_for(&self, who: &Principal, id: &BookingId) -> Result<(Booking, Actor), ApiError> {
        let not_found = || ApiError::BookingNotFound(id.to_string());
        let booking = self.store.get_booking(id).await?.ok_or_else(not_found)?;
        let actor = if who.role == Some(Role::Admin) {
            Actor::Admin
        } else if booking.student_id == who.user_id {
            Actor::Student
        } else if self.store.teacher_of(&who.user_id).await?.as_ref() == Some(&booking.teacher_id) {
            Actor::Teacher
        } else {
            return Err(not_found());
        };
        Ok((booking, actor))
    }

    /// A quote that gives a credit back, checked against its grant: the
    /// grant's write when it takes the credit back, else (it has expired, or
    /// its unused credits were refunded) the credit's value in money.
    async fn with_credit(&self, quote: CancelQuote, booking: &Booking, left: u64, now: Timestamp) -> Result<(CancelQuote, Option<TransactWriteItem>), ApiError> {
        if !quote.credit_back {
            return Ok((quote, None));
        }
        Ok(match crate::credits::give_back(&self.store, booking, now).await? {
            CreditReturn::Back(item) => (quote, Some(item)),
            CreditReturn::GrantClosed => (CancelQuote { credit_back: false, refund_amount: left, ..quote }, None),
            CreditReturn::NotACredit | CreditReturn::AlreadyBack => (CancelQuote { credit_back: false, ..quote }, None),
        })
    }

    /// What a cancel of the booking may still refund: its amount, capped by
    /// what is left on the payment once its refunds and the refunds still
    /// owed are counted (a partial refund made in the dashboard names no
    /// lesson; a chargeback leaves nothing).
    async fn refundable(&self, booking: &Booking) -> Result<Refundable, ApiError> {
        let checkout = self.store.get_checkout(&booking.checkout_id).await?;
        let Some(intent) = checkout.and_then(|c| c.payment_intent).filter(|_| booking.amount > 0) else { return Ok(Refundable::default()) };
        let ledger = self.store.ledger(&intent).await?;
        Ok(Refundable { left: booking.amount.min(ledger.refundable()), cancellations: ledger.cancellations(), intent: Some(intent) })
    }

    async fn cancel(&self, mut booking: Booking, actor: Actor, chosen: Option<u64>) -> Result<Cancelled, ApiError> {
        let mut backoff = Backoff::new(CONTENTION_BUDGET);
        let now = self.clock.now();
        // A lesson decided (completed, a no-show) is over, as the quote says.
        if !matches!(booking.status, BookingStatus::Confirmed | BookingStatus::Cancelled) {
            return Err(ApiError::from(Refusal::BookingNotActive));
        }
        // Cancelling again answers what the first cancellation did.
        while booking.status == BookingStatus::Confirmed {
            let refundable = self.refundable(&booking).await?;
            let (quote, credit_back) = self.with_credit(cancel_quote(&booking, actor, now, refundable.left), &booking, refundable.left, now).await?;
            if let Some(reason) = quote.reason {
                return Err(ApiError::from(reason));
            }
            let refund_amount = match chosen {
                Some(amount) if amount > quote.refund_amount && quote.credit_back => return Err(ApiError::invalid("refund_amount", "must be left out: a lesson paid with a credit gets its credit back")),
                Some(amount) if amount > quote.refund_amount => return Err(ApiError::invalid("refund_amount", format!("must be at most {} (what is left of this lesson's amount)", quote.refund_amount))),
                Some(amount) => amount,
                None => quote.refund_amount,
            };
            let by = match actor {
                Actor::Student => CancelledBy::Student,
                Actor::Teacher => CancelledBy::Teacher,
                Actor::Admin => CancelledBy::Admin,
            };
            let obligation = refundable.intent.filter(|_| refund_amount > 0).map(|pi| Obligation::for_booking(&booking, &pi, refund_amount, now));
            let mut cancellation = Cancellation::read(&self.store, booking.clone(), Cancelling { by, at: now, refund_amount }, obligation).await?.guarded(refundable.cancellations);
            if let Some(item) = credit_back {
                cancellation = cancellation.returning_credit(item);
            }
            match commit(&self.store, &[cancellation], Vec::new(), now).await {
                Ok(()) => break,
                Err(CancelError::Changed) if backoff.wait().await => {}
                Err(CancelError::Changed | CancelError::Contention) => return Err(ApiError::Contention),
                Err(CancelError::TooLarge(n)) => return Err(ApiError::Internal(format!("cancelling one booking needs {n} writes").into())),
                Err(CancelError::Store(err)) => return Err(err.into()),
            }
            booking = self.store.get_booking(&booking.booking_id).await?.ok_or_else(|| ApiError::BookingNotFound(booking.booking_id.to_string()))?;
        }
        self.finish(&booking, now).await;
        let booking = self.store.get_booking(&booking.booking_id).await?.ok_or_else(|| ApiError::BookingNotFound(booking.booking_id.to_string()))?;
        Ok(Cancelled { refund: self.refund_view(&booking).await?, booking_id: booking.booking_id, status: booking.status, cancelled_by: booking.cancelled_by })
    }

    /// The refund and the room, after the cancellation is written. Neither
    /// provider being down fails the answer: the obligation stays owed and
    /// the booking stays listed for its room, and reconcile finishes both.
    async fn finish(&self, booking: &Booking, now: Timestamp) {
        let id = &booking.booking_id;
        if let Ok(Some(intent)) = self.store.get_checkout(&booking.checkout_id).await.map(|c| c.and_then(|c| c.payment_intent)) {
            let report = Refunds { store: &self.store, payments: &self.payments }.settle_payment(&intent, now, INLINE_REFUND_BUDGET).await;
            for (obligation, err) in &report.still_failing {
                tracing::warn!(booking_id = %id, obligation = %obligation, error = %err, "refund not made yet; reconcile retries it");
            }
        }
        match self.rooms.ensure(id).await {
            Err(RoomError::Cancelled(_)) | Ok(_) => {}
            Err(err) => tracing::warn!(booking_id = %id, error = %err, "room not disabled yet; reconcile retries it"),
        }
    }

    /// The cancellation's refund as it stands: what went back (or is on its
    /// way) of what the cancellation owed, capped at what Stripe made.
    async fn refund_view(&self, booking: &Booking) -> Result<RefundView, ApiError> {
        let owed = booking.refund_amount.unwrap_or(0);
        let (amount, status) = match booking.cancelled_by {
            // The money went back (or is held by the bank) outside this booking's refund.
            _ if owed == 0 => (0, "none"),
            Some(CancelledBy::Refund | CancelledBy::Dispute) | None => (owed, "succeeded"),
            Some(_) => {
                let intent = self.store.get_checkout(&booking.checkout_id).await?.and_then(|c| c.payment_intent);
                let ledger = match intent {
                    Some(intent) => self.store.ledger(&intent).await?,
                    None => Ledger::default(),
                };
                let id = cancel_obligation_id(&booking.booking_id);
                let made = ledger.refund_for(&id).filter(|r| r.counts()).map(|r| r.amount);
                match ledger.obligations.iter().find(|o| o.obligation_id == id).map(|o| o.status) {
                    Some(ObligationStatus::Succeeded) => (made.unwrap_or(owed), "succeeded"),
                    // Refunded another way first (the dashboard): nothing of ours went back.
                    Some(ObligationStatus::Covered) => (0, "none"),
                    _ => (made.unwrap_or(owed), "pending"),
                }
            }
        };
        Ok(RefundView { amount, currency: booking.currency, status })
    }

    async fn reschedule(&self, mut booking: Booking, actor: Actor, start: Timestamp) -> Result<Rescheduled, ApiError> {
        let mut backoff = Backoff::new(CONTENTION_BUDGET);
        let now = self.clock.now();
        loop {
            if booking.status != BookingStatus::Confirmed {
                return Err(ApiError::from(Refusal::BookingNotActive));
            }
            if booking.start == start {
                return Ok(rescheduled(booking));
            }
            if let Some(reason) = reschedule_quote(&booking, actor, now).reason {
                return Err(ApiError::from(reason));
            }
            // A credit pays only for a lesson before it expires (as when it was booked).
            if let Some(credit) = &booking.credit
                && self.store.grant_of_payment(&credit.payment_intent).await?.is_some_and(|g| g.expires_at <= start)
            {
                return Err(ApiError::from(Refusal::CreditExpiresFirst));
            }
            let profile = self.store.get_profile(&booking.teacher_id).await?.ok_or(ApiError::from(Refusal::SlotUnavailable))?;
            match move_booking(&self.store, &booking, &profile, start, now).await {
                Ok(moved) => return Ok(rescheduled(moved)),
                Err(MoveError::SlotUnavailable) => return Err(ApiError::from(Refusal::SlotUnavailable)),
                Err(MoveError::Changed) if backoff.wait().await => {}
                Err(MoveError::Changed | MoveError::Contention) => return Err(ApiError::Contention),
                Err(MoveError::TooLarge(n)) => return Err(ApiError::Internal(format!("moving one booking needs {n} writes").into())),
                Err(MoveError::Store(err)) => return Err(err.into()),
            }
            booking = self.store.get_booking(&booking.booking_id).await?.ok_or_else(|| ApiError::BookingNotFound(booking.booking_id.to_string()))?;
        }
    }
}

/// What a cancel may refund of a booking, as read.
#[derive(Debug, Default)]
struct Refundable {
    intent: Option<String>,
    left: u64,
    /// The payment's count of cancellations that owed money, when read.
    cancellations: u64,
}

fn rescheduled(b: Booking) -> Rescheduled {
    Rescheduled { booking_id: b.booking_id, status: b.status, teacher_id: b.teacher_id, start: b.start, end: b.end, duration_minutes: b.duration_minutes, reschedule_count: b.reschedule_count }
}
