//! Rooms and joining through the real edges: the 100ms emulator on loopback
//! (which verifies our management tokens), dynoxide, the Stripe emulator,
//! real JWTs, and the create-room, create-booking and join-lesson handlers.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use shared::auth::Role;
use shared::clock::Clock;
use shared::domain::{BookingId, CheckoutId};
use shared::rooms::{Joining, Rooms};
use shared::store::{Booking, BookingStatus, CheckoutStatus, RoomStatus};
use tests::{CheckoutEnv, FunctionUrlEvent, cart, json_of, lesson, rooms_for, token_for, tomorrow_at};
use tokio::task::JoinSet;

use tests::{hs256_auth as auth, token_as as token};

fn events(env: &CheckoutEnv) -> shared::webhook::EventHandler {
    env.event_handler(Clock::System)
}

async fn hms_control(env: &CheckoutEnv, path: &str, body: Option<Value>) -> Value {
    let url = format!("{}{path}", env.hms.control_url());
    let client = reqwest::Client::new();
    let response = match body {
        Some(body) => client.post(url).json(&body).send().await.unwrap(),
        None => client.get(url).send().await.unwrap(),
    };
    response.json().await.unwrap_or(Value::Null)
}

async fn emulator_rooms(env: &CheckoutEnv) -> Vec<Value> {
    hms_control(env, "rooms", None).await.as_array().cloned().unwrap_or_default()
}

