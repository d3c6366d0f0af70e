//! What a teacher no-show writes, whether reconcile decided it or an
//! operator overruled to it: the refund of the lesson (once per booking,
//! capped by what is left, guarded like a cancellation) and the trial given
//! back; and who the teacher is, for counting their presence.

use aws_sdk_dynamodb::types::TransactWriteItem;
use jiff::Timestamp;

use crate::store::{Booking, Obligation, RefundReason, Store, StoreError};

/// The teacher's login, as their app token carries it (join-lesson). A
/// profile that cannot be read leaves it unknown: nothing is decided then.
pub async fn teacher_login(store: &Store, booking: &Booking) -> Result<String, String> {
    match store.get_profile(&booking.teacher_id).await.map_err(|e| e.to_string())? {
        Some(profile) => Ok(profile.user_id().to_string()),
        None => Err(format!("the profile of {} cannot be read, so the teacher's login is unknown", booking.teacher_id)),
    }
}

/// The refund and trial items of a no-show, and the PaymentIntent to settle
/// after the transaction (none when nothing is owed or it is owed already).
pub async fn refund_items(store: &Store, booking: &Booking, now: Timestamp) -> Result<(Vec<TransactWriteItem>, Option<String>), StoreError> {
    let mut items = Vec::new();
    let mut intent = None;
    // A lesson paid with a credit gets the credit back (its grant still
    // running); otherwise, money as for a paid lesson.
    let credit = crate::credits::give_back(store, booking, now).await?;
    let in_money = credit.in_money();
    items.extend(credit.item());
    let payment = if in_money { store.get_checkout(&booking.checkout_id).await?.and_then(|c| c.payment_intent) } else { None };
    if let Some(pi) = payment.filter(|_| booking.amount > 0) {
        let ledger = store.ledger(&pi).await?;
        let owed_already = ledger.obligations.iter().any(|o| o.booking_id.as_ref() == Some(&booking.booking_id));
        let amount = booking.amount.min(ledger.refundable());
        if !owed_already && amount > 0 {
            let obligation = Obligation { reason: RefundReason::TeacherNoShow, ..Obligation::for_booking(booking, &pi, amount, now) };
            items.push(store.new_obligation_item(&obligation)?);
            items.push(store.payment_cancellation_item(&pi, ledger.cancellations())?);
            intent = Some(pi);
        }
    }
    let claim = if booking.trial { store.get_trial_claim(&booking.student_id, &booking.teacher_id).await? } else { None };
    if claim.is_some_and(|c| c.checkout_id == booking.checkout_id) {
        items.push(store.trial_give_back_item(&booking.student_id, &booking.teacher_id, &booking.checkout_id)?);
    }
    Ok((items, intent))
}
