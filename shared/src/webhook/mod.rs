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
    /// The Connect endpoint's own secrets (`STRIPE_CONNECT_WEBHOOK_SECRET`):
    /// events of teachers' connected accounts arrive there.
    pub connect_secrets: Option<WebhookSecrets>,
    pub clock: Clock,
}

/// Which of our two Stripe endpoints a delivery came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// The platform's own events (`stripe-webhook/`).
    Platform,
    /// Events of connected accounts (`stripe-webhook/connect`).
    Connect,
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
    pub async fn handle(&self, endpoint: Endpoint, signature: Option<&str>, body: &[u8]) -> Result<Ack, ApiError> {
        let now = self.clock.now();
        let secrets = match endpoint {
            Endpoint::Platform => &self.secrets,
            Endpoint::Connect => self.connect_secrets.as_ref().ok_or_else(|| ApiError::BadSignature("no Connect endpoint is configured (STRIPE_CONNECT_WEBHOOK_SECRET)".into()))?,
        };
        secrets.verify(signature, body, now).map_err(|err| ApiError::BadSignature(err.to_string()))?;
        let event = Event::parse(body).map_err(|e| ApiError::invalid("body", e))?;
        // Each endpoint takes its own kind: a connected account's event on
        // the platform's endpoint (or the reverse), or a type the other one
        // handles (an endpoint registered for every event), changes nothing.
        let connect_type = event::CONNECT_HANDLED.contains(&event.kind.as_str());
        if event.account.is_some() != (endpoint == Endpoint::Connect) || connect_type != (endpoint == Endpoint::Connect) {
            tracing::warn!(stripe_event = %event.id, kind = %event.kind, ?endpoint, "an event for the other Stripe endpoint; ignored");
            return Ok(Ack { received: true, outcome: "ignored_wrong_endpoint" });
        }
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
            Action::Refund(refund) => self.reviewed(&refund.payment_intent, settlement.refund_reported(refund, now).await?, now).await?,
            Action::ChargeRefunded(charge) => self.reviewed(&charge.payment_intent, settlement.charge_refunded(&charge.payment_intent, charge.amount_refunded, now).await?, now).await?,
            Action::Dispute(dispute) => self.reviewed(&dispute.payment_intent, settlement.dispute_reported(dispute, now).await?, now).await?,
            Action::AccountUpdated { account } => {
                return crate::payouts::accounts::account_updated(&self.store, &self.payments, account, now).await.map_err(|e| FulfilError::Payment(e.to_string()));
            }
            Action::PayoutFailed { account, payout, failure } => return self.payout_failed(account, payout, failure, now).await,
            Action::Ignore => return Ok("ignored_type"),
        };
        Ok(match settled {
            Settled::Checkout(checkout) => checkout.status.as_str(),
            Settled::Ignored(why) => why,
        })
    }

    /// After money went back or a chargeback moved: what the payment's
    /// teachers were paid is checked against what their lessons are worth
    /// now (a reversal owed, an earning due again). A failure is the
    /// event's: Stripe sends it again and the review runs again.
    async fn reviewed(&self, payment_intent: &str, settled: Settled, now: Timestamp) -> Result<Settled, FulfilError> {
        crate::payouts::review::review(&self.store, payment_intent, now).await?;
        Ok(settled)
    }

    async fn payout_failed(&self, account: &str, payout: &str, failure: &str, now: Timestamp) -> Result<&'static str, FulfilError> {
        tracing::warn!(account_id = account, payout_id = payout, failure, "a teacher's payout to their bank failed");
        let attention = crate::store::Attention {
            kind: crate::store::AttentionKind::PayoutFailed,
            subject: payout.to_owned(),
            reason: format!("Stripe could not pay out connected account {account} to its bank ({failure}); the teacher must fix their bank details in their Express dashboard"),
            checkout_id: None,
            payment_intent: None,
            code: Some(failure.to_owned()),
            due_by: None,
            created_at: now,
        };
        self.store.flag_attention(&attention).await?;
        Ok("payout_failed")
    }
}
