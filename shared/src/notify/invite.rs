//! Calendar invites (iTIP over e-mail, RFC 5546 and RFC 6047): one `UID`
//! per lesson for life, the booking's `SEQUENCE` (raised with each change
//! of its time or status, so calendars apply the newest), `METHOD:REQUEST`
//! for a new or moved lesson and `METHOD:CANCEL` with `STATUS:CANCELLED`
//! for a cancelled one. Times in UTC. Each invite names only its reader as
//! attendee: a teacher's address is never shown to a student.

use icalendar::{Calendar, Component, Event, EventLike, EventStatus, Property};
use jiff::Timestamp;

use super::facts::{Lesson, Reader};
use super::text;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Request,
    Cancel,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "REQUEST",
            Self::Cancel => "CANCEL",
        }
    }
}

/// One lesson's invite, as the text of a `text/calendar` part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub method: Method,
    pub ics: String,
}

/// The lesson's calendar UID: the same in every mail and in the feed.
pub fn uid(lesson: &Lesson, mail_domain: &str) -> String {
    format!("{}@{mail_domain}", lesson.booking_id)
}

fn utc(at: Timestamp) -> String {
    at.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// The VEVENT of a lesson titled `summary`, with `reader` as its one
/// attendee when it goes to them by mail (the feed's events have none).
pub fn event(lesson: &Lesson, summary: &str, reader: Option<&Reader>, organizer: &str, mail_domain: &str, join_url: &str, now: Timestamp) -> Event {
    let cancelled = lesson.status == crate::store::BookingStatus::Cancelled;
    let mut event = Event::new();
    event
        .uid(&uid(lesson, mail_domain))
        .sequence(lesson.sequence)
        .add_property("DTSTAMP", utc(now))
        .add_property("DTSTART", utc(lesson.start))
        .add_property("DTEND", utc(lesson.end))
        .summary(summary)
        .description(&text::invite_description(join_url))
        .url(join_url)
        .location(join_url)
        .status(if cancelled { EventStatus::Cancelled } else { EventStatus::Confirmed });
    event.append_property(Property::new("ORGANIZER", format!("mailto:{organizer}")).add_parameter("CN", text::PLATFORM_NAME).done());
    if let Some(reader) = reader {
        let status = if cancelled { "DECLINED" } else { "ACCEPTED" };
        event.append_multi_property(
            Property::new("ATTENDEE", format!("mailto:{}", reader.address)).add_parameter("CN", &reader.name.replace(['"', ';', ':', ','], " ")).add_parameter("ROLE", "REQ-PARTICIPANT").add_parameter("PARTSTAT", status).done(),
        );
    }
    event.done()
}

/// The invite of one lesson for `reader`, by the lesson's state: a
/// cancelled lesson is cancelled in the reader's calendar.
pub fn invite(lesson: &Lesson, reader: &Reader, organizer: &str, mail_domain: &str, join_url: &str, now: Timestamp) -> Invite {
    let method = if lesson.status == crate::store::BookingStatus::Cancelled { Method::Cancel } else { Method::Request };
    let mut calendar = Calendar::new();
    calendar.append_property(("METHOD", method.as_str()));
    calendar.push(event(lesson, &text::invite_summary(lesson, reader), Some(reader), organizer, mail_domain, join_url, now));
    Invite { method, ics: calendar.done().to_string() }
}
