//! Account Links: the single-use, short-lived URL of a connected account's
//! onboarding. As on Stripe, a link works once and for 300 seconds; a used
//! or expired one sends its visitor to `refresh_url`, where the platform must
//! mint a new one, so that path is the one tests exercise.

use serde_json::{Value, json};

use super::accounts::Account;
use super::error::ApiError;
use super::events::Origin;
use super::form::Params;
use super::sessions::{only_known, string_at, url_param};
use super::state::{Emulator, InnerRef, new_id};

pub const LINK_LIFETIME_SECS: i64 = 300;
const KNOWN: [&str; 5] = ["account", "type", "refresh_url", "return_url", "expand"];
const TYPES: [&str; 2] = ["account_onboarding", "account_update"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Fresh,
    /// Its page was shown: the link is spent, but the form on it may still be sent.
    Opened,
    /// Its form was sent.
    Used,
}

#[derive(Debug, Clone)]
pub struct AccountLink {
    pub id: String,
    pub account: String,
    pub refresh_url: String,
    pub return_url: String,
    pub created: i64,
    pub expires_at: i64,
    pub state: LinkState,
}

/// A valid `POST /v1/account_links`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSpec {
    pub account: String,
    pub kind: &'static str,
    pub refresh_url: String,
    pub return_url: String,
}

pub fn parse(params: &Params) -> Result<LinkSpec, ApiError> {
    only_known(params, &KNOWN, "")?;
    let account = string_at(params.get("account"), "account")?.ok_or_else(|| ApiError::missing("account"))?.to_owned();
    let raw_kind = string_at(params.get("type"), "type")?.ok_or_else(|| ApiError::missing("type"))?;
    let kind = TYPES
        .into_iter()
        .find(|k| *k == raw_kind)
        .ok_or_else(|| ApiError::invalid(format!("Invalid type: must be one of {}", TYPES.join(" or ")), "type", None))?;
    let refresh_url = url_param(params, "refresh_url")?.ok_or_else(|| ApiError::missing("refresh_url"))?;
    let return_url = url_param(params, "return_url")?.ok_or_else(|| ApiError::missing("return_url"))?;
    Ok(LinkSpec { account, kind, refresh_url, return_url })
}

/// What visiting or submitting a link comes to.
#[derive(Debug, Clone)]
pub enum LinkVisit {
    /// Show the onboarding form.
    Page { link: AccountLink, account: Value },
    /// 303 to this URL: `return_url` after the form, `refresh_url` for a spent or expired link.
    Redirect(String),
    NotFound,
}

/// The onboarding form's two outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submission {
    /// Everything given and verified: the account can receive transfers and payouts.
    Verified,
    /// Submitted, but verification failed: the account stays restricted.
    Unverified,
}

impl Emulator {
    pub fn create_account_link(&self, inner: &mut InnerRef<'_>, spec: LinkSpec, now: i64) -> Result<Value, ApiError> {
        let inner = inner.get();
        let account = inner.connect.accounts.get(&spec.account).ok_or_else(|| self.account_invalid(&spec.account))?;
        // Stripe-hosted onboarding collects updates itself; `account_update`
        // links are for platforms that collect requirements.
        if spec.kind == "account_update" && account.spec.controller.requirement_collection == "stripe" {
            return Err(ApiError::invalid(
                "You cannot create `account_update` type Account Links for accounts where Stripe collects requirements (`controller[requirement_collection]=stripe`); use `account_onboarding` to collect what is due.",
                "type",
                None,
            ));
        }
        let link = AccountLink {
            id: new_id("acctlink"),
            account: spec.account,
            refresh_url: spec.refresh_url,
            return_url: spec.return_url,
            created: now,
            expires_at: now + LINK_LIFETIME_SECS,
            state: LinkState::Fresh,
        };
        let json = json!({ "object": "account_link", "created": link.created, "expires_at": link.expires_at, "url": format!("{}connect/onboard/{}", self.base_url, link.id) });
        inner.connect.links.insert(link.id.clone(), link);
        Ok(json)
    }

    /// Visiting the link's URL: the first visit within its lifetime shows the
    /// form and spends the link; any other goes to `refresh_url`.
    pub fn open_account_link(&self, id: &str, now: i64) -> LinkVisit {
        let mut inner = self.lock();
        let connect = &mut inner.connect;
        let Some(link) = connect.links.get_mut(id) else {
            return LinkVisit::NotFound;
        };
        if link.state != LinkState::Fresh || now >= link.expires_at {
            return LinkVisit::Redirect(link.refresh_url.clone());
        }
        link.state = LinkState::Opened;
        let link = link.clone();
        match connect.accounts.get(&link.account) {
            Some(account) => LinkVisit::Page { account: account.to_json(), link },
            None => LinkVisit::NotFound,
        }
    }

    /// The form sent: the account is onboarded (or left restricted),
    /// `account.updated` follows, and the visitor goes to `return_url`. A
    /// form from a page already sent, or a link never opened that expired,
    /// goes to `refresh_url` instead.
    pub fn submit_account_link(&self, id: &str, submission: Submission, now: i64) -> LinkVisit {
        let mut inner = self.lock();
        let Some(link) = inner.connect.links.get_mut(id) else {
            return LinkVisit::NotFound;
        };
        let usable = link.state == LinkState::Opened || (link.state == LinkState::Fresh && now < link.expires_at);
        if !usable {
            return LinkVisit::Redirect(link.refresh_url.clone());
        }
        link.state = LinkState::Used;
        let (account, return_url) = (link.account.clone(), link.return_url.clone());
        let changed = self.change_account(&mut inner, &account, now, &Origin::default(), |account: &mut Account| match submission {
            Submission::Verified => account.onboard(now),
            Submission::Unverified => account.submit_unverified(now),
        });
        match changed {
            Some(_) => LinkVisit::Redirect(return_url),
            None => LinkVisit::NotFound,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::form;
    use super::*;

    #[test]
    fn a_link_needs_its_account_type_and_urls() {
        let ok = parse(&form::parse(b"account=acct_1&type=account_onboarding&refresh_url=https://ex.com/r&return_url=https://ex.com/b").unwrap()).unwrap();
        assert_eq!((ok.account.as_str(), ok.kind), ("acct_1", "account_onboarding"));
        for body in [
            "type=account_onboarding&refresh_url=https://ex.com/r&return_url=https://ex.com/b",
            "account=acct_1&type=onboarding&refresh_url=https://ex.com/r&return_url=https://ex.com/b",
            "account=acct_1&type=account_onboarding&return_url=https://ex.com/b",
            "account=acct_1&type=account_onboarding&refresh_url=ftp://ex.com/r&return_url=https://ex.com/b",
            "account=acct_1&type=account_onboarding&refresh_url=https://ex.com/r&return_url=https://ex.com/b&collect=eventually_due",
        ] {
            assert!(parse(&form::parse(body.as_bytes()).unwrap()).is_err(), "{body}");
        }
    }
}
