//! Disputes as Stripe shapes them (API version of `events::API_VERSION`):
//! opened and closed from the control API, as a bank would, each change
//! announced by its `charge.dispute.*` event.

use serde::Deserialize;
use serde_json::{Value, json};

use super::events::{self, Origin};
use super::state::{Emulator, new_id};

/// How long the merchant has to answer a chargeback (Stripe: 7 to 21 days).
const RESPONSE_DAYS: i64 = 14;

pub const OPEN_STATUSES: [&str; 4] = ["warning_needs_response", "warning_under_review", "needs_response", "under_review"];
pub const CLOSED_STATUSES: [&str; 4] = ["warning_closed", "won", "lost", "prevented"];
const REASONS: [&str; 6] = ["fraudulent", "product_not_received", "duplicate", "subscription_canceled", "credit_not_processed", "general"];

/// `POST /_emulator/disputes`: `{"payment_intent", "status"?, "reason"?, "amount"?}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenSpec {
    pub payment_intent: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub amount: Option<i64>,
}

/// A new dispute of `intent`'s charge, or why the spec is not one.
pub fn open(intent: &Value, spec: &OpenSpec, id: String, now: i64) -> Result<Value, String> {
    let status = spec.status.as_deref().unwrap_or("needs_response");
    if !OPEN_STATUSES.contains(&status) {
        return Err(format!("status must be one of {}", OPEN_STATUSES.join(", ")));
    }
    let reason = spec.reason.as_deref().unwrap_or("fraudulent");
    if !REASONS.contains(&reason) {
        return Err(format!("reason must be one of {}", REASONS.join(", ")));
    }
    if intent["status"] != "succeeded" {
        return Err(format!("payment intent {} has no successful charge to dispute", intent["id"]));
    }
    let paid = intent["amount"].as_i64().unwrap_or(0);
    let amount = spec.amount.unwrap_or(paid);
    if !(1..=paid).contains(&amount) {
        return Err(format!("amount must be 1 to {paid}"));
    }
    let inquiry = status.starts_with("warning_");
    Ok(json!({
        "id": id, "object": "dispute", "amount": amount, "balance_transactions": [], "charge": intent["latest_charge"], "created": now,
        "currency": intent["currency"], "enhanced_eligibility_types": [],
        "evidence": {"customer_name": null, "product_description": null, "uncategorized_text": null},
        "evidence_details": {"due_by": now + RESPONSE_DAYS * 86_400, "enhanced_eligibility": {}, "has_evidence": false, "past_due": false, "submission_count": 0},
        "is_charge_refundable": inquiry, "livemode": false, "metadata": {}, "payment_intent": intent["id"],
        "payment_method_details": {"card": {"brand": "visa", "case_type": if inquiry { "inquiry" } else { "chargeback" }, "network_reason_code": "10.4"}, "type": "card"},
        "reason": reason, "status": status,
    }))
}

/// `POST /_emulator/disputes/{id}/close`: `{"status": "won" | "lost" | "warning_closed" | "prevented"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseSpec {
    pub status: String,
}

pub fn close(dispute: &Value, spec: &CloseSpec) -> Result<Value, String> {
    if !CLOSED_STATUSES.contains(&spec.status.as_str()) {
        return Err(format!("status must be one of {}", CLOSED_STATUSES.join(", ")));
    }
    if CLOSED_STATUSES.contains(&dispute["status"].as_str().unwrap_or_default()) {
        return Err(format!("dispute {} is closed already", dispute["id"]));
    }
    let inquiry = dispute["status"].as_str().is_some_and(|s| s.starts_with("warning_"));
    if inquiry != spec.status.starts_with("warning_") && spec.status != "prevented" {
        return Err(format!("an {} closes as {}", if inquiry { "inquiry" } else { "chargeback" }, if inquiry { "warning_closed" } else { "won or lost" }));
    }
    let mut closed = dispute.clone();
    closed["status"] = Value::from(spec.status.clone());
    // An inquiry never took the money: its charge stays refundable. A
    // chargeback won gives the money back to the platform, which may then
    // refund it (from its own balance); lost, it is gone.
    closed["is_charge_refundable"] = Value::from(inquiry || spec.status == "won");
    Ok(closed)
}

