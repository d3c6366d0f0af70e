//! The hosted payment page a session's `url` points to: plain HTML forms, so
//! a person in a browser or a test with an HTTP client can pay or cancel.

use std::fmt::Write as _;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::sessions::{Funds, Session, Status};
use super::state::{PayError, Shared, now};

pub fn router(emulator: Shared) -> Router {
    Router::new()
        .route("/pay/{id}", get(show))
        .route("/pay/{id}/complete", post(complete))
        .route("/pay/{id}/complete-delayed", post(complete_delayed))
        .route("/pay/{id}/cancel", post(cancel))
        .with_state(emulator)
}

async fn show(State(emulator): State<Shared>, Path(id): Path<String>) -> Response {
    match emulator.session(&id, now()) {
        Some(session) => Html(checkout_page(&session)).into_response(),
        None => not_found(&id),
    }
}

async fn complete(State(emulator): State<Shared>, Path(id): Path<String>) -> Response {
    pay(&emulator, &id, Funds::Settled)
}

/// Pays with a delayed method (as SEPA debit would): the session completes
/// unpaid; `POST /_emulator/sessions/{id}/async` settles it later.
async fn complete_delayed(State(emulator): State<Shared>, Path(id): Path<String>) -> Response {
    pay(&emulator, &id, Funds::Processing)
}

fn pay(emulator: &Shared, id: &str, funds: Funds) -> Response {
    let id = id.to_owned();
    match emulator.complete_session(&id, now(), funds) {
        Ok(session) => Redirect::to(&session.success_redirect()).into_response(),
        Err(PayError::NotFound) => not_found(&id),
        Err(err @ PayError::NotOpen(_)) => {
            let body = page("Cannot pay", &format!("<h1>Cannot pay</h1><p>{}.</p>", escape(&err.to_string())));
            (StatusCode::CONFLICT, Html(body)).into_response()
        }
    }
}

/// Leaving Checkout does not close the session, as on Stripe: it stays open
/// until paid or expired.
async fn cancel(State(emulator): State<Shared>, Path(id): Path<String>) -> Response {
    match emulator.session(&id, now()) {
        Some(session) => match &session.spec.cancel_url {
            Some(url) => Redirect::to(url).into_response(),
            None => Redirect::to(&format!("/pay/{id}")).into_response(),
        },
        None => not_found(&id),
    }
}

fn not_found(id: &str) -> Response {
    let body = page("Not found", &format!("<h1>Not found</h1><p>No such Checkout Session: <code>{}</code>.</p>", escape(id)));
    (StatusCode::NOT_FOUND, Html(body)).into_response()
}

fn checkout_page(session: &Session) -> String {
    let spec = &session.spec;
    let currency = &spec.currency;
    let mut rows = String::new();
    for item in &spec.line_items {
        let _ = write!(
            rows,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(&item.name),
            item.quantity,
            money(item.unit_amount, currency),
            money(item.amount(), currency)
        );
    }
    let total = money(spec.amount_total, currency);
    let expires = jiff::Timestamp::from_second(spec.expires_at).map(|t| t.to_string()).unwrap_or_else(|_| spec.expires_at.to_string());
    let actions = match session.status {
        Status::Open => format!(
            "<p>Expires at {expires}.</p>\
             <form method=\"post\" action=\"/pay/{id}/complete\"><button type=\"submit\" class=\"pay\">Pay {total}</button></form>\
             <form method=\"post\" action=\"/pay/{id}/complete-delayed\"><button type=\"submit\">Pay {total} by bank debit (settles later)</button></form>\
             <form method=\"post\" action=\"/pay/{id}/cancel\"><button type=\"submit\">Cancel</button></form>",
            id = escape(&session.id),
        ),
        Status::Complete => "<p class=\"state\">This Checkout Session is complete: it has been paid.</p>".to_owned(),
        Status::Expired => format!("<p class=\"state\">This Checkout Session has expired (at {expires}).</p>"),
    };
    let body = format!(
        "<p class=\"banner\">Test mode: Stripe emulator</p><h1>Checkout</h1>\
         <table><thead><tr><th>Item</th><th class=\"num\">Qty</th><th class=\"num\">Price</th><th class=\"num\">Amount</th></tr></thead>\
         <tbody>{rows}</tbody><tfoot><tr><th colspan=\"3\">Total</th><td class=\"num\" id=\"total\">{total}</td></tr></tfoot></table>\
         {actions}"
    );
    page("Checkout", &body)
}

/// The emulator's page around `body`, ASCII itself so that only what is
/// put in it can bring other characters.
pub(super) fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title} &middot; Stripe emulator</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}}\
         .banner{{background:#ffde92;padding:.3rem .6rem;border-radius:4px;font-size:.85rem;display:inline-block}}\
         table{{width:100%;border-collapse:collapse;margin:1rem 0}}th,td{{padding:.4rem;border-bottom:1px solid #ddd;text-align:left}}\
         .num{{text-align:right}}tfoot th,tfoot td{{font-weight:bold;border-bottom:none}}\
         form{{display:inline-block;margin-right:.5rem}}button{{font-size:1rem;padding:.5rem 1rem;cursor:pointer}}\
         .pay{{background:#635bff;color:#fff;border:none;border-radius:4px}}.state{{font-weight:bold}}</style>\
         </head><body><main>{body}</main></body></html>"
    )
}

/// Minor units to a display amount with the currency's decimals, e.g.
/// `1800 eur` → "18.00 EUR", `500 jpy` → "500 JPY".
pub fn money(minor: i64, currency: &str) -> String {
    let code = currency.to_ascii_uppercase();
    let decimals = decimals(currency);
    if decimals == 0 {
        return format!("{minor} {code}");
    }
    let scale = 10u64.pow(decimals);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:0width$} {code}", abs / scale, abs % scale, width = decimals as usize)
}

/// Stripe's zero- and three-decimal currencies; all others use two.
fn decimals(currency: &str) -> u32 {
    const ZERO: [&str; 16] = ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"];
    const THREE: [&str; 5] = ["bhd", "jod", "kwd", "omr", "tnd"];
    let currency = currency.to_ascii_lowercase();
    if ZERO.contains(&currency.as_str()) {
        0
    } else if THREE.contains(&currency.as_str()) {
        3
    } else {
        2
    }
}

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_minor_units_per_currency() {
        assert_eq!(money(1800, "eur"), "18.00 EUR");
        assert_eq!(money(5, "usd"), "0.05 USD");
        assert_eq!(money(0, "eur"), "0.00 EUR");
        assert_eq!(money(500, "jpy"), "500 JPY");
        assert_eq!(money(1234, "kwd"), "1.234 KWD");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("<b>\"Tom & Jerry's\"</b>"), "&lt;b&gt;&quot;Tom &amp; Jerry&#39;s&quot;&lt;/b&gt;");
    }
}
