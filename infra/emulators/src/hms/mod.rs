//! A local 100ms for the calls this project makes: rooms (idempotent by
//! name, overwriting their settings as 100ms does), room codes per role of a
//! configured template, disabling rooms, sessions with their peers and the
//! webhooks they send (`sessions`), and management-token verification.
//! Errors have 100ms's shape, `{"code", "message", "details"}`. Fault
//! switches under `/_emulator/` make 100ms fail, slow down, lose a role, or
//! lose webhook deliveries.

mod identity;
mod sessions;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct HmsEmulatorConfig {
    /// 0 picks a free port (tests).
    pub port: u16,
    pub access_key: String,
    pub secret: String,
    /// The one template rooms may use, and its roles.
    pub template_id: String,
    pub roles: Vec<String>,
}

#[derive(Debug, Clone)]
struct Room {
    id: String,
    name: String,
    description: Value,
    max_duration_seconds: Value,
    /// `{url, headers}`: where this room's events are posted.
    webhook: Value,
    enabled: bool,
    created_at: String,
    updated_at: String,
}

impl Room {
    fn json(&self, template: &str) -> Value {
        json!({
            "id": self.id, "name": self.name, "enabled": self.enabled, "description": self.description,
            "customer_id": "emulator", "app_id": "emulator-app", "recording_info": {"enabled": false},
            "template_id": template, "region": "auto", "max_duration_seconds": self.max_duration_seconds,
            "created_at": self.created_at, "updated_at": self.updated_at,
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fault {
    status: Option<u16>,
    delay_ms: Option<u64>,
    count: Option<u32>,
}

#[derive(Default)]
struct Inner {
    rooms: Vec<Room>,
    /// (room id, role) → code.
    codes: HashMap<(String, String), String>,
    roles: Vec<String>,
    fault: Option<Fault>,
    /// Every API request: method, path, and whether its token was accepted.
    requests: Vec<Value>,
    sessions: Vec<sessions::Session>,
    /// Webhook deliveries still to be lost (`u32::MAX`: all).
    lose_webhooks: u32,
    /// Every webhook delivery attempt: event, URL, status or error.
    deliveries: Vec<Value>,
}

struct Emulator {
    config: HmsEmulatorConfig,
    inner: Mutex<Inner>,
    http: reqwest::Client,
}

impl Emulator {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

type Shared = Arc<Emulator>;

/// A running emulator on 127.0.0.1; dropping it stops the server.
pub struct HmsEmulator {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl HmsEmulator {
    pub async fn start(config: HmsEmulatorConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", config.port)).await?;
        let addr = listener.local_addr()?;
        let inner = Inner { roles: config.roles.clone(), ..Inner::default() };
        let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build().map_err(std::io::Error::other)?;
        let emulator = Arc::new(Emulator { config, inner: Mutex::new(inner), http });
        let app = Router::new()
            .route("/v2/rooms", post(create_room))
            .route("/v2/rooms/{id}", get(get_room).post(update_room))
            .route("/v2/room-codes/room/{id}", post(create_codes).get(list_codes))
            .route("/v2/token", post(identity::exchange))
            .route("/_emulator/faults", post(set_fault).delete(clear_fault))
            .route("/_emulator/roles", post(set_roles))
            .route("/_emulator/rooms", get(rooms))
            .route("/_emulator/requests", get(requests))
            .merge(sessions::router())
            .with_state(emulator);
        let task = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::error!(%err, "100ms emulator stopped serving");
            }
        });
        Ok(Self { addr, task })
    }

    /// `http://127.0.0.1:PORT/v2/`, as `HMS_API_BASE` takes it.
    pub fn base_url(&self) -> String {
        format!("http://{}/v2/", self.addr)
    }

    pub fn control_url(&self) -> String {
        format!("http://{}/_emulator/", self.addr)
    }
}

impl Drop for HmsEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn error(status: StatusCode, message: &str, details: &[&str]) -> Response {
    (status, axum::Json(json!({ "code": status.as_u16(), "message": message, "details": details }))).into_response()
}

/// 100ms accepts management tokens signed with the app secret that carry
/// the app's access key, `type: management`, `version: 2`, and valid times.
fn check_token(emulator: &Emulator, headers: &HeaderMap) -> Result<(), Response> {
    let unauthorized = |detail: &str| error(StatusCode::UNAUTHORIZED, "Token validation error", &[detail]);
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized("no bearer token"))?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "iat", "nbf"]);
    validation.validate_nbf = true;
    validation.leeway = 0;
    let claims = jsonwebtoken::decode::<Value>(token, &DecodingKey::from_secret(emulator.config.secret.as_bytes()), &validation)
        .map_err(|e| unauthorized(&e.to_string()))?
        .claims;
    if claims["access_key"] != emulator.config.access_key.as_str() {
        return Err(unauthorized("access_key does not match the app"));
    }
    if claims["type"] != "management" || claims["version"] != 2 || claims["jti"].as_str().is_none_or(str::is_empty) {
        return Err(unauthorized("not a version 2 management token with a jti"));
    }
    Ok(())
}

