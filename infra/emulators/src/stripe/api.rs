//! The `/v1` API: Checkout Sessions, PaymentIntents, refunds, disputes,
//! webhook endpoints and Events here, Connect in `connect_api`, all behind
//! the same gates Stripe puts in front of them (API key, `Stripe-Account`),
//! plus the emulator's request log and injected faults.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get, post};
use serde_json::{Value, json};

use super::error::{ApiError, mask_key};
use super::events::Origin;
use super::form::{self, FormError, Params};
use super::{connect_api, refunds, sessions};
use super::state::{EventFilter, IdempotencyScope, RequestRecord, Shared, new_id, no_such_session, now};

/// Larger than any form this project sends (100 line items fit easily).
const MAX_BODY_BYTES: usize = 1 << 20;
const DEFAULT_LIST_LIMIT: usize = 10;

/// Requests a platform may make on behalf of a connected account
/// (`Stripe-Account`) that the emulator answers as that account.
const ON_BEHALF: [&str; 2] = ["/v1/balance", "/v1/events"];

/// What the outer middleware learnt about a request, for the handlers.
#[derive(Clone)]
pub(super) struct RequestCtx {
    request_id: String,
    idempotency_key: Option<String>,
    params: Result<Params, FormError>,
    /// The connected account a `Stripe-Account` request acts as (checked to exist).
    pub(super) stripe_account: Option<String>,
}

impl RequestCtx {
    pub(super) fn params(&self) -> Result<&Params, ApiError> {
        self.params.as_ref().map_err(|err| ApiError::from(err.clone()))
    }

    pub(super) fn origin(&self) -> Origin {
        Origin { request_id: Some(self.request_id.clone()), idempotency_key: self.idempotency_key.clone() }
    }

    pub(super) fn scope<'a>(&'a self, api_key: &'a str, endpoint: String, params: &Params) -> Option<IdempotencyScope<'a>> {
        let key = self.idempotency_key.as_deref()?;
        Some(IdempotencyScope { api_key, key, endpoint, params: form::params_to_json(params) })
    }
}

/// Full paths rather than `nest("/v1")`, so handlers and the request log see
/// the path the client sent.
pub fn router(emulator: Shared) -> Router {
    Router::new()
        .route("/v1/checkout/sessions", only(post(create_session)))
        .route("/v1/checkout/sessions/{id}", only(get(retrieve_session)))
        .route("/v1/checkout/sessions/{id}/expire", only(post(expire_session)))
        .route("/v1/checkout/sessions/{id}/line_items", only(get(list_line_items)))
        .route("/v1/payment_intents/{id}", only(get(retrieve_payment_intent)))
        .route("/v1/refunds", only(post(create_refund).get(list_refunds)))
        .route("/v1/disputes", only(get(list_disputes)))
        .route("/v1/disputes/{id}", only(get(retrieve_dispute)))
        .route("/v1/webhook_endpoints", only(get(list_webhook_endpoints).post(create_webhook_endpoint)))
        .route("/v1/webhook_endpoints/{id}", only(post(update_webhook_endpoint)))
        .route("/v1/events", only(get(list_events)))
        .route("/v1/events/{id}", only(get(retrieve_event)))
        .merge(connect_api::routes())
        .route("/v1/{*rest}", any(unknown_url))
        // Outermost last: every request is logged, then faults, then auth.
        .layer(middleware::from_fn_with_state(emulator.clone(), authenticate))
        .layer(middleware::from_fn_with_state(emulator.clone(), inject_fault))
        .layer(middleware::from_fn_with_state(emulator.clone(), observe))
        .with_state(emulator)
}

/// Stripe answers a known path with the wrong method as an unknown URL.
pub(super) fn only(route: MethodRouter<Shared>) -> MethodRouter<Shared> {
    route.fallback(unknown_url)
}

