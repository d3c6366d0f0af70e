//! Sessions and peers, driven from the control API as people joining and
//! leaving a room would, and the webhooks 100ms sends about them: posted to
//! the room's own `webhook.url` with its `headers`, in 100ms's envelope,
//! retried 3 times (1 s, 3 s, 10 s after the previous attempt), with a
//! switch to lose deliveries. `GET /v2/sessions` and `/v2/sessions/{id}`
//! answer with 100ms's shapes and paging (`active` defaults to true).

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Emulator, Shared, error, gate};

/// 100ms's retries after a failed delivery.
const RETRIES: [Duration; 3] = [Duration::from_secs(1), Duration::from_secs(3), Duration::from_secs(10)];

#[derive(Debug, Clone)]
pub(super) struct Session {
    id: String,
    room_id: String,
    active: bool,
    created_at: jiff::Timestamp,
    updated_at: jiff::Timestamp,
    peers: BTreeMap<String, Peer>,
}

#[derive(Debug, Clone)]
struct Peer {
    id: String,
    user_id: String,
    role: String,
    joined_at: jiff::Timestamp,
    left_at: Option<jiff::Timestamp>,
}

impl Session {
    fn json(&self) -> Value {
        let peers: serde_json::Map<String, Value> = self
            .peers
            .values()
            .map(|p| {
                let peer = json!({"id": p.id, "session_id": self.id, "name": p.user_id, "role": p.role, "user_id": p.user_id, "joined_at": p.joined_at.to_string(), "left_at": p.left_at.map(|t| t.to_string())});
                (p.id.clone(), peer)
            })
            .collect();
        json!({"id": self.id, "room_id": self.room_id, "active": self.active, "created_at": self.created_at.to_string(), "updated_at": self.updated_at.to_string(), "peers": peers})
    }
}

pub(super) fn router() -> Router<Shared> {
    Router::new()
        .route("/v2/sessions", get(list_sessions))
        .route("/v2/sessions/{id}", get(get_session))
        .route("/_emulator/rooms/{id}/join", post(join))
        .route("/_emulator/peers/{id}/leave", post(leave))
        .route("/_emulator/webhooks/lose", post(lose).delete(keep))
        .route("/_emulator/webhooks", get(deliveries))
}

/// Someone joins the room (opening a session if none is running), as one
/// of: `{"token"}` (an app token: ours, or one a code was exchanged for),
/// `{"code", "user_id"?}` (the hosted Prebuilt link: a random `user_id`
/// unless one is given), or `{"user_id", "role"}` (a test's shorthand);
/// `at` (RFC 3339) lets a test say when.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinSpec {
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    at: Option<jiff::Timestamp>,
}

impl JoinSpec {
    fn joiner(self, emulator: &Emulator, room_id: &str) -> Result<super::identity::Joiner, Response> {
        let joiner = match (self.token, self.code, self.user_id, self.role) {
            (Some(token), None, None, None) => super::identity::by_token(emulator, &token)?,
            (None, Some(code), user_id, None) => super::identity::by_code(emulator, &code, user_id)?,
            (None, None, Some(user_id), Some(role)) => super::identity::Joiner { room_id: room_id.to_owned(), user_id, role },
            _ => return Err((StatusCode::BAD_REQUEST, axum::Json(json!({"error": "give one of {\"token\"}, {\"code\", \"user_id\"?} or {\"user_id\", \"role\"}"}))).into_response()),
        };
        if joiner.room_id != room_id {
            return Err(error(StatusCode::FORBIDDEN, "the token or code is for another room", &[&joiner.room_id]));
        }
        Ok(joiner)
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LeaveSpec {
    #[serde(default)]
    at: Option<jiff::Timestamp>,
    #[serde(default)]
    reason: Option<String>,
}

async fn join(State(emulator): State<Shared>, Path(room_id): Path<String>, body: Bytes) -> Response {
    let spec: JoinSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(err) => return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": format!("expected {{\"token\"}}, {{\"code\", \"user_id\"?}} or {{\"user_id\", \"role\"}}, and \"at\"?: {err}")}))).into_response(),
    };
    let at = spec.at.unwrap_or_else(jiff::Timestamp::now);
    let joiner = match spec.joiner(&emulator, &room_id) {
        Ok(joiner) => joiner,
        Err(response) => return response,
    };
    let mut events = Vec::new();
    let peer = {
        let mut inner = emulator.lock();
        let Some(room) = inner.rooms.iter().find(|r| r.id == room_id).cloned() else { return error(StatusCode::NOT_FOUND, "room not found", &[&room_id]) };
        if !room.enabled {
            return error(StatusCode::FORBIDDEN, "room is disabled", &[&room_id]);
        }
        if !inner.roles.contains(&joiner.role) {
            return error(StatusCode::BAD_REQUEST, "Invalid Role", &[&joiner.role]);
        }
        let index = match inner.sessions.iter().position(|s| s.room_id == room_id && s.active) {
            Some(index) => index,
            None => {
                let session = Session { id: new_id(), room_id: room_id.clone(), active: true, created_at: at, updated_at: at, peers: BTreeMap::new() };
                events.push(("session.open.success", json!({"room_id": room_id, "room_name": room.name, "session_id": session.id, "template_id": emulator.config.template_id, "session_started_at": at.to_string()})));
                inner.sessions.push(session);
                inner.sessions.len() - 1
            }
        };
        let session = &mut inner.sessions[index];
        // A new peer id on every join, as 100ms gives.
        let peer = Peer { id: new_id(), user_id: joiner.user_id.clone(), role: joiner.role.clone(), joined_at: at, left_at: None };
        session.peers.insert(peer.id.clone(), peer.clone());
        session.updated_at = session.updated_at.max(at);
        events.push((
            "peer.join.success",
            json!({"room_id": room_id, "room_name": room.name, "session_id": session.id, "peer_id": peer.id, "user_id": peer.user_id, "template_id": emulator.config.template_id,
                   "user_name": peer.user_id, "user_data": "", "role": peer.role, "joined_at": at.to_string(), "session_started_at": session.created_at.to_string()}),
        ));
        for (kind, data) in events {
            send(&emulator, &mut inner, &room.webhook, kind, data);
        }
        json!({"peer_id": peer.id, "user_id": peer.user_id, "role": peer.role, "session_id": session_id_of(&inner, &room_id)})
    };
    axum::Json(peer).into_response()
}

