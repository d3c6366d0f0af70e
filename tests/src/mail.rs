//! Mail for the tests: the SES emulator, notify wired to it as deployed
//! (signing as `fn-notify`, so its policy is enforced), and what it
//! received, parsed as `local_stack::mail` reads it.

use serde_json::{Value, json};
use shared::notify::{MailConfig, Mailer, Notifier};

use crate::{CheckoutEnv, FRONTEND};

pub const MAIL_FROM: &str = "lessons@mail.lessons.test";
pub const MAIL_DOMAIN: &str = "lessons.test";
pub const OPERATOR: &str = "ops@lessons.test";

/// SES with the sending domain verified.
pub async fn start_ses() -> emulators::ses::SesEmulator {
    emulators::ses::SesEmulator::start(emulators::ses::SesEmulatorConfig { port: 0, verified: vec!["mail.lessons.test".into()], forward_to: None }).await.expect("SES emulator")
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
        let store = self.db.store_of("notify");
        let subscribers = shared::outbound::Subscribers { store: store.clone(), policy: shared::outbound::TargetPolicy { allow_loopback: true } };
        Notifier { store, mailer: Mailer::local(&ses.endpoint()).expect("SES client"), config: mail_config(), subscribers }
    }
}

pub use local_stack::mail::{ReadInvite, Received, read_invite, read_mail};

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