async fn observe(State(emulator): State<Shared>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return ApiError::InvalidRequest { message: "The request body could not be read or is too large.".into(), param: None, code: None }
            .into_response();
    };
    let raw: &[u8] = if parts.method == Method::GET { parts.uri.query().unwrap_or_default().as_bytes() } else { &bytes };
    let ctx = RequestCtx {
        request_id: new_id("req_test"),
        idempotency_key: header(&parts.headers, "idempotency-key"),
        params: form::parse(raw),
        stripe_account: header(&parts.headers, "stripe-account").filter(|a| !a.is_empty()),
    };
    emulator.record_request(RequestRecord {
        request_id: ctx.request_id.clone(),
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        idempotency_key: ctx.idempotency_key.clone(),
        stripe_account: ctx.stripe_account.clone(),
        params: ctx.params.as_ref().map(form::params_to_json).unwrap_or(Value::Null),
        timestamp: jiff::Timestamp::now().to_string(),
    });
    let request_id = ctx.request_id.clone();
    let mut request = Request::from_parts(parts, Body::from(bytes));
    request.extensions_mut().insert(ctx);
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("request-id", value);
    }
    response
}

async fn inject_fault(State(emulator): State<Shared>, request: Request, next: Next) -> Response {
    let Some(injection) = emulator.take_fault(request.method().as_str(), request.uri().path()) else {
        return next.run(request).await;
    };
    if let Some(delay) = injection.delay {
        tokio::time::sleep(delay).await;
    }
    match injection.status {
        Some(status) => {
            let error = ApiError::Injected(status);
            if status.is_server_error()
                && request.method() == Method::POST
                && let Ok(ctx) = ctx_of(request.extensions())
                && let Ok(params) = ctx.params()
                && let Some(scope) = ctx.scope(&emulator.secret_key, format!("POST {}", request.uri().path()), params)
            {
                emulator.save_failure(scope, error.clone());
            }
            error.into_response()
        }
        None => next.run(request).await,
    }
}

async fn authenticate(State(emulator): State<Shared>, request: Request, next: Next) -> Response {
    let given = header(request.headers(), "authorization");
    let key = given.as_deref().and_then(|value| value.strip_prefix("Bearer ")).map(str::trim);
    match key {
        Some(key) if key == emulator.secret_key => {}
        Some(key) if !key.is_empty() => return ApiError::InvalidApiKey(mask_key(key)).into_response(),
        _ => return ApiError::MissingApiKey.into_response(),
    }
    if let Some(account) = header(request.headers(), "stripe-account").filter(|a| !a.is_empty()) {
        if !emulator.has_account(&account) {
            return emulator.account_invalid(&account).into_response();
        }
        let path = request.uri().path();
        let emulated = request.method() == Method::GET && ON_BEHALF.iter().any(|p| path == *p || path.strip_prefix(p).is_some_and(|rest| rest.starts_with('/')));
        if !emulated {
            return ApiError::InvalidRequest {
                message: format!(
                    "The Stripe emulator does not emulate {} {path} on behalf of a connected account (Stripe-Account); it answers GET /v1/balance and GET /v1/events as the account.",
                    request.method()
                ),
                param: None,
                code: None,
            }
            .into_response();
        }
    }
    next.run(request).await
}

pub(super) fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

pub(super) fn ctx_of(request: &axum::http::Extensions) -> Result<RequestCtx, ApiError> {
    request.get::<RequestCtx>().cloned().ok_or_else(|| ApiError::Internal("request context missing".into()))
}

