//! A grant's work at fixed times: the reminders 30 and 7 days before its
//! credits expire (through the outbox, while credits are left), then the
//! expiry, when what is left earns the teacher (as italki does: a package
//! is the teacher's commitment of time). Each step is one transaction
//! conditioned on the grant's version, so a second sweep (or a credit
//! taken at the same moment) makes the step once.

use jiff::Timestamp;

use crate::store::{Basis, Earning, EarningOf, GRANTS, Grant, GrantStage, Notice, Store, StoreError, TransactError, WorkKey};

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    pub reminded: Vec<String>,
    pub expired: Vec<String>,
    pub still_failing: Vec<(String, String)>,
}

/// Grants worked per run and shard; the rest are the next run's.
const PER_RUN: i32 = 100;

pub async fn sweep(store: &Store, now: Timestamp) -> Result<Swept, StoreError> {
    let mut swept = Swept::default();
    for key in store.due_work(GRANTS, now, PER_RUN).await? {
        match step(store, &key, now).await {
            Ok(Some((grant, GrantStage::Expire))) => swept.expired.push(grant),
            Ok(Some((grant, _))) => swept.reminded.push(grant),
            Ok(None) => {}
            Err(err) => swept.still_failing.push((key.pk.clone(), err.to_string())),
        }
    }
    Ok(swept)
}

/// The grant's due step, if it is still due: its id and the stage done.
async fn step(store: &Store, key: &WorkKey, now: Timestamp) -> Result<Option<(String, GrantStage)>, StoreError> {
    let Some(pi) = key.pk.strip_prefix("PAYMENT#") else { return Ok(None) };
    let Some(mut grant) = store.grant_of_payment(pi).await? else { return Ok(None) };
    // The index lags the table: what the grant says now decides.
    let Some(mut stage) = grant.stage.filter(|s| s.due(grant.expires_at) <= now) else { return Ok(None) };
    // A sweep that comes late does only the latest step due: no reminder
    // after the next one is due, none after the expiry.
    while let Some(next) = stage.next().filter(|n| n.due(grant.expires_at) <= now) {
        stage = next;
    }
    let read = grant.version;
    let mut items = Vec::new();
    match stage {
        GrantStage::Remind30 | GrantStage::Remind7 => {
            if grant.remaining() > 0 {
                items.push(store.notice_item(&Notice::credits_expiring(&grant.grant_id, pi, stage.days_before(), now), now)?);
            }
            grant.stage = stage.next();
        }
        GrantStage::Expire => {
            if grant.expire(now) > 0
                && let Some(earning) = expiry_earning(&grant, now)
            {
                items.push(store.new_earning_item(&earning)?);
            }
        }
    }
    items.insert(0, store.grant_put_item(&grant, Some(read))?);
    match store.transact(items).await {
        Ok(()) => {
            tracing::info!(grant_id = %grant.grant_id, stage = ?stage, remaining = grant.remaining(), "grant stage done");
            Ok(Some((grant.grant_id, stage)))
        }
        // Another sweep, or a credit taken or given back meanwhile: the next run sees it anew.
        Err(TransactError::Conflict { .. }) => Ok(None),
        Err(TransactError::Busy(err) | TransactError::Store(err)) => Err(err),
    }
}

/// What the credits that expired earn their teacher, transferred like a
/// lesson's earning once the hold after `expires_at` has passed.
fn expiry_earning(grant: &Grant, now: Timestamp) -> Option<Earning> {
    let of = EarningOf {
        booking_id: grant.expiry_booking_id()?,
        checkout_id: grant.checkout_id.clone(),
        teacher_id: grant.teacher_id.clone(),
        payment_intent: grant.payment_intent.clone(),
        currency: grant.currency,
        lesson_end: grant.expires_at,
    };
    Some(Earning::owed(of, Basis::CreditsExpired, now))
}
