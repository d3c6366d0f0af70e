//! `make stripe-webhook`: the Stripe webhook endpoint for the deployed
//! stripe-webhook URL, created or brought up to date with exactly the events
//! we handle and the API version our Stripe client speaks. Stripe shows an
//! endpoint's signing secret only when it is created, so only then is there
//! a secret to store. Plain HTTP rather than a typed client: three calls.

use serde_json::Value;
use shared::payments::StripeConfig;

/// The API version async-stripe 1.0.0-rc.10 speaks; events are rendered in it.
pub const API_VERSION: &str = "2026-09-30.endive";

#[derive(Debug)]
pub struct Registered {
    pub endpoint_id: String,
    /// Present only for a newly created endpoint.
    pub secret: Option<String>,
}

/// The Connect endpoint of stripe-webhook at `url`: its own URL, so it is told apart from the platform's.
pub fn connect_url(url: &str) -> String {
    format!("{}/connect", url.trim_end_matches('/'))
}

/// With `connect`, the Connect endpoint (`url` + `/connect`): events of
/// teachers' connected accounts, with its own signing secret.
pub async fn register(stripe: &StripeConfig, url: &str, connect: bool) -> Result<Registered, String> {
    let http = reqwest::Client::builder().timeout(stripe.timeout).build().map_err(|e| e.to_string())?;
    let list: Value = send(http.get(format!("{}v1/webhook_endpoints", stripe.api_base)).bearer_auth(&stripe.secret_key).query(&[("limit", "100")])).await?;
    let url = if connect { connect_url(url) } else { url.to_owned() };
    let url = url.as_str();
    let handled: &[&str] = if connect { &shared::webhook::event::CONNECT_HANDLED } else { &shared::webhook::event::HANDLED };
    let events: Vec<(String, String)> = handled.iter().enumerate().map(|(i, e)| (format!("enabled_events[{i}]"), (*e).to_owned())).collect();
    let existing = list["data"].as_array().into_iter().flatten().find(|e| e["url"].as_str().is_some_and(|u| u.trim_end_matches('/') == url.trim_end_matches('/')));
    if let Some(endpoint) = existing {
        let id = endpoint["id"].as_str().ok_or("an endpoint without an id")?.to_owned();
        let mut form = events;
        form.push(("disabled".into(), "false".into()));
        send(http.post(format!("{}v1/webhook_endpoints/{id}", stripe.api_base)).bearer_auth(&stripe.secret_key).form(&form)).await?;
        return Ok(Registered { endpoint_id: id, secret: None });
    }
    let mut form = events;
    form.push(("url".into(), url.to_owned()));
    form.push(("api_version".into(), API_VERSION.to_owned()));
    if connect {
        form.push(("connect".into(), "true".into()));
    }
    let created: Value = send(http.post(format!("{}v1/webhook_endpoints", stripe.api_base)).bearer_auth(&stripe.secret_key).form(&form)).await?;
    Ok(Registered {
        endpoint_id: created["id"].as_str().ok_or("Stripe returned no endpoint id")?.to_owned(),
        secret: created["secret"].as_str().map(str::to_owned),
    })
}

async fn send(request: reqwest::RequestBuilder) -> Result<Value, String> {
    let response = request.send().await.map_err(|e| format!("Stripe is unreachable: {e}"))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() { Ok(body) } else { Err(format!("Stripe answered {status}: {}", body["error"]["message"].as_str().unwrap_or("no message"))) }
}