/// A replayed idempotent answer says so, as Stripe's does.
pub(super) fn respond(json: Value, replayed: bool) -> Response {
    let mut response = axum::Json(json).into_response();
    if replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

async fn create_session(State(emulator): State<Shared>, request: Request) -> Result<Response, ApiError> {
    let ctx = ctx_of(request.extensions())?;
    let params = ctx.params()?;
    let now = now();
    let scope = ctx.scope(&emulator.secret_key, "POST /v1/checkout/sessions".into(), params);
    let (mut json, replayed) = emulator.idempotent(scope, |emulator, inner| {
        let spec = sessions::parse_create(params, now)?;
        Ok(emulator.insert_session(inner, spec, now))
    })?;
    if sessions::expands(params, "line_items")
        && let Some(session) = json["id"].as_str().and_then(|id| emulator.session(id, now))
    {
        json["line_items"] = session.line_items_json();
    }
    Ok(respond(json, replayed))
}

async fn retrieve_session(State(emulator): State<Shared>, Path(id): Path<String>, request: Request) -> Result<Response, ApiError> {
    let ctx = ctx_of(request.extensions())?;
    let params = ctx.params()?;
    sessions::only_known(params, &["expand"], "")?;
    let session = emulator.session(&id, now()).ok_or_else(|| no_such_session(&id))?;
    let mut json = session.to_json();
    if sessions::expands(params, "line_items") {
        json["line_items"] = session.line_items_json();
    }
    Ok(axum::Json(json).into_response())
}

async fn list_line_items(State(emulator): State<Shared>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let session = emulator.session(&id, now()).ok_or_else(|| no_such_session(&id))?;
    Ok(axum::Json(session.line_items_json()).into_response())
}

async fn expire_session(State(emulator): State<Shared>, Path(id): Path<String>, request: Request) -> Result<Response, ApiError> {
    let ctx = ctx_of(request.extensions())?;
    let params = ctx.params()?;
    let scope = ctx.scope(&emulator.secret_key, format!("POST /v1/checkout/sessions/{id}/expire"), params);
    let origin = ctx.origin();
    let (json, replayed) = emulator.idempotent(scope, |emulator, inner| emulator.expire_session(inner, &id, now(), &origin))?;
    Ok(respond(json, replayed))
}

async fn create_refund(State(emulator): State<Shared>, request: Request) -> Result<Response, ApiError> {
    let ctx = ctx_of(request.extensions())?;
    let params = ctx.params()?;
    let scope = ctx.scope(&emulator.secret_key, "POST /v1/refunds".into(), params);
    let origin = ctx.origin();
    let (json, replayed) = emulator.idempotent(scope, |emulator, inner| emulator.refund(inner, refunds::parse(params)?, now(), &origin))?;
    Ok(respond(json, replayed))
}

/// Newest first; `payment_intent` and `limit` are honoured.
async fn list_refunds(State(emulator): State<Shared>, request: Request) -> Result<Response, ApiError> {
    let ctx = ctx_of(request.extensions())?;
    let params = ctx.params()?;
    let limit = list_limit(params)?;
    let mut refunds = emulator.refunds_newest_first(params.get("payment_intent").and_then(|p| p.as_str()));
    let has_more = refunds.len() > limit;
    refunds.truncate(limit);
    Ok(axum::Json(json!({ "object": "list", "data": refunds, "has_more": has_more, "url": "/v1/refunds" })).into_response())
}

/// Registered endpoints; without any, the configured URL as one endpoint
/// sending every event type (`*`), as a dashboard endpoint set to all events does.
async fn list_webhook_endpoints(State(emulator): State<Shared>) -> Response {
    axum::Json(json!({ "object": "list", "data": emulator.webhook_endpoints(), "has_more": false, "url": "/v1/webhook_endpoints" })).into_response()
}

fn enabled_events(params: &form::Params) -> Option<Vec<String>> {
    params.get("enabled_events").and_then(|p| p.as_map()).map(|m| m.values().filter_map(|v| v.as_str().map(str::to_owned)).collect())
}

async fn create_webhook_endpoint(State(emulator): State<Shared>, request: Request) -> Result<Response, ApiError> {
    let ctx = ctx_of(request.extensions())?;
    let params = ctx.params()?;
    sessions::only_known(params, &["url", "enabled_events", "api_version", "description", "connect"], "")?;
    let url = params.get("url").and_then(|p| p.as_str()).filter(|u| u.starts_with("http")).ok_or_else(|| ApiError::missing("url"))?;
    let events = enabled_events(params).filter(|e| !e.is_empty()).ok_or_else(|| ApiError::missing("enabled_events"))?;
    let api_version = params.get("api_version").and_then(|p| p.as_str()).map(str::to_owned);
    // A Connect endpoint gets the events of connected accounts, and only those.
    let connect = match params.get("connect").and_then(|p| p.as_str()) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => return Err(ApiError::invalid(format!("Invalid boolean: {other}"), "connect", None)),
    };
    Ok(axum::Json(emulator.create_webhook_endpoint(url.to_owned(), events, api_version, connect)).into_response())
}

async fn update_webhook_endpoint(State(emulator): State<Shared>, Path(id): Path<String>, request: Request) -> Result<Response, ApiError> {
    let ctx = ctx_of(request.extensions())?;
    let params = ctx.params()?;
    sessions::only_known(params, &["enabled_events", "disabled", "description"], "")?;
    let disabled = params.get("disabled").and_then(|p| p.as_str()).map(|d| d == "true");
    let endpoint = emulator.update_webhook_endpoint(&id, enabled_events(params), disabled).ok_or(ApiError::NotFound { kind: "webhook_endpoint", id, param: "id" })?;
    Ok(axum::Json(endpoint).into_response())
}

