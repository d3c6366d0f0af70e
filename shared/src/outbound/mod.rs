//! Webhooks for the marketplace's own systems: operators register endpoints
//! (`admin webhooks add`); each change's notice to the webhooks fans out
//! into one message per endpoint that wants its event (`event`), each a
//! durable work item delivered by notify, signed per Standard Webhooks
//! (`sign`), to public https addresses only (`target`), without following
//! redirects. A failed delivery is retried for about three days; `410 Gone`
//! disables the endpoint.

pub mod endpoints;
pub mod event;
pub mod sign;
pub mod target;

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::metrics::{self, Metric, Tally};
use crate::notify::{LEASE, Worked};
use crate::store::{Attention, AttentionKind, Claim, DELIVERIES, Delivery, Endpoint, Finish, Notice, Store, StoreError, WorkKey, WorkStatus};
pub use target::{TargetError, TargetPolicy};

/// How long an endpoint has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The wait after each failed attempt: ten attempts over about three days.
const SCHEDULE: [SignedDuration; 9] = [
    SignedDuration::from_secs(5),
    SignedDuration::from_mins(5),
    SignedDuration::from_mins(30),
    SignedDuration::from_hours(2),
    SignedDuration::from_hours(5),
    SignedDuration::from_hours(10),
    SignedDuration::from_hours(10),
    SignedDuration::from_hours(14),
    SignedDuration::from_hours(30),
];

pub struct Subscribers {
    pub store: Store,
    pub policy: TargetPolicy,
}

/// How one attempt went.
enum Answer {
    Status(u16),
    /// No answer (refused, timed out, TLS).
    Unreachable(String),
    /// The URL is not one we send to (any more).
    Refused(TargetError),
}

impl Subscribers {
    /// Writes one message per endpoint that wants each event of `notice`;
    /// a repeat writes nothing twice. The number of messages.
    pub async fn fan_out(&self, notice: &Notice, now: Timestamp) -> Result<usize, StoreError> {
        let events = event::events_of(&self.store, notice).await?;
        if events.is_empty() {
            return Ok(0);
        }
        let endpoints = self.store.endpoints().await?;
        let mut written = 0;
        for event in &events {
            for endpoint in endpoints.iter().filter(|e| e.wants(event.event_type)) {
                let delivery = Delivery {
                    endpoint_id: endpoint.endpoint_id.clone(),
                    message_id: event.id.clone(),
                    event_type: event.event_type.to_owned(),
                    body: event.body.clone(),
                    created_at: now,
                    status: WorkStatus::Owed,
                    attempts: 0,
                    provider_id: None,
                    error: None,
                };
                self.store.put_delivery(&delivery, now).await?;
                written += 1;
            }
        }
        Ok(written)
    }

    /// Claims one message and posts it.
    pub async fn deliver(&self, key: &WorkKey, now: Timestamp) -> Result<Worked, StoreError> {
        let Some(claim) = self.store.claim_work(key, now, now + LEASE).await? else { return Ok(Worked::NotClaimed) };
        if claim.reclaimed {
            metrics::tally(Tally::WebhooksReclaimed, 1);
        }
        let delivery: Delivery = serde_dynamo::from_item(claim.item.clone()).map_err(|e| StoreError::corrupt("read delivery", e))?;
        let endpoint = match self.store.endpoint(&delivery.endpoint_id).await? {
            Some(endpoint) if endpoint.enabled => endpoint,
            _ => return self.finish(key, &claim, Finish::Skipped { why: "the endpoint was removed or disabled".into() }, Worked::Skipped).await,
        };
        let answer = self.post(&endpoint, &delivery, now).await;
        let log = |outcome: &str| tracing::info!(endpoint_id = %endpoint.endpoint_id, message_id = %delivery.message_id, event_type = %delivery.event_type, attempt = claim.attempts, outcome, "webhook delivery");
        match answer {
            Answer::Status(status) if (200..300).contains(&status) => {
                log("delivered");
                metrics::tally(Tally::WebhooksSent, 1);
                self.finish(key, &claim, Finish::Done { provider_id: format!("HTTP {status}"), set: Vec::new() }, Worked::Sent).await
            }
            Answer::Status(410) => {
                log("gone");
                self.store.disable_endpoint(&endpoint.endpoint_id, "answered 410 Gone").await?;
                self.give_up(key, &claim, &endpoint, AttentionKind::WebhookEndpointGone, "the endpoint answered 410 Gone and was disabled (admin webhooks enable ID turns it on again)".into(), now).await
            }
            Answer::Refused(err) => self.give_up(key, &claim, &endpoint, AttentionKind::WebhookUndelivered, format!("not sent: {err}"), now).await,
            Answer::Status(status) => self.retry(key, &claim, &endpoint, format!("answered {status}"), now).await,
            Answer::Unreachable(why) => self.retry(key, &claim, &endpoint, why, now).await,
        }
    }

