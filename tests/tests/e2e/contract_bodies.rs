//! Bodies that are not UTF-8, as a Function URL passes them (base64): every
//! function that takes a body answers 400 in the JSON error shape. (`cargo
//! lambda watch` answers such requests 500 itself, before any function runs,
//! so the contract run in `make test` leaves them out: tests/contract/hooks.py.)

use serde_json::Value;
use shared::clock::Clock;
use tests::{CheckoutEnv, FunctionUrlEvent, json_of, token_for};

const NOT_UTF8: &[u8] = b"\xff\xfe>\x7a\xc3";

fn event(token: &str) -> FunctionUrlEvent {
    FunctionUrlEvent::new("POST", "/").header("authorization", &format!("Bearer {token}")).header("content-type", "application/json").binary_body(NOT_UTF8)
}

fn assert_400(status: u16, body: &Value, what: &str) {
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_request")), "{what}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_are_not_utf8_are_400() {
    let env = CheckoutEnv::start().await;
    let (status, body) = env.call(event(&token_for("s_1"))).await;
    assert_400(status, &body, "initiate-checkout");

    let rooms = tests::rooms_for(&env.db.store_of("join-lesson"), &env.hms.base_url(), Clock::System);
    let joining = join_lesson::App { auth: auth().await, joining: shared::rooms::Joining { rooms, opens_before: jiff::SignedDuration::from_mins(15), clock: Clock::System } };
    let (status, body) = json_of(&shared::http::into_response(join_lesson::handle(&joining, event(&token_for("s_1")).into_request()).await));
    assert_400(status, &body, "join-lesson");

    let admin = shared::auth::mint_hs256(tests::JWT_SECRET, &shared::auth::Claims::new("ops", shared::auth::Role::Admin, jiff::Timestamp::now(), jiff::SignedDuration::from_hours(1))).unwrap();
    let room = create_room::App { auth: auth().await.into(), rooms: tests::rooms_for(&env.db.store_of("create-room"), &env.hms.base_url(), Clock::System) };
    let (status, body) = json_of(&shared::http::into_response(create_room::handle(&room, event(&admin).into_request()).await));
    assert_400(status, &body, "create-room");
}

use tests::hs256_auth as auth;
