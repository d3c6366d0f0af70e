//! The one way money goes back: a refund obligation, written by whoever
//! decides the money is owed in the same transaction as the decision, is
//! fulfilled here and only here. Each obligation is settled on its own: a
//! refund Stripe refuses is recorded with Stripe's code and an attention
//! record, and never stops the others; one that fails transiently stays
//! owed for the next delivery or the reconcile sweep.
//!
//! Stripe keeps idempotency keys for 24 hours only, so our records are the
//! guard against refunding twice: before asking for a refund, the payment's
//! refunds are read back from Stripe and recorded, and an obligation whose
//! refund is already there follows that refund instead of making another.

use std::time::Duration;

use jiff::Timestamp;

use crate::metrics::{self, Metric};
use crate::payments::{PaymentError, Payments};
use crate::store::{Attention, AttentionKind, Notice, Obligation, ObligationOutcome, ObligationStatus, Refund, Store, StoreError, TransactError};

/// How long one webhook delivery spends on refunds before leaving the rest
/// owed to the reconcile sweep; part of stripe-webhook's timeout (template.yaml).
pub const INLINE_REFUND_BUDGET: Duration = Duration::from_secs(10);

/// What settling one payment's obligations came to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RefundReport {
    /// Closed: succeeded, or nothing was left to refund.
    pub settled: Vec<String>,
    /// Made, and waiting for Stripe to say `succeeded`.
    pub pending: Vec<String>,
    /// Refused or failed: each has an attention record.
    pub attention: Vec<String>,
    /// Not settled for a reason that may pass (Stripe or the table
    /// unreachable): each with the error, retried later.
    pub still_failing: Vec<(String, String)>,
    /// The payments whose obligations were looked at.
    pub payments: Vec<String>,
}

impl RefundReport {
    fn merge(&mut self, other: RefundReport) {
        self.settled.extend(other.settled);
        self.pending.extend(other.pending);
        self.attention.extend(other.attention);
        self.still_failing.extend(other.still_failing);
        self.payments.extend(other.payments);
    }
}

pub struct Refunds<'a> {
    pub store: &'a Store,
    pub payments: &'a Payments,
}

