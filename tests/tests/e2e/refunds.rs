//! Money that always finds its way back: refund obligations settled through
//! the real webhook handler, the Stripe emulator (refusing refunds, failing
//! them after they were made, refunds made in its dashboard) and dynoxide.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use shared::domain::CheckoutId;
use shared::store::{AttentionKind, BookingStatus, CheckoutStatus, ObligationStatus, RoomStatus};
use shared::webhook::event::Event;
use tests::hooked::{Hooked, hooked, restated};
use tests::{cart, in_days, lesson, token_for, tomorrow_at};

fn trial(teacher: &str, start: &str) -> Value {
    json!({"teacher_id": teacher, "start": start, "duration_minutes": 30, "trial": true})
}


async fn control(h: &Hooked, path: &str, body: Value) {
    let response = reqwest::Client::new().post(format!("{}_emulator/{path}", h.env.stripe.base_url())).json(&body).send().await.unwrap();
    assert!(response.status().is_success(), "{path}: {}", response.status());
}

/// The API requests our code made to Stripe's refunds endpoint.
async fn refund_requests(h: &Hooked) -> usize {
    let all: Value = reqwest::get(format!("{}_emulator/requests", h.env.stripe.base_url())).await.unwrap().json().await.unwrap();
    all.as_array().unwrap().iter().filter(|r| r["method"] == "POST" && r["path"] == "/v1/refunds").count()
}

/// Pays for `lessons`, lets the session expire first (the events arrive
/// out of order), and lets another student take `taken` meanwhile. Returns
/// the checkout, its PaymentIntent and the (not yet delivered) completion.
async fn late_payment(h: &Hooked, lessons: Vec<Value>, taken: &[&str]) -> (CheckoutId, String, Value) {
    let (id, session) = h.buy("s_1", lessons, "complete").await;
    let completed = h.event("checkout.session.completed", &session).await;
    let expired = restated(&completed, "checkout.session.expired", json!({"status": "expired", "payment_status": "unpaid"}));
    assert_eq!(h.deliver(&expired).await.0, 200);
    for start in taken {
        assert_eq!(h.env.post(Some(&token_for("s_2")), &cart(vec![lesson("t_one", start, 60)]), None).await.0, 201);
    }
    let intent = completed["data"]["object"]["payment_intent"].as_str().unwrap().to_owned();
    (id, intent, completed)
}

/// A SEPA checkout of a free trial and a paid lesson that settles after
/// both have started: the trial owes nothing, and the paid lesson's money
/// goes back (before: Stripe refused the trial's refund of 0 and the paid
/// lesson was never refunded, while the checkout said `refunded`).
#[tokio::test]
async fn a_late_delayed_payment_refunds_the_paid_lesson_and_owes_nothing_for_the_free_trial() {
    let h = hooked(false, false).await;
    let (trial_at, paid_at) = (tomorrow_at("10:00"), in_days(2, "10:00"));
    let (id, session) = h.buy("s_1", vec![trial("t_one", &trial_at), lesson("t_one", &paid_at, 60)], "complete-delayed").await;
    assert_eq!(h.deliver(&h.event("checkout.session.completed", &session).await).await.0, 200);
    assert_eq!(h.checkout(&id).await.status, CheckoutStatus::PaymentPending);
    control(&h, &format!("sessions/{session}/async"), json!({"outcome": "succeeded"})).await;
    let succeeded = h.event("checkout.session.async_payment_succeeded", &session).await;

    // The money arrives after both lessons have started.
    let after_both = paid_at.parse::<Timestamp>().unwrap() + SignedDuration::from_mins(5);
    let event = Event::parse(succeeded.to_string().as_bytes()).unwrap();
    let ack = h.service.events.process(&event, after_both).await.expect("settled");
    assert_eq!(ack.outcome, "refunded");
    let checkout = h.checkout(&id).await;
    assert_eq!((checkout.status, checkout.refunded_lessons.clone()), (CheckoutStatus::Refunded, vec![0, 1]));
    let refunds = h.refunds().await;
    assert_eq!(refunds.len(), 1, "one refund, for the paid lesson: {refunds:?}");
    assert_eq!((refunds[0]["amount"].as_u64(), refunds[0]["metadata"]["lesson_index"].as_str()), (Some(3000), Some("1")));
    let ledger = h.env.db.store.ledger(checkout.payment_intent.as_deref().unwrap()).await.unwrap();
    assert_eq!(ledger.obligations.len(), 1, "the free trial owes nothing: {:?}", ledger.obligations);
    assert_eq!((ledger.obligations[0].status, ledger.obligations[0].amount), (ObligationStatus::Succeeded, 3000));
    assert_eq!(ledger.refunded(), 3000);
}

