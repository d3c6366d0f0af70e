//! Booking with credits: confirmed at once in the transaction that takes
//! the credits, with rooms, no Stripe call; refused whole when credits are
//! short; exactly one winner for the last credit.

use std::sync::Arc;

use super::*;

#[tokio::test]
async fn lessons_booked_with_credits_are_confirmed_at_once_with_rooms_and_no_stripe_call() {
    let s = shop(false).await;
    let grant = s.buy("s_1", "t_pack", 10).await;
    let sessions = s.sessions().await;
    let starts = [day_at(2, "10:00"), day_at(3, "10:00")];
    let (status, booked) = s.book_at("s_1", starts.iter().map(|at| lesson("t_pack", at, 60)).collect(), None).await;
    assert_eq!(status, 201, "{booked}");
    assert_eq!((booked["status"].as_str(), booked["pay_with"].as_str(), booked["amount_total"].as_u64()), (Some("confirmed"), Some("credits"), Some(0)), "{booked}");
    assert!(booked["checkout_url"].is_null());
    assert_eq!(s.sessions().await, sessions, "no Stripe session");
    for (id, start) in booked["booking_ids"].as_array().unwrap().iter().zip(&starts) {
        let booking = s.h.until_room_ready(&BookingId::parse(id.as_str().unwrap()).unwrap()).await;
        assert_eq!((booking.payment_status.as_str(), booking.amount, booking.start), ("credits", 2700, at(start)));
        assert_eq!(booking.checkout_id, grant.checkout_id, "its refunds and earning come from the package's payment");
        assert_eq!(booking.credit.as_ref().map(|c| c.grant_id.as_str()), Some(grant.grant_id.as_str()));
        assert!(!s.h.env.open_starts_on("t_pack", start).await.contains(start), "the slot is taken");
    }
    let after = s.grant(&grant).await;
    assert_eq!(after.remaining(), 8);
    assert_eq!(after.history.iter().filter(|e| e.what == "used").count(), 2);
    // The student is told, as for a paid checkout.
    let confirmed = s.h.env.db.store.notices_of(booked["checkout_id"].as_str().unwrap()).await.unwrap();
    assert!(confirmed.iter().any(|n| n.topic == shared::store::Topic::Confirmed), "{confirmed:?}");
}

