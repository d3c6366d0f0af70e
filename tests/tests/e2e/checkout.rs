//! initiate-checkout through its real edge: Function URL events, real JWTs,
//! a real dynoxide table and the Stripe emulator on loopback.

use std::sync::Arc;

use serde_json::{Value, json};
use shared::clock::Clock;
use tests::{CheckoutEnv, FRONTEND, cart, lesson, token_for, tomorrow_at};
use tokio::task::JoinSet;

async fn sessions(env: &CheckoutEnv) -> Vec<Value> {
    let body: Value = reqwest::get(format!("{}_emulator/sessions", env.stripe.base_url())).await.unwrap().json().await.unwrap();
    body.as_array().cloned().or_else(|| body["data"].as_array().cloned()).unwrap_or_default()
}

async fn set_fault(env: &CheckoutEnv, fault: Value) {
    let response = reqwest::Client::new().post(format!("{}_emulator/faults", env.stripe.base_url())).json(&fault).send().await.unwrap();
    assert!(response.status().is_success());
}

#[tokio::test]
async fn a_cart_becomes_holds_and_a_stripe_session() {
    let env = CheckoutEnv::start().await;
    let start = tomorrow_at("10:00");
    assert!(env.open_starts("t_one", Clock::System).await.contains(&start));
    let body = json!({"lessons": [lesson("t_one", &start, 60), lesson("t_one", &tomorrow_at("14:00"), 30)], "success_url": format!("{FRONTEND}/thanks")});
    let (status, created) = env.post(Some(&token_for("s_1")), &body, None).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "awaiting_payment");
    assert_eq!(created["amount_total"], 4800, "prices come from the profile");
    assert_eq!(created["currency"], "eur");
    assert_eq!(created["lessons"][0]["end"], tomorrow_at("11:00"));
    assert_eq!(created["lessons"][1]["amount"], 1800);
    let url = created["checkout_url"].as_str().unwrap();
    assert!(url.starts_with(&env.stripe.base_url()), "{url}");

    // The hosted page shows the lesson and its price.
    let page = reqwest::get(url).await.unwrap().text().await.unwrap();
    assert!(page.contains("60-min lesson with Teacher t_one"), "{page}");
    assert!(page.contains("30.00"), "{page}");

    // What Stripe was sent: metadata, client reference, expiry 31 minutes out.
    let stored = sessions(&env).await;
    assert_eq!(stored.len(), 1);
    let session = &stored[0];
    assert_eq!(session["metadata"]["checkout_id"], created["checkout_id"]);
    assert_eq!(session["client_reference_id"], created["checkout_id"]);
    assert_eq!(session["customer_email"], "s_1@example.com");
    assert_eq!(session["amount_total"], 4800);

    // The slot is gone from get-slots and a second checkout for it is refused.
    assert!(!env.open_starts("t_one", Clock::System).await.contains(&start));
    let (status, conflict) = env.post(Some(&token_for("s_2")), &cart(vec![lesson("t_one", &start, 60)]), None).await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["error"]["code"], "slot_unavailable");
    assert_eq!(conflict["error"]["lesson_index"], 0);

    // The owner can poll it; nobody else can see it.
    let id = created["checkout_id"].as_str().unwrap();
    let (status, polled) = env.status(&token_for("s_1"), id).await;
    assert_eq!(status, 200);
    assert_eq!(polled["status"], "awaiting_payment");
    assert_eq!(polled["checkout_url"], created["checkout_url"]);
    let (status, other) = env.status(&token_for("s_2"), id).await;
    assert_eq!((status, other["error"]["code"].as_str()), (404, Some("checkout_not_found")));
}

