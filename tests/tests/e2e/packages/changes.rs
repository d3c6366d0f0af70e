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

#[tokio::test]
async fn a_credit_lesson_keeps_the_policy_sold_with_the_package_and_the_mail_says_the_credit_is_back() {
    let s = shop(false).await;
    let grant = s.buy("s_1", "t_pack", 10).await;
    // The teacher changes their policy after the sale: nothing refunded on a late cancel, a week's notice.
    let mut doc = package_teacher("t_pack", "eur", 3000, 180).to_doc();
    doc.cancellation = Some(shared::domain::CancellationDoc { free_cancel_hours: Some(168), late_cancel_refund_percent: Some(0), ..Default::default() });
    s.h.env.db.store.put_profile(&shared::domain::TeacherProfile::try_from(doc).unwrap()).await.unwrap();
    let bookings = s.book("s_1", vec![lesson("t_pack", &day_at(3, "10:00"), 60), lesson("t_pack", &day_at(4, "10:00"), 60)]).await;
    assert_eq!((bookings[0].policy.free_cancel_hours, bookings[0].policy.late_cancel_refund_percent), (24, 50), "the package's policy");

    // Two days ahead: free under the package's 24 hours (not the 168 of today's profile).
    let (status, free) = s.cancel("s_1", Role::Student, &bookings[0], bookings[0].start - days(2)).await;
    assert_eq!((status, free["refund"]["amount"].as_u64()), (200, Some(0)), "{free}");
    assert_eq!(s.grant(&grant).await.remaining(), 9, "the credit is back");
    // Late: half its value, as sold.
    let (status, late) = s.cancel("s_1", Role::Student, &bookings[1], bookings[1].start - SignedDuration::from_hours(1)).await;
    assert_eq!((status, late["refund"]["amount"].as_u64()), (200, Some(1350)), "{late}");

    let ses = tests::mail::start_ses().await;
    // The cancellations were decided (and their notices due) up to two days ahead of now.
    let report = s.h.env.notifier(&ses).sweep(bookings[1].start).await;
    assert!(report.errors.is_empty() && report.sent > 0, "{report:?}");
    let mails = tests::mail::received(&ses).await;
    let cancelled = |id: &BookingId| mails.iter().find(|m| m.to == "s_1@example.com" && m.subject.starts_with("Lesson cancelled") && m.invites.iter().any(|i| i.uid.as_deref().is_some_and(|u| u.starts_with(id.as_str())))).cloned();
    let back = cancelled(&bookings[0].booking_id).unwrap_or_else(|| panic!("no cancellation mail: {:?}", mails.iter().map(|m| &m.subject).collect::<Vec<_>>()));
    assert!(back.text.contains("Your package credit is back"), "{}", back.text);
    let spent = cancelled(&bookings[1].booking_id).expect("the late cancel's mail");
    assert!(spent.text.contains("is refunded to the card you paid with"), "{}", spent.text);
}
