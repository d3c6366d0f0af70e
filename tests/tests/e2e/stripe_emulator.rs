//! The local Stripe emulator over real HTTP on loopback: requests encoded as
//! Stripe clients encode them, the hosted page pressed like a person would,
//! and webhooks received and verified by a small receiver run here.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use emulators::stripe::{EmulatorConfig, StripeEmulator, sign};
use jiff::Timestamp;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};

const KEY: &str = "sk_test_emulator_key_0001";
const WHSEC: &str = "whsec_emulator_test_secret";

async fn emulator(webhook_url: Option<String>, retry_base: Duration) -> StripeEmulator {
    let config = EmulatorConfig { port: 0, secret_key: KEY.into(), webhook_secret: WHSEC.into(), webhook_url, retry_base, ..EmulatorConfig::default() };
    StripeEmulator::start(config).await.unwrap()
}

/// No redirects followed (the tests look at the 303s), no environment proxy.
fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// A body as Stripe clients send it: form-encoded, bracket notation.
fn session_form(extra: &[(&str, &str)]) -> String {
    let mut form = form_pairs(&[
        ("mode", "payment"),
        ("success_url", "http://127.0.0.1:3000/booked?session={CHECKOUT_SESSION_ID}"),
        ("cancel_url", "http://127.0.0.1:3000/cancelled"),
        ("client_reference_id", "chk_0001"),
        ("customer_email", "student@example.com"),
        ("line_items[0][price_data][currency]", "eur"),
        ("line_items[0][price_data][unit_amount]", "1800"),
        ("line_items[0][price_data][product_data][name]", "Guitar <60 min> with Anna & co"),
        ("line_items[0][quantity]", "1"),
        ("metadata[checkout_id]", "chk_0001"),
        ("payment_intent_data[metadata][checkout_id]", "chk_0001"),
        ("expand[0]", "payment_intent"),
    ]);
    if !extra.is_empty() {
        form.push('&');
        form.push_str(&form_pairs(extra));
    }
    form
}

fn form_pairs(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

async fn post_form(stripe: &StripeEmulator, path: &str, body: String, idempotency_key: Option<&str>) -> (StatusCode, Value) {
    let mut request = http()
        .post(format!("{}{path}", stripe.base_url()))
        .bearer_auth(KEY)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(key) = idempotency_key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn get_json(stripe: &StripeEmulator, path: &str) -> (StatusCode, Value) {
    let response = http().get(format!("{}{path}", stripe.base_url())).bearer_auth(KEY).send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn control(stripe: &StripeEmulator, path: &str) -> Value {
    http().get(format!("{}_emulator/{path}", stripe.base_url())).send().await.unwrap().json().await.unwrap()
}

async fn create_session(stripe: &StripeEmulator) -> Value {
    let (status, session) = post_form(stripe, "v1/checkout/sessions", session_form(&[]), None).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    session
}

async fn press(stripe: &StripeEmulator, id: &str, button: &str) -> reqwest::Response {
    http().post(format!("{}pay/{id}/{button}", stripe.base_url())).send().await.unwrap()
}

/// Polls until `ready` holds; webhook deliveries run in the background.
async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..200 {
        if let Some(value) = probe().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    signature: String,
    content_type: String,
    body: Vec<u8>,
}

/// A minimal HTTP/1.1 webhook endpoint: answers with scripted statuses
/// (then 200) and keeps what it received.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(script: &[u16]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhooks/stripe", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<u16>>()));
        let log = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, script) = (log.clone(), script.clone());
                tokio::spawn(async move { serve_one(stream, log, script).await });
            }
        });
        Receiver { url, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    async fn wait_for(&self, count: usize) -> Vec<Received> {
        eventually("webhook requests", async || {
            let got = self.received();
            (got.len() >= count).then_some(got)
        })
        .await
    }
}

async fn serve_one(stream: TcpStream, log: Arc<Mutex<Vec<Received>>>, script: Arc<Mutex<VecDeque<u16>>>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = read_some(&stream, &mut chunk).await;
        assert!(n > 0, "connection closed before headers");
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buffer[..header_end].to_vec()).unwrap();
    let header = |name: &str| {
        head.lines()
            .find_map(|line| line.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_owned()))
            .unwrap_or_default()
    };
    let length: usize = header("content-length").parse().unwrap();
    while buffer.len() < header_end + length {
        let n = read_some(&stream, &mut chunk).await;
        assert!(n > 0, "connection closed before body");
        buffer.extend_from_slice(&chunk[..n]);
    }
    log.lock().unwrap().push(Received {
        signature: header("stripe-signature"),
        content_type: header("content-type"),
        body: buffer[header_end..header_end + length].to_vec(),
    });
    let status = script.lock().unwrap().pop_front().unwrap_or(200);
    let reply = format!("HTTP/1.1 {status} Scripted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    write_all(&stream, reply.as_bytes()).await;
}

