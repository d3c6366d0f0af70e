//! The 100ms REST API (rooms and room codes) and its tokens.
//!
//! Management tokens are minted here from the app access key and secret
//! (HS256), cached, and renewed well before they expire; a pasted dashboard
//! token lasts two weeks at most, so it is only an optional override.

use std::sync::Mutex;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::Clock;
use crate::domain::Stay;
use crate::config::Env;

/// Minted management tokens live a day, as the official SDK's do.
const MANAGEMENT_TTL: SignedDuration = SignedDuration::from_hours(24);
/// Renewed this long before they expire, never after.
const RENEW_BEFORE: SignedDuration = SignedDuration::from_hours(1);
/// `iat`/`nbf` are back-dated for clock skew, as the official SDK does.
const SKEW: SignedDuration = SignedDuration::from_secs(10);
/// Attempts per call on 429, 5xx and timeouts.
const MAX_ATTEMPTS: u32 = 3;
/// The budget of one call including its retries when `HMS_TIMEOUT_MS` is
/// unset (as template.yaml leaves it); part of the functions' timeouts.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;

#[derive(Clone)]
pub struct HmsConfig {
    pub access_key: String,
    pub secret: String,
    pub template_id: String,
    pub api_base: String,
    pub teacher_role: String,
    pub student_role: String,
    pub subdomain: String,
    pub management_token: Option<String>,
    /// Budget for one call including its retries.
    pub timeout: Duration,
    /// Where each room we create posts its events (hms-webhook), with the
    /// secret header that authenticates them; none: attendance comes from
    /// the sessions API alone.
    pub webhook: Option<RoomWebhook>,
}

/// `HMS_WEBHOOK_URL` and the first of `HMS_WEBHOOK_SECRET`.
#[derive(Clone)]
pub struct RoomWebhook {
    pub url: String,
    pub secret: String,
}

/// The header 100ms sends with our rooms' events, carrying the secret.
pub const WEBHOOK_SECRET_HEADER: &str = "X-Webhook-Secret";

impl std::fmt::Debug for HmsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HmsConfig")
            .field("template_id", &self.template_id)
            .field("api_base", &self.api_base)
            .field("teacher_role", &self.teacher_role)
            .field("student_role", &self.student_role)
            .field("subdomain", &self.subdomain)
            .finish_non_exhaustive()
    }
}

