//! The Connect part of `/v1`: accounts, account links, transfers and their
//! reversals, balances. Routed inside `api::router`, so the API key, the
//! request log, injected faults and idempotency keys apply as to every
//! other call.

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::api::{ctx_of, list_limit, only, respond};
use super::error::ApiError;
use super::form::Params;
use super::state::{Shared, now};
use super::{account_links, transfers};

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/accounts", only(post(create_account)))
        .route("/v1/accounts/{id}", only(get(retrieve_account).post(update_account)))
        .route("/v1/account_links", only(post(create_account_link)))
        .route("/v1/transfers", only(post(create_transfer).get(list_transfers)))
        .route("/v1/transfers/{id}", only(get(retrieve_transfer)))
        .route("/v1/transfers/{id}/reversals", only(post(create_reversal).get(list_reversals)))
        .route("/v1/transfers/{id}/reversals/{reversal}", only(get(retrieve_reversal)))
        .route("/v1/balance", only(get(retrieve_balance)))
}

async fn create_account(State(emulator): State<Shared>, request: Request) -> Result<Response, ApiError> {
    let ctx = ctx_of(request.extensions())?;
    let params = ctx.params()?;
    let scope = ctx.scope(&emulator.secret_key, "POST /v1/accounts".into(), params);
    let (json, replayed) = emulator.idempotent(scope, |emulator, inner| emulator.create_account(inner, params, now()))?;
    Ok(respond(json, replayed))
}

async fn retrieve_account(State(emulator): State<Shared>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let account = emulator.account(&id).ok_or_else(|| emulator.account_invalid(&id))?;
    Ok(axum::Json(account).into_response())
}

async fn update_account(State(emulator): State<Shared>, Path(id): Path<String>, request: Request) -> Result<Response, ApiError> {
    let ctx = ctx_of(request.extensions())?;
    let params = ctx.params()?;
    let scope = ctx.scope(&emulator.secret_key, format!("POST /v1/accounts/{id}"), params);
    let origin = ctx.origin();
    let (json, replayed) = emulator.idempotent(scope, |emulator, inner| emulator.update_account(inner, &id, params, now(), &origin))?;
    Ok(respond(json, replayed))
}

async fn create_account_link(State(emulator): State<Shared>, request: Request) -> Result<Response, ApiError> {
    let ctx = ctx_of(request.extensions())?;
    let params = ctx.params()?;
    let scope = ctx.scope(&emulator.secret_key, "POST /v1/account_links".into(), params);
    let (json, replayed) = emulator.idempotent(scope, |emulator, inner| emulator.create_account_link(inner, account_links::parse(params)?, now()))?;
    Ok(respond(json, replayed))
}

async fn create_transfer(State(emulator): State<Shared>, request: Request) -> Result<Response, ApiError> {
    let ctx = ctx_of(request.extensions())?;
    let params = ctx.params()?;
    let scope = ctx.scope(&emulator.secret_key, "POST /v1/transfers".into(), params);
    let origin = ctx.origin();
    let (json, replayed) = emulator.idempotent(scope, |emulator, inner| emulator.create_transfer(inner, transfers::parse(params)?, now(), &origin))?;
    Ok(respond(json, replayed))
}

/// Stripe's list envelope over `items` (newest first): `limit` and `starting_after`.
fn page(mut items: Vec<Value>, params: &Params, kind: &'static str, url: String) -> Result<Value, ApiError> {
    let limit = list_limit(params)?;
    if let Some(after) = params.get("starting_after").and_then(|p| p.as_str()) {
        let position = items.iter().position(|item| item["id"] == after).ok_or_else(|| ApiError::NotFound { kind, id: after.to_owned(), param: "starting_after" })?;
        items.drain(..=position);
    }
    let has_more = items.len() > limit;
    items.truncate(limit);
    Ok(json!({ "object": "list", "data": items, "has_more": has_more, "url": url }))
}

/// Newest first; `transfer_group`, `destination`, `limit` and `starting_after` are honoured.
async fn list_transfers(State(emulator): State<Shared>, request: Request) -> Result<Response, ApiError> {
    let ctx = ctx_of(request.extensions())?;
    let params = ctx.params()?;
    let text = |name: &str| params.get(name).and_then(|p| p.as_str());
    let transfers = emulator.transfers_newest_first(text("transfer_group"), text("destination"));
    Ok(axum::Json(page(transfers, params, "transfer", "/v1/transfers".into())?).into_response())
}

fn no_such_transfer(id: String) -> ApiError {
    ApiError::NotFound { kind: "transfer", id, param: "id" }
}

async fn retrieve_transfer(State(emulator): State<Shared>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let transfer = emulator.transfer(&id).ok_or_else(|| no_such_transfer(id))?;
    Ok(axum::Json(transfer).into_response())
}

async fn create_reversal(State(emulator): State<Shared>, Path(id): Path<String>, request: Request) -> Result<Response, ApiError> {
    let ctx = ctx_of(request.extensions())?;
    let params = ctx.params()?;
    let scope = ctx.scope(&emulator.secret_key, format!("POST /v1/transfers/{id}/reversals"), params);
    let origin = ctx.origin();
    let (json, replayed) = emulator.idempotent(scope, |emulator, inner| emulator.reverse_transfer(inner, &id, transfers::parse_reversal(params)?, now(), &origin))?;
    Ok(respond(json, replayed))
}

fn reversals_of(transfer: &Value) -> Vec<Value> {
    transfer["reversals"]["data"].as_array().cloned().unwrap_or_default()
}

async fn list_reversals(State(emulator): State<Shared>, Path(id): Path<String>, request: Request) -> Result<Response, ApiError> {
    let ctx = ctx_of(request.extensions())?;
    let params = ctx.params()?;
    let transfer = emulator.transfer(&id).ok_or_else(|| no_such_transfer(id.clone()))?;
    Ok(axum::Json(page(reversals_of(&transfer), params, "transfer_reversal", format!("/v1/transfers/{id}/reversals"))?).into_response())
}

async fn retrieve_reversal(State(emulator): State<Shared>, Path((id, reversal)): Path<(String, String)>) -> Result<Response, ApiError> {
    let transfer = emulator.transfer(&id).ok_or_else(|| no_such_transfer(id))?;
    let found = reversals_of(&transfer).into_iter().find(|r| r["id"] == reversal.as_str());
    let found = found.ok_or(ApiError::NotFound { kind: "transfer_reversal", id: reversal, param: "id" })?;
    Ok(axum::Json(found).into_response())
}

/// The platform's balance, or with `Stripe-Account` the connected account's.
async fn retrieve_balance(State(emulator): State<Shared>, request: Request) -> Result<Response, ApiError> {
    let ctx = ctx_of(request.extensions())?;
    let account = ctx.stripe_account.as_deref();
    let balance = emulator.balance_json(account).ok_or_else(|| emulator.account_invalid(account.unwrap_or_default()))?;
    Ok(axum::Json(balance).into_response())
}
