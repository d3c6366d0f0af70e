//! Telling people: the outbox's notices are claimed, checked against the
//! present, written (`compose`, `text`, `invite`) and sent through SES
//! (`mailer`), then recorded with SES's message id. The `notify` function
//! runs [`Notifier::work`] for each notice its DynamoDB stream brings and
//! [`Notifier::sweep`] every minute for what the stream missed; both go
//! through the same claim, so running both never sends twice.

pub mod compose;
pub mod config;
pub mod facts;
pub mod invite;
pub mod mailer;
pub mod text;

use aws_sdk_dynamodb::types::AttributeValue;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

pub use config::MailConfig;
pub use mailer::{Mailer, SendError};

use crate::metrics::{self, Metric, Tally};
use crate::store::{Attention, AttentionKind, Claim, Finish, NOTICES, Notice, Recipient, Store, StoreError, WorkKey};
use compose::{Composer, Plan};

/// How long a claim lasts: longer than notify's whole run (its Timeout in
/// template.yaml, 120 s; every claim of a run is leased from the run's
/// start), so a live worker never loses its lease to another; a dead one's
/// notices are taken again after it.
pub const LEASE: SignedDuration = SignedDuration::from_secs(300);
/// A sweep starts no new work after this, well within the function's timeout.
const SWEEP_BUDGET: std::time::Duration = std::time::Duration::from_secs(90);
/// Tries of recording what happened after a send: a lost record means a
/// second mail once the lease expires.
const RECORD_TRIES: u32 = 3;
/// A notice failing this long is attention (it is still retried).
pub const ATTENTION_AFTER: SignedDuration = SignedDuration::from_hours(1);
/// A notice failing this long is given up.
pub const GIVE_UP_AFTER: SignedDuration = SignedDuration::from_hours(72);
/// The most due notices one sweep reads per shard of the index.
const SWEEP_PAGE: i32 = 100;
/// Notices worked at once.
const CONCURRENCY: usize = 8;

/// How working one notice ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Worked {
    /// Not due, or another worker holds it.
    NotClaimed,
    Sent,
    /// A reminder's first stage sent; the next is due later.
    SentAgainLater,
    Skipped,
    Failed,
    /// A notice to the webhooks written out as one message per endpoint.
    FannedOut,
    /// A transient failure: owed again later.
    Retry,
    /// Worked, but another worker's reclaim took the lease meanwhile.
    LeaseLost,
}

#[derive(Debug, Default, Serialize)]
pub struct SweepReport {
    pub due: usize,
    /// Mails and webhook messages sent.
    pub sent: usize,
    /// Notices to the webhooks turned into messages.
    pub fanned_out: usize,
    pub skipped: usize,
    pub failed: usize,
    pub retried: usize,
    pub not_claimed: usize,
    pub errors: Vec<String>,
}

pub struct Notifier {
    pub store: Store,
    pub mailer: Mailer,
    pub config: MailConfig,
    /// The webhook endpoints' messages, worked by the same sweep and stream.
    pub subscribers: crate::outbound::Subscribers,
}

impl Notifier {
    /// Works every notice due by `now`.
    pub async fn sweep(&self, now: Timestamp) -> SweepReport {
        let mut report = SweepReport::default();
        let due = futures::future::try_join(self.store.due_work(NOTICES, now, SWEEP_PAGE), self.store.due_work(crate::store::DELIVERIES, now, SWEEP_PAGE)).await;
        let keys = match due {
            Ok((notices, deliveries)) => notices.into_iter().chain(deliveries).collect::<Vec<_>>(),
            Err(err) => {
                report.errors.push(err.to_string());
                return report;
            }
        };
        report.due = keys.len();
        let started = tokio::time::Instant::now();
        for chunk in keys.chunks(CONCURRENCY) {
            if started.elapsed() > SWEEP_BUDGET {
                // The rest stay due for the next run.
                break;
            }
            for (key, result) in chunk.iter().zip(futures::future::join_all(chunk.iter().map(|key| self.work(key, now))).await) {
                match result {
                    Ok(Worked::Sent | Worked::SentAgainLater) => report.sent += 1,
                    Ok(Worked::Skipped) => report.skipped += 1,
                    Ok(Worked::FannedOut) => report.fanned_out += 1,
                    Ok(Worked::Failed) => report.failed += 1,
                    Ok(Worked::Retry) => report.retried += 1,
                    Ok(Worked::NotClaimed | Worked::LeaseLost) => report.not_claimed += 1,
                    Err(err) => report.errors.push(format!("{}/{}: {err}", key.pk, key.sk)),
                }
            }
        }
        report
    }

