//! Confirming a checkout: each held lesson becomes a booking, atomically with
//! the calendar entries (hold → booking), the trial claims (made permanent)
//! and the checkout's status.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};

use super::FulfilError;
use crate::domain::CheckoutId;
use crate::store::{
    Backoff, Booking, BusyEntry, BusyKind, CONTENTION_BUDGET, Checkout, CheckoutChange, CheckoutStatus, DaySet, EditError, Store, days_to_read, days_touched,
};

/// Confirms every lesson of a checkout. Confirming an already confirmed
/// checkout returns it unchanged, and concurrent confirmations of one
/// checkout all return the same confirmed checkout: booking ids are fixed
/// at checkout time and each booking is a conditional put, so a loser's
/// transaction fails and its re-read finds the winner's result.
pub async fn confirm(store: &Store, checkout_id: &CheckoutId, payment_status: &str, now: Timestamp) -> Result<Checkout, FulfilError> {
    let mut backoff = Backoff::new(CONTENTION_BUDGET);
    loop {
        let checkout = store.get_checkout(checkout_id).await?.ok_or_else(|| FulfilError::UnknownCheckout(checkout_id.to_string()))?;
        match checkout.status {
            CheckoutStatus::Confirmed => return Ok(checkout),
            CheckoutStatus::AwaitingPayment | CheckoutStatus::Paid => {}
            other => return Err(FulfilError::NotConfirmable(other)),
        }
        let bookings = checkout.lessons.len();
        match write_bookings(store, &checkout, payment_status, now).await {
            Ok(confirmed) => {
                tracing::info!(checkout_id = %checkout_id, bookings = ?confirmed.booking_ids, "checkout confirmed");
                return Ok(confirmed);
            }
            Err(EditError::ItemConflict(i)) if i > bookings => {
                let trial = checkout.lessons.iter().enumerate().filter(|(_, l)| l.trial).nth(i - bookings - 1).map_or(0, |(index, _)| index);
                return Err(FulfilError::TrialUsed(trial));
            }
            // A booking or the checkout's status was written by a concurrent
            // confirmation: the re-read finds its result.
            Err(EditError::ItemConflict(_)) if backoff.wait().await => {}
            Err(EditError::ItemConflict(_)) => return Err(FulfilError::Contention),
            Err(err) => return Err(FulfilError::from_edit(err)),
        }
    }
}

async fn write_bookings(store: &Store, checkout: &Checkout, payment_status: &str, now: Timestamp) -> Result<Checkout, EditError<FulfilError>> {
    let read: BTreeSet<_> = checkout.lessons.iter().flat_map(|l| days_to_read(&l.teacher_id, l.start, l.end, l.buffer_minutes)).collect();
    let booking_ids: Vec<_> = checkout.lessons.iter().map(|l| l.booking_id.clone()).collect();
    let confirmed = Checkout { status: CheckoutStatus::Confirmed, payment_status: Some(payment_status.to_owned()), booking_ids: booking_ids.clone(), ..checkout.clone() };
    store
        .edit_days(&read, |set| {
            plan_confirmation(set, checkout, now)?;
            // Items in this order: bookings, the checkout, trial claims (see `confirm`).
            let mut items = bookings_of(checkout, now).map(|b| store.new_booking_item(&b)).collect::<Result<Vec<_>, _>>()?;
            let change = CheckoutChange { payment_status: Some(payment_status), booking_ids: Some(&booking_ids) };
            items.push(store.checkout_transition_item(&checkout.checkout_id, checkout.status, CheckoutStatus::Confirmed, &change)?);
            for teacher in checkout.trial_teachers() {
                items.push(store.trial_confirm_item(&checkout.student_id, teacher, &checkout.checkout_id, now)?);
            }
            Ok((confirmed.clone(), items))
        })
        .await
}

/// Turns the checkout's holds into booking entries in `set`, refusing a
/// lesson that someone else's live hold or booking now overlaps (buffers
/// included). Entries of this checkout, its hold or its own bookings from
/// a concurrent confirmation, are never a conflict.
pub fn plan_confirmation(set: &mut DaySet, checkout: &Checkout, now: Timestamp) -> Result<(), FulfilError> {
    let own: Vec<&str> = std::iter::once(checkout.checkout_id.as_str()).chain(checkout.lessons.iter().map(|l| l.booking_id.as_str())).collect();
    for (index, lesson) in checkout.lessons.iter().enumerate() {
        let pad = SignedDuration::from_mins(i64::from(lesson.buffer_minutes));
        let taken = set.busy_except(&lesson.teacher_id, &own).iter().any(|b| b.blocks_at(now) && b.start < lesson.end + pad && lesson.start < b.end + pad);
        if taken {
            return Err(FulfilError::LessonTaken(index));
        }
        let entry = BusyEntry { start: lesson.start, end: lesson.end, kind: BusyKind::Booking, reference: lesson.booking_id.to_string(), expires_at: None };
        for day in days_touched(lesson.start, lesson.end, lesson.buffer_minutes) {
            set.edit(&lesson.teacher_id, day, now, |entries| {
                entries.retain(|e| !(e.reference == checkout.checkout_id.as_str() && e.start == lesson.start) && e.reference != lesson.booking_id.as_str());
                entries.push(entry.clone());
            });
        }
    }
    Ok(())
}

