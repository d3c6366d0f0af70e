//! The deployed shape, end to end: `cargo lambda watch` serves the real
//! function binaries at function-URL paths, backed by a real dynoxide server,
//! and we call them over HTTP on loopback. Run by `make test`, which installs
//! cargo-lambda first.

use std::process::Stdio;
use std::time::Duration;

use tests::TestDb;
use tokio::process::Command;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The first call to a function compiles and starts it: until then the
/// server may refuse connections or answer 502/504, so requests that change
/// anything carry an Idempotency-Key and are safe to send again.
async fn first_answer(request: impl Fn() -> reqwest::RequestBuilder) -> reqwest::Response {
    for _ in 0..120 {
        match request().timeout(Duration::from_secs(300)).send().await {
            Ok(response) if !matches!(response.status().as_u16(), 502 | 504) => return response,
            _ => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
    panic!("cargo lambda watch never answered");
}

#[tokio::test]
#[ignore = "needs cargo-lambda on PATH; `make test` runs it"]
async fn the_functions_answer_over_http_through_cargo_lambda_watch() {
    let db = TestDb::start().await;
    db.seed_demo().await;
    let stripe = tests::start_stripe().await;
    let hms = tests::start_hms().await;
    let port = free_port();
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut watch = Command::new("cargo")
        .current_dir(&workspace)
        .args(["lambda", "watch", "--quiet", "--invoke-address", "127.0.0.1", "--invoke-port", &port.to_string()])
        .args(["--env-var", "TABLE_NAME=lessons"])
        .args(["--env-var", &format!("AWS_ENDPOINT_URL_DYNAMODB={}", db.dynamo.endpoint())])
        .args(["--env-var", "AWS_REGION=us-east-1,AWS_ACCESS_KEY_ID=local,AWS_SECRET_ACCESS_KEY=local"])
        .args(["--env-var", &format!("AUTH_JWT_SECRET={}", tests::JWT_SECRET)])
        .args(["--env-var", &format!("STRIPE_SECRET_KEY={},STRIPE_API_BASE={}", tests::STRIPE_KEY, stripe.base_url())])
        .args(["--env-var", &format!("ALLOWED_REDIRECT_ORIGINS={}", tests::FRONTEND)])
        .args(["--env-var", &format!("HMS_APP_ACCESS_KEY={},HMS_APP_SECRET={},HMS_TEMPLATE_ID={}", tests::HMS_ACCESS_KEY, tests::HMS_SECRET, tests::HMS_TEMPLATE)])
        .args(["--env-var", &format!("HMS_SUBDOMAIN=lessons-test,HMS_API_BASE={}", hms.base_url())])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("cargo lambda on PATH (make test installs it)");

    let client = reqwest::Client::new();
    let today = jiff::tz::TimeZone::UTC.to_datetime(jiff::Timestamp::now()).date();
    let from = today.checked_add(jiff::ToSpan::days(2)).unwrap();
    let to = today.checked_add(jiff::ToSpan::days(9)).unwrap();
    let url = format!("http://127.0.0.1:{port}/lambda-url/get-slots/?teacher_id=t_anna&from={from}&to={to}&duration=60");

    let response = first_answer(|| client.get(&url)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: serde_json::Value = response.json().await.unwrap();
    let slots = body["slots"].as_array().unwrap();
    // A Berlin teacher working Mon-Fri has open hours in any 8-day window.
    assert!(!slots.is_empty(), "{body}");
    assert_eq!(body["price"]["currency"], "eur");

    let bad = client.get(format!("http://127.0.0.1:{port}/lambda-url/get-slots/?teacher_id=t_anna")).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_request");

    // A checkout for the first open slot: held, a Stripe session on the emulator, gone from get-slots.
    let start = slots[0]["start"].as_str().unwrap().to_owned();
    let checkout_url = format!("http://127.0.0.1:{port}/lambda-url/initiate-checkout/");
    let body = serde_json::json!({"lessons": [{"teacher_id": "t_anna", "start": start, "duration_minutes": 60}]});
    let created = first_answer(|| client.post(&checkout_url).bearer_auth(tests::token_for("s_smoke")).header("idempotency-key", "smoke-1").json(&body)).await;
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.unwrap();
    let page = client.get(created["checkout_url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("60-min lesson with Anna Schmidt"), "{page}");
    let after: serde_json::Value = client.get(&url).send().await.unwrap().json().await.unwrap();
    assert!(!after["slots"].as_array().unwrap().iter().any(|s| s["start"] == start.as_str()), "the held slot is gone");
    let again = client.post(&checkout_url).bearer_auth(tests::token_for("s_other")).json(&body).send().await.unwrap();
    assert_eq!(again.status(), 409);
    let unauthenticated = client.post(&checkout_url).json(&body).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);

    watch.kill().await.unwrap();
}