fn session_id_of(inner: &super::Inner, room_id: &str) -> Option<String> {
    inner.sessions.iter().find(|s| s.room_id == room_id && s.active).map(|s| s.id.clone())
}

/// A peer leaves (or drops: `reason`); the session closes with its last peer.
async fn leave(State(emulator): State<Shared>, Path(peer_id): Path<String>, body: Bytes) -> Response {
    let spec: LeaveSpec = if body.is_empty() { LeaveSpec::default() } else {
        match serde_json::from_slice(&body) {
            Ok(spec) => spec,
            Err(err) => return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": format!("expected {{\"at\"?, \"reason\"?}}: {err}")}))).into_response(),
        }
    };
    let at = spec.at.unwrap_or_else(jiff::Timestamp::now);
    let mut inner = emulator.lock();
    let Some(index) = inner.sessions.iter().position(|s| s.peers.get(&peer_id).is_some_and(|p| p.left_at.is_none())) else { return error(StatusCode::NOT_FOUND, "peer not found", &[&peer_id]) };
    let room = inner.rooms.iter().find(|r| r.id == inner.sessions[index].room_id).cloned();
    let session = &mut inner.sessions[index];
    let Some(peer) = session.peers.get_mut(&peer_id) else { return error(StatusCode::NOT_FOUND, "peer not found", &[&peer_id]) };
    peer.left_at = Some(at);
    let peer = peer.clone();
    session.updated_at = session.updated_at.max(at);
    let (room_name, webhook) = room.map(|r| (r.name, r.webhook)).unwrap_or_default();
    let mut events = vec![(
        "peer.leave.success",
        json!({"room_id": session.room_id, "room_name": room_name, "session_id": session.id, "peer_id": peer.id, "user_id": peer.user_id, "template_id": emulator.config.template_id,
               "user_name": peer.user_id, "user_data": "", "role": peer.role, "joined_at": peer.joined_at.to_string(), "left_at": at.to_string(),
               "duration": (at - peer.joined_at).as_secs(), "reason": spec.reason.unwrap_or_else(|| "client request".into()), "message": "", "session_started_at": session.created_at.to_string()}),
    )];
    if session.peers.values().all(|p| p.left_at.is_some()) {
        session.active = false;
        events.push((
            "session.close.success",
            json!({"room_id": session.room_id, "room_name": room_name, "session_id": session.id, "template_id": emulator.config.template_id, "session_started_at": session.created_at.to_string(),
                   "session_stopped_at": at.to_string(), "session_duration": (at - session.created_at).as_secs()}),
        ));
    }
    for (kind, data) in events {
        send(&emulator, &mut inner, &webhook, kind, data);
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Queues one event for the room's webhook (none configured: nothing sent).
fn send(emulator: &Shared, inner: &mut super::Inner, webhook: &Value, kind: &'static str, data: Value) {
    let Some(url) = webhook["url"].as_str().map(str::to_owned) else { return };
    let headers: Vec<(String, String)> = webhook["headers"].as_object().map(|h| h.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect()).unwrap_or_default();
    let event = json!({"version": "2.0", "id": new_uuid(), "app_id": "emulator-app", "account_id": "emulator", "template_id": emulator.config.template_id,
                       "timestamp": jiff::Timestamp::now().to_string(), "type": kind, "data": data});
    let lost = inner.lose_webhooks > 0;
    if lost && inner.lose_webhooks != u32::MAX {
        inner.lose_webhooks -= 1;
    }
    let http = emulator.http.clone();
    let emulator = emulator.clone();
    tokio::spawn(async move { deliver(&emulator, &http, &url, &headers, event, lost).await });
}

async fn deliver(emulator: &Emulator, http: &reqwest::Client, url: &str, headers: &[(String, String)], event: Value, lost: bool) {
    for (attempt, wait) in std::iter::once(Duration::ZERO).chain(RETRIES).enumerate() {
        tokio::time::sleep(wait).await;
        let outcome = if lost {
            json!("lost by the emulator")
        } else {
            let mut request = http.post(url).json(&event);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            match request.send().await {
                Ok(response) => json!(response.status().as_u16()),
                Err(err) => json!(err.to_string()),
            }
        };
        let delivered = outcome.as_u64().is_some_and(|s| (200..300).contains(&s));
        emulator.lock().deliveries.push(json!({"id": event["id"], "type": event["type"], "url": url, "attempt": attempt + 1, "outcome": outcome}));
        if delivered || lost {
            return;
        }
    }
}

#[derive(Deserialize)]
struct ListQuery {
    room_id: Option<String>,
    active: Option<String>,
    limit: Option<usize>,
    start: Option<String>,
}

/// 100ms's listing: `active` true unless `active=false`, `limit` 10-100
/// (default 10), `start` the previous page's `last`.
async fn list_sessions(State(emulator): State<Shared>, headers: HeaderMap, Query(query): Query<ListQuery>) -> Response {
    if let Err(response) = gate(&emulator, &headers, "GET /sessions").await {
        return response;
    }
    let active = query.active.as_deref() != Some("false");
    let limit = query.limit.unwrap_or(10);
    if !(10..=100).contains(&limit) {
        return error(StatusCode::BAD_REQUEST, "limit must be between 10 and 100", &[]);
    }
    let inner = emulator.lock();
    let matching: Vec<&Session> = inner.sessions.iter().filter(|s| s.active == active && query.room_id.as_ref().is_none_or(|r| *r == s.room_id)).collect();
    let from = query.start.as_ref().and_then(|start| matching.iter().position(|s| s.id == *start).map(|i| i + 1)).unwrap_or(0);
    let page: Vec<Value> = matching.iter().skip(from).take(limit).map(|s| s.json()).collect();
    let last = (from + page.len() < matching.len()).then(|| page.last().map(|s| s["id"].clone())).flatten();
    axum::Json(json!({"limit": limit, "data": page, "last": last})).into_response()
}

async fn get_session(State(emulator): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(response) = gate(&emulator, &headers, "GET /sessions/{id}").await {
        return response;
    }
    let inner = emulator.lock();
    match inner.sessions.iter().find(|s| s.id == id) {
        Some(session) => axum::Json(session.json()).into_response(),
        None => error(StatusCode::NOT_FOUND, "session not found", &[&id]),
    }
}

/// `{"count": N}` loses the next N webhook deliveries, `{"all": true}` every one until `DELETE`.
async fn lose(State(emulator): State<Shared>, body: Bytes) -> Response {
    let spec: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let count = if spec["all"] == true { Some(u32::MAX) } else { spec["count"].as_u64().and_then(|c| u32::try_from(c).ok()) };
    match count {
        Some(count) => {
            emulator.lock().lose_webhooks = count;
            StatusCode::NO_CONTENT.into_response()
        }
        None => (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "expected {\"count\": N} or {\"all\": true}"}))).into_response(),
    }
}

async fn keep(State(emulator): State<Shared>) -> StatusCode {
    emulator.lock().lose_webhooks = 0;
    StatusCode::NO_CONTENT
}

async fn deliveries(State(emulator): State<Shared>) -> Response {
    axum::Json(emulator.lock().deliveries.clone()).into_response()
}

fn new_id() -> String {
    format!("{:024x}", uuid::Uuid::new_v4().as_u128() >> 32)
}

fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}