    async fn post(&self, endpoint: &Endpoint, delivery: &Delivery, now: Timestamp) -> Answer {
        let url = match self.policy.check_url(&endpoint.url) {
            Ok(url) => url,
            Err(err) => return Answer::Refused(err),
        };
        let addresses = match self.policy.resolve(&url).await {
            Ok(addresses) => addresses,
            Err(err @ TargetError::Unresolved(..)) => return Answer::Unreachable(err.to_string()),
            Err(err) => return Answer::Refused(err),
        };
        let host = url.host_str().unwrap_or_default().to_owned();
        // The addresses just checked are the ones connected to, and a redirect is an answer, not a hop.
        let client = match crate::net::client_builder().redirect(reqwest::redirect::Policy::none()).timeout(TIMEOUT).no_proxy().resolve_to_addrs(&host, &addresses).build() {
            Ok(client) => client,
            Err(err) => return Answer::Unreachable(err.to_string()),
        };
        let timestamp = now.as_second();
        let request = client
            .post(url)
            .header("content-type", "application/json")
            .header("user-agent", "lessons-webhooks/1")
            .header("webhook-id", &delivery.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", sign::signature(&endpoint.secrets, &delivery.message_id, timestamp, &delivery.body))
            .body(delivery.body.clone());
        match request.send().await {
            Ok(response) => Answer::Status(response.status().as_u16()),
            Err(err) => Answer::Unreachable(crate::net::error_chain(&err)),
        }
    }

    async fn retry(&self, key: &WorkKey, claim: &Claim, endpoint: &Endpoint, error: String, now: Timestamp) -> Result<Worked, StoreError> {
        let Some(wait) = SCHEDULE.get(claim.attempts.saturating_sub(1) as usize) else {
            return self.give_up(key, claim, endpoint, AttentionKind::WebhookUndelivered, format!("no success in {} attempts over about three days; the last: {error}", claim.attempts), now).await;
        };
        tracing::warn!(endpoint_id = %endpoint.endpoint_id, message = %key.sk, attempt = claim.attempts, error = %error, "webhook not delivered; retried later");
        let since = claim.failing_since.unwrap_or(now);
        self.finish(key, claim, Finish::Retry { due: now + *wait, error, since }, Worked::Retry).await
    }

    async fn give_up(&self, key: &WorkKey, claim: &Claim, endpoint: &Endpoint, kind: AttentionKind, reason: String, now: Timestamp) -> Result<Worked, StoreError> {
        tracing::warn!(endpoint_id = %endpoint.endpoint_id, message = %key.sk, reason = %reason, "webhook given up");
        metrics::count(Metric::WebhooksFailed, 1);
        let attention = Attention { kind, subject: format!("{}/{}", endpoint.endpoint_id, key.sk), reason: format!("{} ({})", reason, endpoint.url), checkout_id: None, payment_intent: None, code: None, due_by: None, created_at: now };
        self.store.flag_attention(&attention).await?;
        self.finish(key, claim, Finish::Failed { error: reason }, Worked::Failed).await
    }

    async fn finish(&self, key: &WorkKey, claim: &Claim, finish: Finish, worked: Worked) -> Result<Worked, StoreError> {
        let finished = crate::notify::recorded(|| self.store.finish_work(DELIVERIES, key, claim.lease, finish.clone())).await?;
        Ok(if finished { worked } else { Worked::LeaseLost })
    }
}
