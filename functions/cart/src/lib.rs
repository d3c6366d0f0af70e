//! The student's saved cart. GET: the items, each re-checked and priced.
//! PUT {"items": [...]}: the whole list. DELETE: empties it.

use http::{Method, StatusCode};
use lambda_http::Request;
use shared::auth::Authenticator;
use shared::clock::Clock;
use shared::http::{HttpResult, json, require_methods};
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
        Method::PUT => shared::cart::replace(&app.store, &who, req.body().as_ref(), now).await?,
        Method::DELETE => shared::cart::clear(&app.store, &who, now).await?,
        _ => shared::cart::view(&app.store, &who, now).await?,
    };
    json(StatusCode::OK, &cart)
}
