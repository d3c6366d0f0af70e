//! After a payment's ledger changed (a refund, a chargeback, an overruled
//! outcome): each transferred earning now worth less than went out owes a
//! reversal of the difference; an earning skipped as worthless that is
//! worth something again (a chargeback won) is due again. Derived from the
//! ledger each time, so reviewing twice, or out of order, writes nothing twice.

use jiff::Timestamp;

use super::share::{Percent, to_reverse};
use super::worth::{payment_of, worth};
use crate::store::{Store, StoreError, TransactError, WorkStatus};

/// What one review did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reviewed {
    pub reversals: usize,
    pub relisted: usize,
}

pub async fn review(store: &Store, payment_intent: &str, now: Timestamp) -> Result<Reviewed, StoreError> {
    let mut done = Reviewed::default();
    let ledger = store.ledger(payment_intent).await?;
    let (Some(first), Some(payment)) = (ledger.earnings.first(), payment_of(&ledger)) else { return Ok(done) };
    let Some(checkout) = store.get_checkout(&first.checkout_id).await? else { return Ok(done) };
    for earning in &ledger.earnings {
        // Only whether it is worth anything matters for a relisting, and
        // the commission of a transfer is the one it was made with.
        let commission = earning.commission.unwrap_or(Percent::DEFAULT_COMMISSION);
        let Some(now_worth) = worth(&ledger, &checkout, &earning.booking_id, commission) else { continue };
        match earning.status {
            WorkStatus::Done => {
                let taken: u64 = ledger.reversals.iter().filter(|r| r.booking_id == earning.booking_id && r.status != WorkStatus::Skipped).map(|r| r.amount).sum();
                let amount = to_reverse(now_worth.earned, earning.transferred, taken);
                if amount == 0 {
                    continue;
                }
                match store.transact(store.new_reversal_items(earning, amount, now)?).await {
                    Ok(()) => {
                        tracing::info!(booking_id = %earning.booking_id, amount, "a reversal is owed");
                        done.reversals += 1;
                    }
                    // Another review wrote it first.
                    Err(TransactError::Conflict { .. }) => {}
                    Err(TransactError::Busy(err) | TransactError::Store(err)) => return Err(err),
                }
            }
            // Worth something again (a chargeback won), or no longer held by one.
            WorkStatus::Skipped if now_worth.transferable > 0 => {
                if store.relist_earning(&earning.key(), now).await? {
                    done.relisted += 1;
                }
            }
            WorkStatus::Owed if earning.waiting.as_deref() == Some(super::transfers::CHARGEBACK_OPEN) && !payment.dispute_open => {
                if store.relist_earning(&earning.key(), now).await? {
                    done.relisted += 1;
                }
            }
            _ => {}
        }
    }
    Ok(done)
}
