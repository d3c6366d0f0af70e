//! Money that goes back by other roads than a cancel: refunds made in the
//! Stripe dashboard (partial, full, failing later) and disputes (inquiries
//! and chargebacks, won or lost), against change-booking and the refund
//! sweep on dynoxide with the Stripe emulator.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use shared::auth::Role;
use shared::clock::Clock;
use shared::store::{BookingStatus, CancelledBy, ObligationStatus};
use tests::{CheckoutEnv, lesson, token_for, tomorrow_at};

use super::changes::{app, booking, cancel, quote, refunds, rooms, ts};
use tests::token_as as token;

/// Opens (or closes) a dispute in the emulator and hands its event to the
/// webhook's handler at `now`.
async fn dispute(env: &CheckoutEnv, path: &str, body: Value, kind: &str, now: Timestamp) -> Value {
    let response = reqwest::Client::new().post(format!("{}_emulator/{path}", env.stripe.base_url())).json(&body).send().await.unwrap();
    assert!(response.status().is_success(), "{path}: {}", response.status());
    let dispute: Value = response.json().await.unwrap();
    let events: Value = reqwest::get(format!("{}_emulator/events", env.stripe.base_url())).await.unwrap().json().await.unwrap();
    let event = events.as_array().unwrap().iter().rev().find(|e| e["type"] == kind && e["data"]["object"]["id"] == dispute["id"]).cloned().unwrap();
    let parsed = shared::webhook::event::Event::parse(event.to_string().as_bytes()).unwrap();
    env.event_handler(Clock::System).process(&parsed, now).await.unwrap();
    dispute
}

