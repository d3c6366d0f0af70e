//! What lessons earn and when it goes out: the hold, each outcome, refunds
//! before and after the transfer, accrual, holds, several teachers, yen.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use shared::domain::TeacherId;
use shared::payouts::Percent;
use shared::store::{Basis, WorkStatus};
use tests::{FunctionUrlEvent, STRIPE_KEY, json_of, lesson, token_for, tomorrow_at};

use super::{HOLD, payroll};

#[tokio::test]
async fn a_completed_lesson_is_transferred_once_when_the_hold_ends_to_the_second() {
    let p = payroll().await;
    let account = p.onboard("t_pay").await;
    let (checkout, bookings) = p.book("s_1", vec![lesson("t_pay", &tomorrow_at("10:00"), 60)]).await;
    let booking = &bookings[0];
    p.decide(booking, "completed").await;
    let earning = p.earning(&checkout, &booking.booking_id).await;
    assert_eq!((earning.basis, earning.status), (Basis::Completed, WorkStatus::Owed));

    let pending = p.ledger("t_pay").await;
    assert_eq!(pending["earnings"][0]["status"], "pending", "{pending}");
    assert_eq!(pending["earnings"][0]["amount"], 2550, "{pending}");
    assert_eq!(pending["account"]["status"], "active");

    assert_eq!(p.sweep(booking.end + HOLD - SignedDuration::from_secs(1)).await.transferred, 0);
    assert!(p.transfers().await.is_empty(), "nothing before the hold ends");
    assert_eq!(p.sweep(booking.end + HOLD).await.transferred, 1);
    assert_eq!(p.sweep(booking.end + HOLD + SignedDuration::from_hours(1)).await.transferred, 0, "transferred once");

    let transfers = p.transfers().await;
    assert_eq!(transfers.len(), 1, "{transfers:?}");
    let pi = p.payment_intent(&checkout).await;
    let intent: Value = reqwest::Client::new().get(format!("{}v1/payment_intents/{pi}", p.env.stripe.base_url())).bearer_auth(STRIPE_KEY).send().await.unwrap().json().await.unwrap();
    let t = &transfers[0];
    assert_eq!((t["amount"].as_u64(), t["currency"].as_str(), t["destination"].as_str()), (Some(2550), Some("eur"), Some(account.as_str())));
    assert_eq!(t["transfer_group"], checkout.as_str());
    assert_eq!(t["source_transaction"], intent["latest_charge"], "from the lesson's charge");
    assert_eq!(t["metadata"]["booking_id"], booking.booking_id.as_str());

    let paid = p.ledger("t_pay").await;
    assert_eq!(paid["earnings"][0]["status"], "transferred", "{paid}");
    assert_eq!(paid["earnings"][0]["transfer_id"], t["id"]);
    assert_eq!(paid["totals"]["eur"]["transferred"], 2550);
}

#[tokio::test]
async fn each_outcome_and_a_late_cancellation_earn_what_was_kept_less_the_commission() {
    let p = payroll().await;
    p.onboard("t_pay").await;
    let (checkout, bookings) = p.book("s_2", ["08:00", "10:00", "12:00", "14:00"].iter().map(|at| lesson("t_pay", &tomorrow_at(at), 60)).collect()).await;
    p.decide(&bookings[0], "completed").await;
    p.decide(&bookings[1], "student_no_show").await;
    p.decide(&bookings[2], "teacher_no_show").await;
    // The student cancels the last one two hours before: the policy refunds half.
    let change = p.env.change_booking_at(bookings[3].start - SignedDuration::from_hours(2)).await;
    let body = json!({"booking_id": bookings[3].booking_id, "action": "cancel"}).to_string();
    let event = FunctionUrlEvent::new("POST", "/").header("authorization", &format!("Bearer {}", token_for("s_2"))).body(&body);
    let (status, cancelled) = json_of(&shared::http::into_response(change_booking::handle(&change, event.into_request()).await));
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["refund"]["amount"], 1500);
    assert_eq!(p.earning(&checkout, &bookings[3].booking_id).await.basis, Basis::LateCancel);

    let after = bookings[3].end + HOLD;
    let report = p.sweep(after).await;
    assert_eq!((report.transferred, report.skipped), (3, 1), "{report:?}");
    let mut amounts: Vec<(String, u64)> = p.transfers().await.iter().map(|t| (t["metadata"]["booking_id"].as_str().unwrap().to_owned(), t["amount"].as_u64().unwrap())).collect();
    amounts.sort();
    let mut expected = vec![(bookings[0].booking_id.to_string(), 2550), (bookings[1].booking_id.to_string(), 2550), (bookings[3].booking_id.to_string(), 1275)];
    expected.sort();
    assert_eq!(amounts, expected, "the teacher's no-show earns nothing; the late cancel earns 85 % of the 1500 kept");
    assert_eq!(p.earning(&checkout, &bookings[2].booking_id).await.status, WorkStatus::Skipped);
}

