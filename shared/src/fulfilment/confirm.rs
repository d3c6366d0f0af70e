//! Confirming a checkout: each held lesson becomes a booking, atomically with
//! the calendar entries (hold → booking), the trial claims (made permanent),
//! the payment in the ledger and the checkout's status. A paid checkout whose
//! holds lapsed books what is still free, and owes the money of the rest
//! back (a refund obligation, in the same transaction).

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};

use super::FulfilError;
use crate::domain::{CancellationPolicy, CheckoutId, TeacherId};
use aws_sdk_dynamodb::types::TransactWriteItem;

use crate::store::{
    Credit, Grant, GrantEvent, GrantStage, PackageOrder, StoreError,
    Backoff, Booking, BookingStatus, BusyEntry, Notice, CONTENTION_BUDGET, Checkout, CheckoutChange, CheckoutStatus, DaySet, EditError, Obligation, RefundReason, RoomStatus, Store,
    days_to_read, days_touched,
};

/// How a checkout was paid for.
#[derive(Debug, Clone, Copy)]
pub struct PaidWith<'a> {
    /// `paid` or `free`, as the bookings and the checkout record it.
    pub status: &'a str,
    pub payment_intent: Option<&'a str>,
}

/// What to do with a lesson that can no longer be booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unbookable {
    /// Fail the whole confirmation (nothing was paid: a free cart).
    Refuse,
    /// Book the others and mark it for refund (money was taken).
    Refund,
}

/// Confirms every lesson of a free checkout, or none. Confirming an already
/// confirmed checkout returns it unchanged, and concurrent confirmations of
/// one checkout all return the same confirmed checkout: booking ids are
/// fixed at checkout time and each booking is a conditional put, so a
/// loser's transaction fails and its re-read finds the winner's result.
pub async fn confirm(store: &Store, checkout_id: &CheckoutId, payment_status: &str, now: Timestamp) -> Result<Checkout, FulfilError> {
    book(store, checkout_id, PaidWith { status: payment_status, payment_intent: None }, Unbookable::Refuse, now).await
}

/// Books a checkout's lessons (see [`Unbookable`]) and moves it to
/// `confirmed`, `partially_refunded` or `refunded` from whatever unsettled
/// status it has; a settled checkout is returned as it is.
pub(super) async fn book(store: &Store, checkout_id: &CheckoutId, paid: PaidWith<'_>, policy: Unbookable, now: Timestamp) -> Result<Checkout, FulfilError> {
    let mut backoff = Backoff::new(CONTENTION_BUDGET);
    let mut forced = BTreeSet::new();
    let mut policies = None;
    loop {
        let checkout = store.get_checkout(checkout_id).await?.ok_or_else(|| FulfilError::UnknownCheckout(checkout_id.to_string()))?;
        match checkout.status {
            status if status.is_settled() => return Ok(checkout),
            CheckoutStatus::NeedsAttention => return Err(FulfilError::NotConfirmable(checkout.status)),
            _ => {}
        }
        let policies = match &policies {
            Some(read) => read,
            None => policies.insert(policies_in_force(store, &checkout).await?),
        };
        let mut layout = Layout::default();
        match write_bookings(store, &checkout, paid, policy, policies, &forced, &mut layout, now).await {
            Ok(confirmed) => {
                tracing::info!(checkout_id = %checkout_id, status = confirmed.status.as_str(), bookings = ?confirmed.booking_ids, refunded = ?confirmed.refunded_lessons, "checkout booked");
                return Ok(confirmed);
            }
            Err(EditError::ItemConflict(i)) => match layout.trial(i) {
                // The student has since used this trial with another checkout.
                Some(lesson) if policy == Unbookable::Refuse => return Err(FulfilError::TrialUsed(lesson)),
                Some(lesson) => {
                    forced.insert(lesson);
                }
                // A booking or the checkout's status was written by a
                // concurrent confirmation: the re-read finds its result.
                None => {}
            },
            Err(err) => return Err(FulfilError::from_edit(err)),
        }
        if !backoff.wait().await {
            return Err(FulfilError::Contention);
        }
    }
}

/// Where each kind of item sits in one attempt's transaction.
#[derive(Default)]
struct Layout {
    bookings: usize,
    /// The lesson index of each trial claim item, after bookings and the checkout.
    trials: Vec<usize>,
}

impl Layout {
    fn trial(&self, item: usize) -> Option<usize> {
        item.checked_sub(self.bookings + 1).and_then(|k| self.trials.get(k).copied())
    }
}

/// The cancellation policy of each teacher whose lessons do not carry the
/// one shown at checkout (checkouts from before it was kept): the profile's
/// as it stands now (a teacher whose profile is gone leaves the defaults).
async fn policies_in_force(store: &Store, checkout: &Checkout) -> Result<BTreeMap<TeacherId, CancellationPolicy>, FulfilError> {
    let mut policies = BTreeMap::new();
    for teacher in checkout.lessons.iter().filter(|l| l.policy.is_none()).map(|l| &l.teacher_id) {
        if !policies.contains_key(teacher) {
            let policy = store.get_profile(teacher).await?.map(|p| p.cancellation()).unwrap_or_default();
            policies.insert(teacher.clone(), policy);
        }
    }
    Ok(policies)
}