// Readiness-based I/O needs only tokio's `net` feature, which the workspace
// enables; the `io-util` extension traits it does not.
async fn read_some(stream: &TcpStream, buf: &mut [u8]) -> usize {
    loop {
        stream.readable().await.unwrap();
        match stream.try_read(buf) {
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => continue,
            result => return result.unwrap(),
        }
    }
}

async fn write_all(stream: &TcpStream, mut data: &[u8]) {
    while !data.is_empty() {
        stream.writable().await.unwrap();
        match stream.try_write(data) {
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => continue,
            result => data = &data[result.unwrap()..],
        }
    }
}

/// Checks `Stripe-Signature` as the webhook handler must: the `v1` over
/// `"{t}.{raw body}"` with the whsec secret.
fn assert_signed(received: &Received) {
    assert_signed_with(received, WHSEC);
}

fn assert_signed_with(received: &Received, secret: &str) {
    let mut timestamp = None;
    let mut v1 = None;
    for part in received.signature.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) => v1 = Some(sig.to_owned()),
            _ => {}
        }
    }
    let timestamp = timestamp.expect("t= in Stripe-Signature");
    assert!((Timestamp::now().as_second() - timestamp).abs() < 60, "fresh timestamp");
    assert_eq!(v1.as_deref(), Some(sign(secret, timestamp, &received.body).as_str()));
    assert_eq!(received.content_type, "application/json; charset=utf-8");
}

fn json_body(received: &Received) -> Value {
    serde_json::from_slice(&received.body).unwrap()
}