/// The operator refunded the whole payment in the dashboard while the
/// webhook was broken; the late completion then books what it can. Right
/// end state: nothing left `confirmed`, the checkout `refunded`, and no
/// refund asked of Stripe (before: the lost lesson's refund was refused with
/// `charge_already_refunded`, the delivery failed for ever, and the kept
/// booking stayed confirmed for a payment refunded in full).
#[tokio::test]
async fn a_payment_refunded_in_the_dashboard_before_its_late_completion_cancels_everything_and_refunds_nothing_more() {
    let h = hooked(false, false).await;
    let (lost, kept) = (tomorrow_at("10:00"), in_days(2, "14:00"));
    let (id, intent, completed) = late_payment(&h, vec![lesson("t_one", &lost, 60), lesson("t_one", &kept, 30)], &[&lost]).await;
    let dashboard = reqwest::Client::new().post(format!("{}_emulator/payment_intents/{intent}/refund", h.env.stripe.base_url())).send().await.unwrap();
    assert!(dashboard.status().is_success());

    let (status, body) = h.deliver(&completed).await;
    assert_eq!(status, 200, "{body}");
    let checkout = h.checkout(&id).await;
    assert_eq!(checkout.status, CheckoutStatus::Refunded);
    assert_eq!(h.booking(&checkout.lessons[1].booking_id).await.status, BookingStatus::Cancelled);
    assert_eq!(refund_requests(&h).await, 0, "no refund was asked of Stripe");
    assert_eq!(h.refunds().await.len(), 1, "only the dashboard's refund");
    let ledger = h.env.db.store.ledger(&intent).await.unwrap();
    assert_eq!(ledger.obligations.iter().map(|o| o.status).collect::<Vec<_>>(), [ObligationStatus::Covered]);
    assert!(h.env.open_starts_on("t_one", &kept).await.contains(&kept), "the kept lesson's slot is free again");
}

