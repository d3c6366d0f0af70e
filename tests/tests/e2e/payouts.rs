//! Teachers are paid: earnings written with outcomes and late
//! cancellations on dynoxide, transferred through the Stripe emulator's
//! Connect API after the hold, reversed after a later refund, waiting for
//! an account that cannot take them; the teacher onboards through
//! teacher-payouts, and the emulator's `account.updated` reaches
//! stripe-webhook's Connect endpoint over loopback, signed.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use shared::auth::Role;
use shared::clock::Clock;
use shared::domain::{BookingId, CheckoutId, TeacherId};
use shared::payments::{Payments, StripeConfig};
use shared::payouts::{PayoutConfig, PayoutReport, Payouts, Percent};
use shared::store::{Basis, WorkStatus, earning_key};
use shared::webhook::{EventHandler, WebhookSecrets, WebhookService};
use tests::serve::ServedFunction;
use tests::{CONNECT_WEBHOOK_SECRET, CheckoutEnv, FunctionUrlEvent, STRIPE_KEY, WEBHOOK_SECRET, json_of, lesson, token_as, token_for, tomorrow_at};

const HOLD: SignedDuration = SignedDuration::from_hours(72);

struct Payroll {
    env: CheckoutEnv,
    /// As reconcile runs it (outcomes, the payout sweep).
    handler: EventHandler,
    payments: Payments,
    config: PayoutConfig,
    teacher_payouts: teacher_payouts::App,
    /// stripe-webhook on loopback: the emulator delivers both endpoints' events to it.
    _webhook: ServedFunction,
}

/// A profile open all day in UTC whose 60-minute lesson costs `price`.
fn teacher(id: &str, currency: &str, price: u64, late_refund_percent: u32) -> shared::domain::TeacherProfile {
    let day = json!([["00:00", "24:00"]]);
    let doc = json!({
        "id": id, "name": format!("Teacher {id}"), "email": format!("{id}@teachers.test"), "timezone": "UTC",
        "weekly": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day},
        "overrides": {}, "currency": currency,
        "lessons": [{"duration_minutes": 60, "price": price}],
        "buffer_minutes": 0, "min_notice_minutes": 0, "horizon_days": 30, "slot_step_minutes": 10,
        "cancellation": {"free_cancel_hours": 24, "late_cancel_refund_percent": late_refund_percent}
    });
    shared::domain::TeacherProfile::from_json_str(&doc.to_string()).expect("valid test profile")
}

async fn payroll() -> Payroll {
    let env = CheckoutEnv::start().await;
    for profile in [teacher("t_pay", "eur", 3000, 50), teacher("t_yen", "jpy", 1001, 0), teacher("t_other", "eur", 2000, 0)] {
        env.db.store.put_profile(&profile).await.expect("seed teacher");
    }
    let service = Arc::new(WebhookService {
        events: env.event_handler_of("stripe-webhook", Clock::System),
        secrets: WebhookSecrets::new(vec![WEBHOOK_SECRET.into()]).unwrap(),
        connect_secrets: WebhookSecrets::new(vec![CONNECT_WEBHOOK_SECRET.into()]),
        clock: Clock::System,
    });
    let webhook = ServedFunction::start(move |req| {
        let service = service.clone();
        async move { shared::http::into_response(stripe_webhook::handle(&service, req).await) }
    })
    .await;
    env.stripe.set_webhook_url(Some(webhook.url()));
    let connect = reqwest::Client::new().post(format!("{}_emulator/connect_webhook", env.stripe.base_url())).json(&json!({"url": format!("{}connect", webhook.url())})).send().await.unwrap();
    assert!(connect.status().is_success(), "{}", connect.status());
    let stripe = StripeConfig { secret_key: STRIPE_KEY.into(), api_base: env.stripe.base_url(), timeout: std::time::Duration::from_secs(5) };
    let config = PayoutConfig { hold: HOLD, ..PayoutConfig::default() };
    let teacher_payouts = teacher_payouts::App {
        auth: tests::hs256_auth().await,
        payouts: shared::payouts::service::TeacherPayouts {
            store: env.db.store_of("teacher-payouts"),
            payments: Payments::new(&stripe).unwrap(),
            config,
            redirects: shared::checkout::RedirectPolicy::new(vec!["http://localhost:3000".into()]).unwrap(),
        },
        clock: Clock::System,
    };
    Payroll { handler: env.event_handler_of("reconcile", Clock::System), payments: Payments::new(&stripe).unwrap(), config, teacher_payouts, _webhook: webhook, env }
}

impl Payroll {
    async fn emulator(&self, path: &str) -> Value {
        reqwest::get(format!("{}_emulator/{path}", self.env.stripe.base_url())).await.unwrap().json().await.unwrap()
    }

    async fn control(&self, path: &str, body: Value) -> Value {
        let response = reqwest::Client::new().post(format!("{}_emulator/{path}", self.env.stripe.base_url())).json(&body).send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap_or(Value::Null)
    }

    async fn transfers(&self) -> Vec<Value> {
        self.emulator("transfers").await.as_array().cloned().unwrap_or_default()
    }

