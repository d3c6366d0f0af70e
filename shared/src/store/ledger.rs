//! The payments ledger and the processed-event record.
//!
//! The ledger is keyed by PaymentIntent, because refund events name only the
//! PaymentIntent: `PAYMENT#<pi>` holds the payment (`PAYMENT`, with its
//! checkout once known) and one item per refund (`REFUND#<re_…>`), whichever
//! event reported it first, so a refund is recorded once however many
//! events (ours, `refund.*`, `charge.refunded`) tell of it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::keys::{PK, SK};
use super::error::lost_condition;
use super::item::{key, s};
use super::{Store, StoreError};
use crate::domain::{CheckoutId, Currency};

/// Stripe retries deliveries for three days; a month covers any redelivery
/// or manual resend worth skipping cheaply.
const EVENT_TTL: jiff::SignedDuration = jiff::SignedDuration::from_hours(30 * 24);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub payment_intent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout_id: Option<CheckoutId>,
    #[serde(default)]
    pub amount: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    /// The charge's running total refunded, as `charge.refunded` last said.
    #[serde(default)]
    pub charge_amount_refunded: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub refund_id: String,
    pub payment_intent: String,
    pub amount: u64,
    /// Stripe's: `pending`, `requires_action`, `succeeded`, `failed`, `canceled`.
    pub status: String,
    /// Set for the refunds we make for lessons we could not honour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lesson_index: Option<usize>,
}

impl Refund {
    /// Money that has left or is leaving.
    pub fn counts(&self) -> bool {
        matches!(self.status.as_str(), "succeeded" | "pending" | "requires_action")
    }
}

/// Everything recorded about one PaymentIntent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    pub payment: Option<Payment>,
    pub refunds: Vec<Refund>,
}

impl Ledger {
    pub fn refunded(&self) -> u64 {
        let by_refunds: u64 = self.refunds.iter().filter(|r| r.counts()).map(|r| r.amount).sum();
        by_refunds.max(self.payment.as_ref().map_or(0, |p| p.charge_amount_refunded))
    }

    /// Known to be paid and refunded in full.
    pub fn fully_refunded(&self) -> bool {
        self.payment.as_ref().is_some_and(|p| p.amount > 0 && self.refunded() >= p.amount)
    }

    pub fn refund_for_lesson(&self, index: usize) -> Option<&Refund> {
        self.refunds.iter().find(|r| r.lesson_index == Some(index) && r.counts())
    }
}

fn payment_pk(intent: &str) -> String {
    format!("PAYMENT#{intent}")
}

impl Store {
    /// Records a payment: an update of its own fields only, so it is
    /// idempotent and never disturbs what refund events wrote first.
    pub fn payment_item(&self, intent: &str, checkout: &CheckoutId, amount: u64, currency: Currency) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(payment_pk(intent), "PAYMENT")))
            .update_expression("SET payment_intent = :pi, checkout_id = :co, amount = :amount, currency = :currency")
            .expression_attribute_values(":pi", s(intent))
            .expression_attribute_values(":co", s(checkout.as_str()))
            .expression_attribute_values(":amount", AttributeValue::N(amount.to_string()))
            .expression_attribute_values(":currency", s(currency.as_str()))
            .build()
            .map_err(|e| StoreError::corrupt("record payment", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Records a refund once; a later report replaces it only while the
    /// stored one is still in progress (events arrive in any order).
    pub async fn record_refund(&self, refund: &Refund) -> Result<(), StoreError> {
        let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(refund).map_err(|e| StoreError::corrupt("record refund", e))?;
        item.extend(key(payment_pk(&refund.payment_intent), &format!("REFUND#{}", refund.refund_id)));
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #status IN (:pending, :action)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":action", s("requires_action"))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(err) if lost_condition(&err) => Ok(()),
            Err(err) => Err(StoreError::sdk("record refund", err)),
        }
    }

    /// Records the running refunded total a `charge.refunded` reports; an
    /// older, smaller total arriving late never lowers it.
    pub async fn record_charge_refunded(&self, intent: &str, amount_refunded: u64) -> Result<(), StoreError> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(payment_pk(intent), "PAYMENT")))
            .update_expression("SET payment_intent = :pi, charge_amount_refunded = :r")
            .condition_expression("attribute_not_exists(charge_amount_refunded) OR charge_amount_refunded < :r")
            .expression_attribute_values(":pi", s(intent))
            .expression_attribute_values(":r", AttributeValue::N(amount_refunded.to_string()))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(err) if lost_condition(&err) => Ok(()),
            Err(err) => Err(StoreError::sdk("record charge refund", err)),
        }
    }

    pub async fn ledger(&self, intent: &str) -> Result<Ledger, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", s(payment_pk(intent)))
            .consistent_read(true);
        let items = self.query_all("read ledger", query).await?;
        let mut ledger = Ledger::default();
        for item in &items {
            let sk = item.get(SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            if sk == "PAYMENT" {
                ledger.payment = Some(serde_dynamo::from_item(item.clone()).map_err(|e| StoreError::corrupt("read ledger", e))?);
            } else if sk.starts_with("REFUND#") {
                ledger.refunds.push(serde_dynamo::from_item(item.clone()).map_err(|e| StoreError::corrupt("read ledger", e))?);
            }
        }
        Ok(ledger)
    }

    /// Whether a Stripe event was handled already: a cheap skip for
    /// redeliveries; correctness never depends on it.
    pub async fn event_seen(&self, event_id: &str) -> Result<bool, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("STRIPE_EVENT#{event_id}"), "EVENT")))
            .send()
            .await
            .map_err(|e| StoreError::sdk("read event", e))?;
        Ok(output.item.is_some())
    }

    pub async fn mark_event(&self, event_id: &str, kind: &str, now: Timestamp) -> Result<(), StoreError> {
        let mut item = key(format!("STRIPE_EVENT#{event_id}"), "EVENT");
        item.insert("type".into(), s(kind));
        item.insert("ttl".into(), AttributeValue::N((now + EVENT_TTL).as_second().to_string()));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(|e| StoreError::sdk("record event", e))?;
        Ok(())
    }
}