#[allow(clippy::too_many_arguments)]
async fn write_bookings(
    store: &Store,
    checkout: &Checkout,
    paid: PaidWith<'_>,
    policy: Unbookable,
    policies: &BTreeMap<TeacherId, CancellationPolicy>,
    forced: &BTreeSet<usize>,
    layout: &mut Layout,
    now: Timestamp,
) -> Result<Checkout, EditError<FulfilError>> {
    let read: BTreeSet<_> = checkout.lessons.iter().flat_map(|l| days_to_read(&l.teacher_id, l.start, l.end, l.buffer_minutes)).collect();
    store
        .edit_days(&read, |set| {
            let refused = plan_bookings(set, checkout, now, forced);
            if let (Unbookable::Refuse, Some(first)) = (policy, refused.first()) {
                return Err(FulfilError::LessonTaken(*first));
            }
            let kept: Vec<usize> = (0..checkout.lessons.len()).filter(|i| !refused.contains(i)).collect();
            let booking_ids: Vec<_> = kept.iter().map(|&i| checkout.lessons[i].booking_id.clone()).collect();
            let to = match (kept.is_empty(), refused.is_empty()) {
                (_, true) => CheckoutStatus::Confirmed,
                (true, false) => CheckoutStatus::Refunded,
                (false, false) => CheckoutStatus::PartiallyRefunded,
            };
            let policy_of = |i: usize| checkout.lessons[i].policy.or_else(|| policies.get(&checkout.lessons[i].teacher_id).copied()).unwrap_or_default();
            let mut items = kept.iter().map(|&i| store.new_booking_item(&booking_of(checkout, i, paid.status, policy_of(i), now))).collect::<Result<Vec<_>, _>>()?;
            let change = CheckoutChange { payment_status: Some(paid.status), booking_ids: Some(&booking_ids), payment_intent: paid.payment_intent, refunded_lessons: Some(&refused) };
            items.push(store.checkout_transition_item(&checkout.checkout_id, checkout.status, to, &change)?);
            let trials: Vec<usize> = kept.iter().copied().filter(|&i| checkout.lessons[i].trial).collect();
            for &i in &trials {
                items.push(store.trial_confirm_item(&checkout.student_id, &checkout.lessons[i].teacher_id, &checkout.checkout_id, now)?);
            }
            if let (Some(intent), Some(package)) = (paid.payment_intent, &checkout.package) {
                items.push(store.grant_put_item(&grant_of(checkout, package, intent, now), None)?);
            }
            if let Some(intent) = paid.payment_intent {
                items.push(store.payment_item(intent, &checkout.checkout_id, checkout.amount_total, checkout.currency)?);
                // The money for each refused lesson is owed back from this
                // moment; a lesson that cost nothing owes nothing.
                for &i in refused.iter().filter(|&&i| checkout.lessons[i].amount > 0) {
                    let obligation = Obligation::for_lesson(&checkout.checkout_id, i, intent, checkout.lessons[i].amount, checkout.currency, RefundReason::LessonUnavailable, now);
                    items.push(store.new_obligation_item(&obligation)?);
                }
            }
            items.extend(booked_items(store, checkout, &kept, paid.status, &policy_of, now)?);
            *layout = Layout { bookings: kept.len(), trials };
            let booked = Checkout {
                status: to,
                payment_status: Some(paid.status.to_owned()),
                booking_ids,
                payment_intent: paid.payment_intent.map(str::to_owned),
                refunded_lessons: refused,
                ..checkout.clone()
            };
            Ok((booked, items))
        })
        .await
}

/// Turns the checkout's holds into booking entries in `set` and refuses
/// (returns) the lessons that can no longer be booked: someone else's live
/// hold or booking overlaps them (buffers included), they have already
/// started, or they are `forced` out. A refused lesson's own hold is removed.
/// Entries of this checkout, its hold or its own bookings from a concurrent
/// confirmation, are never a conflict.
pub fn plan_bookings(set: &mut DaySet, checkout: &Checkout, now: Timestamp, forced: &BTreeSet<usize>) -> Vec<usize> {
    let own: Vec<&str> = std::iter::once(checkout.checkout_id.as_str()).chain(checkout.lessons.iter().map(|l| l.booking_id.as_str())).collect();
    let mut refused = Vec::new();
    for (index, lesson) in checkout.lessons.iter().enumerate() {
        let pad = SignedDuration::from_mins(i64::from(lesson.buffer_minutes));
        let taken = set.busy_except(&lesson.teacher_id, &own).iter().any(|b| b.blocks_at(now) && b.start < lesson.end + pad && lesson.start < b.end + pad);
        let bookable = !taken && !forced.contains(&index) && lesson.start > now;
        let entry = BusyEntry::booking(&lesson.booking_id, lesson.start, lesson.end);
        for day in days_touched(lesson.start, lesson.end, lesson.buffer_minutes) {
            set.edit(&lesson.teacher_id, day, now, |entries| {
                entries.retain(|e| !(e.reference == checkout.checkout_id.as_str() && e.start == lesson.start) && e.reference != lesson.booking_id.as_str());
                if bookable {
                    entries.push(entry.clone());
                }
            });
        }
        if !bookable {
            refused.push(index);
        }
    }
    refused
}

