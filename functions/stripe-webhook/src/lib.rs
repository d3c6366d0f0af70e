//! POST: a signed Stripe event (Stripe calls this URL). The signature is
//! checked over the raw body before anything is read or written.

use http::{Method, StatusCode};
use lambda_http::Request;
use shared::http::{HttpResult, json, require_method};
use shared::webhook::WebhookService;

pub async fn handle(service: &WebhookService, req: Request) -> HttpResult {
    require_method(&req, &Method::POST)?;
    let signature = req.headers().get("stripe-signature").and_then(|v| v.to_str().ok());
    let ack = service.handle(signature, req.body().as_ref()).await?;
    json(StatusCode::OK, &ack)
}
