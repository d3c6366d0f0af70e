//! Who is calling. Tokens are JWTs in `Authorization: Bearer`; `sub` is the
//! user id. The algorithm is pinned by configuration, never taken from the
//! token, so `alg: none` and HS/RS confusion cannot get through.

mod jwks;
mod operator;

use std::time::Duration;

use http::HeaderMap;
use jiff::{SignedDuration, Timestamp};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::Env;
use crate::error::ApiError;
pub use jwks::JwksError;
use jwks::JwksCache;
pub use operator::{Operator, OperatorAuth, OperatorAuthConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Student,
    Teacher,
    Admin,
}

/// Claims as this project mints them (local stack, admin CLI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub exp: i64,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

impl Claims {
    pub fn new(sub: impl Into<String>, role: Role, now: Timestamp, ttl: SignedDuration) -> Self {
        let iat = now.as_second();
        Self { sub: sub.into(), role, iat, exp: iat.saturating_add(ttl.as_secs()), email: None, name: None, iss: None, aud: None }
    }
}

/// Signs HS256 tokens with the shared secret, as the local stack and the
/// admin CLI do for development; production tokens come from the auth provider.
pub fn mint_hs256(secret: &str, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes()))
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub email: Option<String>,
    /// The token's `email_verified`, when it has one.
    pub email_verified: Option<bool>,
    /// The token's `name` claim, for showing the other party (a teacher
    /// never sees a student's raw identity-provider subject).
    pub name: Option<String>,
    /// `Admin` only when the deployment's [`AdminRule`] admits the token;
    /// otherwise our own `student`/`teacher` role claim when present
    /// (providers such as Supabase put `"authenticated"` there, no role of ours).
    pub role: Option<Role>,
}

/// What a verified token must and may carry. `role` stays a string so
/// foreign values do not reject an otherwise valid token.
#[derive(Deserialize)]
struct TokenClaims {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
    #[serde(default)]
    name: Option<serde_json::Value>,
    #[serde(default)]
    role: Option<serde_json::Value>,
}

/// Who is a platform admin: set at deploy time, never read from a claim
/// whose meaning belongs to the identity provider (Supabase's `role` is the
/// Postgres role; WorkOS's is the user's role in an organization they may
/// have created themselves). A token is an admin's when its claim at
/// `claim` (a JSON Pointer, RFC 6901) is `value` or a list holding it, or
/// when its subject is listed. Neither set: nobody is an admin by token
/// (the operator endpoints still take IAM).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminRule {
    pub claim: Option<(String, String)>,
    pub subjects: Vec<String>,
}

impl AdminRule {
    fn read(env: &mut Env) -> Option<Self> {
        let pointer = env.optional("AUTH_ADMIN_CLAIM", "a JSON Pointer to the claim that marks admins, e.g. /cognito:groups", |s| {
            if s.starts_with('/') { Ok(s.to_owned()) } else { Err("must be a JSON Pointer starting with /, e.g. /cognito:groups or /https:~1~1lessons.example~1roles".into()) }
        });
        let value = env.optional("AUTH_ADMIN_VALUE", "the value of AUTH_ADMIN_CLAIM that marks an admin, e.g. admins", |s| Ok(s.to_owned()));
        let subjects = env.optional("AUTH_ADMIN_SUBJECTS", "a comma-separated list of token subjects that are admins", |s| {
            Ok(s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect::<Vec<_>>())
        });
        let claim = match (pointer, value) {
            (Some(pointer), Some(value)) => Some((pointer, value)),
            (None, None) => None,
            _ => {
                env.problem("set AUTH_ADMIN_CLAIM and AUTH_ADMIN_VALUE together");
                return None;
            }
        };
        Some(Self { claim, subjects: subjects.unwrap_or_default() })
    }

    pub fn admits(&self, sub: &str, claims: &serde_json::Value) -> bool {
        let by_claim = self.claim.as_ref().is_some_and(|(pointer, value)| match claims.pointer(pointer) {
            Some(serde_json::Value::String(s)) => s == value,
            Some(serde_json::Value::Array(list)) => list.iter().any(|v| v.as_str() == Some(value)),
            _ => false,
        });
        by_claim || self.subjects.iter().any(|s| s == sub)
    }
}

