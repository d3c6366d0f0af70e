//! Cancellations and outcomes of lessons booked with credits: the credit
//! comes back where a paid lesson's money would in full; a late cancel
//! spends it and refunds the policy's part of its value; a reschedule keeps it.

use super::*;

#[tokio::test]
async fn a_free_cancel_and_a_teachers_cancel_give_the_credit_back_and_a_late_cancel_spends_it() {
    let s = shop(false).await;
    let grant = s.buy("s_1", "t_pack", 10).await;
    let bookings = s.book("s_1", (2..5).map(|d| lesson("t_pack", &day_at(d, "10:00"), 60)).collect()).await;

    // Free: more than 24 hours before.
    let (status, options) = {
        let change = s.h.env.change_booking_at(bookings[0].start - days(1) - SignedDuration::from_secs(1)).await;
        let event = FunctionUrlEvent::get("/").query("booking_id", bookings[0].booking_id.as_str()).header("authorization", &format!("Bearer {}", token_for("s_1")));
        json_of(&shared::http::into_response(change_booking::handle(&change, event.into_request()).await))
    };
    assert_eq!(status, 200, "{options}");
    assert_eq!((options["cancel"]["credit_back"].as_bool(), options["cancel"]["refund_amount"].as_u64()), (Some(true), Some(0)), "{options}");
    let (status, free) = s.cancel("s_1", Role::Student, &bookings[0], bookings[0].start - days(1) - SignedDuration::from_secs(1)).await;
    assert_eq!(status, 200, "{free}");
    assert_eq!(free["refund"]["amount"], 0);
    assert_eq!(s.grant(&grant).await.remaining(), 8, "the credit is back");

    // The teacher cancels an hour before: back too.
    let (status, teachers) = s.cancel("t_pack", Role::Teacher, &bookings[1], bookings[1].start - SignedDuration::from_hours(1)).await;
    assert_eq!(status, 200, "{teachers}");
    assert_eq!(s.grant(&grant).await.remaining(), 9);

    // Late: the credit is spent, half its value goes back as money, and the teacher earns the rest.
    let (status, late) = s.cancel("s_1", Role::Student, &bookings[2], bookings[2].start - SignedDuration::from_hours(2)).await;
    assert_eq!(status, 200, "{late}");
    assert_eq!(late["refund"]["amount"], 1350);
    let after = s.grant(&grant).await;
    assert_eq!(after.remaining(), 9, "spent");
    assert_eq!(after.history.iter().map(|e| e.what.as_str()).collect::<Vec<_>>(), ["granted", "used", "used", "used", "returned", "returned"]);
    assert_eq!(s.refunds_of(&grant.payment_intent).await, vec![(1350, format!("cancel-{}", bookings[2].booking_id))]);
    let ledger = s.h.env.db.store.ledger(&grant.payment_intent).await.unwrap();
    let earning = ledger.earnings.iter().find(|e| e.booking_id == bookings[2].booking_id).expect("the late cancel earns");
    assert_eq!(earning.basis, shared::store::Basis::LateCancel);
    let checkout = s.h.env.db.store.get_checkout(&grant.checkout_id).await.unwrap().unwrap();
    let worth = shared::payouts::worth::worth(&ledger, &checkout, &bookings[2].booking_id, shared::payouts::Percent::DEFAULT_COMMISSION).unwrap();
    assert_eq!((worth.kept, worth.earned), (1350, 1148), "the 1350 kept, less 15 % (rounded in the teacher's favour)");
    for b in &bookings[..2] {
        assert!(ledger.earnings.iter().all(|e| e.booking_id != b.booking_id), "a credit given back earns nothing");
    }
    // The freed credits book again.
    assert_eq!(s.book("s_1", vec![lesson("t_pack", &day_at(2, "10:00"), 60)]).await.len(), 1);
}

#[tokio::test]
async fn a_teacher_no_show_gives_the_credit_back_once_and_a_completed_lesson_earns_its_value() {
    let s = shop(false).await;
    let grant = s.buy("s_1", "t_pack", 10).await;
    let bookings = s.book("s_1", vec![lesson("t_pack", &day_at(1, "10:00"), 60), lesson("t_pack", &day_at(1, "12:00"), 60)]).await;
    let handler = s.h.env.event_handler_of("reconcile", Clock::System);
    let decide = |b: &Booking, outcome: &'static str| {
        let handler = &handler;
        let (id, when) = (b.booking_id.clone(), b.end + SignedDuration::from_mins(20));
        async move { shared::attendance::overrule(handler, &id, outcome, "test", when).await.unwrap() }
    };
    decide(&bookings[0], "teacher_no_show").await;
    assert_eq!(s.grant(&grant).await.remaining(), 9, "the credit is back, not money");
    assert!(s.refunds_of(&grant.payment_intent).await.is_empty());
    // Overruled to completed and back: given back once, never refunded as money.
    decide(&bookings[0], "completed").await;
    decide(&bookings[0], "teacher_no_show").await;
    assert_eq!(s.grant(&grant).await.remaining(), 9);
    assert!(s.refunds_of(&grant.payment_intent).await.is_empty());

    decide(&bookings[1], "completed").await;
    let ledger = s.h.env.db.store.ledger(&grant.payment_intent).await.unwrap();
    let checkout = s.h.env.db.store.get_checkout(&grant.checkout_id).await.unwrap().unwrap();
    let worth = |b: &Booking| shared::payouts::worth::worth(&ledger, &checkout, &b.booking_id, shared::payouts::Percent::DEFAULT_COMMISSION).unwrap();
    assert_eq!(worth(&bookings[1]).earned, 2295, "2700 less 15 %");
    assert_eq!(worth(&bookings[0]).earned, 0, "its credit came back");
}

#[tokio::test]
async fn a_reschedule_keeps_the_credit() {
    let s = shop(false).await;
    let grant = s.buy("s_1", "t_pack", 2).await;
    let bookings = s.book("s_1", vec![lesson("t_pack", &day_at(3, "10:00"), 60)]).await;
    let change = s.h.env.change_booking_at(Timestamp::now()).await;
    let body = json!({"booking_id": bookings[0].booking_id, "action": "reschedule", "start": day_at(4, "10:00")}).to_string();
    let event = FunctionUrlEvent::new("POST", "/").header("authorization", &format!("Bearer {}", token_for("s_1"))).body(&body);
    let (status, moved) = json_of(&shared::http::into_response(change_booking::handle(&change, event.into_request()).await));
    assert_eq!(status, 200, "{moved}");
    assert_eq!(s.grant(&grant).await.remaining(), 1);
    assert_eq!(s.booking(&bookings[0].booking_id).await.credit, bookings[0].credit);
}
