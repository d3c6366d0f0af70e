//! An operator's override of a lesson's outcome (`admin outcome`): through
//! the same transaction shape as the decision, so a change to
//! `teacher_no_show` refunds through a refund obligation exactly as a
//! decided one does. Every change is kept in the booking's
//! `outcome_history` beside the decision.

use jiff::Timestamp;

use crate::refunds::{INLINE_REFUND_BUDGET, Refunds};
use super::no_show;
use crate::store::{BookingStatus, Notice, TeacherCount, Topic, TransactError};
use crate::domain::BookingId;
use crate::webhook::EventHandler;

#[derive(Debug, thiserror::Error)]
pub enum OverruleError {
    #[error("no booking {0}")]
    NoBooking(String),
    #[error("{0} is not an outcome (completed, student_no_show, teacher_no_show)")]
    NotAnOutcome(String),
    #[error("booking {0} is cancelled: it has no outcome to overrule")]
    Cancelled(String),
    #[error("booking {0} has not ended yet")]
    NotOver(String),
    #[error("the booking changed meanwhile; run it again")]
    Changed,
    #[error("{0}")]
    Store(String),
}

/// Sets the outcome of an ended booking to `to`; returns what it was.
pub async fn overrule(handler: &EventHandler, id: &BookingId, to: &str, by: &str, now: Timestamp) -> Result<BookingStatus, OverruleError> {
    let to = match to {
        "completed" => BookingStatus::Completed,
        "student_no_show" => BookingStatus::StudentNoShow,
        "teacher_no_show" => BookingStatus::TeacherNoShow,
        other => return Err(OverruleError::NotAnOutcome(other.to_owned())),
    };
    let store = &handler.store;
    let io = |e: crate::store::StoreError| OverruleError::Store(e.to_string());
    let booking = store.get_booking(id).await.map_err(io)?.ok_or_else(|| OverruleError::NoBooking(id.to_string()))?;
    match booking.status {
        BookingStatus::Cancelled => return Err(OverruleError::Cancelled(id.to_string())),
        BookingStatus::Confirmed if booking.end > now => return Err(OverruleError::NotOver(id.to_string())),
        from if from == to => return Ok(from),
        _ => {}
    }
    let mut items = vec![store.booking_overrule_item(&booking, to, by, now).map_err(io)?, store.pending_room_item(&booking.booking_id).map_err(io)?];
    if booking.status == BookingStatus::Confirmed {
        items.push(store.outcome_undue_item(&booking).map_err(io)?);
    }
    // The parties hear of a no-show, the webhooks of every outcome; a mail
    // still owed for the outcome this one replaces is superseded by it.
    let sequence = booking.sequence + 1;
    if matches!(to, BookingStatus::TeacherNoShow | BookingStatus::StudentNoShow) {
        for notice in Notice::of_change(&booking, Topic::Outcome, sequence, now) {
            items.push(store.notice_item(&notice, now).map_err(io)?);
        }
    } else {
        items.push(store.notice_item(&Notice::event(booking.booking_id.to_string(), Topic::Outcome, sequence, now), now).map_err(io)?);
    }
    if let Some(basis) = crate::store::Basis::of_outcome(to) {
        items.extend(crate::payouts::earn::outcome_item(store, &booking, basis, now).await.map_err(io)?);
    }
    let mut intent = None;
    // Counted while it is the outcome: once when it becomes one, taken back when it stops.
    if to == BookingStatus::TeacherNoShow {
        items.push(store.teacher_count_item(&booking.teacher_id, TeacherCount::NoShows, 1).map_err(io)?);
        let (refund, pi) = no_show::refund_items(store, &booking, now).await.map_err(io)?;
        items.extend(refund);
        intent = pi;
    } else if booking.status == BookingStatus::TeacherNoShow {
        items.push(store.teacher_count_item(&booking.teacher_id, TeacherCount::NoShows, -1).map_err(io)?);
    }
    match store.transact(items).await {
        Ok(()) => {}
        Err(TransactError::Conflict { .. }) => return Err(OverruleError::Changed),
        Err(TransactError::Busy(err) | TransactError::Store(err)) => return Err(io(err)),
    }
    tracing::info!(booking_id = %id, from = booking.status.as_str(), to = to.as_str(), by, "outcome overruled");
    if let Some(pi) = &intent {
        Refunds { store, payments: &handler.payments }.settle_payment(pi, now, INLINE_REFUND_BUDGET).await;
    }
    // A lesson already paid out that no longer earns owes its reversal now,
    // not only once the refund's events arrive (there may be none to make).
    if let Some(pi) = intent.or(store.get_checkout(&booking.checkout_id).await.ok().flatten().and_then(|c| c.payment_intent))
        && let Err(err) = crate::payouts::review::review(store, &pi, now).await
    {
        tracing::warn!(booking_id = %id, error = %err, "earnings not reviewed; the next refund or dispute event reviews them");
    }
    if let Err(err) = handler.rooms.disable(&booking).await {
        tracing::warn!(booking_id = %id, error = %err, "room not closed yet; the room repair closes it");
    }
    Ok(booking.status)
}
