//! Reconciliation never stops for one bad item, and never releases a
//! checkout Stripe may have been paid for: on dynoxide with both emulators.

use aws_sdk_dynamodb::types::AttributeValue;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use shared::store::{CheckoutStatus, RoomStatus};
use tests::hooked::hooked;
use tests::{lesson, tomorrow_at};

/// A checkout item no code can read, listed in the reconciliation index as
/// stuck since `hold_until`: a poison item.
async fn poison(store: &shared::store::Store, hold_until: Timestamp) {
    let s = |v: String| AttributeValue::S(v);
    store
        .client()
        .put_item()
        .table_name(store.table())
        .item("pk", s("CHECKOUT#co_poison".into()))
        .item("sk", s("CHECKOUT".into()))
        .item("checkout_id", s("co_poison".into()))
        .item("status", s("awaiting_payment".into()))
        .item("gsi1pk", s(format!("UNSETTLED#{}", shared::store::utc_day(hold_until))))
        .item("gsi1sk", s(format!("{hold_until}#co_poison")))
        .send()
        .await
        .unwrap();
}

/// One unreadable checkout sorts first in the index. Before, it ended the
/// run there: the paid checkout behind it, the undelivered events and the
/// room repair were never reached, every 15 minutes, for 30 days.
#[tokio::test]
async fn one_poisoned_item_is_reported_and_everything_else_is_still_settled() {
    let h = hooked(false, false).await;
    // A booking whose room 100ms could not make.
    let (roomless, session) = h.buy("s_1", vec![lesson("t_one", &tomorrow_at("08:00"), 60)], "complete").await;
    let faults = format!("{}faults", h.env.hms.control_url());
    reqwest::Client::new().post(&faults).json(&json!({"status": 500})).send().await.unwrap();
    assert!(h.deliver(&h.event("checkout.session.completed", &session).await).await.0 >= 500);
    reqwest::Client::new().delete(&faults).send().await.unwrap();
    let booking = h.checkout(&roomless).await.booking_ids[0].clone();
    assert_eq!(h.booking(&booking).await.room_status, RoomStatus::Pending);
    // A paid checkout whose event never arrived, stuck behind the poison.
    let (stuck, _) = h.buy("s_2", vec![lesson("t_one", &tomorrow_at("12:00"), 60)], "complete").await;
    let hold_until = h.checkout(&stuck).await.hold_until;
    poison(&h.env.db.store, hold_until - SignedDuration::from_mins(1)).await;

    let report = shared::reconcile::run(&h.env.event_handler_of("reconcile", shared::clock::Clock::System), hold_until + SignedDuration::from_mins(1)).await;
    assert!(report.failed(), "the poison is still failing: {report:?}");
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert!(report.failures[0].starts_with("co_poison"), "{:?}", report.failures);
    assert_eq!((report.checkouts.settled, report.checkouts.still_failing), (1, 1), "{report:?}");
    assert_eq!(h.checkout(&stuck).await.status, CheckoutStatus::Confirmed);
    assert_eq!(h.booking(&booking).await.room_status, RoomStatus::Ready, "room repair ran");
    assert_eq!(report.rooms.settled, 1, "{report:?}");
}

/// The scheduled function reports a run with items still failing as an
/// error (Lambda's error metric), after settling everything else.
#[tokio::test]
async fn the_scheduled_function_fails_only_when_something_is_still_failing() {
    let h = hooked(false, false).await;
    let (stuck, _) = h.buy("s_1", vec![lesson("t_one", &tomorrow_at("12:00"), 60)], "complete").await;
    let later = h.checkout(&stuck).await.hold_until + SignedDuration::from_mins(1);
    poison(&h.env.db.store, later - SignedDuration::from_mins(5)).await;
    let failing = reconcile::handle(&h.env.event_handler_of("reconcile", shared::clock::Clock::System), &Default::default(), &Default::default(), later).await.expect_err("the poison is still failing");
    assert_eq!(failing.0.checkouts.settled, 1);
    assert!(failing.to_string().contains("co_poison"), "{failing}");
    assert_eq!(h.checkout(&stuck).await.status, CheckoutStatus::Confirmed);
}

/// A paid checkout whose session id was never recorded (the answer to its
/// creation was lost): reconciliation asks Stripe for the session again
/// under the same idempotency key and books it. Before, it released the
/// slot as `expired` and kept the money without a booking.
#[tokio::test]
async fn a_stuck_checkout_without_a_recorded_session_is_recovered_before_anything_is_released() {
    let h = hooked(false, false).await;
    let (id, _) = h.buy("s_1", vec![lesson("t_one", &tomorrow_at("10:00"), 60)], "complete").await;
    let store = &h.env.db.store;
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(format!("CHECKOUT#{id}")))
        .key("sk", AttributeValue::S("CHECKOUT".into()))
        .update_expression("REMOVE stripe_session_id, checkout_url")
        .send()
        .await
        .unwrap();
    assert_eq!(h.checkout(&id).await.stripe_session_id, None);

    let later = h.checkout(&id).await.hold_until + SignedDuration::from_mins(1);
    let report = shared::reconcile::run(&h.env.event_handler_of("reconcile", shared::clock::Clock::System), later).await;
    assert!(!report.failed(), "{report:?}");
    let checkout = h.checkout(&id).await;
    assert_eq!((checkout.status, checkout.booking_ids.len()), (CheckoutStatus::Confirmed, 1), "{report:?}");
    assert_eq!(h.refunds().await.len(), 0);
}
