//! Who is calling. Tokens are JWTs; `sub` is the user id and `role` says
//! which side of the marketplace the user is on.

use jiff::{SignedDuration, Timestamp};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Student,
    Teacher,
    Admin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub exp: i64,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl Claims {
    pub fn new(sub: impl Into<String>, role: Role, now: Timestamp, ttl: SignedDuration) -> Self {
        let iat = now.as_second();
        Self { sub: sub.into(), role, iat, exp: iat.saturating_add(ttl.as_secs()), email: None }
    }
}

/// Signs HS256 tokens with the shared secret, as the local stack and the
/// admin CLI do for development; production tokens come from the auth provider.
pub fn mint_hs256(secret: &str, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes()))
}
