//! The one way a booking is cancelled, whoever or whatever cancels it (its
//! student, teacher or an admin through change-booking, a payment refunded
//! in full, a dispute): in one transaction the booking records who, when
//! and what it refunds; its calendar entries go, so the slot is offered
//! again if it is still bookable; a trial gives the student's trial back;
//! the money owed back becomes a refund obligation; a teacher's
//! cancellation is counted; and the booking is listed for its room to be
//! disabled. The refund and the room follow after the transaction (and
//! from reconcile when a provider is down).

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::TransactWriteItem;
use jiff::civil::Date;
use jiff::Timestamp;

use crate::domain::profile::MAX_BUFFER_MINUTES;
use crate::domain::TeacherId;
use crate::store::{Basis, Booking, BookingStatus, CancelledBy, Cancelling, DaySet, EditError, Notice, Obligation, Store, StoreError, TeacherCount, Topic, days_touched};

/// One booking to cancel, as read just before.
#[derive(Debug, Clone)]
pub struct Cancellation {
    pub booking: Booking,
    pub cancelling: Cancelling,
    /// The refund, when the cancellation owes money back.
    pub obligation: Option<Obligation>,
    /// The student's trial claim with the teacher is this booking's.
    gives_back_trial: bool,
    /// The payment's count of cancellations as read, when the refund was
    /// capped by what was left of the payment then.
    guard: Option<u64>,
    /// The payment, when a student's late cancellation kept part of what it
    /// paid: the teacher earns that part.
    earns_from: Option<String>,
    /// The grant's write giving the booking's credit back.
    credit_back: Option<TransactWriteItem>,
}

impl Cancellation {
    /// Reads what the cancellation needs besides the booking (whether its
    /// trial claim is still its own).
    pub async fn read(store: &Store, booking: Booking, cancelling: Cancelling, obligation: Option<Obligation>) -> Result<Self, StoreError> {
        debug_assert_eq!(booking.status, BookingStatus::Confirmed);
        let gives_back_trial = booking.trial && store.get_trial_claim(&booking.student_id, &booking.teacher_id).await?.is_some_and(|c| c.checkout_id == booking.checkout_id);
        let keeps_part = cancelling.by == CancelledBy::Student && cancelling.refund_amount < booking.amount;
        let earns_from = if keeps_part { store.get_checkout(&booking.checkout_id).await?.and_then(|c| c.payment_intent) } else { None };
        Ok(Self { booking, cancelling, obligation, gives_back_trial, guard: None, earns_from, credit_back: None })
    }

    /// Gives the booking's credit back to its grant (`credits::give_back_item`):
    /// nothing was kept, so nothing is earned.
    pub fn returning_credit(self, item: TransactWriteItem) -> Self {
        Self { credit_back: Some(item), earns_from: None, ..self }
    }

    /// Commits only if no other cancellation owed money from the payment
    /// since `cancellations` was read with what was left of it.
    pub fn guarded(self, cancellations: u64) -> Self {
        Self { guard: Some(cancellations), ..self }
    }

    /// The days its calendar entries may be on: wherever its interval and
    /// the longest buffer a profile allows reach, whatever the buffer was
    /// when it was written (reading a day more costs nothing: unchanged days
    /// are not written).
    pub fn days(&self) -> impl Iterator<Item = (TeacherId, Date)> + '_ {
        booking_days(&self.booking)
    }

    /// Removes its entries from `set` and returns its items.
    pub fn plan(&self, store: &Store, set: &mut DaySet, now: Timestamp) -> Result<Vec<TransactWriteItem>, StoreError> {
        let b = &self.booking;
        for (teacher, day) in self.days() {
            set.edit(&teacher, day, now, |entries| entries.retain(|e| e.reference != b.booking_id.as_str()));
        }
        let mut items = vec![store.booking_cancel_item(b, self.cancelling)?, store.pending_room_item(&b.booking_id)?, store.outcome_undue_item(b)?];
        for notice in Notice::of_change(b, Topic::Cancelled, b.sequence + 1, now) {
            items.push(store.notice_item(&notice, now)?);
        }
        items.push(store.reminder_delete_item(b)?);
        if self.gives_back_trial {
            items.push(store.trial_give_back_item(&b.student_id, &b.teacher_id, &b.checkout_id)?);
        }
        if let Some(obligation) = &self.obligation {
            items.push(store.new_obligation_item(obligation)?);
            if let Some(read) = self.guard {
                items.push(store.payment_cancellation_item(&obligation.payment_intent, read)?);
            }
        }
        if self.cancelling.by == CancelledBy::Teacher {
            items.push(store.teacher_count_item(&b.teacher_id, TeacherCount::Cancellations, 1)?);
        }
        if let Some(item) = &self.credit_back {
            items.push(item.clone());
        }
        if let Some(pi) = &self.earns_from {
            items.push(store.new_earning_item(&crate::payouts::earn::earning(b, pi, Basis::LateCancel, now))?);
        }
        Ok(items)
    }
}

/// The days a booking's entries may be on (see [`Cancellation::days`]).
pub fn booking_days(booking: &Booking) -> impl Iterator<Item = (TeacherId, Date)> + '_ {
    days_touched(booking.start, booking.end, MAX_BUFFER_MINUTES).into_iter().map(|day| (booking.teacher_id.clone(), day))
}

#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    /// A booking, its trial claim or one of the caller's items changed since
    /// they were read: read again and decide again.
    #[error("the booking changed while it was being cancelled")]
    Changed,
    #[error("the calendar is too busy to change right now")]
    Contention,
    #[error("the cancellation needs {0} writes, more than one transaction holds")]
    TooLarge(usize),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Commits `cancellations` and the caller's `extra` items (a checkout's
/// status, say) in one transaction, on fresh reads of the calendar.
pub async fn commit(store: &Store, cancellations: &[Cancellation], extra: Vec<TransactWriteItem>, now: Timestamp) -> Result<(), CancelError> {
    let read: BTreeSet<_> = cancellations.iter().flat_map(Cancellation::days).collect();
    let result = store
        .edit_days(&read, |set| {
            let mut items = Vec::new();
            for cancellation in cancellations {
                items.extend(cancellation.plan(store, set, now)?);
            }
            items.extend(extra.iter().cloned());
            Ok::<_, StoreError>(((), items))
        })
        .await;
    match result {
        Ok(()) => {
            for c in cancellations {
                tracing::info!(booking_id = %c.booking.booking_id, checkout_id = %c.booking.checkout_id, cancelled_by = c.cancelling.by.as_str(), refund_amount = c.cancelling.refund_amount, "booking cancelled");
            }
            Ok(())
        }
        Err(EditError::ItemConflict(_)) => Err(CancelError::Changed),
        Err(EditError::Contention) => Err(CancelError::Contention),
        Err(EditError::TooLarge(n)) => Err(CancelError::TooLarge(n)),
        Err(EditError::Rule(err) | EditError::Store(err)) => Err(CancelError::Store(err)),
    }
}
