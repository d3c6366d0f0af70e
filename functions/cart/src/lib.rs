//! The student's saved cart. GET: the items, each re-checked and priced.
//! PUT {"items": [...]}: the whole list. DELETE: empties it. Every `200`
//! carries the cart's version (`ETag`, and `version`); a write with
//! `If-Match` applies only to that version (else `412`), so a tab showing an
//! old cart cannot drop what another tab added.

use http::{Method, StatusCode, header};
use lambda_http::Request;
use shared::auth::Authenticator;
use shared::clock::Clock;
use shared::http::{HttpResult, if_match_version, json_versioned, require_methods};
use shared::store::Store;

pub struct App {
    pub auth: Authenticator,
    pub store: Store,
    pub clock: Clock,
}

pub async fn handle(app: &App, req: Request) -> HttpResult {
    require_methods(&req, &[Method::GET, Method::PUT, Method::DELETE])?;
    let who = app.auth.authenticate(req.headers()).await?;
    let now = app.clock.now();
    let cart = match *req.method() {
        Method::PUT => shared::cart::replace(&app.store, &who, req.body().as_ref(), expected(&req)?, now).await?,
        Method::DELETE => shared::cart::clear(&app.store, &who, expected(&req)?, now).await?,
        _ => shared::cart::view(&app.store, &who, now).await?,
    };
    json_versioned(StatusCode::OK, &cart, cart.version)
}

/// The version a write's `If-Match` names. `*` (any cart: there always is
/// one) is no condition, as without the header.
fn expected(req: &Request) -> Result<Option<u64>, shared::error::ApiError> {
    match req.headers().get(header::IF_MATCH).map(|raw| raw.to_str().unwrap_or_default().trim()) {
        None | Some("*") => Ok(None),
        Some(raw) => if_match_version(raw, "cart").map(Some),
    }
}
