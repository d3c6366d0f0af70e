//! The mail settings, read once at start-up.

use crate::config::Env;
use crate::domain::EmailAddress;

#[derive(Debug, Clone)]
pub struct MailConfig {
    /// The sender: an SES identity verified for sending.
    pub from: EmailAddress,
    /// Calendar UIDs are `<booking id>@<domain>`: never change it once mails went out.
    pub domain: String,
    /// Where refund failures are reported; unset: only `make attention` shows them.
    pub operator: Option<EmailAddress>,
    /// The web app's address; mails link to its lessons page.
    pub app_url: String,
}

fn address(raw: &str) -> Result<EmailAddress, String> {
    EmailAddress::parse(raw).map_err(|e| e.to_string())
}

impl MailConfig {
    pub fn read(env: &mut Env) -> Option<Self> {
        let from = env.required("MAIL_FROM", "the sender address, an identity verified in SES (SES console > Identities)", address);
        let domain = env.required("MAIL_DOMAIN", "your domain, e.g. lessons.example.com: the right-hand side of calendar UIDs; never change it later", |s| {
            if s.contains(['@', ' ', '/']) || !s.contains('.') { Err("must be a domain name like lessons.example.com".into()) } else { Ok(s.to_ascii_lowercase()) }
        });
        let operator = env.optional("MAIL_OPERATOR", "who is told of refunds that failed", address);
        let app_url = env.required("APP_URL", "your web app's address, e.g. https://app.example.com (mails link to its /lessons page)", |s| {
            let url = reqwest::Url::parse(s).map_err(|e| format!("not a URL: {e}"))?;
            if matches!(url.scheme(), "https" | "http") { Ok(s.trim_end_matches('/').to_owned()) } else { Err("must be an http(s) URL".into()) }
        });
        Some(Self { from: from?, domain: domain?, operator, app_url: app_url? })
    }

    /// Where a reader joins their lessons.
    pub fn join_url(&self) -> String {
        format!("{}/lessons", self.app_url)
    }
}
