//! POST {"booking_id"} (admin): ensures the booking's 100ms room and codes,
//! idempotently, and returns the booking with them.

use http::{Method, StatusCode};
use lambda_http::Request;
use shared::auth::{Authenticator, require_admin};
use shared::http::{HttpResult, json, require_method};
use shared::rooms::{Rooms, parse_booking_ref};

pub struct App {
    pub auth: Authenticator,
    pub rooms: Rooms,
}

pub async fn handle(app: &App, req: Request) -> HttpResult {
    require_method(&req, &Method::POST)?;
    require_admin(&app.auth.authenticate(req.headers()).await?)?;
    let booking = app.rooms.ensure(&parse_booking_ref(req.body().as_ref())?).await?;
    json(StatusCode::OK, &booking)
}
