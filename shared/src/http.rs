//! The HTTP edge shared by every function: JSON responses, the error body,
//! query parsing and the Lambda run loop.

use std::future::Future;

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response, service_fn};
use serde::Serialize;

use crate::error::ApiError;

pub type HttpResult = Result<Response<Body>, ApiError>;

pub fn json<T: Serialize>(status: StatusCode, value: &T) -> HttpResult {
    let body = serde_json::to_vec(value).map_err(|e| ApiError::Internal(Box::new(e)))?;
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::Binary(body))
        .map_err(|e| ApiError::Internal(Box::new(e)))
}

/// A private resource written with optimistic concurrency: its version as the
/// `ETag` (the `If-Match` of the next write), and never cached anywhere.
pub fn json_versioned<T: Serialize>(status: StatusCode, value: &T, version: u64) -> HttpResult {
    let mut response = json(status, value)?;
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The version an `If-Match` names: our `ETag` (`"3"`), or bare (`3`).
/// `W/"3"` is taken as `"3"`: we never issue weak tags, so one is ours
/// weakened on the way (a compressing proxy), not another representation's.
/// `what` names the resource in the error.
pub fn if_match_version(raw: &str, what: &str) -> Result<u64, ApiError> {
    let tag = raw.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    let digits = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(tag);
    Some(digits).filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())).and_then(|d| d.parse().ok()).ok_or_else(|| ApiError::invalid("If-Match", format!("must be the ETag the {what} was read with (one version, e.g. \"3\")")))
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lesson_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    missing: Option<&'a [crate::error::MissingCredits]>,
}

/// Renders an error as `{"error": {"code", "message"}}`, logging server-side
/// failures with their cause (which the client never sees).
pub fn error_response(err: &ApiError) -> Response<Body> {
    let status = err.status();
    if status.is_server_error() {
        let cause = match err {
            ApiError::PaymentNotTaken(detail) | ApiError::PaymentProvider(detail) | ApiError::VideoProvider(detail) => Some(detail.clone()),
            _ => std::error::Error::source(err).map(ToString::to_string),
        };
        tracing::error!(error = %err, cause, code = err.code(), "request failed");
    } else {
        tracing::info!(error = %err, code = err.code(), status = status.as_u16(), "request rejected");
    }
    let body = ErrorBody { error: ErrorDetail { code: err.code(), message: err.to_string(), field: err.field(), lesson_index: err.lesson_index(), reason: err.reason(), missing: err.missing_credits() } };
    let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| br#"{"error":{"code":"internal_error","message":"internal error"}}"#.to_vec());
    let mut response = Response::new(Body::Binary(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let ApiError::MethodNotAllowed { allow, .. } = err
        && let Ok(value) = HeaderValue::from_str(allow)
    {
        response.headers_mut().insert(header::ALLOW, value);
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        // Everything behind a 503 here is contention or a passing outage.
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    }
    response
}

const RETRY_AFTER_SECONDS: &str = "1";

pub fn into_response(result: HttpResult) -> Response<Body> {
    result.unwrap_or_else(|err| error_response(&err))
}

/// A JSON body of exactly one string field, e.g. `{"booking_id": "bk_…"}`.
pub fn one_field(body: &[u8], name: &str) -> Result<String, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| ApiError::invalid("body", format!("is not valid JSON ({e})")))?;
    let object = value.as_object().ok_or_else(|| ApiError::invalid("body", "must be a JSON object"))?;
    if let Some(unknown) = object.keys().find(|k| *k != name) {
        return Err(ApiError::invalid(unknown.clone(), format!("is not a known field (allowed: {name})")));
    }
    object.get(name).and_then(serde_json::Value::as_str).map(str::to_owned).ok_or_else(|| ApiError::invalid(name, "is required and must be a string"))
}

/// Refuses the first field of `object` not in `allowed`, named with `prefix`.
pub fn only_fields(object: &serde_json::Map<String, serde_json::Value>, prefix: &str, allowed: &[&str]) -> Result<(), ApiError> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        // Prices in particular: the client never sends one.
        Some(unknown) => Err(ApiError::invalid(format!("{prefix}{unknown}"), format!("is not a known field (allowed: {})", allowed.join(", ")))),
        None => Ok(()),
    }
}

pub fn require_method(req: &Request, allowed: &http::Method) -> Result<(), ApiError> {
    require_methods(req, std::slice::from_ref(allowed))
}