/// Two lessons lost to a late payment and one kept; Stripe refuses the first
/// refund. The other is refunded, the kept lesson gets its room, the
/// delivery is answered 2xx, and the refusal waits for a person (before:
/// the delivery failed at the first refusal and Stripe redelivered for ever).
#[tokio::test]
async fn a_refund_stripe_refuses_is_recorded_for_a_person_and_blocks_nothing_else() {
    let h = hooked(false, false).await;
    let (a, b, kept) = (tomorrow_at("08:00"), tomorrow_at("12:00"), in_days(2, "14:00"));
    let (id, intent, completed) = late_payment(&h, vec![lesson("t_one", &a, 60), lesson("t_one", &b, 60), lesson("t_one", &kept, 30)], &[&a, &b]).await;
    control(&h, "refund_failures", json!({"when": "create", "code": "charge_not_refundable"})).await;

    let (status, body) = h.deliver(&completed).await;
    assert_eq!(status, 200, "{body}");
    let checkout = h.checkout(&id).await;
    assert_eq!(checkout.status, CheckoutStatus::PartiallyRefunded);
    assert_eq!(h.until_room_ready(&checkout.lessons[2].booking_id).await.room_status, RoomStatus::Ready);
    let ledger = h.env.db.store.ledger(&intent).await.unwrap();
    let mut statuses: Vec<_> = ledger.obligations.iter().map(|o| (o.lesson_index, o.status, o.error.clone())).collect();
    statuses.sort_by_key(|s| s.0);
    assert_eq!(statuses, [(Some(0), ObligationStatus::Failed, Some("charge_not_refundable".into())), (Some(1), ObligationStatus::Succeeded, None)]);
    let attention = h.env.db.store.attention().await.unwrap();
    assert_eq!(attention.len(), 1, "{attention:?}");
    assert_eq!((attention[0].kind, attention[0].code.as_deref(), attention[0].checkout_id.as_ref()), (AttentionKind::RefundRefused, Some("charge_not_refundable"), Some(&id)));
    let listed = infra::attention::list(&h.env.db.store).await.unwrap();
    assert!(listed[0].contains("refund_refused") && listed[0].contains("make attention RESOLVE="), "{listed:?}");

    // Redelivered, and swept: a refusal is never asked again.
    let requests = refund_requests(&h).await;
    assert_eq!(h.deliver(&restated(&completed, "checkout.session.completed", json!({}))).await.0, 200);
    let report = shared::reconcile::run(&h.env.event_handler_of("reconcile", shared::clock::Clock::System), Timestamp::now()).await;
    assert!(!report.failed(), "{report:?}");
    assert_eq!(refund_requests(&h).await, requests);
    assert_eq!(h.refunds().await.len(), 1);

    // The operator deals with it and closes the record.
    let key = attention[0].key();
    assert!(h.env.db.store.resolve_attention(&key).await.unwrap());
    assert!(h.env.db.store.attention().await.unwrap().is_empty());
    assert!(!h.env.db.store.resolve_attention(&key).await.unwrap(), "already resolved");
}

/// A refund Stripe made and then reported failed (a closed card): the
/// obligation reopens as failed with Stripe's reason, a person is told, and
/// nothing is refunded again by itself (before: the `succeeded` record was
/// never replaced and nobody noticed).
#[tokio::test]
async fn a_refund_that_fails_after_it_succeeded_reopens_its_obligation_for_a_person() {
    let h = hooked(false, false).await;
    let (lost, kept) = (tomorrow_at("10:00"), in_days(2, "14:00"));
    let (id, intent, completed) = late_payment(&h, vec![lesson("t_one", &lost, 60), lesson("t_one", &kept, 30)], &[&lost]).await;
    control(&h, "refund_failures", json!({"when": "later", "failure_reason": "expired_or_canceled_card"})).await;
    assert_eq!(h.deliver(&completed).await.0, 200);
    let ledger = h.env.db.store.ledger(&intent).await.unwrap();
    assert_eq!(ledger.obligations[0].status, ObligationStatus::Succeeded, "Stripe first answered succeeded");

    // Stripe's later news, in the order it may come: failed, then a stale update.
    let failed = h.event("refund.failed", &intent).await;
    assert_eq!(h.deliver(&failed).await.0, 200);
    let stale = restated(&h.event("refund.created", &intent).await, "refund.updated", json!({"status": "succeeded"}));
    assert_eq!(h.deliver(&stale).await.0, 200);

    let ledger = h.env.db.store.ledger(&intent).await.unwrap();
    let obligation = &ledger.obligations[0];
    assert_eq!((obligation.status, obligation.error.as_deref()), (ObligationStatus::Failed, Some("expired_or_canceled_card")));
    assert_eq!(ledger.refunds.iter().map(|r| r.status.as_str()).collect::<Vec<_>>(), ["failed"]);
    assert_eq!(ledger.refunded(), 0, "the money is back in the platform balance");
    let attention = h.env.db.store.attention().await.unwrap();
    assert_eq!(attention.iter().map(|a| (a.kind, a.code.as_deref())).collect::<Vec<_>>(), [(AttentionKind::RefundFailed, Some("expired_or_canceled_card"))]);
    assert_eq!(h.checkout(&id).await.status, CheckoutStatus::PartiallyRefunded, "the status still says what was decided");

    let report = shared::reconcile::run(&h.env.event_handler_of("reconcile", shared::clock::Clock::System), Timestamp::now()).await;
    assert!(!report.failed(), "{report:?}");
    assert_eq!(h.refunds().await.len(), 1, "never re-issued by itself");
}

