//! What one lesson's earning is worth now: the payment's ledger read into
//! `share`'s terms (the checkout's lessons and their prices, the refunds
//! that name them, what went back unnamed, the chargebacks).

use super::share::{Entitlement, Lesson, Payment, Percent, entitlements};
use crate::domain::BookingId;
use crate::store::{Checkout, Credit, Grant, Ledger, ObligationStatus};

/// The payment as `share` sees it; `None` until the payment is recorded.
pub fn payment_of(ledger: &Ledger) -> Option<Payment> {
    ledger.payment.as_ref()?;
    Some(Payment {
        going_back: ledger.refunded() + ledger.owed_total(),
        lost_to_disputes: ledger.disputes.iter().filter(|d| d.status == "lost").map(|d| d.amount).sum(),
        dispute_open: ledger.disputes.iter().any(|d| !d.is_closed()),
    })
}

/// Each lesson of the checkout with the refunds that name it and whether
/// it earns; `commission` for those whose earning has not fixed its own.
fn lessons(ledger: &Ledger, checkout: &Checkout, commission: Percent) -> Vec<Lesson> {
    checkout
        .lessons
        .iter()
        .enumerate()
        .map(|(index, lesson)| {
            let refunds = ledger
                .obligations
                .iter()
                .filter(|o| o.status != ObligationStatus::Failed)
                .filter(|o| o.booking_id.as_ref() == Some(&lesson.booking_id) || (o.booking_id.is_none() && o.lesson_index == Some(index)))
                .map(|o| o.amount)
                .sum::<u64>()
                .min(lesson.amount);
            let earning = ledger.earnings.iter().find(|e| e.booking_id == lesson.booking_id);
            let earns = earning.filter(|e| e.basis.earns()).map(|e| e.commission.unwrap_or(commission));
            Lesson { price: lesson.amount, refunds, earns }
        })
        .collect()
}

/// A package payment's credits as lessons: each credit at its value, the
/// money going back that names it (its lesson's cancellation refund, or the
/// refund of the unused credits it was part of), and whether it earns (its
/// lesson's outcome, or its expiry unused); with the earning it counts
/// towards (its lesson's booking, or the grant's expiry).
fn credits(ledger: &Ledger, grant: &Grant, commission: Percent) -> Vec<(Option<BookingId>, Lesson)> {
    let expiry = grant.expiry_booking_id();
    let live = |id: &str| ledger.obligations.iter().any(|o| o.obligation_id == id && o.status != ObligationStatus::Failed);
    let earns = |key: &BookingId| ledger.earnings.iter().find(|e| &e.booking_id == key).filter(|e| e.basis.earns()).map(|e| e.commission.unwrap_or(commission));
    grant
        .credits
        .iter()
        .zip(&grant.unit_values)
        .map(|(credit, &price)| {
            let (key, refunds) = match credit {
                Credit::Used { booking_id } => {
                    let named = ledger.obligations.iter().filter(|o| o.status != ObligationStatus::Failed && o.booking_id.as_ref() == Some(booking_id)).map(|o| o.amount).sum::<u64>();
                    (Some(booking_id.clone()), named.min(price))
                }
                Credit::Expired => (expiry.clone(), 0),
                Credit::Refunded { obligation_id } if live(obligation_id) => (None, price),
                Credit::Refunded { .. } | Credit::Free | Credit::Revoked => (None, 0),
            };
            let lesson = Lesson { price, refunds, earns: key.as_ref().and_then(earns) };
            (key, lesson)
        })
        .collect()
}