/// Logs the request, applies an injected fault, checks the token.
async fn gate(emulator: &Emulator, headers: &HeaderMap, what: &str) -> Result<(), Response> {
    let authorized = check_token(emulator, headers);
    let fault = {
        let mut inner = emulator.lock();
        inner.requests.push(json!({ "request": what, "authorized": authorized.is_ok() }));
        let fault = inner.fault.clone();
        if let Some(f) = inner.fault.as_mut() {
            match &mut f.count {
                Some(1) => inner.fault = None,
                Some(n) => *n -= 1,
                None => {}
            }
        }
        fault
    };
    if let Some(fault) = fault {
        if let Some(ms) = fault.delay_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if let Some(status) = fault.status.and_then(|s| StatusCode::from_u16(s).ok()) {
            return Err(error(status, "injected by the emulator", &["see /_emulator/faults"]));
        }
    }
    authorized
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'_'))
}

async fn create_room(State(emulator): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(response) = gate(&emulator, &headers, "POST /rooms").await {
        return response;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else { return error(StatusCode::BAD_REQUEST, "invalid JSON body", &[]) };
    let template = emulator.config.template_id.clone();
    if let Some(asked) = body["template_id"].as_str().filter(|t| *t != template) {
        return error(StatusCode::BAD_REQUEST, "template not found", &[asked]);
    }
    if let Some(max) = body["max_duration_seconds"].as_i64().filter(|m| !(120..=43_200).contains(m)) {
        return error(StatusCode::BAD_REQUEST, "max_duration_seconds must be between 120 and 43200", &[&max.to_string()]);
    }
    let name = body["name"].as_str().map(str::to_owned).unwrap_or_else(|| format!("room-{}", uuid::Uuid::new_v4().simple()));
    if !valid_name(&name) {
        return error(StatusCode::BAD_REQUEST, "invalid room name: only a-z A-Z 0-9 . - : _", &[&name]);
    }
    let mut inner = emulator.lock();
    let stamp = now();
    // Existing name (case-insensitive): the same room, its settings overwritten by this body.
    let room = match inner.rooms.iter_mut().find(|r| r.name.eq_ignore_ascii_case(&name)) {
        Some(room) => {
            room.description = body["description"].clone();
            room.max_duration_seconds = body["max_duration_seconds"].clone();
            room.webhook = body["webhook"].clone();
            room.updated_at = stamp;
            room.clone()
        }
        None => {
            let room = Room {
                id: format!("{:024x}", uuid::Uuid::new_v4().as_u128() >> 32),
                name,
                description: body["description"].clone(),
                max_duration_seconds: body["max_duration_seconds"].clone(),
                webhook: body["webhook"].clone(),
                enabled: true,
                created_at: stamp.clone(),
                updated_at: stamp,
            };
            inner.rooms.push(room.clone());
            room
        }
    };
    axum::Json(room.json(&template)).into_response()
}

async fn get_room(State(emulator): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(response) = gate(&emulator, &headers, "GET /rooms/{id}").await {
        return response;
    }
    let inner = emulator.lock();
    match inner.rooms.iter().find(|r| r.id == id) {
        Some(room) => axum::Json(room.json(&emulator.config.template_id)).into_response(),
        None => error(StatusCode::NOT_FOUND, "room not found", &[&id]),
    }
}

async fn update_room(State(emulator): State<Shared>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    if let Err(response) = gate(&emulator, &headers, "POST /rooms/{id}").await {
        return response;
    }
    let enabled = serde_json::from_slice::<Value>(&body).ok().and_then(|b| b["enabled"].as_bool());
    let mut inner = emulator.lock();
    let Some(room) = inner.rooms.iter_mut().find(|r| r.id == id) else { return error(StatusCode::NOT_FOUND, "room not found", &[&id]) };
    if let Some(enabled) = enabled {
        room.enabled = enabled;
        room.updated_at = now();
    }
    axum::Json(room.json(&emulator.config.template_id)).into_response()
}

/// Codes for every role of the template; a role's code, once made, is the
/// same on every later call.
async fn create_codes(State(emulator): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(response) = gate(&emulator, &headers, "POST /room-codes/room/{id}").await {
        return response;
    }
    let mut inner = emulator.lock();
    let Some(room) = inner.rooms.iter().find(|r| r.id == id).cloned() else { return error(StatusCode::NOT_FOUND, "room not found", &[&id]) };
    if !room.enabled {
        return error(StatusCode::FORBIDDEN, "room is disabled", &[&id]);
    }
    let roles = inner.roles.clone();
    let data: Vec<Value> = roles
        .iter()
        .map(|role| {
            let code = inner.codes.entry((id.clone(), role.clone())).or_insert_with(new_code).clone();
            json!({"code": code, "room_id": id, "role": role, "enabled": true, "created_at": room.created_at, "updated_at": room.updated_at})
        })
        .collect();
    axum::Json(json!({ "data": data })).into_response()
}

async fn list_codes(State(emulator): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(response) = gate(&emulator, &headers, "GET /room-codes/room/{id}").await {
        return response;
    }
    let inner = emulator.lock();
    let data: Vec<Value> = inner.codes.iter().filter(|((room, _), _)| *room == id).map(|((room, role), code)| json!({"code": code, "room_id": room, "role": role, "enabled": true})).collect();
    axum::Json(json!({ "data": data })).into_response()
}

/// `abc-defg-hij`, as 100ms's codes look.
fn new_code() -> String {
    let letters: String = uuid::Uuid::new_v4().as_bytes().iter().take(10).map(|b| char::from(b'a' + b % 26)).collect();
    format!("{}-{}-{}", &letters[..3], &letters[3..7], &letters[7..10])
}

async fn set_fault(State(emulator): State<Shared>, body: Bytes) -> Response {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(fault) if fault.status.is_some() || fault.delay_ms.is_some() => {
            emulator.lock().fault = Some(fault);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "expected {\"status\"?, \"delay_ms\"?, \"count\"?}"}))).into_response(),
    }
}