    /// teacher-payouts as the teacher (their login is their id).
    async fn call(&self, teacher: &str, event: FunctionUrlEvent) -> (u16, Value) {
        let event = event.header("authorization", &format!("Bearer {}", token_as(teacher, Role::Teacher)));
        json_of(&shared::http::into_response(teacher_payouts::handle(&self.teacher_payouts, event.into_request()).await))
    }

    async fn ledger(&self, teacher: &str) -> Value {
        let (status, body) = self.call(teacher, FunctionUrlEvent::get("/")).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Onboards `teacher` through teacher-payouts and the emulator's page;
    /// returns once `account.updated` reached us and was recorded.
    async fn onboard(&self, teacher: &str) -> String {
        let (status, link) = self.call(teacher, FunctionUrlEvent::new("POST", "/onboarding").body("{}")).await;
        assert_eq!(status, 200, "{link}");
        let account = link["account_id"].as_str().unwrap().to_owned();
        self.control(&format!("accounts/{account}/onboard"), json!({})).await;
        self.await_account(teacher, true).await;
        account
    }

    async fn await_account(&self, teacher: &str, active: bool) {
        let id = TeacherId::parse(teacher).unwrap();
        for _ in 0..300 {
            let stored = self.env.db.store.payout_account(&id).await.unwrap();
            if stored.is_some_and(|a| a.state.can_receive_transfers() == active) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("{teacher}'s account never became {}", if active { "active" } else { "restricted" });
    }

    async fn book(&self, student: &str, lessons: Vec<Value>) -> (CheckoutId, Vec<shared::store::Booking>) {
        let (checkout, ids) = self.env.paid_booking(student, lessons).await;
        let mut bookings = Vec::new();
        for id in ids {
            bookings.push(self.env.db.store.get_booking(&id).await.unwrap().unwrap());
        }
        (checkout, bookings)
    }

    async fn decide(&self, booking: &shared::store::Booking, outcome: &str) {
        shared::attendance::overrule(&self.handler, &booking.booking_id, outcome, "test", booking.end + SignedDuration::from_mins(20)).await.unwrap();
    }

    async fn sweep(&self, at: Timestamp) -> PayoutReport {
        let report = Payouts { store: &self.handler.store, payments: &self.payments, config: &self.config }.sweep(at).await;
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        report
    }

    async fn payment_intent(&self, checkout: &CheckoutId) -> String {
        self.env.db.store.get_checkout(checkout).await.unwrap().unwrap().payment_intent.unwrap()
    }

    async fn earning(&self, checkout: &CheckoutId, booking: &BookingId) -> shared::store::Earning {
        let pi = self.payment_intent(checkout).await;
        self.env.db.store.earning(&earning_key(&pi, booking)).await.unwrap().expect("an earning")
    }

    /// A refund made in Stripe's dashboard; returns once its events were handled.
    async fn dashboard_refund(&self, checkout: &CheckoutId, amount: u64) {
        let pi = self.payment_intent(checkout).await;
        self.control(&format!("payment_intents/{pi}/refund"), json!({"amount": amount})).await;
        for _ in 0..300 {
            if self.env.db.store.ledger(&pi).await.unwrap().refunded() >= amount {
                // The review runs in the same delivery, before its answer; give the
                // emulator's second event (charge.refunded) its turn too.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the refund never reached the ledger");
    }
}

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


impl Payroll {
    /// Waits until the payment's ledger holds a dispute of `status`.
    async fn dispute_recorded(&self, checkout: &CheckoutId, status: &str) {
        let pi = self.payment_intent(checkout).await;
        for _ in 0..300 {
            if self.env.db.store.ledger(&pi).await.unwrap().disputes.iter().any(|d| d.status == status) {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("no {status} dispute reached the ledger");
    }
}

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
    let charge = p.payments.charge_of(&pi).await.unwrap();
    let made = p
        .payments
        .transfer(&shared::payments::TransferRequest {
            amount: 2550,
            currency: bookings[0].currency,
            destination: &account,
            source_transaction: &charge,
            transfer_group: checkout.as_str(),
            metadata: std::collections::HashMap::from([("booking_id".to_owned(), bookings[0].booking_id.to_string())]),
            idempotency_key: &format!("transfer-{}", bookings[0].booking_id),
        })
        .await
        .unwrap();
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
    // Stripe answers 500 twice (its retry of the call included); it keeps a 5xx under its key.
    p.control("faults", json!({"status": 500, "count": 1, "method": "POST", "path": "/v1/transfers"})).await;
    let report = p.sweep(at).await;
    assert_eq!((report.transferred, report.retried), (0, 1), "{report:?}");
    assert!(p.earning(&checkout, &bookings[0].booking_id).await.error.is_some());
    let report = p.sweep(at + SignedDuration::from_hours(2)).await;
    assert_eq!(report.transferred, 1, "{report:?}");
    assert_eq!(p.transfers().await.len(), 1);
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
    let charge = p.payments.charge_of(&pi).await.unwrap();
    let request = shared::payments::TransferRequest {
        amount: 2550,
        currency: bookings[0].currency,
        destination: &account,
        source_transaction: &charge,
        transfer_group: checkout.as_str(),
        metadata: std::collections::HashMap::from([("booking_id".to_owned(), bookings[0].booking_id.to_string())]),
        idempotency_key: &format!("transfer-{}", bookings[0].booking_id),
    };
    p.payments.transfer(&request).await.unwrap();
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
