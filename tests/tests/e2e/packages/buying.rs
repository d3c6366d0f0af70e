//! Buying a package: priced on the server from the offer in force, one line
//! at Stripe, no slot held; granted by each way a checkout confirms.

use super::*;

#[tokio::test]
async fn a_package_is_priced_on_the_server_sold_as_one_line_and_grants_credits_once_paid() {
    let s = shop(false).await;
    let created = s.order("s_1", "t_pack", 10).await;
    assert_eq!(created["amount_total"], 27_000, "3000 × 10 less 10 %: {created}");
    assert_eq!(created["lessons"], json!([]));
    assert_eq!(created["pay_with"], "card");
    assert_eq!(created["package"]["lessons"], 10);
    assert_eq!(created["package"]["valid_days"], 180);
    assert!(created["package"]["grant_id"].is_null(), "no grant before the payment");
    let session = s.h.env.session(&s.h.checkout(&CheckoutId::parse(created["checkout_id"].as_str().unwrap()).unwrap()).await.stripe_session_id.unwrap()).await;
    let lines: Value = reqwest::Client::new()
        .get(format!("{}v1/checkout/sessions/{}/line_items", s.h.env.stripe.base_url(), session["id"].as_str().unwrap()))
        .bearer_auth(STRIPE_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let data = lines["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{lines}");
    assert_eq!(data[0]["amount_total"], 27_000);
    let name = data[0]["description"].as_str().unwrap();
    assert!(name.starts_with("10 × 60-min lessons with Teacher t_pack (10 % off) — valid 180 days"), "{name}");
    assert!(s.h.env.holds("t_pack", &day_at(1, "10:00")).await.is_empty(), "a package holds no slot");

    let id = s.press(&created, "complete").await;
    let paid_at = Timestamp::now();
    shared::reconcile::book_checkout(&s.h.env.event_handler(Clock::System), &id, paid_at).await.expect("confirmed");
    let grant = s.grant_of(&id).await;
    assert_eq!((grant.credits.len(), grant.remaining(), grant.price), (10, 10, 27_000));
    assert_eq!(grant.unit_values, vec![2700; 10]);
    assert!((grant.expires_at - paid_at).abs() < SignedDuration::from_secs(5) + days(180) && grant.expires_at - paid_at > days(180) - SignedDuration::from_secs(5), "{}", grant.expires_at);
    assert_eq!(grant.student_id, "s_1");
    assert_eq!(grant.history.len(), 1);
    let ledger = s.h.env.db.store.ledger(&grant.payment_intent).await.unwrap();
    assert_eq!(ledger.paid(), 27_000);

    let (status, listed) = s.credits("s_1", Role::Student, FunctionUrlEvent::get("/")).await;
    assert_eq!(status, 200, "{listed}");
    let g = &listed["grants"][0];
    assert_eq!((g["grant_id"].as_str(), g["remaining"].as_u64(), g["status"].as_str(), g["refundable_amount"].as_u64()), (Some(grant.grant_id.as_str()), Some(10), Some("active"), Some(27_000)));
    let (_, theirs) = s.credits("s_2", Role::Student, FunctionUrlEvent::get("/")).await;
    assert_eq!(theirs["grants"], json!([]), "another student sees none of it");
    let (_, polled) = s.h.env.status(&token_for("s_1"), id.as_str()).await;
    assert_eq!(polled["package"]["grant_id"], grant.grant_id.as_str());
}

#[tokio::test]
async fn the_webhook_redelivered_and_a_delayed_payment_each_grant_once() {
    let s = shop(true).await;
    // The webhook, delivered by the emulator (twice: redelivery changes nothing).
    let by_webhook = s.press(&s.order("s_1", "t_pack", 2).await, "complete").await;
    let grant = s.grant_of(&by_webhook).await;
    assert_eq!(grant.remaining(), 2);
    let completed = s.h.event("checkout.session.completed", s.h.checkout(&by_webhook).await.stripe_session_id.as_deref().unwrap()).await;
    assert_eq!(s.h.deliver(&completed).await.0, 200);
    assert_eq!(s.grant(&grant).await.version, grant.version, "granted once");

    // A delayed payment grants when it succeeds, not when the session completes.
    let delayed = s.press(&s.order("s_2", "t_pack", 2).await, "complete-delayed").await;
    s.h.until_status(&delayed, shared::store::CheckoutStatus::PaymentPending).await;
    assert!(s.h.env.db.store.grant(&Grant::grant_id_of(&delayed)).await.unwrap().is_none(), "nothing granted while the money is pending");
    let session = s.h.checkout(&delayed).await.stripe_session_id.unwrap();
    let settled = reqwest::Client::new().post(format!("{}_emulator/sessions/{session}/async", s.h.env.stripe.base_url())).json(&json!({"outcome": "succeeded"})).send().await.unwrap();
    assert!(settled.status().is_success());
    assert_eq!(s.grant_of(&delayed).await.remaining(), 2);
}

#[tokio::test]
async fn the_success_page_poll_and_reconcile_grant_when_the_webhook_never_comes() {
    let s = shop(false).await;
    let polled = s.press(&s.order("s_1", "t_pack", 2).await, "complete").await;
    let (status, view) = s.h.env.status(&token_for("s_1"), polled.as_str()).await;
    assert_eq!((status, view["status"].as_str()), (200, Some("confirmed")), "{view}");
    assert_eq!(s.grant_of(&polled).await.remaining(), 2);

    // Nobody polls this one: reconcile finds it once its session's time is up.
    let created = s.order("s_2", "t_pack", 10).await;
    let swept = s.press(&created, "complete").await;
    let later = s.h.checkout(&swept).await.hold_until + SignedDuration::from_secs(1);
    let report = shared::reconcile::run(&s.h.env.event_handler_of("reconcile", Clock::System), later).await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(s.grant_of(&swept).await.remaining(), 10);
}

#[tokio::test]
async fn a_package_is_bought_alone_and_only_as_offered() {
    let s = shop(false).await;
    let token = token_for("s_1");
    for (body, field) in [
        (json!({"package": {"teacher_id": "t_pack", "lessons": 10, "duration_minutes": 60}, "lessons": [lesson("t_pack", &day_at(1, "10:00"), 60)]}), "package"),
        (json!({"package": {"teacher_id": "t_pack", "lessons": 10, "duration_minutes": 60}, "from_cart": true}), "package"),
        (json!({"package": {"teacher_id": "t_pack", "lessons": 10, "duration_minutes": 60, "price": 1}}), "package.price"),
        (json!({"package": {"teacher_id": "t_pack", "lessons": 5, "duration_minutes": 60}}), "package"),
        (json!({"package": {"teacher_id": "t_pack", "lessons": 10, "duration_minutes": 30}}), "package"),
        (json!({"package": {"teacher_id": "t_pack", "lessons": 51, "duration_minutes": 60}}), "package.lessons"),
    ] {
        let (status, body_) = s.h.env.post(Some(&token), &body, None).await;
        assert_eq!((status, body_["error"]["field"].as_str()), (400, Some(field)), "{body} -> {body_}");
    }
    let (status, body) = s.h.env.post(Some(&token), &package("t_nobody", 10), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("teacher_not_found")), "{body}");
}

