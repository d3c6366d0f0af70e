//! The payout sweep (`make payouts`, and reconcile's schedule): every
//! earning and reversal due, each through its claim, so concurrent sweeps
//! do each once.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::PayoutConfig;
use crate::payments::Payments;
use crate::store::{Attention, AttentionKind, Claim, EARNINGS, Finish, REVERSALS, Store, StoreError, WorkKey, WorkKind};

/// Longer than a sweep can run, so a live worker never loses its lease.
pub const LEASE: SignedDuration = SignedDuration::from_secs(300);
/// A sweep starts no new work after this, well within the function's timeout.
const SWEEP_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);
const SWEEP_PAGE: i32 = 100;

pub struct Payouts<'a> {
    pub store: &'a Store,
    pub payments: &'a Payments,
    pub config: &'a PayoutConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Worked {
    NotClaimed,
    Transferred,
    Reversed,
    /// In its hold, or waiting for the teacher's account: owed again later.
    Waiting,
    Skipped,
    Failed,
    Retry,
    LeaseLost,
}

#[derive(Debug, Default, Serialize)]
pub struct PayoutReport {
    pub due: usize,
    pub transferred: usize,
    pub reversed: usize,
    pub waiting: usize,
    pub skipped: usize,
    pub failed: usize,
    pub retried: usize,
    pub not_claimed: usize,
    pub errors: Vec<String>,
}

impl Payouts<'_> {
    pub async fn sweep(&self, now: Timestamp) -> PayoutReport {
        let mut report = PayoutReport::default();
        let due = futures::future::try_join(self.store.due_work(EARNINGS, now, SWEEP_PAGE), self.store.due_work(REVERSALS, now, SWEEP_PAGE)).await;
        let keys = match due {
            Ok((earnings, reversals)) => earnings.into_iter().chain(reversals).collect::<Vec<_>>(),
            Err(err) => {
                report.errors.push(err.to_string());
                return report;
            }
        };
        report.due = keys.len();
        let started = tokio::time::Instant::now();
        for key in &keys {
            if started.elapsed() > SWEEP_BUDGET {
                break;
            }
            match self.work(key, now).await {
                Ok(Worked::Transferred) => report.transferred += 1,
                Ok(Worked::Reversed) => report.reversed += 1,
                Ok(Worked::Waiting) => report.waiting += 1,
                Ok(Worked::Skipped) => report.skipped += 1,
                Ok(Worked::Failed) => report.failed += 1,
                Ok(Worked::Retry) => report.retried += 1,
                Ok(Worked::NotClaimed | Worked::LeaseLost) => report.not_claimed += 1,
                Err(err) => report.errors.push(format!("{}/{}: {err}", key.pk, key.sk)),
            }
        }
        report
    }

    pub async fn work(&self, key: &WorkKey, now: Timestamp) -> Result<Worked, StoreError> {
        if key.sk.starts_with("REVERSAL#") { self.reverse(key, now).await } else { self.transfer(key, now).await }
    }

    /// Records how a claimed item ended (retried a few times on a failing
    /// table); `LeaseLost` when another worker reclaimed it meanwhile.
    pub(super) async fn finished(&self, kind: WorkKind, key: &WorkKey, claim: &Claim, finish: Finish, worked: Worked) -> Result<Worked, StoreError> {
        let finished = crate::notify::recorded(|| self.store.finish_work(kind, key, claim.lease, finish.clone())).await?;
        Ok(if finished { worked } else { Worked::LeaseLost })
    }

    pub(super) async fn attention(&self, key: &WorkKey, kind: AttentionKind, reason: String, now: Timestamp) -> Result<(), StoreError> {
        let payment_intent = key.pk.strip_prefix("PAYMENT#").map(str::to_owned);
        let attention = Attention { kind, subject: format!("{}/{}", key.pk, key.sk), reason, checkout_id: None, payment_intent, code: None, due_by: None, created_at: now };
        self.store.flag_attention(&attention).await.map(|_| ())
    }
}
