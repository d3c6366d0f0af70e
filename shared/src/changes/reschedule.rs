//! Moving a booking to another start: one transaction takes its calendar
//! entries off the old days and puts them on the new ones (buffers
//! included), and moves the booking itself (start, end, index keys, count
//! and history), conditioned on the booking and every calendar day read.
//! The new start must be one get-slots would offer with the booking's own
//! interval left out, so a lesson can move within its own slot. Same
//! booking id, so the same room; no money moves.

use std::collections::BTreeSet;

use jiff::Timestamp;

use super::cancel::booking_days;
use crate::availability;
use crate::domain::TeacherProfile;
use crate::store::{Booking, BusyEntry, EditError, Moved, Notice, Store, StoreError, Topic, days_to_read, days_touched};

#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error("the new start is not offered")]
    SlotUnavailable,
    /// The booking changed since it was read: read again and decide again.
    #[error("the booking changed while it was being moved")]
    Changed,
    #[error("the calendar is too busy to change right now")]
    Contention,
    #[error("the move needs {0} writes, more than one transaction holds")]
    TooLarge(usize),
    #[error(transparent)]
    Store(#[from] StoreError),
}

enum Refused {
    Slot,
    Store(StoreError),
}

impl From<StoreError> for Refused {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// Moves a confirmed `booking` (as read) to `start`, keeping its length;
/// returns the booking as it now is.
pub async fn move_booking(store: &Store, booking: &Booking, profile: &TeacherProfile, start: Timestamp, now: Timestamp) -> Result<Booking, MoveError> {
    // A start near the end of time is no slot anyone offers.
    let end = start.checked_add(booking.end - booking.start).map_err(|_| MoveError::SlotUnavailable)?;
    let buffer = profile.buffer_minutes();
    let teacher = &booking.teacher_id;
    let mut read: BTreeSet<_> = booking_days(booking).collect();
    read.extend(days_to_read(teacher, start, end, buffer));
    let own = booking.booking_id.as_str();
    let result = store
        .edit_days(&read, |set| {
            for (t, day) in booking_days(booking) {
                set.edit(&t, day, now, |entries| entries.retain(|e| e.reference != own));
            }
            if !availability::is_offered(profile, booking.duration_minutes, start, &set.busy_except(teacher, &[own]), now) {
                return Err(Refused::Slot);
            }
            let entry = BusyEntry::booking(&booking.booking_id, start, end);
            for day in days_touched(start, end, buffer) {
                set.edit(teacher, day, now, |entries| entries.push(entry.clone()));
            }
            let moved = Booking { start, end, sequence: booking.sequence + 1, ..booking.clone() };
            let mut items = vec![store.booking_move_item(booking, start, end, now)?, store.outcome_undue_item(booking)?, store.outcome_due_item(&moved)?];
            for notice in Notice::of_change(&moved, Topic::Rescheduled, moved.sequence, now) {
                items.push(store.notice_item(&notice, now)?);
            }
            // The reminder follows the lesson (or goes, when none is still ahead).
            items.push(match Notice::reminder(&moved, start, now) {
                Some((reminder, due)) => store.notice_due_item(&reminder, due)?,
                None => store.reminder_delete_item(&moved)?,
            });
            Ok(((), items))
        })
        .await;
    match result {
        Ok(()) => {
            tracing::info!(booking_id = %booking.booking_id, from = %booking.start, to = %start, "booking moved");
            let mut history = booking.history.clone();
            history.push(Moved { start: booking.start, end: booking.end, moved_at: now });
            Ok(Booking { start, end, reschedule_count: booking.reschedule_count + 1, history, sequence: booking.sequence + 1, ..booking.clone() })
        }
        Err(EditError::Rule(Refused::Slot)) => Err(MoveError::SlotUnavailable),
        Err(EditError::ItemConflict(_)) => Err(MoveError::Changed),
        Err(EditError::Contention) => Err(MoveError::Contention),
        Err(EditError::TooLarge(n)) => Err(MoveError::TooLarge(n)),
        Err(EditError::Rule(Refused::Store(err)) | EditError::Store(err)) => Err(MoveError::Store(err)),
    }
}
