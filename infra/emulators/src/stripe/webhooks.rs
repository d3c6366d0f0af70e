//! Signing and delivering events the way Stripe does: `Stripe-Signature:
//! t=<unix>,v1=<hex HMAC-SHA256 of "{t}.{body}">`, keyed with the whole
//! `whsec_…` string of the endpoint delivered to, a fresh timestamp on every attempt, and retries with
//! exponential backoff while the endpoint does not answer 2xx.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinSet;

use super::state::Emulator;

pub const MAX_ATTEMPTS: u32 = 8;

/// The `v1` value: lowercase hex HMAC-SHA256 of `"{timestamp}.{body}"`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The whole `Stripe-Signature` header value for one delivery attempt.
pub fn signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, body))
}

/// One event waiting to be delivered.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event_id: String,
    pub event_type: &'static str,
    /// An event about a connected account: only Connect endpoints get it.
    pub connect: bool,
    pub body: Arc<str>,
}

/// One delivery attempt, as `/_emulator/deliveries` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRecord {
    pub event_id: String,
    pub event_type: &'static str,
    pub attempt: u32,
    pub url: String,
    /// The endpoint's HTTP status, when it answered at all.
    pub status: Option<u16>,
    /// Why the attempt got no HTTP answer (connection refused, timeout…).
    pub error: Option<String>,
    pub delivered: bool,
    pub timestamp: String,
}

enum Outcome {
    Delivered,
    Failed,
    /// No webhook URL is configured (any more): nothing to retry.
    NoEndpoint,
}

/// First attempts run one at a time in event order; retries run beside them,
/// so one failing endpoint does not hold back later events for minutes.
/// The queue's sender lives in the state this task holds, so the task ends
/// only when the emulator aborts it on drop, which also aborts its retries.
pub async fn dispatch(emulator: Arc<Emulator>, mut queue: UnboundedReceiver<Delivery>) {
    let mut retries = JoinSet::new();
    loop {
        tokio::select! {
            next = queue.recv() => {
                let Some(delivery) = next else { break };
                if let Outcome::Failed = attempt(&emulator, &delivery, 1).await {
                    retries.spawn(retry(emulator.clone(), delivery));
                }
            }
            Some(_) = retries.join_next(), if !retries.is_empty() => {}
        }
    }
}

async fn retry(emulator: Arc<Emulator>, delivery: Delivery) {
    for number in 2..=MAX_ATTEMPTS {
        tokio::time::sleep(backoff(emulator.retry_base, number)).await;
        match attempt(&emulator, &delivery, number).await {
            Outcome::Failed => continue,
            Outcome::Delivered | Outcome::NoEndpoint => return,
        }
    }
}

/// The wait before attempt `number` (2, 3, …): base, 2×base, 4×base…
pub fn backoff(base: Duration, number: u32) -> Duration {
    base.saturating_mul(1u32 << number.saturating_sub(2).min(30))
}

async fn attempt(emulator: &Emulator, delivery: &Delivery, number: u32) -> Outcome {
    let Some((url, secret)) = emulator.delivery_target(delivery.event_type, delivery.connect) else {
        return Outcome::NoEndpoint;
    };
    let result = post(emulator, &url, &secret, delivery).await;
    let delivered = matches!(result, Ok(status) if (200..300).contains(&status));
    let (status, error) = match result {
        Ok(status) => (Some(status), None),
        Err(err) => (None, Some(err)),
    };
    if !delivered {
        tracing::warn!(event = %delivery.event_id, attempt = number, ?status, ?error, "webhook delivery failed");
    }
    emulator.record_delivery(DeliveryRecord {
        event_id: delivery.event_id.clone(),
        event_type: delivery.event_type,
        attempt: number,
        url,
        status,
        error,
        delivered,
        timestamp: jiff::Timestamp::now().to_string(),
    });
    if delivered { Outcome::Delivered } else { Outcome::Failed }
}

async fn post(emulator: &Emulator, url: &str, secret: &str, delivery: &Delivery) -> Result<u16, String> {
    let timestamp = jiff::Timestamp::now().as_second();
    let body = delivery.body.as_bytes();
    let response = emulator
        .http
        .post(url)
        .header("Content-Type", "application/json; charset=utf-8")
        .header("Stripe-Signature", signature_header(secret, timestamp, body))
        .header("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks) emulator")
        .body(body.to_vec())
        .send()
        .await
        .map_err(|err| error_chain(&err))?;
    Ok(response.status().as_u16())
}

/// reqwest's top-level message is only "error sending request"; the cause
/// (connection refused, timed out) is what an operator needs.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signer_matches_the_reference_vector() {
        // From the project's Stripe reference (computed with Python's hmac).
        let v1 = sign("whsec_test_secret", 1492774577, br#"{"id":"evt_test","object":"event"}"#);
        assert_eq!(v1, "691252e266ce41cb94d709c84e9580d4172b117a510bbc81723f657d2cd5d215");
        assert_eq!(
            signature_header("whsec_test_secret", 1492774577, br#"{"id":"evt_test","object":"event"}"#),
            "t=1492774577,v1=691252e266ce41cb94d709c84e9580d4172b117a510bbc81723f657d2cd5d215"
        );
    }

    #[test]
    fn backoff_doubles_from_the_base() {
        let base = Duration::from_millis(50);
        let waits: Vec<u128> = (2..=MAX_ATTEMPTS).map(|n| backoff(base, n).as_millis()).collect();
        assert_eq!(waits, [50, 100, 200, 400, 800, 1600, 3200]);
    }
}
