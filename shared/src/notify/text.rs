//! Every word the notices say, in English; a translation is a copy of this
//! file. Nothing here decides anything: it turns facts into sentences.

use jiff::Timestamp;

use super::facts::{Lesson, Reader};
use crate::domain::Money;
use crate::store::{BookingStatus, CancelledBy, Stage};

/// `Monday 7 December 2026, 14:00–15:00 (Europe/Berlin)`, in the reader's zone.
pub fn when(lesson: &Lesson, reader: &Reader) -> String {
    let start = reader.zone.to_datetime(lesson.start);
    let end = reader.zone.to_datetime(lesson.end);
    format!("{}–{} ({})", start.strftime("%A %-d %B %Y, %H:%M"), end.strftime("%H:%M"), reader.zone_name)
}

fn with_whom(lesson: &Lesson, reader: &Reader) -> String {
    if reader.is_teacher { format!("with {}", lesson.student_name) } else { format!("with {}", lesson.teacher_name) }
}

/// A line per lesson: when, with whom.
pub fn lesson_line(lesson: &Lesson, reader: &Reader) -> String {
    format!("- {}, {} ({} minutes)", when(lesson, reader), with_whom(lesson, reader), lesson.duration_minutes)
}

pub fn greeting(reader: &Reader) -> String {
    format!("Hello {},", reader.name)
}

pub fn join_line(url: &str) -> String {
    format!("Join the lesson from your lessons page: {url}")
}

pub fn zone_note(reader: &Reader) -> Option<String> {
    reader.zone_is_default.then(|| "Times are in UTC: we do not know your time zone yet (your next booking from the web app tells us).".to_owned())
}

pub fn unverified_note(reader: &Reader) -> Option<String> {
    reader.unverified.then(|| "This address has not been verified with your sign-in provider.".to_owned())
}

pub fn sign_off() -> &'static str {
    "See you in class,\nThe lessons team"
}

pub fn confirmed_subject(lessons: usize, reader: &Reader) -> String {
    match (reader.is_teacher, lessons) {
        (false, 1) => "Your lesson is booked".into(),
        (false, n) => format!("Your {n} lessons are booked"),
        (true, 1) => "New booking: 1 lesson".into(),
        (true, n) => format!("New booking: {n} lessons"),
    }
}

pub fn confirmed_intro(reader: &Reader, student: &str) -> String {
    if reader.is_teacher { format!("{student} booked with you:") } else { "Your booking is confirmed:".into() }
}

pub fn invite_note(count: usize) -> String {
    if count == 1 { "The calendar invite is attached; it updates if the lesson moves or is cancelled.".into() } else { "A calendar invite for each lesson is attached; each updates if its lesson moves or is cancelled.".into() }
}

pub fn rescheduled_subject(lesson: &Lesson, reader: &Reader) -> String {
    format!("Lesson moved: now {}", when(lesson, reader))
}

pub fn rescheduled_body(lesson: &Lesson, reader: &Reader, was: Option<Timestamp>) -> String {
    let now = format!("Your lesson {} is now on {}.", with_whom(lesson, reader), when(lesson, reader));
    match was {
        Some(was) => {
            let old = Lesson { start: was, end: was + (lesson.end - lesson.start), ..lesson.clone() };
            format!("{now}\nIt was on {}.", when(&old, reader))
        }
        None => now,
    }
}

pub fn cancelled_subject(lesson: &Lesson, reader: &Reader) -> String {
    format!("Lesson cancelled: {}", when(lesson, reader))
}

pub fn cancelled_by(by: Option<CancelledBy>, reader: &Reader) -> &'static str {
    match (by, reader.is_teacher) {
        (Some(CancelledBy::Student), false) | (Some(CancelledBy::Teacher), true) => "You cancelled it.",
        (Some(CancelledBy::Student), true) => "The student cancelled it.",
        (Some(CancelledBy::Teacher), false) => "Your teacher cancelled it.",
        (Some(CancelledBy::Admin), _) => "Our support team cancelled it.",
        (Some(CancelledBy::Refund), _) => "Its payment was refunded.",
        (Some(CancelledBy::Dispute), _) => "Its payment was disputed with the card's bank.",
        (None, _) => "It was cancelled.",
    }
}

