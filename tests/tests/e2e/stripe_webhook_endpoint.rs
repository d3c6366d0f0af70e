//! `make stripe-webhook` against the Stripe emulator: creates the endpoint
//! with exactly the handled events and our API version, hands back its
//! signing secret once, and a second run updates it instead of adding one;
//! the Connect endpoint beside it, with its own secret and events.

use std::time::Duration;

use serde_json::Value;

#[tokio::test]
async fn the_endpoint_is_created_once_then_kept_up_to_date() {
    let stripe = tests::start_stripe().await;
    let config = shared::payments::StripeConfig { secret_key: tests::STRIPE_KEY.into(), api_base: stripe.base_url(), timeout: Duration::from_secs(5) };
    let url = "http://127.0.0.1:9/lambda-url/stripe-webhook/";

    let first = infra::stripe_webhook::register(&config, url, false).await.unwrap();
    let secret = first.secret.clone().expect("the signing secret comes with the creation");
    assert!(secret.starts_with("whsec_") && secret != tests::WEBHOOK_SECRET, "the endpoint's own secret: {secret}");
    let listed = || async {
        let body: Value = reqwest::Client::new().get(format!("{}v1/webhook_endpoints", stripe.base_url())).bearer_auth(tests::STRIPE_KEY).send().await.unwrap().json().await.unwrap();
        body["data"].as_array().unwrap().clone()
    };
    let endpoints = listed().await;
    assert_eq!(endpoints.len(), 1);
    let mut events: Vec<&str> = endpoints[0]["enabled_events"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    events.sort();
    let mut handled = shared::webhook::event::HANDLED.to_vec();
    handled.sort();
    assert_eq!(events, handled);
    assert_eq!(endpoints[0]["api_version"], infra::stripe_webhook::API_VERSION);
    assert_eq!(endpoints[0]["url"], url);

    let again = infra::stripe_webhook::register(&config, url, false).await.unwrap();
    assert_eq!((again.endpoint_id.as_str(), again.secret.as_deref()), (first.endpoint_id.as_str(), None), "updated, not duplicated");
    assert_eq!(listed().await.len(), 1);

    let wrong_key = shared::payments::StripeConfig { secret_key: "sk_test_wrong".into(), ..config };
    assert!(infra::stripe_webhook::register(&wrong_key, url, false).await.unwrap_err().contains("401"));
}

#[tokio::test]
async fn the_connect_endpoint_is_its_own_with_its_own_secret_and_events() {
    let stripe = tests::start_stripe().await;
    let config = shared::payments::StripeConfig { secret_key: tests::STRIPE_KEY.into(), api_base: stripe.base_url(), timeout: Duration::from_secs(5) };
    let url = "http://127.0.0.1:9/lambda-url/stripe-webhook/";
    let platform = infra::stripe_webhook::register(&config, url, false).await.unwrap();
    let connect = infra::stripe_webhook::register(&config, url, true).await.unwrap();
    assert_ne!(platform.endpoint_id, connect.endpoint_id);
    assert_ne!(platform.secret, connect.secret, "each endpoint signs with its own secret");
    let body: Value = reqwest::Client::new().get(format!("{}v1/webhook_endpoints", stripe.base_url())).bearer_auth(tests::STRIPE_KEY).send().await.unwrap().json().await.unwrap();
    let listed = body["data"].as_array().unwrap();
    let endpoint = listed.iter().find(|e| e["id"] == connect.endpoint_id.as_str()).unwrap();
    assert_eq!(endpoint["url"], "http://127.0.0.1:9/lambda-url/stripe-webhook/connect");
    let events: Vec<&str> = endpoint["enabled_events"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(events, shared::webhook::event::CONNECT_HANDLED);
    let again = infra::stripe_webhook::register(&config, url, true).await.unwrap();
    assert_eq!((again.endpoint_id, again.secret), (connect.endpoint_id, None), "updated, not duplicated");
}
