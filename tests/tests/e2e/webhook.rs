//! stripe-webhook end to end: the Stripe emulator's signed deliveries over
//! loopback HTTP into the real handler, and hand-delivered events (from the
//! emulator's own, re-signed) in any order, any number of times, on dynoxide.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};
use shared::clock::Clock;
use shared::domain::CheckoutId;
use shared::store::{BookingStatus, CheckoutStatus, RoomStatus};
use tests::dynamo_proxy::Fault;
use tests::hooked::{hooked, post_signed, restated, service};
use tests::{STRIPE_KEY, WEBHOOK_SECRET, cart, lesson, token_for, tomorrow_at};
use tokio::task::JoinSet;

#[tokio::test]
async fn paying_on_the_page_confirms_the_checkout_and_its_bookings() {
    let h = hooked(true, false).await;
    let start = tomorrow_at("10:00");
    let (id, _) = h.buy("s_1", vec![lesson("t_one", &start, 60), lesson("t_one", &tomorrow_at("14:00"), 30)], "complete").await;
    let checkout = h.until_status(&id, CheckoutStatus::Confirmed).await;
    assert_eq!(checkout.payment_status.as_deref(), Some("paid"));
    assert_eq!(checkout.booking_ids.len(), 2);
    for booking_id in &checkout.booking_ids {
        // Rooms are made right after the bookings commit, within the same delivery.
        let booking = h.until_room_ready(booking_id).await;
        assert_eq!((booking.status, booking.payment_status.as_str(), booking.room_status), (BookingStatus::Confirmed, "paid", RoomStatus::Ready));
        assert!(booking.room_id.is_some());
        assert_ne!(booking.teacher_room_code, booking.student_room_code);
    }
    let ledger = h.env.db.store.ledger(checkout.payment_intent.as_deref().unwrap()).await.unwrap();
    assert_eq!(ledger.payment.as_ref().map(|p| (p.amount, p.checkout_id.clone())), Some((4800, Some(id.clone()))));
    assert!(ledger.refunds.is_empty());
    assert!(h.env.holds("t_one", &start).await.is_empty(), "holds became bookings");
    assert!(!h.env.open_starts("t_one", Clock::System).await.contains(&start));
    // The status the success page polls says so too.
    let (_, polled) = h.env.status(&token_for("s_1"), id.as_str()).await;
    assert_eq!(polled["status"], "confirmed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_event_twenty_times_at_once_books_once() {
    let h = Arc::new(hooked(false, false).await);
    let (id, session) = h.buy("s_1", vec![lesson("t_one", &tomorrow_at("10:00"), 60), lesson("t_two", &tomorrow_at("10:00"), 60)], "complete").await;
    let completed = h.event("checkout.session.completed", &session).await;
    let mut tasks = JoinSet::new();
    for _ in 0..20 {
        let (h, completed) = (h.clone(), completed.clone());
        tasks.spawn(async move { h.deliver(&completed).await });
    }
    while let Some(answer) = tasks.join_next().await {
        let (status, body) = answer.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let checkout = h.checkout(&id).await;
    assert_eq!(checkout.status, CheckoutStatus::Confirmed);
    assert_eq!(checkout.booking_ids.len(), 2);
    for (teacher, at) in [("t_one", tomorrow_at("10:00")), ("t_two", tomorrow_at("10:00"))] {
        let teacher = shared::domain::TeacherId::parse(teacher).unwrap();
        let day = shared::store::utc_day(at.parse().unwrap());
        let entries: Vec<_> = h.env.db.store.calendar_days(&teacher, day, day, shared::store::Read::Consistent).await.unwrap().into_iter().flat_map(|d| d.busy).collect();
        assert_eq!(entries.len(), 1, "{entries:?}");
    }
    assert!(h.refunds().await.is_empty());
    // Once recorded, a repeat is skipped cheaply.
    assert_eq!(h.deliver(&completed).await.1["outcome"], "duplicate");
}

#[tokio::test]
async fn an_expiry_after_the_payment_changes_nothing_and_a_payment_after_expiry_rebooks() {
    let h = hooked(false, false).await;
    let start = tomorrow_at("10:00");
    let (id, session) = h.buy("s_1", vec![lesson("t_one", &start, 60)], "complete").await;
    let completed = h.event("checkout.session.completed", &session).await;
    let expired = restated(&completed, "checkout.session.expired", json!({"status": "expired", "payment_status": "unpaid", "payment_intent": null}));

    // Expiry first (reordered): the slot is released; the payment then re-holds it.
    assert_eq!(h.deliver(&expired).await.0, 200);
    assert_eq!(h.checkout(&id).await.status, CheckoutStatus::Expired);
    assert!(h.env.open_starts("t_one", Clock::System).await.contains(&start));
    assert_eq!(h.deliver(&completed).await.0, 200);
    assert_eq!(h.checkout(&id).await.status, CheckoutStatus::Confirmed);
    // A second expiry after the payment changes nothing.
    let again = restated(&expired, "checkout.session.expired", json!({}));
    assert_eq!(h.deliver(&again).await.0, 200);
    let checkout = h.checkout(&id).await;
    assert_eq!((checkout.status, checkout.booking_ids.len()), (CheckoutStatus::Confirmed, 1));
    assert!(h.refunds().await.is_empty(), "nothing to refund: the slot was still free");
}

#[tokio::test]
async fn a_late_payment_refunds_exactly_the_lessons_lost_meanwhile() {
    let h = hooked(false, false).await;
    let (lost, kept) = (tomorrow_at("10:00"), tomorrow_at("14:00"));
    let (id, session) = h.buy("s_1", vec![lesson("t_one", &lost, 60), lesson("t_one", &kept, 30)], "complete").await;
    let completed = h.event("checkout.session.completed", &session).await;
    let expired = restated(&completed, "checkout.session.expired", json!({"status": "expired", "payment_status": "unpaid"}));
    assert_eq!(h.deliver(&expired).await.0, 200);
    // Someone else takes the first lesson's slot while the payment is late.
    assert_eq!(h.env.post(Some(&token_for("s_2")), &cart(vec![lesson("t_one", &lost, 60)]), None).await.0, 201);

    let (status, body) = h.deliver(&completed).await;
    assert_eq!(status, 200, "{body}");
    let checkout = h.checkout(&id).await;
    assert_eq!(checkout.status, CheckoutStatus::PartiallyRefunded);
    assert_eq!(checkout.refunded_lessons, vec![0]);
    assert_eq!(checkout.booking_ids, vec![checkout.lessons[1].booking_id.clone()]);
    let refunds = h.refunds().await;
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!((refunds[0]["amount"].as_u64(), refunds[0]["metadata"]["checkout_id"].as_str()), (Some(3000), Some(id.as_str())));
    // Redelivered, and its refund event reported too: nothing more is refunded.
    let fresh = restated(&completed, "checkout.session.completed", json!({}));
    assert_eq!(h.deliver(&fresh).await.0, 200);
    let pi = checkout.payment_intent.clone().unwrap();
    assert_eq!(h.deliver(&h.event("refund.created", &pi).await).await.0, 200);
    assert_eq!(h.refunds().await.len(), 1);
    let ledger = h.env.db.store.ledger(&pi).await.unwrap();
    assert_eq!((ledger.refunds.len(), ledger.refunded()), (1, 3000), "{ledger:?}");
}

#[tokio::test]
async fn a_full_refund_from_the_dashboard_cancels_the_bookings_and_frees_the_slots() {
    let h = hooked(true, false).await;
    let start = tomorrow_at("10:00");
    let (id, _) = h.buy("s_1", vec![lesson("t_one", &start, 60)], "complete").await;
    let checkout = h.until_status(&id, CheckoutStatus::Confirmed).await;
    let pi = checkout.payment_intent.clone().unwrap();
    let refunded = reqwest::Client::new().post(format!("{}_emulator/payment_intents/{pi}/refund", h.env.stripe.base_url())).send().await.unwrap();
    assert!(refunded.status().is_success());
    let checkout = h.until_status(&id, CheckoutStatus::Refunded).await;
    let booking = h.booking(&checkout.booking_ids[0]).await;
    assert_eq!((booking.status, booking.cancelled_by), (BookingStatus::Cancelled, Some(shared::store::CancelledBy::Refund)));
    assert!(booking.cancelled_at.is_some());
    assert!(h.env.open_starts("t_one", Clock::System).await.contains(&start), "the slot is free again");
    let ledger = h.env.db.store.ledger(&pi).await.unwrap();
    assert_eq!((ledger.refunds.len(), ledger.refunded()), (1, 3000));
}

/// Only `charge.refunded` arrives (the refund's own events are lost): its
/// running total alone shows the payment refunded in full.
#[tokio::test]
async fn a_charge_refunded_in_full_cancels_even_without_the_refund_events() {
    let h = hooked(false, false).await;
    let (id, session) = h.buy("s_1", vec![lesson("t_one", &tomorrow_at("10:00"), 60)], "complete").await;
    assert_eq!(h.deliver(&h.event("checkout.session.completed", &session).await).await.0, 200);
    let pi = h.checkout(&id).await.payment_intent.unwrap();
    let refunded = reqwest::Client::new().post(format!("{}_emulator/payment_intents/{pi}/refund", h.env.stripe.base_url())).send().await.unwrap();
    assert!(refunded.status().is_success());
    let (status, body) = h.deliver(&h.event("charge.refunded", &pi).await).await;
    assert_eq!(status, 200, "{body}");
    let checkout = h.checkout(&id).await;
    assert_eq!(checkout.status, CheckoutStatus::Refunded);
    assert_eq!(h.booking(&checkout.booking_ids[0]).await.status, BookingStatus::Cancelled);
    assert!(h.env.db.store.ledger(&pi).await.unwrap().refunds.is_empty(), "no refund event was delivered");
}

#[tokio::test]
async fn a_refund_reported_before_the_payment_cancels_once_the_payment_arrives() {
    let h = hooked(false, false).await;
    let start = tomorrow_at("10:00");
    let (id, session) = h.buy("s_1", vec![lesson("t_one", &start, 60)], "complete").await;
    let completed = h.event("checkout.session.completed", &session).await;
    let pi = completed["data"]["object"]["payment_intent"].as_str().unwrap().to_owned();
    reqwest::Client::new().post(format!("{}_emulator/payment_intents/{pi}/refund", h.env.stripe.base_url())).send().await.unwrap();
    for kind in ["refund.created", "charge.refunded"] {
        let (status, body) = h.deliver(&h.event(kind, &pi).await).await;
        assert_eq!((status, body["outcome"].as_str()), (200, Some("payment not recorded yet")), "{kind}: {body}");
    }
    assert_eq!(h.deliver(&completed).await.0, 200);
    let checkout = h.checkout(&id).await;
    assert_eq!(checkout.status, CheckoutStatus::Refunded);
    assert_eq!(h.booking(&checkout.booking_ids[0]).await.status, BookingStatus::Cancelled);
    assert!(h.env.open_starts("t_one", Clock::System).await.contains(&start));
}

#[tokio::test]
async fn a_delayed_payment_holds_the_slot_until_it_settles() {
    let h = hooked(false, false).await;
    let start = tomorrow_at("10:00");
    let (id, session) = h.buy("s_1", vec![lesson("t_one", &start, 60)], "complete-delayed").await;
    let completed = h.event("checkout.session.completed", &session).await;
    assert_eq!(completed["data"]["object"]["payment_status"], "unpaid");
    assert_eq!(h.deliver(&completed).await.0, 200);
    let checkout = h.checkout(&id).await;
    assert_eq!(checkout.status, CheckoutStatus::PaymentPending);
    let long_after = Clock::Fixed(checkout.hold_until + jiff::SignedDuration::from_hours(3));
    assert!(!h.env.open_starts("t_one", long_after).await.contains(&start), "held past the session's expiry");

    let settle = |outcome: &'static str| {
        let url = format!("{}_emulator/sessions/{session}/async", h.env.stripe.base_url());
        async move { reqwest::Client::new().post(url).json(&json!({"outcome": outcome})).send().await.unwrap() }
    };
    assert!(settle("failed").await.status().is_success());
    assert_eq!(h.deliver(&h.event("checkout.session.async_payment_failed", &session).await).await.0, 200);
    assert_eq!(h.checkout(&id).await.status, CheckoutStatus::Failed);
    assert!(h.env.open_starts("t_one", Clock::System).await.contains(&start), "a failed payment releases the slot");
}

/// A delayed payment keeps its trial claim as it keeps its holds: past the
/// session's expiry the student cannot start a second trial with the same
/// teacher (before: the claim lapsed at `hold_until` and a second trial was
/// sold while the first was still being paid for).
#[tokio::test]
async fn a_delayed_payment_keeps_its_trial_claim_until_it_settles() {
    let h = hooked(false, false).await;
    let trial = |start: &str| json!({"teacher_id": "t_two", "start": start, "duration_minutes": 30, "trial": true});
    let (id, session) = h.buy("s_1", vec![trial(&tomorrow_at("10:00"))], "complete-delayed").await;
    assert_eq!(h.deliver(&h.event("checkout.session.completed", &session).await).await.0, 200);
    let checkout = h.checkout(&id).await;
    assert_eq!(checkout.status, CheckoutStatus::PaymentPending);

    let later = h.env.checkout_at(Clock::Fixed(checkout.hold_until + jiff::SignedDuration::from_hours(3))).await;
    let event = tests::FunctionUrlEvent::new("POST", "/").header("content-type", "application/json").header("authorization", &format!("Bearer {}", token_for("s_1"))).body(&cart(vec![trial(&tomorrow_at("16:00"))]).to_string());
    let (status, body) = tests::call_app(&later, event).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("trial_already_used")), "{body}");

    // The payment fails: the claim is given back with the slot.
    reqwest::Client::new().post(format!("{}_emulator/sessions/{session}/async", h.env.stripe.base_url())).json(&json!({"outcome": "failed"})).send().await.unwrap();
    assert_eq!(h.deliver(&h.event("checkout.session.async_payment_failed", &session).await).await.0, 200);
    assert_eq!(h.env.db.store.get_trial_claim("s_1", &shared::domain::TeacherId::parse("t_two").unwrap()).await.unwrap(), None);
}