    /// Claims one notice (or webhook message), and sends it if it is due
    /// and still to be sent.
    pub async fn work(&self, key: &WorkKey, now: Timestamp) -> Result<Worked, StoreError> {
        if key.pk.starts_with("WEBHOOK#") {
            return self.subscribers.deliver(key, now).await;
        }
        let lease = now + LEASE;
        let Some(claim) = self.store.claim_work(key, now, lease).await? else { return Ok(Worked::NotClaimed) };
        if claim.reclaimed {
            tracing::warn!(notice = %key.sk, subject = %key.pk, attempts = claim.attempts, "notice claimed again after its lease expired");
            metrics::tally(Tally::NoticesReclaimed, 1);
        }
        let notice: Notice = serde_dynamo::from_item(claim.item.clone()).map_err(|e| StoreError::corrupt("read notice", e))?;
        if notice.recipient == Recipient::Webhooks {
            let messages = match self.subscribers.fan_out(&notice, now).await {
                Ok(messages) => messages,
                Err(err) => return self.retry(key, &claim, now, err.to_string()).await,
            };
            return self.finish(key, &claim, Finish::Done { provider_id: format!("{messages} webhook message(s)"), set: Vec::new() }, Worked::FannedOut).await;
        }
        let plan = match (Composer { store: &self.store, config: &self.config, now }).plan(&notice).await {
            Ok(plan) => plan,
            Err(err) => return self.retry(key, &claim, now, err.to_string()).await,
        };
        let letters = match plan {
            Plan::Skip(why) => {
                tracing::info!(notice = %key.sk, subject = %notice.subject, why = %why, "notice not sent");
                metrics::tally(Tally::NoticesSkipped, 1);
                return self.finish(key, &claim, Finish::Skipped { why }, Worked::Skipped).await;
            }
            Plan::Send(letters) => letters,
        };
        let mut ids = Vec::new();
        for (reader, letter) in letters {
            let sent = match mailer::mime(&letter, &self.config.from, text::PLATFORM_NAME) {
                Ok(raw) => self.mailer.send(raw, &self.config.from, &letter.to).await,
                Err(err) => Err(err),
            };
            match sent {
                Ok(id) => {
                    tracing::info!(notice = %key.sk, subject = %notice.subject, topic = notice.topic.as_str(), reader, message_id = %id, "notice sent");
                    metrics::tally(Tally::NoticesSent, 1);
                    ids.push(id);
                }
                Err(SendError::Rejected(why)) => {
                    self.rejected(key, &notice, reader, &why, now).await?;
                    if notice.recipient != Recipient::Parties {
                        return self.finish(key, &claim, Finish::Failed { error: why }, Worked::Failed).await;
                    }
                }
                Err(err @ (SendError::Throttled(_) | SendError::Unavailable(_))) => return self.retry(key, &claim, now, err.to_string()).await,
            }
            // Whoever of both parties was told is not told again if the other fails.
            if notice.recipient == Recipient::Parties && !recorded(|| self.store.record_told(key, claim.lease, reader)).await? {
                return Ok(Worked::LeaseLost);
            }
        }
        let provider_id = ids.join(" ");
        match next_reminder(&notice, now) {
            Some((stage, due)) => {
                let stage = serde_dynamo::to_attribute_value(stage).map_err(|e| StoreError::corrupt("next reminder", e))?;
                let set = vec![("stage", stage), ("told", AttributeValue::L(Vec::new()))];
                self.finish(key, &claim, Finish::Again { due, set }, Worked::SentAgainLater).await
            }
            None => self.finish(key, &claim, Finish::Done { provider_id, set: Vec::new() }, Worked::Sent).await,
        }
    }

    async fn finish(&self, key: &WorkKey, claim: &Claim, finish: Finish, worked: Worked) -> Result<Worked, StoreError> {
        let finished = recorded(|| self.store.finish_work(NOTICES, key, claim.lease, finish.clone())).await?;
        Ok(if finished { worked } else { Worked::LeaseLost })
    }

    /// A transient failure: owed again after a backoff; attention after an
    /// hour of failures, given up after three days.
    async fn retry(&self, key: &WorkKey, claim: &Claim, now: Timestamp, error: String) -> Result<Worked, StoreError> {
        let since = claim.failing_since.unwrap_or(now);
        tracing::warn!(notice = %key.sk, subject = %key.pk, attempts = claim.attempts, error = %error, "notice not sent; retried later");
        if now - since >= GIVE_UP_AFTER {
            metrics::count(Metric::NoticesFailed, 1);
            self.attention(key, AttentionKind::NoticeRejected, format!("given up after {} hours of failures, never sent: {error}", GIVE_UP_AFTER.as_hours()), now).await?;
            return self.finish(key, claim, Finish::Failed { error }, Worked::Failed).await;
        }
        if now - since >= ATTENTION_AFTER {
            self.attention(key, AttentionKind::NoticeUndelivered, format!("failing since {since}: {error}"), now).await?;
        }
        metrics::tally(Tally::NoticesRetried, 1);
        self.finish(key, claim, Finish::Retry { due: now + crate::store::retry_backoff(claim.attempts), error, since }, Worked::Retry).await
    }

    async fn rejected(&self, key: &WorkKey, notice: &Notice, reader: &str, why: &str, now: Timestamp) -> Result<(), StoreError> {
        tracing::warn!(notice = %key.sk, subject = %notice.subject, reader, error = %why, "SES refused a notice for good");
        metrics::count(Metric::NoticesFailed, 1);
        self.attention(key, AttentionKind::NoticeRejected, format!("SES refused the {reader}'s notice: {why}"), now).await
    }

    async fn attention(&self, key: &WorkKey, kind: AttentionKind, reason: String, now: Timestamp) -> Result<(), StoreError> {
        let subject = format!("{}/{}", key.pk, key.sk);
        let attention = Attention { kind, subject, reason, checkout_id: None, payment_intent: None, code: None, due_by: None, created_at: now };
        self.store.flag_attention(&attention).await.map(|_| ())
    }
}

/// A record of what a send did, tried again a few times on a failing table
/// (each failure left for good would mean the mail is sent again).
pub(crate) async fn recorded<F, Fut>(write: F) -> Result<bool, StoreError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<bool, StoreError>>,
{
    let mut tries = 0;
    loop {
        match write().await {
            Err(err) if tries + 1 < RECORD_TRIES => {
                tries += 1;
                tracing::warn!(error = %err, tries, "recording a sent notice failed; trying again");
                tokio::time::sleep(std::time::Duration::from_millis(100 << tries)).await;
            }
            result => return result,
        }
    }
}

/// A reminder's next stage and when it is due, if it is still ahead.
fn next_reminder(notice: &Notice, now: Timestamp) -> Option<(crate::store::Stage, Timestamp)> {
    let next = notice.stage?.next()?;
    let due = notice.lesson_start? - next.lead();
    (due > now).then_some((next, due))
}

