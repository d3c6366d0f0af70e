//! Stripe's `Idempotency-Key`: a key names one request, per API key. A
//! repeat with the same endpoint and parameters gets the first answer back;
//! anything else under the key is refused. The emulator's state keeps the
//! answers ([`super::state::Emulator::idempotent`]); the rules are here.

use serde_json::Value;

use super::error::ApiError;

/// Stripe keeps idempotency keys "up to 255 characters".
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// A stored result for an `Idempotency-Key`: what it was first used for and
/// what was answered (a success, or a 5xx: Stripe saves a result once the
/// request started executing, errors included).
pub(super) struct Replay {
    pub(super) endpoint: String,
    pub(super) params: Value,
    pub(super) response: Result<Value, ApiError>,
}

/// A request's idempotency scope: Stripe keys them per API key.
pub struct IdempotencyScope<'a> {
    pub api_key: &'a str,
    pub key: &'a str,
    pub endpoint: String,
    pub params: Value,
}

pub(super) fn check_key_length(key: &str) -> Result<(), ApiError> {
    if key.chars().count() > MAX_IDEMPOTENCY_KEY {
        return Err(ApiError::InvalidRequest {
            message: format!("Idempotency-Key is too long: keys may be at most {MAX_IDEMPOTENCY_KEY} characters."),
            param: None,
            code: None,
        });
    }
    Ok(())
}

pub(super) fn replay_of(replay: &Replay, scope: &IdempotencyScope<'_>) -> Result<Value, ApiError> {
    if replay.endpoint != scope.endpoint {
        return Err(ApiError::Idempotency(format!(
            "Keys for idempotent requests can only be used for the same endpoint they were first used for ('{}' vs '{}'). Try using a key other than '{}' if you meant to execute a different request.",
            replay.endpoint, scope.endpoint, scope.key
        )));
    }
    if replay.params != scope.params {
        return Err(ApiError::Idempotency(format!(
            "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{}' if you meant to execute a different request.",
            scope.key
        )));
    }
    replay.response.clone()
}