#[tokio::test]
async fn a_refund_inside_the_hold_reduces_the_transfer_and_a_full_one_cancels_it() {
    let p = payroll().await;
    p.onboard("t_pay").await;
    let (partly, partly_bookings) = p.book("s_3", vec![lesson("t_pay", &tomorrow_at("09:00"), 60)]).await;
    let (fully, fully_bookings) = p.book("s_4", vec![lesson("t_pay", &tomorrow_at("11:00"), 60)]).await;
    p.decide(&partly_bookings[0], "completed").await;
    p.decide(&fully_bookings[0], "completed").await;
    p.dashboard_refund(&partly, 1000).await;
    p.dashboard_refund(&fully, 3000).await;
    let report = p.sweep(fully_bookings[0].end + HOLD).await;
    assert_eq!((report.transferred, report.skipped), (1, 1), "{report:?}");
    let transfers = p.transfers().await;
    assert_eq!(transfers.len(), 1);
    assert_eq!(transfers[0]["amount"], 1700, "85 % of the 2000 kept");
    assert_eq!(transfers[0]["metadata"]["booking_id"], partly_bookings[0].booking_id.as_str());
}

#[tokio::test]
async fn a_refund_after_the_transfer_is_reversed_and_a_refused_reversal_is_a_recorded_loss() {
    let p = payroll().await;
    let account = p.onboard("t_pay").await;
    let (reversed, a) = p.book("s_5", vec![lesson("t_pay", &tomorrow_at("09:00"), 60)]).await;
    let (refused, b) = p.book("s_6", vec![lesson("t_pay", &tomorrow_at("11:00"), 60)]).await;
    p.decide(&a[0], "completed").await;
    p.decide(&b[0], "completed").await;
    let after = b[0].end + HOLD;
    assert_eq!(p.sweep(after).await.transferred, 2);

    // Half of the first lesson goes back: the teacher's share of it is taken back.
    p.dashboard_refund(&reversed, 1500).await;
    let report = p.sweep(after).await;
    assert_eq!(report.reversed, 1, "{report:?}");
    let transfer = p.transfers().await.into_iter().find(|t| t["metadata"]["booking_id"] == a[0].booking_id.as_str()).unwrap();
    assert_eq!(transfer["amount_reversed"], 1275, "{transfer}");
    let ledger = p.ledger("t_pay").await;
    let line = ledger["earnings"].as_array().unwrap().iter().find(|e| e["booking_id"] == a[0].booking_id.as_str()).unwrap().clone();
    assert_eq!(line["reversed"], 1275, "{line}");

    // The teacher's balance is paid out to their bank; then the second lesson is refunded in full.
    p.control(&format!("accounts/{account}/payout"), json!({"fail": false})).await;
    p.dashboard_refund(&refused, 3000).await;
    let report = p.sweep(after).await;
    assert_eq!(report.failed, 1, "{report:?}");
    let pi = p.payment_intent(&refused).await;
    let ledger = p.env.db.store.ledger(&pi).await.unwrap();
    assert_eq!(ledger.reversals.len(), 1);
    assert!(ledger.reversals[0].is_loss(), "{:?}", ledger.reversals[0]);
    assert_eq!(ledger.reversals[0].amount, 2550);
    let attention = p.env.db.store.attention().await.unwrap();
    assert!(attention.iter().any(|r| r.kind == shared::store::AttentionKind::ReversalRefused), "{attention:?}");
    // Never retried: the next sweep finds nothing to do.
    let again = p.sweep(after + SignedDuration::from_hours(2)).await;
    assert_eq!((again.reversed, again.failed, again.due), (0, 0, 0), "{again:?}");
}

