//! One earning, worked: claimed, checked against now (the hold, the
//! ledger, the teacher's account), then transferred once from the lesson's
//! charge under the key `transfer-<booking>` (after a call that failed or
//! was lost, read back first and asked under `transfer-<booking>-<attempt>`),
//! and recorded with Stripe's id.
//! An earning that cannot go out yet waits (owed again a day later, or as
//! soon as `account.updated` says the account can take transfers).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use jiff::{SignedDuration, Timestamp};

use super::sweep::{Payouts, Worked};
use super::worth::worth;
use crate::metrics::{self, Metric, Tally};
use crate::payments::{PaymentError, TransferRequest};
use crate::store::{AttentionKind, Claim, EARNINGS, Earning, Finish, StoreError, WorkKey};

/// How long an earning that cannot go out waits before it is looked at
/// again, if nothing wakes it first.
pub const WAIT: SignedDuration = SignedDuration::from_hours(24);
/// A transfer failing this long is attention (it is still retried).
const ATTENTION_AFTER: SignedDuration = SignedDuration::from_hours(24);
/// Earnings transferable this long to a teacher who never set up payouts
/// are attention (`make attention`): someone should remind them.
const UNCLAIMED_AFTER: SignedDuration = SignedDuration::from_hours(30 * 24);
const NOT_SET_UP: &str = "the teacher has not set up payouts";
const CANNOT_PAY: &str = "Stripe cannot pay the teacher yet";
/// Set on an earning whose transfer Stripe was asked for and refused while
/// the account could not take it: the next try reads back first.
const CALLED: &str = "stripe_called";
/// Why an earning held by an open chargeback waits (the review lets it go once none is open).
pub const CHARGEBACK_OPEN: &str = "a chargeback of the payment is open";

