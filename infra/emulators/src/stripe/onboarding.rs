//! The onboarding form an account link's `url` points to, standing in for
//! Stripe's hosted onboarding: plain HTML, so a person in a browser or a
//! test's HTTP client can complete it, or send it unverified to leave the
//! account restricted. Visiting a spent or expired link sends the visitor to
//! its `refresh_url`, as Stripe does.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::Value;

use super::account_links::{AccountLink, LinkVisit, Submission};
use super::form;
use super::page::{escape, page};
use super::state::{Shared, now};

pub fn router(emulator: Shared) -> Router {
    Router::new().route("/connect/onboard/{link}", get(show).post(submit)).with_state(emulator)
}

async fn show(State(emulator): State<Shared>, Path(link): Path<String>) -> Response {
    answer(emulator.open_account_link(&link, now()), &link)
}

/// The form's buttons send `outcome=verified` (Submit) or `outcome=unverified`;
/// a bare POST counts as Submit.
async fn submit(State(emulator): State<Shared>, Path(link): Path<String>, body: Bytes) -> Response {
    let params = form::parse(&body).unwrap_or_default();
    let submission = match params.get("outcome").and_then(|o| o.as_str()) {
        Some("unverified") => Submission::Unverified,
        _ => Submission::Verified,
    };
    answer(emulator.submit_account_link(&link, submission, now()), &link)
}

fn answer(visit: LinkVisit, link: &str) -> Response {
    match visit {
        LinkVisit::Page { link, account } => Html(onboarding_page(&link, &account)).into_response(),
        LinkVisit::Redirect(url) => Redirect::to(&header_safe(&url)).into_response(),
        LinkVisit::NotFound => {
            let body = page("Not found", &format!("<h1>Not found</h1><p>No such account link: <code>{}</code>.</p>", ascii_html(link)));
            (StatusCode::NOT_FOUND, Html(body)).into_response()
        }
    }
}

/// A `Location` carries ASCII only; a URL the platform gave with other
/// characters goes percent-encoded rather than failing the redirect.
fn header_safe(url: &str) -> String {
    let mut safe = String::with_capacity(url.len());
    for byte in url.bytes() {
        if byte.is_ascii_graphic() {
            safe.push(char::from(byte));
        } else {
            safe.push_str(&format!("%{byte:02X}"));
        }
    }
    safe
}

/// Text for the page: markup escaped and anything beyond ASCII as a
/// character reference, so the page is ASCII whatever an email holds.
fn ascii_html(text: &str) -> String {
    escape(text).chars().map(|c| if c.is_ascii() { c.to_string() } else { format!("&#x{:X};", u32::from(c)) }).collect()
}

fn onboarding_page(link: &AccountLink, account: &Value) -> String {
    let id = ascii_html(&link.account);
    let email = account["email"].as_str().map(|e| format!(" ({})", ascii_html(e))).unwrap_or_default();
    let country = ascii_html(account["country"].as_str().unwrap_or_default());
    let agreement = ascii_html(account["tos_acceptance"]["service_agreement"].as_str().unwrap_or("full"));
    let field = |name: &str, label: &str, value: &str, extra: &str| {
        format!("<p><label for=\"{name}\">{label}</label><br><input id=\"{name}\" name=\"{name}\" value=\"{value}\" {extra}></p>")
    };
    let body = format!(
        "<p class=\"banner\">Test mode: Stripe emulator</p><h1>Set up payouts</h1>\
         <p>Account <code>{id}</code>{email} in {country}, {agreement} service agreement. \
         Stripe needs these details before transfers and payouts can reach it; the emulator keeps none of them.</p>\
         <form method=\"post\" action=\"/connect/onboard/{link_id}\">{first}{last}{dob}{bank}\
         <p><button type=\"submit\" name=\"outcome\" value=\"verified\" class=\"pay\">Submit</button> \
         <button type=\"submit\" name=\"outcome\" value=\"unverified\">Submit without verification</button></p>\
         <p>Submit completes onboarding: transfers and payouts are enabled. \
         Submit without verification sends the details but fails identity verification: the account stays restricted.</p>\
         </form>",
        link_id = ascii_html(&link.id),
        first = field("first_name", "First name", "Jenny", "autocomplete=\"given-name\""),
        last = field("last_name", "Last name", "Rosen", "autocomplete=\"family-name\""),
        dob = field("dob", "Date of birth", "1990-01-01", "type=\"date\""),
        bank = field("bank_account", "Bank account (IBAN or account number)", "DE89370400440532013000", "autocomplete=\"off\""),
    );
    page("Set up payouts", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_ascii_with_labelled_fields() {
        let link = AccountLink {
            id: "acctlink_1".into(),
            account: "acct_1".into(),
            refresh_url: "https://ex.com/r".into(),
            return_url: "https://ex.com/b".into(),
            created: 0,
            expires_at: 300,
            state: super::super::account_links::LinkState::Opened,
        };
        let account = serde_json::json!({"email": "jos\u{e9}@ex.com", "country": "FR", "tos_acceptance": {"service_agreement": "recipient"}});
        let html = onboarding_page(&link, &account);
        assert!(html.is_ascii());
        assert!(html.contains("jos&#xE9;@ex.com"));
        assert!(html.contains("<h1>Set up payouts</h1>"));
        for name in ["first_name", "last_name", "dob", "bank_account"] {
            assert!(html.contains(&format!("<label for=\"{name}\">")), "{name} has a label");
        }
        assert!(html.contains(">Submit</button>") && html.contains(">Submit without verification</button>"));
    }

    #[test]
    fn redirects_carry_only_ascii() {
        assert_eq!(header_safe("https://ex.com/r\u{fc}ck?a=1"), "https://ex.com/r%C3%BCck?a=1");
    }
}