/// The success page polls while 100ms is down: the payment is booked and
/// the page says `confirmed` (before: `502` saying "nothing was charged"
/// for a payment that was taken and booked).
#[tokio::test]
async fn the_success_page_shows_a_booked_checkout_when_a_later_step_fails() {
    let h = hooked(false, false).await;
    let (id, _) = h.buy("s_1", vec![lesson("t_one", &tomorrow_at("10:00"), 60)], "complete").await;
    reqwest::Client::new().post(format!("{}faults", h.env.hms.control_url())).json(&json!({"status": 500})).send().await.unwrap();
    let (status, polled) = h.env.status(&token_for("s_1"), id.as_str()).await;
    assert_eq!((status, polled["status"].as_str()), (200, Some("confirmed")), "{polled}");
    let checkout = h.checkout(&id).await;
    assert_eq!(h.booking(&checkout.booking_ids[0]).await.room_status, RoomStatus::Pending, "the room is made later");
}

#[tokio::test]
async fn an_async_success_before_the_completion_books_and_the_completion_changes_nothing() {
    let h = hooked(false, false).await;
    let (id, session) = h.buy("s_1", vec![lesson("t_one", &tomorrow_at("10:00"), 60)], "complete-delayed").await;
    let completed = h.event("checkout.session.completed", &session).await;
    let url = format!("{}_emulator/sessions/{session}/async", h.env.stripe.base_url());
    assert!(reqwest::Client::new().post(url).json(&json!({"outcome": "succeeded"})).send().await.unwrap().status().is_success());
    assert_eq!(h.deliver(&h.event("checkout.session.async_payment_succeeded", &session).await).await.0, 200);
    assert_eq!(h.checkout(&id).await.status, CheckoutStatus::Confirmed);
    assert_eq!(h.deliver(&completed).await.0, 200);
    let checkout = h.checkout(&id).await;
    assert_eq!((checkout.status, checkout.booking_ids.len()), (CheckoutStatus::Confirmed, 1));
}

