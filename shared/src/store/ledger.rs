//! The payments ledger and the processed-event record.
//!
//! The ledger is keyed by PaymentIntent, because refund events name only the
//! PaymentIntent: `PAYMENT#<pi>` holds the payment (`PAYMENT`, with its
//! checkout once known), one item per refund (`REFUND#<re_…>`), whichever
//! event reported it first, so a refund is recorded once however many
//! events (ours, `refund.*`, `charge.refunded`) tell of it, and the refund
//! obligations of the payment (`OWED#…`, see `obligations`).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::keys::{PK, SK};
use super::error::lost_condition;
use super::item::{key, s};
use super::{Store, StoreError};
use super::keys::payment_pk;
use super::earnings::{Earning, Reversal};
use super::obligations::{Obligation, ObligationStatus};
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
    /// How many cancellations owed money back from this payment: each is
    /// conditioned on the count it read, so two cannot both spend what
    /// was left of it.
    #[serde(default)]
    pub cancellations: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub refund_id: String,
    pub payment_intent: String,
    pub amount: u64,
    /// Stripe's: `pending`, `requires_action`, `succeeded`, `failed`, `canceled`.
    pub status: String,
    /// The obligation it settles (its `metadata`); none for dashboard refunds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obligation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

impl Refund {
    /// Money that has left or is leaving.
    pub fn counts(&self) -> bool {
        matches!(self.status.as_str(), "succeeded" | "pending" | "requires_action")
    }

    /// Failed after it was made, or cancelled: the money stayed with us.
    pub fn failed(&self) -> bool {
        matches!(self.status.as_str(), "failed" | "canceled")
    }
}

/// A dispute of the payment's charge, as Stripe last reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    pub dispute_id: String,
    pub payment_intent: String,
    pub amount: u64,
    pub reason: String,
    /// Stripe's: `warning_needs_response`, `warning_under_review`,
    /// `warning_closed` (an inquiry), `needs_response`, `under_review`,
    /// `won`, `lost`, `prevented` (a chargeback).
    pub status: String,
    /// When the evidence is due (`evidence_details.due_by`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_by: Option<Timestamp>,
}

const CLOSED_DISPUTE: [&str; 4] = ["won", "lost", "warning_closed", "prevented"];

impl Dispute {
    pub fn is_closed(&self) -> bool {
        CLOSED_DISPUTE.contains(&self.status.as_str())
    }

    /// The bank took the money back (and has not returned it): the
    /// lessons it paid for that have not started cannot be held.
    pub fn takes_the_money(&self) -> bool {
        matches!(self.status.as_str(), "needs_response" | "under_review" | "lost")
    }

    /// Closed in the platform's favour: a chargeback `won`, or an inquiry
    /// closed without one (`warning_closed`).
    pub fn returned_the_money(&self) -> bool {
        matches!(self.status.as_str(), "won" | "warning_closed")
    }

    /// The state that asks a person to answer by `due_by`.
    pub fn needs_response(&self) -> bool {
        matches!(self.status.as_str(), "needs_response" | "warning_needs_response")
    }

    /// The statuses a report of this one must not replace: any closed one,
    /// and the review that follows a response.
    fn later_statuses(&self) -> Vec<&'static str> {
        let mut later = CLOSED_DISPUTE.to_vec();
        match self.status.as_str() {
            "needs_response" => later.push("under_review"),
            "warning_needs_response" => later.push("warning_under_review"),
            _ => {}
        }
        later
    }
}

/// Everything recorded about one PaymentIntent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    pub payment: Option<Payment>,
    pub refunds: Vec<Refund>,
    pub obligations: Vec<Obligation>,
    pub disputes: Vec<Dispute>,
    /// What the payment's lessons earned their teachers, and what was taken back.
    pub earnings: Vec<Earning>,
    pub reversals: Vec<Reversal>,
    /// The credits a package payment granted, and what became of them.
    pub grant: Option<super::Grant>,
}

impl Ledger {
    pub fn paid(&self) -> u64 {
        self.payment.as_ref().map_or(0, |p| p.amount)
    }

    /// What may still go back: nothing once a chargeback took the money,
    /// else what was paid less what was refunded and what is owed.
    pub fn refundable(&self) -> u64 {
        if self.disputes.iter().any(Dispute::takes_the_money) {
            return 0;
        }
        self.paid().saturating_sub(self.refunded()).saturating_sub(self.owed_total())
    }

