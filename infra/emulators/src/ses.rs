//! A local Amazon SES v2 for the tests: `SendEmail` with raw content (kept
//! byte for byte, so a test parses the MIME and invites we built),
//! `GetAccount` and `GetEmailIdentity` (what doctor checks), in SES's wire
//! shape (REST-JSON, the error's type in `x-amzn-errortype`). It models
//! what SES documents and we rely on: a sender that is not a verified
//! identity is refused with `MessageRejected`; throttling answers
//! `TooManyRequestsException` (429). Switches under `/_emulator/` make it
//! throttle, be unreachable (500) or reject given recipients.
//! Under `make dev` it also hands every accepted message to aws-ses-v2-local
//! (npm), a second SES server whose page shows the mails.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct SesEmulatorConfig {
    /// 0 picks a free port.
    pub port: u16,
    /// Verified identities: addresses, or domains (every address at them).
    pub verified: Vec<String>,
    /// Another SES server each accepted message is also sent to: `make dev`
    /// hands them to aws-ses-v2-local, whose page shows them to a developer.
    pub forward_to: Option<String>,
}

/// One accepted message.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sent {
    pub message_id: String,
    pub from: String,
    pub to: Vec<String>,
    /// The raw MIME as sent.
    pub raw: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Faults {
    /// The next N sends are throttled.
    #[serde(default)]
    throttle: u32,
    /// The next N sends fail with a 500.
    #[serde(default)]
    unavailable: u32,
    /// Sends to these recipients are rejected for good.
    #[serde(default)]
    reject: BTreeSet<String>,
}

#[derive(Default)]
struct Inner {
    sent: Vec<Sent>,
    faults: Faults,
    /// Every SendEmail call, accepted or not.
    attempts: u64,
}

struct Emulator {
    config: SesEmulatorConfig,
    inner: Mutex<Inner>,
    http: reqwest::Client,
}

impl Emulator {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn verified(&self, address: &str) -> bool {
        let domain = address.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
        self.config.verified.iter().any(|id| id.eq_ignore_ascii_case(address) || domain.as_deref() == Some(&id.to_ascii_lowercase()))
    }
}

type Shared = Arc<Emulator>;

/// A running emulator on 127.0.0.1; dropping it stops the server.
pub struct SesEmulator {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl SesEmulator {
    pub async fn start(config: SesEmulatorConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", config.port)).await?;
        let addr = listener.local_addr()?;
        let http = reqwest::Client::builder().no_proxy().timeout(std::time::Duration::from_secs(5)).build().map_err(std::io::Error::other)?;
        let emulator = Arc::new(Emulator { config, inner: Mutex::new(Inner::default()), http });
        let app = Router::new()
            .route("/v2/email/outbound-emails", post(send_email))
            .route("/v2/email/account", get(account))
            .route("/v2/email/identities/{identity}", get(identity))
            .route("/_emulator/messages", get(messages).delete(clear))
            .route("/_emulator/faults", post(set_faults))
            .with_state(emulator);
        let task = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::error!(%err, "SES emulator stopped serving");
            }
        });
        Ok(Self { addr, task })
    }

    /// What `AWS_ENDPOINT_URL_SESV2` takes.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn control_url(&self) -> String {
        format!("http://{}/_emulator/", self.addr)
    }
}

impl Drop for SesEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    (status, [("x-amzn-errortype", kind)], axum::Json(json!({ "message": message }))).into_response()
}

