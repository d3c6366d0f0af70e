//! hms-webhook as a use case: 100ms's events about our rooms, authenticated
//! by the secret header each room was created with (100ms signs nothing),
//! stored as each peer's stay. A repeated or reordered event writes the
//! same item, so nothing needs deduplicating; events are often lost (100ms
//! retries three times in 14 s), so the decision reads 100ms's sessions too.

use http::HeaderMap;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use crate::config::Env;
use crate::domain::BookingId;
use crate::error::ApiError;
use crate::domain::Stay;
use crate::rooms::WEBHOOK_SECRET_HEADER;
use crate::store::{BookingStatus, Store};

/// 100ms's events are a few hundred bytes.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// `HMS_WEBHOOK_SECRET`: one secret, or two comma separated while rotating.
pub struct HmsWebhookSecrets(Vec<String>);

impl std::fmt::Debug for HmsWebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HmsWebhookSecrets({} secret(s), redacted)", self.0.len())
    }
}

impl HmsWebhookSecrets {
    pub fn new(secrets: Vec<String>) -> Self {
        Self(secrets)
    }

    pub fn read(env: &mut Env) -> Option<Self> {
        env.required("HMS_WEBHOOK_SECRET", "a long random string (openssl rand -hex 32); two, comma separated, while rotating", |raw| {
            let secrets: Vec<String> = raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
            if secrets.is_empty() || secrets.len() > 2 || secrets.iter().any(|s| s.len() < 32) {
                return Err("must be one or two secrets of at least 32 characters, comma separated".into());
            }
            Ok(Self(secrets))
        })
    }

    /// Whether the header carries one of the secrets, compared in constant time.
    fn accepts(&self, given: &[u8]) -> bool {
        self.0.iter().fold(false, |found, secret| found | constant_time_eq(secret.as_bytes(), given))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[derive(Debug, Serialize)]
pub struct Received {
    pub received: bool,
    /// `recorded`, or why nothing was.
    pub outcome: &'static str,
}

pub struct HmsWebhook {
    pub store: Store,
    pub secrets: HmsWebhookSecrets,
}

impl HmsWebhook {
    pub async fn handle(&self, headers: &HeaderMap, body: &[u8]) -> Result<Received, ApiError> {
        let given = headers.get(WEBHOOK_SECRET_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
        if !self.secrets.accepts(given) {
            return Err(ApiError::Unauthorized("the X-Webhook-Secret header is missing or wrong"));
        }
        if body.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
        }
        let event: Value = serde_json::from_slice(body).map_err(|e| ApiError::invalid("body", format!("is not valid JSON ({e})")))?;
        let kind = event["type"].as_str().ok_or_else(|| ApiError::invalid("type", "is required"))?;
        let data = &event["data"];
        let outcome = match kind {
            "peer.join.success" | "peer.leave.success" => self.stay(data).await?,
            // Sessions are read from 100ms's API when deciding; these only say one began or ended.
            "session.open.success" | "session.close.success" => "ignored_session_event",
            _ => "ignored_type",
        };
        tracing::info!(event_id = event["id"].as_str().unwrap_or("?"), kind, outcome, "100ms event");
        Ok(Received { received: true, outcome })
    }

    async fn stay(&self, data: &Value) -> Result<&'static str, ApiError> {
        // Our rooms are named by their booking's id.
        let Some(id) = data["room_name"].as_str().and_then(|n| BookingId::parse(n).ok()) else { return Ok("ignored_room") };
        let Some(booking) = self.store.get_booking(&id).await? else { return Ok("ignored_room") };
        if booking.status == BookingStatus::Cancelled {
            return Ok("ignored_cancelled");
        }
        let time = |field: &str| data[field].as_str().and_then(|s| s.parse::<Timestamp>().ok());
        let (Some(peer_id), Some(user_id), Some(joined_at)) = (data["peer_id"].as_str(), data["user_id"].as_str(), time("joined_at")) else {
            return Err(ApiError::invalid("data", "a peer event needs peer_id, user_id and joined_at"));
        };
        // Every peer of our room is kept with its role: a room-code join
        // carries a random user_id, so who it is is decided from the role.
        let role = data["role"].as_str().map(str::to_owned);
        let stay = Stay { peer_id: peer_id.to_owned(), user_id: user_id.to_owned(), role, joined_at, left_at: time("left_at") };
        self.store.record_stay(&id, &stay).await?;
        Ok("recorded")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_configured_secret_is_accepted() {
        let secrets = HmsWebhookSecrets(vec!["a".repeat(32), "b".repeat(32)]);
        assert!(secrets.accepts("a".repeat(32).as_bytes()) && secrets.accepts("b".repeat(32).as_bytes()));
        assert!(!secrets.accepts(b"") && !secrets.accepts("a".repeat(31).as_bytes()) && !secrets.accepts(format!("{}x", "a".repeat(31)).as_bytes()));
    }
}