#[tokio::test]
async fn a_payment_that_does_not_match_is_never_fulfilled() {
    let h = hooked(false, false).await;
    let (id, session) = h.buy("s_1", vec![lesson("t_one", &tomorrow_at("10:00"), 60)], "complete").await;
    let completed = h.event("checkout.session.completed", &session).await;
    let cheaper = restated(&completed, "checkout.session.completed", json!({"amount_total": 100}));
    assert_eq!(h.deliver(&cheaper).await.0, 200);
    let checkout = h.checkout(&id).await;
    assert_eq!((checkout.status, checkout.booking_ids.len()), (CheckoutStatus::NeedsAttention, 0));
    let other_currency = restated(&completed, "checkout.session.completed", json!({"currency": "usd"}));
    assert_eq!(h.deliver(&other_currency).await.0, 200);
    assert_eq!(h.checkout(&id).await.status, CheckoutStatus::NeedsAttention);
    // One record for a person, however often the mismatch is reported.
    let attention = h.env.db.store.attention().await.unwrap();
    assert_eq!(attention.len(), 1, "{attention:?}");
    assert_eq!((attention[0].kind, attention[0].checkout_id.as_ref()), (shared::store::AttentionKind::PaymentMismatch, Some(&id)));
    assert!(attention[0].reason.contains("amount 100 (ours 3000)"), "{}", attention[0].reason);
}

