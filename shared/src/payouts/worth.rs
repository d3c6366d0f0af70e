//! What one lesson's earning is worth now: the payment's ledger read into
//! `share`'s terms (the checkout's lessons and their prices, the refunds
//! that name them, what went back unnamed, the chargebacks).

use super::share::{Entitlement, Lesson, Payment, Percent, entitlements};
use crate::domain::BookingId;
use crate::store::{Checkout, Ledger, ObligationStatus};

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

/// The entitlement of `booking`'s lesson, or `None` when the payment or
/// the lesson is unknown.
pub fn worth(ledger: &Ledger, checkout: &Checkout, booking: &BookingId, commission: Percent) -> Option<Entitlement> {
    let payment = payment_of(ledger)?;
    let index = checkout.lessons.iter().position(|l| &l.booking_id == booking)?;
    entitlements(&payment, &lessons(ledger, checkout, commission)).get(index).copied()
}
