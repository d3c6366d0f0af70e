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