/// Anything else is `405` with the `Allow` header HTTP asks for.
pub fn require_methods(req: &Request, allowed: &[http::Method]) -> Result<(), ApiError> {
    if allowed.contains(req.method()) {
        return Ok(());
    }
    let allow = allowed.iter().map(http::Method::as_str).collect::<Vec<_>>().join(", ");
    Err(ApiError::MethodNotAllowed { method: req.method().to_string(), allow })
}

/// A query-string parameter, absent or blank treated alike.
pub fn query_param<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.query_string_parameters_ref()?.first(name).map(str::trim).filter(|v| !v.is_empty())
}

/// A query-string parameter as sent, blank included: for parameters where
/// `?name=` must be refused rather than read as absent.
pub fn raw_param<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.query_string_parameters_ref()?.first(name)
}

pub fn required_param<'r>(req: &'r Request, name: &str) -> Result<&'r str, ApiError> {
    query_param(req, name).ok_or_else(|| ApiError::invalid(name, "is required"))
}

/// Runs a function's handler on the Lambda runtime. `state` is built once at
/// start-up (config, clients) and shared by every invocation; every outcome,
/// error or not, becomes a JSON response so Lambda never reports a failure
/// for bad input.
pub async fn run<S, H, F>(state: S, handler: H) -> Result<(), lambda_http::Error>
where
    S: Send + Sync + 'static,
    H: Fn(&'static S, Request) -> F + Send + Sync + 'static,
    F: Future<Output = HttpResult> + Send + 'static,
{
    // Lives for the whole process, as Lambda keeps the environment warm.
    let state: &'static S = Box::leak(Box::new(state));
    stopped(
        lambda_http::run(service_fn(move |req: Request| {
            let response = handler(state, req);
            async move { Ok::<_, std::convert::Infallible>(into_response(response.await)) }
        }))
        .await,
    )
}

/// A function's run loop ended: when the runtime API closed the connection
/// the function was waiting on, that is a stop, not a failure. `cargo
/// lambda watch` does so when `make dev` is stopped (each function used to
/// print an `Error: … IncompleteMessage` line, which reads as a crash);
/// Lambda's own runtime API never closes while the process lives.
pub fn stopped(result: Result<(), lambda_http::Error>) -> Result<(), lambda_http::Error> {
    match result {
        Err(err) if runtime_api_closed(err.as_ref()) => {
            tracing::info!("the runtime API closed the connection; stopping");
            Ok(())
        }
        other => other,
    }
}

fn runtime_api_closed(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(err) = next {
        let text = format!("{err:?}");
        if ["IncompleteMessage", "ConnectionRefused", "ConnectionReset", "connection closed before message completed"].iter().any(|sign| text.contains(sign)) {
            return true;
        }
        next = err.source();
    }
    false
}

#[cfg(test)]
mod stop_tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("sending the request failed")]
    struct SendRequest(#[source] std::io::Error);

    #[test]
    fn only_a_closed_runtime_api_is_a_stop() {
        let reset: lambda_http::Error = Box::new(SendRequest(std::io::Error::from(std::io::ErrorKind::ConnectionReset)));
        assert!(stopped(Err(reset)).is_ok(), "the local stack stopping is a stop");
        let failure: lambda_http::Error = "the handler could not start".into();
        assert!(stopped(Err(failure)).is_err(), "anything else is still a failure");
        let timeout: lambda_http::Error = Box::new(SendRequest(std::io::Error::from(std::io::ErrorKind::TimedOut)));
        assert!(stopped(Err(timeout)).is_err());
    }
}

#[cfg(test)]
mod if_match_tests {
    use super::*;

    #[test]
    fn an_if_match_names_one_version_quoted_or_bare() {
        for (raw, version) in [("\"3\"", 3), ("3", 3), (" W/\"42\" ", 42), ("\"1764510000000\"", 1_764_510_000_000)] {
            assert_eq!(if_match_version(raw, "cart").ok(), Some(version), "{raw}");
        }
        for raw in ["", "\"\"", "*", "+3", "-1", "\"3", "3\"", "\"3\", \"4\"", "W/", "\"three\"", "99999999999999999999"] {
            let err = if_match_version(raw, "cart").unwrap_err();
            assert_eq!((err.code(), err.field()), ("invalid_request", Some("If-Match")), "{raw}");
            assert!(err.to_string().contains("the cart was read with"), "{err}");
        }
    }
}