#[tokio::test]
async fn signatures_rotation_tolerance_and_tampering() {
    let h = hooked(false, false).await;
    let (id, session) = h.buy("s_1", vec![lesson("t_one", &tomorrow_at("10:00"), 60)], "complete").await;
    let completed = h.event("checkout.session.completed", &session).await;
    let body = completed.to_string();
    let now = Timestamp::now().as_second();
    let sign = |secret: &str, t: i64| emulators::stripe::signature_header(secret, t, body.as_bytes());

    for bad in [None, Some("garbage".to_owned()), Some(sign("whsec_someone_else", now))] {
        let (status, answer) = post_signed(&h.served, &body, bad.as_deref()).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("invalid_signature")), "{bad:?}");
    }
    // Tolerance against a clock pinned to `now`, so a slow run cannot move the boundary.
    let pinned = service(&h.env, &[WEBHOOK_SECRET], Clock::Fixed(Timestamp::from_second(now).unwrap()));
    for t in [now - 301, now + 301] {
        let refused = pinned.handle(shared::webhook::Endpoint::Platform, Some(&sign(WEBHOOK_SECRET, t)), body.as_bytes()).await;
        let stale = shared::webhook::SignatureError::Stale.to_string();
        assert!(matches!(&refused, Err(shared::error::ApiError::BadSignature(why)) if *why == stale), "{t}: {refused:?}");
    }
    let tampered = body.replace("\"amount_total\":3000", "\"amount_total\":1");
    assert_ne!(tampered, body);
    assert_eq!(post_signed(&h.served, &tampered, Some(&sign(WEBHOOK_SECRET, now))).await.0, 400);
    assert_eq!(post_signed(&h.served, "not json", Some(&emulators::stripe::signature_header(WEBHOOK_SECRET, now, b"not json"))).await.0, 400);
    assert_eq!(h.checkout(&id).await.status, CheckoutStatus::AwaitingPayment, "nothing was written");
    assert!(!h.env.db.store.event_seen(completed["id"].as_str().unwrap()).await.unwrap());

    // During a rotation the endpoint holds both secrets; Stripe signs with each.
    // The service's clock is pinned to `now`, so "exactly at" is exact however long the test runs.
    let rotating = service(&h.env, &["whsec_old_one", WEBHOOK_SECRET], Clock::Fixed(Timestamp::from_second(now).unwrap()));
    let both = format!("{},v1={}", sign("whsec_old_one", now - 300), sign(WEBHOOK_SECRET, now - 300).split("v1=").nth(1).unwrap());
    let ack = rotating.handle(shared::webhook::Endpoint::Platform, Some(&both), body.as_bytes()).await.unwrap();
    assert_eq!(ack.outcome, "confirmed", "exactly at the tolerance is accepted");
}

