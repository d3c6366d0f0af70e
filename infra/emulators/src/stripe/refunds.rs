//! Refunds of a succeeded PaymentIntent, partial or full, never more than
//! was paid; shaped like Stripe's `refund` and `charge` (infra/fixtures/stripe).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::error::ApiError;
use super::form::{Param, Params};
use super::sessions::parse_metadata;

const KNOWN: [&str; 5] = ["payment_intent", "amount", "metadata", "reason", "expand"];
const REASONS: [&str; 3] = ["duplicate", "fraudulent", "requested_by_customer"];

/// The body of `POST /_emulator/refund_failures`: the next `count` refunds
/// (default 1) are refused when created (`when: "create"`, with Stripe's
/// `code`), or are made `succeeded` and then fail (`when: "later"`, with a
/// `failure_reason`), as a refund to a closed card does.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureSpec {
    pub when: FailWhen,
    pub count: Option<u32>,
    pub code: Option<String>,
    pub failure_reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailWhen {
    Create,
    Later,
}

/// Codes Stripe answers a refund it will not make with.
const REFUSAL_CODES: [&str; 4] = ["charge_not_refundable", "charge_already_refunded", "amount_too_large", "charge_disputed"];
/// `failure_reason` values Stripe documents for refunds.
const FAILURE_REASONS: [&str; 4] = ["expired_or_canceled_card", "lost_or_stolen_card", "declined", "unknown"];

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RefundFailure {
    pub when: FailWhen,
    pub remaining: u32,
    pub code: &'static str,
    pub failure_reason: &'static str,
}

impl RefundFailure {
    pub fn new(spec: FailureSpec) -> Result<Self, String> {
        let code = match spec.code.as_deref() {
            None => REFUSAL_CODES[0],
            Some(code) => REFUSAL_CODES.into_iter().find(|c| *c == code).ok_or_else(|| format!("code must be one of {}", REFUSAL_CODES.join(", ")))?,
        };
        let failure_reason = match spec.failure_reason.as_deref() {
            None => FAILURE_REASONS[0],
            Some(reason) => FAILURE_REASONS.into_iter().find(|r| *r == reason).ok_or_else(|| format!("failure_reason must be one of {}", FAILURE_REASONS.join(", ")))?,
        };
        let remaining = spec.count.unwrap_or(1);
        if remaining == 0 {
            return Err("count must be at least 1; clear with DELETE /_emulator/refund_failures".into());
        }
        Ok(Self { when: spec.when, remaining, code, failure_reason })
    }

    /// What Stripe answers a refund it refuses.
    pub fn refusal(&self) -> ApiError {
        ApiError::InvalidRequest { message: format!("The emulator was told to refuse this refund ({}).", self.code), param: None, code: Some(self.code) }
    }
}

/// Uses up one refund of the current failure, clearing it after its last.
pub fn take_failure(slot: &mut Option<RefundFailure>) -> Option<RefundFailure> {
    let failure = slot.as_mut()?;
    let taken = failure.clone();
    failure.remaining -= 1;
    if failure.remaining == 0 {
        *slot = None;
    }
    Some(taken)
}

/// The refund after it failed: the money is back in the balance.
pub fn failed(refund: &Value, failure_reason: &str) -> Value {
    let mut refund = refund.clone();
    refund["status"] = Value::from("failed");
    refund["failure_reason"] = Value::from(failure_reason);
    refund
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub payment_intent: String,
    pub amount: Option<i64>,
    pub metadata: BTreeMap<String, String>,
    pub reason: Option<String>,
}

/// `POST /v1/refunds` parameters, refused as Stripe refuses them.
pub fn parse(params: &Params) -> Result<RefundRequest, ApiError> {
    if let Some(unknown) = params.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(ApiError::invalid(format!("Received unknown parameter: {unknown}"), unknown.clone(), Some("parameter_unknown")));
    }
    let text = |name: &str| match params.get(name) {
        None => Ok(None),
        Some(Param::Str(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid(format!("Invalid string: {name}"), name, None)),
    };
    let payment_intent = text("payment_intent")?.filter(|s| !s.is_empty()).ok_or_else(|| ApiError::missing("payment_intent"))?;
    let amount = match text("amount")? {
        None => None,
        Some(raw) => match raw.parse::<i64>() {
            Ok(amount) if amount > 0 => Some(amount),
            Ok(_) => return Err(ApiError::invalid("Invalid positive integer", "amount", Some("parameter_invalid_integer"))),
            Err(_) => return Err(ApiError::invalid(format!("Invalid integer: {raw}"), "amount", Some("parameter_invalid_integer"))),
        },
    };
    let reason = text("reason")?;
    if let Some(reason) = reason.as_deref().filter(|r| !REASONS.contains(r)) {
        return Err(ApiError::invalid(format!("Invalid reason: must be one of {}; got {reason}", REASONS.join(", ")), "reason", None));
    }
    Ok(RefundRequest { payment_intent, amount, metadata: parse_metadata(params.get("metadata"), "metadata")?, reason })
}