/// The entitlement of `booking`'s lesson, or `None` when the payment or
/// the lesson is unknown. A package's earnings (a lesson booked with one of
/// its credits, or its credits that expired) are the sum over their credits;
/// one whose credit came back is worth nothing.
pub fn worth(ledger: &Ledger, checkout: &Checkout, booking: &BookingId, commission: Percent) -> Option<Entitlement> {
    let payment = payment_of(ledger)?;
    if let (Some(grant), Some(_)) = (&ledger.grant, &checkout.package) {
        let credits = credits(ledger, grant, commission);
        let lessons: Vec<Lesson> = credits.iter().map(|(_, l)| *l).collect();
        let mine = credits.iter().zip(entitlements(&payment, &lessons)).filter(|((key, _), _)| key.as_ref() == Some(booking)).map(|(_, e)| e);
        return Some(mine.fold(Entitlement::default(), |sum, e| Entitlement { kept: sum.kept + e.kept, earned: sum.earned + e.earned, transferable: sum.transferable + e.transferable }));
    }
    let index = checkout.lessons.iter().position(|l| &l.booking_id == booking)?;
    entitlements(&payment, &lessons(ledger, checkout, commission)).get(index).copied()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::store::{Dispute, Earning, Obligation, Payment};

    const AT: &str = "2026-12-01T10:00:00Z";

    fn checkout(prices: &[u64]) -> Checkout {
        let lessons: Vec<Value> = prices
            .iter()
            .enumerate()
            .map(|(i, p)| json!({"teacher_id": "t_one", "teacher_name": "One", "start": AT, "end": AT, "duration_minutes": 60, "amount": p, "trial": false, "booking_id": format!("bk_x_{i}")}))
            .collect();
        serde_json::from_value(json!({"checkout_id": "co_x", "student_id": "s", "status": "confirmed", "currency": "eur", "amount_total": prices.iter().sum::<u64>(), "lessons": lessons, "created_at": AT, "expires_at": AT, "hold_until": AT})).unwrap()
    }

    fn booking(i: usize) -> BookingId {
        BookingId::parse(&format!("bk_x_{i}")).unwrap()
    }

    fn earning(i: usize, basis: &str, commission: Option<u8>) -> Earning {
        serde_json::from_value(json!({"booking_id": booking(i), "checkout_id": "co_x", "teacher_id": "t_one", "payment_intent": "pi_x", "currency": "eur", "lesson_end": AT, "basis": basis, "created_at": AT, "commission": commission})).unwrap()
    }

    fn obligation(id: &str, amount: u64, booking_id: Option<usize>, lesson_index: Option<usize>, status: &str) -> Obligation {
        serde_json::from_value(json!({"obligation_id": id, "payment_intent": "pi_x", "amount": amount, "currency": "eur", "reason": "cancelled", "checkout_id": "co_x", "lesson_index": lesson_index, "booking_id": booking_id.map(booking), "status": status, "created_at": AT})).unwrap()
    }

    fn ledger(paid: u64) -> Ledger {
        Ledger { payment: Some(Payment { payment_intent: "pi_x".into(), checkout_id: None, amount: paid, currency: None, charge_amount_refunded: 0, cancellations: 0 }), ..Ledger::default() }
    }

    fn pct(v: u8) -> Percent {
        Percent::new(v).unwrap()
    }

    #[test]
    fn refunds_count_against_the_lesson_they_name_by_booking_or_by_index_unless_they_failed() {
        let checkout = checkout(&[3000, 3000, 3000]);
        let mut ledger = ledger(9000);
        ledger.earnings = (0..3).map(|i| earning(i, "completed", None)).collect();
        ledger.obligations = vec![
            obligation("cancel-bk_x_0", 1500, Some(0), None, "succeeded"),
            obligation("refund-co_x-1", 1000, None, Some(1), "pending"),
            obligation("cancel-bk_x_2", 3000, Some(2), None, "failed"),
        ];
        ledger.refunds = Vec::new();
        let kept = |i: usize| worth(&ledger, &checkout, &booking(i), pct(10)).unwrap();
        // The obligations' money is going back (owed or pending): only the named lesson keeps less.
        assert_eq!(kept(0).earned, 1350);
        assert_eq!(kept(1).earned, 1800);
        assert_eq!(kept(2).earned, 2700, "a refund that failed gave nothing back");
    }

    #[test]
    fn an_outcome_that_earns_nothing_or_no_earning_at_all_is_worth_nothing() {
        let checkout = checkout(&[3000, 3000, 3000]);
        let mut ledger = ledger(9000);
        ledger.earnings = vec![earning(0, "teacher_no_show", None), earning(1, "student_no_show", Some(20))];
        assert_eq!(worth(&ledger, &checkout, &booking(0), pct(10)).unwrap().earned, 0);
        assert_eq!(worth(&ledger, &checkout, &booking(1), pct(10)).unwrap().earned, 2400, "the commission it was transferred with");
        assert_eq!(worth(&ledger, &checkout, &booking(2), pct(10)).unwrap().earned, 0, "not decided: no earning");
        assert!(worth(&ledger, &checkout, &BookingId::parse("bk_other_0").unwrap(), pct(10)).is_none());
        assert!(worth(&Ledger { payment: None, ..ledger.clone() }, &checkout, &booking(1), pct(10)).is_none(), "the payment is not recorded yet");
    }

    #[test]
    fn chargebacks_hold_while_open_and_take_once_lost_and_unnamed_refunds_are_spread() {
        let checkout = checkout(&[2000, 1000]);
        let mut ledger = ledger(3000);
        ledger.earnings = vec![earning(0, "completed", None), earning(1, "completed", None)];
        let dispute = |status: &str| Dispute { dispute_id: "dp_1".into(), payment_intent: "pi_x".into(), amount: 3000, reason: "fraudulent".into(), status: status.into(), due_by: None };
        ledger.disputes = vec![dispute("needs_response")];
        let open = worth(&ledger, &checkout, &booking(0), pct(0)).unwrap();
        assert_eq!((open.earned, open.transferable), (2000, 0));
        ledger.disputes = vec![dispute("lost")];
        assert_eq!(worth(&ledger, &checkout, &booking(0), pct(0)).unwrap().earned, 0);
        ledger.disputes = vec![dispute("won")];
        assert_eq!(worth(&ledger, &checkout, &booking(0), pct(0)).unwrap().transferable, 2000);
        // A dashboard refund of 300 naming no lesson: 200 and 100 of it.
        ledger.payment = Some(Payment { charge_amount_refunded: 300, ..ledger.payment.clone().unwrap() });
        assert_eq!(worth(&ledger, &checkout, &booking(0), pct(0)).unwrap().kept, 1800);
        assert_eq!(worth(&ledger, &checkout, &booking(1), pct(0)).unwrap().kept, 900);
        // A refund still owed for the second lesson goes back too: the
        // dashboard's 300 is then spread over what each still keeps.
        ledger.obligations = vec![obligation("cancel-bk_x_1", 500, Some(1), None, "owed")];
        assert_eq!(worth(&ledger, &checkout, &booking(0), pct(0)).unwrap().kept, 2000 - 240);
        assert_eq!(worth(&ledger, &checkout, &booking(1), pct(0)).unwrap().kept, 500 - 60);
    }
}
