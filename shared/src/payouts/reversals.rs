//! One reversal, worked: money a refund or lost chargeback took from a
//! lesson already transferred is taken back from the teacher's transfer,
//! once (`reversal-<booking>-<n>`). Stripe refuses when the teacher's
//! balance no longer covers it; that is recorded as the platform's loss
//! and a person is told, never retried forever.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};

use super::sweep::{Payouts, Worked};
use crate::metrics::{self, Metric, Tally};
use crate::store::{AttentionKind, Claim, Finish, REVERSALS, Reversal, StoreError, WorkKey};

/// A reversal failing (Stripe unreachable, a bad key) this long is
/// attention; it is still retried: only Stripe's refusal is a loss.
const ATTENTION_AFTER: SignedDuration = SignedDuration::from_hours(24);

impl Payouts<'_> {
    pub(super) async fn reverse(&self, key: &WorkKey, now: Timestamp) -> Result<Worked, StoreError> {
        let Some(claim) = self.store.claim_work(key, now, now + super::sweep::LEASE).await? else { return Ok(Worked::NotClaimed) };
        let reversal: Reversal = serde_dynamo::from_item(claim.item.clone()).map_err(|e| StoreError::corrupt("read reversal", e))?;
        let span = tracing::info_span!("reversal", booking_id = %reversal.booking_id, teacher_id = %reversal.teacher_id, transfer_id = %reversal.transfer_id);
        let _entered = span.enter();
        // Checked against now: what the lesson is worth may have risen since
        // it was owed (a refund that failed): take back no more than is due.
        let amount = match self.still_to_reverse(&reversal).await? {
            Some(0) => return self.finished(REVERSALS, key, &claim, Finish::Skipped { why: "no longer owed: the lesson is worth what was transferred".into() }, Worked::Skipped).await,
            Some(amount) => amount,
            None => reversal.amount,
        };
        let idempotency_key = reversal.idempotency_key();
        let tried = claim.reclaimed || claim.item.contains_key("error");
        if tried {
            match self.payments.reversals_of(&reversal.transfer_id).await {
                Ok(made) => {
                    if let Some((id, _)) = made.into_iter().find(|(_, metadata)| metadata.get("reversal").is_some_and(|k| *k == idempotency_key)) {
                        return self.reversed(key, &claim, &reversal, id).await;
                    }
                }
                Err(err) => return self.retry_reversal(key, &claim, &reversal, now, err.to_string()).await,
            }
        }
        let metadata = HashMap::from([("booking_id".to_owned(), reversal.booking_id.to_string()), ("reversal".to_owned(), idempotency_key.clone())]);
        // Stripe keeps a 5xx under its key: after a failure (read back above) a new key.
        let asked_as = if tried { format!("{idempotency_key}-{}", claim.attempts) } else { idempotency_key.clone() };
        match self.payments.reverse(&reversal.transfer_id, amount, &asked_as, metadata).await {
            Ok(id) => self.reversed(key, &claim, &Reversal { amount, ..reversal.clone() }, id).await,
            Err(err) if err.is_refusal() => {
                let reason = format!("Stripe would not take back {} of transfer {} for {} (teacher {}): {err}; the platform bears it", crate::domain::Money::new(reversal.amount, reversal.currency), reversal.transfer_id, reversal.booking_id, reversal.teacher_id);
                self.lost(key, &claim, reason, err.to_string(), now).await
            }
            Err(err) => self.retry_reversal(key, &claim, &reversal, now, err.to_string()).await,
        }
    }

    /// Records what was taken back (less than owed when the lesson's worth rose meanwhile).
    async fn reversed(&self, key: &WorkKey, claim: &Claim, reversal: &Reversal, id: String) -> Result<Worked, StoreError> {
        tracing::info!(reversal_id = %id, amount = reversal.amount, "transfer reversed");
        metrics::tally(Tally::ReversalsMade, 1);
        let set = vec![("amount", aws_sdk_dynamodb::types::AttributeValue::N(reversal.amount.to_string()))];
        self.finished(REVERSALS, key, claim, Finish::Done { provider_id: id, set }, Worked::Reversed).await
    }

    /// What is still to take back for this reversal's lesson, at most what
    /// it was written for; `None` when the ledger cannot say (then as written).
    async fn still_to_reverse(&self, reversal: &Reversal) -> Result<Option<u64>, StoreError> {
        let ledger = self.store.ledger(&reversal.payment_intent).await?;
        let Some(earning) = ledger.earnings.iter().find(|e| e.booking_id == reversal.booking_id) else { return Ok(None) };
        let Some(checkout) = self.store.get_checkout(&earning.checkout_id).await? else { return Ok(None) };
        let Some(commission) = earning.commission else { return Ok(None) };
        let Some(now_worth) = super::worth::worth(&ledger, &checkout, &earning.booking_id, commission) else { return Ok(None) };
        let others: u64 = ledger.reversals.iter().filter(|r| r.booking_id == reversal.booking_id && r.number != reversal.number && r.status != crate::store::WorkStatus::Skipped).map(|r| r.amount).sum();
        Ok(Some(super::share::to_reverse(now_worth.earned, earning.transferred, others).min(reversal.amount)))
    }

    async fn lost(&self, key: &WorkKey, claim: &Claim, reason: String, error: String, now: Timestamp) -> Result<Worked, StoreError> {
        tracing::error!(error = %error, "a reversal was refused: the platform bears the loss");
        metrics::count(Metric::ReversalsRefused, 1);
        self.attention(key, AttentionKind::ReversalRefused, reason, now).await?;
        self.finished(REVERSALS, key, claim, Finish::Failed { error }, Worked::Failed).await
    }

    async fn retry_reversal(&self, key: &WorkKey, claim: &Claim, reversal: &Reversal, now: Timestamp, error: String) -> Result<Worked, StoreError> {
        let since = claim.failing_since.unwrap_or(now);
        if now - since >= ATTENTION_AFTER {
            let reason = format!("the reversal of {} for {} has failed since {since} ({error}); it is still retried", reversal.transfer_id, reversal.booking_id);
            self.attention(key, AttentionKind::TransferFailing, reason, now).await?;
        }
        tracing::warn!(attempts = claim.attempts, error = %error, "reversal not made; retried later");
        self.finished(REVERSALS, key, claim, Finish::Retry { due: now + crate::store::retry_backoff(claim.attempts), error, since }, Worked::Retry).await
    }
}
