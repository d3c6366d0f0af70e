//! The sum rule of refunds, as a property: whatever happens to a payment
//! (obligations decided, refunds made in the dashboard, `charge.refunded`
//! totals arriving late, refunds failing after they were made), what our
//! ledger counts as refunded plus what it still owes never exceeds what was
//! paid, and the amounts we ask Stripe for (after reading its refunds back,
//! as `shared::refunds` does) are never more than Stripe has left.
//!
//! Stripe is modelled by its documented rules: a refund above what is left
//! is refused, a failed refund's money can be refunded again.

use jiff::Timestamp;
use proptest::prelude::*;
use shared::domain::{CheckoutId, Currency};
use shared::store::{Ledger, Obligation, ObligationStatus, Payment, Refund, RefundReason};

const PAID: u64 = 10_000;

#[derive(Debug, Clone)]
enum Op {
    /// A lesson of this price can no longer be honoured.
    Decide(u64),
    /// The operator refunds this much in the dashboard (Stripe caps it).
    Dashboard(u64),
    /// `charge.refunded` with Stripe's running total arrives.
    ChargeEvent,
    /// The refund with this index (modulo) fails after it was made.
    FailLater(usize),
    /// Our settlement runs: read Stripe's refunds back, then ask for each owed amount.
    Settle,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u64..6_000).prop_map(Op::Decide),
        (1u64..8_000).prop_map(Op::Dashboard),
        Just(Op::ChargeEvent),
        any::<usize>().prop_map(Op::FailLater),
        Just(Op::Settle),
        Just(Op::Settle),
    ]
}

#[derive(Default)]
struct Stripe {
    refunds: Vec<Refund>,
}

impl Stripe {
    fn left(&self) -> u64 {
        PAID - self.refunds.iter().filter(|r| r.counts()).map(|r| r.amount).sum::<u64>()
    }

    /// `POST /v1/refunds`: refused above what is left.
    fn refund(&mut self, amount: u64, obligation: Option<String>) -> Result<Refund, &'static str> {
        if amount == 0 || amount > self.left() {
            return Err("amount_too_large");
        }
        let refund = Refund { refund_id: format!("re_{}", self.refunds.len()), payment_intent: "pi_1".into(), amount, status: "succeeded".into(), obligation_id: obligation, failure_reason: None };
        self.refunds.push(refund.clone());
        Ok(refund)
    }
}

/// Our ledger takes Stripe's report of a refund as `record_refund` does:
/// a failure always wins, a refund is otherwise recorded once.
fn record(ledger: &mut Ledger, refund: &Refund) {
    match ledger.refunds.iter_mut().find(|r| r.refund_id == refund.refund_id) {
        Some(stored) if refund.failed() => *stored = refund.clone(),
        Some(_) => {}
        None => ledger.refunds.push(refund.clone()),
    }
}

fn obligation(n: usize, amount: u64) -> Obligation {
    let checkout = CheckoutId::parse("co_prop").unwrap();
    let at = Timestamp::from_second(1_800_000_000 + n as i64).unwrap();
    Obligation::for_lesson(&checkout, n, "pi_1", amount, Currency::parse("eur").unwrap(), RefundReason::LessonUnavailable, at)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn refunds_made_and_owed_never_exceed_the_payment(ops in proptest::collection::vec(op(), 1..40)) {
        let mut stripe = Stripe::default();
        let mut ledger = Ledger {
            payment: Some(Payment { payment_intent: "pi_1".into(), checkout_id: None, amount: PAID, currency: None, charge_amount_refunded: 0, cancellations: 0 }),
            ..Ledger::default()
        };
        for op in ops {
            match op {
                Op::Decide(amount) => {
                    let next = obligation(ledger.obligations.len(), amount);
                    ledger.obligations.push(next);
                }
                Op::Dashboard(amount) => {
                    let _ = stripe.refund(amount.min(stripe.left()), None);
                }
                Op::ChargeEvent => {
                    let total = PAID - stripe.left();
                    let payment = ledger.payment.as_mut().unwrap();
                    payment.charge_amount_refunded = payment.charge_amount_refunded.max(total);
                }
                Op::FailLater(i) if !stripe.refunds.is_empty() => {
                    let n = i % stripe.refunds.len();
                    stripe.refunds[n].status = "failed".into();
                    let failed = stripe.refunds[n].clone();
                    record(&mut ledger, &failed);
                    if let Some(o) = ledger.obligations.iter_mut().find(|o| Some(&o.obligation_id) == failed.obligation_id.as_ref()) {
                        o.status = ObligationStatus::Failed;
                    }
                }
                Op::FailLater(_) => {}
                Op::Settle => {
                    for refund in stripe.refunds.clone() {
                        record(&mut ledger, &refund);
                    }
                    while let Some((owed, amount)) = ledger.owed().first().map(|(o, a)| ((*o).clone(), *a)) {
                        prop_assert!(amount <= stripe.left(), "we asked for {amount} with {} left: {ledger:?}", stripe.left());
                        let status = if amount == 0 {
                            ObligationStatus::Covered
                        } else {
                            let refund = stripe.refund(amount, Some(owed.obligation_id.clone())).expect("within what is left");
                            record(&mut ledger, &refund);
                            ObligationStatus::Succeeded
                        };
                        ledger.obligations.iter_mut().find(|o| o.obligation_id == owed.obligation_id).unwrap().status = status;
                    }
                }
            }
            prop_assert!(ledger.refunded() + ledger.owed_total() <= PAID, "refunded {} + owed {} > paid: {ledger:?}", ledger.refunded(), ledger.owed_total());
            // Nothing owed is dropped while the payment can still cover it.
            let unpaid: u64 = ledger.obligations.iter().filter(|o| o.status == ObligationStatus::Owed && ledger.refund_for(&o.obligation_id).is_none()).map(|o| o.amount).sum();
            prop_assert_eq!(ledger.owed_total(), unpaid.min(PAID - ledger.refunded()));
            prop_assert!(ledger.refunded() <= PAID - stripe.left(), "we never count more than Stripe refunded: {ledger:?}");
            for o in &ledger.obligations {
                let made = stripe.refunds.iter().filter(|r| r.obligation_id.as_ref() == Some(&o.obligation_id)).count();
                prop_assert!(made <= 1, "{} refunded {made} times", o.obligation_id);
            }
        }
    }
}