impl HmsConfig {
    pub fn read(env: &mut Env) -> Option<Self> {
        let text = |s: &str| if s.is_empty() { Err("must not be empty".to_owned()) } else { Ok(s.to_owned()) };
        let access_key = env.required("HMS_APP_ACCESS_KEY", "100ms dashboard > Developer > App access key", text);
        let secret = env.required("HMS_APP_SECRET", "100ms dashboard > Developer > App secret", text);
        let template_id = env.required("HMS_TEMPLATE_ID", "100ms dashboard > Templates > your template > its id", text);
        let subdomain = env.required("HMS_SUBDOMAIN", "100ms dashboard > Templates > your template > the <subdomain>.app.100ms.live of its join links", |s| {
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') { Ok(s.to_owned()) } else { Err("must be a subdomain like my-app".into()) }
        });
        let api_base = env.with_default("HMS_API_BASE", "https://api.100ms.live/v2/", |s| {
            let s = if s.ends_with('/') { s.to_owned() } else { format!("{s}/") };
            if s.starts_with("https://") || s.starts_with("http://127.0.0.1") || s.starts_with("http://localhost") { Ok(s) } else { Err("must be an https URL".into()) }
        });
        let teacher_role = env.with_default("HMS_TEACHER_ROLE", "host", text);
        let student_role = env.with_default("HMS_STUDENT_ROLE", "guest", text);
        let management_token = env.optional("HMS_MANAGEMENT_TOKEN", "optional override; leave unset so tokens are minted and renewed", text);
        let timeout = env.with_default("HMS_TIMEOUT_MS", &DEFAULT_TIMEOUT_MS.to_string(), |s| {
            s.parse::<u64>().ok().filter(|ms| (100..=10_000).contains(ms)).map(Duration::from_millis).ok_or_else(|| "must be 100 to 10000 milliseconds".into())
        });
        let webhook_url = env.optional("HMS_WEBHOOK_URL", "the hms-webhook Function URL (the template sets it); unset: attendance from the sessions API alone", |s| {
            if s.starts_with("https://") || s.starts_with("http://127.0.0.1") || s.starts_with("http://localhost") { Ok(s.to_owned()) } else { Err("must be an https URL".into()) }
        });
        let webhook_secret = env.optional("HMS_WEBHOOK_SECRET", "a long random string; hms-webhook takes a second one, comma separated, while rotating", |s| {
            s.split(',').next().map(str::trim).filter(|first| first.len() >= 32).map(str::to_owned).ok_or_else(|| "must be at least 32 characters".into())
        });
        // A room code's role says who joined; one role for both would count one person twice.
        if let (Some(teacher), Some(student)) = (&teacher_role, &student_role)
            && teacher == student
        {
            env.problem(format!("HMS_TEACHER_ROLE and HMS_STUDENT_ROLE are both {teacher:?}: they must be two roles of the template"));
            return None;
        }
        let webhook = match (webhook_url, webhook_secret) {
            (Some(url), Some(secret)) => Some(RoomWebhook { url, secret }),
            (None, _) => None,
            (Some(_), None) => {
                env.problem("HMS_WEBHOOK_URL is set without HMS_WEBHOOK_SECRET: rooms would post unauthenticated events");
                return None;
            }
        };
        Some(Self {
            access_key: access_key?,
            secret: secret?,
            template_id: template_id?,
            api_base: api_base?,
            teacher_role: teacher_role?,
            student_role: student_role?,
            subdomain: subdomain?,
            management_token,
            timeout: timeout?,
            webhook,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HmsError {
    #[error("100ms did not answer within {0:?}")]
    Timeout(Duration),
    #[error("100ms answered {status}: {message}")]
    Rejected { status: u16, message: String },
    #[error("talking to 100ms failed: {0}")]
    Transport(String),
    #[error("template {template} has no enabled {role:?} role: add it in the 100ms dashboard or set HMS_{which}_ROLE")]
    MissingRole { template: String, role: String, which: &'static str },
    #[error("100ms's answer was unusable: {0}")]
    Unusable(String),
}

impl HmsError {
    /// Worth trying again later (a repair run): 100ms or the network failed,
    /// not our configuration.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout(_) | Self::Transport(_) => true,
            Self::Rejected { status, .. } => *status == 429 || *status >= 500,
            Self::MissingRole { .. } | Self::Unusable(_) => false,
        }
    }
}

#[derive(Debug, Serialize)]
struct ManagementClaims<'a> {
    access_key: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    version: u8,
    iat: i64,
    nbf: i64,
    exp: i64,
    jti: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AppClaims {
    pub access_key: String,
    pub room_id: String,
    pub user_id: String,
    pub role: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub version: u8,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
}

/// A room as 100ms describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub id: String,
    pub enabled: bool,
}

/// The join codes of the two roles a lesson needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomCodes {
    pub teacher: String,
    pub student: String,
}

/// What a room is asked to be; identical for every retry of one booking,
/// because creating a room with an existing name overwrites its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSpec {
    pub name: String,
    pub description: String,
    pub max_duration_seconds: u32,
}

struct CachedToken {
    token: String,
    expires: Timestamp,
}

pub struct Hms {
    config: HmsConfig,
    http: reqwest::Client,
    clock: Clock,
    cached: Mutex<Option<CachedToken>>,
}

impl Hms {
    pub fn new(config: HmsConfig, clock: Clock) -> Result<Self, HmsError> {
        let http = crate::net::client_builder().build().map_err(|e| HmsError::Unusable(e.to_string()))?;
        Ok(Self { config, http, clock, cached: Mutex::new(None) })
    }

    pub fn config(&self) -> &HmsConfig {
        &self.config
    }

