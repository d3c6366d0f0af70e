//! Mail for the tests: the SES emulator, notify wired to it as deployed
//! (signing as `fn-notify`, so its policy is enforced), and what it
//! received parsed by parsers of their own (mail-parser for the MIME, ical
//! for the invites), not by the crates that built them.

use mail_parser::{MessageParser, MimeHeaders};
use serde_json::{Value, json};
use shared::notify::{MailConfig, Mailer, Notifier};

use crate::{CheckoutEnv, FRONTEND};

pub const MAIL_FROM: &str = "lessons@mail.lessons.test";
pub const MAIL_DOMAIN: &str = "lessons.test";
pub const OPERATOR: &str = "ops@lessons.test";

/// SES with the sending domain verified.
pub async fn start_ses() -> emulators::ses::SesEmulator {
    emulators::ses::SesEmulator::start(emulators::ses::SesEmulatorConfig { port: 0, verified: vec!["mail.lessons.test".into()] }).await.expect("SES emulator")
}

pub fn mail_config() -> MailConfig {
    MailConfig {
        from: shared::domain::EmailAddress::parse(MAIL_FROM).expect("address"),
        domain: MAIL_DOMAIN.into(),
        operator: Some(shared::domain::EmailAddress::parse(OPERATOR).expect("address")),
        app_url: FRONTEND.into(),
    }
}

impl CheckoutEnv {
    /// notify as deployed, on this table, sending through `ses`.
    pub fn notifier(&self, ses: &emulators::ses::SesEmulator) -> Notifier {
        Notifier { store: self.db.store_of("notify"), mailer: Mailer::local(&ses.endpoint()).expect("SES client"), config: mail_config() }
    }
}

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

/// Every mail SES accepted, in order.
pub async fn received(ses: &emulators::ses::SesEmulator) -> Vec<Received> {
    let all: Value = reqwest::get(format!("{}messages", ses.control_url())).await.expect("SES messages").json().await.expect("json");
    all["messages"].as_array().expect("messages").iter().map(|m| read_mail(m["raw"].as_str().expect("raw"))).collect()
}

/// Every SendEmail call SES answered, accepted or not.
pub async fn send_attempts(ses: &emulators::ses::SesEmulator) -> u64 {
    let all: Value = reqwest::get(format!("{}messages", ses.control_url())).await.expect("SES messages").json().await.expect("json");
    all["attempts"].as_u64().expect("attempts")
}

/// Makes SES throttle, fail or reject (see the emulator).
pub async fn ses_faults(ses: &emulators::ses::SesEmulator, faults: Value) {
    let status = reqwest::Client::new().post(format!("{}faults", ses.control_url())).json(&faults).send().await.expect("faults").status();
    assert!(status.is_success(), "{status}");
}

/// Clears the faults.
pub async fn ses_healthy(ses: &emulators::ses::SesEmulator) {
    ses_faults(ses, json!({})).await;
}