#[tokio::test]
async fn a_hold_blocks_get_slots_until_it_expires() {
    let env = CheckoutEnv::start().await;
    let start = tomorrow_at("09:00");
    let (status, created) = env.post(Some(&token_for("s_1")), &cart(vec![lesson("t_one", &start, 60)]), None).await;
    assert_eq!(status, 201, "{created}");
    let holds = env.holds("t_one", &start).await;
    assert_eq!(holds.len(), 1);
    let expiry = holds[0].expires_at.unwrap();
    let session_expiry: jiff::Timestamp = created["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(expiry > session_expiry, "the hold outlives the session by a grace");
    assert!(session_expiry.duration_since(jiff::Timestamp::now()) >= jiff::SignedDuration::from_mins(30), "Stripe's minimum");

    assert!(!env.open_starts("t_one", Clock::Fixed(expiry - jiff::SignedDuration::from_secs(1))).await.contains(&start));
    assert!(env.open_starts("t_one", Clock::Fixed(expiry)).await.contains(&start), "an expired hold never blocks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_checkouts_for_one_slot_sell_it_once() {
    let env = Arc::new(CheckoutEnv::start().await);
    let start = tomorrow_at("12:00");
    let mut tasks = JoinSet::new();
    for i in 0..50 {
        let env = env.clone();
        let body = cart(vec![lesson("t_one", &start, 60)]);
        tasks.spawn(async move { env.post(Some(&token_for(&format!("s_{i}"))), &body, None).await });
    }
    let mut statuses = Vec::new();
    while let Some(result) = tasks.join_next().await {
        let (status, body) = result.unwrap();
        if status == 409 {
            assert_eq!(body["error"]["code"], "slot_unavailable");
        }
        statuses.push(status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 49, "{statuses:?}");
    assert_eq!(env.holds("t_one", &start).await.len(), 1);
    assert_eq!(sessions(&env).await.len(), 1);
}

#[tokio::test]
async fn overlapping_and_buffer_adjacent_lessons() {
    let env = CheckoutEnv::start().await;
    assert_eq!(env.post(Some(&token_for("s_1")), &cart(vec![lesson("t_one", &tomorrow_at("10:00"), 60)]), None).await.0, 201);
    // Other students, so nothing here supersedes s_1's own checkout.
    let other = |n: u32| token_for(&format!("s_other_{n}"));
    // Overlapping but not identical.
    let (status, body) = env.post(Some(&other(1)), &cart(vec![lesson("t_one", &tomorrow_at("10:30"), 60)]), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("slot_unavailable")));
    // After the lesson, the 10-minute buffer: 11:00 is refused, 11:10 allowed.
    assert_eq!(env.post(Some(&other(2)), &cart(vec![lesson("t_one", &tomorrow_at("11:00"), 30)]), None).await.0, 409);
    assert_eq!(env.post(Some(&other(3)), &cart(vec![lesson("t_one", &tomorrow_at("11:10"), 30)]), None).await.0, 201);
    // Before it: a lesson must end a buffer before 10:00, so 09:20-09:50 fits and 09:30-10:00 does not.
    assert_eq!(env.post(Some(&other(4)), &cart(vec![lesson("t_one", &tomorrow_at("09:30"), 30)]), None).await.0, 409);
    assert_eq!(env.post(Some(&other(5)), &cart(vec![lesson("t_one", &tomorrow_at("09:20"), 30)]), None).await.0, 201);
}

#[tokio::test]
async fn a_two_teacher_cart_with_one_conflict_holds_nothing() {
    let env = CheckoutEnv::start().await;
    let taken = tomorrow_at("15:00");
    assert_eq!(env.post(Some(&token_for("s_1")), &cart(vec![lesson("t_two", &taken, 60)]), None).await.0, 201);
    let free = tomorrow_at("08:00");
    let (status, body) = env.post(Some(&token_for("s_2")), &cart(vec![lesson("t_one", &free, 60), lesson("t_two", &taken, 60)]), None).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["lesson_index"], 1);
    assert!(env.holds("t_one", &free).await.is_empty(), "nothing held for the other teacher");
    assert_eq!(env.holds("t_two", &taken).await.len(), 1);
    assert!(env.open_starts("t_one", Clock::System).await.contains(&free));
}

/// An idempotency record lives 24 hours; DynamoDB deletes expired items
/// only days later, so one past its `ttl` is read as absent and replaced.
#[tokio::test]
async fn an_idempotency_record_past_its_ttl_is_ignored() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use sha2::Digest;
    let env = CheckoutEnv::start().await;
    let token = token_for("s_1");
    let (status, first) = env.post(Some(&token), &cart(vec![lesson("t_one", &tomorrow_at("13:00"), 60)]), Some("key-1")).await;
    assert_eq!(status, 201, "{first}");

    // The record as DynamoDB would still hold it a day and an hour later (dynoxide never sweeps TTL).
    let pk = format!("IDEMPOTENCY#{}", hex::encode(sha2::Sha256::digest(b"s_1\nkey-1")));
    let past = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1)).as_second();
    let store = &env.db.store;
    let updated = store
        .client()
        .update_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(pk))
        .key("sk", AttributeValue::S("IDEMPOTENCY".into()))
        .update_expression("SET #ttl = :past")
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_names("#ttl", "ttl")
        .expression_attribute_values(":past", AttributeValue::N(past.to_string()))
        .send()
        .await;
    assert!(updated.is_ok(), "the record is where the key says: {updated:?}");

    let other = cart(vec![lesson("t_one", &tomorrow_at("16:00"), 60)]);
    let (status, second) = env.post(Some(&token), &other, Some("key-1")).await;
    assert_eq!(status, 201, "an expired key is a new key, not idempotency_key_reused: {second}");
    assert_ne!(second["checkout_id"], first["checkout_id"]);
    // The new request's record replaced the expired one.
    let (status, replayed) = env.post(Some(&token), &other, Some("key-1")).await;
    assert_eq!((status, &replayed["checkout_id"]), (201, &second["checkout_id"]), "{replayed}");
    assert_eq!(sessions(&env).await.len(), 2);
}

