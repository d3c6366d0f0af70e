//! What a notice says to each of its readers, decided against the present:
//! a notice about a booking that has changed since is sent as the booking
//! now is, or not at all when a later notice supersedes it.

use jiff::Timestamp;

use super::config::MailConfig;
use super::facts::{BookingFacts, Lesson, Reader};
use super::invite::invite;
use super::mailer::Letter;
use super::text;
use crate::domain::{BookingId, CheckoutId, Money};
use crate::store::{BookingStatus, Notice, Recipient, Store, StoreError, Topic};

/// What to do with a claimed notice.
pub enum Plan {
    /// Each reader's key (`student`, `teacher`, `operator`) and letter.
    Send(Vec<(&'static str, Letter)>),
    /// Nothing to send, and why.
    Skip(String),
}

fn skip(why: impl Into<String>) -> Result<Plan, StoreError> {
    Ok(Plan::Skip(why.into()))
}

fn body(reader: &Reader, paragraphs: Vec<String>) -> String {
    let mut all = vec![text::greeting(reader)];
    all.extend(paragraphs);
    all.extend(text::zone_note(reader));
    all.extend(text::unverified_note(reader));
    all.push(text::sign_off().to_owned());
    all.join("\n\n")
}

pub struct Composer<'a> {
    pub store: &'a Store,
    pub config: &'a MailConfig,
    pub now: Timestamp,
}

impl Composer<'_> {
    pub async fn plan(&self, notice: &Notice) -> Result<Plan, StoreError> {
        match notice.topic {
            Topic::Confirmed => self.confirmed(notice).await,
            Topic::RefundFailed => self.refund_failed(notice).await,
            Topic::Transferred => self.transferred(notice).await,
            Topic::CreditsExpiring => self.credits_expiring(notice).await,
            _ => self.booking_change(notice).await,
        }
    }

    fn letter(&self, reader: &Reader, subject: String, paragraphs: Vec<String>, lessons: &[&Lesson]) -> Letter {
        let invites = lessons.iter().map(|l| invite(l, reader, self.config.from.as_str(), &self.config.domain, &self.config.join_url(), self.now)).collect();
        Letter { to: reader.address.clone(), subject, body: body(reader, paragraphs), invites }
    }

    async fn confirmed(&self, notice: &Notice) -> Result<Plan, StoreError> {
        let Ok(id) = CheckoutId::parse(&notice.subject) else { return skip("not a checkout id") };
        let Some(checkout) = self.store.get_checkout(&id).await? else { return skip("checkout gone") };
        let mut bookings = Vec::new();
        for booking_id in &checkout.booking_ids {
            if let Some(facts) = BookingFacts::read(self.store, booking_id).await? {
                let ours = match &notice.recipient {
                    Recipient::Teacher(teacher) => facts.booking.teacher_id == *teacher,
                    _ => true,
                };
                // A lesson cancelled before this mail left is told by its own notice.
                if ours && facts.booking.status == BookingStatus::Confirmed {
                    bookings.push(facts);
                }
            }
        }
        let Some(first) = bookings.first() else { return skip("no lesson of it is still booked") };
        let reader = match &notice.recipient {
            Recipient::Teacher(_) => first.teacher(),
            _ => Reader::student(&checkout),
        };
        let Some(reader) = reader else { return skip("no address") };
        let lessons: Vec<Lesson> = bookings.iter().map(BookingFacts::lesson).collect();
        let student = lessons[0].student_name.clone();
        let mut paragraphs = vec![text::confirmed_intro(&reader, &student)];
        paragraphs.push(lessons.iter().map(|l| text::lesson_line(l, &reader)).collect::<Vec<_>>().join("\n"));
        paragraphs.push(text::join_line(&self.config.join_url()));
        paragraphs.push(text::invite_note(lessons.len()));
        let key = if reader.is_teacher { "teacher" } else { "student" };
        let refs: Vec<&Lesson> = lessons.iter().collect();
        Ok(Plan::Send(vec![(key, self.letter(&reader, text::confirmed_subject(lessons.len(), &reader), paragraphs, &refs))]))
    }