#[tokio::test]
async fn concurrent_sweeps_transfer_once() {
    let p = payroll().await;
    p.onboard("t_pay").await;
    let (_, bookings) = p.book("s_7", vec![lesson("t_pay", &tomorrow_at("09:00"), 60), lesson("t_pay", &tomorrow_at("11:00"), 60)]).await;
    for booking in &bookings {
        p.decide(booking, "completed").await;
    }
    let at = bookings[1].end + HOLD;
    let (one, two, three) = tokio::join!(p.sweep(at), p.sweep(at), p.sweep(at));
    assert_eq!(one.transferred + two.transferred + three.transferred, 2);
    assert_eq!(p.transfers().await.len(), 2);
}

#[tokio::test]
async fn earnings_accrue_until_the_teacher_onboards_and_wait_while_the_account_is_restricted() {
    let p = payroll().await;
    let (checkout, bookings) = p.book("s_8", vec![lesson("t_pay", &tomorrow_at("09:00"), 60)]).await;
    p.decide(&bookings[0], "completed").await;
    let at = bookings[0].end + HOLD;
    let report = p.sweep(at).await;
    assert_eq!((report.transferred, report.waiting), (0, 1), "{report:?}");
    let waiting = p.earning(&checkout, &bookings[0].booking_id).await;
    assert_eq!(waiting.waiting.as_deref(), Some("the teacher has not set up payouts"));
    assert_eq!(p.ledger("t_pay").await["account"]["status"], "not_started");

    // Onboarding makes the account; account.updated (Connect endpoint) makes the earning due at once.
    let account = p.onboard("t_pay").await;
    assert_eq!(p.sweep(Timestamp::now().max(at)).await.transferred, 1);
    assert_eq!(p.transfers().await[0]["destination"], account.as_str());

    // Restricted: the next earning waits, nothing is lost; lifted, it goes out.
    let (_, later) = p.book("s_8", vec![lesson("t_pay", &tomorrow_at("13:00"), 60)]).await;
    p.decide(&later[0], "completed").await;
    p.control(&format!("accounts/{account}/restrict"), json!({"restricted": true})).await;
    p.await_account("t_pay", false).await;
    assert_eq!(p.ledger("t_pay").await["account"]["status"], "restricted");
    let report = p.sweep(later[0].end + HOLD).await;
    assert_eq!((report.transferred, report.waiting), (0, 1), "{report:?}");
    p.control(&format!("accounts/{account}/restrict"), json!({"restricted": false})).await;
    p.await_account("t_pay", true).await;
    assert_eq!(p.sweep(Timestamp::now().max(later[0].end + HOLD)).await.transferred, 1);
    assert_eq!(p.transfers().await.len(), 2);
}

#[tokio::test]
async fn a_transfer_hold_stops_a_teacher_and_lifting_it_pays_what_was_due() {
    let p = payroll().await;
    p.onboard("t_pay").await;
    let teacher = TeacherId::parse("t_pay").unwrap();
    p.env.db.store.set_transfer_hold(&teacher, true, "test", Timestamp::now()).await.unwrap();
    let (_, bookings) = p.book("s_9", vec![lesson("t_pay", &tomorrow_at("09:00"), 60)]).await;
    p.decide(&bookings[0], "completed").await;
    let at = bookings[0].end + HOLD;
    assert_eq!(p.sweep(at).await.waiting, 1);
    assert!(p.transfers().await.is_empty());
    p.env.db.store.set_transfer_hold(&teacher, false, "test", Timestamp::now()).await.unwrap();
    assert_eq!(shared::payouts::accounts::wake(&p.env.db.store, &teacher, Timestamp::now()).await.unwrap(), 1);
    assert_eq!(p.sweep(Timestamp::now().max(at)).await.transferred, 1);
}

