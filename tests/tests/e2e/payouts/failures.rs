//! When things go wrong: workers that die, Stripe failing or refusing,
//! chargebacks, refunds racing a transfer, misrouted Connect events; and
//! the teacher told of a transfer.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use shared::store::{WorkStatus, earning_key};
use tests::{CONNECT_WEBHOOK_SECRET, WEBHOOK_SECRET, lesson, tomorrow_at};

use super::{HOLD, payroll};

#[tokio::test]
async fn a_transfer_made_by_a_worker_that_died_before_recording_it_is_read_back_not_made_again() {
    let p = payroll().await;
    let account = p.onboard("t_pay").await;
    let (checkout, bookings) = p.book("s_13", vec![lesson("t_pay", &tomorrow_at("09:00"), 60), lesson("t_pay", &tomorrow_at("11:00"), 60)]).await;
    for booking in &bookings {
        p.decide(booking, "completed").await;
    }
    let at = bookings[1].end + HOLD;
    let pi = p.payment_intent(&checkout).await;
    // Both earnings are claimed by a worker that then dies: the first after
    // Stripe made its transfer (the answer never recorded), the second before calling.
    for booking in &bookings {
        let claimed = p.env.db.store.claim_work(&earning_key(&pi, &booking.booking_id), at, at + SignedDuration::from_secs(60)).await.unwrap();
        assert!(claimed.is_some());
    }
    let made = p.transfer_as_a_worker(&checkout, &bookings[0], &account, 2550).await;
    assert_eq!(p.sweep(at + SignedDuration::from_secs(30)).await.not_claimed, 2, "leased to the dead worker");
    let report = p.sweep(at + SignedDuration::from_secs(61)).await;
    assert_eq!(report.transferred, 2, "{report:?}");
    let transfers = p.transfers().await;
    assert_eq!(transfers.len(), 2, "one per lesson: {transfers:?}");
    assert_eq!(p.earning(&checkout, &bookings[0].booking_id).await.provider_id.as_deref(), Some(made.id.as_str()), "the transfer Stripe had made");
}

#[tokio::test]
async fn a_chargeback_holds_earnings_while_open_reverses_them_when_lost_and_a_win_lets_them_go() {
    let p = payroll().await;
    p.onboard("t_pay").await;
    let (held, a) = p.book("s_14", vec![lesson("t_pay", &tomorrow_at("09:00"), 60)]).await;
    let (taken, b) = p.book("s_15", vec![lesson("t_pay", &tomorrow_at("11:00"), 60)]).await;
    p.decide(&a[0], "completed").await;
    p.decide(&b[0], "completed").await;
    // The second lesson is paid out; then both payments are charged back.
    let pi_b = p.payment_intent(&taken).await;
    let at = b[0].end + HOLD;
    assert!(p.env.db.store.claim_work(&earning_key(&p.payment_intent(&held).await, &a[0].booking_id), at, at + SignedDuration::from_secs(1)).await.unwrap().is_some());
    assert_eq!(p.sweep(at).await.transferred, 1, "the first is leased away for a second");
    let pi_a = p.payment_intent(&held).await;
    let open_a = p.control("disputes", json!({"payment_intent": pi_a})).await;
    let open_b = p.control("disputes", json!({"payment_intent": pi_b})).await;
    p.dispute_recorded(&held, "needs_response").await;
    p.dispute_recorded(&taken, "needs_response").await;

    let report = p.sweep(at + SignedDuration::from_secs(2)).await;
    assert_eq!((report.transferred, report.waiting, report.reversed), (0, 1, 0), "held while open, nothing reversed yet: {report:?}");
    assert_eq!(p.earning(&held, &a[0].booking_id).await.waiting.as_deref(), Some("a chargeback of the payment is open"));

    p.control(&format!("disputes/{}/close", open_b["id"].as_str().unwrap()), json!({"status": "lost"})).await;
    p.dispute_recorded(&taken, "lost").await;
    let report = p.sweep(at + SignedDuration::from_secs(3)).await;
    assert_eq!(report.reversed, 1, "the lost chargeback takes the transfer back: {report:?}");
    let ledger = p.env.db.store.ledger(&pi_b).await.unwrap();
    assert_eq!((ledger.reversals.len(), ledger.reversals[0].amount, ledger.reversals[0].status), (1, 2550, WorkStatus::Done));

    p.control(&format!("disputes/{}/close", open_a["id"].as_str().unwrap()), json!({"status": "won"})).await;
    p.dispute_recorded(&held, "won").await;
    let report = p.sweep(at + SignedDuration::from_hours(25)).await;
    assert_eq!(report.transferred, 1, "won: the held earning goes out: {report:?}");
    assert_eq!(p.transfers().await.iter().filter(|t| t["metadata"]["booking_id"] == a[0].booking_id.as_str()).count(), 1);
}

