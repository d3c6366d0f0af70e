//! `/_emulator` for Connect: what a test does in Stripe's stead (finish or
//! fail an account's verification, fund the platform, run a payout) and
//! what it inspects. Unauthenticated JSON, like `control`; lists are oldest first.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::state::{Shared, now};

pub fn router(emulator: Shared) -> Router {
    Router::new()
        .route("/_emulator/accounts", get(accounts))
        .route("/_emulator/accounts/{id}/onboard", post(onboard))
        .route("/_emulator/accounts/{id}/restrict", post(restrict))
        .route("/_emulator/accounts/{id}/payout", post(payout))
        .route("/_emulator/transfers", get(transfers))
        .route("/_emulator/payouts", get(payouts))
        .route("/_emulator/balance", get(balance).post(set_balance))
        .route("/_emulator/connect_webhook", post(set_connect_webhook))
        .with_state(emulator)
}

fn error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

fn no_account(id: &str) -> Response {
    error(StatusCode::NOT_FOUND, format!("no account {id}"))
}

async fn accounts(State(emulator): State<Shared>) -> Response {
    axum::Json(emulator.accounts()).into_response()
}

async fn transfers(State(emulator): State<Shared>) -> Response {
    axum::Json(emulator.transfers()).into_response()
}

async fn payouts(State(emulator): State<Shared>) -> Response {
    axum::Json(emulator.payouts()).into_response()
}

/// The same as the onboarding page's Submit: `account.updated` follows.
async fn onboard(State(emulator): State<Shared>, Path(id): Path<String>) -> Response {
    match emulator.set_account_restricted(&id, false, now()) {
        Some(account) => axum::Json(account).into_response(),
        None => no_account(&id),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestrictSpec {
    restricted: bool,
}

/// `{"restricted": true}`: verification lapsed, transfers and payouts stop
/// until more is given; `{"restricted": false}`: all given again. Either way
/// `account.updated` follows.
async fn restrict(State(emulator): State<Shared>, Path(id): Path<String>, body: Bytes) -> Response {
    let spec: RestrictSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(err) => return error(StatusCode::BAD_REQUEST, format!("expected {{\"restricted\": true | false}}: {err}")),
    };
    match emulator.set_account_restricted(&id, spec.restricted, now()) {
        Some(account) => axum::Json(account).into_response(),
        None => no_account(&id),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PayoutSpec {
    #[serde(default)]
    fail: bool,
}

/// Stripe's payout schedule comes due: `{"fail": false}` (or no body) pays
/// the whole available balance out (`payout.paid`); `{"fail": true}` has
/// the bank refuse it (`payout.failed`, `account_closed`), the money back
/// in the balance. Answers the payouts.
async fn payout(State(emulator): State<Shared>, Path(id): Path<String>, body: Bytes) -> Response {
    let spec = if body.is_empty() {
        PayoutSpec::default()
    } else {
        match serde_json::from_slice::<PayoutSpec>(&body) {
            Ok(spec) => spec,
            Err(err) => return error(StatusCode::BAD_REQUEST, format!("expected {{\"fail\"?: true | false}}: {err}")),
        }
    };
    match emulator.pay_out(&id, spec.fail, now()) {
        Ok(payouts) => axum::Json(payouts).into_response(),
        Err(_) if !emulator.has_account(&id) => no_account(&id),
        Err(err) => error(StatusCode::CONFLICT, err),
    }
}

async fn balance(State(emulator): State<Shared>) -> Response {
    axum::Json(emulator.balance_json(None)).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BalanceSpec {
    currency: String,
    amount: i64,
}

/// `{"currency": "eur", "amount": 10000}`: the platform's available balance
/// in that currency from now on (it starts at 0). Answers the balance.
async fn set_balance(State(emulator): State<Shared>, body: Bytes) -> Response {
    let spec: BalanceSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(err) => return error(StatusCode::BAD_REQUEST, format!("expected {{\"currency\": \"eur\", \"amount\": N}}: {err}")),
    };
    let currency = spec.currency.to_ascii_lowercase();
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_lowercase()) || spec.amount < 0 {
        return error(StatusCode::BAD_REQUEST, "currency must be a three-letter code and amount at least 0".into());
    }
    axum::Json(emulator.set_platform_balance(&currency, spec.amount)).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectWebhookSpec {
    url: Option<String>,
    #[serde(default)]
    secret: Option<String>,
}

/// Where Connect events go while no endpoint is registered:
/// `{"url": "http://127.0.0.1:PORT/path", "secret"?: "whsec_..."}`, or
/// `{"url": null}` to record only. Without `secret` the current one stays.
async fn set_connect_webhook(State(emulator): State<Shared>, body: Bytes) -> Response {
    let usage = "expected {\"url\": \"http://127.0.0.1:PORT/...\", \"secret\"?: \"whsec_...\"} or {\"url\": null}";
    let spec: ConnectWebhookSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(err) => return error(StatusCode::BAD_REQUEST, format!("{usage}: {err}")),
    };
    let local = |url: &str| url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost");
    if spec.url.as_deref().is_some_and(|url| !local(url)) {
        return error(StatusCode::BAD_REQUEST, usage.into());
    }
    emulator.set_connect_webhook(spec.url, spec.secret);
    StatusCode::NO_CONTENT.into_response()
}