impl Emulator {
    /// A bank disputes a payment (`/_emulator/disputes`): `charge.dispute.created`.
    pub fn open_dispute(&self, spec: &OpenSpec, now: i64) -> Result<Value, String> {
        let mut inner = self.lock();
        let intent = inner.payment_intents.get(&spec.payment_intent).ok_or_else(|| format!("no payment intent {}", spec.payment_intent))?;
        if inner.disputes.iter().any(|d| d["payment_intent"] == spec.payment_intent.as_str()) {
            return Err(format!("payment intent {} is disputed already: a charge is disputed once", spec.payment_intent));
        }
        let dispute = open(intent, spec, new_id("dp_test"), now)?;
        inner.disputes.push(dispute.clone());
        self.emit(&mut inner, events::DISPUTE_CREATED, dispute.clone(), now, &Origin::default());
        Ok(dispute)
    }

    /// The bank decides (`/_emulator/disputes/{id}/close`): `charge.dispute.closed`.
    pub fn close_dispute(&self, id: &str, spec: &CloseSpec, now: i64) -> Result<Value, String> {
        let mut inner = self.lock();
        let stored = inner.disputes.iter_mut().find(|d| d["id"] == id).ok_or_else(|| format!("no dispute {id}"))?;
        let closed = close(stored, spec)?;
        *stored = closed.clone();
        self.emit(&mut inner, events::DISPUTE_CLOSED, closed.clone(), now, &Origin::default());
        Ok(closed)
    }

    pub fn dispute(&self, id: &str) -> Option<Value> {
        self.lock().disputes.iter().find(|d| d["id"] == id).cloned()
    }

    /// Disputes, newest first, optionally of one PaymentIntent.
    pub fn disputes_newest_first(&self, payment_intent: Option<&str>) -> Vec<Value> {
        self.lock().disputes.iter().rev().filter(|d| payment_intent.is_none_or(|pi| d["payment_intent"] == pi)).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent() -> Value {
        json!({"id": "pi_1", "status": "succeeded", "amount": 3000, "currency": "eur", "latest_charge": "ch_1"})
    }

    fn spec(status: Option<&str>) -> OpenSpec {
        OpenSpec { payment_intent: "pi_1".into(), status: status.map(str::to_owned), reason: None, amount: None }
    }

    #[test]
    fn a_chargeback_disputes_the_whole_charge_and_closes_won_or_lost() {
        let dispute = open(&intent(), &spec(None), "dp_1".into(), 1_000).unwrap();
        assert_eq!((dispute["status"].as_str(), dispute["amount"].as_i64(), dispute["payment_intent"].as_str()), (Some("needs_response"), Some(3000), Some("pi_1")));
        assert_eq!(dispute["evidence_details"]["due_by"], 1_000 + 14 * 86_400);
        assert_eq!(close(&dispute, &CloseSpec { status: "lost".into() }).unwrap()["status"], "lost");
        assert!(close(&dispute, &CloseSpec { status: "warning_closed".into() }).is_err(), "a chargeback is no inquiry");
        let lost = close(&dispute, &CloseSpec { status: "lost".into() }).unwrap();
        assert!(close(&lost, &CloseSpec { status: "won".into() }).is_err(), "closed once");
    }

    #[test]
    fn an_inquiry_closes_as_warning_closed_and_bad_specs_are_refused() {
        let inquiry = open(&intent(), &spec(Some("warning_needs_response")), "dp_2".into(), 1_000).unwrap();
        assert_eq!(inquiry["is_charge_refundable"], true);
        let closed = close(&inquiry, &CloseSpec { status: "warning_closed".into() }).unwrap();
        assert_eq!((closed["status"].as_str(), closed["is_charge_refundable"].as_bool()), (Some("warning_closed"), Some(true)));
        assert!(open(&intent(), &spec(Some("won")), "dp_3".into(), 1_000).is_err());
        let unpaid = json!({"id": "pi_2", "status": "requires_payment_method", "amount": 3000});
        assert!(open(&unpaid, &spec(None), "dp_4".into(), 1_000).is_err());
    }
}
