//! GET ?booking_id=: what the caller (the booking's student or teacher, or
//! an admin) may change now and what it would refund.
//! POST {"booking_id", "action": "cancel" | "reschedule", …}: the change.

use http::{Method, StatusCode};
use lambda_http::Request;
use shared::auth::Authenticator;
use shared::changes::BookingChanges;
use shared::http::{HttpResult, json, require_methods, required_param};

pub struct App {
    pub auth: Authenticator,
    pub changes: BookingChanges,
}

pub async fn handle(app: &App, req: Request) -> HttpResult {
    require_methods(&req, &[Method::GET, Method::POST])?;
    let who = app.auth.authenticate(req.headers()).await?;
    if req.method() == Method::GET {
        return json(StatusCode::OK, &app.changes.options(&who, required_param(&req, "booking_id")?).await?);
    }
    json(StatusCode::OK, &app.changes.change(&who, req.body().as_ref()).await?)
}
