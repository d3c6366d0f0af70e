//! Events, shaped like Stripe's `event` (infra/fixtures/stripe). The body is
//! serialised once, so the bytes signed, delivered and served by
//! `GET /v1/events/{id}` are the same.

use std::sync::Arc;

use serde_json::{Value, json};

pub const API_VERSION: &str = "2026-09-30.endive";

pub const SESSION_COMPLETED: &str = "checkout.session.completed";
pub const SESSION_EXPIRED: &str = "checkout.session.expired";
pub const ASYNC_SUCCEEDED: &str = "checkout.session.async_payment_succeeded";
pub const ASYNC_FAILED: &str = "checkout.session.async_payment_failed";
pub const REFUND_CREATED: &str = "refund.created";
pub const REFUND_UPDATED: &str = "refund.updated";
pub const REFUND_FAILED: &str = "refund.failed";
pub const CHARGE_REFUNDED: &str = "charge.refunded";
pub const DISPUTE_CREATED: &str = "charge.dispute.created";
pub const DISPUTE_CLOSED: &str = "charge.dispute.closed";

/// The API request that caused an event; events caused by the hosted page
/// or by time passing have none, as on Stripe.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub request_id: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub kind: &'static str,
    pub json: Value,
    pub body: Arc<str>,
}

impl Event {
    pub fn new(id: String, kind: &'static str, created: i64, object: Value, pending_webhooks: u32, origin: &Origin) -> Self {
        let json = json!({
            "id": id,
            "object": "event",
            "api_version": API_VERSION,
            "created": created,
            "data": { "object": object },
            "livemode": false,
            "pending_webhooks": pending_webhooks,
            "request": { "id": origin.request_id, "idempotency_key": origin.idempotency_key },
            "type": kind,
        });
        let body = Arc::from(json.to_string());
        Event { id, kind, json, body }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn has_every_fixture_field_and_matching_body() {
        let origin = Origin { request_id: Some("req_1".into()), idempotency_key: None };
        let event = Event::new("evt_test_1".into(), SESSION_EXPIRED, 7, json!({"id": "cs_test_1"}), 1, &origin);
        let fixture: Value = serde_json::from_str(include_str!("../../../fixtures/stripe/event.json")).unwrap();
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<BTreeSet<_>>();
        assert_eq!(keys(&event.json), keys(&fixture));
        let reparsed: Value = serde_json::from_str(&event.body).unwrap();
        assert_eq!(reparsed, event.json);
        assert_eq!(reparsed["data"]["object"]["id"], "cs_test_1");
        assert_eq!(reparsed["request"]["id"], "req_1");
    }
}
