//! GET / : the caller's credit grants (lesson packages), with what is left
//! of each, until when, and its history.
//! POST /refund `{"grant_id"}`: the unused credits of one of the caller's
//! grants back as money, within 14 days of the purchase (an admin: any time).

use http::{Method, StatusCode};
use lambda_http::Request;
use shared::auth::Authenticator;
use shared::clock::Clock;
use shared::credits::service::Credits;
use shared::error::ApiError;
use shared::http::{HttpResult, json, require_methods};

pub struct App {
    pub auth: Authenticator,
    pub credits: Credits,
    pub clock: Clock,
}

pub async fn handle(app: &App, req: Request) -> HttpResult {
    let last = req.uri().path().trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_owned();
    let refund = last == "refund";
    if !refund && !last.is_empty() && last != "credits" {
        return Err(ApiError::invalid("path", "is / or /refund"));
    }
    require_methods(&req, if refund { &[Method::POST] } else { &[Method::GET] })?;
    let who = app.auth.authenticate(req.headers()).await?;
    let now = app.clock.now();
    if refund {
        return json(StatusCode::OK, &app.credits.refund_request(&who, req.body().as_ref(), now).await?);
    }
    json(StatusCode::OK, &app.credits.list(&who, now).await?)
}
