//! Everything the emulator remembers, behind one lock held only for short,
//! await-free sections, so idempotency checks and state changes are atomic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;

use super::EmulatorConfig;
use super::connect::Ledger;
use super::error::ApiError;
use super::events::{self, Connect, Event, Origin};
use super::faults::{self, Fault, Injection};
use super::idempotency::{Replay, check_key_length, replay_of};
pub use super::idempotency::IdempotencyScope;
use super::payment_intents;
use super::refunds;
use super::sessions::{Funds, Session, SessionSpec, Status};
use super::webhooks::{Delivery, DeliveryRecord};


pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// Why the hosted page cannot pay a session.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum PayError {
    #[error("no such Checkout Session")]
    NotFound,
    #[error("this Checkout Session is {} and can no longer be paid", .0.as_str())]
    NotOpen(Status),
}

/// One `/v1` request, as `/_emulator/requests` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    pub request_id: String,
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    /// The `Stripe-Account` header: the connected account the call acts as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stripe_account: Option<String>,
    /// Form parameters (query parameters for GET) as nested JSON; `null` when
    /// the body could not be parsed.
    pub params: Value,
    pub timestamp: String,
}

#[derive(Default)]
pub(super) struct Inner {
    sessions: HashMap<String, Session>,
    /// Session ids in creation order, for listings.
    order: Vec<String>,
    pub(super) payment_intents: HashMap<String, Value>,
    refunds: Vec<Value>,
    refund_failure: Option<refunds::RefundFailure>,
    pub(super) disputes: Vec<Value>,
    events: Vec<Event>,
    idempotency: HashMap<(String, String), Replay>,
    fault: Option<Fault>,
    deliveries: Vec<DeliveryRecord>,
    requests: Vec<RequestRecord>,
    pub(super) connect: Ledger,
}

pub struct Emulator {
    pub secret_key: String,
    pub webhook_secret: String,
    pub retry_base: Duration,
    /// Where the platform is: which accounts are cross-border, and its balance's currency.
    pub platform_country: String,
    /// `http://127.0.0.1:PORT/`, with the trailing slash Stripe clients expect.
    pub base_url: String,
    pub http: reqwest::Client,
    webhook_url: Mutex<Option<String>>,
    /// Where Connect events go while no endpoint is registered.
    connect_webhook: Mutex<ConnectTarget>,
    /// Endpoints registered through the API, each with its own signing
    /// secret, as on Stripe: an event goes to the latest enabled endpoint
    /// of its kind (Connect or platform) that takes its type, signed with
    /// that endpoint's secret. With none registered, platform events go to
    /// `webhook_url` signed with `webhook_secret`, and Connect events to
    /// the configured Connect URL.
    endpoints: Mutex<Vec<Endpoint>>,
    inner: Mutex<Inner>,
    deliveries: UnboundedSender<Delivery>,
}

/// A registered endpoint and the secret only its deliveries are signed with.
struct Endpoint {
    json: Value,
    secret: String,
    /// A Connect endpoint (`connect=true`) gets only events of connected
    /// accounts; the others only the platform's. Stripe does not show it on
    /// the endpoint object.
    connect: bool,
}

impl Endpoint {
    fn takes(&self, kind: &str, connect: bool) -> bool {
        self.connect == connect
            && self.json["status"] == "enabled"
            && self.json["enabled_events"].as_array().is_some_and(|events| events.iter().any(|e| e == "*" || e == kind))
    }
}

/// The configured destination of Connect events; without a secret of its
/// own they are signed with the platform's `webhook_secret`.
#[derive(Debug, Clone, Default)]
struct ConnectTarget {
    url: Option<String>,
    secret: Option<String>,
}

impl Emulator {
    pub fn new(config: EmulatorConfig, base_url: String, http: reqwest::Client, deliveries: UnboundedSender<Delivery>) -> Self {
        Emulator {
            secret_key: config.secret_key,
            webhook_secret: config.webhook_secret,
            retry_base: config.retry_base,
            platform_country: config.platform_country.to_ascii_uppercase(),
            base_url,
            http,
            webhook_url: Mutex::new(config.webhook_url),
            connect_webhook: Mutex::new(ConnectTarget { url: config.connect_webhook_url, secret: config.connect_webhook_secret }),
            endpoints: Mutex::new(Vec::new()),
            inner: Mutex::new(Inner::default()),
            deliveries,
        }
    }

