//! `/_emulator`: what tests and operators use to steer and inspect the
//! emulator. Unauthenticated JSON; lists are oldest first.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::events::Origin;
use super::faults::{Fault, FaultSpec};
use super::state::{Shared, now};

pub fn router(emulator: Shared) -> Router {
    Router::new()
        .route("/_emulator/faults", get(show_fault).post(set_fault).delete(clear_fault))
        .route("/_emulator/sessions", get(sessions))
        .route("/_emulator/sessions/{id}/expire", post(expire))
        .route("/_emulator/sessions/{id}/async", post(settle_async))
        .route("/_emulator/payment_intents/{id}/refund", post(dashboard_refund))
        .route("/_emulator/refunds", get(refunds))
        .route("/_emulator/refunds/{id}/fail", post(fail_refund))
        .route("/_emulator/disputes", post(open_dispute))
        .route("/_emulator/disputes/{id}/close", post(close_dispute))
        .route("/_emulator/refund_failures", post(set_refund_failure).delete(clear_refund_failure))
        .route("/_emulator/events/{id}/redeliver", post(redeliver))
        .route("/_emulator/webhook", post(set_webhook))
        .route("/_emulator/events", get(events))
        .route("/_emulator/deliveries", get(deliveries))
        .route("/_emulator/requests", get(requests))
        .with_state(emulator)
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": message }))).into_response()
}

async fn set_fault(State(emulator): State<Shared>, body: Bytes) -> Response {
    let spec: FaultSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(err) => return bad_request(format!("expected {{\"status\"?, \"delay_ms\"?, \"count\"?}}: {err}")),
    };
    match Fault::new(spec) {
        Ok(fault) => {
            emulator.set_fault(Some(fault.clone()));
            axum::Json(fault).into_response()
        }
        Err(err) => bad_request(err.to_string()),
    }
}

async fn show_fault(State(emulator): State<Shared>) -> Response {
    axum::Json(emulator.fault()).into_response()
}

async fn clear_fault(State(emulator): State<Shared>) -> StatusCode {
    emulator.set_fault(None);
    StatusCode::NO_CONTENT
}

/// The later outcome of a delayed payment: `{"outcome": "succeeded" | "failed"}`.
async fn settle_async(State(emulator): State<Shared>, Path(id): Path<String>, body: Bytes) -> Response {
    let outcome = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| v["outcome"].as_str().map(str::to_owned));
    let succeeded = match outcome.as_deref() {
        Some("succeeded") => true,
        Some("failed") => false,
        _ => return bad_request("expected {\"outcome\": \"succeeded\" | \"failed\"}".into()),
    };
    match emulator.settle_delayed(&id, succeeded, now()) {
        Ok(session) => axum::Json(session.to_json()).into_response(),
        Err(err) => bad_request(err.to_string()),
    }
}

/// A refund made in the Stripe dashboard: no metadata, no API request.
/// `{"amount": N}` refunds part; an empty body refunds what is left.
async fn dashboard_refund(State(emulator): State<Shared>, Path(id): Path<String>, body: Bytes) -> Response {
    let amount = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| v["amount"].as_i64());
    let request = super::refunds::RefundRequest { payment_intent: id, amount, metadata: Default::default(), reason: Some("requested_by_customer".into()) };
    match emulator.dashboard_refund(request, now()) {
        Ok(refund) => axum::Json(refund).into_response(),
        Err(err) => err.into_response(),
    }
}

/// A refund made earlier fails now (`{"failure_reason"?}`, default
/// `expired_or_canceled_card`): `refund.updated` and `refund.failed` follow.
async fn fail_refund(State(emulator): State<Shared>, Path(id): Path<String>, body: Bytes) -> Response {
    let reason = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| v["failure_reason"].as_str().map(str::to_owned)).unwrap_or_else(|| "expired_or_canceled_card".into());
    match emulator.fail_refund(&id, &reason, now()) {
        Some(refund) => axum::Json(refund).into_response(),
        None => (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"error": format!("no refund {id} that has not failed")}))).into_response(),
    }
}

