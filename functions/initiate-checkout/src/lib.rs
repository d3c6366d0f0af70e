//! POST: a student's cart → held slots and a Stripe Checkout Session.
//! GET ?checkout_id=: the owner's checkout, polled by the success page.
//! DELETE ?checkout_id=: the owner abandons an unpaid checkout (cancel page).

use http::{Method, StatusCode};
use lambda_http::Request;
use shared::auth::Authenticator;
use shared::checkout::CheckoutService;
use shared::error::ApiError;
use shared::http::{HttpResult, json, require_methods, required_param};

pub struct App {
    pub auth: Authenticator,
    pub checkout: CheckoutService,
}

pub async fn handle(app: &App, req: Request) -> HttpResult {
    require_methods(&req, &[Method::GET, Method::POST, Method::DELETE])?;
    let who = app.auth.authenticate(req.headers()).await?;
    match *req.method() {
        Method::GET => return json(StatusCode::OK, &app.checkout.status(&who, required_param(&req, "checkout_id")?).await?),
        Method::DELETE => return json(StatusCode::OK, &app.checkout.abandon(&who, required_param(&req, "checkout_id")?).await?),
        _ => {}
    }
    let key = match req.headers().get("idempotency-key") {
        Some(value) => Some(value.to_str().map_err(|_| ApiError::invalid("Idempotency-Key", "must be visible ASCII"))?),
        None => None,
    };
    let view = app.checkout.initiate(&who, req.body().as_ref(), key).await?;
    json(StatusCode::CREATED, &view)
}