#[tokio::test]
async fn the_connect_endpoint_takes_only_connected_accounts_events_signed_with_its_own_secret() {
    let p = payroll().await;
    let url = format!("{}connect", p._webhook.url());
    let post = |body: String, secret: &'static str| {
        let url = url.clone();
        async move {
            let t = Timestamp::now().as_second();
            let signature = emulators::stripe::signature_header(secret, t, body.as_bytes());
            let response = reqwest::Client::new().post(url).header("stripe-signature", signature).body(body).send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    let platform_event = json!({"id": "evt_p", "type": "account.updated", "livemode": false, "data": {"object": {"id": "acct_x"}}}).to_string();
    let connect_event = json!({"id": "evt_c", "type": "account.updated", "livemode": false, "account": "acct_unknown", "data": {"object": {"id": "acct_unknown"}}}).to_string();
    assert_eq!(post(connect_event.clone(), WEBHOOK_SECRET).await.0, 400, "the platform endpoint's secret does not sign Connect events");
    let (status, ack) = post(platform_event, CONNECT_WEBHOOK_SECRET).await;
    assert_eq!((status, ack["outcome"].as_str()), (200, Some("ignored_wrong_endpoint")));
    let (status, ack) = post(connect_event, CONNECT_WEBHOOK_SECRET).await;
    assert_eq!((status, ack["outcome"].as_str()), (200, Some("account_not_accessible")), "an account Stripe will not show us: a resend would change nothing");
}

#[tokio::test]
async fn a_stripe_failure_is_retried_under_a_new_key_after_reading_back_and_pays_once() {
    let p = payroll().await;
    p.onboard("t_pay").await;
    let (checkout, bookings) = p.book("s_16", vec![lesson("t_pay", &tomorrow_at("09:00"), 60)]).await;
    p.decide(&bookings[0], "completed").await;
    let at = bookings[0].end + HOLD;
    // Stripe answers one 500, and keeps it under the call's key.
    p.control("faults", json!({"status": 500, "count": 1, "method": "POST", "path": "/v1/transfers"})).await;
    let report = p.sweep(at).await;
    assert_eq!((report.transferred, report.retried), (0, 1), "{report:?}");
    assert!(p.earning(&checkout, &bookings[0].booking_id).await.error.is_some());
    let report = p.sweep(at + SignedDuration::from_hours(2)).await;
    assert_eq!(report.transferred, 1, "{report:?}");
    assert_eq!(p.transfers().await.len(), 1);
    p.asked_again_after_reading_back(&checkout, &bookings[0].booking_id).await;
}

#[tokio::test]
async fn an_overrule_to_a_teachers_no_show_after_the_transfer_reverses_it() {
    let p = payroll().await;
    p.onboard("t_pay").await;
    let (checkout, bookings) = p.book("s_17", vec![lesson("t_pay", &tomorrow_at("09:00"), 60)]).await;
    p.decide(&bookings[0], "completed").await;
    let at = bookings[0].end + HOLD;
    assert_eq!(p.sweep(at).await.transferred, 1);
    shared::attendance::overrule(&p.handler, &bookings[0].booking_id, "teacher_no_show", "test", at).await.unwrap();
    let pi = p.payment_intent(&checkout).await;
    let owed = p.env.db.store.ledger(&pi).await.unwrap().reversals;
    assert_eq!(owed.iter().map(|r| r.amount).sum::<u64>(), 2550, "{owed:?}");
    assert_eq!(p.sweep(at + SignedDuration::from_mins(1)).await.reversed, 1);
    assert_eq!(p.transfers().await[0]["amount_reversed"], 2550);
}

#[tokio::test]
async fn a_transfer_is_told_to_its_teacher_by_mail_with_the_amount_written_with_it() {
    let p = payroll().await;
    p.onboard("t_pay").await;
    let (_, bookings) = p.book("s_18", vec![lesson("t_pay", &tomorrow_at("09:00"), 60)]).await;
    p.decide(&bookings[0], "completed").await;
    let at = bookings[0].end + HOLD;
    assert_eq!(p.sweep(at).await.transferred, 1);
    let transfer = p.transfers().await[0]["id"].as_str().unwrap().to_owned();
    let notices = p.env.db.store.notices_of(bookings[0].booking_id.as_str()).await.unwrap();
    let told: Vec<(&str, String)> = notices.iter().filter(|n| n.topic == shared::store::Topic::Transferred).map(|n| (n.topic.as_str(), format!("{:?}", n.recipient))).collect();
    assert_eq!(told.len(), 2, "the teacher and the webhooks: {told:?}");

    let ses = tests::mail::start_ses().await;
    let sent = p.env.notifier(&ses).sweep(at).await;
    assert!(sent.errors.is_empty(), "{:?}", sent.errors);
    let mails = tests::mail::received(&ses).await;
    let paid: Vec<_> = mails.iter().filter(|m| m.to.contains("t_pay@teachers.test") && m.subject.starts_with("You were paid")).collect();
    assert_eq!(paid.len(), 1, "{:?}", mails.iter().map(|m| (&m.to, &m.subject)).collect::<Vec<_>>());
    assert_eq!(paid[0].subject, "You were paid EUR 25.50");
    assert!(paid[0].text.contains(&transfer) && paid[0].text.contains("with Student s_18"), "{}", paid[0].text);
}

#[tokio::test]
async fn a_refund_recorded_while_the_transfer_was_in_flight_is_reversed_once_the_transfer_is_recorded() {
    let p = payroll().await;
    let account = p.onboard("t_pay").await;
    let (checkout, bookings) = p.book("s_19", vec![lesson("t_pay", &tomorrow_at("09:00"), 60)]).await;
    p.decide(&bookings[0], "completed").await;
    let at = bookings[0].end + HOLD;
    let pi = p.payment_intent(&checkout).await;
    // A worker claims the earning and Stripe makes the transfer; before the
    // worker records it, half the lesson is refunded (its review sees the
    // earning in flight); the worker dies.
    assert!(p.env.db.store.claim_work(&earning_key(&pi, &bookings[0].booking_id), at, at + SignedDuration::from_secs(60)).await.unwrap().is_some());
    p.transfer_as_a_worker(&checkout, &bookings[0], &account, 2550).await;
    p.dashboard_refund(&checkout, 1500).await;
    assert!(p.env.db.store.ledger(&pi).await.unwrap().reversals.is_empty(), "the review saw no transfer yet");
    // The next sweep reads the transfer back, records it, and reviews: a reversal of the teacher's share of the refund.
    let report = p.sweep(at + SignedDuration::from_secs(61)).await;
    assert_eq!(report.transferred, 1, "{report:?}");
    assert_eq!(p.env.db.store.ledger(&pi).await.unwrap().reversals.iter().map(|r| r.amount).collect::<Vec<_>>(), [1275]);
    assert_eq!(p.sweep(at + SignedDuration::from_secs(62)).await.reversed, 1);
    assert_eq!(p.transfers().await[0]["amount_reversed"], 1275);
}

#[tokio::test]
async fn a_transfer_refused_for_an_account_restricted_unheard_is_read_back_then_asked_again_under_a_new_key() {
    let p = payroll().await;
    let account = p.onboard("t_pay").await;
    let (checkout, bookings) = p.book("s_20", vec![lesson("t_pay", &tomorrow_at("09:00"), 60)]).await;
    p.decide(&bookings[0], "completed").await;
    let at = bookings[0].end + HOLD;
    // Stripe restricts the account, and its account.updated does not reach us.
    p.control("connect_webhook", json!({"url": null})).await;
    p.control(&format!("accounts/{account}/restrict"), json!({"restricted": true})).await;
    let report = p.sweep(at).await;
    assert_eq!((report.transferred, report.waiting, report.failed), (0, 1, 0), "refused, and the account read back says why: it waits: {report:?}");
    let waiting = p.earning(&checkout, &bookings[0].booking_id).await;
    assert_eq!(waiting.waiting.as_deref(), Some("Stripe cannot pay the teacher yet"));
    assert_eq!(p.ledger("t_pay").await["account"]["status"], "restricted", "the state Stripe gave is recorded");
    // Lifted; the teacher's earnings wake as account.updated would make them.
    p.control(&format!("accounts/{account}/restrict"), json!({"restricted": false})).await;
    assert_eq!(shared::payouts::accounts::account_updated(&p.env.db.store, &p.payments, &account, Timestamp::now()).await.unwrap(), "account_updated");
    let report = p.sweep(Timestamp::now().max(at + SignedDuration::from_secs(1))).await;
    assert_eq!((report.transferred, report.failed), (1, 0), "{report:?}");
    assert_eq!(p.transfers().await.len(), 1);
    p.asked_again_after_reading_back(&checkout, &bookings[0].booking_id).await;
}

#[tokio::test]
async fn a_transfer_stripe_refuses_for_good_is_failed_with_attention_until_an_operator_makes_it_due_again() {
    let p = payroll().await;
    p.onboard("t_pay").await;
    let (checkout, bookings) = p.book("s_21", vec![lesson("t_pay", &tomorrow_at("09:00"), 60)]).await;
    p.decide(&bookings[0], "completed").await;
    let at = bookings[0].end + HOLD;
    p.control("faults", json!({"status": 400, "count": 1, "method": "POST", "path": "/v1/transfers"})).await;
    assert_eq!(p.sweep(at).await.failed, 1);
    let attention = p.env.db.store.attention().await.unwrap();
    assert!(attention.iter().any(|r| r.kind == shared::store::AttentionKind::TransferRefused), "{attention:?}");
    assert_eq!(p.sweep(at + SignedDuration::from_hours(48)).await.due, 0, "never retried by itself");
    let key = earning_key(&p.payment_intent(&checkout).await, &bookings[0].booking_id);
    assert!(p.env.db.store.requeue_earning(&key, at + SignedDuration::from_hours(48)).await.unwrap());
    assert!(!p.env.db.store.requeue_earning(&key, at + SignedDuration::from_hours(48)).await.unwrap(), "only a failed one");
    assert_eq!(p.sweep(at + SignedDuration::from_hours(48)).await.transferred, 1);
    assert_eq!(p.transfers().await.len(), 1);
}
