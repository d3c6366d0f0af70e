//! A grant's reminders and expiry, worked by reconcile's sweep: told 30
//! and 7 days before while credits are left, and at expiry what is left
//! earns the teacher; a credit expiring before a lesson cannot pay for it.

use tests::mail::{received, start_ses};

use super::*;

#[tokio::test]
async fn reminders_30_and_7_days_before_then_the_expiry_earns_the_teacher_what_was_left() {
    let s = shop(false).await;
    let grant = s.buy("s_1", "t_pack", 10).await;
    let bookings = s.book("s_1", vec![lesson("t_pack", &day_at(2, "10:00"), 60)]).await;
    let reconcile = s.h.env.event_handler_of("reconcile", Clock::System);
    shared::attendance::overrule(&reconcile, &bookings[0].booking_id, "completed", "test", bookings[0].end + SignedDuration::from_mins(20)).await.unwrap();
    let ses = start_ses().await;
    let notifier = s.h.env.notifier(&ses);

    let run = |at: Timestamp| {
        let reconcile = &reconcile;
        async move {
            let report = shared::reconcile::run(reconcile, at).await;
            assert!(report.failures.is_empty(), "{:?}", report.failures);
            report
        }
    };
    assert_eq!(run(grant.expires_at - days(30) - SignedDuration::from_secs(1)).await.credits.settled, 0, "nothing before its time");
    assert_eq!(run(grant.expires_at - days(30)).await.credits.settled, 1);
    assert_eq!(run(grant.expires_at - days(30) + SignedDuration::from_hours(1)).await.credits.settled, 0, "reminded once");
    notifier.sweep(grant.expires_at - days(30)).await;
    let mails = received(&ses).await;
    let reminder = mails.iter().find(|m| m.to == "s_1@example.com" && m.subject.contains("expire")).unwrap_or_else(|| panic!("{mails:?}"));
    assert!(reminder.text.contains("9 unused credits for 60-min lessons with Teacher t_pack"), "{}", reminder.text);

    assert_eq!(run(grant.expires_at - days(7)).await.credits.settled, 1);
    let notices = s.h.env.db.store.notices_of(&grant.grant_id).await.unwrap();
    assert_eq!(notices.iter().map(|n| n.sequence).collect::<std::collections::BTreeSet<_>>(), [7, 30].into(), "{notices:?}");

    let report = run(grant.expires_at).await;
    assert_eq!(report.credits.settled, 1, "{report:?}");
    let expired = s.grant(&grant).await;
    assert_eq!((expired.remaining(), expired.stage), (0, None));
    assert_eq!(expired.credits.iter().filter(|c| **c == shared::store::Credit::Expired).count(), 9);
    let ledger = s.h.env.db.store.ledger(&grant.payment_intent).await.unwrap();
    let earning = ledger.earnings.iter().find(|e| e.basis == shared::store::Basis::CreditsExpired).expect("the expiry earns");
    assert_eq!(earning.lesson_end, grant.expires_at);
    let checkout = s.h.env.db.store.get_checkout(&grant.checkout_id).await.unwrap().unwrap();
    let worth = shared::payouts::worth::worth(&ledger, &checkout, &earning.booking_id, shared::payouts::Percent::DEFAULT_COMMISSION).unwrap();
    assert_eq!((worth.kept, worth.earned), (9 * 2700, 9 * 2295), "each credit's value less 15 %");
    assert_eq!(run(grant.expires_at + days(1)).await.credits.settled, 0, "expired once");
    // The lesson booked before the expiry keeps its credit.
    assert!(expired.credit_of(&bookings[0].booking_id).is_some());
    let (_, listed) = s.credits("s_1", Role::Student, FunctionUrlEvent::get("/")).await;
    assert_eq!(listed["grants"][0]["status"], "expired", "{listed}");
}

#[tokio::test]
async fn a_credit_expiring_before_the_lesson_pays_for_it_neither_when_booked_nor_when_moved() {
    let s = shop(false).await;
    let grant = s.buy("s_1", "t_short", 2).await;
    assert_eq!(grant.stage, Some(shared::store::GrantStage::Remind7), "a 30-day grant is reminded a week before");
    let (status, refused) = s.book_at("s_1", vec![lesson("t_short", &day_at(31, "10:00"), 60)], None).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("insufficient_credits")), "{refused}");
    assert_eq!(refused["error"]["missing"][0]["available"], 0, "none of them lasts until the lesson");

    // Booked before the expiry, it cannot be moved past it: the credit would then pay for a lesson after it expired.
    let bookings = s.book("s_1", vec![lesson("t_short", &day_at(28, "10:00"), 60)]).await;
    let move_to = |start: String| {
        let body = json!({"booking_id": bookings[0].booking_id, "action": "reschedule", "start": start}).to_string();
        let s = &s;
        async move {
            let change = s.h.env.change_booking_at(Timestamp::now()).await;
            let event = FunctionUrlEvent::new("POST", "/").header("authorization", &format!("Bearer {}", token_for("s_1"))).body(&body);
            json_of(&shared::http::into_response(change_booking::handle(&change, event.into_request()).await))
        }
    };
    let (status, past) = move_to(day_at(35, "10:00")).await;
    assert_eq!((status, past["error"]["code"].as_str()), (409, Some("credit_expires_first")), "{past}");
    let (status, moved) = move_to(day_at(29, "10:00")).await;
    assert_eq!(status, 200, "before the expiry it moves: {moved}");
    assert_eq!(s.grant(&grant).await.remaining(), 1);
}

#[tokio::test]
async fn a_credit_that_cannot_go_back_to_its_grant_is_refunded_at_its_value() {
    let s = shop(false).await;
    let grant = s.buy("s_1", "t_pack", 2).await;
    let bookings = s.book("s_1", vec![lesson("t_pack", &day_at(5, "10:00"), 60)]).await;
    // The unused credit is refunded: the grant is closed.
    let ask = FunctionUrlEvent::new("POST", "/refund").body(&json!({"grant_id": grant.grant_id}).to_string());
    assert_eq!(s.credits("s_1", Role::Student, ask).await.0, 200);
    let change = s.h.env.change_booking_at(Timestamp::now()).await;
    let event = FunctionUrlEvent::get("/").query("booking_id", bookings[0].booking_id.as_str()).header("authorization", &format!("Bearer {}", token_as("t_pack", Role::Teacher)));
    let (_, options) = json_of(&shared::http::into_response(change_booking::handle(&change, event.into_request()).await));
    assert_eq!((options["cancel"]["credit_back"].as_bool(), options["cancel"]["refund_amount"].as_u64()), (Some(false), Some(3000)), "{options}");
    // The teacher cancels: the credit's value comes back as money.
    let (status, cancelled) = s.cancel("t_pack", Role::Teacher, &bookings[0], Timestamp::now()).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["refund"]["amount"], 3000, "the credit's value (no discount on a 2-pack)");
    let mut refunds: Vec<u64> = s.refunds_of(&grant.payment_intent).await.iter().map(|r| r.0).collect();
    refunds.sort_unstable();
    assert_eq!(refunds, vec![3000, 3000], "the unused credit, then the cancelled lesson's");
}