#[derive(Clone)]
pub enum KeySource {
    Hs256 { secret: String },
    Jwks { url: String, algorithm: Algorithm },
}

/// Configuration gets logged; the HS256 secret must not be.
impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Hs256 { .. } => f.debug_struct("Hs256").field("secret", &"<redacted>").finish(),
            Self::Jwks { url, algorithm } => f.debug_struct("Jwks").field("url", url).field("algorithm", algorithm).finish(),
        }
    }
}

/// Debug is derived: the only secret lives in [`KeySource`], whose Debug redacts it.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub keys: KeySource,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub admins: AdminRule,
}

const SECRET_VAR: &str = "AUTH_JWT_SECRET";
const SECRET_HELP: &str = "your auth provider's JWT secret (Supabase: Settings > API); .env.local has the development one";

fn parse_secret(raw: &str) -> Result<String, String> {
    if raw.len() >= 32 { Ok(raw.to_owned()) } else { Err("must be at least 32 characters".into()) }
}

/// The HS256 secret itself, for tools that mint development tokens.
pub fn read_signing_secret(env: &mut Env) -> Option<String> {
    env.required(SECRET_VAR, SECRET_HELP, parse_secret)
}

impl AuthConfig {
    pub fn read(env: &mut Env) -> Option<Self> {
        let secret = env.optional(SECRET_VAR, SECRET_HELP, parse_secret);
        let url = env.optional("AUTH_JWKS_URL", "your identity provider's JWKS URL", |s| {
            if s.starts_with("https://") || s.starts_with("http://127.0.0.1") || s.starts_with("http://localhost") {
                Ok(s.to_owned())
            } else {
                Err("must be an https URL".into())
            }
        });
        let algorithm = env.with_default("AUTH_JWT_ALGORITHM", "RS256", |s| match s {
            "RS256" => Ok(Algorithm::RS256),
            "ES256" => Ok(Algorithm::ES256),
            _ => Err("must be RS256 or ES256 (used with AUTH_JWKS_URL)".into()),
        });
        let issuer = env.optional("AUTH_ISSUER", "the expected `iss` claim", |s| Ok(s.to_owned()));
        let audience = env.optional("AUTH_AUDIENCE", "the expected `aud` claim", |s| Ok(s.to_owned()));
        let admins = AdminRule::read(env);
        let keys = match (secret, url) {
            (Some(secret), None) => KeySource::Hs256 { secret },
            (None, Some(url)) => KeySource::Jwks { url, algorithm: algorithm? },
            (Some(_), Some(_)) => {
                env.problem("set only one of AUTH_JWT_SECRET and AUTH_JWKS_URL");
                return None;
            }
            (None, None) => {
                env.problem("AUTH_JWT_SECRET or AUTH_JWKS_URL must be set (your auth provider's JWT secret or JWKS URL)");
                return None;
            }
        };
        Some(Self { keys, issuer, audience, admins: admins? })
    }
}

/// Verifies bearer tokens; built once at start-up.
pub struct Authenticator {
    validation: Validation,
    keys: Keys,
    admins: AdminRule,
}

enum Keys {
    Secret(DecodingKey),
    Jwks(JwksCache),
}

impl Authenticator {
    /// For JWKS, fetches the key set now so a wrong URL fails the start-up,
    /// not the first request.
    pub async fn new(config: AuthConfig, http: reqwest::Client) -> Result<Self, JwksError> {
        let (algorithm, keys) = match config.keys {
            KeySource::Hs256 { secret } => (Algorithm::HS256, Keys::Secret(DecodingKey::from_secret(secret.as_bytes()))),
            KeySource::Jwks { url, algorithm } => (algorithm, Keys::Jwks(JwksCache::fetch(http, url, algorithm).await?)),
        };
        let mut validation = Validation::new(algorithm);
        // jsonwebtoken checks `iss` and `aud` only when a token carries them
        // unless they are required: a configured one must be present.
        let mut required = vec!["exp", "sub"];
        required.extend(config.issuer.as_ref().map(|_| "iss"));
        required.extend(config.audience.as_ref().map(|_| "aud"));
        validation.set_required_spec_claims(&required);
        validation.leeway = 30;
        validation.validate_nbf = true;
        match &config.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &config.issuer {
            validation.set_issuer(&[iss]);
        }
        Ok(Self { validation, keys, admins: config.admins })
    }