    pub fn cancellations(&self) -> u64 {
        self.payment.as_ref().map_or(0, |p| p.cancellations)
    }

    /// What has left or is leaving. `charge.refunded` may tell of refunds
    /// whose own events have not arrived yet; a refund that failed later
    /// is no longer in Stripe's running total.
    pub fn refunded(&self) -> u64 {
        let by_refunds: u64 = self.refunds.iter().filter(|r| r.counts()).map(|r| r.amount).sum();
        let failed: u64 = self.refunds.iter().filter(|r| r.failed()).map(|r| r.amount).sum();
        let by_charge = self.payment.as_ref().map_or(0, |p| p.charge_amount_refunded).saturating_sub(failed);
        by_refunds.max(by_charge)
    }

    /// Known to be paid and refunded in full.
    pub fn fully_refunded(&self) -> bool {
        self.payment.as_ref().is_some_and(|p| p.amount > 0 && self.refunded() >= p.amount)
    }

    /// The refund made for an obligation: one that counts if there is one (a
    /// later try after a failure), else the one that failed.
    pub fn refund_for(&self, obligation_id: &str) -> Option<&Refund> {
        let mut mine = self.refunds.iter().filter(|r| r.obligation_id.as_deref() == Some(obligation_id));
        mine.clone().find(|r| r.counts()).or_else(|| mine.next_back())
    }

    /// The obligations still to be asked of Stripe (`owed`, no refund made),
    /// oldest first, each with the amount to ask for: its own, capped in
    /// turn by what is left on the payment, so that together with what was
    /// refunded they never exceed what was paid (0: nothing is left).
    pub fn owed(&self) -> Vec<(&Obligation, u64)> {
        // A lost dispute gave its amount back to the cardholder: nothing of it is left to refund.
        let lost: u64 = self.disputes.iter().filter(|d| d.status == "lost").map(|d| d.amount).sum();
        let mut left = self.paid().saturating_sub(self.refunded()).saturating_sub(lost);
        let mut owed: Vec<&Obligation> = self.obligations.iter().filter(|o| o.status == ObligationStatus::Owed && self.refund_for(&o.obligation_id).is_none()).collect();
        owed.sort_by(|a, b| (a.created_at, &a.obligation_id).cmp(&(b.created_at, &b.obligation_id)));
        owed.into_iter()
            .map(|o| {
                let take = o.amount.min(left);
                left -= take;
                (o, take)
            })
            .collect()
    }

    pub fn owed_total(&self) -> u64 {
        self.owed().iter().map(|(_, amount)| amount).sum()
    }
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