/// [`plan_bookings`] for a checkout that must be booked whole.
pub fn plan_confirmation(set: &mut DaySet, checkout: &Checkout, now: Timestamp) -> Result<(), FulfilError> {
    match plan_bookings(set, checkout, now, &BTreeSet::new()).first() {
        Some(&index) => Err(FulfilError::LessonTaken(index)),
        None => Ok(()),
    }
}

/// What follows a checkout's bookings into their transaction: the
/// confirmation notices, each room listed to be made, each outcome listed
/// to be decided, each reminder, and the lessons leaving the cart they came
/// from. The one list, however the lessons were paid for.
pub(crate) fn booked_items(
    store: &Store,
    checkout: &Checkout,
    kept: &[usize],
    paid_status: &str,
    policy_of: &dyn Fn(usize) -> CancellationPolicy,
    now: Timestamp,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let mut items = Vec::new();
    if !kept.is_empty() {
        let booked: Vec<_> = kept.iter().map(|&i| &checkout.lessons[i]).collect();
        for notice in Notice::confirmed(checkout, &booked, now) {
            items.push(store.notice_item(&notice, now)?);
        }
    }
    // Unconditional writes, last: they never fail a condition.
    for &i in kept {
        items.push(store.pending_room_item(&checkout.lessons[i].booking_id)?);
    }
    for &i in kept {
        let booking = booking_of(checkout, i, paid_status, policy_of(i), now);
        items.push(store.outcome_due_item(&booking)?);
        if let Some((reminder, due)) = Notice::reminder(&booking, booking.start, now) {
            items.push(store.notice_due_item(&reminder, due)?);
        }
    }
    // Bought or refunded, the lessons leave the cart they came from,
    // whose version moves on.
    if checkout.from_cart {
        for lesson in &checkout.lessons {
            items.push(store.cart_line_delete_item(&checkout.student_id, &lesson.teacher_id, lesson.start)?);
        }
        items.push(store.cart_bought_item(&checkout.student_id, now)?);
    }
    Ok(items)
}

/// The credits a paid package grants, valid from `now` (its payment).
fn grant_of(checkout: &Checkout, package: &PackageOrder, payment_intent: &str, now: Timestamp) -> Grant {
    let expires_at = now + SignedDuration::from_hours(i64::from(package.valid_days) * 24);
    Grant {
        grant_id: Grant::grant_id_of(&checkout.checkout_id),
        student_id: checkout.student_id.clone(),
        teacher_id: package.teacher_id.clone(),
        teacher_name: package.teacher_name.clone(),
        duration_minutes: package.duration_minutes,
        currency: checkout.currency,
        price: package.price,
        discount_percent: package.discount_percent,
        unit_values: package.unit_values.clone(),
        credits: vec![Credit::Free; package.unit_values.len()],
        policy: package.policy,
        expires_at,
        payment_intent: payment_intent.to_owned(),
        checkout_id: checkout.checkout_id.clone(),
        created_at: now,
        version: 0,
        stage: Some(GrantStage::first_after(now, expires_at)),
        history: vec![GrantEvent { at: now, what: "granted".into(), credits: package.lessons, booking_id: None, amount: Some(package.price) }],
    }
}

pub(crate) fn booking_of(checkout: &Checkout, index: usize, paid_status: &str, policy: CancellationPolicy, now: Timestamp) -> Booking {
    let l = &checkout.lessons[index];
    Booking {
        booking_id: l.booking_id.clone(),
        status: BookingStatus::Confirmed,
        payment_status: paid_status.to_owned(),
        room_status: RoomStatus::Pending,
        checkout_id: l.credit.as_ref().map_or_else(|| checkout.checkout_id.clone(), |c| c.package_checkout.clone()),
        teacher_id: l.teacher_id.clone(),
        student_id: checkout.student_id.clone(),
        student_name: checkout.student_name.clone(),
        start: l.start,
        end: l.end,
        duration_minutes: l.duration_minutes,
        amount: l.amount,
        currency: checkout.currency,
        trial: l.trial,
        created_at: now,
        room_id: None,
        teacher_room_code: None,
        student_room_code: None,
        cancelled_by: None,
        cancelled_at: None,
        reschedule_count: 0,
        policy,
        refund_amount: None,
        history: Vec::new(),
        attendance: None,
        sequence: 0,
        credit: l.credit.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{BookingId, Currency, TeacherId};
    use crate::store::{BusyKind, CalendarDay, CheckoutLesson, utc_day};

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
            policy: None,
            credit: None,
        };
        Checkout {
            checkout_id: CheckoutId::parse("co_x").unwrap(),
            student_id: "s".into(),
            email: None,
            email_unverified: false,
            timezone: None,
            student_name: None,
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
            from_cart: false,
            payment_intent: None,
            refunded_lessons: Vec::new(),
            package: None,
            paid_with_credits: false,
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
        BusyEntry::booking(&l.booking_id, l.start, l.end)
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
