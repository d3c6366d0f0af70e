//! The few fields we use of a Stripe event, read from its raw JSON: payloads
//! rendered in another API version carry other fields, and must never fail
//! to parse because of them.

use serde_json::Value;

use crate::domain::CheckoutId;
use crate::store::{Dispute, Refund, obligation_of_metadata};
pub use crate::payments::{SessionFacts, SessionPayment};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the body is not a JSON object")]
    NotJson,
    #[error("the event has no {0}")]
    Missing(&'static str),
}

#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub kind: String,
    pub livemode: bool,
    pub object: Value,
    /// The connected account a Connect event is about (top-level `account`).
    pub account: Option<String>,
}

/// A charge as `charge.refunded` carries it: the running total refunded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeFacts {
    pub payment_intent: String,
    pub amount: u64,
    pub amount_refunded: u64,
}

/// What an event asks of us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `checkout.session.completed`, paid or free, and `async_payment_succeeded`.
    Fulfil(SessionFacts),
    /// `checkout.session.completed` with `payment_status: unpaid`.
    AwaitAsyncPayment(SessionFacts),
    /// `checkout.session.async_payment_failed`.
    AsyncPaymentFailed(SessionFacts),
    /// `checkout.session.expired`.
    Expire(SessionFacts),
    /// `refund.*`: a refund as Stripe now has it.
    Refund(Refund),
    ChargeRefunded(ChargeFacts),
    /// `charge.dispute.*`: a dispute as Stripe now has it.
    Dispute(Dispute),
    /// `account.updated` of a teacher's connected account (Connect).
    AccountUpdated { account: String },
    /// `payout.failed` of a connected account: the teacher's bank refused it.
    PayoutFailed { account: String, payout: String, failure: String },
    Ignore,
}

/// What the Connect endpoint takes (events of teachers' connected accounts).
pub const CONNECT_HANDLED: [&str; 2] = ["account.updated", "payout.failed"];

pub const HANDLED: [&str; 11] = [
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "charge.refunded",
    "refund.created",
    "refund.updated",
    "refund.failed",
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
];

impl Event {
    pub fn parse(body: &[u8]) -> Result<Self, EventError> {
        let value: Value = serde_json::from_slice(body).map_err(|_| EventError::NotJson)?;
        let text = |field: &'static str| value.get(field).and_then(Value::as_str).map(str::to_owned).ok_or(EventError::Missing(field));
        Ok(Self {
            id: text("id")?,
            kind: text("type")?,
            livemode: value.get("livemode").and_then(Value::as_bool).ok_or(EventError::Missing("livemode"))?,
            object: value.pointer("/data/object").cloned().ok_or(EventError::Missing("data.object"))?,
            account: value.get("account").and_then(Value::as_str).map(str::to_owned),
        })
    }

    pub fn action(&self) -> Result<Action, EventError> {
        Ok(match self.kind.as_str() {
            "checkout.session.completed" => {
                let facts = self.session()?;
                match facts.payment {
                    SessionPayment::Unpaid => Action::AwaitAsyncPayment(facts),
                    _ => Action::Fulfil(facts),
                }
            }
            "checkout.session.async_payment_succeeded" => Action::Fulfil(SessionFacts { payment: SessionPayment::Paid, ..self.session()? }),
            "checkout.session.async_payment_failed" => Action::AsyncPaymentFailed(self.session()?),
            "checkout.session.expired" => Action::Expire(self.session()?),
            "refund.created" | "refund.updated" | "refund.failed" => Action::Refund(Refund {
                refund_id: self.text("id")?,
                payment_intent: self.text("payment_intent")?,
                amount: self.number("amount")?,
                status: self.text("status")?,
                obligation_id: obligation_of_metadata(|k| self.object.get("metadata").and_then(|m| m.get(k)).and_then(Value::as_str).map(str::to_owned)),
                failure_reason: self.object.get("failure_reason").and_then(Value::as_str).map(str::to_owned),
            }),
            "charge.refunded" => Action::ChargeRefunded(ChargeFacts {
                payment_intent: self.text("payment_intent")?,
                amount: self.number("amount")?,
                amount_refunded: self.number("amount_refunded")?,
            }),
            "charge.dispute.created" | "charge.dispute.updated" | "charge.dispute.closed" => Action::Dispute(Dispute {
                dispute_id: self.text("id")?,
                payment_intent: self.text("payment_intent")?,
                amount: self.number("amount")?,
                reason: self.text("reason")?,
                status: self.text("status")?,
                due_by: self.object.pointer("/evidence_details/due_by").and_then(Value::as_i64).and_then(|s| jiff::Timestamp::from_second(s).ok()),
            }),
            "account.updated" => Action::AccountUpdated { account: self.account.clone().or_else(|| self.object.get("id").and_then(Value::as_str).map(str::to_owned)).ok_or(EventError::Missing("account"))? },
            "payout.failed" => Action::PayoutFailed {
                account: self.account.clone().ok_or(EventError::Missing("account"))?,
                payout: self.text("id")?,
                failure: self.object.get("failure_code").and_then(Value::as_str).unwrap_or("unknown").to_owned(),
            },
            _ => Action::Ignore,
        })
    }

