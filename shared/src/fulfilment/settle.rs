//! What Stripe's news does to a checkout: a payment books its lessons (and
//! owes back the money of any it can no longer honour, see `refunds`), a delayed payment keeps its slots
//! until it settles or fails, an expired session gives them back, and a
//! payment refunded in full cancels its bookings. Every step is idempotent
//! and safe in any order; the webhook, the success-page poll and the
//! operator's reconciliation all come through here.

use std::collections::BTreeSet;

use jiff::Timestamp;

use super::confirm::{PaidWith, Unbookable, book};
use super::{FulfilError, ReleasePlan, release};
use crate::payments::{Payments, SessionFacts, SessionPayment};
use crate::refunds::{INLINE_REFUND_BUDGET, Refunds};
use crate::changes::{self, CancelError, Cancellation};
use crate::rooms::Rooms;
use crate::store::{Attention, AttentionKind, Backoff, BookingStatus, CancelledBy, Cancelling, CONTENTION_BUDGET, Checkout, CheckoutChange, CheckoutStatus, Dispute, EditError, Refund, Store, TransactError, days_touched};

/// Cancellations in one transaction: each writes up to eight items (the
/// booking, its room and outcome entries, three notices, its reminder, a
/// trial) and its calendar days (up to three), so five stay well within
/// DynamoDB's 100 with the checkout and the disputed bookings beside them.
const CANCELS_PER_TRANSACTION: usize = 5;

/// How a piece of news was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// The checkout as it now stands.
    Checkout(Checkout),
    /// Nothing of ours to change, and why (logged; Stripe need not resend).
    Ignored(&'static str),
}

pub struct Settlement<'a> {
    pub store: &'a Store,
    pub payments: &'a Payments,
    pub rooms: &'a Rooms,
}