/// The refund and the charge as it stands after it, given what was
/// refunded of `intent` before.
pub fn create(intent: &Value, refunded_before: i64, request: RefundRequest, id: String, now: i64) -> Result<(Value, Value), ApiError> {
    if intent["status"] != "succeeded" {
        return Err(ApiError::InvalidRequest {
            message: format!("This PaymentIntent ({}) does not have a successful charge to refund.", request.payment_intent),
            param: None,
            code: Some("charge_not_refundable"),
        });
    }
    let paid = intent["amount"].as_i64().unwrap_or(0);
    let left = paid - refunded_before;
    if left <= 0 {
        return Err(ApiError::InvalidRequest {
            message: format!("Charge {} has already been refunded.", intent["latest_charge"].as_str().unwrap_or_default()),
            param: None,
            code: Some("charge_already_refunded"),
        });
    }
    let amount = request.amount.unwrap_or(left);
    if amount > left {
        return Err(ApiError::InvalidRequest {
            message: format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({left})"),
            param: Some("amount".into()),
            code: Some("amount_too_large"),
        });
    }
    let charge_id = intent["latest_charge"].clone();
    let refund = json!({
        "id": id, "object": "refund", "amount": amount, "balance_transaction": null, "charge": charge_id, "created": now,
        "currency": intent["currency"], "customer": null, "customer_account": null,
        "destination_details": { "card": { "type": "refund" }, "type": "card" },
        "metadata": request.metadata, "payment_intent": request.payment_intent, "payment_method": intent["payment_method"],
        "reason": request.reason, "receipt_number": null, "source_transfer_reversal": null, "status": "succeeded", "transfer_reversal": null,
    });
    let total = refunded_before + amount;
    let charge = json!({
        "id": charge_id, "object": "charge", "amount": paid, "amount_captured": paid, "amount_refunded": total,
        "captured": true, "created": intent["created"], "currency": intent["currency"], "livemode": false,
        "metadata": intent["metadata"], "paid": true, "payment_intent": request.payment_intent,
        "payment_method": intent["payment_method"], "refunded": total == paid, "status": "succeeded",
    });
    Ok((refund, charge))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent() -> Value {
        json!({"id": "pi_1", "status": "succeeded", "amount": 3000, "currency": "eur", "latest_charge": "ch_1", "payment_method": "pm_1", "metadata": {}})
    }

    fn request(amount: Option<i64>) -> RefundRequest {
        RefundRequest { payment_intent: "pi_1".into(), amount, metadata: BTreeMap::new(), reason: None }
    }

    #[test]
    fn partial_then_the_rest_then_nothing() {
        let (refund, charge) = create(&intent(), 0, request(Some(1000)), "re_1".into(), 1).unwrap();
        assert_eq!((refund["amount"].as_i64(), charge["amount_refunded"].as_i64(), charge["refunded"].as_bool()), (Some(1000), Some(1000), Some(false)));
        let (refund, charge) = create(&intent(), 1000, request(None), "re_2".into(), 2).unwrap();
        assert_eq!((refund["amount"].as_i64(), charge["refunded"].as_bool()), (Some(2000), Some(true)));
        assert!(matches!(create(&intent(), 3000, request(None), "re_3".into(), 3), Err(ApiError::InvalidRequest { code: Some("charge_already_refunded"), .. })));
        assert!(matches!(create(&intent(), 1000, request(Some(2001)), "re_4".into(), 3), Err(ApiError::InvalidRequest { code: Some("amount_too_large"), .. })));
    }

    #[test]
    fn unknown_parameters_are_refused() {
        let params = super::super::form::parse(b"payment_intent=pi_1&charge_everything=1").unwrap();
        assert!(matches!(parse(&params), Err(ApiError::InvalidRequest { code: Some("parameter_unknown"), .. })));
        let params = super::super::form::parse(b"payment_intent=pi_1&amount=0").unwrap();
        assert!(parse(&params).is_err());
    }
}
