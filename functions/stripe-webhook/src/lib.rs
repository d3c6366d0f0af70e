//! POST /: a signed Stripe event of the platform (Stripe calls this URL).
//! POST /connect: a signed event of a teacher's connected account (the
//! Connect endpoint, with its own secret). The signature is checked over
//! the raw body before anything is read or written.

use http::{Method, StatusCode};
use lambda_http::Request;
use shared::http::{HttpResult, json, require_method};
use shared::webhook::{Endpoint, WebhookService};

pub async fn handle(service: &WebhookService, req: Request) -> HttpResult {
    require_method(&req, &Method::POST)?;
    let signature = req.headers().get("stripe-signature").and_then(|v| v.to_str().ok());
    let endpoint = if req.uri().path().trim_end_matches('/').ends_with("/connect") { Endpoint::Connect } else { Endpoint::Platform };
    let ack = service.handle(endpoint, signature, req.body().as_ref()).await?;
    json(StatusCode::OK, &ack)
}
