//! POST {"checkout_id"} (operators): the operator's repair tool. Books a paid
//! checkout's lessons if that has not happened, through the one fulfilment
//! service, makes their rooms, and returns the bookings. Idempotent.

use http::{Method, StatusCode};
use lambda_http::Request;
use serde::Serialize;
use shared::auth::OperatorAuth;
use shared::clock::Clock;
use shared::domain::CheckoutId;
use shared::error::ApiError;
use shared::http::{HttpResult, json, one_field, require_method};
use shared::store::Booking;
use shared::webhook::EventHandler;

pub struct App {
    pub auth: OperatorAuth,
    pub events: EventHandler,
    pub clock: Clock,
}

#[derive(Serialize)]
struct Booked {
    checkout_id: CheckoutId,
    status: &'static str,
    bookings: Vec<Booking>,
}

pub async fn handle(app: &App, req: Request) -> HttpResult {
    require_method(&req, &Method::POST)?;
    app.auth.authorize(&req).await?;
    let id = CheckoutId::parse(&one_field(req.body().as_ref(), "checkout_id")?).map_err(|e| ApiError::invalid("checkout_id", e))?;
    let (checkout, bookings) = shared::reconcile::book_checkout(&app.events, &id, app.clock.now()).await?;
    json(StatusCode::OK, &Booked { checkout_id: checkout.checkout_id, status: checkout.status.as_str(), bookings })
}
