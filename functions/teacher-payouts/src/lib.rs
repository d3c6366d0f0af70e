//! GET / [?teacher_id= (admins)][&limit=&after=]: the teacher's Stripe
//! account state, earnings (pending, due, transferred, reversed) and totals.
//! POST /onboarding [?teacher_id= (admins)] `{"country"?, "return_url"?,
//! "refresh_url"?}`: the connected account (made once) and a fresh
//! single-use onboarding link.

use http::{Method, StatusCode};
use lambda_http::Request;
use shared::auth::Authenticator;
use shared::clock::Clock;
use shared::error::ApiError;
use shared::http::{HttpResult, json, query_param, require_methods};
use shared::payouts::service::TeacherPayouts;

pub struct App {
    pub auth: Authenticator,
    pub payouts: TeacherPayouts,
    pub clock: Clock,
}

pub async fn handle(app: &App, req: Request) -> HttpResult {
    let last = req.uri().path().trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_owned();
    let onboarding = last == "onboarding";
    if !onboarding && !last.is_empty() && last != "teacher-payouts" {
        return Err(ApiError::invalid("path", "is / or /onboarding"));
    }
    require_methods(&req, if onboarding { &[Method::POST] } else { &[Method::GET] })?;
    let who = app.auth.authenticate(req.headers()).await?;
    let teacher_id = query_param(&req, "teacher_id");
    let now = app.clock.now();
    if onboarding {
        return json(StatusCode::OK, &app.payouts.onboard(&who, teacher_id, req.body().as_ref(), now).await?);
    }
    json(StatusCode::OK, &app.payouts.ledger(&who, teacher_id, query_param(&req, "limit"), query_param(&req, "after"), now).await?)
}