#[tokio::test]
async fn a_package_in_yen_is_priced_in_whole_yen_with_the_remainder_on_the_last_credit() {
    let s = shop(false).await;
    let grant = s.buy("s_1", "t_yen", 7).await;
    assert_eq!(grant.price, 5955, "1001 × 7 × 0.85 = 5955.95, rounded down");
    assert_eq!(grant.unit_values, vec![850, 850, 850, 850, 850, 850, 855]);
    assert_eq!(grant.currency.as_str(), "jpy");
    let bookings = s.book("s_1", vec![lesson("t_yen", &day_at(2, "10:00"), 60)]).await;
    assert_eq!((bookings[0].amount, bookings[0].currency.as_str()), (850, "jpy"));
    // A late cancel refunds half the credit's value, in whole yen, rounded down.
    let (status, cancelled) = s.cancel("s_1", Role::Student, &bookings[0], bookings[0].start - SignedDuration::from_hours(2)).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["refund"]["amount"], 425);
    assert_eq!(s.refunds_of(&grant.payment_intent).await.iter().map(|r| r.0).collect::<Vec<_>>(), vec![425]);
}

#[tokio::test]
async fn the_directory_shows_each_package_with_its_price_and_validity() {
    let s = shop(false).await;
    let app = get_teachers::App { store: s.h.env.db.store_of("get-teachers"), clock: Clock::System };
    let event = FunctionUrlEvent::get("/").query("teacher_id", "t_yen");
    let (status, card) = json_of(&shared::http::into_response(get_teachers::handle(&app, event.into_request()).await));
    assert_eq!(status, 200, "{card}");
    assert_eq!(card["package_valid_days"], 180);
    assert_eq!(
        card["packages"],
        json!([
            {"lessons": 10, "duration_minutes": 60, "discount_percent": 10, "price": 9009},
            {"lessons": 2, "duration_minutes": 60, "discount_percent": 0, "price": 2002},
            {"lessons": 7, "duration_minutes": 60, "discount_percent": 15, "price": 5955}
        ])
    );
}
