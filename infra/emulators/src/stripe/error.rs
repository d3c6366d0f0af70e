//! Stripe's error envelope: `{"error": {"type", "code", "message", "param"}}`
//! with the status Stripe uses for each kind, so clients take the same paths
//! (retry or not, which error variant) against the emulator as against Stripe.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::form::FormError;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ApiError {
    #[error("{message}")]
    InvalidRequest { message: String, param: Option<String>, code: Option<&'static str> },
    #[error(
        "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
    )]
    MissingApiKey,
    #[error("Invalid API Key provided: {0}")]
    InvalidApiKey(String),
    #[error("No such {kind}: '{id}'")]
    NotFound { kind: &'static str, id: String, param: &'static str },
    /// An account the key cannot reach, or none at all: Stripe does not say which.
    #[error("The provided key '{key}' does not have access to account '{account}' (or that account does not exist). Application access may have been revoked.")]
    AccountInvalid { key: String, account: String },
    #[error("Unrecognized request URL ({method}: {path}).")]
    UnknownUrl { method: String, path: String },
    #[error("{0}")]
    Idempotency(String),
    #[error("The emulator was told to answer {0} (see /_emulator/faults).")]
    Injected(StatusCode),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(message: impl Into<String>, param: impl Into<String>, code: Option<&'static str>) -> Self {
        ApiError::InvalidRequest { message: message.into(), param: Some(param.into()), code }
    }

    pub fn missing(param: impl Into<String>) -> Self {
        let param = param.into();
        ApiError::InvalidRequest { message: format!("Missing required param: {param}."), param: Some(param), code: Some("parameter_missing") }
    }

    /// An object named in a parameter that does not exist: 400, not the
    /// 404 of a missing object in the URL.
    pub fn no_such(kind: &str, id: &str, param: impl Into<String>) -> Self {
        ApiError::InvalidRequest { message: format!("No such {kind}: '{id}'"), param: Some(param.into()), code: Some("resource_missing") }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest { .. } | ApiError::Idempotency(_) => StatusCode::BAD_REQUEST,
            ApiError::AccountInvalid { .. } => StatusCode::FORBIDDEN,
            ApiError::MissingApiKey | ApiError::InvalidApiKey(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound { .. } | ApiError::UnknownUrl { .. } => StatusCode::NOT_FOUND,
            ApiError::Injected(status) => *status,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            ApiError::Idempotency(_) => "idempotency_error",
            ApiError::Injected(StatusCode::TOO_MANY_REQUESTS) => "rate_limit_error",
            ApiError::Injected(_) | ApiError::Internal(_) => "api_error",
            _ => "invalid_request_error",
        }
    }

    fn code(&self) -> Option<&'static str> {
        match self {
            ApiError::InvalidRequest { code, .. } => *code,
            ApiError::NotFound { .. } => Some("resource_missing"),
            ApiError::AccountInvalid { .. } => Some("account_invalid"),
            ApiError::Injected(StatusCode::TOO_MANY_REQUESTS) => Some("rate_limit"),
            _ => None,
        }
    }

    fn param(&self) -> Option<&str> {
        match self {
            ApiError::InvalidRequest { param, .. } => param.as_deref(),
            ApiError::NotFound { param, .. } => Some(param),
            _ => None,
        }
    }

    pub fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("type".into(), json!(self.kind()));
        error.insert("message".into(), json!(self.to_string()));
        if let Some(code) = self.code() {
            error.insert("code".into(), json!(code));
            error.insert("doc_url".into(), json!(format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-"))));
        }
        if let Some(param) = self.param() {
            error.insert("param".into(), json!(param));
        }
        json!({ "error": error })
    }
}

impl From<FormError> for ApiError {
    fn from(err: FormError) -> Self {
        ApiError::InvalidRequest { message: err.to_string(), param: err.param().map(str::to_owned), code: None }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), axum::Json(self.body())).into_response()
    }
}

/// How Stripe shows a key it refuses: its kind prefix and last four characters.
pub fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let prefix = ["sk_test_", "sk_live_", "rk_test_", "rk_live_"]
        .into_iter()
        .find(|p| key.starts_with(p) && chars.len() >= p.len() + 8)
        .unwrap_or("");
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{prefix}{}{tail}", "*".repeat(chars.len() - prefix.len() - 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_param_has_stripe_shape() {
        let body = ApiError::missing("mode").body();
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["code"], "parameter_missing");
        assert_eq!(body["error"]["param"], "mode");
        assert_eq!(body["error"]["message"], "Missing required param: mode.");
    }

    #[test]
    fn injected_statuses_pick_the_error_type() {
        let limited = ApiError::Injected(StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.body()["error"]["type"], "rate_limit_error");
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(ApiError::Injected(StatusCode::BAD_GATEWAY).body()["error"]["type"], "api_error");
    }

    #[test]
    fn masks_keys_like_stripe() {
        assert_eq!(mask_key("sk_test_1234567890abcd"), "sk_test_**********abcd");
        assert_eq!(mask_key("not-a-stripe-key"), "************-key");
        assert_eq!(mask_key("short"), "*****");
        assert_eq!(mask_key("sk_test_abc"), "*******_abc");
    }
}