impl Payouts<'_> {
    pub(super) async fn transfer(&self, key: &WorkKey, now: Timestamp) -> Result<Worked, StoreError> {
        let Some(claim) = self.store.claim_work(key, now, now + super::sweep::LEASE).await? else { return Ok(Worked::NotClaimed) };
        if claim.reclaimed {
            tracing::warn!(earning = %key.sk, payment_intent = %key.pk, attempts = claim.attempts, "earning claimed again after its lease expired");
            metrics::tally(Tally::TransfersReclaimed, 1);
        }
        let earning: Earning = serde_dynamo::from_item(claim.item.clone()).map_err(|e| StoreError::corrupt("read earning", e))?;
        let span = tracing::info_span!("transfer", booking_id = %earning.booking_id, checkout_id = %earning.checkout_id, teacher_id = %earning.teacher_id);
        let _entered = span.enter();
        let transferable_at = earning.lesson_end + self.config.hold;
        if now < transferable_at {
            return self.finished(EARNINGS, key, &claim, Finish::Again { due: transferable_at, set: Vec::new() }, Worked::Waiting).await;
        }
        let account = self.store.payout_account(&earning.teacher_id).await?;
        let commission = account.as_ref().and_then(|a| a.commission_percent).unwrap_or(self.config.commission);
        let ledger = self.store.ledger(&earning.payment_intent).await?;
        let Some(checkout) = self.store.get_checkout(&earning.checkout_id).await? else {
            return self.retry(key, &claim, now, format!("checkout {} not found", earning.checkout_id)).await;
        };
        let Some(worth) = worth(&ledger, &checkout, &earning.booking_id, commission) else {
            return self.retry(key, &claim, now, "the payment is not recorded yet".into()).await;
        };
        if worth.transferable == 0 {
            if worth.earned > 0 {
                return self.wait(key, &claim, now, CHARGEBACK_OPEN).await;
            }
            tracing::info!("nothing earned: the lesson was refunded, charged back or not taught");
            return self.finished(EARNINGS, key, &claim, Finish::Skipped { why: "nothing earned: refunded, charged back or not taught".into() }, Worked::Skipped).await;
        }
        let destination = match &account {
            Some(a) if a.hold => return self.wait(key, &claim, now, "transfers are on hold").await,
            Some(a) => match &a.account_id {
                None => return self.unclaimed(key, &claim, &earning, transferable_at, now).await,
                Some(_) if !a.state.can_receive_transfers() => return self.wait(key, &claim, now, CANNOT_PAY).await,
                Some(id) => id.clone(),
            },
            None => return self.unclaimed(key, &claim, &earning, transferable_at, now).await,
        };
        // Stripe forgets idempotency keys after a day: after an earlier
        // call that may have made it (a worker that died holding the claim,
        // a failure, whose `error` stays, or a refusal), what it made is read back first.
        let called = claim.reclaimed || claim.item.contains_key("error") || claim.item.contains_key(CALLED);
        if called {
            match self.payments.transfers_of_group(earning.checkout_id.as_str()).await {
                Ok(made) => {
                    if let Some(t) = made.into_iter().find(|t| t.metadata.get("booking_id").is_some_and(|b| b == earning.booking_id.as_str())) {
                        // The commission it was made with, which an admin may have changed since.
                        let made_with = t.metadata.get("commission_percent").and_then(|p| p.parse::<u8>().ok()).and_then(super::Percent::new).unwrap_or(commission);
                        return self.transferred(key, &claim, &earning, (&t.id, t.amount), made_with, now).await;
                    }
                }
                Err(err) => return self.retry(key, &claim, now, err.to_string()).await,
            }
        }
        let charge = match self.payments.charge_of(&earning.payment_intent).await {
            Ok(charge) => charge,
            Err(err) => return self.retry(key, &claim, now, err.to_string()).await,
        };
        // Stripe keeps a 5xx under its key and answers it again: after a
        // failure (read back above: nothing was made) the key is a new one.
        let idempotency_key = if called { format!("transfer-{}-{}", earning.booking_id, claim.attempts) } else { format!("transfer-{}", earning.booking_id) };
        let request = TransferRequest {
            amount: worth.transferable,
            currency: earning.currency,
            destination: &destination,
            source_transaction: &charge,
            transfer_group: earning.checkout_id.as_str(),
            metadata: HashMap::from([
                ("booking_id".to_owned(), earning.booking_id.to_string()),
                ("checkout_id".to_owned(), earning.checkout_id.to_string()),
                ("teacher_id".to_owned(), earning.teacher_id.to_string()),
                ("commission_percent".to_owned(), commission.value().to_string()),
            ]),
            idempotency_key: &idempotency_key,
        };
        match self.payments.transfer(&request).await {
            Ok(t) => self.transferred(key, &claim, &earning, (&t.id, t.amount), commission, now).await,
            Err(err) if err.is_refusal() => self.refused(key, &claim, &earning, &destination, err, now).await,
            Err(err) => self.retry(key, &claim, now, err.to_string()).await,
        }
    }

    /// Recorded with its notices (the teacher's mail, the webhooks') in one transaction.
    async fn transferred(&self, key: &WorkKey, claim: &Claim, earning: &Earning, made: (&str, u64), commission: super::Percent, now: Timestamp) -> Result<Worked, StoreError> {
        let (id, amount) = made;
        tracing::info!(transfer_id = %id, amount, commission = commission.value(), "earning transferred");
        metrics::tally(Tally::TransfersMade, 1);
        let set = vec![
            ("transferred", AttributeValue::N(amount.to_string())),
            ("commission", AttributeValue::N(commission.value().to_string())),
            ("transferred_at", AttributeValue::S(now.to_string())),
        ];
        let notices = crate::store::Notice::transferred(&earning.booking_id, &earning.teacher_id, &earning.payment_intent, now);
        let told = notices.iter().map(|n| self.store.notice_item(n, now)).collect::<Result<Vec<_>, _>>()?;
        let finish = Finish::Done { provider_id: id.to_owned(), set };
        let finished = crate::notify::recorded(|| self.store.finish_work_with(EARNINGS, key, claim.lease, finish.clone(), told.clone())).await?;
        // A refund or chargeback recorded while this transfer was in flight
        // was reviewed against an earning not yet transferred: review again.
        if let Err(err) = super::review::review(self.store, &earning.payment_intent, now).await {
            tracing::warn!(error = %err, "earnings not reviewed after the transfer; the next refund or dispute event reviews them");
        }
        Ok(if finished { Worked::Transferred } else { Worked::LeaseLost })
    }

    /// Refused: when Stripe says the account cannot take transfers after
    /// all (its state changed since we last heard), it waits; otherwise a
    /// person looks at it.
    async fn refused(&self, key: &WorkKey, claim: &Claim, earning: &Earning, destination: &str, err: PaymentError, now: Timestamp) -> Result<Worked, StoreError> {
        match self.payments.account(destination).await {
            Ok(account) if !account.state.can_receive_transfers() => {
                self.store.record_account_state(&earning.teacher_id, destination, &account.state, now).await?;
                // A call was made: the next one reads back first and asks under a new key.
                return self.wait_after(key, claim, now, CANNOT_PAY, true).await;
            }
            Ok(_) => {}
            // Whether the account is the reason is unknown: not a refusal to give up on yet.
            Err(read) => return self.retry(key, claim, now, format!("{err}; the account could not be read: {read}")).await,
        }
        tracing::error!(error = %err, "Stripe refused a teacher's transfer");
        metrics::count(Metric::TransfersFailed, 1);
        self.attention(key, AttentionKind::TransferRefused, format!("Stripe refused the transfer of {} to {}: {err}", earning.booking_id, earning.teacher_id), now).await?;
        self.finished(EARNINGS, key, claim, Finish::Failed { error: err.to_string() }, Worked::Failed).await
    }

    /// Waiting for a teacher who never onboarded; a month of it is attention.
    async fn unclaimed(&self, key: &WorkKey, claim: &Claim, earning: &Earning, transferable_at: Timestamp, now: Timestamp) -> Result<Worked, StoreError> {
        if now - transferable_at >= UNCLAIMED_AFTER {
            let attention = crate::store::Attention {
                kind: AttentionKind::EarningsUnclaimed,
                subject: earning.teacher_id.to_string(),
                reason: format!("{} has had earnings due since {transferable_at} (booking {} and maybe more) and has not set up payouts", earning.teacher_id, earning.booking_id),
                checkout_id: Some(earning.checkout_id.clone()),
                payment_intent: Some(earning.payment_intent.clone()),
                code: None,
                due_by: None,
                created_at: now,
            };
            self.store.flag_attention(&attention).await?;
        }
        self.wait(key, claim, now, NOT_SET_UP).await
    }

    async fn wait(&self, key: &WorkKey, claim: &Claim, now: Timestamp, why: &str) -> Result<Worked, StoreError> {
        self.wait_after(key, claim, now, why, false).await
    }

    /// Owed again a day on, saying why; `called`: Stripe was asked this time.
    async fn wait_after(&self, key: &WorkKey, claim: &Claim, now: Timestamp, why: &str, called: bool) -> Result<Worked, StoreError> {
        tracing::info!(why, "earning waits");
        metrics::tally(Tally::TransfersWaiting, 1);
        let mut set = vec![("waiting", AttributeValue::S(why.to_owned()))];
        if called {
            set.push((CALLED, AttributeValue::Bool(true)));
        }
        self.finished(EARNINGS, key, claim, Finish::Again { due: now + WAIT, set }, Worked::Waiting).await
    }

    async fn retry(&self, key: &WorkKey, claim: &Claim, now: Timestamp, error: String) -> Result<Worked, StoreError> {
        let since = claim.failing_since.unwrap_or(now);
        tracing::warn!(attempts = claim.attempts, error = %error, "transfer not made; retried later");
        if now - since >= ATTENTION_AFTER {
            self.attention(key, AttentionKind::TransferFailing, format!("failing since {since}: {error}"), now).await?;
        }
        self.finished(EARNINGS, key, claim, Finish::Retry { due: now + crate::store::retry_backoff(claim.attempts), error, since }, Worked::Retry).await
    }
}
