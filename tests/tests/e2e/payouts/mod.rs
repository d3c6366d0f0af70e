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
use shared::payouts::{PayoutConfig, PayoutReport, Payouts};
use shared::store::earning_key;
use shared::webhook::{EventHandler, WebhookSecrets, WebhookService};
use tests::serve::ServedFunction;
use tests::{CONNECT_WEBHOOK_SECRET, CheckoutEnv, FunctionUrlEvent, STRIPE_KEY, WEBHOOK_SECRET, json_of, token_as};

const HOLD: SignedDuration = SignedDuration::from_hours(72);

mod earning;
mod failures;

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

    /// The transfer calls Stripe received, in order: (method, idempotency
    /// key, transfer_group of a listing).
    async fn transfer_calls(&self) -> Vec<(String, Option<String>, Option<String>)> {
        let all = self.emulator("requests").await;
        all.as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["path"].as_str().is_some_and(|p| p.starts_with("/v1/transfers")))
            .map(|r| (r["method"].as_str().unwrap_or_default().to_owned(), r["idempotency_key"].as_str().map(str::to_owned), r["params"]["transfer_group"].as_str().map(str::to_owned)))
            .collect()
    }

    /// That the calls were: a transfer under `transfer-<booking>`, a listing
    /// of the checkout's transfers (the read-back), a transfer under a new key.
    async fn asked_again_after_reading_back(&self, checkout: &CheckoutId, booking: &BookingId) {
        let calls = self.transfer_calls().await;
        let first = format!("transfer-{booking}");
        let posts: Vec<&str> = calls.iter().filter(|(m, _, _)| m == "POST").filter_map(|(_, k, _)| k.as_deref()).collect();
        assert_eq!(posts.first(), Some(&first.as_str()), "{calls:?}");
        let again = posts.last().copied().unwrap_or_default();
        assert!(again.starts_with(&format!("{first}-")), "asked again under a new key: {calls:?}");
        let read_back = calls.iter().position(|(m, _, g)| m == "GET" && g.as_deref() == Some(checkout.as_str()));
        let asked = calls.iter().rposition(|(m, k, _)| m == "POST" && k.as_deref() == Some(again));
        assert!(read_back.is_some_and(|r| asked.is_some_and(|a| r < a)), "read back before asking again: {calls:?}");
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

impl Payroll {
    /// The transfer a sweep's worker asks Stripe for, made here as it would
    /// make it (the worker then dies or is slow, as the test says).
    async fn transfer_as_a_worker(&self, checkout: &CheckoutId, booking: &shared::store::Booking, account: &str, amount: u64) -> shared::payments::TransferMade {
        let pi = self.payment_intent(checkout).await;
        let charge = self.payments.charge_of(&pi).await.unwrap();
        let request = shared::payments::TransferRequest {
            amount,
            currency: booking.currency,
            destination: account,
            source_transaction: &charge,
            transfer_group: checkout.as_str(),
            metadata: std::collections::HashMap::from([("booking_id".to_owned(), booking.booking_id.to_string())]),
            idempotency_key: &format!("transfer-{}", booking.booking_id),
        };
        self.payments.transfer(&request).await.unwrap()
    }

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
