//! Reading what notify sent, with parsers of its own (mail-parser for the
//! MIME, ical for the invites), not the crates that built it (lettre,
//! icalendar): the tests and `make demo` check mails as a mail client and a
//! calendar would read them.

use mail_parser::{MessageParser, MimeHeaders};

/// One invite as a calendar reads it.
#[derive(Debug, Clone)]
pub struct ReadInvite {
    /// The `method=` of the part's Content-Type.
    pub part_method: Option<String>,
    /// The calendar's METHOD.
    pub method: Option<String>,
    pub uid: Option<String>,
    pub sequence: Option<u32>,
    pub status: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub attendees: Vec<String>,
    pub url: Option<String>,
}

/// One mail as its reader sees it.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub invites: Vec<ReadInvite>,
    pub raw: String,
}

fn property(properties: &[ical::property::Property], name: &str) -> Option<String> {
    properties.iter().find(|p| p.name == name).and_then(|p| p.value.clone())
}

/// Parses an iCalendar text with the ical crate.
pub fn read_invite(ics: &str, part_method: Option<String>) -> ReadInvite {
    let calendar = ical::IcalParser::new(std::io::BufReader::new(ics.as_bytes())).next().expect("one calendar").expect("a valid calendar");
    let event = calendar.events.first().expect("one event");
    ReadInvite {
        part_method,
        method: property(&calendar.properties, "METHOD"),
        uid: property(&event.properties, "UID"),
        sequence: property(&event.properties, "SEQUENCE").and_then(|s| s.parse().ok()),
        status: property(&event.properties, "STATUS"),
        start: property(&event.properties, "DTSTART"),
        end: property(&event.properties, "DTEND"),
        attendees: event.properties.iter().filter(|p| p.name == "ATTENDEE").filter_map(|p| p.value.clone()).collect(),
        url: property(&event.properties, "URL"),
    }
}

/// Parses a raw message with mail-parser.
pub fn read_mail(raw: &str) -> Received {
    let message = MessageParser::default().parse(raw.as_bytes()).expect("a MIME message");
    let to = message.to().and_then(|a| a.first()).and_then(|a| a.address()).unwrap_or_default().to_owned();
    let invites = message
        .parts
        .iter()
        .filter(|part| part.content_type().is_some_and(|ct| ct.ctype() == "text" && ct.subtype() == Some("calendar")))
        .map(|part| {
            let method = part.content_type().and_then(|ct| ct.attribute("method")).map(str::to_owned);
            let ics = part.text_contents().map(str::to_owned).unwrap_or_else(|| String::from_utf8_lossy(part.contents()).into_owned());
            read_invite(&ics, method)
        })
        .collect();
    Received { to, subject: message.subject().unwrap_or_default().to_owned(), text: message.body_text(0).map(|t| t.into_owned()).unwrap_or_default(), invites, raw: raw.to_owned() }
}

