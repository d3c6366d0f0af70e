//! Releasing an unpaid checkout: its holds leave the calendar, its trial
//! claims are given back, and it moves to `expired` or `failed`, in one
//! transaction. Used on its own (abandon, Stripe failure) and inside a new
//! checkout's hold transaction (superseding the student's older one).

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::TransactWriteItem;
use jiff::Timestamp;
use jiff::civil::Date;

use super::FulfilError;
use crate::domain::TeacherId;
use crate::store::{Backoff, CONTENTION_BUDGET, Checkout, CheckoutChange, CheckoutStatus, DaySet, EditError, Store, StoreError, days_touched};

/// What releasing one checkout writes besides its calendar days: its status
/// change, then the deletion of each trial claim it still holds.
pub struct ReleasePlan<'a> {
    pub checkout: &'a Checkout,
    pub to: CheckoutStatus,
    /// The teachers whose trial claim this checkout holds, as read just before.
    pub claims: Vec<TeacherId>,
}

impl<'a> ReleasePlan<'a> {
    /// Reads which of the checkout's trial claims are still its own.
    pub async fn read(store: &Store, checkout: &'a Checkout, to: CheckoutStatus) -> Result<Self, StoreError> {
        let mut claims = Vec::new();
        for teacher in checkout.trial_teachers() {
            let claim = store.get_trial_claim(&checkout.student_id, teacher).await?;
            if claim.is_some_and(|c| c.checkout_id == checkout.checkout_id && !c.confirmed) {
                claims.push(teacher.clone());
            }
        }
        Ok(Self { checkout, to, claims })
    }

    /// The calendar days the checkout's holds were written to.
    pub fn days(&self) -> impl Iterator<Item = (TeacherId, Date)> + '_ {
        self.checkout.lessons.iter().flat_map(|l| days_touched(l.start, l.end, l.buffer_minutes).into_iter().map(|d| (l.teacher_id.clone(), d)))
    }

    /// The status change and claim deletions, leaving out the claims of
    /// `reclaimed` teachers (a new checkout's claim takes them over in the
    /// same transaction, and one transaction may touch an item only once).
    pub fn items(&self, store: &Store, reclaimed: &[&TeacherId]) -> Result<Vec<TransactWriteItem>, StoreError> {
        let c = self.checkout;
        let mut items = vec![store.checkout_transition_item(&c.checkout_id, c.status, self.to, &CheckoutChange::default())?];
        for teacher in self.claims.iter().filter(|t| !reclaimed.contains(t)) {
            items.push(store.trial_release_item(&c.student_id, teacher, &c.checkout_id)?);
        }
        Ok(items)
    }
}

/// Removes every calendar entry of the checkout's holds from `set`.
pub fn plan_release(set: &mut DaySet, checkout: &Checkout, now: Timestamp) {
    for lesson in &checkout.lessons {
        for day in days_touched(lesson.start, lesson.end, lesson.buffer_minutes) {
            set.edit(&lesson.teacher_id, day, now, |entries| entries.retain(|e| e.reference != checkout.checkout_id.as_str()));
        }
    }
}

/// Releases an unpaid checkout (`awaiting_payment`, or `payment_pending`
/// whose delayed payment failed), moving it to `to` (`expired` or `failed`).
/// A checkout that has meanwhile moved on is left alone: `NotReleasable`
/// with its new status.
pub async fn release(store: &Store, checkout: &Checkout, to: CheckoutStatus, now: Timestamp) -> Result<Checkout, FulfilError> {
    let mut backoff = Backoff::new(CONTENTION_BUDGET);
    let mut current = checkout.clone();
    loop {
        if !matches!(current.status, CheckoutStatus::AwaitingPayment | CheckoutStatus::PaymentPending) {
            return Err(FulfilError::NotReleasable(current.status));
        }
        let plan = ReleasePlan::read(store, &current, to).await?;
        let read: BTreeSet<_> = plan.days().collect();
        let result = store
            .edit_days(&read, |set| {
                plan_release(set, &current, now);
                Ok::<_, FulfilError>(((), plan.items(store, &[])?))
            })
            .await;
        match result {
            Ok(()) => {
                tracing::info!(checkout_id = %current.checkout_id, status = to.as_str(), "checkout released");
                return Ok(Checkout { status: to, ..current });
            }
            // The status or a claim changed since it was read: read again.
            Err(EditError::ItemConflict(_)) if backoff.wait().await => {
                current = store.get_checkout(&checkout.checkout_id).await?.ok_or_else(|| FulfilError::UnknownCheckout(checkout.checkout_id.to_string()))?;
            }
            Err(EditError::ItemConflict(_)) => return Err(FulfilError::Contention),
            Err(err) => return Err(FulfilError::from_edit(err)),
        }
    }
}