    /// Counts a cancellation that owes money back from the payment, provided
    /// none was counted since `read` (see [`Payment::cancellations`]).
    pub fn payment_cancellation_item(&self, intent: &str, read: u64) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(payment_pk(intent), "PAYMENT")))
            .update_expression("SET cancellations = :next")
            .condition_expression(if read == 0 { "attribute_not_exists(cancellations) OR cancellations = :read" } else { "cancellations = :read" })
            .expression_attribute_values(":read", AttributeValue::N(read.to_string()))
            .expression_attribute_values(":next", AttributeValue::N((read + 1).to_string()))
            .build()
            .map_err(|e| StoreError::corrupt("count cancellation", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Records a refund as Stripe last reported it. Events arrive in any
    /// order, so a report replaces the stored one only when it says more: a
    /// refund still in progress may become `succeeded`, and `failed` or
    /// `canceled` (which Stripe may report even after `succeeded`) always
    /// wins; nothing replaces those.
    pub async fn record_refund(&self, refund: &Refund) -> Result<(), StoreError> {
        let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(refund).map_err(|e| StoreError::corrupt("record refund", e))?;
        item.extend(key(payment_pk(&refund.payment_intent), &format!("REFUND#{}", refund.refund_id)));
        let condition = if refund.failed() {
            "attribute_not_exists(#pk) OR NOT #status IN (:failed, :canceled)"
        } else {
            "attribute_not_exists(#pk) OR #status IN (:pending, :action)"
        };
        let mut put = self.client.put_item().table_name(&self.table).set_item(Some(item)).condition_expression(condition).expression_attribute_names("#pk", PK).expression_attribute_names("#status", "status");
        put = if refund.failed() {
            put.expression_attribute_values(":failed", s("failed")).expression_attribute_values(":canceled", s("canceled"))
        } else {
            put.expression_attribute_values(":pending", s("pending")).expression_attribute_values(":action", s("requires_action"))
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(err) if lost_condition(&err) => Ok(()),
            Err(err) => Err(StoreError::sdk("record refund", err)),
        }
    }

    /// Records a dispute as Stripe last reported it. Events arrive in any
    /// order: a closed dispute is never reopened by an older report, nor
    /// one under review sent back to needing a response.
    pub async fn record_dispute(&self, dispute: &Dispute) -> Result<(), StoreError> {
        let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(dispute).map_err(|e| StoreError::corrupt("record dispute", e))?;
        item.extend(key(payment_pk(&dispute.payment_intent), &format!("DISPUTE#{}", dispute.dispute_id)));
        let mut put = self.client.put_item().table_name(&self.table).set_item(Some(item));
        if !dispute.is_closed() {
            let later = dispute.later_statuses();
            let names: Vec<String> = (0..later.len()).map(|i| format!(":later{i}")).collect();
            put = put
                .condition_expression(format!("attribute_not_exists(#pk) OR NOT #status IN ({})", names.join(", ")))
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#status", "status");
            for (name, status) in names.iter().zip(later) {
                put = put.expression_attribute_values(name, s(status));
            }
        }
        match put.send().await {
            Ok(_) => Ok(()),
            Err(err) if lost_condition(&err) => Ok(()),
            Err(err) => Err(StoreError::sdk("record dispute", err)),
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
        let items = self.partition("read ledger", &payment_pk(intent)).await?;
        let mut ledger = Ledger::default();
        for item in &items {
            let sk = item.get(SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            if sk == "PAYMENT" {
                ledger.payment = Some(serde_dynamo::from_item(item.clone()).map_err(|e| StoreError::corrupt("read ledger", e))?);
            } else if sk.starts_with("REFUND#") {
                ledger.refunds.push(serde_dynamo::from_item(item.clone()).map_err(|e| StoreError::corrupt("read ledger", e))?);
            } else if sk.starts_with("OWED#") {
                ledger.obligations.push(serde_dynamo::from_item(item.clone()).map_err(|e| StoreError::corrupt("read ledger", e))?);
            } else if sk.starts_with("DISPUTE#") {
                ledger.disputes.push(serde_dynamo::from_item(item.clone()).map_err(|e| StoreError::corrupt("read ledger", e))?);
            } else if sk.starts_with("EARNING#") {
                ledger.earnings.push(serde_dynamo::from_item(item.clone()).map_err(|e| StoreError::corrupt("read ledger", e))?);
            } else if sk.starts_with("REVERSAL#") {
                ledger.reversals.push(serde_dynamo::from_item(item.clone()).map_err(|e| StoreError::corrupt("read ledger", e))?);
            } else if sk == super::grants::GRANT_SK {
                ledger.grant = Some(serde_dynamo::from_item(item.clone()).map_err(|e| StoreError::corrupt("read ledger", e))?);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger(paid: u64, charge_total: u64, refunds: &[(u64, &str)]) -> Ledger {
        Ledger {
            payment: Some(Payment { payment_intent: "pi_1".into(), checkout_id: None, amount: paid, currency: None, charge_amount_refunded: charge_total, cancellations: 0 }),
            refunds: refunds
                .iter()
                .enumerate()
                .map(|(i, (amount, status))| Refund { refund_id: format!("re_{i}"), payment_intent: "pi_1".into(), amount: *amount, status: (*status).into(), obligation_id: None, failure_reason: None })
                .collect(),
            obligations: Vec::new(),
            disputes: Vec::new(),
            earnings: Vec::new(),
            reversals: Vec::new(),
            grant: None,
        }
    }

    #[test]
    fn refunded_counts_refunds_in_flight_and_trusts_the_charge_total_less_later_failures() {
        assert_eq!(ledger(3000, 0, &[(1000, "succeeded"), (500, "pending"), (200, "requires_action")]).refunded(), 1700);
        // charge.refunded told of a refund whose own event has not come yet.
        assert_eq!(ledger(3000, 3000, &[(1000, "succeeded")]).refunded(), 3000);
        // A refund in that total failed since: its money is back.
        assert_eq!(ledger(3000, 3000, &[(1000, "failed"), (2000, "succeeded")]).refunded(), 2000);
        assert_eq!(ledger(3000, 1000, &[(1000, "canceled")]).refunded(), 0);
    }

    fn dispute(status: &str) -> Dispute {
        Dispute { dispute_id: "dp_1".into(), payment_intent: "pi_1".into(), amount: 3000, reason: "fraudulent".into(), status: status.into(), due_by: None }
    }

    #[test]
    fn a_dispute_says_what_it_does_to_the_money_and_what_an_older_report_may_not_undo() {
        let takes: Vec<&str> = ["warning_needs_response", "warning_under_review", "warning_closed", "needs_response", "under_review", "won", "lost", "prevented"]
            .into_iter()
            .filter(|s| dispute(s).takes_the_money())
            .collect();
        assert_eq!(takes, ["needs_response", "under_review", "lost"]);
        assert!(dispute("needs_response").needs_response() && dispute("warning_needs_response").needs_response());
        assert!(!dispute("under_review").needs_response() && !dispute("won").needs_response());
        assert!(dispute("warning_closed").is_closed() && !dispute("warning_under_review").is_closed());
        let later = |s: &str| dispute(s).later_statuses();
        assert_eq!(later("needs_response"), ["won", "lost", "warning_closed", "prevented", "under_review"]);
        assert_eq!(later("warning_needs_response"), ["won", "lost", "warning_closed", "prevented", "warning_under_review"]);
        assert_eq!(later("under_review"), ["won", "lost", "warning_closed", "prevented"]);
    }

    /// A lost dispute of part of the payment takes only its amount: a
    /// cancellation owed besides it is still refunded from the rest.
    #[test]
    fn a_lost_dispute_leaves_the_rest_of_the_payment_to_what_is_owed() {
        let mut l = ledger(6000, 0, &[]);
        let owed = crate::store::Obligation::for_lesson(&CheckoutId::parse("co_1").unwrap(), 0, "pi_1", 3000, Currency::parse("eur").unwrap(), crate::store::RefundReason::Cancelled, jiff::Timestamp::UNIX_EPOCH);
        l.obligations.push(owed);
        l.disputes.push(dispute("lost"));
        assert_eq!(l.owed().iter().map(|(_, a)| *a).collect::<Vec<_>>(), [3000], "6000 paid, 3000 lost to the dispute, 3000 owed");
        l.disputes.push(Dispute { dispute_id: "dp_2".into(), ..dispute("lost") });
        assert_eq!(l.owed().iter().map(|(_, a)| *a).collect::<Vec<_>>(), [0], "nothing left once both were lost");
    }

    #[test]
    fn what_may_go_back_is_what_is_left_unowed_and_nothing_after_a_chargeback() {
        let mut l = ledger(6000, 0, &[(1000, "succeeded"), (500, "failed")]);
        assert_eq!(l.refundable(), 5000);
        let mut owed = crate::store::Obligation::for_lesson(&CheckoutId::parse("co_1").unwrap(), 0, "pi_1", 1500, Currency::parse("eur").unwrap(), crate::store::RefundReason::Cancelled, jiff::Timestamp::UNIX_EPOCH);
        l.obligations.push(owed.clone());
        assert_eq!(l.refundable(), 3500, "owed but not yet refunded counts as gone");
        owed.status = ObligationStatus::Failed;
        l.obligations = vec![owed];
        assert_eq!(l.refundable(), 5000, "a failed obligation owes nothing more");
        l.disputes.push(dispute("warning_needs_response"));
        assert_eq!(l.refundable(), 5000, "an inquiry took nothing");
        l.disputes.push(Dispute { dispute_id: "dp_2".into(), ..dispute("under_review") });
        assert_eq!(l.refundable(), 0);
        assert_eq!((l.cancellations(), Ledger::default().cancellations()), (0, 0));
    }

    #[test]
    fn only_a_paid_amount_can_be_refunded_in_full() {
        assert!(ledger(3000, 0, &[(3000, "succeeded")]).fully_refunded());
        assert!(!ledger(3000, 0, &[(2999, "succeeded")]).fully_refunded());
        assert!(!ledger(0, 0, &[]).fully_refunded(), "nothing was paid");
        assert!(!Ledger::default().fully_refunded(), "the payment is not known yet");
    }
}