async fn booking(env: &CheckoutEnv, id: &BookingId) -> Booking {
    env.db.store.get_booking(id).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_provisioning_makes_one_room_and_one_set_of_codes() {
    let env = Arc::new(CheckoutEnv::start().await);
    // Booked without rooms: 100ms is down for the booking itself.
    hms_control(&env, "faults", Some(json!({"status": 503}))).await;
    let (status, created) = env.post(Some(&token_for("s_1")), &cart(vec![lesson("t_one", &tomorrow_at("10:00"), 60)]), None).await;
    assert_eq!(status, 201);
    env.pay(created["checkout_url"].as_str().unwrap()).await;
    let id = CheckoutId::parse(created["checkout_id"].as_str().unwrap()).unwrap();
    let err = shared::reconcile::book_checkout(&events(&env), &id, Timestamp::now()).await.unwrap_err();
    assert_eq!(err.code(), "video_provider_error");
    let checkout = env.db.store.get_checkout(&id).await.unwrap().unwrap();
    assert_eq!(checkout.status, CheckoutStatus::Confirmed, "the booking stands while 100ms is down");
    let booking_id = checkout.booking_ids[0].clone();
    assert_eq!(booking(&env, &booking_id).await.room_status, RoomStatus::Pending);
    reqwest::Client::new().delete(format!("{}faults", env.hms.control_url())).send().await.unwrap();

    let mut tasks = JoinSet::new();
    for _ in 0..10 {
        let (env, id) = (env.clone(), booking_id.clone());
        tasks.spawn(async move { rooms_for(&env.db.store, &env.hms.base_url(), Clock::System).ensure(&id).await.map(|b| (b.room_id, b.teacher_room_code, b.student_room_code)) });
    }
    let mut answers = Vec::new();
    while let Some(answer) = tasks.join_next().await {
        answers.push(answer.unwrap().unwrap());
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    let rooms = emulator_rooms(&env).await;
    assert_eq!(rooms.len(), 1, "{rooms:?}");
    assert_eq!(rooms[0]["name"], booking_id.as_str());
    assert_eq!(rooms[0]["codes"].as_object().unwrap().len(), 2);
    let stored = booking(&env, &booking_id).await;
    assert_eq!((stored.room_status, stored.room_id.clone()), (RoomStatus::Ready, answers[0].0.clone()));
    assert!(env.db.store.pending_rooms().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_outage_leaves_rooms_pending_and_the_repair_path_makes_them() {
    let env = CheckoutEnv::start().await;
    hms_control(&env, "faults", Some(json!({"status": 500}))).await;
    let (status, created) = env.post(Some(&token_for("s_1")), &cart(vec![lesson("t_one", &tomorrow_at("10:00"), 60), lesson("t_two", &tomorrow_at("12:00"), 30)]), None).await;
    assert_eq!(status, 201);
    env.pay(created["checkout_url"].as_str().unwrap()).await;
    let id = CheckoutId::parse(created["checkout_id"].as_str().unwrap()).unwrap();
    assert!(shared::reconcile::book_checkout(&events(&env), &id, Timestamp::now()).await.is_err());
    let pending = env.db.store.pending_rooms().await.unwrap();
    assert_eq!(pending.len(), 2, "both bookings wait for their rooms");

    reqwest::Client::new().delete(format!("{}faults", env.hms.control_url())).send().await.unwrap();
    let rooms = rooms_for(&env.db.store, &env.hms.base_url(), Clock::System);
    let report = rooms.repair().await.unwrap();
    assert_eq!((report.ready.len(), report.failed.len()), (2, 0));
    for id in &pending {
        assert_eq!(booking(&env, id).await.room_status, RoomStatus::Ready);
    }
    assert_eq!(emulator_rooms(&env).await.len(), 2);
    // Nothing left to repair, and repairing again changes nothing.
    assert!(rooms.repair().await.unwrap().ready.is_empty());
    assert_eq!(emulator_rooms(&env).await.len(), 2);
}

#[tokio::test]
async fn a_template_without_the_student_role_fails_naming_both_until_fixed() {
    let env = CheckoutEnv::start().await;
    hms_control(&env, "roles", Some(json!({"roles": ["host"]}))).await;
    let (_, bookings) = {
        let (status, created) = env.post(Some(&token_for("s_1")), &cart(vec![lesson("t_one", &tomorrow_at("10:00"), 60)]), None).await;
        assert_eq!(status, 201);
        env.pay(created["checkout_url"].as_str().unwrap()).await;
        let id = CheckoutId::parse(created["checkout_id"].as_str().unwrap()).unwrap();
        let err = shared::reconcile::book_checkout(&events(&env), &id, Timestamp::now()).await.unwrap_err();
        assert!(err.to_string().contains("video provider"), "{err}");
        (id.clone(), env.db.store.get_checkout(&id).await.unwrap().unwrap().booking_ids)
    };
    let rooms = rooms_for(&env.db.store, &env.hms.base_url(), Clock::System);
    let err = rooms.ensure(&bookings[0]).await.unwrap_err().to_string();
    assert!(err.contains("tpl_lessons") && err.contains("guest"), "{err}");
    assert_eq!(booking(&env, &bookings[0]).await.room_status, RoomStatus::Failed);
    hms_control(&env, "roles", Some(json!({"roles": ["host", "guest"]}))).await;
    assert_eq!(rooms.repair().await.unwrap().ready, bookings);
    assert_eq!(booking(&env, &bookings[0]).await.room_status, RoomStatus::Ready);
}

#[tokio::test]
async fn the_emulator_refuses_management_tokens_with_a_wrong_claim() {
    let env = CheckoutEnv::start().await;
    let now = Timestamp::now().as_second();
    let good = json!({"access_key": tests::HMS_ACCESS_KEY, "type": "management", "version": 2, "iat": now, "nbf": now, "exp": now + 600, "jti": "j-1"});
    let sign = |claims: &Value, secret: &str| jsonwebtoken::encode(&jsonwebtoken::Header::default(), claims, &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())).unwrap();
    let post = |token: String| {
        let url = format!("{}rooms", env.hms.base_url());
        async move { reqwest::Client::new().post(url).bearer_auth(token).json(&json!({"name": "probe"})).send().await.unwrap() }
    };
    assert_eq!(post(sign(&good, tests::HMS_SECRET)).await.status(), 200);
    let mut cases = vec![(sign(&good, "another-secret-another-secret-0123"), "wrong secret")];
    for (field, value) in [("access_key", json!("someone_else")), ("type", json!("app")), ("version", json!(1)), ("exp", json!(now - 1)), ("nbf", json!(now + 600))] {
        let mut claims = good.clone();
        claims[field] = value;
        cases.push((sign(&claims, tests::HMS_SECRET), field));
    }
    for (token, why) in cases {
        let response = post(token).await;
        assert_eq!(response.status(), 401, "{why}");
        let body: Value = response.json().await.unwrap();
        assert_eq!((body["code"].as_u64(), body["message"].as_str()), (Some(401), Some("Token validation error")), "{why}");
        assert!(body["details"].as_array().is_some_and(|d| !d.is_empty()), "{why}");
    }
}

fn joining(env: &CheckoutEnv, clock: Clock, opens_before: SignedDuration) -> join_lesson::App {
    let rooms: Rooms = rooms_for(&env.db.store, &env.hms.base_url(), clock);
    join_lesson::App { auth: blocking_auth(), joining: Joining { rooms, opens_before, clock } }
}

/// The authenticator built synchronously for the handler structs.
fn blocking_auth() -> shared::auth::Authenticator {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(auth()))
}

async fn call(app: &join_lesson::App, event: FunctionUrlEvent) -> (u16, Value) {
    json_of(&shared::http::into_response(join_lesson::handle(app, event.into_request()).await))
}

fn join_event(token: &str, booking: &str) -> FunctionUrlEvent {
    FunctionUrlEvent::new("POST", "/").header("authorization", &format!("Bearer {token}")).body(&json!({"booking_id": booking}).to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_teacher_and_the_student_join_each_with_their_own_code_in_the_window() {
    let env = CheckoutEnv::start().await;
    let start = tomorrow_at("10:00");
    let (_, bookings) = env.paid_booking("s_a", vec![lesson("t_one", &start, 60)]).await;
    let id = bookings[0].clone();
    let stored = booking(&env, &id).await;
    let starts: Timestamp = start.parse().unwrap();
    let during = joining(&env, Clock::Fixed(starts + SignedDuration::from_mins(5)), SignedDuration::from_mins(15));

    let (status, student) = call(&during, join_event(&token("s_a", Role::Student), id.as_str())).await;
    assert_eq!(status, 200, "{student}");
    assert_eq!((student["role"].as_str(), student["room_code"].as_str()), (Some("student"), stored.student_room_code.as_deref()));
    assert!(!student.to_string().contains(stored.teacher_room_code.as_deref().unwrap()), "a student never sees the teacher's code");
    assert_eq!(student["join_url"], format!("https://lessons-test.app.100ms.live/meeting/{}", stored.student_room_code.as_deref().unwrap()));
    let claims = tests::hms_token_claims(student["token"].as_str().unwrap());
    assert_eq!((claims["room_id"].as_str(), claims["user_id"].as_str(), claims["role"].as_str(), claims["type"].as_str()), (stored.room_id.as_deref(), Some("s_a"), Some("guest"), Some("app")));
    assert_eq!(claims["exp"].as_i64(), Some((stored.end + SignedDuration::from_hours(1)).as_second()));

    let (status, teacher) = call(&during, join_event(&token("t_one", Role::Teacher), id.as_str())).await;
    assert_eq!((status, teacher["role"].as_str(), teacher["room_code"].as_str()), (200, Some("teacher"), stored.teacher_room_code.as_deref()));
    assert_eq!(tests::hms_token_claims(teacher["token"].as_str().unwrap())["role"], "host");

    // Anyone else learns nothing: the same 404 as for a booking that does not exist.
    let (status, other) = call(&during, join_event(&token("s_b", Role::Student), id.as_str())).await;
    assert_eq!((status, other["error"]["code"].as_str()), (404, Some("booking_not_found")));
    let (status, _) = call(&during, join_event(&token("s_b", Role::Student), "bk_doesnotexist_0")).await;
    assert_eq!(status, 404);
    let (_, listed) = call(&during, FunctionUrlEvent::get("/").header("authorization", &format!("Bearer {}", token("s_b", Role::Student)))).await;
    assert_eq!(listed["bookings"].as_array().map(Vec::len), Some(0));

    // The window: 15 minutes before the start until the end.
    let early = joining(&env, Clock::Fixed(starts - SignedDuration::from_mins(16)), SignedDuration::from_mins(15));
    assert_eq!(call(&early, join_event(&token("s_a", Role::Student), id.as_str())).await.1["error"]["code"], "too_early");
    let opening = joining(&env, Clock::Fixed(starts - SignedDuration::from_mins(15)), SignedDuration::from_mins(15));
    assert_eq!(call(&opening, join_event(&token("s_a", Role::Student), id.as_str())).await.0, 200);
    let over = joining(&env, Clock::Fixed(stored.end), SignedDuration::from_mins(15));
    assert_eq!(call(&over, join_event(&token("s_a", Role::Student), id.as_str())).await.1["error"]["code"], "lesson_over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listing_shows_each_party_their_upcoming_lessons_a_page_at_a_time() {
    let env = CheckoutEnv::start().await;
    let (_, mine) = env.paid_booking("s_a", vec![lesson("t_one", &tomorrow_at("10:00"), 60), lesson("t_two", &tomorrow_at("08:00"), 30)]).await;
    env.paid_booking("s_b", vec![lesson("t_one", &tomorrow_at("14:00"), 60)]).await;
    let app = joining(&env, Clock::System, SignedDuration::from_mins(15));
    let list = |who: String, cursor: Option<String>| {
        let mut event = FunctionUrlEvent::get("/").header("authorization", &format!("Bearer {who}"));
        if let Some(cursor) = cursor {
            event = event.query("cursor", &cursor);
        }
        call(&app, event)
    };
    let (status, student) = list(token("s_a", Role::Student), None).await;
    assert_eq!(status, 200, "{student}");
    let ids: Vec<&str> = student["bookings"].as_array().unwrap().iter().map(|b| b["booking_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [mine[1].as_str(), mine[0].as_str()], "soonest first, only the caller's");
    assert_eq!(student["bookings"][0]["with"], "t_two");
    assert_eq!(student["bookings"][0]["role"], "student");
    assert_eq!(student["bookings"][0]["room_ready"], true);
    assert!(student.get("next_cursor").is_none());

    let (_, teacher) = list(token("t_one", Role::Teacher), None).await;
    let withs: Vec<&str> = teacher["bookings"].as_array().unwrap().iter().map(|b| b["with"].as_str().unwrap()).collect();
    assert_eq!(withs, ["Student s_a", "Student s_b"], "the students' names from their tokens, never their subjects");
    let rooms: Value = reqwest::get(format!("{}rooms", env.hms.control_url())).await.unwrap().json().await.unwrap();
    for room in rooms.as_array().unwrap() {
        let description = room["description"].as_str().unwrap();
        assert!(description.contains(room["name"].as_str().unwrap()) && !description.contains("s_a") && !description.contains("s_b"), "the booking, not the student: {description}");
    }

    // A token without a name: the teacher sees "Student".
    let (status, created) = env.post(Some(&token("google-oauth2|1234", Role::Student)), &tests::cart(vec![lesson("t_one", &tomorrow_at("18:00"), 60)]), None).await;
    assert_eq!(status, 201, "{created}");
    env.pay(created["checkout_url"].as_str().unwrap()).await;
    let id = shared::domain::CheckoutId::parse(created["checkout_id"].as_str().unwrap()).unwrap();
    shared::reconcile::book_checkout(&env.event_handler(Clock::System), &id, jiff::Timestamp::now()).await.unwrap();
    let (_, teacher) = list(token("t_one", Role::Teacher), None).await;
    let withs: Vec<&str> = teacher["bookings"].as_array().unwrap().iter().map(|b| b["with"].as_str().unwrap()).collect();
    assert_eq!(withs, ["Student s_a", "Student s_b", "Student"]);
    assert!(teacher["bookings"].as_array().unwrap().iter().all(|b| b["role"] == "teacher"));
    assert_eq!(list(token("t_one", Role::Teacher), Some("garbage".into())).await.0, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refunded_lesson_is_cancelled_its_room_disabled_and_joining_refused() {
    let env = CheckoutEnv::start().await;
    let (_, bookings) = env.paid_booking("s_a", vec![lesson("t_one", &tomorrow_at("10:00"), 60)]).await;
    let stored = booking(&env, &bookings[0]).await;
    let pi = env.db.store.get_checkout(&stored.checkout_id).await.unwrap().unwrap().payment_intent.unwrap();
    reqwest::Client::new().post(format!("{}_emulator/payment_intents/{pi}/refund", env.stripe.base_url())).send().await.unwrap();
    let handler = events(&env);
    let refund = shared::store::Refund { refund_id: "re_x".into(), payment_intent: pi.clone(), amount: 3000, status: "succeeded".into(), obligation_id: None, failure_reason: None };
    let settlement = shared::fulfilment::Settlement { store: &handler.store, payments: &handler.payments, rooms: &handler.rooms };
    // 100ms down when the refund is reported: the booking is cancelled, the
    // room not yet disabled, and the event must come again.
    hms_control(&env, "faults", Some(json!({"status": 500}))).await;
    assert!(settlement.refund_reported(&refund, Timestamp::now()).await.is_err());
    assert_eq!(booking(&env, &bookings[0]).await.status, BookingStatus::Cancelled);
    reqwest::Client::new().delete(format!("{}faults", env.hms.control_url())).send().await.unwrap();
    settlement.refund_reported(&refund, Timestamp::now()).await.unwrap();
    let room = emulator_rooms(&env).await.into_iter().find(|r| r["id"] == stored.room_id.clone().unwrap()).unwrap();
    assert_eq!(room["enabled"], false, "nobody can join a cancelled lesson");
    let during = joining(&env, Clock::Fixed(stored.start), SignedDuration::from_mins(15));
    assert_eq!(call(&during, join_event(&token("s_a", Role::Student), bookings[0].as_str())).await.1["error"]["code"], "booking_cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_endpoints_take_admin_tokens_only() {
    let env = CheckoutEnv::start().await;
    let (status, created) = env.post(Some(&token_for("s_a")), &cart(vec![lesson("t_one", &tomorrow_at("10:00"), 60)]), None).await;
    assert_eq!(status, 201);
    env.pay(created["checkout_url"].as_str().unwrap()).await;
    let checkout_id = created["checkout_id"].as_str().unwrap();

    let booking_app = create_booking::App { auth: auth().await.into(), events: env.event_handler_of("create-booking", Clock::System), clock: Clock::System };
    let room_app = create_room::App { auth: auth().await.into(), rooms: rooms_for(&env.db.store_of("create-room"), &env.hms.base_url(), Clock::System) };
    let post = |token: Option<String>, body: Value| {
        let mut event = FunctionUrlEvent::new("POST", "/").body(&body.to_string());
        if let Some(token) = token {
            event = event.header("authorization", &format!("Bearer {token}"));
        }
        event
    };
    let book = |event: FunctionUrlEvent| async { json_of(&shared::http::into_response(create_booking::handle(&booking_app, event.into_request()).await)) };
    assert_eq!(book(post(None, json!({"checkout_id": checkout_id}))).await.0, 401);
    for role in [Role::Student, Role::Teacher] {
        let (status, body) = book(post(Some(token("s_a", role)), json!({"checkout_id": checkout_id}))).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));
    }
    let (status, booked) = book(post(Some(token("ops", Role::Admin)), json!({"checkout_id": checkout_id}))).await;
    assert_eq!(status, 200, "{booked}");
    assert_eq!(booked["status"], "confirmed");
    let booking = &booked["bookings"][0];
    assert_eq!((booking["status"].as_str(), booking["payment_status"].as_str(), booking["room_status"].as_str()), (Some("confirmed"), Some("paid"), Some("ready")));
    let (status, again) = book(post(Some(token("ops", Role::Admin)), json!({"checkout_id": checkout_id}))).await;
    assert_eq!((status, &again["bookings"]), (200, &booked["bookings"]), "idempotent");
    assert_eq!(book(post(Some(token("ops", Role::Admin)), json!({"checkout_id": "co_nope"}))).await.0, 404);

    let room = |event: FunctionUrlEvent| async { json_of(&shared::http::into_response(create_room::handle(&room_app, event.into_request()).await)) };
    let id = booking["booking_id"].as_str().unwrap();
    assert_eq!(room(post(Some(token("s_a", Role::Student)), json!({"booking_id": id}))).await.0, 403);
    let (status, made) = room(post(Some(token("ops", Role::Admin)), json!({"booking_id": id}))).await;
    assert_eq!((status, &made["room_id"]), (200, &booking["room_id"]));
    assert_eq!(room(post(Some(token("ops", Role::Admin)), json!({"booking": id}))).await.0, 400);
    assert_eq!(emulator_rooms(&env).await.len(), 1);
}

/// Deployed, the operator endpoints sit behind `AuthType: AWS_IAM` Function
/// URLs: the admin CLI signs with SigV4, Lambda verifies the signature and
/// passes the request on with the caller in `requestContext.authorizer.iam`,
/// and the function (configured with `OPERATOR_AUTH=iam`) trusts that caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployed_operator_endpoints_take_sigv4_signed_calls_from_the_admin_cli() {
    use infra::operator::{Caller, call};
    use shared::auth::OperatorAuth;
    use tests::iam_url::{IamFunctionUrl, Principal};

    let env = CheckoutEnv::start().await;
    let (status, created) = env.post(Some(&token_for("s_a")), &cart(vec![lesson("t_one", &tomorrow_at("10:00"), 60)]), None).await;
    assert_eq!(status, 201);
    env.pay(created["checkout_url"].as_str().unwrap()).await;
    let checkout_id = created["checkout_id"].as_str().unwrap();

    let booking_app = Arc::new(create_booking::App { auth: OperatorAuth::Iam, events: env.event_handler_of("create-booking", Clock::System), clock: Clock::System });
    let room_app = Arc::new(create_room::App { auth: OperatorAuth::Iam, rooms: rooms_for(&env.db.store_of("create-room"), &env.hms.base_url(), Clock::System) });
    let booking_url = IamFunctionUrl::start("eu-central-1", Principal::operator(), {
        let app = booking_app.clone();
        move |req| {
            let app = app.clone();
            async move { shared::http::into_response(create_booking::handle(&app, req).await) }
        }
    })
    .await;
    let room_url = IamFunctionUrl::start("eu-central-1", Principal::operator(), {
        let app = room_app.clone();
        move |req| {
            let app = app.clone();
            async move { shared::http::into_response(create_room::handle(&app, req).await) }
        }
    })
    .await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let operator = Caller::Iam { credentials: Principal::operator().credentials(), region: "eu-central-1".into() };

    let booked = call(&http, &operator, &booking_url.url(), &json!({"checkout_id": checkout_id})).await.unwrap();
    assert_eq!(booked.status, 200, "{:?}", booked.body);
    assert_eq!(booked.body["status"], "confirmed");
    let booking_id = booked.body["bookings"][0]["booking_id"].as_str().unwrap();
    let made = call(&http, &operator, &room_url.url(), &json!({"booking_id": booking_id})).await.unwrap();
    assert_eq!((made.status, made.body["room_status"].as_str()), (200, Some("ready")), "{:?}", made.body);

    // A wrong secret key: IAM refuses before the function runs.
    let mut stranger = Principal::operator();
    stranger.secret_key = "not/the/operators/secret/key/EXAMPLE000".into();
    let refused = call(&http, &Caller::Iam { credentials: stranger.credentials(), region: "eu-central-1".into() }, &room_url.url(), &json!({"booking_id": booking_id})).await.unwrap();
    assert_eq!(refused.status, 403);
    // A body changed after signing: the signature covers it.
    let mut signed = http::Request::builder().method("POST").uri(room_url.url()).header("content-type", "application/json").body(json!({"booking_id": booking_id}).to_string()).unwrap();
    infra::operator::sign_request(&mut signed, &Principal::operator().credentials(), "eu-central-1", "lambda", std::time::SystemTime::now()).unwrap();
    *signed.body_mut() = json!({"booking_id": "b_someone_else"}).to_string();
    let tampered = http.execute(reqwest::Request::try_from(signed).unwrap()).await.unwrap();
    assert_eq!(tampered.status(), 403);

    // Configured for IAM, the function trusts nothing but Lambda's verified caller:
    // an admin token on a URL without IAM auth in front is refused.
    let unsigned = FunctionUrlEvent::new("POST", "/").header("authorization", &format!("Bearer {}", token("ops", Role::Admin))).body(&json!({"booking_id": booking_id}).to_string());
    let (status, body) = json_of(&shared::http::into_response(create_room::handle(&room_app, unsigned.into_request()).await));
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")));
    // And a function still configured for tokens cannot read a signed request
    // (the SigV4 signature occupies Authorization): the defect the IAM mode fixes.
    let token_app = create_room::App { auth: auth().await.into(), rooms: rooms_for(&env.db.store_of("create-room"), &env.hms.base_url(), Clock::System) };
    let signed_event = FunctionUrlEvent::new("POST", "/")
        .header("authorization", "AWS4-HMAC-SHA256 Credential=ASIAOPERATOREXAMPLE1/20261130/eu-central-1/lambda/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=0000")
        .body(&json!({"booking_id": booking_id}).to_string())
        .iam_caller(local_stack::events::IamCaller { access_key: "ASIAOPERATOREXAMPLE1".into(), account_id: "111122223333".into(), caller_id: "AROAOPERATOREXAMPLE:alice".into(), user_arn: Principal::operator().user_arn });
    assert_eq!(json_of(&shared::http::into_response(create_room::handle(&token_app, signed_event.into_request()).await)).0, 401);
}

/// A full refund that lands while 100ms is still making the room: the room
/// is recorded only for a confirmed booking, so it ends disabled, not ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_cancelled_while_its_room_is_made_gets_a_disabled_room() {
    let env = CheckoutEnv::start().await;
    hms_control(&env, "faults", Some(json!({"status": 503}))).await;
    let (status, created) = env.post(Some(&token_for("s_1")), &cart(vec![lesson("t_one", &tomorrow_at("10:00"), 60)]), None).await;
    assert_eq!(status, 201);
    env.pay(created["checkout_url"].as_str().unwrap()).await;
    let id = CheckoutId::parse(created["checkout_id"].as_str().unwrap()).unwrap();
    assert!(shared::reconcile::book_checkout(&events(&env), &id, Timestamp::now()).await.is_err());
    let booking_id = env.db.store.get_checkout(&id).await.unwrap().unwrap().booking_ids[0].clone();

    // 100ms answers slowly now; the booking is cancelled while it does.
    hms_control(&env, "faults", Some(json!({"delay_ms": 800, "count": 1}))).await;
    let making = {
        let rooms = rooms_for(&env.db.store, &env.hms.base_url(), Clock::System);
        let id = booking_id.clone();
        tokio::spawn(async move { rooms.ensure(&id).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    env.db.store.transact(vec![env.db.store.booking_cancel_item(&env.db.store.get_booking(&booking_id).await.unwrap().unwrap(), shared::store::Cancelling { by: shared::store::CancelledBy::Admin, at: jiff::Timestamp::now(), refund_amount: 0 }).unwrap()]).await.unwrap();
    let outcome = making.await.unwrap();
    assert!(matches!(outcome, Err(shared::rooms::RoomError::Cancelled(_))), "{outcome:?}");
    let stored = booking(&env, &booking_id).await;
    assert_eq!((stored.status, stored.room_status), (BookingStatus::Cancelled, RoomStatus::Pending));
    let rooms = emulator_rooms(&env).await;
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0]["enabled"], false, "{rooms:?}");
    assert!(env.db.store.pending_rooms().await.unwrap().is_empty());
}