#[tokio::test]
async fn dynamodb_failing_mid_fulfilment_then_redelivery_completes() {
    let h = hooked(false, true).await;
    let (id, session) = h.buy("s_1", vec![lesson("t_one", &tomorrow_at("10:00"), 60)], "complete").await;
    let completed = h.event("checkout.session.completed", &session).await;
    h.env.db.proxy().fail("TransactWriteItems", Fault::Fail, 1_000);
    let (status, body) = h.deliver(&completed).await;
    assert!(status >= 500, "Stripe must redeliver: {status} {body}");
    assert_eq!(h.checkout(&id).await.status, CheckoutStatus::AwaitingPayment);
    h.env.db.proxy().clear();
    assert_eq!(h.deliver(&completed).await.0, 200);
    let checkout = h.checkout(&id).await;
    assert_eq!((checkout.status, checkout.booking_ids.len()), (CheckoutStatus::Confirmed, 1));
}

#[tokio::test]
async fn events_of_the_other_mode_and_other_types_are_acknowledged_and_ignored() {
    let h = hooked(false, false).await;
    let (id, session) = h.buy("s_1", vec![lesson("t_one", &tomorrow_at("10:00"), 60)], "complete").await;
    let mut live = h.event("checkout.session.completed", &session).await;
    live["livemode"] = json!(true);
    assert_eq!(h.deliver(&live).await.1["outcome"], "ignored_other_mode");
    let other = restated(&live, "customer.created", json!({}));
    let mut other = other;
    other["livemode"] = json!(false);
    assert_eq!(h.deliver(&other).await.1["outcome"], "ignored_type");
    assert_eq!(h.checkout(&id).await.status, CheckoutStatus::AwaitingPayment);
    let _ = &h.service;
}

