//! The PaymentIntent a paid session leaves behind, shaped like Stripe's
//! `payment_intent` (infra/fixtures/stripe) in its `succeeded` state.

use serde_json::{Value, json};

use super::sessions::Session;

pub fn succeeded(id: &str, charge_id: &str, payment_method_id: &str, session: &Session, now: i64) -> Value {
    let spec = &session.spec;
    // Split in two: one json! of this size exceeds the macro recursion limit.
    let head = json!({
        "id": id,
        "object": "payment_intent",
        "amount": spec.amount_total,
        "amount_capturable": 0,
        "amount_details": { "tip": {} },
        "amount_received": spec.amount_total,
        "application": null,
        "application_fee_amount": null,
        "automatic_payment_methods": null,
        "canceled_at": null,
        "cancellation_reason": null,
        "capture_method": "automatic_async",
        "client_secret": format!("{id}_secret_emulated"),
        "confirmation_method": "automatic",
        "created": now,
        "currency": spec.currency,
        "customer": null,
        "customer_account": null,
        "description": null,
        "excluded_payment_method_types": null,
    });
    let tail = json!({
        "last_payment_error": null,
        "latest_charge": charge_id,
        "livemode": false,
        "managed_payments": { "enabled": false },
        "metadata": spec.payment_intent_metadata,
        "next_action": null,
        "on_behalf_of": null,
        "payment_method": payment_method_id,
        "payment_method_configuration_details": null,
        "payment_method_options": { "card": { "installments": null, "mandate_options": null, "network": null, "request_three_d_secure": "automatic" } },
        "payment_method_types": ["card"],
        "processing": null,
        "receipt_email": spec.customer_email,
        "review": null,
        "setup_future_usage": null,
        "shipping": null,
        "source": null,
        "statement_descriptor": null,
        "statement_descriptor_suffix": null,
        "status": "succeeded",
        "transfer_data": null,
        "transfer_group": spec.transfer_group,
    });
    super::objects::merge([head, tail])
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::form;
    use super::super::sessions::{self, Session, Status};
    use super::*;

    #[test]
    fn has_every_fixture_field_and_the_intent_metadata() {
        let body = "mode=payment&success_url=https://ex.com&payment_intent_data[metadata][booking]=b1&payment_intent_data[transfer_group]=g1\
                    &line_items[0][price_data][currency]=eur&line_items[0][price_data][unit_amount]=1800\
                    &line_items[0][price_data][product_data][name]=n&line_items[0][quantity]=1";
        let spec = sessions::parse_create(&form::parse(body.as_bytes()).unwrap(), 0).unwrap();
        let session = Session { id: "cs_test_1".into(), created: 0, url: String::new(), status: Status::Complete, payment_intent: None, funds: super::super::sessions::Funds::Settled, spec };
        let ours = succeeded("pi_test_1", "ch_test_1", "pm_test_1", &session, 5);
        let fixture: Value = serde_json::from_str(include_str!("../../../fixtures/stripe/payment_intent.json")).unwrap();
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<BTreeSet<_>>();
        assert_eq!(keys(&ours), keys(&fixture));
        assert_eq!(ours["amount"], 1800);
        assert_eq!(ours["metadata"]["booking"], "b1");
        assert_eq!(ours["latest_charge"], "ch_test_1");
        assert_eq!(ours["transfer_group"], "g1");
    }
}
