//! DynamoDB faults that dynoxide cannot produce by itself, through a loopback
//! proxy in front of it (`tests::dynamo_proxy`): lost answers, a service that
//! ignores `ClientRequestToken`, `TransactionConflict`, throttling, failed
//! writes after Stripe answered, latency under a flash crowd; and what the
//! checkout and get-slots paths read.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use shared::domain::CheckoutId;
use tests::dynamo_proxy::Fault;
use tests::{CheckoutEnv, EnvOptions, FunctionUrlEvent, call_app_raw, cart, json_of, lesson, token_for, tomorrow_at};
use tokio::task::JoinSet;

async fn proxied() -> CheckoutEnv {
    CheckoutEnv::start_with(EnvOptions { behind_proxy: true, ..EnvOptions::default() }).await
}

async fn sessions(env: &CheckoutEnv) -> Vec<Value> {
    let body: Value = reqwest::get(format!("{}_emulator/sessions", env.stripe.base_url())).await.unwrap().json().await.unwrap();
    body.as_array().cloned().or_else(|| body["data"].as_array().cloned()).unwrap_or_default()
}

fn post(token: &str, body: &Value) -> FunctionUrlEvent {
    FunctionUrlEvent::new("POST", "/").header("authorization", &format!("Bearer {token}")).body(&body.to_string())
}

#[tokio::test]
async fn a_hold_whose_answers_were_lost_commits_once() {
    let env = proxied().await;
    let start = tomorrow_at("10:00");
    // Every attempt the SDK makes goes through, but no answer comes back.
    env.db.proxy().fail("TransactWriteItems", Fault::LoseAnswer, 3);
    let (status, body) = env.post(Some(&token_for("s_1")), &cart(vec![lesson("t_one", &start, 60)]), None).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(env.holds("t_one", &start).await.len(), 1);
    assert_eq!(sessions(&env).await.len(), 1);
}

#[tokio::test]
async fn a_service_that_ignores_tokens_finds_its_own_checkout() {
    let env = proxied().await;
    let start = tomorrow_at("10:00");
    env.db.proxy().ignore_tokens(true);
    env.db.proxy().fail("TransactWriteItems", Fault::LoseAnswer, 3);
    let (status, body) = env.post(Some(&token_for("s_1")), &cart(vec![lesson("t_one", &start, 60)]), Some("key-1")).await;
    assert_eq!(status, 201, "a condition failure on our own new checkout is our own earlier write: {body}");
    assert_eq!(env.holds("t_one", &start).await.len(), 1);
    assert_eq!(sessions(&env).await.len(), 1);
}