    // A panic while holding the lock cannot leave the maps half-updated in a
    // way that matters more than stopping the whole emulator would.
    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn webhook_url(&self) -> Option<String> {
        self.webhook_url.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn set_webhook_url(&self, url: Option<String>) {
        *self.webhook_url.lock().unwrap_or_else(PoisonError::into_inner) = url;
    }

    fn connect_target(&self) -> ConnectTarget {
        self.connect_webhook.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Where Connect events go while no endpoint is registered; a `secret`
    /// of `None` keeps the current one.
    pub fn set_connect_webhook(&self, url: Option<String>, secret: Option<String>) {
        let mut target = self.connect_webhook.lock().unwrap_or_else(PoisonError::into_inner);
        target.url = url;
        if secret.is_some() {
            target.secret = secret;
        }
    }

    fn registered(&self) -> MutexGuard<'_, Vec<Endpoint>> {
        self.endpoints.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where an event of type `kind` goes and the secret it is signed with,
    /// if anywhere; `connect` for events about a connected account.
    pub fn delivery_target(&self, kind: &str, connect: bool) -> Option<(String, String)> {
        let registered = self.registered();
        if !registered.is_empty() {
            return registered.iter().rev().find(|e| e.takes(kind, connect)).and_then(|e| Some((e.json["url"].as_str()?.to_owned(), e.secret.clone())));
        }
        drop(registered);
        if connect {
            let target = self.connect_target();
            return target.url.map(|url| (url, target.secret.unwrap_or_else(|| self.webhook_secret.clone())));
        }
        self.webhook_url().map(|url| (url, self.webhook_secret.clone()))
    }

    /// The registered endpoints, or the configured URLs as endpoints that send everything.
    pub fn webhook_endpoints(&self) -> Vec<Value> {
        let registered: Vec<Value> = self.registered().iter().map(|e| e.json.clone()).collect();
        if !registered.is_empty() {
            return registered;
        }
        let configured = |id: &str, url: String| {
            serde_json::json!({"id": id, "object": "webhook_endpoint", "url": url, "status": "enabled", "enabled_events": ["*"], "livemode": false, "api_version": events::API_VERSION})
        };
        let platform = self.webhook_url().map(|url| configured("we_emulator", url));
        let connect = self.connect_target().url.map(|url| configured("we_emulator_connect", url));
        platform.into_iter().chain(connect).collect()
    }

    /// Registers an endpoint; only the creation answer carries its secret, as on Stripe.
    pub fn create_webhook_endpoint(&self, url: String, enabled_events: Vec<String>, api_version: Option<String>, connect: bool) -> Value {
        let endpoint = serde_json::json!({
            "id": new_id("we_test"), "object": "webhook_endpoint", "url": url, "status": "enabled",
            "enabled_events": enabled_events, "livemode": false, "api_version": api_version, "created": now(),
        });
        let secret = new_id("whsec");
        self.registered().push(Endpoint { json: endpoint.clone(), secret: secret.clone(), connect });
        let mut answer = endpoint;
        answer["secret"] = Value::from(secret);
        answer
    }

    pub fn update_webhook_endpoint(&self, id: &str, enabled_events: Option<Vec<String>>, disabled: Option<bool>) -> Option<Value> {
        let mut endpoints = self.registered();
        let endpoint = &mut endpoints.iter_mut().find(|e| e.json["id"] == id)?.json;
        if let Some(events) = enabled_events {
            endpoint["enabled_events"] = serde_json::json!(events);
        }
        if let Some(disabled) = disabled {
            endpoint["status"] = Value::from(if disabled { "disabled" } else { "enabled" });
        }
        Some(endpoint.clone())
    }

    /// Runs `create` once per idempotency key: a repeat with the same
    /// endpoint and parameters gets the first answer back (`true` = replayed)
    /// and changes nothing. Refusals are not kept, as on Stripe, so a request
    /// refused for its parameters can be corrected under the same key.
    pub fn idempotent(
        &self,
        scope: Option<IdempotencyScope<'_>>,
        create: impl FnOnce(&Emulator, &mut InnerRef<'_>) -> Result<Value, ApiError>,
    ) -> Result<(Value, bool), ApiError> {
        let mut inner = self.lock();
        let Some(scope) = scope else {
            return create(self, &mut InnerRef(&mut inner)).map(|v| (v, false));
        };
        check_key_length(scope.key)?;
        let slot = (scope.api_key.to_owned(), scope.key.to_owned());
        if let Some(replay) = inner.idempotency.get(&slot) {
            return replay_of(replay, &scope).map(|v| (v, true));
        }
        let response = create(self, &mut InnerRef(&mut inner))?;
        let replay = Replay { endpoint: scope.endpoint, params: scope.params, response: Ok(response.clone()) };
        inner.idempotency.insert(slot, replay);
        Ok((response, false))
    }

    /// Saves a server error as the result of its idempotency key, unless the
    /// key already has one, so a retry with the same key gets it again, as
    /// on Stripe. Refusals (4xx) are not saved, so they can be corrected.
    pub fn save_failure(&self, scope: IdempotencyScope<'_>, error: ApiError) {
        let mut inner = self.lock();
        let slot = (scope.api_key.to_owned(), scope.key.to_owned());
        inner.idempotency.entry(slot).or_insert(Replay { endpoint: scope.endpoint, params: scope.params, response: Err(error) });
    }

    /// Creates an open session; its URL is this emulator's hosted page.
    pub fn insert_session(&self, inner: &mut InnerRef<'_>, spec: SessionSpec, now: i64) -> Value {
        let id = new_id("cs_test");
        let url = format!("{}pay/{id}", self.base_url);
        let session = Session { id: id.clone(), created: now, url, status: Status::Open, payment_intent: None, funds: super::sessions::Funds::Settled, spec };
        let json = session.to_json();
        inner.0.order.push(id.clone());
        inner.0.sessions.insert(id, session);
        json
    }

    pub fn session(&self, id: &str, now: i64) -> Option<Session> {
        let mut inner = self.lock();
        self.expire_if_due(&mut inner, id, now);
        inner.sessions.get(id).cloned()
    }

    pub fn sessions(&self, now: i64) -> Vec<Value> {
        let mut inner = self.lock();
        self.expire_due_locked(&mut inner, now);
        inner.order.iter().filter_map(|id| inner.sessions.get(id)).map(Session::to_json).collect()
    }

    /// Expires an open session now and emits `checkout.session.expired`.
    pub fn expire_session(&self, inner: &mut InnerRef<'_>, id: &str, now: i64, origin: &Origin) -> Result<Value, ApiError> {
        let inner = &mut *inner.0;
        self.expire_if_due(inner, id, now);
        let session = inner.sessions.get(id).ok_or_else(|| no_such_session(id))?;
        if session.status != Status::Open {
            return Err(ApiError::InvalidRequest {
                message: format!(
                    "Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout Session has a status of \"{}\".",
                    session.status.as_str()
                ),
                param: None,
                code: None,
            });
        }
        Ok(self.expire(inner, id, now, origin))
    }

    /// Expiry outside any idempotent API call (the control endpoint).
    pub fn expire_now(&self, id: &str, now: i64, origin: &Origin) -> Result<Value, ApiError> {
        self.idempotent(None, |emulator, inner| emulator.expire_session(inner, id, now, origin)).map(|(json, _)| json)
    }

    /// The hosted page's Pay button: the session completes, a PaymentIntent
    /// is recorded (none for a free session, as on Stripe) and
    /// `checkout.session.completed` is emitted. With a delayed method the
    /// money is still `Processing` (`payment_status: unpaid`) until
    /// [`Self::settle_delayed`].
    pub fn complete_session(&self, id: &str, now: i64, funds: Funds) -> Result<Session, PayError> {
        let mut inner = self.lock();
        self.expire_if_due(&mut inner, id, now);
        let session = inner.sessions.get_mut(id).ok_or(PayError::NotFound)?;
        if session.status != Status::Open {
            return Err(PayError::NotOpen(session.status));
        }
        session.status = Status::Complete;
        session.funds = funds;
        let intent = (session.spec.amount_total > 0).then(|| {
            let pi = new_id("pi_test");
            let mut json = payment_intents::succeeded(&pi, &new_id("ch_test"), &new_id("pm_test"), session, now);
            if funds == Funds::Processing {
                json["status"] = Value::from("processing");
            }
            (pi, json)
        });
        if let Some((pi, _)) = &intent {
            session.payment_intent = Some(pi.clone());
        }
        let session = session.clone();
        if let Some((pi, json)) = intent {
            inner.payment_intents.insert(pi, json);
        }
        self.emit(&mut inner, events::SESSION_COMPLETED, session.to_json(), now, &Origin::default());
        Ok(session)
    }

    /// The later outcome of a delayed payment: `checkout.session.async_payment_succeeded` or `_failed`.
    pub fn settle_delayed(&self, id: &str, succeeded: bool, now: i64) -> Result<Session, PayError> {
        let mut inner = self.lock();
        let session = inner.sessions.get_mut(id).ok_or(PayError::NotFound)?;
        if session.status != Status::Complete || session.funds != Funds::Processing {
            return Err(PayError::NotOpen(session.status));
        }
        session.funds = if succeeded { Funds::Settled } else { Funds::Failed };
        let session = session.clone();
        if let Some(intent) = session.payment_intent.as_ref().and_then(|pi| inner.payment_intents.get_mut(pi)) {
            intent["status"] = Value::from(if succeeded { "succeeded" } else { "requires_payment_method" });
        }
        let kind = if succeeded { events::ASYNC_SUCCEEDED } else { events::ASYNC_FAILED };
        self.emit(&mut inner, kind, session.to_json(), now, &Origin::default());
        Ok(session)
    }

    /// Refunds part or all of a succeeded PaymentIntent (`amount` absent =
    /// what is left), emitting `refund.created` and `charge.refunded`.
    pub fn refund(&self, inner: &mut InnerRef<'_>, request: refunds::RefundRequest, now: i64, origin: &Origin) -> Result<Value, ApiError> {
        let inner = &mut *inner.0;
        let intent = inner.payment_intents.get(&request.payment_intent).ok_or_else(|| ApiError::NotFound {
            kind: "payment_intent",
            id: request.payment_intent.clone(),
            param: "payment_intent",
        })?;
        if inner.disputes.iter().any(|d| d["payment_intent"] == request.payment_intent.as_str() && d["is_charge_refundable"] == false) {
            return Err(ApiError::InvalidRequest {
                message: format!("Charge {} has been charged back; cannot issue a refund.", intent["latest_charge"].as_str().unwrap_or_default()),
                param: None,
                code: Some("charge_disputed"),
            });
        }
        // A failed refund gave its money back to the balance: it is refundable again.
        let refunded: i64 = inner.refunds.iter().filter(|r| r["payment_intent"] == request.payment_intent.as_str() && r["status"] != "failed").filter_map(|r| r["amount"].as_i64()).sum();
        let (refund, charge) = refunds::create(intent, refunded, request, new_id("re_test"), now)?;
        let failure = refunds::take_failure(&mut inner.refund_failure);
        if let Some(failure) = failure.as_ref().filter(|f| f.when == refunds::FailWhen::Create) {
            return Err(failure.refusal());
        }
        inner.refunds.push(refund.clone());
        self.emit(inner, events::REFUND_CREATED, refund.clone(), now, origin);
        self.emit(inner, events::CHARGE_REFUNDED, charge, now, origin);
        if let Some(failure) = failure {
            self.fail_stored_refund(inner, &refund, failure.failure_reason, now);
        }
        Ok(refund)
    }

    /// A refund that fails after it was made (a closed card), days later as
    /// Stripe may report it: `refund.updated` and `refund.failed`.
    pub fn fail_refund(&self, id: &str, failure_reason: &str, now: i64) -> Option<Value> {
        let mut inner = self.lock();
        let refund = inner.refunds.iter().find(|r| r["id"] == id && r["status"] != "failed").cloned()?;
        Some(self.fail_stored_refund(&mut inner, &refund, failure_reason, now))
    }

    fn fail_stored_refund(&self, inner: &mut Inner, refund: &Value, failure_reason: &str, now: i64) -> Value {
        let failed = refunds::failed(refund, failure_reason);
        if let Some(stored) = inner.refunds.iter_mut().find(|r| r["id"] == refund["id"]) {
            *stored = failed.clone();
        }
        self.emit(inner, events::REFUND_UPDATED, failed.clone(), now, &Origin::default());
        self.emit(inner, events::REFUND_FAILED, failed.clone(), now, &Origin::default());
        failed
    }

    /// Makes the next refund(s) fail (`/_emulator/refund_failures`); `None` clears.
    pub fn set_refund_failure(&self, failure: Option<refunds::RefundFailure>) {
        self.lock().refund_failure = failure;
    }

    /// A refund outside any API call (the control endpoint).
    pub fn dashboard_refund(&self, request: refunds::RefundRequest, now: i64) -> Result<Value, ApiError> {
        self.idempotent(None, |emulator, inner| emulator.refund(inner, request, now, &Origin::default())).map(|(json, _)| json)
    }

    /// Refunds, newest first, optionally of one PaymentIntent.
    pub fn refunds_newest_first(&self, payment_intent: Option<&str>) -> Vec<Value> {
        let inner = self.lock();
        inner.refunds.iter().rev().filter(|r| payment_intent.is_none_or(|pi| r["payment_intent"] == pi)).cloned().collect()
    }

    /// The background sweep: every open session past `expires_at` expires,
    /// each emitting its event once.
    pub fn expire_due(&self, now: i64) {
        let mut inner = self.lock();
        self.expire_due_locked(&mut inner, now);
    }

    fn expire_due_locked(&self, inner: &mut Inner, now: i64) {
        let due: Vec<String> = inner.order.iter().filter(|id| inner.sessions.get(*id).is_some_and(|s| s.is_due(now))).cloned().collect();
        for id in due {
            self.expire(inner, &id, now, &Origin::default());
        }
    }

    fn expire_if_due(&self, inner: &mut Inner, id: &str, now: i64) {
        if inner.sessions.get(id).is_some_and(|s| s.is_due(now)) {
            self.expire(inner, id, now, &Origin::default());
        }
    }

    fn expire(&self, inner: &mut Inner, id: &str, now: i64, origin: &Origin) -> Value {
        let Some(session) = inner.sessions.get_mut(id) else {
            return Value::Null;
        };
        session.status = Status::Expired;
        let json = session.to_json();
        self.emit(inner, events::SESSION_EXPIRED, json.clone(), now, origin);
        json
    }

    /// A platform event.
    pub(super) fn emit(&self, inner: &mut Inner, kind: &'static str, object: Value, now: i64, origin: &Origin) {
        self.emit_event(inner, kind, object, Connect::default(), now, origin);
    }

    /// An event; with `connect.account`, a Connect event about that account.
    pub(super) fn emit_event(&self, inner: &mut Inner, kind: &'static str, object: Value, connect: Connect, now: i64, origin: &Origin) {
        let is_connect = connect.account.is_some();
        let pending = u32::from(self.delivery_target(kind, is_connect).is_some());
        let event = Event::new(new_id("evt_test"), kind, now, object, connect, pending, origin);
        let delivery = Delivery { event_id: event.id.clone(), event_type: kind, connect: is_connect, body: event.body.clone() };
        inner.events.push(event);
        // The queue is gone only while the emulator is being dropped.
        let _ = self.deliveries.send(delivery);
    }

    pub fn payment_intent(&self, id: &str) -> Option<Value> {
        self.lock().payment_intents.get(id).cloned()
    }

    pub fn event(&self, id: &str) -> Option<Event> {
        self.lock().events.iter().find(|e| e.id == id).cloned()
    }

    /// Events newest first, optionally of one type.
    pub fn events_newest_first(&self, kind: Option<&str>) -> Vec<Value> {
        self.list_events(&EventFilter { kind, ..EventFilter::default() })
    }

    /// Events newest first, as `GET /v1/events` filters them. An event's
    /// delivery failed when it was attempted and no attempt got a 2xx.
    pub fn list_events(&self, filter: &EventFilter<'_>) -> Vec<Value> {
        let inner = self.lock();
        let delivered = |id: &str| inner.deliveries.iter().any(|d| d.event_id == id && d.delivered);
        let attempted = |id: &str| inner.deliveries.iter().any(|d| d.event_id == id);
        inner
            .events
            .iter()
            .rev()
            .filter(|e| filter.kind.is_none_or(|k| e.kind == k))
            .filter(|e| filter.account.is_none_or(|a| e.account.as_deref() == Some(a)))
            .filter(|e| filter.created_gte.is_none_or(|t| e.json["created"].as_i64().is_some_and(|c| c >= t)))
            .filter(|e| match filter.delivery_success {
                None => true,
                Some(true) => delivered(&e.id),
                Some(false) => attempted(&e.id) && !delivered(&e.id),
            })
            .map(|e| e.json.clone())
            .collect()
    }

    /// Delivers a stored event once more (as the dashboard's "Resend" does).
    pub fn redeliver(&self, id: &str) -> Option<()> {
        let inner = self.lock();
        let event = inner.events.iter().find(|e| e.id == id)?;
        let _ = self.deliveries.send(Delivery { event_id: event.id.clone(), event_type: event.kind, connect: event.account.is_some(), body: event.body.clone() });
        Some(())
    }

    pub fn set_fault(&self, fault: Option<Fault>) {
        self.lock().fault = fault;
    }

    pub fn fault(&self) -> Option<Fault> {
        self.lock().fault.clone()
    }

    pub fn take_fault(&self, method: &str, path: &str) -> Option<Injection> {
        faults::take(&mut self.lock().fault, method, path)
    }

    pub fn record_request(&self, record: RequestRecord) {
        self.lock().requests.push(record);
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.lock().requests.clone()
    }

    /// An attempt that got a 2xx leaves the event with no pending deliveries,
    /// as `GET /v1/events/{id}` then shows (the delivered copy keeps the count
    /// of when it was sent, as on Stripe).
    pub fn record_delivery(&self, record: DeliveryRecord) {
        let mut inner = self.lock();
        if record.delivered
            && let Some(event) = inner.events.iter_mut().find(|e| e.id == record.event_id)
        {
            event.json["pending_webhooks"] = Value::from(0);
        }
        inner.deliveries.push(record);
    }

    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.lock().deliveries.clone()
    }
}

/// What `GET /v1/events` may filter on.
#[derive(Debug, Default)]
pub struct EventFilter<'a> {
    pub kind: Option<&'a str>,
    /// Only the events of this connected account (a `Stripe-Account` request).
    pub account: Option<&'a str>,
    pub created_gte: Option<i64>,
    pub delivery_success: Option<bool>,
}

/// The locked state, handed to code that runs inside [`Emulator::idempotent`].
pub struct InnerRef<'a>(&'a mut Inner);