async fn clear_fault(State(emulator): State<Shared>) -> StatusCode {
    emulator.lock().fault = None;
    StatusCode::NO_CONTENT
}

/// The template's roles from now on, e.g. `{"roles": ["host"]}` to lose the guest role.
async fn set_roles(State(emulator): State<Shared>, body: Bytes) -> Response {
    match serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["roles"].as_array().cloned()) {
        Some(roles) => {
            emulator.lock().roles = roles.iter().filter_map(|r| r.as_str().map(str::to_owned)).collect();
            StatusCode::NO_CONTENT.into_response()
        }
        None => (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "expected {\"roles\": [...]}"}))).into_response(),
    }
}

async fn rooms(State(emulator): State<Shared>) -> Response {
    let inner = emulator.lock();
    let template = emulator.config.template_id.clone();
    let rooms: Vec<Value> = inner
        .rooms
        .iter()
        .map(|r| {
            let mut json = r.json(&template);
            json["webhook"] = r.webhook.clone();
            let codes: HashMap<&String, &String> = inner.codes.iter().filter(|((room, _), _)| *room == r.id).map(|((_, role), code)| (role, code)).collect();
            json["codes"] = json!(codes);
            json
        })
        .collect();
    axum::Json(rooms).into_response()
}

async fn requests(State(emulator): State<Shared>) -> Response {
    axum::Json(emulator.lock().requests.clone()).into_response()
}