async fn list_disputes(State(emulator): State<Shared>, request: Request) -> Result<Response, ApiError> {
    let ctx = ctx_of(request.extensions())?;
    let params = ctx.params()?;
    let limit = list_limit(params)?;
    let mut disputes = emulator.disputes_newest_first(params.get("payment_intent").and_then(|p| p.as_str()));
    let has_more = disputes.len() > limit;
    disputes.truncate(limit);
    Ok(axum::Json(json!({ "object": "list", "data": disputes, "has_more": has_more, "url": "/v1/disputes" })).into_response())
}

async fn retrieve_dispute(State(emulator): State<Shared>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let dispute = emulator.dispute(&id).ok_or(ApiError::NotFound { kind: "dispute", id, param: "dispute" })?;
    Ok(axum::Json(dispute).into_response())
}

async fn retrieve_payment_intent(State(emulator): State<Shared>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let intent = emulator.payment_intent(&id).ok_or(ApiError::NotFound { kind: "payment_intent", id, param: "intent" })?;
    Ok(axum::Json(intent).into_response())
}

/// As a connected account (`Stripe-Account`), only that account's events exist.
async fn retrieve_event(State(emulator): State<Shared>, Path(id): Path<String>, request: Request) -> Result<Response, ApiError> {
    let ctx = ctx_of(request.extensions())?;
    let event = emulator
        .event(&id)
        .filter(|e| ctx.stripe_account.is_none() || e.account == ctx.stripe_account)
        .ok_or(ApiError::NotFound { kind: "event", id, param: "id" })?;
    // As signed and delivered, except `pending_webhooks`, which is now's, as on Stripe.
    Ok(axum::Json(event.json).into_response())
}

/// Stripe's list envelope, newest first; `limit` (1-100, default 10),
/// `type`, `created[gte]`, `delivery_success` and `starting_after` are
/// honoured. Connect events are listed with the platform's; a
/// `Stripe-Account` request lists only that account's.
async fn list_events(State(emulator): State<Shared>, request: Request) -> Result<Response, ApiError> {
    let ctx = ctx_of(request.extensions())?;
    let params = ctx.params()?;
    let limit = list_limit(params)?;
    let text = |name: &str| params.get(name).and_then(|p| p.as_str());
    let created_gte = match params.get("created").and_then(|p| p.as_map()).and_then(|m| m.get("gte")).and_then(|p| p.as_str()) {
        None => None,
        Some(raw) => Some(raw.parse::<i64>().map_err(|_| ApiError::invalid(format!("Invalid integer: {raw}"), "created[gte]", Some("parameter_invalid_integer")))?),
    };
    let delivery_success = match text("delivery_success") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => return Err(ApiError::invalid(format!("Invalid boolean: {other}"), "delivery_success", None)),
    };
    let filter = EventFilter { kind: text("type"), account: ctx.stripe_account.as_deref(), created_gte, delivery_success };
    let mut events = emulator.list_events(&filter);
    if let Some(after) = text("starting_after") {
        let position = events.iter().position(|e| e["id"] == after).ok_or_else(|| ApiError::NotFound { kind: "event", id: after.to_owned(), param: "starting_after" })?;
        events.drain(..=position);
    }
    let has_more = events.len() > limit;
    events.truncate(limit);
    Ok(axum::Json(json!({ "object": "list", "data": events, "has_more": has_more, "url": "/v1/events" })).into_response())
}

pub(super) fn list_limit(params: &Params) -> Result<usize, ApiError> {
    let Some(raw) = params.get("limit").and_then(|p| p.as_str()) else {
        return Ok(DEFAULT_LIST_LIMIT);
    };
    match raw.parse::<usize>() {
        Ok(limit) if (1..=100).contains(&limit) => Ok(limit),
        _ => Err(ApiError::invalid(
            format!("Invalid integer: {raw}. `limit` must be between 1 and 100."),
            "limit",
            Some("parameter_invalid_integer"),
        )),
    }
}

async fn unknown_url(method: Method, uri: Uri) -> ApiError {
    ApiError::UnknownUrl { method: method.to_string(), path: uri.path().to_owned() }
}