impl Settlement<'_> {
    /// A session was paid (or needed no payment): book each lesson still
    /// bookable and owe back the money of the others, then settle what is
    /// owed, cancel the bookings of a payment refunded in full, and make the
    /// rooms. Each of those steps runs whatever became of the ones before;
    /// the first failure worth a retry is returned once all have run.
    pub async fn paid(&self, facts: &SessionFacts, now: Timestamp) -> Result<Settled, FulfilError> {
        let Some(checkout) = self.checkout_of(facts).await? else { return Ok(Settled::Ignored("no checkout of ours")) };
        if let Some(settled) = self.reject_mismatch(&checkout, facts, now).await? {
            return Ok(settled);
        }
        let status = if facts.payment == SessionPayment::NoPaymentRequired { "free" } else { "paid" };
        let paid = PaidWith { status, payment_intent: facts.payment_intent.as_deref() };
        let booked = book(self.store, &checkout.checkout_id, paid, Unbookable::Refund, now).await?;
        let refunds = self.settle_refunds(&booked, now).await;
        let settled = self.cancel_if_refunded(booked, now).await?;
        // A dispute reported before the payment was booked applies now, as a refund does.
        let settled = self.apply_recorded_disputes(settled, now).await?;
        if settled.status != CheckoutStatus::Refunded {
            self.provision(&settled.booking_ids).await?;
        }
        refunds?;
        Ok(Settled::Checkout(settled))
    }

    /// A session completed with a delayed payment method: the checkout
    /// waits for the money, and its holds stop lapsing by time.
    pub async fn payment_pending(&self, facts: &SessionFacts, now: Timestamp) -> Result<Settled, FulfilError> {
        let Some(mut checkout) = self.checkout_of(facts).await? else { return Ok(Settled::Ignored("no checkout of ours")) };
        if let Some(settled) = self.reject_mismatch(&checkout, facts, now).await? {
            return Ok(settled);
        }
        let mut backoff = Backoff::new(CONTENTION_BUDGET);
        while checkout.status == CheckoutStatus::AwaitingPayment {
            let read: BTreeSet<_> = checkout.lessons.iter().flat_map(|l| days_touched(l.start, l.end, l.buffer_minutes).into_iter().map(|d| (l.teacher_id.clone(), d))).collect();
            let change = CheckoutChange { payment_intent: facts.payment_intent.as_deref(), ..CheckoutChange::default() };
            // Its trial claims stop lapsing too; one lost meanwhile is left
            // to the booking, which refunds that lesson.
            let claims = ReleasePlan::read(self.store, &checkout, CheckoutStatus::PaymentPending).await?.claims;
            let result = self
                .store
                .edit_days(&read, |set| {
                    for lesson in &checkout.lessons {
                        for day in days_touched(lesson.start, lesson.end, lesson.buffer_minutes) {
                            set.edit(&lesson.teacher_id, day, now, |entries| {
                                entries.iter_mut().filter(|e| e.reference == checkout.checkout_id.as_str()).for_each(|e| e.expires_at = None);
                            });
                        }
                    }
                    let mut items = vec![self.store.checkout_transition_item(&checkout.checkout_id, checkout.status, CheckoutStatus::PaymentPending, &change)?];
                    for teacher in &claims {
                        items.push(self.store.trial_keep_item(&checkout.student_id, teacher, &checkout.checkout_id)?);
                    }
                    Ok::<_, FulfilError>(((), items))
                })
                .await;
            match result {
                Ok(()) => {
                    tracing::info!(checkout_id = %checkout.checkout_id, "payment pending; slots and trial claims held until it settles");
                    checkout.status = CheckoutStatus::PaymentPending;
                }
                Err(EditError::ItemConflict(_)) if backoff.wait().await => checkout = self.reload(&checkout).await?,
                Err(EditError::ItemConflict(_)) => return Err(FulfilError::Contention),
                Err(err) => return Err(FulfilError::from_edit(err)),
            }
        }
        Ok(Settled::Checkout(checkout))
    }

    /// A delayed payment failed: the slots are given back.
    pub async fn payment_failed(&self, facts: &SessionFacts, now: Timestamp) -> Result<Settled, FulfilError> {
        self.release_unpaid(facts, CheckoutStatus::Failed, now).await
    }

    /// A session expired unpaid. An expiry that arrives after the payment
    /// (events are not ordered) finds the checkout settled and changes nothing.
    pub async fn expired(&self, facts: &SessionFacts, now: Timestamp) -> Result<Settled, FulfilError> {
        self.release_unpaid(facts, CheckoutStatus::Expired, now).await
    }

    /// A refund reported by Stripe (ours or made in the dashboard).
    pub async fn refund_reported(&self, refund: &Refund, now: Timestamp) -> Result<Settled, FulfilError> {
        self.refunds().reported(refund, now).await?;
        self.refunds_changed(&refund.payment_intent, now).await
    }

    /// `charge.refunded`: the charge's running total refunded.
    pub async fn charge_refunded(&self, payment_intent: &str, amount_refunded: u64, now: Timestamp) -> Result<Settled, FulfilError> {
        self.store.record_charge_refunded(payment_intent, amount_refunded).await?;
        self.refunds_changed(payment_intent, now).await
    }

    /// A dispute reported by Stripe (`charge.dispute.*`), recorded in the
    /// ledger. One that asks for a response is listed for `make attention`
    /// with its deadline; a chargeback (the bank took the money) cancels
    /// every booking of the payment that has not started, with no refund,
    /// and marks the others `payment_status: disputed`. Nothing is booked
    /// again when it closes.
    pub async fn dispute_reported(&self, dispute: &Dispute, now: Timestamp) -> Result<Settled, FulfilError> {
        self.store.record_dispute(dispute).await?;
        let ledger = self.store.ledger(&dispute.payment_intent).await?;
        // Events come in any order: what the ledger kept decides, so an older
        // `created` arriving after `closed` (won) cancels nothing.
        let dispute = ledger.disputes.iter().find(|d| d.dispute_id == dispute.dispute_id).unwrap_or(dispute);
        // Recorded: the payment's own event applies it once it has booked.
        let Some(checkout_id) = ledger.payment.as_ref().and_then(|p| p.checkout_id.clone()) else { return Ok(Settled::Ignored("a dispute of a payment not booked yet: applied when it is")) };
        let checkout = self.store.get_checkout(&checkout_id).await?.ok_or_else(|| FulfilError::UnknownCheckout(checkout_id.to_string()))?;
        Ok(Settled::Checkout(self.apply_dispute(dispute, checkout, now).await?))
    }

    /// What a dispute as it stands means for the payment's bookings: listed
    /// for a response while one is due; a chargeback cancels every booking
    /// that has not started; closed in our favour, the lessons it cancelled
    /// are listed for a person (the student lost lessons we were paid for).
    async fn apply_dispute(&self, dispute: &Dispute, checkout: Checkout, now: Timestamp) -> Result<Checkout, FulfilError> {
        if dispute.needs_response() {
            self.dispute_attention(dispute, &checkout, now).await?;
        }
        if dispute.returned_the_money() {
            self.dispute_won_attention(dispute, &checkout, now).await?;
        }
        if !dispute.takes_the_money() {
            return Ok(checkout);
        }
        let settled = self.cancel_bookings(checkout, CancelledBy::Dispute, None, now).await?;
        self.disable_rooms(&settled).await?;
        Ok(settled)
    }

    /// The disputes recorded before the payment was booked.
    async fn apply_recorded_disputes(&self, checkout: Checkout, now: Timestamp) -> Result<Checkout, FulfilError> {
        let Some(intent) = checkout.payment_intent.clone() else { return Ok(checkout) };
        let mut checkout = checkout;
        for dispute in self.store.ledger(&intent).await?.disputes {
            checkout = self.apply_dispute(&dispute, checkout, now).await?;
        }
        Ok(checkout)
    }

    /// The bookings a payment paid for: its checkout's, and a package's
    /// lessons booked with its credits (with its grant).
    async fn payment_bookings(&self, checkout: &Checkout) -> Result<(Vec<crate::domain::BookingId>, Option<crate::store::Grant>), FulfilError> {
        let grant = match (&checkout.package, &checkout.payment_intent) {
            (Some(_), Some(pi)) => self.store.grant_of_payment(pi).await?,
            _ => None,
        };
        let mut booked = checkout.booking_ids.clone();
        booked.extend(grant.iter().flat_map(|g| g.credits.iter()).filter_map(|c| match c {
            crate::store::Credit::Used { booking_id } => Some(booking_id.clone()),
            _ => None,
        }));
        Ok((booked, grant))
    }

    async fn dispute_won_attention(&self, dispute: &Dispute, checkout: &Checkout, now: Timestamp) -> Result<(), FulfilError> {
        let mut cancelled = Vec::new();
        let (booked, grant) = self.payment_bookings(checkout).await?;
        let revoked = grant.map_or(0, |g| g.count(|c| *c == crate::store::Credit::Revoked));
        if revoked > 0 {
            cancelled.push(format!("{revoked} unused package credits"));
        }
        for id in &booked {
            if let Some(booking) = self.store.get_booking(id).await?.filter(|b| b.cancelled_by == Some(CancelledBy::Dispute)) {
                cancelled.push(format!("{} ({})", booking.booking_id, booking.start));
            }
        }
        if cancelled.is_empty() {
            return Ok(());
        }
        let attention = Attention {
            kind: AttentionKind::DisputeWon,
            subject: dispute.dispute_id.clone(),
            reason: format!("dispute {} closed {}: the platform has the {} {} again, but the chargeback cancelled {}", dispute.dispute_id, dispute.status, dispute.amount, checkout.currency, cancelled.join(", ")),
            checkout_id: Some(checkout.checkout_id.clone()),
            payment_intent: Some(dispute.payment_intent.clone()),
            code: Some(dispute.status.clone()),
            due_by: None,
            created_at: now,
        };
        tracing::warn!(checkout_id = %checkout.checkout_id, dispute = %dispute.dispute_id, "a chargeback was won: the lessons it cancelled are listed for a person");
        self.store.flag_attention(&attention).await?;
        Ok(())
    }

    async fn dispute_attention(&self, dispute: &Dispute, checkout: &Checkout, now: Timestamp) -> Result<(), FulfilError> {
        let inquiry = dispute.status.starts_with("warning_");
        let (kind, what) = if inquiry { (AttentionKind::DisputeInquiry, "an inquiry about") } else { (AttentionKind::Dispute, "a chargeback of") };
        let due = dispute.due_by.map_or_else(|| "no due date given".to_owned(), |d| format!("evidence due by {d}"));
        let attention = Attention {
            kind,
            subject: dispute.dispute_id.clone(),
            reason: format!("{what} {} {} ({}), {due}", dispute.amount, checkout.currency, dispute.reason),
            checkout_id: Some(checkout.checkout_id.clone()),
            payment_intent: Some(dispute.payment_intent.clone()),
            code: Some(dispute.reason.clone()),
            due_by: dispute.due_by,
            created_at: now,
        };
        tracing::warn!(checkout_id = %checkout.checkout_id, dispute = %dispute.dispute_id, status = %dispute.status, "dispute needs a response");
        match self.store.transact(vec![self.store.attention_item(&attention)?]).await {
            Ok(()) => {
                crate::metrics::count(crate::metrics::Metric::AttentionRecords, 1);
                Ok(())
            }
            Err(TransactError::Conflict { .. }) => Ok(()),
            Err(TransactError::Busy(err) | TransactError::Store(err)) => Err(err.into()),
        }
    }

    /// Rooms for confirmed bookings. 100ms being down fails the settlement
    /// (the bookings stay confirmed with `room_status: pending`), so Stripe
    /// delivers again and provisioning is retried; a configuration problem
    /// (`room_status: failed`) is for the repair path once it is fixed.
    async fn provision(&self, bookings: &[crate::domain::BookingId]) -> Result<(), FulfilError> {
        match self.rooms.ensure_all(bookings).await {
            Err(err) if err.is_transient() => Err(FulfilError::Rooms(err.to_string())),
            Err(err) => {
                tracing::error!(error = %err, "rooms cannot be made until the 100ms configuration is fixed; then run admin repair-rooms");
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }

    /// What the payment's refunds now add up to: refunded in full, its
    /// bookings are cancelled and their slots freed.
    pub async fn refunds_changed(&self, payment_intent: &str, now: Timestamp) -> Result<Settled, FulfilError> {
        let ledger = self.store.ledger(payment_intent).await?;
        // A refund reported before the payment: the payment's own event
        // checks the ledger once it has booked.
        let Some(checkout_id) = ledger.payment.as_ref().and_then(|p| p.checkout_id.clone()) else { return Ok(Settled::Ignored("payment not recorded yet")) };
        let checkout = self.store.get_checkout(&checkout_id).await?.ok_or_else(|| FulfilError::UnknownCheckout(checkout_id.to_string()))?;
        Ok(Settled::Checkout(self.cancel_if_refunded(checkout, now).await?))
    }

    async fn release_unpaid(&self, facts: &SessionFacts, to: CheckoutStatus, now: Timestamp) -> Result<Settled, FulfilError> {
        let Some(checkout) = self.checkout_of(facts).await? else { return Ok(Settled::Ignored("no checkout of ours")) };
        match release(self.store, &checkout, to, now).await {
            Ok(released) => Ok(Settled::Checkout(released)),
            Err(FulfilError::NotReleasable(_)) => Ok(Settled::Checkout(self.reload(&checkout).await?)),
            Err(err) => Err(err),
        }
    }

    async fn checkout_of(&self, facts: &SessionFacts) -> Result<Option<Checkout>, FulfilError> {
        let Some(id) = &facts.checkout_id else {
            tracing::warn!(stripe_session = %facts.session_id, "a session without our checkout reference");
            return Ok(None);
        };
        let checkout = self.store.get_checkout(id).await?;
        if checkout.is_none() {
            tracing::error!(checkout_id = %id, stripe_session = %facts.session_id, "a session for a checkout we do not have");
        }
        Ok(checkout)
    }

    async fn reload(&self, checkout: &Checkout) -> Result<Checkout, FulfilError> {
        self.store.get_checkout(&checkout.checkout_id).await?.ok_or_else(|| FulfilError::UnknownCheckout(checkout.checkout_id.to_string()))
    }

    /// A payment that is not what we created is never fulfilled: the
    /// checkout waits for an operator, and an attention record says why.
    async fn reject_mismatch(&self, checkout: &Checkout, facts: &SessionFacts, now: Timestamp) -> Result<Option<Settled>, FulfilError> {
        let session_differs = checkout.stripe_session_id.as_deref().is_some_and(|ours| ours != facts.session_id);
        let amount_differs = facts.amount_total.is_some_and(|a| a != checkout.amount_total);
        let currency_differs = facts.currency.as_deref().is_some_and(|c| c != checkout.currency.as_str());
        if !(session_differs || amount_differs || currency_differs) {
            return Ok(None);
        }
        let unknown = || "unknown".to_owned();
        let reason = format!(
            "a payment that does not match its checkout: session {} (ours {}), amount {} (ours {}), currency {} (ours {})",
            facts.session_id,
            checkout.stripe_session_id.clone().unwrap_or_else(unknown),
            facts.amount_total.map_or_else(unknown, |a| a.to_string()),
            checkout.amount_total,
            facts.currency.clone().unwrap_or_else(unknown),
            checkout.currency
        );
        tracing::error!(checkout_id = %checkout.checkout_id, stripe_session = %facts.session_id, %reason, "needs attention");
        if !checkout.status.is_settled() && checkout.status != CheckoutStatus::NeedsAttention {
            let attention = Attention {
                kind: AttentionKind::PaymentMismatch,
                subject: checkout.checkout_id.to_string(),
                reason,
                checkout_id: Some(checkout.checkout_id.clone()),
                payment_intent: facts.payment_intent.clone(),
                code: None,
                due_by: None,
                created_at: now,
            };
            let items = vec![
                self.store.checkout_transition_item(&checkout.checkout_id, checkout.status, CheckoutStatus::NeedsAttention, &CheckoutChange::default())?,
                self.store.attention_item(&attention)?,
            ];
            match self.store.transact(items).await {
                Ok(()) => crate::metrics::count(crate::metrics::Metric::AttentionRecords, 1),
                Err(TransactError::Conflict { .. }) => {}
                Err(TransactError::Busy(err) | TransactError::Store(err)) => return Err(err.into()),
            }
        }
        Ok(Some(Settled::Checkout(self.reload(checkout).await?)))
    }

    fn refunds(&self) -> Refunds<'_> {
        Refunds { store: self.store, payments: self.payments }
    }

    /// Settles what the checkout's payment owes back, within this
    /// delivery's share of time; whatever is left stays owed and is retried.
    async fn settle_refunds(&self, checkout: &Checkout, now: Timestamp) -> Result<(), FulfilError> {
        // Only lessons refused at booking owe anything here; a payment that
        // booked everything (nearly all of them) costs no ledger read.
        let Some(intent) = checkout.payment_intent.as_deref().filter(|_| !checkout.refunded_lessons.is_empty()) else { return Ok(()) };
        let report = self.refunds().settle_payment(intent, now, INLINE_REFUND_BUDGET).await;
        match report.still_failing.first() {
            None => Ok(()),
            Some((obligation, err)) => {
                tracing::warn!(checkout_id = %checkout.checkout_id, obligation = %obligation, error = %err, "a refund we owe is not made yet; it stays owed and is retried");
                Err(FulfilError::Payment(format!("refund {obligation} not made yet: {err}")))
            }
        }
    }

    /// A payment refunded in full (in the dashboard, or all its lessons by
    /// us) cancels its bookings and frees their slots.
    async fn cancel_if_refunded(&self, checkout: Checkout, now: Timestamp) -> Result<Checkout, FulfilError> {
        let Some(intent) = checkout.payment_intent.clone() else { return Ok(checkout) };
        // Refunded is reached only in the transaction that cancels every
        // booking (or with none booked); what may be left is their rooms.
        let refunded = if checkout.status == CheckoutStatus::Refunded {
            checkout
        } else if self.store.ledger(&intent).await?.fully_refunded() {
            self.cancel_bookings(checkout, CancelledBy::Refund, Some(CheckoutStatus::Refunded), now).await?
        } else {
            return Ok(checkout);
        };
        self.disable_rooms(&refunded).await?;
        Ok(refunded)
    }

    /// Cancels, through the one cancellation path, each booking of the
    /// checkout that `by` ends: a full refund every one that has not ended
    /// (its money is back), a dispute every one that has not started (the
    /// bank holds the money; those that started are marked disputed). The
    /// checkout moves to `to`, if given, in the same transaction.
    /// Cancels every lesson of a payment that is refunded in full or charged
    /// back, a few per transaction.
    async fn cancel_bookings(&self, checkout: Checkout, by: CancelledBy, to: Option<CheckoutStatus>, now: Timestamp) -> Result<Checkout, FulfilError> {
        let mut backoff = Backoff::new(CONTENTION_BUDGET);
        let mut current = checkout;
        loop {
            let mut cancellations = Vec::new();
            let mut extra = Vec::new();
            // What is left of a package's credits goes with the money.
            let (booked, grant) = self.payment_bookings(&current).await?;
            for id in &booked {
                let Some(booking) = self.store.get_booking(id).await? else { continue };
                let ends = match by {
                    CancelledBy::Dispute => booking.start > now,
                    _ => booking.end > now,
                };
                if booking.status != BookingStatus::Confirmed {
                    continue;
                }
                if ends {
                    let refund_amount = if by == CancelledBy::Refund { booking.amount } else { 0 };
                    cancellations.push(Cancellation::read(self.store, booking, Cancelling { by, at: now, refund_amount }, None).await?);
                } else if by == CancelledBy::Dispute && booking.payment_status != "disputed" {
                    extra.push(self.store.booking_disputed_item(&booking.booking_id)?);
                }
            }
            // A transaction holds a few lessons' cancellations (each with its
            // notices and calendar days): the first ones go on their own, and
            // the next read finds the rest; the checkout moves with the last.
            if cancellations.len() > CANCELS_PER_TRANSACTION {
                let first: Vec<Cancellation> = cancellations.drain(..CANCELS_PER_TRANSACTION).collect();
                match changes::commit(self.store, &first, Vec::new(), now).await {
                    Ok(()) => {
                        current = self.reload(&current).await?;
                        continue;
                    }
                    Err(CancelError::Changed) if backoff.wait().await => {
                        current = self.reload(&current).await?;
                        continue;
                    }
                    Err(CancelError::Changed | CancelError::Contention) => return Err(FulfilError::Contention),
                    Err(CancelError::TooLarge(n)) => return Err(FulfilError::TooLarge(n)),
                    Err(CancelError::Store(err)) => return Err(err.into()),
                }
            }
            if let Some(to) = to.filter(|to| *to != current.status) {
                extra.push(self.store.checkout_transition_item(&current.checkout_id, current.status, to, &CheckoutChange::default())?);
            }
            if let Some(mut grant) = grant.filter(|g| g.stage.is_some()) {
                let read = grant.version;
                grant.revoke(now);
                extra.push(self.store.grant_put_item(&grant, Some(read))?);
            }
            match changes::commit(self.store, &cancellations, extra, now).await {
                Ok(()) => {
                    tracing::info!(checkout_id = %current.checkout_id, cancelled_by = by.as_str(), bookings = cancellations.len(), "bookings of the payment cancelled");
                    return Ok(Checkout { status: to.unwrap_or(current.status), ..current });
                }
                Err(CancelError::Changed) if backoff.wait().await => current = self.reload(&current).await?,
                Err(CancelError::Changed | CancelError::Contention) => return Err(FulfilError::Contention),
                Err(CancelError::TooLarge(n)) => return Err(FulfilError::TooLarge(n)),
                Err(CancelError::Store(err)) => return Err(err.into()),
            }
        }
    }

    /// Nobody can join a cancelled lesson. Safe to repeat, so a refund event
    /// delivered again after 100ms was down finishes the job.
    async fn disable_rooms(&self, checkout: &Checkout) -> Result<(), FulfilError> {
        for id in &self.payment_bookings(checkout).await?.0 {
            if let Some(booking) = self.store.get_booking(id).await?.filter(|b| b.status == BookingStatus::Cancelled) {
                self.rooms.disable(&booking).await.map_err(|e| FulfilError::Rooms(e.to_string()))?;
            }
        }
        Ok(())
    }
}