    fn session(&self) -> Result<SessionFacts, EventError> {
        let reference = self.object.get("client_reference_id").and_then(Value::as_str).or_else(|| self.object.pointer("/metadata/checkout_id").and_then(Value::as_str));
        let payment = match self.object.get("payment_status").and_then(Value::as_str) {
            Some("paid") => SessionPayment::Paid,
            Some("no_payment_required") => SessionPayment::NoPaymentRequired,
            _ => SessionPayment::Unpaid,
        };
        Ok(SessionFacts {
            session_id: self.text("id")?,
            checkout_id: reference.and_then(|r| CheckoutId::parse(r).ok()),
            amount_total: self.object.get("amount_total").and_then(Value::as_u64),
            currency: self.object.get("currency").and_then(Value::as_str).map(str::to_ascii_lowercase),
            payment,
            payment_intent: self.object.get("payment_intent").and_then(payment_intent_id),
        })
    }

    fn text(&self, field: &'static str) -> Result<String, EventError> {
        match self.object.get(field) {
            Some(Value::String(s)) => Ok(s.clone()),
            // An expanded object in place of its id.
            Some(Value::Object(o)) => o.get("id").and_then(Value::as_str).map(str::to_owned).ok_or(EventError::Missing(field)),
            _ => Err(EventError::Missing(field)),
        }
    }

    fn number(&self, field: &'static str) -> Result<u64, EventError> {
        self.object.get(field).and_then(Value::as_u64).ok_or(EventError::Missing(field))
    }
}