/// Stripe's fulfilment guide: the success page must not depend on the webhook.
#[tokio::test]
async fn with_no_webhook_the_success_page_poll_alone_confirms() {
    let h = hooked(false, false).await;
    let (id, _) = h.buy("s_1", vec![lesson("t_one", &tomorrow_at("10:00"), 60)], "complete").await;
    let (status, polled) = h.env.status(&token_for("s_1"), id.as_str()).await;
    assert_eq!((status, polled["status"].as_str()), (200, Some("confirmed")), "{polled}");
    assert_eq!(polled["payment_status"], "paid");
    let checkout = h.checkout(&id).await;
    assert_eq!(checkout.booking_ids.len(), 1);
    assert_eq!(h.booking(&checkout.booking_ids[0]).await.payment_status, "paid");

    // Unpaid checkouts ask Stripe at most every few seconds, however often polled.
    let (_, open) = h.env.post(Some(&token_for("s_2")), &cart(vec![lesson("t_one", &tomorrow_at("16:00"), 60)]), None).await;
    let retrievals = || async {
        let requests: Value = reqwest::get(format!("{}_emulator/requests", h.env.stripe.base_url())).await.unwrap().json().await.unwrap();
        requests.as_array().unwrap().iter().filter(|r| r["method"] == "GET" && r["path"].as_str().is_some_and(|p| p.starts_with("/v1/checkout/sessions/"))).count()
    };
    let before = retrievals().await;
    // All five at one instant, so a slow run cannot stretch them past the interval.
    let at_once = h.env.checkout_at(Clock::Fixed(Timestamp::now())).await;
    let poll = || tests::FunctionUrlEvent::get("/").query("checkout_id", open["checkout_id"].as_str().unwrap()).header("authorization", &format!("Bearer {}", token_for("s_2")));
    for _ in 0..5 {
        let (_, polled) = tests::call_app(&at_once, poll()).await;
        assert_eq!(polled["status"], "awaiting_payment");
    }
    assert_eq!(retrievals().await - before, 1);
}