impl InnerRef<'_> {
    pub(super) fn get(&mut self) -> &mut Inner {
        self.0
    }
}

pub fn no_such_session(id: &str) -> ApiError {
    ApiError::NotFound { kind: "checkout.session", id: id.to_owned(), param: "session" }
}

/// Shared ownership for the server, the sweep and the webhook dispatcher.
pub type Shared = Arc<Emulator>;

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;

    use super::super::{form, sessions};
    use super::*;

    const NOW: i64 = 1_750_000_000;

    fn emulator() -> (Emulator, mpsc::UnboundedReceiver<Delivery>) {
        let (queue, deliveries) = mpsc::unbounded_channel();
        let config = EmulatorConfig {
            secret_key: "sk_test_k".into(),
            webhook_secret: "whsec_s".into(),
            webhook_url: Some("http://127.0.0.1:9/hook".into()),
            retry_base: Duration::from_millis(1),
            ..EmulatorConfig::default()
        };
        let emulator = Emulator::new(config, "http://127.0.0.1:1/".into(), reqwest::Client::new(), queue);
        (emulator, deliveries)
    }

    fn params(extra: &str) -> form::Params {
        let body = format!(
            "mode=payment&success_url=https://ex.com&line_items[0][price_data][currency]=eur\
             &line_items[0][price_data][unit_amount]=1800&line_items[0][price_data][product_data][name]=n\
             &line_items[0][quantity]=1&expires_at={}{extra}",
            NOW + sessions::MIN_LIFETIME_SECS
        );
        form::parse(body.as_bytes()).unwrap()
    }

    fn create(emulator: &Emulator, key: Option<&str>, extra: &str) -> Result<(Value, bool), ApiError> {
        let params = params(extra);
        let scope = key.map(|key| IdempotencyScope {
            api_key: "sk_test_k",
            key,
            endpoint: "POST /v1/checkout/sessions".into(),
            params: form::params_to_json(&params),
        });
        emulator.idempotent(scope, |emulator, inner| {
            let spec = sessions::parse_create(&params, NOW)?;
            Ok(emulator.insert_session(inner, spec, NOW))
        })
    }

    fn id_of(json: &Value) -> String {
        json["id"].as_str().unwrap().to_owned()
    }

    #[test]
    fn due_sessions_expire_once_with_one_event() {
        let (emulator, mut deliveries) = emulator();
        let (json, _) = create(&emulator, None, "").unwrap();
        let id = id_of(&json);
        let expires_at = NOW + sessions::MIN_LIFETIME_SECS;
        emulator.expire_due(expires_at - 1);
        assert_eq!(emulator.session(&id, expires_at - 1).unwrap().status, Status::Open);
        emulator.expire_due(expires_at);
        emulator.expire_due(expires_at + 5);
        assert_eq!(emulator.session(&id, expires_at + 10).unwrap().status, Status::Expired);
        let events = emulator.events_newest_first(None);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["type"], events::SESSION_EXPIRED);
        assert_eq!(events[0]["pending_webhooks"], 1);
        assert_eq!(deliveries.try_recv().unwrap().event_type, events::SESSION_EXPIRED);
        assert!(deliveries.try_recv().is_err());
    }

    #[test]
    fn touching_a_due_session_expires_it_before_paying() {
        let (emulator, _deliveries) = emulator();
        let id = id_of(&create(&emulator, None, "").unwrap().0);
        let late = NOW + sessions::MIN_LIFETIME_SECS;
        assert_eq!(emulator.complete_session(&id, late, Funds::Settled).unwrap_err(), PayError::NotOpen(Status::Expired));
        assert_eq!(emulator.events_newest_first(Some(events::SESSION_COMPLETED)).len(), 0);
        assert_eq!(emulator.events_newest_first(Some(events::SESSION_EXPIRED)).len(), 1);
    }

    #[test]
    fn paying_records_the_intent_and_emits_completed() {
        let (emulator, _deliveries) = emulator();
        let id = id_of(&create(&emulator, None, "").unwrap().0);
        let session = emulator.complete_session(&id, NOW + 1, Funds::Settled).unwrap();
        let intent = emulator.payment_intent(session.payment_intent.as_deref().unwrap()).unwrap();
        assert_eq!(intent["amount"], 1800);
        assert_eq!(emulator.complete_session(&id, NOW + 2, Funds::Settled).unwrap_err(), PayError::NotOpen(Status::Complete));
        assert_eq!(emulator.events_newest_first(None).len(), 1);
    }

    #[test]
    fn idempotency_replays_and_refuses_mismatches() {
        let (emulator, _deliveries) = emulator();
        let (first, replayed) = create(&emulator, Some("k1"), "").unwrap();
        assert!(!replayed);
        let (again, replayed) = create(&emulator, Some("k1"), "").unwrap();
        assert!(replayed);
        assert_eq!(again, first);
        assert!(matches!(create(&emulator, Some("k1"), "&metadata[a]=b"), Err(ApiError::Idempotency(_))));
        assert_eq!(emulator.sessions(NOW).len(), 1);
        let long = "k".repeat(256);
        assert!(matches!(create(&emulator, Some(&long), ""), Err(ApiError::InvalidRequest { .. })));
    }

    #[test]
    fn refused_requests_do_not_use_up_their_key() {
        let (emulator, _deliveries) = emulator();
        assert!(create(&emulator, Some("k1"), "&customer_email=nope").is_err());
        assert!(create(&emulator, Some("k1"), "").is_ok());
    }
}