    /// Lets tests refresh the JWKS without waiting a minute after the last fetch.
    pub fn with_jwks_refresh_interval(mut self, interval: Duration) -> Self {
        if let Keys::Jwks(cache) = &mut self.keys {
            cache.set_min_refresh_interval(interval);
        }
        self
    }

    /// Lets tests age the JWKS without waiting ten minutes.
    pub fn with_jwks_max_age(mut self, max_age: Duration) -> Self {
        if let Keys::Jwks(cache) = &mut self.keys {
            cache.set_max_age(max_age);
        }
        self
    }

    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let token = bearer(headers)?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| unauthorized("the bearer token is malformed"))?;
        if header.alg != self.validation.algorithms[0] {
            return Err(unauthorized("the token is signed with an algorithm this service does not accept"));
        }
        let key = match &self.keys {
            Keys::Secret(key) => key.clone(),
            Keys::Jwks(cache) => cache.key(header.kid.as_deref()).await.ok_or_else(|| unauthorized("the token's signing key is unknown"))?,
        };
        let all = jsonwebtoken::decode::<serde_json::Value>(token, &key, &self.validation).map_err(|e| unauthorized(reason(&e)))?.claims;
        let claims = TokenClaims::deserialize(&all).map_err(|_| unauthorized("the token has no usable subject"))?;
        if claims.sub.trim().is_empty() || claims.sub.len() > 256 {
            return Err(unauthorized("the token has no usable subject"));
        }
        let role = if self.admins.admits(&claims.sub, &all) {
            Some(Role::Admin)
        } else {
            claims.role.and_then(|r| serde_json::from_value(r).ok()).filter(|r| *r != Role::Admin)
        };
        let name = claims.name.as_ref().and_then(serde_json::Value::as_str).map(display_name).filter(|n| !n.is_empty());
        let email = claims.email.as_deref().and_then(|e| crate::domain::EmailAddress::parse(e).ok()).map(String::from);
        // Some providers send the boolean as a string ("false").
        let email_verified = claims.email_verified.and_then(|v| v.as_bool().or_else(|| v.as_str().and_then(|s| s.parse().ok())));
        Ok(Principal { user_id: claims.sub, email, email_verified, name, role })
    }
}

/// A name as shown to someone else: one line, at most 100 characters.
fn display_name(raw: &str) -> String {
    raw.split_whitespace().collect::<Vec<_>>().join(" ").chars().filter(|c| !c.is_control()).take(100).collect()
}

/// Operator endpoints take only tokens the [`AdminRule`] admits.
pub fn require_admin(who: &Principal) -> Result<(), ApiError> {
    if who.role == Some(Role::Admin) { Ok(()) } else { Err(ApiError::Forbidden) }
}

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(http::header::AUTHORIZATION).ok_or_else(|| unauthorized("an Authorization: Bearer token is required"))?;
    let value = value.to_str().map_err(|_| unauthorized("the Authorization header is malformed"))?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(unauthorized("the Authorization header must be `Bearer <token>`"));
    }
    Ok(token.trim())
}

fn reason(err: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match err.kind() {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet",
        ErrorKind::InvalidIssuer => "the token was issued by someone else",
        ErrorKind::InvalidAudience => "the token is meant for another audience",
        ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim (exp, sub, and iss and aud where configured)",
        ErrorKind::InvalidSignature => "the token's signature is invalid",
        _ => "the bearer token is invalid",
    }
}

fn unauthorized(reason: &'static str) -> ApiError {
    ApiError::Unauthorized(reason)
}
