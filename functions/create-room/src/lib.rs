//! POST {"booking_id"} (operators): ensures the booking's 100ms room and codes,
//! idempotently, and returns the booking with them.

use http::{Method, StatusCode};
use lambda_http::Request;
use shared::auth::OperatorAuth;
use shared::http::{HttpResult, json, require_method};
use shared::rooms::{Rooms, parse_booking_ref};

pub struct App {
    pub auth: OperatorAuth,
    pub rooms: Rooms,
}

pub async fn handle(app: &App, req: Request) -> HttpResult {
    require_method(&req, &Method::POST)?;
    app.auth.authorize(&req).await?;
    let booking = app.rooms.ensure(&parse_booking_ref(req.body().as_ref())?).await?;
    json(StatusCode::OK, &booking)
}