#[test]
fn signer_matches_the_reference_vector() {
    let v1 = sign("whsec_test_secret", 1492774577, br#"{"id":"evt_test","object":"event"}"#);
    assert_eq!(v1, "691252e266ce41cb94d709c84e9580d4172b117a510bbc81723f657d2cd5d215");
}

#[tokio::test]
async fn create_fetch_show_and_pay_delivers_a_signed_completed_event() {
    let receiver = Receiver::start(&[]).await;
    let stripe = emulator(Some(receiver.url.clone()), Duration::from_millis(50)).await;
    assert!(stripe.base_url().ends_with('/'));
    assert_eq!(stripe.base_url(), format!("http://{}/", stripe.addr()));

    let session = create_session(&stripe).await;
    let id = session["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("cs_test_"));
    assert_eq!(session["object"], "checkout.session");
    assert_eq!(session["status"], "open");
    assert_eq!(session["payment_status"], "unpaid");
    assert_eq!(session["amount_total"], 1800);
    assert_eq!(session["amount_subtotal"], 1800);
    assert_eq!(session["currency"], "eur");
    assert_eq!(session["mode"], "payment");
    assert_eq!(session["livemode"], false);
    assert_eq!(session["client_reference_id"], "chk_0001");
    assert_eq!(session["customer_email"], "student@example.com");
    assert_eq!(session["metadata"]["checkout_id"], "chk_0001");
    assert_eq!(session["payment_intent"], Value::Null);
    assert_eq!(session["url"], format!("{}pay/{id}", stripe.base_url()));
    let expires_in = session["expires_at"].as_i64().unwrap() - session["created"].as_i64().unwrap();
    assert_eq!(expires_in, 24 * 60 * 60, "Stripe's default lifetime");

    let (status, fetched) = get_json(&stripe, &format!("v1/checkout/sessions/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, session);

    let page = http().get(session["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Guitar &lt;60 min&gt; with Anna &amp; co"), "{html}");
    assert!(!html.contains("<60 min>"));
    assert!(html.contains("18.00 EUR"));
    assert!(html.contains(&format!("action=\"/pay/{id}/complete\"")));
    assert!(html.contains(&format!("action=\"/pay/{id}/cancel\"")));

    let paid = press(&stripe, &id, "complete").await;
    assert_eq!(paid.status(), StatusCode::SEE_OTHER);
    assert_eq!(paid.headers()["location"], format!("http://127.0.0.1:3000/booked?session={id}").as_str());

    let delivered = receiver.wait_for(1).await;
    assert_signed(&delivered[0]);
    let event = json_body(&delivered[0]);
    assert!(event["id"].as_str().unwrap().starts_with("evt_test_"));
    assert_eq!(event["object"], "event");
    assert_eq!(event["type"], "checkout.session.completed");
    assert_eq!(event["livemode"], false);
    let object = &event["data"]["object"];
    assert_eq!(object["id"], id.as_str());
    assert_eq!(object["status"], "complete");
    assert_eq!(object["payment_status"], "paid");
    assert_eq!(object["metadata"]["checkout_id"], "chk_0001");
    let intent_id = object["payment_intent"].as_str().unwrap().to_owned();
    assert!(intent_id.starts_with("pi_test_"));

    let (status, intent) = get_json(&stripe, &format!("v1/payment_intents/{intent_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(intent["object"], "payment_intent");
    assert_eq!(intent["status"], "succeeded");
    assert_eq!(intent["amount"], 1800);
    assert_eq!(intent["amount_received"], 1800);
    assert_eq!(intent["currency"], "eur");
    assert_eq!(intent["metadata"]["checkout_id"], "chk_0001");
    assert!(intent["latest_charge"].as_str().unwrap().starts_with("ch_test_"));

    // The event API serves the event as signed, except that it is no longer pending, as on Stripe.
    let event_id = event["id"].as_str().unwrap();
    let (_, mut served) = get_json(&stripe, &format!("v1/events/{event_id}")).await;
    assert_eq!((event["pending_webhooks"].as_u64(), served["pending_webhooks"].as_u64()), (Some(1), Some(0)));
    served["pending_webhooks"] = event["pending_webhooks"].clone();
    assert_eq!(served, event);
    let (_, list) = get_json(&stripe, "v1/events").await;
    assert_eq!(list["object"], "list");
    assert_eq!(list["has_more"], false);
    assert_eq!(list["data"][0]["id"], event_id);

    // Complete now: the page says so and paying again changes nothing.
    let html = http().get(format!("{}pay/{id}", stripe.base_url())).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("complete"));
    assert!(!html.contains("/complete\""));
    assert_eq!(press(&stripe, &id, "complete").await.status(), StatusCode::CONFLICT);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(control(&stripe, "events").await.as_array().unwrap().len(), 1);

    // What the client sent is inspectable.
    let requests = control(&stripe, "requests").await;
    let create = &requests[0];
    assert_eq!(create["method"], "POST");
    assert_eq!(create["path"], "/v1/checkout/sessions");
    assert_eq!(create["params"]["line_items"][0]["price_data"]["product_data"]["name"], "Guitar <60 min> with Anna & co");
    assert_eq!(create["params"]["payment_intent_data"]["metadata"]["checkout_id"], "chk_0001");
}

#[tokio::test]
async fn a_receiver_that_fails_twice_gets_three_attempts() {
    let receiver = Receiver::start(&[500, 503]).await;
    let stripe = emulator(Some(receiver.url.clone()), Duration::from_millis(50)).await;
    let id = create_session(&stripe).await["id"].as_str().unwrap().to_owned();
    assert_eq!(press(&stripe, &id, "complete").await.status(), StatusCode::SEE_OTHER);

    let delivered = receiver.wait_for(3).await;
    for attempt in &delivered {
        assert_signed(attempt);
        assert_eq!(attempt.body, delivered[0].body, "every attempt carries the same event");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 3, "no attempt after a 2xx");

    let deliveries = control(&stripe, "deliveries").await;
    let summary: Vec<(i64, i64, bool)> = deliveries
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["attempt"].as_i64().unwrap(), d["status"].as_i64().unwrap(), d["delivered"].as_bool().unwrap()))
        .collect();
    assert_eq!(summary, [(1, 500, false), (2, 503, false), (3, 200, true)]);
    assert_eq!(deliveries[0]["event_type"], "checkout.session.completed");
}

#[tokio::test]
async fn an_unreachable_endpoint_gets_at_most_eight_attempts() {
    // A port that was free a moment ago: connections are refused.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let stripe = emulator(Some(format!("http://{closed}/hook")), Duration::from_millis(2)).await;
    let id = create_session(&stripe).await["id"].as_str().unwrap().to_owned();
    press(&stripe, &id, "complete").await;

    let deliveries = eventually("eight attempts", async || {
        let deliveries = control(&stripe, "deliveries").await;
        (deliveries.as_array().unwrap().len() >= 8).then_some(deliveries)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let after = control(&stripe, "deliveries").await;
    assert_eq!(after.as_array().unwrap().len(), 8);
    assert_eq!(deliveries[7]["attempt"], 8);
    assert_eq!(deliveries[0]["status"], Value::Null);
    assert!(!deliveries[0]["error"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn events_without_a_webhook_url_are_recorded_not_delivered() {
    let stripe = emulator(None, Duration::from_millis(50)).await;
    let first = create_session(&stripe).await["id"].as_str().unwrap().to_owned();
    press(&stripe, &first, "complete").await;
    let (_, list) = get_json(&stripe, "v1/events").await;
    assert_eq!(list["data"][0]["type"], "checkout.session.completed");
    assert_eq!(list["data"][0]["pending_webhooks"], 0);

    let receiver = Receiver::start(&[]).await;
    stripe.set_webhook_url(Some(receiver.url.clone()));
    let second = create_session(&stripe).await["id"].as_str().unwrap().to_owned();
    press(&stripe, &second, "complete").await;
    let delivered = receiver.wait_for(1).await;
    assert_eq!(json_body(&delivered[0])["data"]["object"]["id"], second.as_str());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.received().len(), 1, "earlier events are not replayed");
}

#[tokio::test]
async fn idempotency_key_replays_and_refuses_other_parameters() {
    let stripe = emulator(None, Duration::from_millis(50)).await;
    let (status, first) = post_form(&stripe, "v1/checkout/sessions", session_form(&[]), Some("checkout-chk_0001")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, again) = post_form(&stripe, "v1/checkout/sessions", session_form(&[]), Some("checkout-chk_0001")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(control(&stripe, "sessions").await.as_array().unwrap().len(), 1);

    let other = session_form(&[("metadata[extra]", "x")]);
    let (status, refused) = post_form(&stripe, "v1/checkout/sessions", other.clone(), Some("checkout-chk_0001")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refused["error"]["type"], "idempotency_error");
    assert_eq!(control(&stripe, "sessions").await.as_array().unwrap().len(), 1);

    let (status, fresh) = post_form(&stripe, "v1/checkout/sessions", other, Some("checkout-chk_0002")).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(fresh["id"], first["id"]);

    let requests = control(&stripe, "requests").await;
    assert_eq!(requests[0]["idempotency_key"], "checkout-chk_0001");
}

/// Stripe saves a result once a request starts executing, 500s included:
/// the same key answers the same 500 again, so retrying it cannot help.
#[tokio::test]
async fn a_server_error_is_saved_under_its_idempotency_key() {
    let stripe = emulator(None, Duration::from_millis(50)).await;
    set_fault(&stripe, r#"{"status": 500, "count": 1}"#).await;
    let (status, _) = post_form(&stripe, "v1/checkout/sessions", session_form(&[]), Some("checkout-chk_0500")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let (status, again) = post_form(&stripe, "v1/checkout/sessions", session_form(&[]), Some("checkout-chk_0500")).await;
    assert_eq!((status, again["error"]["type"].as_str()), (StatusCode::INTERNAL_SERVER_ERROR, Some("api_error")), "{again}");
    assert!(control(&stripe, "sessions").await.as_array().unwrap().is_empty());
    // A 429 is not saved (the request never ran), and another key is unaffected.
    set_fault(&stripe, r#"{"status": 429, "count": 1}"#).await;
    assert_eq!(post_form(&stripe, "v1/checkout/sessions", session_form(&[]), Some("checkout-chk_0429")).await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(post_form(&stripe, "v1/checkout/sessions", session_form(&[]), Some("checkout-chk_0429")).await.0, StatusCode::OK);
    assert_eq!(post_form(&stripe, "v1/checkout/sessions", session_form(&[]), Some("checkout-chk_0501")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_bad_or_missing_api_key_is_refused() {
    let stripe = emulator(None, Duration::from_millis(50)).await;
    let url = format!("{}v1/checkout/sessions", stripe.base_url());
    let wrong = http().post(&url).bearer_auth("sk_test_not_the_right_key").body(session_form(&[])).send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("Invalid API Key provided"), "{message}");
    assert!(!message.contains("not_the_right"), "the key is masked");

    let missing = http().post(&url).body(session_form(&[])).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert!(control(&stripe, "sessions").await.as_array().unwrap().is_empty());
}

async fn set_fault(stripe: &StripeEmulator, fault: &str) {
    let response = http()
        .post(format!("{}_emulator/faults", stripe.base_url()))
        .header("Content-Type", "application/json")
        .body(fault.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn faults_answer_errors_or_delay_then_clear() {
    let stripe = emulator(None, Duration::from_millis(50)).await;
    let id = create_session(&stripe).await["id"].as_str().unwrap().to_owned();
    let path = format!("v1/checkout/sessions/{id}");

    set_fault(&stripe, r#"{"status": 500, "count": 2}"#).await;
    for _ in 0..2 {
        let (status, body) = get_json(&stripe, &path).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["type"], "api_error");
    }
    assert_eq!(get_json(&stripe, &path).await.0, StatusCode::OK);

    set_fault(&stripe, r#"{"status": 429}"#).await;
    for _ in 0..3 {
        let (status, body) = get_json(&stripe, &path).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(body["error"]["type"], "rate_limit_error");
    }
    let cleared = http().delete(format!("{}_emulator/faults", stripe.base_url())).send().await.unwrap();
    assert!(cleared.status().is_success());
    assert_eq!(get_json(&stripe, &path).await.0, StatusCode::OK);

    set_fault(&stripe, r#"{"delay_ms": 1500, "count": 1}"#).await;
    let impatient = reqwest::Client::builder().no_proxy().timeout(Duration::from_millis(200)).build().unwrap();
    let timed_out = impatient.get(format!("{}{path}", stripe.base_url())).bearer_auth(KEY).send().await;
    assert!(timed_out.unwrap_err().is_timeout());
    let started = std::time::Instant::now();
    assert_eq!(get_json(&stripe, &path).await.0, StatusCode::OK);
    assert!(started.elapsed() < Duration::from_millis(1000), "the delay was used up");

    let refused = http().post(format!("{}_emulator/faults", stripe.base_url())).body(r#"{"status": 200}"#).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn expiring_emits_checkout_session_expired_once() {
    let receiver = Receiver::start(&[]).await;
    let stripe = emulator(Some(receiver.url.clone()), Duration::from_millis(50)).await;
    let id = create_session(&stripe).await["id"].as_str().unwrap().to_owned();

    let (status, expired) = post_form(&stripe, &format!("v1/checkout/sessions/{id}/expire"), String::new(), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(expired["status"], "expired");
    assert_eq!(expired["payment_status"], "unpaid");
    let delivered = receiver.wait_for(1).await;
    assert_signed(&delivered[0]);
    let event = json_body(&delivered[0]);
    assert_eq!(event["type"], "checkout.session.expired");
    assert_eq!(event["data"]["object"]["id"], id.as_str());
    assert!(event["request"]["id"].as_str().unwrap().starts_with("req_"));

    let (status, again) = post_form(&stripe, &format!("v1/checkout/sessions/{id}/expire"), String::new(), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(again["error"]["type"], "invalid_request_error");
    assert_eq!(press(&stripe, &id, "complete").await.status(), StatusCode::CONFLICT);
    let html = http().get(format!("{}pay/{id}", stripe.base_url())).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("expired"));
    assert!(!html.contains("/complete\""));

    // The control endpoint does the same without a key.
    let other = create_session(&stripe).await["id"].as_str().unwrap().to_owned();
    let response = http().post(format!("{}_emulator/sessions/{other}/expire", stripe.base_url())).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let delivered = receiver.wait_for(2).await;
    assert_eq!(json_body(&delivered[1])["data"]["object"]["id"], other.as_str());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(receiver.received().len(), 2, "the sweep does not expire them again");
}

#[tokio::test]
async fn expires_at_must_be_thirty_minutes_to_a_day_ahead() {
    let stripe = emulator(None, Duration::from_millis(50)).await;
    let now = Timestamp::now().as_second();
    let too_soon = (now + 29 * 60).to_string();
    let (status, body) = post_form(&stripe, "v1/checkout/sessions", session_form(&[("expires_at", &too_soon)]), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["param"], "expires_at");

    let too_late = (now + 25 * 60 * 60).to_string();
    let (status, body) = post_form(&stripe, "v1/checkout/sessions", session_form(&[("expires_at", &too_late)]), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["param"], "expires_at");

    let fine = (now + 31 * 60).to_string();
    let (status, body) = post_form(&stripe, "v1/checkout/sessions", session_form(&[("expires_at", &fine)]), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["expires_at"].to_string(), fine);
}

#[tokio::test]
async fn invalid_parameters_get_stripe_errors() {
    let stripe = emulator(None, Duration::from_millis(50)).await;
    let no_mode = session_form(&[]).replace("mode=payment&", "");
    let (status, body) = post_form(&stripe, "v1/checkout/sessions", no_mode, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "parameter_missing");
    assert_eq!(body["error"]["param"], "mode");

    let bad_amount = session_form(&[]).replace("unit_amount%5D=1800", "unit_amount%5D=18.00");
    let (status, body) = post_form(&stripe, "v1/checkout/sessions", bad_amount, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "parameter_invalid_integer");
    assert_eq!(body["error"]["param"], "line_items[0][price_data][unit_amount]");

    let (status, body) = get_json(&stripe, "v1/checkout/sessions/cs_test_nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "resource_missing");
    let (status, body) = get_json(&stripe, "v1/charges").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(http().get(format!("{}pay/cs_test_nope", stripe.base_url())).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cancel_goes_back_and_leaves_the_session_open() {
    let stripe = emulator(None, Duration::from_millis(50)).await;
    let id = create_session(&stripe).await["id"].as_str().unwrap().to_owned();
    let cancelled = press(&stripe, &id, "cancel").await;
    assert_eq!(cancelled.status(), StatusCode::SEE_OTHER);
    assert_eq!(cancelled.headers()["location"], "http://127.0.0.1:3000/cancelled");
    let (_, session) = get_json(&stripe, &format!("v1/checkout/sessions/{id}")).await;
    assert_eq!(session["status"], "open");
    assert!(control(&stripe, "events").await.as_array().unwrap().is_empty());
}

/// As on Stripe, a registered endpoint has its own signing secret and its
/// deliveries are signed with it (not with the emulator's configured one), so
/// a function holding another secret refuses them; `pending_webhooks` on the
/// event stays 1 until a delivery gets a 2xx.
#[tokio::test]
async fn a_registered_endpoint_gets_events_signed_with_its_own_secret() {
    let default = Receiver::start(&[]).await;
    let stripe = emulator(Some(default.url.clone()), Duration::from_millis(50)).await;
    let receiver = Receiver::start(&[400, 400]).await;
    let body = form_pairs(&[("url", &receiver.url), ("enabled_events[0]", "checkout.session.expired")]);
    let (status, endpoint) = post_form(&stripe, "v1/webhook_endpoints", body, None).await;
    assert_eq!(status, StatusCode::OK);
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_") && secret != WHSEC, "{secret}");
    let (_, listed) = get_json(&stripe, "v1/webhook_endpoints").await;
    assert!(listed["data"][0]["secret"].is_null(), "only the creation answer carries the secret");

    let id = create_session(&stripe).await["id"].as_str().unwrap().to_owned();
    let (status, _) = post_form(&stripe, &format!("v1/checkout/sessions/{id}/expire"), String::new(), None).await;
    assert_eq!(status, StatusCode::OK);
    // The receiver refuses the first two attempts, as a function with another secret would.
    let delivered = receiver.wait_for(1).await;
    assert_signed_with(&delivered[0], &secret);
    let event_id = json_body(&delivered[0])["id"].as_str().unwrap().to_owned();
    let (_, event) = get_json(&stripe, &format!("v1/events/{event_id}")).await;
    assert_eq!(event["pending_webhooks"], 1, "refused, so still pending");
    receiver.wait_for(3).await;
    let delivered_event = eventually("the event no longer pending", async || {
        let (_, event) = get_json(&stripe, &format!("v1/events/{event_id}")).await;
        (event["pending_webhooks"] == 0).then_some(event)
    })
    .await;
    assert_eq!(delivered_event["type"], "checkout.session.expired");
    assert!(default.received().is_empty(), "the configured URL gets nothing once an endpoint is registered");

    // An event type the endpoint does not take goes nowhere.
    press(&stripe, &create_session(&stripe).await["id"].as_str().unwrap().to_owned(), "complete").await;
    let (_, list) = get_json(&stripe, "v1/events?type=checkout.session.completed").await;
    assert_eq!(list["data"][0]["pending_webhooks"], 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.received().len(), 3);
}
