//! What may change about a paid booking, and what it costs, under the
//! cancellation policy the booking kept from when it was paid for: the rules
//! alone, decided from the booking and the instant, so the quote a frontend
//! shows and the change itself can never disagree.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::store::{Booking, BookingStatus};

/// Who asks for a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Student,
    Teacher,
    Admin,
}

/// Why a change is not allowed now; also the `409` error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    BookingNotActive,
    TooLateToCancel,
    TooLateToReschedule,
    NoReschedulesLeft,
    /// Teachers cancel (a full refund) and the student books again.
    NotTheStudent,
    /// The new start is not one get-slots offers.
    SlotUnavailable,
    /// The lesson's package credit expires before the new start.
    CreditExpiresFirst,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Self::BookingNotActive => "booking_not_active",
            Self::TooLateToCancel => "too_late_to_cancel",
            Self::TooLateToReschedule => "too_late_to_reschedule",
            Self::NoReschedulesLeft => "no_reschedules_left",
            Self::NotTheStudent => "not_the_student",
            Self::SlotUnavailable => "slot_unavailable",
            Self::CreditExpiresFirst => "credit_expires_first",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::BookingNotActive => "this booking is no longer active",
            Self::TooLateToCancel => "it is too late to cancel this lesson",
            Self::TooLateToReschedule => "it is too late to reschedule this lesson",
            Self::NoReschedulesLeft => "this lesson has been rescheduled as often as the teacher's policy allows",
            Self::NotTheStudent => "only the student reschedules; a teacher cancels (a full refund) and the student books again",
            Self::SlotUnavailable => "the teacher does not offer that start",
            Self::CreditExpiresFirst => "this lesson was paid with a package credit that expires before that start; pick a time before it expires",
        }
    }
}