#[tokio::test]
async fn too_few_credits_is_409_naming_what_is_missing_and_takes_nothing() {
    let s = shop(false).await;
    let grant = s.buy("s_1", "t_pack", 2).await;
    let lessons: Vec<Value> = (2..5).map(|d| lesson("t_pack", &day_at(d, "10:00"), 60)).collect();
    let (status, refused) = s.book_at("s_1", lessons.clone(), None).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("insufficient_credits")), "{refused}");
    assert_eq!(refused["error"]["missing"], json!([{"teacher_id": "t_pack", "duration_minutes": 60, "needed": 3, "available": 2}]));
    assert_eq!(s.grant(&grant).await.remaining(), 2, "nothing taken");
    assert!(s.h.env.open_starts_on("t_pack", &day_at(2, "10:00")).await.contains(&day_at(2, "10:00")), "nothing booked");
    // Another teacher's, or another duration's, credits do not count.
    let (status, other) = s.book_at("s_1", vec![lesson("t_short", &day_at(2, "10:00"), 60)], None).await;
    assert_eq!((status, other["error"]["missing"][0]["available"].as_u64()), (409, Some(0)), "{other}");
    let (status, short) = s.book_at("s_1", vec![lesson("t_pack", &day_at(2, "12:00"), 30)], None).await;
    assert_eq!(status, 409, "{short}");
    // Nobody else's credits either.
    let (status, stranger) = s.book_at("s_2", vec![lesson("t_pack", &day_at(2, "10:00"), 60)], None).await;
    assert_eq!(status, 409, "{stranger}");
    // A trial is never paid with credits.
    let trial = json!({"teacher_id": "t_pack", "start": day_at(2, "10:00"), "duration_minutes": 30, "trial": true});
    assert_eq!(s.book_at("s_1", vec![trial], None).await.0, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkouts_racing_for_the_last_credit_book_exactly_once() {
    let s = Arc::new(shop(false).await);
    let grant = s.buy("s_1", "t_pack", 2).await;
    s.book("s_1", vec![lesson("t_pack", &day_at(2, "08:00"), 60)]).await;
    let mut tasks = tokio::task::JoinSet::new();
    for hour in ["10:00", "12:00", "14:00", "16:00"] {
        let s = s.clone();
        tasks.spawn(async move { s.book_at("s_1", vec![lesson("t_pack", &day_at(2, hour), 60)], None).await });
    }
    let mut answers = Vec::new();
    while let Some(answer) = tasks.join_next().await {
        answers.push(answer.unwrap());
    }
    let won: Vec<_> = answers.iter().filter(|(status, _)| *status == 201).collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    assert!(answers.iter().filter(|(status, _)| *status != 201).all(|(status, body)| *status == 409 && body["error"]["code"] == "insufficient_credits"), "{answers:?}");
    let after = s.grant(&grant).await;
    assert_eq!(after.remaining(), 0);
    assert_eq!(after.credits.iter().filter(|c| matches!(c, shared::store::Credit::Used { .. })).count(), 2);
}

#[tokio::test]
async fn a_saved_cart_is_booked_with_credits_and_leaves_the_cart() {
    let s = shop(false).await;
    s.buy("s_1", "t_pack", 2).await;
    let cart_app = cart::App { store: s.h.env.db.store_of("cart"), auth: tests::hs256_auth().await, clock: Clock::System };
    let call = |method: &str, body: Option<Value>| {
        let mut event = FunctionUrlEvent::new(method, "/").header("authorization", &format!("Bearer {}", token_for("s_1")));
        if let Some(body) = body {
            event = event.header("content-type", "application/json").body(&body.to_string());
        }
        let app = &cart_app;
        async move { json_of(&shared::http::into_response(cart::handle(app, event.into_request()).await)) }
    };
    let (status, saved) = call("PUT", Some(json!({"items": [lesson("t_pack", &day_at(2, "10:00"), 60)]}))).await;
    assert_eq!(status, 200, "{saved}");
    let body = json!({"from_cart": true, "cart_version": saved["version"], "pay_with": "credits"});
    let (status, booked) = s.h.env.post(Some(&token_for("s_1")), &body, None).await;
    assert_eq!((status, booked["status"].as_str()), (201, Some("confirmed")), "{booked}");
    let (_, cart) = call("GET", None).await;
    assert_eq!(cart["items"], json!([]), "{cart}");
}

#[tokio::test]
async fn ten_lessons_from_the_cart_on_ten_days_fit_one_transaction() {
    let s = shop(false).await;
    s.buy("s_1", "t_pack", 10).await;
    let cart_app = cart::App { store: s.h.env.db.store_of("cart"), auth: tests::hs256_auth().await, clock: Clock::System };
    // Each on its own calendar day, the most a checkout of ten writes with this teacher.
    let items: Vec<Value> = (2..12).map(|d| lesson("t_pack", &day_at(d, "23:00"), 60)).collect();
    let put = FunctionUrlEvent::new("PUT", "/").header("authorization", &format!("Bearer {}", token_for("s_1"))).header("content-type", "application/json").body(&json!({"items": items}).to_string());
    let (status, saved) = json_of(&shared::http::into_response(cart::handle(&cart_app, put.into_request()).await));
    assert_eq!(status, 200, "{saved}");
    let (status, booked) = s.h.env.post(Some(&token_for("s_1")), &json!({"from_cart": true, "cart_version": saved["version"], "pay_with": "credits"}), None).await;
    assert_eq!((status, booked["status"].as_str()), (201, Some("confirmed")), "{booked}");
    assert_eq!(booked["booking_ids"].as_array().map(Vec::len), Some(10));
}

#[tokio::test]
async fn a_credits_checkout_repeated_with_its_idempotency_key_books_and_spends_once() {
    let s = shop(false).await;
    let grant = s.buy("s_1", "t_pack", 2).await;
    let body = with_credits(vec![lesson("t_pack", &day_at(2, "10:00"), 60)]);
    let (status, first) = s.h.env.post(Some(&token_for("s_1")), &body, Some("book-once")).await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = s.h.env.post(Some(&token_for("s_1")), &body, Some("book-once")).await;
    assert_eq!((status, again["checkout_id"].clone(), again["status"].as_str()), (201, first["checkout_id"].clone(), Some("confirmed")), "{again}");
    assert_eq!(s.grant(&grant).await.remaining(), 1, "one credit spent");
    let other = with_credits(vec![lesson("t_pack", &day_at(3, "10:00"), 60)]);
    assert_eq!(s.h.env.post(Some(&token_for("s_1")), &other, Some("book-once")).await.1["error"]["code"], "idempotency_key_reused");
}
