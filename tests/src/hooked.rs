//! stripe-webhook wired to a fresh table and both emulators: the emulator's
//! signed deliveries over loopback HTTP into the real handler, or events
//! handed over by the test (from the emulator's own, re-signed) in any order,
//! any number of times.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};
use shared::clock::Clock;
use shared::domain::{BookingId, CheckoutId};
use shared::store::{Checkout, CheckoutStatus, RoomStatus};
use shared::webhook::{WebhookSecrets, WebhookService};

use crate::serve::ServedFunction;
use crate::{CheckoutEnv, EnvOptions, WEBHOOK_SECRET, cart, token_for};

pub struct Hooked {
    pub env: CheckoutEnv,
    pub service: Arc<WebhookService>,
    pub served: ServedFunction,
}

pub fn service(env: &CheckoutEnv, secrets: &[&str], clock: Clock) -> WebhookService {
    let connect_secrets = WebhookSecrets::new(vec![crate::CONNECT_WEBHOOK_SECRET.to_owned()]);
    WebhookService { events: env.event_handler(clock), secrets: WebhookSecrets::new(secrets.iter().map(|s| (*s).to_owned()).collect()).expect("secrets"), connect_secrets, clock }
}

/// The emulator delivers to the handler when `deliver` is true; otherwise
/// tests hand events over themselves, in the order they choose.
pub async fn hooked(deliver: bool, behind_proxy: bool) -> Hooked {
    let env = CheckoutEnv::start_with(EnvOptions { behind_proxy, ..EnvOptions::default() }).await;
    let service = Arc::new(service(&env, &[WEBHOOK_SECRET], Clock::System));
    let handler = service.clone();
    let served = ServedFunction::start(move |req| {
        let handler = handler.clone();
        async move { shared::http::into_response(stripe_webhook::handle(&handler, req).await) }
    })
    .await;
    if deliver {
        env.stripe.set_webhook_url(Some(served.url()));
    }
    Hooked { env, service, served }
}

impl Hooked {
    /// Checks out `lessons` as `student` and presses Pay (or the delayed-method button).
    pub async fn buy(&self, student: &str, lessons: Vec<Value>, button: &str) -> (CheckoutId, String) {
        let (status, created) = self.env.post(Some(&token_for(student)), &cart(lessons), None).await;
        assert_eq!(status, 201, "{created}");
        let url = created["checkout_url"].as_str().unwrap().to_owned();
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let pressed = client.post(format!("{url}/{button}")).send().await.unwrap();
        assert!(pressed.status().is_redirection() || pressed.status().is_success(), "{}", pressed.status());
        let id = CheckoutId::parse(created["checkout_id"].as_str().unwrap()).unwrap();
        let session = self.checkout(&id).await.stripe_session_id.unwrap();
        (id, session)
    }

    pub async fn checkout(&self, id: &CheckoutId) -> Checkout {
        self.env.db.store.get_checkout(id).await.unwrap().unwrap()
    }

    pub async fn until_status(&self, id: &CheckoutId, wanted: CheckoutStatus) -> Checkout {
        for _ in 0..200 {
            let checkout = self.checkout(id).await;
            if checkout.status == wanted {
                return checkout;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{id} never reached {wanted:?}: {:?}", self.checkout(id).await.status);
    }

    pub async fn until_room_ready(&self, id: &BookingId) -> shared::store::Booking {
        for _ in 0..200 {
            let booking = self.booking(id).await;
            if booking.room_status == RoomStatus::Ready {
                return booking;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{id}'s room never became ready: {:?}", self.booking(id).await.room_status);
    }

    /// The emulator's events of `kind` for `object_id`, oldest first.
    pub async fn events(&self, kind: &str, object_id: &str) -> Vec<Value> {
        let all: Value = reqwest::get(format!("{}_emulator/events", self.env.stripe.base_url())).await.unwrap().json().await.unwrap();
        all.as_array().unwrap().iter().filter(|e| e["type"] == kind && (e["data"]["object"]["id"] == object_id || e["data"]["object"]["payment_intent"] == object_id)).cloned().collect()
    }

    pub async fn event(&self, kind: &str, object_id: &str) -> Value {
        self.events(kind, object_id).await.pop().unwrap_or_else(|| panic!("no {kind} for {object_id}"))
    }

    /// Hands one event to the handler as Stripe would, signed now.
    pub async fn deliver(&self, event: &Value) -> (u16, Value) {
        deliver_to(&self.served, event, WEBHOOK_SECRET, Timestamp::now().as_second()).await
    }

    pub async fn refunds(&self) -> Vec<Value> {
        let all: Value = reqwest::get(format!("{}_emulator/refunds", self.env.stripe.base_url())).await.unwrap().json().await.unwrap();
        all.as_array().unwrap().clone()
    }

    pub async fn booking(&self, id: &BookingId) -> shared::store::Booking {
        self.env.db.store.get_booking(id).await.unwrap().unwrap()
    }
}

pub async fn deliver_to(served: &ServedFunction, event: &Value, secret: &str, t: i64) -> (u16, Value) {
    let body = event.to_string();
    let signature = emulators::stripe::signature_header(secret, t, body.as_bytes());
    post_signed(served, &body, Some(&signature)).await
}

pub async fn post_signed(served: &ServedFunction, body: &str, signature: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(served.url()).header("content-type", "application/json").body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// An event as Stripe would send it about the same session in another state.
pub fn restated(event: &Value, kind: &str, changes: Value) -> Value {
    let mut event = event.clone();
    event["id"] = json!(format!("evt_test_{}", uuid_like(kind)));
    event["type"] = json!(kind);
    for (key, value) in changes.as_object().unwrap() {
        event["data"]["object"][key] = value.clone();
    }
    event
}

fn uuid_like(seed: &str) -> String {
    format!("{}_{}", seed.replace('.', "_"), Timestamp::now().as_nanosecond())
}