    async fn booking_change(&self, notice: &Notice) -> Result<Plan, StoreError> {
        let Ok(id) = BookingId::parse(&notice.subject) else { return skip("not a booking id") };
        let Some(facts) = BookingFacts::read(self.store, &id).await? else { return skip("booking gone") };
        let booking = &facts.booking;
        let lesson = facts.lesson();
        match notice.topic {
            Topic::Rescheduled | Topic::Outcome if notice.sequence < booking.sequence => return skip("superseded by a later change"),
            Topic::Outcome if !matches!(booking.status, BookingStatus::TeacherNoShow | BookingStatus::StudentNoShow) => return skip("no longer a no-show"),
            Topic::Reminder if booking.status != BookingStatus::Confirmed => return skip("the lesson is no longer booked"),
            Topic::Reminder if Some(booking.start) != notice.lesson_start => return skip("the lesson moved"),
            Topic::Reminder if booking.start <= self.now => return skip("the lesson has started"),
            _ => {}
        }
        let readers: Vec<(&'static str, Option<Reader>)> = match &notice.recipient {
            Recipient::Student => vec![("student", facts.student())],
            Recipient::Teacher(_) => vec![("teacher", facts.teacher())],
            Recipient::Parties => vec![("student", facts.student()), ("teacher", facts.teacher())],
            Recipient::Operator | Recipient::Webhooks => return skip("not a mail to a party"),
        };
        let untold: Vec<(&'static str, Option<Reader>)> = readers.into_iter().filter(|(key, _)| !notice.told.iter().any(|t| t == key)).collect();
        // Everyone was told before the record of it was lost: nothing to send, and the reminder goes on.
        if untold.is_empty() {
            return Ok(Plan::Send(Vec::new()));
        }
        let letters: Vec<(&'static str, Letter)> = untold.into_iter().filter_map(|(key, reader)| reader.map(|r| (key, self.change_letter(notice, &lesson, &r)))).collect();
        if letters.is_empty() {
            return skip("no address");
        }
        Ok(Plan::Send(letters))
    }

    fn change_letter(&self, notice: &Notice, lesson: &Lesson, reader: &Reader) -> Letter {
        let join = text::join_line(&self.config.join_url());
        match notice.topic {
            Topic::Rescheduled => self.letter(reader, text::rescheduled_subject(lesson, reader), vec![text::rescheduled_body(lesson, reader, lesson.was), join], &[lesson]),
            Topic::Cancelled => {
                let paragraphs = vec![text::cancelled_by(lesson.cancelled_by, reader).to_owned(), text::refund_line(lesson, reader)];
                self.letter(reader, text::cancelled_subject(lesson, reader), paragraphs, &[lesson])
            }
            Topic::Outcome => self.letter(reader, text::outcome_subject(lesson.status, lesson, reader), vec![text::outcome_body(lesson.status, lesson, reader)], &[]),
            _ => {
                let stage = notice.stage.unwrap_or(crate::store::Stage::HourBefore);
                self.letter(reader, text::reminder_subject(stage, lesson, reader), vec![text::reminder_body(lesson, reader), join], &[])
            }
        }
    }

    /// The teacher's mail for a transfer of a lesson's earning, with the
    /// amount as recorded with the transfer.
    async fn transferred(&self, notice: &Notice) -> Result<Plan, StoreError> {
        let Some(intent) = &notice.payment_intent else { return skip("no payment named") };
        let Ok(id) = BookingId::parse(&notice.subject) else { return skip("not a booking id") };
        let ledger = self.store.ledger(intent).await?;
        let Some(earning) = ledger.earnings.iter().find(|e| e.booking_id == id) else { return skip("earning gone") };
        let Some(transfer) = &earning.provider_id else { return skip("not transferred") };
        let Some(facts) = BookingFacts::read(self.store, &id).await? else { return skip("booking gone") };
        let Some(reader) = facts.teacher() else { return skip("no address") };
        let amount = Money::new(earning.transferred, earning.currency);
        let body = vec![text::transferred_body(amount, &facts.lesson(), &reader, transfer)];
        Ok(Plan::Send(vec![("teacher", self.letter(&reader, text::transferred_subject(amount), body, &[]))]))
    }

    /// The student's reminder that a grant's credits expire: as many as are
    /// left when it is sent, none once they are used, refunded or expired.
    async fn credits_expiring(&self, notice: &Notice) -> Result<Plan, StoreError> {
        let Some(intent) = &notice.payment_intent else { return skip("no payment named") };
        let Some(grant) = self.store.grant_of_payment(intent).await? else { return skip("grant gone") };
        if grant.remaining() == 0 || grant.stage.is_none() || grant.expires_at <= self.now {
            return skip("no credits left to expire");
        }
        let Some(checkout) = self.store.get_checkout(&grant.checkout_id).await? else { return skip("package checkout gone") };
        let Some(reader) = Reader::student(&checkout) else { return skip("no address") };
        let body = vec![text::credits_expiring_body(&grant, &reader)];
        Ok(Plan::Send(vec![("student", self.letter(&reader, text::credits_expiring_subject(&grant), body, &[]))]))
    }

    async fn refund_failed(&self, notice: &Notice) -> Result<Plan, StoreError> {
        let Some(operator) = &self.config.operator else { return skip("MAIL_OPERATOR is not set") };
        let Some(intent) = &notice.payment_intent else { return skip("no payment named") };
        let ledger = self.store.ledger(intent).await?;
        let Some(obligation) = ledger.obligations.iter().find(|o| o.obligation_id == notice.subject) else { return skip("obligation gone") };
        let reader = Reader::operator(operator);
        let body = text::refund_failed_body(&obligation.obligation_id, Money::new(obligation.amount, obligation.currency), intent, obligation.error.as_deref());
        Ok(Plan::Send(vec![("operator", Letter { to: reader.address.clone(), subject: text::refund_failed_subject(&obligation.obligation_id), body, invites: Vec::new() })]))
    }
}