/// Stripe unreachable while the refund is due: the booking stands and gets
/// its room, the refund stays owed, Stripe is asked to redeliver, and the
/// scheduled sweep makes the refund once (before: nothing ever looked for
/// a refund that was not made).
#[tokio::test]
async fn a_refund_owed_while_stripe_is_down_is_made_once_by_the_sweep() {
    let h = hooked(false, false).await;
    let (lost, kept) = (tomorrow_at("10:00"), in_days(2, "14:00"));
    let (id, intent, completed) = late_payment(&h, vec![lesson("t_one", &lost, 60), lesson("t_one", &kept, 30)], &[&lost]).await;
    let faults = format!("{}_emulator/faults", h.env.stripe.base_url());
    reqwest::Client::new().post(&faults).json(&json!({"status": 500})).send().await.unwrap();

    let (status, body) = h.deliver(&completed).await;
    assert!(status >= 500, "Stripe must redeliver: {status} {body}");
    let checkout = h.checkout(&id).await;
    assert_eq!(checkout.status, CheckoutStatus::PartiallyRefunded);
    assert_eq!(h.until_room_ready(&checkout.lessons[1].booking_id).await.room_status, RoomStatus::Ready, "rooms are not held up by refunds");
    assert_eq!(h.env.db.store.open_obligations().await.unwrap().len(), 1);

    reqwest::Client::new().delete(&faults).send().await.unwrap();
    let report = shared::reconcile::run(&h.env.event_handler_of("reconcile", shared::clock::Clock::System), Timestamp::now()).await;
    assert_eq!((report.refunds.settled, report.failed()), (1, false), "{report:?}");
    assert!(h.env.db.store.open_obligations().await.unwrap().is_empty());
    let again = shared::reconcile::run(&h.env.event_handler_of("reconcile", shared::clock::Clock::System), Timestamp::now()).await;
    assert_eq!((again.refunds.settled, again.changes.len()), (0, 0), "{again:?}");
    assert_eq!(h.refunds().await.len(), 1);
    assert_eq!(h.env.db.store.ledger(&intent).await.unwrap().refunded(), 3000);
}

/// An obligation whose refund exists at Stripe under another idempotency
/// key (made more than 24 hours ago, when Stripe may have pruned the key,
/// and our record of it lost): the sweep finds it by its metadata and makes
/// no second refund.
#[tokio::test]
async fn a_refund_already_made_is_found_by_its_metadata_and_never_made_twice() {
    let h = hooked(false, false).await;
    let (lost, kept) = (tomorrow_at("10:00"), in_days(2, "14:00"));
    let (id, intent, completed) = late_payment(&h, vec![lesson("t_one", &lost, 60), lesson("t_one", &kept, 30)], &[&lost]).await;
    let faults = format!("{}_emulator/faults", h.env.stripe.base_url());
    reqwest::Client::new().post(&faults).json(&json!({"status": 500})).send().await.unwrap();
    assert!(h.deliver(&completed).await.0 >= 500);
    reqwest::Client::new().delete(&faults).send().await.unwrap();
    let owed = h.env.db.store.open_obligations().await.unwrap().remove(0);
    // Made days ago under a key Stripe has since forgotten.
    let made = reqwest::Client::new()
        .post(format!("{}v1/refunds", h.env.stripe.base_url()))
        .bearer_auth(tests::STRIPE_KEY)
        .form(&[("payment_intent", intent.as_str()), ("amount", "3000"), ("metadata[obligation_id]", owed.obligation_id.as_str())])
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success());

    let report = shared::reconcile::run(&h.env.event_handler_of("reconcile", shared::clock::Clock::System), Timestamp::now()).await;
    assert_eq!((report.refunds.settled, report.failed()), (1, false), "{report:?}");
    assert_eq!(h.refunds().await.len(), 1, "no second refund");
    let ledger = h.env.db.store.ledger(&intent).await.unwrap();
    assert_eq!(ledger.obligations[0].status, ObligationStatus::Succeeded);
    assert_eq!(ledger.refund_for(&owed.obligation_id).map(|r| r.amount), Some(3000));
    assert_eq!(h.checkout(&id).await.status, CheckoutStatus::PartiallyRefunded);
}

