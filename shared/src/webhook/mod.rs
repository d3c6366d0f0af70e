//! stripe-webhook as a use case: a signed Stripe event, verified over its
//! raw bytes, becomes a call into the fulfilment service.

pub mod event;
mod signature;

use jiff::Timestamp;
use serde::Serialize;
use tracing::Instrument;

use crate::clock::Clock;
use crate::error::ApiError;
use crate::fulfilment::{FulfilError, Settled, Settlement};
use crate::payments::Payments;
use crate::rooms::Rooms;
use crate::store::Store;
use event::{Action, Event};
pub use signature::{SignatureError, TOLERANCE_SECONDS, WebhookSecrets};

/// Applies Stripe events, however they arrive: a verified webhook delivery
/// or an event listed by Stripe's API during reconciliation.
pub struct EventHandler {
    pub store: Store,
    pub payments: Payments,
    pub rooms: Rooms,
    /// Whether our Stripe key is a live one; events of the other mode are not ours.
    pub livemode: bool,
}

pub struct WebhookService {
    pub events: EventHandler,
    pub secrets: WebhookSecrets,
    pub clock: Clock,
}

/// The answer Stripe gets (any 2xx stops its retries).
#[derive(Debug, Serialize)]
pub struct Ack {
    pub received: bool,
    pub outcome: &'static str,
}

impl WebhookService {
    /// `2xx` only once the event's effect is durable; a transient failure
    /// is a `5xx`, so Stripe delivers the event again and the redelivery
    /// completes the work.
    pub async fn handle(&self, signature: Option<&str>, body: &[u8]) -> Result<Ack, ApiError> {
        let now = self.clock.now();
        self.secrets.verify(signature, body, now).map_err(|err| ApiError::BadSignature(err.to_string()))?;
        let event = Event::parse(body).map_err(|e| ApiError::invalid("body", e))?;
        self.events.process(&event, now).await
    }
}

impl EventHandler {
    /// The clients built once at start-up; the Stripe key's mode decides which events are ours.
    pub fn new(store: Store, stripe: &crate::payments::StripeConfig, hms: crate::rooms::HmsConfig) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self { rooms: Rooms::new(store.clone(), hms, crate::clock::Clock::System)?, payments: Payments::new(stripe)?, livemode: stripe.is_live(), store })
    }

    pub async fn process(&self, event: &Event, now: Timestamp) -> Result<Ack, ApiError> {
        let span = tracing::info_span!("stripe_event", stripe_event = %event.id, kind = %event.kind);
        self.process_in(event, now).instrument(span).await
    }

    async fn process_in(&self, event: &Event, now: Timestamp) -> Result<Ack, ApiError> {
        if event.livemode != self.livemode {
            tracing::warn!(livemode = event.livemode, "an event of the other Stripe mode; ignored");
            return Ok(Ack { received: true, outcome: "ignored_other_mode" });
        }
        if self.store.event_seen(&event.id).await? {
            return Ok(Ack { received: true, outcome: "duplicate" });
        }
        let action = event.action().map_err(|e| ApiError::invalid("body", e))?;
        let outcome = match self.apply(&action, now).await {
            Ok(outcome) => outcome,
            // Waiting for an operator: a resend would change nothing.
            Err(FulfilError::NotConfirmable(status)) => status.as_str(),
            // Every failure left is ours to retry: a 5xx makes Stripe resend.
            Err(err) => return Err(err.into()),
        };
        self.store.mark_event(&event.id, &event.kind, now).await?;
        tracing::info!(outcome, "stripe event handled");
        Ok(Ack { received: true, outcome })
    }

    async fn apply(&self, action: &Action, now: Timestamp) -> Result<&'static str, FulfilError> {
        let settlement = Settlement { store: &self.store, payments: &self.payments, rooms: &self.rooms };
        let settled = match action {
            Action::Fulfil(facts) => settlement.paid(facts, now).await?,
            Action::AwaitAsyncPayment(facts) => settlement.payment_pending(facts, now).await?,
            Action::AsyncPaymentFailed(facts) => settlement.payment_failed(facts, now).await?,
            Action::Expire(facts) => settlement.expired(facts, now).await?,
            Action::Refund(refund) => settlement.refund_reported(refund, now).await?,
            Action::ChargeRefunded(charge) => settlement.charge_refunded(&charge.payment_intent, charge.amount_refunded, now).await?,
            Action::Dispute(dispute) => settlement.dispute_reported(dispute, now).await?,
            Action::Ignore => return Ok("ignored_type"),
        };
        Ok(match settled {
            Settled::Checkout(checkout) => checkout.status.as_str(),
            Settled::Ignored(why) => why,
        })
    }
}