#[tokio::test]
async fn a_transaction_conflict_is_retried_never_refused() {
    let env = proxied().await;
    let start = tomorrow_at("10:00");
    // DynamoDB cancels a transaction whose item another one is writing.
    env.db.proxy().fail("TransactWriteItems", Fault::Cancel { code: "TransactionConflict", prefix: "CHECKOUT#" }, 3);
    let (status, body) = env.post(Some(&token_for("s_1")), &cart(vec![lesson("t_one", &start, 60)]), None).await;
    assert_eq!(status, 201, "not a 422 or 409: {body}");
    env.db.proxy().fail("TransactWriteItems", Fault::Cancel { code: "TransactionConflict", prefix: "TEACHER#" }, 3);
    let (status, body) = env.post(Some(&token_for("s_2")), &cart(vec![lesson("t_one", &tomorrow_at("12:00"), 60)]), None).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn endless_conflicts_or_throttling_end_in_503_with_retry_after() {
    let env = proxied().await;
    let start = tomorrow_at("10:00");
    for fault in [Fault::Cancel { code: "TransactionConflict", prefix: "TEACHER#" }, Fault::Throttle] {
        env.db.proxy().fail("TransactWriteItems", fault.clone(), 10_000);
        let response = call_app_raw(&env.checkout, post(&token_for("s_1"), &cart(vec![lesson("t_one", &start, 60)]))).await;
        let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
        let (status, body) = json_of(&response);
        assert_eq!((status, body["error"]["code"].as_str()), (503, Some("service_unavailable")), "{fault:?}: {body}");
        assert_eq!(retry_after.as_deref(), Some("1"), "{fault:?}");
        env.db.proxy().clear();
    }
    assert!(env.holds("t_one", &start).await.is_empty());
    assert!(sessions(&env).await.is_empty());
}

/// A call whose outcome is still unknown after the SDK's retries (a 5xx
/// that is not in DynamoDB's error shape, an answer that timed out, a
/// connection broken mid-answer) is a passing outage: `503` with
/// `Retry-After`, never `500`. The first is what a slower DynamoDB
/// implementation answered to a flash crowd (logged as `transact: unknown`).
#[tokio::test]
async fn an_outcome_still_unknown_after_retries_is_503_with_retry_after() {
    let env = proxied().await;
    let faults = [
        ("TransactWriteItems", Fault::Garbled),
        ("TransactWriteItems", Fault::Hang(Duration::from_secs(3))),
        ("TransactWriteItems", Fault::Cut),
        ("GetItem", Fault::Garbled),
        ("BatchGetItem", Fault::Cut),
    ];
    for (i, (operation, fault)) in faults.into_iter().enumerate() {
        env.db.proxy().fail(operation, fault.clone(), 10_000);
        let start = tomorrow_at(&format!("{:02}:00", 6 + 2 * i));
        let response = call_app_raw(&env.checkout, post(&token_for(&format!("s_{i}")), &cart(vec![lesson("t_one", &start, 60)]))).await;
        let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
        let (status, body) = json_of(&response);
        assert_eq!((status, body["error"]["code"].as_str()), (503, Some("service_unavailable")), "{operation} {fault:?}: {body}");
        assert_eq!(retry_after.as_deref(), Some("1"), "{operation} {fault:?}");
        env.db.proxy().clear();
    }
}

#[tokio::test]
async fn the_url_goes_out_even_if_storing_it_fails_and_a_replay_reopens_it() {
    let env = proxied().await;
    let token = token_for("s_1");
    let body = cart(vec![lesson("t_one", &tomorrow_at("10:00"), 60)]);
    env.db.proxy().fail("UpdateItem", Fault::Fail, 1_000);
    let (status, first) = env.post(Some(&token), &body, Some("key-1")).await;
    assert_eq!(status, 201, "{first}");
    let url = first["checkout_url"].as_str().expect("the student can pay");
    let id = CheckoutId::parse(first["checkout_id"].as_str().unwrap()).unwrap();
    assert_eq!(env.db.store.get_checkout(&id).await.unwrap().unwrap().checkout_url, None, "the write failed");

    env.db.proxy().clear();
    let started = std::time::Instant::now();
    let (status, replayed) = env.post(Some(&token), &body, Some("key-1")).await;
    assert_eq!(status, 201, "{replayed}");
    assert_eq!(replayed["checkout_url"].as_str(), Some(url), "the same session, asked for under the same key");
    assert!(started.elapsed() < Duration::from_secs(5), "no waiting for the first request: {:?}", started.elapsed());
    assert_eq!(env.db.store.get_checkout(&id).await.unwrap().unwrap().checkout_url.as_deref(), Some(url));
    assert_eq!(sessions(&env).await.len(), 1);
}

/// A teacher with a year's horizon, so a cart can hold lessons far apart.
async fn seed_far_teacher(env: &CheckoutEnv) {
    let day = json!([["00:00", "24:00"]]);
    let doc = json!({
        "id": "t_far", "name": "Far", "timezone": "UTC",
        "weekly": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day},
        "currency": "eur", "lessons": [{"duration_minutes": 60, "price": 3000}],
        "buffer_minutes": 10, "min_notice_minutes": 0, "horizon_days": 365, "slot_step_minutes": 60
    });
    let profile = shared::domain::TeacherProfile::from_json_str(&doc.to_string()).unwrap();
    env.db.store.put_profile(&profile).await.unwrap();
}

#[tokio::test]
async fn a_cart_reads_exactly_the_days_it_touches() {
    let env = proxied().await;
    seed_far_teacher(&env).await;
    let near = tomorrow_at("10:00");
    let far = {
        let day = jiff::tz::TimeZone::UTC.to_datetime(jiff::Timestamp::now()).date().checked_add(jiff::Span::new().days(300)).unwrap();
        format!("{day}T00:00:00Z")
    };
    env.db.proxy().clear_calls();
    let (status, body) = env.post(Some(&token_for("s_1")), &cart(vec![lesson("t_far", &near, 60), lesson("t_far", &far, 60)]), None).await;
    assert_eq!(status, 201, "{body}");
    let calls = env.db.proxy().calls();
    assert!(!calls.iter().any(|c| c.operation == "Query"), "no range query: {:?}", calls.iter().map(|c| &c.operation).collect::<Vec<_>>());
    let mut days: Vec<String> = calls
        .iter()
        .filter(|c| c.operation == "BatchGetItem")
        .flat_map(|c| c.request["RequestItems"]["lessons"]["Keys"].as_array().cloned().unwrap_or_default())
        .filter_map(|k| k["sk"]["S"].as_str().map(str::to_owned))
        .filter(|sk| sk.starts_with("DAY#"))
        .collect();
    days.sort();
    days.dedup();
    // The far lesson starts at midnight, so its buffer reaches into the day before.
    let far_day = &far[..10];
    let day_before = jiff::civil::Date::strptime("%Y-%m-%d", far_day).unwrap().yesterday().unwrap().to_string();
    let expected = vec![format!("DAY#{}", &near[..10]), format!("DAY#{day_before}"), format!("DAY#{far_day}")];
    assert_eq!(days, expected);
    for call in calls.iter().filter(|c| c.operation == "BatchGetItem") {
        assert_eq!(call.request["RequestItems"]["lessons"]["ConsistentRead"], true, "a checkout reads what it decides on strongly");
    }
}