/// Stripe answers the refund's creation with a 500. Stripe keeps that
/// answer under the idempotency key and would replay it for 24 hours, so
/// the obligation stays owed (not failed: a 5xx is no refusal) and the
/// next try asks under a key of its own.
#[tokio::test]
async fn a_refund_stripe_fails_to_make_stays_owed_and_the_next_try_takes_a_new_key() {
    let h = hooked(false, false).await;
    let (lost, kept) = (tomorrow_at("10:00"), in_days(2, "14:00"));
    let (_, intent, completed) = late_payment(&h, vec![lesson("t_one", &lost, 60), lesson("t_one", &kept, 30)], &[&lost]).await;
    control(&h, "faults", json!({"status": 500, "count": 1, "method": "POST", "path": "/v1/refunds"})).await;

    assert!(h.deliver(&completed).await.0 >= 500, "Stripe must redeliver");
    let owed = h.env.db.store.open_obligations().await.unwrap();
    assert_eq!(owed.iter().map(|o| (o.status, o.attempt)).collect::<Vec<_>>(), [(ObligationStatus::Owed, 1)]);
    assert!(h.env.db.store.attention().await.unwrap().is_empty(), "a 5xx is no refusal");

    let report = shared::reconcile::run(&h.env.event_handler_of("reconcile", shared::clock::Clock::System), Timestamp::now()).await;
    assert_eq!((report.refunds.settled, report.failed()), (1, false), "{report:?}");
    assert_eq!(h.refunds().await.len(), 1);
    assert_eq!(h.env.db.store.ledger(&intent).await.unwrap().obligations[0].status, ObligationStatus::Succeeded);
}

/// The ledger cannot be read when the refunds are due: the delivery is
/// answered 5xx (Stripe redelivers) and the obligation, already durable,
/// is settled by the next try.
#[tokio::test]
async fn a_ledger_that_cannot_be_read_leaves_the_refund_owed_and_the_delivery_failed() {
    let h = hooked(false, true).await;
    let (lost, kept) = (tomorrow_at("10:00"), in_days(2, "14:00"));
    let (id, _, completed) = late_payment(&h, vec![lesson("t_one", &lost, 60), lesson("t_one", &kept, 30)], &[&lost]).await;
    // Every attempt the SDK makes at the first ledger read after booking.
    h.env.db.proxy().fail("Query", tests::dynamo_proxy::Fault::Fail, 3);

    let (status, body) = h.deliver(&completed).await;
    assert!(status >= 500, "Stripe must redeliver: {status} {body}");
    assert_eq!(h.checkout(&id).await.status, CheckoutStatus::PartiallyRefunded, "the booking stands");
    assert_eq!(h.env.db.store.open_obligations().await.unwrap().len(), 1);
    assert!(h.refunds().await.is_empty());

    assert_eq!(h.deliver(&restated(&completed, "checkout.session.completed", json!({}))).await.0, 200);
    assert_eq!(h.refunds().await.len(), 1);
    assert!(h.env.db.store.open_obligations().await.unwrap().is_empty());
}