    /// The token for the REST API: the override if configured, else a
    /// cached one until an hour before it expires, then a fresh one.
    pub fn management_token(&self) -> Result<String, HmsError> {
        if let Some(token) = &self.config.management_token {
            return Ok(token.clone());
        }
        let now = self.clock.now();
        let mut cached = self.cached.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = cached.as_ref().filter(|c| c.expires - RENEW_BEFORE > now) {
            return Ok(c.token.clone());
        }
        let expires = now + MANAGEMENT_TTL;
        let claims = ManagementClaims {
            access_key: &self.config.access_key,
            kind: "management",
            version: 2,
            iat: (now - SKEW).as_second(),
            nbf: (now - SKEW).as_second(),
            exp: expires.as_second(),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let token = self.sign(&claims)?;
        *cached = Some(CachedToken { token: token.clone(), expires });
        Ok(token)
    }

    fn forget_token(&self) {
        *self.cached.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// A token for one person to join one room in one role, valid until `until`.
    pub fn app_token(&self, room_id: &str, user_id: &str, role: &str, until: Timestamp) -> Result<String, HmsError> {
        let now = self.clock.now();
        let claims = AppClaims {
            access_key: self.config.access_key.clone(),
            room_id: room_id.to_owned(),
            user_id: user_id.to_owned(),
            role: role.to_owned(),
            kind: "app".into(),
            version: 2,
            iat: (now - SKEW).as_second(),
            nbf: (now - SKEW).as_second(),
            exp: until.as_second(),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        self.sign(&claims)
    }

    fn sign<T: Serialize>(&self, claims: &T) -> Result<String, HmsError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(self.config.secret.as_bytes())).map_err(|e| HmsError::Unusable(e.to_string()))
    }

    /// Creates the room, or returns the existing one of that name (with the
    /// same settings, since the body is the same).
    pub async fn create_room(&self, spec: &RoomSpec) -> Result<Room, HmsError> {
        let mut body = json!({
            "name": spec.name,
            "description": spec.description,
            "template_id": self.config.template_id,
            "max_duration_seconds": spec.max_duration_seconds,
        });
        if let Some(webhook) = &self.config.webhook {
            body["webhook"] = json!({"url": webhook.url, "headers": {WEBHOOK_SECRET_HEADER: webhook.secret}});
        }
        let room = self.call(reqwest::Method::POST, "rooms", Some(&body)).await?;
        room_of(&room)
    }

    /// Codes for the teacher and student roles; both must exist and be enabled.
    pub async fn room_codes(&self, room_id: &str) -> Result<RoomCodes, HmsError> {
        let answer = self.call(reqwest::Method::POST, &format!("room-codes/room/{room_id}"), None).await?;
        let codes = answer["data"].as_array().cloned().unwrap_or_default();
        let code_for = |role: &str, which: &'static str| {
            codes
                .iter()
                .find(|c| c["role"] == role && c["enabled"] != false)
                .and_then(|c| c["code"].as_str().map(str::to_owned))
                .ok_or_else(|| HmsError::MissingRole { template: self.config.template_id.clone(), role: role.to_owned(), which })
        };
        Ok(RoomCodes { teacher: code_for(&self.config.teacher_role, "TEACHER")?, student: code_for(&self.config.student_role, "STUDENT")? })
    }

    /// The template's (teacher, student) role names: a room code carries its role.
    pub fn roles(&self) -> (&str, &str) {
        (&self.config.teacher_role, &self.config.student_role)
    }

    /// Nobody can join a disabled room.
    pub async fn disable_room(&self, room_id: &str) -> Result<(), HmsError> {
        self.call(reqwest::Method::POST, &format!("rooms/{room_id}"), Some(&json!({"enabled": false}))).await.map(|_| ())
    }

    /// Every stay of every peer in the room's sessions, ended and running
    /// (100ms lists only running ones unless asked for `active=false`),
    /// following every page: the source of truth for attendance.
    pub async fn stays(&self, room_id: &str) -> Result<Vec<Stay>, HmsError> {
        let mut stays = Vec::new();
        // Running first: a session that ends between the two reads is then
        // in the second; read the other way round it would be in neither.
        for active in ["true", "false"] {
            let mut start: Option<String> = None;
            loop {
                let cursor = start.as_deref().map(|s| format!("&start={s}")).unwrap_or_default();
                let page = self.call(reqwest::Method::GET, &format!("sessions?room_id={room_id}&active={active}&limit=100{cursor}"), None).await?;
                // No list is no answer: never read as "nobody came".
                let sessions = page["data"].as_array().ok_or_else(|| HmsError::Unusable("a sessions page without data".into()))?;
                for session in sessions {
                    for peer in session["peers"].as_object().into_iter().flat_map(|p| p.values()) {
                        let time = |field: &str| peer[field].as_str().and_then(|s| s.parse::<Timestamp>().ok());
                        if let (Some(peer_id), Some(user_id), Some(joined_at)) = (peer["id"].as_str(), peer["user_id"].as_str(), time("joined_at")) {
                            let role = peer["role"].as_str().map(str::to_owned);
                            stays.push(Stay { peer_id: peer_id.to_owned(), user_id: user_id.to_owned(), role, joined_at, left_at: time("left_at") });
                        }
                    }
                }
                match page["last"].as_str().filter(|l| !l.is_empty()) {
                    Some(last) if start.as_deref() != Some(last) => start = Some(last.to_owned()),
                    _ => break,
                }
            }
        }
        Ok(stays)
    }

    pub fn join_url(&self, code: &str) -> String {
        format!("https://{}.app.100ms.live/meeting/{code}", self.config.subdomain)
    }