/// `admin reconcile`: events whose delivery failed, settled once however often it runs.
#[tokio::test]
async fn reconcile_settles_events_whose_delivery_failed_once() {
    let h = hooked(false, false).await;
    // An endpoint that refuses connections: every delivery fails.
    h.env.stripe.set_webhook_url(Some("http://127.0.0.1:1/".into()));
    let (id, _) = h.buy("s_1", vec![lesson("t_one", &tomorrow_at("10:00"), 60)], "complete").await;
    let failed_url = format!("{}v1/events?delivery_success=false", h.env.stripe.base_url());
    for _ in 0..200 {
        let listed: Value = reqwest::Client::new().get(&failed_url).bearer_auth(STRIPE_KEY).send().await.unwrap().json().await.unwrap();
        if !listed["data"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let report = shared::reconcile::run(&h.env.event_handler_of("reconcile", Clock::System), Timestamp::now()).await;
    assert_eq!(h.checkout(&id).await.status, CheckoutStatus::Confirmed);
    assert!(report.changes.iter().any(|c| c.contains("checkout.session.completed -> confirmed")), "{:?}", report.changes);
    let again = shared::reconcile::run(&h.env.event_handler_of("reconcile", Clock::System), Timestamp::now()).await;
    assert!(again.changes.is_empty(), "{:?}", again.changes);
}

/// `admin reconcile`: checkouts stuck past their holds with no event at all.
#[tokio::test]
async fn reconcile_settles_checkouts_stuck_past_their_holds() {
    let h = hooked(false, false).await;
    let (paid, _) = h.buy("s_1", vec![lesson("t_one", &tomorrow_at("10:00"), 60)], "complete").await;
    let (_, unpaid) = h.env.post(Some(&token_for("s_2")), &cart(vec![lesson("t_one", &tomorrow_at("14:00"), 60)]), None).await;
    let unpaid = CheckoutId::parse(unpaid["checkout_id"].as_str().unwrap()).unwrap();
    let later = h.checkout(&paid).await.hold_until + jiff::SignedDuration::from_mins(1);
    let report = shared::reconcile::run(&h.env.event_handler_of("reconcile", Clock::System), later).await;
    assert_eq!(report.checked_checkouts, 2, "{report:?}");
    assert_eq!(h.checkout(&paid).await.status, CheckoutStatus::Confirmed);
    assert_eq!(h.checkout(&unpaid).await.status, CheckoutStatus::Expired);
    assert_eq!(report.changes.len(), 2, "{:?}", report.changes);
    let again = shared::reconcile::run(&h.env.event_handler_of("reconcile", Clock::System), later).await;
    assert_eq!((again.checked_checkouts, again.changes.len()), (0, 0), "settled ones leave the index: {again:?}");
}

/// A partially refunded checkout (lessons on different days) refunded in
/// full from the dashboard: its remaining booking is cancelled.
#[tokio::test]
async fn the_rest_refunded_in_the_dashboard_cancels_the_kept_lessons_too() {
    let h = hooked(false, false).await;
    let day_after = {
        let d = jiff::tz::TimeZone::UTC.to_datetime(Timestamp::now()).date().checked_add(jiff::Span::new().days(2)).unwrap();
        format!("{d}T14:00:00Z")
    };
    let (lost, kept) = (tomorrow_at("10:00"), day_after);
    let (id, session) = h.buy("s_1", vec![lesson("t_one", &lost, 60), lesson("t_one", &kept, 30)], "complete").await;
    let completed = h.event("checkout.session.completed", &session).await;
    let expired = restated(&completed, "checkout.session.expired", json!({"status": "expired", "payment_status": "unpaid"}));
    assert_eq!(h.deliver(&expired).await.0, 200);
    assert_eq!(h.env.post(Some(&token_for("s_2")), &cart(vec![lesson("t_one", &lost, 60)]), None).await.0, 201);
    assert_eq!(h.deliver(&completed).await.0, 200);
    let checkout = h.checkout(&id).await;
    assert_eq!(checkout.status, CheckoutStatus::PartiallyRefunded);
    let pi = checkout.payment_intent.clone().unwrap();

    let rest = reqwest::Client::new().post(format!("{}_emulator/payment_intents/{pi}/refund", h.env.stripe.base_url())).send().await.unwrap();
    assert!(rest.status().is_success());
    for event in h.events("refund.created", &pi).await {
        let (status, body) = h.deliver(&event).await;
        assert_eq!(status, 200, "{body}");
    }
    let checkout = h.checkout(&id).await;
    assert_eq!(checkout.status, CheckoutStatus::Refunded);
    assert_eq!(h.booking(&checkout.booking_ids[0]).await.status, BookingStatus::Cancelled);
    assert!(h.env.open_starts_on("t_one", &kept).await.contains(&kept), "the kept lesson's slot is free again");
}

/// 100ms down while the payment is settled: the booking stands with its room
/// pending, Stripe is told to deliver again, and the redelivery makes the room.
#[tokio::test]
async fn a_100ms_outage_during_fulfilment_is_finished_by_the_redelivery() {
    let h = hooked(false, false).await;
    let (id, session) = h.buy("s_1", vec![lesson("t_one", &tomorrow_at("10:00"), 60)], "complete").await;
    let completed = h.event("checkout.session.completed", &session).await;
    let faults = format!("{}faults", h.env.hms.control_url());
    reqwest::Client::new().post(&faults).json(&json!({"status": 500})).send().await.unwrap();
    let (status, body) = h.deliver(&completed).await;
    assert!(status >= 500, "Stripe must redeliver: {status} {body}");
    let checkout = h.checkout(&id).await;
    assert_eq!(checkout.status, CheckoutStatus::Confirmed);
    assert_eq!(h.booking(&checkout.booking_ids[0]).await.room_status, RoomStatus::Pending);

    reqwest::Client::new().delete(&faults).send().await.unwrap();
    assert_eq!(h.deliver(&completed).await.0, 200);
    let booking = h.booking(&checkout.booking_ids[0]).await;
    assert_eq!((booking.status, booking.room_status), (BookingStatus::Confirmed, RoomStatus::Ready));
    let rooms: Value = reqwest::get(format!("{}rooms", h.env.hms.control_url())).await.unwrap().json().await.unwrap();
    assert_eq!(rooms.as_array().map(Vec::len), Some(1), "one room, nothing duplicated");
}

/// The scheduled `reconcile` function runs the same reconciliation.
#[tokio::test]
async fn the_scheduled_reconcile_function_settles_what_it_finds() {
    let h = hooked(false, false).await;
    let (id, _) = h.buy("s_1", vec![lesson("t_one", &tomorrow_at("10:00"), 60)], "complete").await;
    let later = h.checkout(&id).await.hold_until + jiff::SignedDuration::from_mins(1);
    let summary = reconcile::handle(&h.env.event_handler_of("reconcile", Clock::System), &Default::default(), &Default::default(), later).await.unwrap();
    assert_eq!(summary.checked_checkouts, 1);
    assert!(summary.changes.iter().any(|c| c.contains("confirmed")), "{:?}", summary.changes);
    assert_eq!(h.checkout(&id).await.status, CheckoutStatus::Confirmed);
}

/// The cancellation policy a booking keeps is the teacher's when the student
/// checked out (what they saw): a change before the payment settles does not
/// apply, nor does one after it.
#[tokio::test]
async fn a_booking_keeps_the_cancellation_policy_shown_at_checkout() {
    let h = hooked(false, false).await;
    let with_policy = |hours: u32| {
        let mut doc = tests::always_open_teacher("t_one", "eur", 0).to_doc();
        doc.cancellation = Some(shared::domain::CancellationDoc { free_cancel_hours: Some(hours), late_cancel_refund_percent: Some(50), ..Default::default() });
        shared::domain::TeacherProfile::try_from(doc).unwrap()
    };
    let (id, session) = h.buy("s_1", vec![lesson("t_one", &tomorrow_at("10:00"), 60)], "complete").await;
    h.env.db.store.put_profile(&with_policy(12)).await.unwrap();
    assert_eq!(h.deliver(&h.event("checkout.session.completed", &session).await).await.0, 200);
    let booking_id = h.checkout(&id).await.booking_ids[0].clone();
    let policy = h.booking(&booking_id).await.policy;
    assert_eq!((policy.free_cancel_hours, policy.late_cancel_refund_percent, policy.max_reschedules), (24, 0, 2), "the defaults shown at checkout");

    h.env.db.store.put_profile(&with_policy(48)).await.unwrap();
    assert_eq!(h.deliver(&restated(&h.event("checkout.session.completed", &session).await, "checkout.session.completed", json!({}))).await.0, 200);
    assert_eq!(h.booking(&booking_id).await.policy.free_cancel_hours, 24, "what the student bought stands");
}

/// A chargeback reported before the payment's own event booked anything
/// was acknowledged and forgotten: the lessons stayed booked although the
/// bank took the money. Recorded, it applies once the payment books.
#[tokio::test]
async fn a_dispute_that_arrives_before_its_payment_is_booked_applies_when_it_books() {
    let h = hooked(false, false).await;
    let (id, session) = h.buy("s_1", vec![lesson("t_one", &tomorrow_at("10:00"), 60)], "complete").await;
    let intent = h.env.session(&session).await["payment_intent"].as_str().unwrap().to_owned();
    let opened = reqwest::Client::new().post(format!("{}_emulator/disputes", h.env.stripe.base_url())).json(&json!({"payment_intent": intent, "reason": "fraudulent"})).send().await.unwrap();
    assert!(opened.status().is_success());
    assert_eq!(h.deliver(&h.event("charge.dispute.created", &intent).await).await.0, 200, "acknowledged");
    assert_eq!(h.deliver(&h.event("checkout.session.completed", &session).await).await.0, 200);
    let checkout = h.checkout(&id).await;
    let booking = h.booking(&checkout.booking_ids[0]).await;
    assert_eq!((booking.status, booking.cancelled_by), (BookingStatus::Cancelled, Some(shared::store::CancelledBy::Dispute)), "the recorded chargeback applies");
    assert!(h.env.db.store.attention().await.unwrap().iter().any(|a| a.kind == shared::store::AttentionKind::Dispute));
}