fn payment_intent_id(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(kind: &str, object: Value) -> Vec<u8> {
        json!({"id": "evt_1", "object": "event", "type": kind, "livemode": false, "api_version": "2099-01-01.future",
               "data": {"object": object, "previous_attributes": {"unknown": [1, 2]}}, "brand_new_field": {"x": 1}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn reads_a_completed_session_whatever_else_it_carries() {
        let body = event("checkout.session.completed", json!({"id": "cs_1", "client_reference_id": "co_abc", "amount_total": 3000,
            "currency": "EUR", "payment_status": "paid", "payment_intent": {"id": "pi_1", "object": "payment_intent"}, "new_thing": null}));
        let action = Event::parse(&body).unwrap().action().unwrap();
        let Action::Fulfil(facts) = action else { panic!("{action:?}") };
        assert_eq!(facts.checkout_id.unwrap().as_str(), "co_abc");
        assert_eq!((facts.amount_total, facts.currency.as_deref(), facts.payment_intent.as_deref()), (Some(3000), Some("eur"), Some("pi_1")));
    }

    #[test]
    fn unpaid_completion_waits_for_the_async_result() {
        let body = event("checkout.session.completed", json!({"id": "cs_1", "metadata": {"checkout_id": "co_abc"}, "payment_status": "unpaid"}));
        assert!(matches!(Event::parse(&body).unwrap().action().unwrap(), Action::AwaitAsyncPayment(f) if f.checkout_id.is_some()));
        let succeeded = event("checkout.session.async_payment_succeeded", json!({"id": "cs_1", "payment_status": "paid"}));
        assert!(matches!(Event::parse(&succeeded).unwrap().action().unwrap(), Action::Fulfil(_)));
    }

    #[test]
    fn the_stripe_fixtures_parse() {
        let fixture: Value = serde_json::from_str(include_str!("../../../infra/fixtures/stripe/event.json")).unwrap();
        assert_eq!(Event::parse(fixture.to_string().as_bytes()).unwrap().action().unwrap(), Action::Ignore, "a plan event is not ours");
        let mut refund: Value = serde_json::from_str(include_str!("../../../infra/fixtures/stripe/refund.json")).unwrap();
        refund["payment_intent"] = json!("pi_1");
        let action = Event::parse(&event("refund.updated", refund)).unwrap().action().unwrap();
        assert!(matches!(action, Action::Refund(Refund { amount: 100, ref status, .. }) if status == "succeeded"), "{action:?}");
        let mut charge: Value = serde_json::from_str(include_str!("../../../infra/fixtures/stripe/charge.json")).unwrap();
        charge["payment_intent"] = json!("pi_1");
        assert!(matches!(Event::parse(&event("charge.refunded", charge)).unwrap().action().unwrap(), Action::ChargeRefunded(_)));
        let session: Value = serde_json::from_str(include_str!("../../../infra/fixtures/stripe/checkout_session.json")).unwrap();
        assert!(Event::parse(&event("checkout.session.expired", session)).unwrap().action().is_ok());
    }

    #[test]
    fn a_refund_names_its_obligation_and_its_failure() {
        let ours = event("refund.failed", json!({"id": "re_1", "payment_intent": "pi_1", "amount": 3000, "status": "failed",
            "failure_reason": "expired_or_canceled_card", "metadata": {"obligation_id": "refund-co_abc-2", "checkout_id": "co_abc", "lesson_index": "2"}}));
        let Action::Refund(refund) = Event::parse(&ours).unwrap().action().unwrap() else { panic!() };
        assert_eq!((refund.obligation_id.as_deref(), refund.failure_reason.as_deref()), (Some("refund-co_abc-2"), Some("expired_or_canceled_card")));
        // Made before obligations had ids: derived from the checkout and lesson it was for.
        let older = event("refund.created", json!({"id": "re_2", "payment_intent": "pi_1", "amount": 3000, "status": "succeeded", "metadata": {"checkout_id": "co_abc", "lesson_index": "1"}}));
        let Action::Refund(refund) = Event::parse(&older).unwrap().action().unwrap() else { panic!() };
        assert_eq!(refund.obligation_id.as_deref(), Some("refund-co_abc-1"));
        let dashboard = event("refund.created", json!({"id": "re_3", "payment_intent": "pi_1", "amount": 10, "status": "succeeded", "metadata": {}}));
        let Action::Refund(refund) = Event::parse(&dashboard).unwrap().action().unwrap() else { panic!() };
        assert_eq!((refund.obligation_id, refund.failure_reason), (None, None));
    }

    #[test]
    fn a_dispute_names_its_payment_status_and_deadline() {
        let body = event("charge.dispute.created", json!({"id": "dp_1", "object": "dispute", "amount": 3000, "charge": "ch_1", "payment_intent": "pi_1",
            "reason": "fraudulent", "status": "needs_response", "evidence_details": {"due_by": 1_800_000_000, "has_evidence": false}}));
        let Action::Dispute(dispute) = Event::parse(&body).unwrap().action().unwrap() else { panic!() };
        assert_eq!((dispute.payment_intent.as_str(), dispute.amount, dispute.status.as_str()), ("pi_1", 3000, "needs_response"));
        assert_eq!(dispute.due_by, Some(jiff::Timestamp::from_second(1_800_000_000).unwrap()));
        assert!(dispute.takes_the_money() && dispute.needs_response() && !dispute.is_closed());
        let closed = event("charge.dispute.closed", json!({"id": "dp_1", "amount": 3000, "payment_intent": "pi_1", "reason": "fraudulent", "status": "won"}));
        let Action::Dispute(won) = Event::parse(&closed).unwrap().action().unwrap() else { panic!() };
        assert!(won.is_closed() && !won.takes_the_money() && won.due_by.is_none());
    }

    #[test]
    fn refuses_what_is_not_an_event() {
        assert_eq!(Event::parse(b"nope").unwrap_err(), EventError::NotJson);
        assert_eq!(Event::parse(br#"{"id": "evt_1"}"#).unwrap_err(), EventError::Missing("type"));
        let no_intent = event("refund.created", json!({"id": "re_1", "amount": 5, "status": "succeeded"}));
        assert_eq!(Event::parse(&no_intent).unwrap().action().unwrap_err(), EventError::Missing("payment_intent"));
    }
}
