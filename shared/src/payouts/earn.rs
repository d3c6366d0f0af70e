//! The earning a decision writes, in the decision's own transaction: an
//! outcome (reconcile's or an operator's) or a student's late cancellation.
//! A lesson nobody paid for earns nothing and writes nothing.

use aws_sdk_dynamodb::types::TransactWriteItem;
use jiff::Timestamp;

use crate::store::{Basis, Booking, Earning, EarningOf, Store, StoreError, earning_key};

pub fn earning(booking: &Booking, payment_intent: &str, basis: Basis, now: Timestamp) -> Earning {
    let of = EarningOf {
        booking_id: booking.booking_id.clone(),
        checkout_id: booking.checkout_id.clone(),
        teacher_id: booking.teacher_id.clone(),
        payment_intent: payment_intent.to_owned(),
        currency: booking.currency,
        lesson_end: booking.end,
    };
    Earning::owed(of, basis, now)
}

/// The item recording that `booking`'s outcome is now `basis`: a new
/// earning, or the basis of the one an earlier decision wrote.
pub async fn outcome_item(store: &Store, booking: &Booking, basis: Basis, now: Timestamp) -> Result<Option<TransactWriteItem>, StoreError> {
    if booking.amount == 0 {
        return Ok(None);
    }
    let Some(pi) = store.get_checkout(&booking.checkout_id).await?.and_then(|c| c.payment_intent) else { return Ok(None) };
    let key = earning_key(&pi, &booking.booking_id);
    Ok(Some(match store.earning(&key).await? {
        Some(_) => store.earning_basis_item(&key, basis)?,
        None => store.new_earning_item(&earning(booking, &pi, basis, now))?,
    }))
}