fn bookings_of(checkout: &Checkout, now: Timestamp) -> impl Iterator<Item = Booking> + '_ {
    checkout.lessons.iter().map(move |l| Booking {
        booking_id: l.booking_id.clone(),
        checkout_id: checkout.checkout_id.clone(),
        teacher_id: l.teacher_id.clone(),
        student_id: checkout.student_id.clone(),
        start: l.start,
        end: l.end,
        duration_minutes: l.duration_minutes,
        amount: l.amount,
        currency: checkout.currency,
        trial: l.trial,
        created_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{BookingId, Currency, TeacherId};
    use crate::store::{CalendarDay, CheckoutLesson, utc_day};

    fn ts(raw: &str) -> Timestamp {
        raw.parse().unwrap()
    }

    fn checkout() -> Checkout {
        let lesson = |start: &str, end: &str, i: u32| CheckoutLesson {
            teacher_id: TeacherId::parse("t_a").unwrap(),
            teacher_name: "A".into(),
            start: ts(start),
            end: ts(end),
            duration_minutes: 60,
            amount: 3000,
            trial: false,
            booking_id: BookingId::parse(&format!("bk_x_{i}")).unwrap(),
            title: "t".into(),
            buffer_minutes: 10,
        };
        Checkout {
            checkout_id: CheckoutId::parse("co_x").unwrap(),
            student_id: "s".into(),
            email: None,
            status: CheckoutStatus::AwaitingPayment,
            currency: Currency::parse("eur").unwrap(),
            amount_total: 6000,
            // The second lesson crosses midnight: stored on two days.
            lessons: vec![lesson("2026-12-01T10:00:00Z", "2026-12-01T11:00:00Z", 0), lesson("2026-12-01T23:30:00Z", "2026-12-02T00:30:00Z", 1)],
            created_at: ts("2026-11-30T00:00:00Z"),
            expires_at: ts("2026-11-30T00:31:00Z"),
            hold_until: ts("2026-11-30T00:36:00Z"),
            stripe_session_id: None,
            checkout_url: None,
            payment_status: None,
            booking_ids: Vec::new(),
            success_url: String::new(),
            cancel_url: String::new(),
        }
    }

    fn days(entries: impl Fn(&CheckoutLesson) -> BusyEntry) -> DaySet {
        let c = checkout();
        let teacher = TeacherId::parse("t_a").unwrap();
        let day = |d: &str| {
            let date: jiff::civil::Date = d.parse().unwrap();
            let busy = c.lessons.iter().filter(|l| days_touched(l.start, l.end, l.buffer_minutes).contains(&date)).map(&entries).collect();
            CalendarDay { teacher_id: teacher.clone(), day: date, version: 4, busy }
        };
        DaySet::new([day("2026-11-30"), day("2026-12-01"), day("2026-12-02")])
    }

    fn booking_entry(l: &CheckoutLesson) -> BusyEntry {
        BusyEntry { start: l.start, end: l.end, kind: BusyKind::Booking, reference: l.booking_id.to_string(), expires_at: None }
    }

    fn entries_of(set: &DaySet) -> Vec<BusyEntry> {
        set.busy_entries(&TeacherId::parse("t_a").unwrap())
    }

    /// What a confirmation racing a faster one re-reads: its own bookings.
    #[test]
    fn days_that_already_hold_this_checkouts_bookings_confirm_again() {
        let now = ts("2026-11-30T00:10:00Z");
        let mut set = days(booking_entry);
        plan_confirmation(&mut set, &checkout(), now).expect("its own bookings are no conflict");
        let entries = entries_of(&set);
        assert_eq!(entries.len(), 2, "one entry per lesson, none doubled: {entries:?}");
        assert!(entries.iter().all(|e| e.kind == BusyKind::Booking));
        for day in ["2026-12-01", "2026-12-02"] {
            let date: jiff::civil::Date = day.parse().unwrap();
            let on_day = set.entries(&TeacherId::parse("t_a").unwrap(), date);
            let mut refs: Vec<_> = on_day.iter().map(|e| &e.reference).collect();
            refs.dedup();
            assert_eq!(refs.len(), on_day.len(), "{day}: {on_day:?}");
        }
    }

    #[test]
    fn holds_become_bookings_and_a_stranger_in_the_buffer_is_a_conflict() {
        let now = ts("2026-11-30T00:10:00Z");
        let c = checkout();
        let mut set = days(|l| BusyEntry { start: l.start, end: l.end, kind: BusyKind::Hold, reference: "co_x".into(), expires_at: Some(c.hold_until) });
        plan_confirmation(&mut set, &c, now).unwrap();
        assert_eq!(entries_of(&set).iter().map(|e| e.reference.as_str()).collect::<Vec<_>>(), ["bk_x_0", "bk_x_1"]);

        let mut taken = days(booking_entry);
        let stranger = BusyEntry { start: ts("2026-12-01T11:05:00Z"), end: ts("2026-12-01T11:30:00Z"), kind: BusyKind::Booking, reference: "bk_other".into(), expires_at: None };
        taken.edit(&TeacherId::parse("t_a").unwrap(), utc_day(stranger.start), now, |e| e.push(stranger.clone()));
        assert!(matches!(plan_confirmation(&mut taken, &c, now), Err(FulfilError::LessonTaken(0))));
        // An expired hold of someone else is no conflict.
        let mut lapsed = days(booking_entry);
        let hold = BusyEntry { expires_at: Some(now), reference: "co_other".into(), kind: BusyKind::Hold, ..stranger };
        lapsed.edit(&TeacherId::parse("t_a").unwrap(), utc_day(hold.start), ts("2026-11-30T00:00:00Z"), |e| e.push(hold.clone()));
        plan_confirmation(&mut lapsed, &c, now).unwrap();
    }
}