/// Where events go from now on: `{"url": "http://127.0.0.1:PORT/path"}`, or `{"url": null}` to record only.
async fn set_webhook(State(emulator): State<Shared>, body: Bytes) -> Response {
    match serde_json::from_slice::<serde_json::Value>(&body).ok().map(|v| v["url"].clone()) {
        Some(serde_json::Value::String(url)) if url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost") => {
            emulator.set_webhook_url(Some(url));
            StatusCode::NO_CONTENT.into_response()
        }
        Some(serde_json::Value::Null) => {
            emulator.set_webhook_url(None);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => bad_request("expected {\"url\": \"http://127.0.0.1:PORT/...\"} or {\"url\": null}".into()),
    }
}

async fn redeliver(State(emulator): State<Shared>, Path(id): Path<String>) -> Response {
    match emulator.redeliver(&id) {
        Some(()) => StatusCode::ACCEPTED.into_response(),
        None => (StatusCode::NOT_FOUND, axum::Json(json!({ "error": format!("no event {id}") }))).into_response(),
    }
}

async fn set_refund_failure(State(emulator): State<Shared>, body: Bytes) -> Response {
    let spec: super::refunds::FailureSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(err) => return bad_request(format!("expected {{\"when\": \"create\" | \"later\", \"count\"?, \"code\"?, \"failure_reason\"?}}: {err}")),
    };
    match super::refunds::RefundFailure::new(spec) {
        Ok(failure) => {
            emulator.set_refund_failure(Some(failure.clone()));
            axum::Json(failure).into_response()
        }
        Err(err) => bad_request(err),
    }
}

async fn clear_refund_failure(State(emulator): State<Shared>) -> StatusCode {
    emulator.set_refund_failure(None);
    StatusCode::NO_CONTENT
}

/// A bank disputes a payment: `{"payment_intent", "status"?: "needs_response" (default) |
/// "warning_needs_response" | …, "reason"?, "amount"?}`; `charge.dispute.created` follows.
async fn open_dispute(State(emulator): State<Shared>, body: Bytes) -> Response {
    let opened = serde_json::from_slice::<super::disputes::OpenSpec>(&body).map_err(|e| format!("expected {{\"payment_intent\", \"status\"?, \"reason\"?, \"amount\"?}}: {e}")).and_then(|spec| emulator.open_dispute(&spec, now()));
    match opened {
        Ok(dispute) => axum::Json(dispute).into_response(),
        Err(err) => bad_request(err),
    }
}

/// The bank decides: `{"status": "won" | "lost" | "warning_closed" | "prevented"}`; `charge.dispute.closed` follows.
async fn close_dispute(State(emulator): State<Shared>, Path(id): Path<String>, body: Bytes) -> Response {
    let closed = serde_json::from_slice::<super::disputes::CloseSpec>(&body).map_err(|e| format!("expected {{\"status\"}}: {e}")).and_then(|spec| emulator.close_dispute(&id, &spec, now()));
    match closed {
        Ok(dispute) => axum::Json(dispute).into_response(),
        Err(err) => bad_request(err),
    }
}

async fn refunds(State(emulator): State<Shared>) -> Response {
    let mut all = emulator.refunds_newest_first(None);
    all.reverse();
    axum::Json(all).into_response()
}

async fn sessions(State(emulator): State<Shared>) -> Response {
    axum::Json(emulator.sessions(now())).into_response()
}

/// The same as `POST /v1/checkout/sessions/{id}/expire`, without a key.
async fn expire(State(emulator): State<Shared>, Path(id): Path<String>) -> Response {
    match emulator.expire_now(&id, now(), &Origin::default()) {
        Ok(session) => axum::Json(session).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn events(State(emulator): State<Shared>) -> Response {
    let mut events = emulator.events_newest_first(None);
    events.reverse();
    axum::Json(events).into_response()
}

async fn deliveries(State(emulator): State<Shared>) -> Response {
    axum::Json(emulator.deliveries()).into_response()
}

async fn requests(State(emulator): State<Shared>) -> Response {
    axum::Json(emulator.requests()).into_response()
}