pub(super) async fn payment_intent_of(env: &CheckoutEnv, checkout: &shared::domain::CheckoutId) -> String {
    env.db.store.get_checkout(checkout).await.unwrap().unwrap().payment_intent.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chargeback_cancels_the_lessons_not_started_without_refund_and_marks_the_others_disputed() {
    let env = CheckoutEnv::start().await;
    let (first, second) = (tomorrow_at("10:00"), tomorrow_at("13:00"));
    let (checkout, bookings) = env.paid_booking("s_1", vec![lesson("t_one", &first, 60), lesson("t_one", &second, 60)]).await;
    let intent = payment_intent_of(&env, &checkout).await;
    // Between the two lessons: the first happened, the second has not started.
    let between = ts(&tomorrow_at("12:00"));
    let opened = dispute(&env, "disputes", json!({"payment_intent": intent, "reason": "fraudulent"}), "charge.dispute.created", between).await;

    let (past, future) = (booking(&env, &bookings[0]).await, booking(&env, &bookings[1]).await);
    assert_eq!((past.status, past.payment_status.as_str()), (BookingStatus::Confirmed, "disputed"), "a lesson that started keeps its status");
    assert_eq!((future.status, future.cancelled_by, future.refund_amount), (BookingStatus::Cancelled, Some(CancelledBy::Dispute), Some(0)));
    assert!(refunds(&env).await.is_empty(), "no refund: the bank holds the money");
    assert!(env.open_starts_on("t_one", &second).await.contains(&second), "its slot is free again");
    let room = future.room_id.unwrap();
    assert!(rooms(&env).await.iter().any(|r| r["id"] == room.as_str() && r["enabled"] == false));
    let ledger = env.db.store.ledger(&intent).await.unwrap();
    assert_eq!((ledger.disputes.len(), ledger.disputes[0].status.as_str(), ledger.disputes[0].amount), (1, "needs_response", 6000));
    let attention = env.db.store.attention().await.unwrap();
    assert_eq!((attention.len(), attention[0].kind, attention[0].due_by.map(|d| d.as_second())), (1, shared::store::AttentionKind::Dispute, opened["evidence_details"]["due_by"].as_i64()));
    let (_, options) = quote(&app(&env, between).await, &token("ops_1", Role::Admin), &bookings[0]).await;
    assert_eq!(options["cancel"]["refund_amount"], 0, "nothing can go back of a charged-back payment");

    let closed = opened["id"].as_str().unwrap();
    dispute(&env, &format!("disputes/{closed}/close"), json!({"status": "won"}), "charge.dispute.closed", between + SignedDuration::from_hours(1)).await;
    assert_eq!(env.db.store.ledger(&intent).await.unwrap().disputes[0].status, "won");
    assert_eq!(booking(&env, &bookings[1]).await.status, BookingStatus::Cancelled, "nothing is booked again");
    // But the student lost a lesson the platform was paid for: a person is told which.
    let attention = env.db.store.attention().await.unwrap();
    let won: Vec<&shared::store::Attention> = attention.iter().filter(|a| a.kind == shared::store::AttentionKind::DisputeWon).collect();
    assert_eq!(won.len(), 1, "{attention:?}");
    assert!(won[0].reason.contains(bookings[1].as_str()) && !won[0].reason.contains(bookings[0].as_str()), "{}", won[0].reason);
    let (status, answer) = cancel(&app(&env, between).await, &token_for("s_1"), &bookings[1]).await;
    assert_eq!((status, answer["cancelled_by"].as_str(), answer["refund"]["status"].as_str()), (200, Some("dispute"), Some("none")), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inquiry_is_listed_for_a_person_and_changes_no_booking() {
    let env = CheckoutEnv::start().await;
    let at = tomorrow_at("10:00");
    let (checkout, bookings) = env.paid_booking("s_1", vec![lesson("t_one", &at, 60)]).await;
    let intent = payment_intent_of(&env, &checkout).await;
    let before = ts(&at) - SignedDuration::from_hours(5);
    dispute(&env, "disputes", json!({"payment_intent": intent, "status": "warning_needs_response", "reason": "product_not_received"}), "charge.dispute.created", before).await;
    let unchanged = booking(&env, &bookings[0]).await;
    assert_eq!((unchanged.status, unchanged.payment_status.as_str()), (BookingStatus::Confirmed, "paid"));
    let attention = env.db.store.attention().await.unwrap();
    assert_eq!((attention.len(), attention[0].kind), (1, shared::store::AttentionKind::DisputeInquiry));
    assert_eq!(env.db.store.ledger(&intent).await.unwrap().disputes[0].status, "warning_needs_response");
    // A student may still cancel: the charge of an inquiry can be refunded.
    let (status, cancelled) = cancel(&app(&env, before - SignedDuration::from_hours(48)).await, &token_for("s_1"), &bookings[0]).await;
    assert_eq!((status, cancelled["refund"]["status"].as_str()), (200, Some("succeeded")), "{cancelled}");
}

/// Hands every emulator event about `payment_intent` of the given kinds to
/// the webhook's handler, oldest first, as Stripe's deliveries would.
pub(super) async fn deliver_about(env: &CheckoutEnv, payment_intent: &str, kinds: &[&str]) {
    let events: Value = reqwest::get(format!("{}_emulator/events", env.stripe.base_url())).await.unwrap().json().await.unwrap();
    for event in events.as_array().unwrap().iter().filter(|e| kinds.contains(&e["type"].as_str().unwrap_or_default()) && e["data"]["object"]["payment_intent"] == payment_intent) {
        let parsed = shared::webhook::event::Event::parse(event.to_string().as_bytes()).unwrap();
        env.event_handler(Clock::System).process(&parsed, Timestamp::now()).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_dashboard_refund_changes_no_booking_and_lowers_what_the_cancels_refund() {
    let env = CheckoutEnv::start().await;
    let (first, second) = (tomorrow_at("10:00"), tomorrow_at("13:00"));
    let (checkout, bookings) = env.paid_booking("s_1", vec![lesson("t_one", &first, 60), lesson("t_one", &second, 60)]).await;
    let intent = payment_intent_of(&env, &checkout).await;
    let dashboard = reqwest::Client::new().post(format!("{}_emulator/payment_intents/{intent}/refund", env.stripe.base_url())).json(&json!({"amount": 4000})).send().await.unwrap();
    assert!(dashboard.status().is_success());
    deliver_about(&env, &intent, &["refund.created", "charge.refunded"]).await;
    assert_eq!(env.db.store.ledger(&intent).await.unwrap().refunded(), 4000, "recorded");
    for id in &bookings {
        assert_eq!(booking(&env, id).await.status, BookingStatus::Confirmed, "a refund that names no lesson cancels none");
    }

    let early = app(&env, ts(&first) - SignedDuration::from_hours(48)).await;
    let (_, options) = quote(&early, &token_for("s_1"), &bookings[0]).await;
    assert_eq!(options["cancel"]["refund_amount"], 2000, "what is left of the payment caps the lesson's 3000");
    let (_, cancelled) = cancel(&early, &token_for("s_1"), &bookings[0]).await;
    assert_eq!(cancelled["refund"], json!({"amount": 2000, "currency": "eur", "status": "succeeded"}));
    let made: Vec<u64> = refunds(&env).await.iter().map(|r| r["amount"].as_u64().unwrap()).collect();
    assert_eq!(made.iter().sum::<u64>(), 6000, "never more than was paid: {made:?}");
    // With that refund's events the payment is refunded in full: the other lesson ends too.
    deliver_about(&env, &intent, &["refund.created", "charge.refunded"]).await;
    let other = booking(&env, &bookings[1]).await;
    assert_eq!((other.status, other.cancelled_by), (BookingStatus::Cancelled, Some(CancelledBy::Refund)));
    assert_eq!(refunds(&env).await.len(), 2, "and nothing more is refunded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispute_created_event_arriving_after_it_was_won_cancels_nothing() {
    let env = CheckoutEnv::start().await;
    let at = tomorrow_at("10:00");
    let (checkout, bookings) = env.paid_booking("s_1", vec![lesson("t_one", &at, 60)]).await;
    let intent = payment_intent_of(&env, &checkout).await;
    let control = |path: String, body: Value| {
        let url = format!("{}_emulator/{path}", env.stripe.base_url());
        async move { reqwest::Client::new().post(url).json(&body).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let opened = control("disputes".into(), json!({"payment_intent": intent})).await;
    control(format!("disputes/{}/close", opened["id"].as_str().unwrap()), json!({"status": "won"})).await;
    let events: Value = reqwest::get(format!("{}_emulator/events", env.stripe.base_url())).await.unwrap().json().await.unwrap();
    let of = |kind: &str| events.as_array().unwrap().iter().find(|e| e["type"] == kind && e["data"]["object"]["id"] == opened["id"]).cloned().unwrap();
    let before = ts(&at) - SignedDuration::from_hours(5);
    for kind in ["charge.dispute.closed", "charge.dispute.created"] {
        let parsed = shared::webhook::event::Event::parse(of(kind).to_string().as_bytes()).unwrap();
        env.event_handler(Clock::System).process(&parsed, before).await.unwrap();
    }
    assert_eq!(env.db.store.ledger(&intent).await.unwrap().disputes[0].status, "won", "an older report never reopens it");
    assert_eq!(booking(&env, &bookings[0]).await.status, BookingStatus::Confirmed, "a dispute won takes nothing from the student");
    assert!(env.db.store.attention().await.unwrap().is_empty(), "nothing left to answer");
}

/// A refund made in the dashboard that later fails: nobody owed it, so it
/// used to be recorded and forgotten, and a cancellation it had covered
/// stayed settled: the student ended with neither lessons nor money. A
/// person is told now, and the covered cancellation is refunded after all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_refund_that_fails_is_listed_and_what_it_covered_is_refunded_after_all() {
    let env = CheckoutEnv::start().await;
    let (first, second) = (tomorrow_at("10:00"), tomorrow_at("13:00"));
    let (checkout, bookings) = env.paid_booking("s_1", vec![lesson("t_one", &first, 60), lesson("t_one", &second, 60)]).await;
    let intent = payment_intent_of(&env, &checkout).await;
    let stripe = |path: String, body: Value| {
        let url = format!("{}_emulator/{path}", env.stripe.base_url());
        async move {
            let answer = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
            assert!(answer.status().is_success(), "{}", answer.status());
            answer.json::<Value>().await.unwrap_or(Value::Null)
        }
    };
    let sweeper = env.event_handler_of("reconcile", Clock::System);
    let reconcile = || shared::reconcile::run(&sweeper, Timestamp::now());
    // The cancel's refund cannot be made yet (Stripe down): owed.
    stripe("faults".into(), json!({"status": 500})).await;
    let early = app(&env, ts(&first) - SignedDuration::from_hours(48)).await;
    let (_, cancelled) = cancel(&early, &token_for("s_1"), &bookings[0]).await;
    assert_eq!(cancelled["refund"]["status"], "pending", "{cancelled}");
    reqwest::Client::new().delete(format!("{}_emulator/faults", env.stripe.base_url())).send().await.unwrap();
    // Meanwhile an operator refunds the whole payment in the dashboard:
    // nothing is left, so the cancellation counts as covered.
    let dashboard = stripe(format!("payment_intents/{intent}/refund"), json!({"amount": 6000})).await;
    deliver_about(&env, &intent, &["refund.created", "charge.refunded"]).await;
    reconcile().await;
    assert_eq!(env.db.store.ledger(&intent).await.unwrap().obligations[0].status, ObligationStatus::Covered);
    assert_eq!(refunds(&env).await.len(), 1, "only the dashboard's");

    // Days later that refund fails (a closed card): the money is back with us.
    stripe(format!("refunds/{}/fail", dashboard["id"].as_str().unwrap()), json!({})).await;
    deliver_about(&env, &intent, &["refund.failed"]).await;
    let attention = env.db.store.attention().await.unwrap();
    assert_eq!(attention.iter().map(|a| (a.kind, a.subject.as_str(), a.code.as_deref())).collect::<Vec<_>>(), [(shared::store::AttentionKind::RefundFailed, dashboard["id"].as_str().unwrap(), Some("expired_or_canceled_card"))]);
    assert_eq!(env.db.store.ledger(&intent).await.unwrap().obligations[0].status, ObligationStatus::Owed, "owed again");
    reconcile().await;
    let made: Vec<u64> = refunds(&env).await.iter().map(|r| r["amount"].as_u64().unwrap()).collect();
    assert_eq!(made.iter().filter(|a| **a == 3000).count(), 1, "the cancellation is refunded after all: {made:?}");
    assert_eq!(env.db.store.ledger(&intent).await.unwrap().obligations[0].status, ObligationStatus::Succeeded);
    deliver_about(&env, &intent, &["refund.failed"]).await;
    assert_eq!(env.db.store.attention().await.unwrap().len(), 1, "a redelivery lists it once");
}

/// What we owe back of a payment the bank charged back waits (Stripe would
/// refuse it) instead of failing for ever, and is made once the dispute is won.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_owed_on_a_charged_back_payment_waits_and_is_made_when_the_dispute_is_won() {
    let env = CheckoutEnv::start().await;
    let (first, second) = (tomorrow_at("10:00"), tomorrow_at("13:00"));
    let (checkout, bookings) = env.paid_booking("s_1", vec![lesson("t_one", &first, 60), lesson("t_one", &second, 60)]).await;
    let intent = payment_intent_of(&env, &checkout).await;
    let control = |path: &str| format!("{}_emulator/{path}", env.stripe.base_url());
    reqwest::Client::new().post(control("faults")).json(&json!({"status": 500})).send().await.unwrap();
    let early = app(&env, ts(&first) - SignedDuration::from_hours(48)).await;
    assert_eq!(cancel(&early, &token_for("s_1"), &bookings[0]).await.1["refund"]["status"], "pending");
    reqwest::Client::new().delete(control("faults")).send().await.unwrap();
    let now = ts(&first) - SignedDuration::from_hours(47);
    let opened = dispute(&env, "disputes", json!({"payment_intent": intent, "reason": "fraudulent"}), "charge.dispute.created", now).await;
    let sweeper = env.event_handler_of("reconcile", Clock::System);
    shared::reconcile::run(&sweeper, now).await;
    let ledger = env.db.store.ledger(&intent).await.unwrap();
    assert_eq!(ledger.obligations[0].status, ObligationStatus::Owed, "waiting, not failed");
    assert!(refunds(&env).await.is_empty() && env.db.store.attention().await.unwrap().iter().all(|a| a.kind != shared::store::AttentionKind::RefundRefused));

    dispute(&env, &format!("disputes/{}/close", opened["id"].as_str().unwrap()), json!({"status": "won"}), "charge.dispute.closed", now + SignedDuration::from_hours(1)).await;
    shared::reconcile::run(&sweeper, now + SignedDuration::from_hours(1)).await;
    assert_eq!(env.db.store.ledger(&intent).await.unwrap().obligations[0].status, ObligationStatus::Succeeded);
    let made: Vec<u64> = refunds(&env).await.iter().map(|r| r["amount"].as_u64().unwrap()).collect();
    assert_eq!(made, [3000], "the cancelled lesson's money goes back once the bank returned it");
}


/// The largest checkout (ten trials of ten teachers, each ending at midnight
/// so its entries reach two days) refunded in full in the dashboard: every
/// lesson is cancelled and both parties of each are told, though the
/// cancellations, their notices and the calendar exceed one transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_refund_of_the_largest_checkout_cancels_and_tells_every_lesson() {
    let env = CheckoutEnv::start().await;
    let mut lessons = Vec::new();
    for i in 0..10 {
        let id = format!("t_big{i}");
        env.db.store.put_profile(&tests::always_open_teacher(&id, "eur", 500)).await.unwrap();
        lessons.push(json!({"teacher_id": id, "start": tests::in_days(2 + i, "23:30"), "duration_minutes": 30, "trial": true}));
    }
    let (checkout, bookings) = env.paid_booking("s_big", lessons).await;
    let intent = payment_intent_of(&env, &checkout).await;
    let dashboard = reqwest::Client::new().post(format!("{}_emulator/payment_intents/{intent}/refund", env.stripe.base_url())).json(&json!({})).send().await.unwrap();
    assert!(dashboard.status().is_success());
    deliver_about(&env, &intent, &["refund.created", "charge.refunded"]).await;
    for id in &bookings {
        let b = booking(&env, id).await;
        assert_eq!((b.status, b.cancelled_by), (BookingStatus::Cancelled, Some(CancelledBy::Refund)), "{id}");
        let told = env.db.store.notices_of(id.as_str()).await.unwrap().into_iter().filter(|n| n.topic == shared::store::Topic::Cancelled).count();
        assert_eq!(told, 3, "the student, the teacher and the webhooks hear of {id}");
    }
    assert_eq!(env.db.store.get_checkout(&checkout).await.unwrap().unwrap().status, shared::store::CheckoutStatus::Refunded);
}