async fn send_email(State(emulator): State<Shared>, body: axum::body::Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else { return error(StatusCode::BAD_REQUEST, "BadRequestException", "the body is not JSON") };
    let Some(data) = request["Content"]["Raw"]["Data"].as_str() else { return error(StatusCode::BAD_REQUEST, "BadRequestException", "only Content.Raw is modelled") };
    use base64::Engine as _;
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(data) else { return error(StatusCode::BAD_REQUEST, "BadRequestException", "Content.Raw.Data is not base64") };
    let from = request["FromEmailAddress"].as_str().unwrap_or_default().to_owned();
    let to: Vec<String> = request["Destination"]["ToAddresses"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect();
    let accepted = accept(&emulator, from, to, raw);
    let message_id = match accepted {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    if let Some(viewer) = &emulator.config.forward_to {
        forward(&emulator.http, viewer, &request).await;
    }
    axum::Json(json!({ "MessageId": message_id })).into_response()
}

/// Applies the faults and SES's checks; the new message's id, or the refusal.
fn accept(emulator: &Emulator, from: String, to: Vec<String>, raw: Vec<u8>) -> Result<String, Response> {
    let mut inner = emulator.lock();
    inner.attempts += 1;
    if inner.faults.unavailable > 0 {
        inner.faults.unavailable -= 1;
        return Err(error(StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure", "injected by the emulator"));
    }
    if inner.faults.throttle > 0 {
        inner.faults.throttle -= 1;
        return Err(error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException", "Maximum sending rate exceeded."));
    }
    if !emulator.verified(&from) {
        return Err(error(StatusCode::BAD_REQUEST, "MessageRejected", &format!("Email address is not verified. The following identities failed the check in region US-EAST-1: {from}")));
    }
    if to.is_empty() {
        return Err(error(StatusCode::BAD_REQUEST, "BadRequestException", "Missing final '@domain'"));
    }
    if let Some(rejected) = to.iter().find(|t| inner.faults.reject.contains(*t)) {
        return Err(error(StatusCode::BAD_REQUEST, "MessageRejected", &format!("Address blacklisted: {rejected}")));
    }
    let message_id = format!("0100018c-{:016x}-emulator-000000", inner.sent.len() + 1);
    inner.sent.push(Sent { message_id: message_id.clone(), from, to, raw: String::from_utf8_lossy(&raw).into_owned() });
    Ok(message_id)
}

/// The same request to the viewer (it wants some credentials, any).
async fn forward(http: &reqwest::Client, viewer: &str, request: &Value) {
    let sent = http
        .post(format!("{}/v2/email/outbound-emails", viewer.trim_end_matches('/')))
        .header("authorization", "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/ses/aws4_request, SignedHeaders=host, Signature=0")
        .json(request)
        .send()
        .await;
    if let Err(err) = sent.and_then(reqwest::Response::error_for_status) {
        tracing::warn!(%err, "the mail viewer did not take a message");
    }
}

async fn account(State(emulator): State<Shared>) -> Response {
    let sent = emulator.lock().sent.len();
    axum::Json(json!({
        "SendingEnabled": true,
        "ProductionAccessEnabled": true,
        "EnforcementStatus": "HEALTHY",
        "DedicatedIpAutoWarmupEnabled": false,
        "SendQuota": {"Max24HourSend": 200.0, "MaxSendRate": 1.0, "SentLast24Hours": sent as f64},
    }))
    .into_response()
}

async fn identity(State(emulator): State<Shared>, Path(identity): Path<String>) -> Response {
    let known = emulator.config.verified.iter().any(|id| id.eq_ignore_ascii_case(&identity));
    if !known {
        return error(StatusCode::NOT_FOUND, "NotFoundException", &format!("Email identity {identity} does not exist."));
    }
    let kind = if identity.contains('@') { "EMAIL_ADDRESS" } else { "DOMAIN" };
    axum::Json(json!({"IdentityType": kind, "VerifiedForSendingStatus": true, "VerificationStatus": "SUCCESS", "FeedbackForwardingStatus": true})).into_response()
}

async fn messages(State(emulator): State<Shared>) -> Response {
    let inner = emulator.lock();
    axum::Json(json!({ "messages": inner.sent, "attempts": inner.attempts })).into_response()
}

async fn clear(State(emulator): State<Shared>) -> StatusCode {
    emulator.lock().sent.clear();
    StatusCode::NO_CONTENT
}

async fn set_faults(State(emulator): State<Shared>, axum::Json(faults): axum::Json<Faults>) -> StatusCode {
    emulator.lock().faults = faults;
    StatusCode::NO_CONTENT
}