#[tokio::test]
async fn get_slots_reads_the_calendar_eventually_consistent() {
    let env = proxied().await;
    env.db.proxy().clear_calls();
    env.open_starts("t_one", shared::clock::Clock::System).await;
    let queries: Vec<_> = env.db.proxy().calls().into_iter().filter(|c| c.operation == "Query").collect();
    assert_eq!(queries.len(), 1);
    assert_ne!(queries[0].request["ConsistentRead"], true, "{}", queries[0].request);
}

/// A flash crowd with DynamoDB-like latency: every answer is definite. Two
/// students per slot, all at once, in one debug-build process on a 2-core
/// machine (more requests than that measure CPU starvation, not contention;
/// release-build figures are in the closing note of the hardening issue).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flash_crowd_gets_definite_answers() {
    let env = Arc::new(proxied().await);
    env.db.proxy().set_latency(Duration::from_millis(8));
    let slots: Vec<String> = (0..16).map(|i| tomorrow_at(&format!("{:02}:00", 6 + i))).collect();
    let mut tasks = JoinSet::new();
    for student in 0..32 {
        let (env, start) = (env.clone(), slots[student % slots.len()].clone());
        tasks.spawn(async move {
            let started = std::time::Instant::now();
            let answer = env.post(Some(&token_for(&format!("s_{student}"))), &cart(vec![lesson("t_one", &start, 30)]), None).await;
            (answer, started.elapsed())
        });
    }
    let mut spread = std::collections::BTreeMap::new();
    let mut slowest = Duration::ZERO;
    while let Some(result) = tasks.join_next().await {
        let ((status, body), took) = result.unwrap();
        assert!(status == 201 || (status == 409 && body["error"]["code"] == "slot_unavailable"), "{status} {body}");
        *spread.entry(status).or_insert(0) += 1;
        slowest = slowest.max(took);
    }
    eprintln!("flash crowd, 32 students at 16 slots, 8 ms per DynamoDB call: {spread:?}, slowest answer {slowest:?}");
    assert_eq!(spread.get(&201), Some(&16), "{spread:?}");
    for start in &slots {
        let at: jiff::Timestamp = start.parse().unwrap();
        assert_eq!(env.holds("t_one", start).await.iter().filter(|h| h.start == at).count(), 1, "{start} sold once");
    }
}

/// A cold start opens the DynamoDB connection during init (`Store::open`), so
/// the first request finds it ready instead of opening its own.
#[tokio::test]
async fn the_connection_opened_at_start_up_serves_the_first_request() {
    let db = tests::TestDb::start_with(true).await;
    let proxy = db.proxy();
    let store = shared::store::Store::new(local_stack::dynamo::local_client(&proxy.endpoint()), "lessons");
    let before = proxy.connections();
    proxy.clear_calls();

    store.connect().await;
    assert_eq!(proxy.connections(), before + 1);
    let calls = proxy.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!((calls[0].operation.as_str(), &calls[0].request["Key"]["pk"]["S"]), ("GetItem", &json!("WARMUP")));

    let teacher = shared::domain::TeacherId::parse("t_one").unwrap();
    assert!(store.get_profile(&teacher).await.unwrap().is_none());
    assert_eq!(proxy.connections(), before + 1, "the first request reused the connection");
}

/// A function still starts when DynamoDB does not answer: the first request
/// that needs it reports the outage.
#[tokio::test]
async fn start_up_goes_on_when_dynamodb_is_unreachable() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let store = shared::store::Store::new(local_stack::dynamo::local_client(&format!("http://{closed}")), "lessons");
    tokio::time::timeout(Duration::from_secs(10), store.connect()).await.expect("connect gives up within the SDK's timeouts");
    let teacher = shared::domain::TeacherId::parse("t_one").unwrap();
    assert!(store.get_profile(&teacher).await.is_err());
}