impl From<Refusal> for crate::error::ApiError {
    fn from(refusal: Refusal) -> Self {
        Self::ChangeRefused { code: refusal.code(), message: refusal.message() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CancelQuote {
    pub allowed: bool,
    /// What a cancel now refunds (an admin may choose less).
    pub refund_amount: u64,
    /// A lesson paid with a credit gets the credit back instead of money.
    pub credit_back: bool,
    /// Until when a student's cancel refunds in full.
    pub free_until: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Refusal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RescheduleQuote {
    pub allowed: bool,
    /// Until when the student may move the lesson.
    pub until: Timestamp,
    pub remaining: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Refusal>,
}

fn hours(h: u32) -> SignedDuration {
    SignedDuration::from_hours(i64::from(h))
}

/// The refund a cancel by `actor` at `now` makes, given what is `left` of
/// the lesson's amount after earlier refunds. A student's cancel refunds in
/// full until `free_cancel_hours` before the start (that instant included),
/// then `late_cancel_refund_percent` of it (rounded down to the minor unit)
/// until the start; a teacher's refunds in full until the end; an admin's
/// may refund anything up to what is left.
pub fn cancel_quote(booking: &Booking, actor: Actor, now: Timestamp, left: u64) -> CancelQuote {
    let policy = booking.policy;
    let free_until = free_until(booking);
    let full = booking.amount.min(left);
    let (refund_amount, reason) = match (booking.status, actor) {
        (status, _) if status != BookingStatus::Confirmed => (0, Some(Refusal::BookingNotActive)),
        (_, Actor::Admin) => (full, None),
        (_, Actor::Teacher) if now < booking.end => (full, None),
        (_, Actor::Teacher) => (0, Some(Refusal::TooLateToCancel)),
        (_, Actor::Student) if now <= free_until => (full, None),
        (_, Actor::Student) if now < booking.start => (late_refund(booking.amount, policy.late_cancel_refund_percent).min(left), None),
        (_, Actor::Student) => (0, Some(Refusal::TooLateToCancel)),
    };
    // Where a paid lesson gets its money back in full, one paid with a
    // credit gets the credit back; a late cancel spends the credit and
    // refunds the policy's part of its value, as it would of a price.
    let late = actor == Actor::Student && now > free_until;
    let credit_back = booking.credit.is_some() && reason.is_none() && !late;
    let refund_amount = if credit_back { 0 } else { refund_amount };
    CancelQuote { allowed: reason.is_none(), refund_amount, credit_back, free_until, reason }
}

/// Until when a student's cancel refunds in full: `free_cancel_hours`
/// before the start, except that a move made once that deadline had passed
/// keeps it (a late reschedule must not buy a new free window); a move made
/// in time gives the new start its own. Derived from the moves the booking
/// keeps, so no stored deadline can disagree with them.
pub fn free_until(booking: &Booking) -> Timestamp {
    let notice = hours(booking.policy.free_cancel_hours);
    let mut kept: Option<Timestamp> = None;
    for moved in &booking.history {
        let deadline = kept.unwrap_or(moved.start - notice);
        kept = (moved.moved_at > deadline).then_some(deadline);
    }
    let own = booking.start - notice;
    kept.map_or(own, |deadline| deadline.min(own))
}

/// Whether the student may move the lesson now: until `reschedule_hours`
/// before the start (that instant included), `max_reschedules` times.
pub fn reschedule_quote(booking: &Booking, actor: Actor, now: Timestamp) -> RescheduleQuote {
    let policy = booking.policy;
    let until = booking.start - hours(policy.reschedule_hours);
    let remaining = policy.max_reschedules.saturating_sub(booking.reschedule_count);
    let reason = if booking.status != BookingStatus::Confirmed {
        Some(Refusal::BookingNotActive)
    } else if actor == Actor::Teacher {
        Some(Refusal::NotTheStudent)
    } else if now > until {
        Some(Refusal::TooLateToReschedule)
    } else if remaining == 0 {
        Some(Refusal::NoReschedulesLeft)
    } else {
        None
    };
    RescheduleQuote { allowed: reason.is_none(), until, remaining, reason }
}

/// `percent` of `amount` in minor units, rounded down: never more than the policy says.
fn late_refund(amount: u64, percent: u32) -> u64 {
    let exact = u128::from(amount) * u128::from(percent.min(100)) / 100;
    u64::try_from(exact).unwrap_or(amount)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{BookingId, CancellationPolicy, CheckoutId, Currency, TeacherId};
    use crate::store::RoomStatus;

    fn ts(raw: &str) -> Timestamp {
        raw.parse().unwrap()
    }

    fn booking(amount: u64, currency: &str, policy: CancellationPolicy) -> Booking {
        Booking {
            booking_id: BookingId::parse("bk_1").unwrap(),
            status: BookingStatus::Confirmed,
            payment_status: "paid".into(),
            room_status: RoomStatus::Ready,
            checkout_id: CheckoutId::parse("co_1").unwrap(),
            teacher_id: TeacherId::parse("t_anna").unwrap(),
            student_id: "s_1".into(),
            student_name: None,
            start: ts("2026-12-10T10:00:00Z"),
            end: ts("2026-12-10T11:00:00Z"),
            duration_minutes: 60,
            amount,
            currency: Currency::parse(currency).unwrap(),
            trial: false,
            created_at: ts("2026-12-01T10:00:00Z"),
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
            credit: None,
        }
    }

    fn policy(free: u32, percent: u32) -> CancellationPolicy {
        CancellationPolicy { free_cancel_hours: free, late_cancel_refund_percent: percent, ..CancellationPolicy::default() }
    }

    #[test]
    fn a_move_after_the_free_deadline_keeps_it_and_one_in_time_does_not() {
        use crate::store::Moved;
        let mut b = booking(3000, "eur", policy(48, 0));
        let first_deadline = ts("2026-12-08T10:00:00Z");
        assert_eq!(free_until(&b), first_deadline);
        let moved = |start: &str, at: &str| Moved { start: ts(start), end: ts(start) + SignedDuration::from_hours(1), moved_at: ts(at) };
        // Moved a second after the deadline, a week out: the old deadline stays, and the quote says so.
        b.history = vec![moved("2026-12-10T10:00:00Z", "2026-12-08T10:00:01Z")];
        b.start = ts("2026-12-17T10:00:00Z");
        assert_eq!(free_until(&b), first_deadline);
        assert_eq!(cancel_quote(&b, Actor::Student, ts("2026-12-09T10:00:00Z"), 3000).refund_amount, 0);
        // Moved again, later still: still the first deadline.
        b.history.push(moved("2026-12-17T10:00:00Z", "2026-12-12T10:00:00Z"));
        b.start = ts("2026-12-24T10:00:00Z");
        assert_eq!(free_until(&b), first_deadline);
        // Moved exactly at the deadline (still free): the new start's own deadline.
        b.history = vec![moved("2026-12-10T10:00:00Z", "2026-12-08T10:00:00Z")];
        b.start = ts("2026-12-17T10:00:00Z");
        assert_eq!(free_until(&b), ts("2026-12-15T10:00:00Z"));
        // A late move to an earlier start never moves the deadline later than the new start's.
        b.history = vec![moved("2026-12-10T10:00:00Z", "2026-12-09T10:00:00Z")];
        b.start = ts("2026-12-09T20:00:00Z");
        assert_eq!(free_until(&b), ts("2026-12-07T20:00:00Z"));
    }

    #[test]
    fn a_student_cancel_is_free_until_the_notice_to_the_second_then_late_then_refused() {
        let b = booking(3000, "eur", policy(24, 50));
        let free_until = ts("2026-12-09T10:00:00Z");
        assert_eq!(cancel_quote(&b, Actor::Student, free_until, 3000), CancelQuote { allowed: true, refund_amount: 3000, credit_back: false, free_until, reason: None });
        let late = cancel_quote(&b, Actor::Student, free_until + SignedDuration::from_secs(1), 3000);
        assert_eq!((late.allowed, late.refund_amount), (true, 1500));
        let last = cancel_quote(&b, Actor::Student, ts("2026-12-10T09:59:59Z"), 3000);
        assert_eq!((last.allowed, last.refund_amount), (true, 1500));
        let started = cancel_quote(&b, Actor::Student, b.start, 3000);
        assert_eq!((started.allowed, started.refund_amount, started.reason), (false, 0, Some(Refusal::TooLateToCancel)));
    }

    #[test]
    fn a_credit_comes_back_where_money_would_in_full_and_a_late_cancel_refunds_part_of_its_value() {
        let mut b = booking(2700, "eur", policy(24, 50));
        b.credit = Some(crate::store::CreditUse { grant_id: "gr_p".into(), payment_intent: "pi_p".into(), package_checkout: CheckoutId::parse("co_p").unwrap(), booked_by: None, index: 3 });
        let free = cancel_quote(&b, Actor::Student, ts("2026-12-09T10:00:00Z"), 2700);
        assert_eq!((free.allowed, free.credit_back, free.refund_amount), (true, true, 0));
        let late = cancel_quote(&b, Actor::Student, ts("2026-12-09T10:00:01Z"), 2700);
        assert_eq!((late.allowed, late.credit_back, late.refund_amount), (true, false, 1350), "the credit is spent; half its value goes back");
        for actor in [Actor::Teacher, Actor::Admin] {
            let quote = cancel_quote(&b, actor, ts("2026-12-10T10:30:00Z"), 2700);
            assert_eq!((quote.credit_back, quote.refund_amount), (true, 0), "{actor:?}");
        }
        let refused = cancel_quote(&b, Actor::Student, b.start, 2700);
        assert_eq!((refused.allowed, refused.credit_back), (false, false));
    }

    #[test]
    fn a_late_refund_rounds_down_to_the_minor_unit_in_any_currency() {
        let late = ts("2026-12-10T09:00:00Z");
        assert_eq!(cancel_quote(&booking(999, "jpy", policy(24, 50)), Actor::Student, late, 999).refund_amount, 499, "yen have no minor unit below one");
        assert_eq!(cancel_quote(&booking(1999, "eur", policy(24, 33)), Actor::Student, late, 1999).refund_amount, 659, "cents: 659.67 rounds down");
        assert_eq!(cancel_quote(&booking(1999, "eur", policy(24, 0)), Actor::Student, late, 1999), CancelQuote { allowed: true, refund_amount: 0, credit_back: false, free_until: ts("2026-12-09T10:00:00Z"), reason: None });
        assert_eq!(cancel_quote(&booking(1999, "eur", policy(24, 100)), Actor::Student, late, 1999).refund_amount, 1999);
    }

    #[test]
    fn teachers_refund_in_full_until_the_end_and_nobody_refunds_more_than_is_left() {
        let b = booking(3000, "eur", policy(24, 0));
        assert_eq!(cancel_quote(&b, Actor::Teacher, ts("2026-12-10T10:59:59Z"), 3000).refund_amount, 3000);
        assert_eq!(cancel_quote(&b, Actor::Teacher, b.end, 3000).reason, Some(Refusal::TooLateToCancel));
        assert_eq!(cancel_quote(&b, Actor::Student, ts("2026-12-01T00:00:00Z"), 1200).refund_amount, 1200, "part went back already");
        assert_eq!(cancel_quote(&b, Actor::Admin, ts("2026-12-31T00:00:00Z"), 3000).refund_amount, 3000, "an admin may cancel any time");
        let cancelled = Booking { status: BookingStatus::Cancelled, ..b };
        assert_eq!(cancel_quote(&cancelled, Actor::Admin, ts("2026-12-01T00:00:00Z"), 3000).reason, Some(Refusal::BookingNotActive));
    }

    #[test]
    fn each_refusal_has_its_own_code_as_serialized_and_a_message() {
        let all = [Refusal::BookingNotActive, Refusal::TooLateToCancel, Refusal::TooLateToReschedule, Refusal::NoReschedulesLeft, Refusal::NotTheStudent, Refusal::SlotUnavailable];
        let codes: std::collections::BTreeSet<&str> = all.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), all.len());
        for refusal in all {
            assert_eq!(serde_json::to_value(refusal).unwrap(), refusal.code(), "the quote's reason and the 409's code agree");
            assert!(refusal.message().len() > 20 && !refusal.message().contains(refusal.code()), "{}", refusal.message());
        }
    }

    #[test]
    fn a_student_reschedules_until_the_notice_as_often_as_the_policy_allows() {
        let b = booking(3000, "eur", CancellationPolicy { reschedule_hours: 12, max_reschedules: 2, ..CancellationPolicy::default() });
        let until = ts("2026-12-09T22:00:00Z");
        assert_eq!(reschedule_quote(&b, Actor::Student, until), RescheduleQuote { allowed: true, until, remaining: 2, reason: None });
        assert_eq!(reschedule_quote(&b, Actor::Student, until + SignedDuration::from_secs(1)).reason, Some(Refusal::TooLateToReschedule));
        let twice = Booking { reschedule_count: 2, ..b.clone() };
        assert_eq!((reschedule_quote(&twice, Actor::Student, until).remaining, reschedule_quote(&twice, Actor::Student, until).reason), (0, Some(Refusal::NoReschedulesLeft)));
        assert_eq!(reschedule_quote(&b, Actor::Teacher, until).reason, Some(Refusal::NotTheStudent));
        assert!(reschedule_quote(&b, Actor::Admin, until).allowed);
    }
}