/// What happens to the money of a cancelled or missed lesson.
pub fn refund_line(lesson: &Lesson, reader: &Reader) -> String {
    match (lesson.refund, lesson.cancelled_by, reader.is_teacher) {
        _ if lesson.credit_back && reader.is_teacher => "The student's package credit goes back to them.".into(),
        _ if lesson.credit_back => "Your package credit is back: book another lesson with it before it expires.".into(),
        (Some(money), _, false) => format!("{money} is refunded to the card you paid with. Refunds usually arrive within 5 to 10 business days, depending on your bank."),
        (Some(money), _, true) => format!("The student is refunded {money}."),
        (None, _, _) if !lesson.paid => "The lesson was free, so there is nothing to refund.".into(),
        (None, Some(CancelledBy::Dispute), false) => "Your bank took the payment back, so there is nothing for us to refund.".into(),
        (None, Some(CancelledBy::Dispute), true) => "The student's bank took the payment back.".into(),
        (None, Some(CancelledBy::Refund), _) => "The payment was refunded in full.".into(),
        (None, _, false) => "Under the teacher's cancellation policy, nothing is refunded.".into(),
        (None, _, true) => "Under your cancellation policy, the student is not refunded.".into(),
    }
}

pub fn outcome_subject(status: BookingStatus, lesson: &Lesson, reader: &Reader) -> String {
    let what = match status {
        BookingStatus::TeacherNoShow => "teacher did not attend",
        _ => "student did not attend",
    };
    format!("Lesson of {}: {what}", when(lesson, reader))
}

pub fn outcome_body(status: BookingStatus, lesson: &Lesson, reader: &Reader) -> String {
    match (status, reader.is_teacher) {
        (BookingStatus::TeacherNoShow, false) => format!("Your teacher did not join the lesson. {}", refund_line(lesson, reader)),
        (BookingStatus::TeacherNoShow, true) => format!("You did not join the lesson, so it is counted as missed. {}", refund_line(lesson, reader)),
        (_, false) => "You did not join the lesson; under the teacher's policy it counts as taken and is not refunded.".into(),
        (_, true) => "The student did not join the lesson; it counts as taken.".into(),
    }
}

pub fn reminder_subject(stage: Stage, lesson: &Lesson, reader: &Reader) -> String {
    let lead = match stage {
        Stage::DayBefore => "tomorrow",
        Stage::HourBefore => "in one hour",
    };
    format!("Reminder: your lesson {} is {lead}", with_whom(lesson, reader))
}

pub fn reminder_body(lesson: &Lesson, reader: &Reader) -> String {
    format!("Your lesson {} is on {}.", with_whom(lesson, reader), when(lesson, reader))
}

pub fn refund_failed_subject(obligation: &str) -> String {
    format!("Refund failed: {obligation}")
}

pub fn refund_failed_body(obligation: &str, amount: Money, payment: &str, error: Option<&str>) -> String {
    format!(
        "A refund of {amount} on payment {payment} did not reach the student (obligation {obligation}; Stripe said: {}).\nThe student has not been told. See `make attention` and reach the student.",
        error.unwrap_or("no reason given")
    )
}

pub fn transferred_subject(amount: Money) -> String {
    format!("You were paid {amount}")
}

pub fn transferred_body(amount: Money, lesson: &Lesson, reader: &Reader, transfer: &str) -> String {
    format!(
        "{amount} for your lesson {} on {} is now in your Stripe account (transfer {transfer}). Stripe pays it out to your bank on your payout schedule; your Earnings page lists every lesson.",
        with_whom(lesson, reader),
        when(lesson, reader)
    )
}

pub fn credits_expiring_subject(grant: &crate::store::Grant) -> String {
    format!("Your lesson credits with {} expire soon", grant.teacher_name)
}

pub fn credits_expiring_body(grant: &crate::store::Grant, reader: &Reader) -> String {
    let left = grant.remaining();
    let plural = if left == 1 { "" } else { "s" };
    let date = grant.expires_at.to_zoned_datetime(reader.zone.clone()).strftime("%A %-d %B %Y, %H:%M");
    format!(
        "You have {left} unused credit{plural} for {}-min lessons with {}. They expire on {date} ({}). Book your lessons before then: credits unused at expiry are not refunded, they go to your teacher for the time they kept for you.",
        grant.duration_minutes, grant.teacher_name, reader.zone_name
    )
}

pub fn invite_summary(lesson: &Lesson, reader: &Reader) -> String {
    format!("Lesson {}", with_whom(lesson, reader))
}

/// A feed's event: its owner is the teacher or the student of it.
pub fn feed_summary(lesson: &Lesson, owner_teaches: bool) -> String {
    if owner_teaches { format!("Lesson with {}", lesson.student_name) } else { format!("Lesson with {}", lesson.teacher_name) }
}

pub const FEED_NAME: &str = "Lessons";

pub fn invite_description(url: &str) -> String {
    format!("Join from your lessons page: {url}")
}

pub const PLATFORM_NAME: &str = "Lessons";
