//! Money back from a package: the unused credits within 14 days (the
//! student) or any time (an admin, any amount up to their value), and a
//! chargeback that takes what is left and cancels the lessons not started.

use super::*;

#[tokio::test]
async fn within_14_days_the_student_gets_the_unused_credits_back_at_their_value_once() {
    let s = shop(false).await;
    let grant = s.buy("s_1", "t_pack", 10).await;
    s.book("s_1", vec![lesson("t_pack", &day_at(2, "10:00"), 60)]).await;
    let ask = |grant_id: &str| FunctionUrlEvent::new("POST", "/refund").header("content-type", "application/json").body(&json!({"grant_id": grant_id}).to_string());

    let (status, stranger) = s.credits("s_2", Role::Student, ask(&grant.grant_id)).await;
    assert_eq!((status, stranger["error"]["code"].as_str()), (404, Some("grant_not_found")), "{stranger}");
    let (status, refunded) = s.credits("s_1", Role::Student, ask(&grant.grant_id)).await;
    assert_eq!(status, 200, "{refunded}");
    assert_eq!((refunded["status"].as_str(), refunded["remaining"].as_u64(), refunded["used"].as_u64()), (Some("refunded"), Some(0), Some(1)), "{refunded}");
    assert_eq!(refunded["refund"]["amount"], 9 * 2700);
    assert_eq!(refunded["refund"]["status"], "succeeded", "made at Stripe inline");
    assert_eq!(s.refunds_of(&grant.payment_intent).await, vec![(24_300, format!("credits-{}", grant.grant_id))]);
    let (status, again) = s.credits("s_1", Role::Student, ask(&grant.grant_id)).await;
    assert_eq!((status, again["error"]["code"].as_str()), (409, Some("credits_not_refundable")), "{again}");
    assert_eq!(s.refunds_of(&grant.payment_intent).await.len(), 1, "refunded once");
    // The lesson booked before stays, and still earns its credit's value.
    let (status, booked) = s.book_at("s_1", vec![lesson("t_pack", &day_at(3, "10:00"), 60)], None).await;
    assert_eq!(status, 409, "no credits left: {booked}");

    let (status, bad) = s.credits("s_1", Role::Student, FunctionUrlEvent::new("POST", "/refund").body("{\"grant\": 1}")).await;
    assert_eq!((status, bad["error"]["field"].as_str()), (400, Some("grant")), "{bad}");
    assert_eq!(s.credits("s_1", Role::Student, FunctionUrlEvent::new("DELETE", "/")).await.0, 405);
    assert_eq!(s.credits("s_1", Role::Student, FunctionUrlEvent::get("/elsewhere")).await.0, 400);
}

#[tokio::test]
async fn after_14_days_only_an_admin_refunds_and_may_choose_less() {
    let s = shop(false).await;
    let grant = s.buy("s_1", "t_pack", 2).await;
    let later = grant.created_at + days(14) + SignedDuration::from_secs(1);
    let ask = FunctionUrlEvent::new("POST", "/refund").body(&json!({"grant_id": grant.grant_id}).to_string());
    let (status, late) = s.credits_at("s_1", Role::Student, ask, later).await;
    assert_eq!((status, late["error"]["code"].as_str()), (409, Some("credits_not_refundable")), "{late}");
    let (status, inside) = s.credits_at("s_1", Role::Student, FunctionUrlEvent::get("/"), grant.created_at + days(14)).await;
    assert_eq!((status, inside["grants"][0]["refundable_until"].as_str()), (200, Some((grant.created_at + days(14)).to_string().as_str())), "{inside}");

    // `admin credits refund GRANT 2000`: less than the 6000 left, by the operator's choice.
    let credits = shared::credits::service::Credits { store: s.h.env.db.store.clone(), payments: s.payments() };
    let too_much = credits.refund(&grant.grant_id, Some(6001), later).await.unwrap_err();
    assert_eq!(too_much.field(), Some("amount"));
    let view = credits.refund(&grant.grant_id, Some(2000), later).await.unwrap();
    assert_eq!((view.remaining, view.refund.as_ref().map(|r| r.amount)), (0, Some(2000)));
    assert_eq!(s.refunds_of(&grant.payment_intent).await.iter().map(|r| r.0).collect::<Vec<_>>(), vec![2000]);
}

#[tokio::test]
async fn a_chargeback_of_a_package_takes_what_is_left_and_cancels_the_lessons_not_started() {
    let s = shop(true).await;
    let created = s.order("s_1", "t_pack", 10).await;
    let id = s.press(&created, "complete").await;
    let grant = s.grant_of(&id).await;
    let bookings = s.book("s_1", vec![lesson("t_pack", &day_at(2, "10:00"), 60), lesson("t_pack", &day_at(3, "10:00"), 60)]).await;
    let opened = reqwest::Client::new().post(format!("{}_emulator/disputes", s.h.env.stripe.base_url())).json(&json!({"payment_intent": grant.payment_intent})).send().await.unwrap();
    assert!(opened.status().is_success(), "{}", opened.status());
    for _ in 0..200 {
        if s.grant(&grant).await.remaining() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let after = s.grant(&grant).await;
    assert_eq!((after.remaining(), after.stage), (0, None));
    assert_eq!(after.credits.iter().filter(|c| **c == shared::store::Credit::Revoked).count(), 8);
    for b in &bookings {
        let booking = s.booking(&b.booking_id).await;
        assert_eq!((booking.status, booking.cancelled_by), (shared::store::BookingStatus::Cancelled, Some(shared::store::CancelledBy::Dispute)), "{booking:?}");
    }
    assert!(s.refunds_of(&grant.payment_intent).await.is_empty(), "the bank took the money: nothing refunded");
    let (status, booked) = s.book_at("s_1", vec![lesson("t_pack", &day_at(4, "10:00"), 60)], None).await;
    assert_eq!(status, 409, "{booked}");

    // Won after all: a person is told what the chargeback took, the package's lessons and credits included.
    let dispute: Value = opened.json().await.unwrap();
    let closed = reqwest::Client::new().post(format!("{}_emulator/disputes/{}/close", s.h.env.stripe.base_url(), dispute["id"].as_str().unwrap())).json(&json!({"status": "won"})).send().await.unwrap();
    assert!(closed.status().is_success());
    let mut listed = None;
    for _ in 0..200 {
        listed = s.h.env.db.store.attention().await.unwrap().into_iter().find(|a| a.kind == shared::store::AttentionKind::DisputeWon);
        if listed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let reason = listed.expect("a won chargeback is listed for a person").reason;
    assert!(reason.contains("8 unused package credits") && bookings.iter().all(|b| reason.contains(b.booking_id.as_str())), "{reason}");
}