    /// One API call: retried with exponential backoff and jitter on 429,
    /// 5xx and dropped connections (bounded in count and by the budget),
    /// once with a fresh token on 401, never on other 4xx.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<Value, HmsError> {
        let url = format!("{}{path}", self.config.api_base);
        let attempts = async {
            let mut refreshed = false;
            let mut attempt = 0;
            loop {
                attempt += 1;
                let mut request = self.http.request(method.clone(), &url).bearer_auth(self.management_token()?);
                if let Some(body) = body {
                    request = request.json(body);
                }
                let outcome = match request.send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let answer: Value = response.json().await.unwrap_or(Value::Null);
                        if (200..300).contains(&status) {
                            return Ok(answer);
                        }
                        HmsError::Rejected { status, message: answer["message"].as_str().unwrap_or("no message").to_owned() }
                    }
                    Err(err) => HmsError::Transport(err.to_string()),
                };
                match outcome {
                    HmsError::Rejected { status: 401, .. } if !refreshed && self.config.management_token.is_none() => {
                        refreshed = true;
                        self.forget_token();
                    }
                    err if err.is_transient() && attempt < MAX_ATTEMPTS => {
                        let cap = 100u64 << attempt;
                        let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) * cap / 255;
                        tokio::time::sleep(Duration::from_millis(jitter)).await;
                    }
                    err => return Err(err),
                }
            }
        };
        tokio::time::timeout(self.config.timeout, attempts).await.map_err(|_| HmsError::Timeout(self.config.timeout))?
    }
}

fn room_of(value: &Value) -> Result<Room, HmsError> {
    let id = value["id"].as_str().ok_or_else(|| HmsError::Unusable("a room without an id".into()))?;
    Ok(Room { id: id.to_owned(), enabled: value["enabled"].as_bool().unwrap_or(true) })
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation};

    use super::*;

    fn config() -> HmsConfig {
        HmsConfig {
            access_key: "ak_test".into(),
            secret: "hms-secret-hms-secret-hms-secret".into(),
            template_id: "tpl_1".into(),
            api_base: "http://127.0.0.1:1/".into(),
            teacher_role: "host".into(),
            student_role: "guest".into(),
            subdomain: "lessons".into(),
            management_token: None,
            timeout: Duration::from_secs(1),
            webhook: None,
        }
    }

    fn claims(token: &str) -> serde_json::Map<String, Value> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &DecodingKey::from_secret(b"hms-secret-hms-secret-hms-secret"), &validation).unwrap().claims
    }

    #[test]
    fn management_tokens_carry_100ms_claims_and_are_renewed_before_expiry() {
        let t0: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let first = Hms::new(config(), Clock::Fixed(t0)).unwrap().management_token().unwrap();
        let c = claims(&first);
        assert_eq!((c["access_key"].as_str(), c["type"].as_str(), c["version"].as_u64()), (Some("ak_test"), Some("management"), Some(2)));
        assert_eq!(c["exp"].as_i64(), Some((t0 + MANAGEMENT_TTL).as_second()));
        assert_eq!(c["iat"].as_i64(), Some((t0 - SKEW).as_second()));
        assert!(c["jti"].as_str().is_some_and(|j| j.len() == 36));

        // The cache is kept until an hour before expiry, then renewed.
        let hms = Hms::new(config(), Clock::Fixed(t0)).unwrap();
        let cached = hms.management_token().unwrap();
        let mut later = Hms::new(config(), Clock::Fixed(t0 + SignedDuration::from_hours(22))).unwrap();
        later.cached = Mutex::new(Some(CachedToken { token: cached.clone(), expires: t0 + MANAGEMENT_TTL }));
        assert_eq!(later.management_token().unwrap(), cached, "22 h in: still the cached one");
        let mut due = Hms::new(config(), Clock::Fixed(t0 + SignedDuration::from_hours(23))).unwrap();
        due.cached = Mutex::new(Some(CachedToken { token: cached.clone(), expires: t0 + MANAGEMENT_TTL }));
        let renewed = due.management_token().unwrap();
        assert_ne!(renewed, cached, "23 h in: renewed before expiry");
        assert_eq!(claims(&renewed)["exp"].as_i64(), Some((t0 + SignedDuration::from_hours(47)).as_second()));
    }

    #[test]
    fn app_tokens_carry_room_user_role_and_end() {
        let t0: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let hms = Hms::new(config(), Clock::Fixed(t0)).unwrap();
        let until = t0 + SignedDuration::from_hours(2);
        let c = claims(&hms.app_token("room_1", "s_1", "guest", until).unwrap());
        for (k, v) in [("access_key", "ak_test"), ("room_id", "room_1"), ("user_id", "s_1"), ("role", "guest"), ("type", "app")] {
            assert_eq!(c[k].as_str(), Some(v), "{k}");
        }
        assert_eq!((c["version"].as_u64(), c["exp"].as_i64()), (Some(2), Some(until.as_second())));
    }

    #[test]
    fn the_override_token_is_used_as_given_and_secrets_never_show() {
        let mut with_override = config();
        with_override.management_token = Some("pasted".into());
        assert_eq!(Hms::new(with_override.clone(), Clock::System).unwrap().management_token().unwrap(), "pasted");
        let shown = format!("{with_override:?} {with_override:#?}");
        assert!(!shown.contains("hms-secret") && !shown.contains("pasted") && !shown.contains("ak_test"), "{shown}");
    }
}
