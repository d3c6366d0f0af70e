//! POST /lambda-url/hms-webhook/: 100ms's events about our rooms, with the
//! secret header each room was created with; stored as attendance.

use http::{Method, StatusCode};
use lambda_http::Request;
use shared::attendance::HmsWebhook;
use shared::http::{HttpResult, json, require_method};

pub struct App {
    pub webhook: HmsWebhook,
}

pub async fn handle(app: &App, req: Request) -> HttpResult {
    require_method(&req, &Method::POST)?;
    json(StatusCode::OK, &app.webhook.handle(req.headers(), req.body().as_ref()).await?)
}