impl Refunds<'_> {
    /// Settles every open obligation of one payment, within `budget`.
    pub async fn settle_payment(&self, payment_intent: &str, now: Timestamp, budget: Duration) -> RefundReport {
        let open: Vec<String> = match self.store.ledger(payment_intent).await {
            Ok(ledger) => ledger.obligations.iter().filter(|o| o.status.is_open()).map(|o| o.obligation_id.clone()).collect(),
            Err(err) => return RefundReport { still_failing: vec![(payment_intent.to_owned(), err.to_string())], ..RefundReport::default() },
        };
        if open.is_empty() {
            return RefundReport::default();
        }
        let mut report = RefundReport::default();
        let failure = match tokio::time::timeout(budget, self.settle_open(payment_intent, now, &mut report)).await {
            Ok(Ok(())) => None,
            Ok(Err(err)) => Some(err.to_string()),
            Err(_) => Some(format!("not settled within {budget:?}")),
        };
        if let Some(why) = failure {
            // What was settled before the failure stays settled; the rest is retried.
            let done: Vec<String> = report.settled.iter().chain(&report.pending).chain(&report.attention).cloned().collect();
            report.still_failing.extend(open.into_iter().filter(|id| !done.contains(id)).map(|id| (id, why.clone())));
        }
        report.payments.push(payment_intent.to_owned());
        report
    }

    /// Every open obligation of every payment (the reconcile sweep).
    pub async fn sweep(&self, now: Timestamp) -> Result<RefundReport, StoreError> {
        let mut intents: Vec<String> = self.store.open_obligations().await?.into_iter().map(|o| o.payment_intent).collect();
        intents.sort();
        intents.dedup();
        let mut report = RefundReport::default();
        for intent in intents {
            report.merge(self.settle_payment(&intent, now, INLINE_REFUND_BUDGET).await);
        }
        Ok(report)
    }

    /// A refund Stripe reported (`refund.*`, ours or the dashboard's):
    /// recorded, and its obligation follows it.
    pub async fn reported(&self, refund: &Refund, now: Timestamp) -> Result<(), StoreError> {
        self.store.record_refund(refund).await?;
        let Some(id) = &refund.obligation_id else { return self.unowed_reported(refund, now).await };
        let ledger = self.store.ledger(&refund.payment_intent).await?;
        if let (Some(obligation), Some(stored)) = (ledger.obligations.iter().find(|o| &o.obligation_id == id), ledger.refund_for(id)) {
            self.follow(obligation, stored, now).await?;
        }
        Ok(())
    }

    /// A refund nobody owed (made in the dashboard) failed or was cancelled:
    /// the money stayed with us, so a person is told, and any obligation it
    /// had covered is owed again (the refund sweep makes it).
    async fn unowed_reported(&self, refund: &Refund, now: Timestamp) -> Result<(), StoreError> {
        if !refund.failed() {
            return Ok(());
        }
        let ledger = self.store.ledger(&refund.payment_intent).await?;
        let covered: Vec<&Obligation> = ledger.obligations.iter().filter(|o| o.status == ObligationStatus::Covered).collect();
        for obligation in &covered {
            if self.store.update_obligation(obligation, &[ObligationStatus::Covered], ObligationStatus::Owed, &ObligationOutcome::default()).await? {
                tracing::warn!(obligation = %obligation.obligation_id, refund = %refund.refund_id, "the refund that covered this obligation failed: it is owed again");
            }
        }
        let reason = format!(
            "refund {} of {} (made outside this service, e.g. the dashboard) {} ({}): the money is back in the platform balance{}",
            refund.refund_id,
            refund.amount,
            refund.status,
            refund.failure_reason.as_deref().unwrap_or("no reason given"),
            if covered.is_empty() { "; if it was meant for the student, refund them again or reach them" } else { "; the cancellations it had covered are refunded by the sweep" }
        );
        let attention = Attention { kind: AttentionKind::RefundFailed, subject: refund.refund_id.clone(), reason, checkout_id: None, payment_intent: Some(refund.payment_intent.clone()), code: refund.failure_reason.clone(), due_by: None, created_at: now };
        if self.store.flag_attention(&attention).await? {
            metrics::count(Metric::RefundsFailed, 1);
        }
        Ok(())
    }

    async fn settle_open(&self, payment_intent: &str, now: Timestamp, report: &mut RefundReport) -> Result<(), SettleError> {
        for refund in self.payments.refunds_of(payment_intent).await? {
            self.store.record_refund(&refund).await?;
        }
        let mut ledger = self.store.ledger(payment_intent).await?;
        // The bank holds the money while a chargeback is open: what we owe
        // waits (Stripe would refuse it) and is made if the dispute is won;
        // lost, the chargeback gave the money back, and nothing is left to owe.
        if ledger.disputes.iter().any(|d| d.takes_the_money() && d.status != "lost") {
            for obligation in ledger.obligations.iter().filter(|o| o.status.is_open()) {
                report.tally(obligation, ObligationStatus::Owed);
            }
            return Ok(());
        }
        for obligation in ledger.obligations.iter().filter(|o| o.status.is_open()) {
            if let Some(refund) = ledger.refund_for(&obligation.obligation_id) {
                let to = self.follow(obligation, refund, now).await?;
                report.tally(obligation, to);
            }
        }
        // The rest have no refund yet: ask for each, oldest first, each
        // capped by what is left once the ones before it are counted.
        while let Some((obligation, amount)) = ledger.owed().first().map(|(o, a)| ((*o).clone(), *a)) {
            // Less left than owed while refunds are still on their way: wait for
            // them (one that fails leaves money to refund; one that succeeds decides).
            if amount < obligation.amount && ledger.refunds.iter().any(|r| r.counts() && r.status != "succeeded") {
                report.tally(&obligation, ObligationStatus::Owed);
                break;
            }
            let to = if amount == 0 {
                self.store.update_obligation(&obligation, &[ObligationStatus::Owed], ObligationStatus::Covered, &ObligationOutcome::default()).await?;
                tracing::info!(obligation = %obligation.obligation_id, "nothing left on the payment to refund: the money went back another way");
                ObligationStatus::Covered
            } else {
                match self.payments.refund(&obligation, amount).await {
                    Ok(refund) => {
                        tracing::info!(obligation = %obligation.obligation_id, refund = %refund.refund_id, amount, status = %refund.status, "refund made");
                        self.store.record_refund(&refund).await?;
                        let to = self.follow(&obligation, &refund, now).await?;
                        ledger.refunds.push(refund);
                        to
                    }
                    // A chargeback we have not heard of yet: wait for its event.
                    Err(err) if err.code() == "charge_disputed" => {
                        tracing::warn!(obligation = %obligation.obligation_id, "the charge is disputed: the refund waits for the dispute's outcome");
                        report.tally(&obligation, ObligationStatus::Owed);
                        break;
                    }
                    Err(err) if err.is_refusal() => self.refused(&obligation, &err, now).await?,
                    Err(err) => {
                        if err.is_provider_failure() {
                            self.store.next_attempt(&obligation).await?;
                        }
                        return Err(err.into());
                    }
                }
            };
            report.tally(&obligation, to);
            if let Some(o) = ledger.obligations.iter_mut().find(|o| o.obligation_id == obligation.obligation_id) {
                o.status = to;
            }
        }
        Ok(())
    }

    /// Brings an obligation in line with its refund at Stripe.
    async fn follow(&self, obligation: &Obligation, refund: &Refund, now: Timestamp) -> Result<ObligationStatus, StoreError> {
        let to = ObligationStatus::of_refund(&refund.status);
        let outcome = ObligationOutcome { refund_id: Some(&refund.refund_id), error: refund.failure_reason.as_deref() };
        if to == ObligationStatus::Failed {
            let reason = format!("refund {} of {} failed after it was made ({}): the money is back in the platform balance; reach the student", refund.refund_id, refund.amount, refund.failure_reason.as_deref().unwrap_or("no reason given"));
            let from = [ObligationStatus::Owed, ObligationStatus::Pending, ObligationStatus::Succeeded];
            self.fail(obligation, &from, AttentionKind::RefundFailed, reason, refund.failure_reason.clone(), outcome, now).await?;
        } else if to == ObligationStatus::Succeeded {
            // The webhooks hear of it with the change, once (a repeat finds it succeeded already).
            let items = vec![self.store.obligation_update_item(obligation, &[ObligationStatus::Owed, ObligationStatus::Pending], to, &outcome)?, self.store.notice_item(&Notice::refund_succeeded(obligation, now), now)?];
            match self.store.transact(items).await {
                Ok(()) | Err(TransactError::Conflict { .. }) => {}
                Err(TransactError::Busy(err) | TransactError::Store(err)) => return Err(err),
            }
        } else {
            self.store.update_obligation(obligation, &[ObligationStatus::Owed, ObligationStatus::Pending], to, &outcome).await?;
        }
        Ok(to)
    }

    /// Stripe will not make this refund: recorded, never asked again.
    async fn refused(&self, obligation: &Obligation, err: &PaymentError, now: Timestamp) -> Result<ObligationStatus, StoreError> {
        let code = err.code();
        tracing::error!(obligation = %obligation.obligation_id, checkout_id = %obligation.checkout_id, code = %code, error = %err, "Stripe refused a refund we owe; needs attention");
        let reason = format!("Stripe refused to refund {} {} ({err}); the student has not been refunded", obligation.amount, obligation.currency);
        let outcome = ObligationOutcome { refund_id: None, error: Some(&code) };
        self.fail(obligation, &[ObligationStatus::Owed], AttentionKind::RefundRefused, reason, Some(code.clone()), outcome, now).await?;
        Ok(ObligationStatus::Failed)
    }

    /// The obligation fails and an attention record says why, together.
    #[allow(clippy::too_many_arguments)]
    async fn fail(&self, obligation: &Obligation, from: &[ObligationStatus], kind: AttentionKind, reason: String, code: Option<String>, outcome: ObligationOutcome<'_>, now: Timestamp) -> Result<(), StoreError> {
        let attention = Attention {
            kind,
            subject: obligation.obligation_id.clone(),
            reason,
            checkout_id: Some(obligation.checkout_id.clone()),
            payment_intent: Some(obligation.payment_intent.clone()),
            code,
            due_by: None,
            created_at: now,
        };
        let mut items = vec![self.store.obligation_update_item(obligation, from, ObligationStatus::Failed, &outcome)?, self.store.attention_item(&attention)?];
        for notice in Notice::refund_failed(obligation, now) {
            items.push(self.store.notice_due_item(&notice, now)?);
        }
        match self.store.transact(items).await {
            Ok(()) => {
                metrics::count(Metric::RefundsFailed, 1);
                metrics::count(Metric::AttentionRecords, 1);
                Ok(())
            }
            // Already failed (a redelivery): its attention record is there.
            Err(TransactError::Conflict { .. }) => Ok(()),
            Err(TransactError::Busy(err) | TransactError::Store(err)) => Err(err),
        }
    }
}

impl RefundReport {
    fn tally(&mut self, obligation: &Obligation, to: ObligationStatus) {
        let id = obligation.obligation_id.clone();
        match to {
            ObligationStatus::Succeeded | ObligationStatus::Covered => self.settled.push(id),
            ObligationStatus::Pending | ObligationStatus::Owed => self.pending.push(id),
            ObligationStatus::Failed => self.attention.push(id),
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum SettleError {
    #[error(transparent)]
    Payment(#[from] PaymentError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