#[tokio::test]
async fn a_checkout_of_two_teachers_pays_each_their_share_under_one_transfer_group() {
    let p = payroll().await;
    let pay = p.onboard("t_pay").await;
    let other = p.onboard("t_other").await;
    let (checkout, bookings) = p.book("s_10", vec![lesson("t_pay", &tomorrow_at("09:00"), 60), lesson("t_other", &tomorrow_at("09:00"), 60)]).await;
    for booking in &bookings {
        p.decide(booking, "completed").await;
    }
    assert_eq!(p.sweep(bookings[1].end + HOLD).await.transferred, 2);
    let mut paid: Vec<(String, u64, String)> = p.transfers().await.iter().map(|t| (t["destination"].as_str().unwrap().to_owned(), t["amount"].as_u64().unwrap(), t["transfer_group"].as_str().unwrap().to_owned())).collect();
    paid.sort();
    let mut expected = vec![(pay, 2550, checkout.to_string()), (other, 1700, checkout.to_string())];
    expected.sort();
    assert_eq!(paid, expected);
}

#[tokio::test]
async fn a_currency_without_minor_units_rounds_the_commission_in_the_teachers_favour() {
    let p = payroll().await;
    p.onboard("t_yen").await;
    let (_, bookings) = p.book("s_11", vec![lesson("t_yen", &tomorrow_at("09:00"), 60)]).await;
    p.decide(&bookings[0], "completed").await;
    assert_eq!(p.sweep(bookings[0].end + HOLD).await.transferred, 1);
    let t = &p.transfers().await[0];
    // 15 % of 1001 yen is 150.15: the platform keeps 150, the teacher gets 851.
    assert_eq!((t["amount"].as_u64(), t["currency"].as_str()), (Some(851), Some("jpy")), "{t}");
}

#[tokio::test]
async fn an_admins_commission_applies_and_the_onboarding_endpoint_refuses_bad_input() {
    let p = payroll().await;
    p.onboard("t_pay").await;
    let teacher = TeacherId::parse("t_pay").unwrap();
    p.env.db.store.set_commission(&teacher, Percent::new(40), Timestamp::now()).await.unwrap();
    let (_, bookings) = p.book("s_12", vec![lesson("t_pay", &tomorrow_at("09:00"), 60)]).await;
    p.decide(&bookings[0], "completed").await;
    p.sweep(bookings[0].end + HOLD).await;
    assert_eq!(p.transfers().await[0]["amount"], 1800);

    for (body, field) in [(r#"{"country": "USA"}"#, "country"), (r#"{"return_url": "https://evil.example/"}"#, "return_url"), (r#"{"nope": 1}"#, "body"), ("[", "body")] {
        let (status, answer) = p.call("t_pay", FunctionUrlEvent::new("POST", "/onboarding").body(body)).await;
        assert_eq!((status, answer["error"]["field"].as_str()), (400, Some(field)), "{body}: {answer}");
    }
    let (status, _) = p.call("t_pay", FunctionUrlEvent::get("/onboarding")).await;
    assert_eq!(status, 405);
    let (status, answer) = p.call("t_pay", FunctionUrlEvent::get("/").query("limit", "0")).await;
    assert_eq!(status, 400, "{answer}");
    let student = FunctionUrlEvent::get("/").header("authorization", &format!("Bearer {}", token_for("s_12")));
    let (status, _) = json_of(&shared::http::into_response(teacher_payouts::handle(&p.teacher_payouts, student.into_request()).await));
    assert_eq!(status, 403, "a student has no payouts");
    // A second onboarding keeps the account and mints a new link.
    let (_, first) = p.call("t_pay", FunctionUrlEvent::new("POST", "/onboarding").body("")).await;
    let (_, second) = p.call("t_pay", FunctionUrlEvent::new("POST", "/onboarding").body("")).await;
    assert_eq!(first["account_id"], second["account_id"]);
    assert_ne!(first["url"], second["url"]);
}
