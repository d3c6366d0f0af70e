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
pub const TRANSFER_CREATED: &str = "transfer.created";
pub const TRANSFER_REVERSED: &str = "transfer.reversed";
// Connect events: about a connected account, carrying its id in `account`.
pub const ACCOUNT_UPDATED: &str = "account.updated";
pub const PAYOUT_CREATED: &str = "payout.created";
pub const PAYOUT_PAID: &str = "payout.paid";
pub const PAYOUT_FAILED: &str = "payout.failed";

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
    /// The connected account a Connect event is about; `None` for the platform's own.
    pub account: Option<String>,
    pub json: Value,
    pub body: Arc<str>,
}

/// What a Connect event adds to a platform one: the account it is about
/// (top-level `account`, as Stripe sends Connect events) and, for
/// `*.updated`, the fields' values before the change.
#[derive(Debug, Clone, Default)]
pub struct Connect {
    pub account: Option<String>,
    pub previous_attributes: Option<Value>,
}

impl Event {
    pub fn new(id: String, kind: &'static str, created: i64, object: Value, connect: Connect, pending_webhooks: u32, origin: &Origin) -> Self {
        let mut json = json!({
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
        if let Some(account) = &connect.account {
            json["account"] = Value::from(account.clone());
        }
        if let Some(previous) = connect.previous_attributes {
            json["data"]["previous_attributes"] = previous;
        }
        let body = Arc::from(json.to_string());
        Event { id, kind, account: connect.account, json, body }
    }
}

/// The top-level fields of `before` that `after` changed, with their old
/// values: an `*.updated` event's `data.previous_attributes`.
pub fn previous_attributes(before: &Value, after: &Value) -> Value {
    let (Some(before), Some(after)) = (before.as_object(), after.as_object()) else {
        return json!({});
    };
    Value::Object(before.iter().filter(|(key, value)| after.get(*key) != Some(value)).map(|(k, v)| (k.clone(), v.clone())).collect())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn has_every_fixture_field_and_matching_body() {
        let origin = Origin { request_id: Some("req_1".into()), idempotency_key: None };
        let event = Event::new("evt_test_1".into(), SESSION_EXPIRED, 7, json!({"id": "cs_test_1"}), Connect::default(), 1, &origin);
        let fixture: Value = serde_json::from_str(include_str!("../../../fixtures/stripe/event.json")).unwrap();
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<BTreeSet<_>>();
        assert_eq!(keys(&event.json), keys(&fixture));
        let reparsed: Value = serde_json::from_str(&event.body).unwrap();
        assert_eq!(reparsed, event.json);
        assert_eq!(reparsed["data"]["object"]["id"], "cs_test_1");
        assert_eq!(reparsed["request"]["id"], "req_1");
        assert!(reparsed.get("account").is_none(), "a platform event names no account");
    }

    #[test]
    fn connect_events_name_their_account_and_what_changed() {
        let before = json!({"id": "acct_1", "payouts_enabled": false, "email": "a@x.com"});
        let after = json!({"id": "acct_1", "payouts_enabled": true, "email": "a@x.com"});
        let connect = Connect { account: Some("acct_1".into()), previous_attributes: Some(previous_attributes(&before, &after)) };
        let event = Event::new("evt_1".into(), ACCOUNT_UPDATED, 7, after, connect, 0, &Origin::default());
        let reparsed: Value = serde_json::from_str(&event.body).unwrap();
        assert_eq!(reparsed["account"], "acct_1");
        assert_eq!(reparsed["data"]["previous_attributes"], json!({"payouts_enabled": false}));
        assert_eq!(event.account.as_deref(), Some("acct_1"));
    }
}