#[tokio::test]
async fn idempotency_key_replays_the_first_response() {
    let env = Arc::new(CheckoutEnv::start().await);
    let token = token_for("s_1");
    let body = cart(vec![lesson("t_one", &tomorrow_at("13:00"), 60)]);
    let (s1, first) = env.post(Some(&token), &body, Some("key-1")).await;
    let (s2, second) = env.post(Some(&token), &body, Some("key-1")).await;
    assert_eq!((s1, s2), (201, 201), "{second}");
    assert_eq!(first["checkout_id"], second["checkout_id"]);
    assert_eq!(first["checkout_url"], second["checkout_url"]);
    assert_eq!(sessions(&env).await.len(), 1);

    let other = cart(vec![lesson("t_one", &tomorrow_at("16:00"), 60)]);
    let (status, reused) = env.post(Some(&token), &other, Some("key-1")).await;
    assert_eq!((status, reused["error"]["code"].as_str()), (422, Some("idempotency_key_reused")));
    // Keys are per user: another student's "key-1" is a different request.
    assert_eq!(env.post(Some(&token_for("s_2")), &other, Some("key-1")).await.0, 201);

    // Concurrent replays of a fresh key: one checkout, every answer the same.
    let body = cart(vec![lesson("t_one", &tomorrow_at("18:00"), 60)]);
    let mut tasks = JoinSet::new();
    for _ in 0..10 {
        let (env, body, token) = (env.clone(), body.clone(), token.clone());
        tasks.spawn(async move { env.post(Some(&token), &body, Some("key-2")).await });
    }
    let mut ids = Vec::new();
    while let Some(result) = tasks.join_next().await {
        let (status, body) = result.unwrap();
        assert_eq!(status, 201, "{body}");
        ids.push(body["checkout_id"].as_str().unwrap().to_owned());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let at_18 = tomorrow_at("18:00").parse::<jiff::Timestamp>().unwrap();
    assert_eq!(env.holds("t_one", &tomorrow_at("18:00")).await.iter().filter(|h| h.start == at_18).count(), 1);
    assert_eq!(sessions(&env).await.len(), 3, "13:00, s_2's 16:00 and 18:00");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_free_trial_confirms_at_once_and_only_once() {
    let env = Arc::new(CheckoutEnv::start().await);
    let trial = |start: &str| json!({"lessons": [{"teacher_id": "t_one", "start": start, "duration_minutes": 30, "trial": true}]});
    let mut tasks = JoinSet::new();
    for start in ["08:00", "09:00", "10:00", "11:00"] {
        let env = env.clone();
        let body = trial(&tomorrow_at(start));
        tasks.spawn(async move { env.post(Some(&token_for("s_trial")), &body, None).await });
    }
    let mut results = Vec::new();
    while let Some(result) = tasks.join_next().await {
        results.push(result.unwrap());
    }
    let won: Vec<_> = results.iter().filter(|(s, _)| *s == 201).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    assert!(results.iter().filter(|(s, _)| *s != 201).all(|(s, b)| *s == 409 && b["error"]["code"] == "trial_already_used"), "{results:?}");
    let confirmed = &won[0].1;
    assert_eq!(confirmed["status"], "confirmed");
    assert_eq!(confirmed["checkout_url"], Value::Null);
    assert_eq!(confirmed["payment_status"], "free");
    assert_eq!(confirmed["amount_total"], 0);
    let booking_id = confirmed["booking_ids"][0].as_str().unwrap();
    let booking = env.db.store.get_booking(&shared::domain::BookingId::parse(booking_id).unwrap()).await.unwrap().unwrap();
    assert!(booking.trial);
    assert_eq!(booking.student_id, "s_trial");
    assert!(sessions(&env).await.is_empty(), "a free cart never reaches Stripe");
    // The booked slot is no longer open; the trial belongs to this teacher only.
    let start = confirmed["lessons"][0]["start"].as_str().unwrap();
    assert!(env.holds("t_one", start).await.is_empty(), "the hold became a booking");
    let again = json!({"lessons": [{"teacher_id": "t_two", "start": tomorrow_at("08:00"), "duration_minutes": 30, "trial": true}]});
    assert_eq!(env.post(Some(&token_for("s_trial")), &again, None).await.0, 201);
}

#[tokio::test]
async fn stripe_failures_release_everything_and_answer_502() {
    let env = CheckoutEnv::start_with_timeout(std::time::Duration::from_millis(800)).await;
    let start = tomorrow_at("17:00");
    let paid_trial = json!({"lessons": [{"teacher_id": "t_two", "start": start, "duration_minutes": 30, "trial": true}]});
    for fault in [json!({"status": 500}), json!({"status": 429}), json!({"delay_ms": 3000})] {
        set_fault(&env, fault.clone()).await;
        let (status, body) = env.post(Some(&token_for("s_1")), &paid_trial, None).await;
        assert_eq!(status, 502, "{fault}: {body}");
        assert_eq!(body["error"]["code"], "payment_provider_error");
        assert!(env.holds("t_two", &start).await.is_empty(), "{fault}: holds released");
        assert!(env.open_starts("t_two", Clock::System).await.contains(&start), "{fault}: offered again at once");
        let _ = reqwest::Client::new().delete(format!("{}_emulator/faults", env.stripe.base_url())).send().await.unwrap();
    }
    // The trial claim was given back with the holds.
    let (status, body) = env.post(Some(&token_for("s_1")), &paid_trial, None).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["amount_total"], 500);
}

async fn create_requests(env: &CheckoutEnv) -> usize {
    let requests: Value = reqwest::get(format!("{}_emulator/requests", env.stripe.base_url())).await.unwrap().json().await.unwrap();
    requests.as_array().unwrap().iter().filter(|r| r["method"] == "POST" && r["path"] == "/v1/checkout/sessions").count()
}

/// Retries only where they can help: a 500 is saved under the idempotency
/// key (retrying replays it), a 409 means the same key is still running,
/// a 429 asks us to slow down.
#[tokio::test]
async fn stripe_is_retried_only_where_it_helps() {
    let env = CheckoutEnv::start().await;
    set_fault(&env, json!({"status": 500, "count": 1})).await;
    let (status, body) = env.post(Some(&token_for("s_1")), &cart(vec![lesson("t_one", &tomorrow_at("10:00"), 60)]), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (502, Some("payment_provider_error")), "{body}");
    assert_eq!(create_requests(&env).await, 1, "a 500 is not retried");

    for (i, status) in [409, 429].into_iter().enumerate() {
        set_fault(&env, json!({"status": status, "count": 1})).await;
        let (answer, body) = env.post(Some(&token_for("s_1")), &cart(vec![lesson("t_one", &tomorrow_at(&format!("1{}:00", 2 + 2 * i)), 60)]), None).await;
        assert_eq!(answer, 201, "{status} is retried: {body}");
    }
    assert_eq!(create_requests(&env).await, 5);
}

#[tokio::test]
async fn bad_tokens_and_bad_bodies_write_nothing() {
    let env = CheckoutEnv::start().await;
    let start = tomorrow_at("07:00");
    let good = cart(vec![lesson("t_one", &start, 60)]);
    let expired = {
        let claims = shared::auth::Claims::new("s_1", shared::auth::Role::Student, jiff::Timestamp::now() - jiff::SignedDuration::from_hours(2), jiff::SignedDuration::from_hours(1));
        shared::auth::mint_hs256(tests::JWT_SECRET, &claims).unwrap()
    };
    let wrong_secret = {
        let claims = shared::auth::Claims::new("s_1", shared::auth::Role::Student, jiff::Timestamp::now(), jiff::SignedDuration::from_hours(1));
        shared::auth::mint_hs256("some-other-secret-some-other-secret", &claims).unwrap()
    };
    for token in [None, Some(expired.as_str()), Some(wrong_secret.as_str()), Some("garbage")] {
        let (status, body) = env.post(token, &good, None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")), "{token:?}");
    }
    let token = token_for("s_1");
    let cases: Vec<(Value, &str)> = vec![
        (cart(vec![]), "lessons"),
        (cart(vec![lesson("t_nobody", &start, 60)]), "lessons[0].teacher_id"),
        (cart(vec![lesson("t_one", &start, 45)]), "lessons[0].duration_minutes"),
        (cart(vec![lesson("t_one", &tomorrow_at("07:05"), 60)]), "lessons[0].start"),
        (cart(vec![lesson("t_one", "2020-01-01T07:00:00Z", 60)]), "lessons[0].start"),
        (cart(vec![lesson("t_one", &start, 60), lesson("t_one", &tomorrow_at("07:30"), 30)]), "lessons[1].start"),
        (cart(vec![lesson("t_one", &start, 60), lesson("t_usd", &start, 60)]), "lessons[1].teacher_id"),
        (json!({"lessons": [{"teacher_id": "t_one", "start": start, "duration_minutes": 60, "trial": true}]}), "lessons[0].duration_minutes"),
        (json!({"lessons": [{"teacher_id": "t_one", "start": start, "duration_minutes": 60, "price": 1}]}), "lessons[0].price"),
        (json!({"lessons": [lesson("t_one", &start, 60)], "success_url": "https://evil.example.com/"}), "success_url"),
        (json!({"lessons": [lesson("t_one", &start, 60)], "cancel_url": "javascript:alert(1)"}), "cancel_url"),
    ];
    for (body, field) in cases {
        let (status, answer) = env.post(Some(&token), &body, None).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
    }
    let raw = env.call(tests::FunctionUrlEvent::new("POST", "/").header("authorization", &format!("Bearer {token}")).body("{not json")).await;
    assert_eq!((raw.0, raw.1["error"]["field"].as_str()), (400, Some("body")));
    let big = env.call(tests::FunctionUrlEvent::new("POST", "/").header("authorization", &format!("Bearer {token}")).body(&" ".repeat(70 * 1024))).await;
    assert_eq!((big.0, big.1["error"]["code"].as_str()), (413, Some("payload_too_large")));
    let put = env.call(tests::FunctionUrlEvent::new("PUT", "/").header("authorization", &format!("Bearer {token}")).body("{}")).await;
    assert_eq!(put.0, 405);

    assert!(env.holds("t_one", &start).await.is_empty());
    assert!(sessions(&env).await.is_empty());
}

/// HTTP asks a 405 to say what is allowed.
#[tokio::test]
async fn a_wrong_method_is_405_with_allow() {
    let env = CheckoutEnv::start().await;
    let response = tests::call_app_raw(&env.checkout, tests::FunctionUrlEvent::new("PUT", "/").header("authorization", &format!("Bearer {}", token_for("s_1"))).body("{}")).await;
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers().get("allow").and_then(|v| v.to_str().ok()), Some("GET, POST, DELETE"));
    assert_eq!(tests::json_of(&response).1["error"]["code"], "method_not_allowed");
}

/// The end of time once overflowed a pick's end and panicked (502 from the
/// Function URL); so did a duration of billions of minutes. Both are a 400
/// naming the field, and nothing is held or charged.
#[tokio::test]
async fn a_lesson_at_the_end_of_time_or_of_endless_length_is_refused_naming_the_field() {
    let env = CheckoutEnv::start().await;
    let student = token_for("s_far");
    for (pick, field) in [
        (lesson("t_one", "9999-12-30T21:30:00Z", 60), "lessons[0].start"),
        (lesson("t_one", "0001-01-01T00:00:00Z", 60), "lessons[0].start"),
        (lesson("t_one", &tomorrow_at("10:00"), 4_294_967_295), "lessons[0].duration_minutes"),
    ] {
        let (status, body) = env.post(Some(&student), &cart(vec![pick]), None).await;
        assert_eq!((status, body["error"]["code"].as_str(), body["error"]["field"].as_str()), (400, Some("invalid_request"), Some(field)), "{body}");
    }
    assert!(sessions(&env).await.is_empty(), "no session opened");
}
