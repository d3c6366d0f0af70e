//! Who a peer is, as 100ms decides it. A client joins with an app token:
//! one we minted (its `user_id` our login, its role the one we chose), or
//! one it got for a room code from 100ms's auth service (`POST /v2/token`
//! with `{"code", "user_id"?}`, as roomkit's Prebuilt calls it). The code
//! decides only the room and the role; the hosted Prebuilt link passes no
//! `user_id`, so 100ms gives the peer a random one.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Emulator, Shared, error};

/// The identity a join carries.
pub(super) struct Joiner {
    pub room_id: String,
    pub user_id: String,
    pub role: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeExchange {
    code: String,
    #[serde(default)]
    user_id: Option<String>,
}

/// The room and role of an enabled room's code, and the `user_id` the
/// exchange gives: the one asked for, else a random one.
pub(super) fn by_code(emulator: &Emulator, code: &str, user_id: Option<String>) -> Result<Joiner, Response> {
    let inner = emulator.lock();
    let Some(((room_id, role), _)) = inner.codes.iter().find(|(_, c)| c.as_str() == code) else {
        return Err(error(StatusCode::NOT_FOUND, "room code not found", &[code]));
    };
    if !inner.rooms.iter().any(|r| &r.id == room_id && r.enabled) {
        return Err(error(StatusCode::FORBIDDEN, "room is disabled", &[room_id]));
    }
    Ok(Joiner { room_id: room_id.clone(), role: role.clone(), user_id: user_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()) })
}

/// An app token's identity, its signature checked with the app secret.
pub(super) fn by_token(emulator: &Emulator, token: &str) -> Result<Joiner, Response> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp"]);
    let claims = jsonwebtoken::decode::<Value>(token, &DecodingKey::from_secret(emulator.config.secret.as_bytes()), &validation)
        .map_err(|e| error(StatusCode::UNAUTHORIZED, "Token validation error", &[&e.to_string()]))?
        .claims;
    let field = |name: &str| claims[name].as_str().map(str::to_owned);
    match (claims["type"].as_str(), field("room_id"), field("user_id"), field("role")) {
        (Some("app"), Some(room_id), Some(user_id), Some(role)) => Ok(Joiner { room_id, user_id, role }),
        _ => Err(error(StatusCode::UNAUTHORIZED, "Token validation error", &["not an app token with room_id, user_id and role"])),
    }
}

/// `POST /v2/token`: a room code exchanged for an app token.
pub(super) async fn exchange(State(emulator): State<Shared>, body: Bytes) -> Response {
    let request: CodeExchange = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => return error(StatusCode::BAD_REQUEST, "invalid request", &[&err.to_string()]),
    };
    let joiner = match by_code(&emulator, &request.code, request.user_id) {
        Ok(joiner) => joiner,
        Err(response) => return response,
    };
    let now = jiff::Timestamp::now().as_second();
    let claims = json!({"access_key": emulator.config.access_key, "room_id": joiner.room_id, "user_id": joiner.user_id, "role": joiner.role,
        "type": "app", "version": 2, "iat": now, "nbf": now, "exp": now + 86_400, "jti": uuid::Uuid::new_v4().to_string()});
    match jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(emulator.config.secret.as_bytes())) {
        Ok(token) => axum::Json(json!({ "token": token })).into_response(),
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, "token not signed", &[&err.to_string()]),
    }
}
