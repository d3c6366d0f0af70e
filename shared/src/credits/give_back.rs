//! A credit coming back to its grant: a free cancellation, a teacher's
//! cancellation, a teacher no-show. The grant keeps its expiry; a grant
//! already past it (or emptied by a refund) cannot take the credit back,
//! and the caller refunds the credit's value instead (the student was not
//! at fault).

use aws_sdk_dynamodb::types::TransactWriteItem;
use jiff::Timestamp;

use crate::store::{Booking, Store, StoreError};

/// What giving a booking's credit back comes to.
#[derive(Debug)]
pub enum CreditReturn {
    /// Not paid with a credit: money, as ever.
    NotACredit,
    /// The grant's write that gives it back.
    Back(TransactWriteItem),
    /// Given back before (an outcome decided again): nothing more.
    AlreadyBack,
    /// The grant is closed (expired, refunded, revoked): its value in money.
    GrantClosed,
}

impl CreditReturn {
    /// Whether the lesson's money goes back instead.
    pub fn in_money(&self) -> bool {
        matches!(self, Self::NotACredit | Self::GrantClosed)
    }

    pub fn item(self) -> Option<TransactWriteItem> {
        match self {
            Self::Back(item) => Some(item),
            _ => None,
        }
    }
}

pub async fn give_back(store: &Store, booking: &Booking, now: Timestamp) -> Result<CreditReturn, StoreError> {
    let Some(credit) = &booking.credit else { return Ok(CreditReturn::NotACredit) };
    let Some(mut grant) = store.grant_of_payment(&credit.payment_intent).await? else { return Ok(CreditReturn::GrantClosed) };
    if grant.credit_of(&booking.booking_id).is_none() {
        return Ok(CreditReturn::AlreadyBack);
    }
    if grant.expires_at <= now || grant.stage.is_none() {
        return Ok(CreditReturn::GrantClosed);
    }
    let read = grant.version;
    if grant.give_back(&booking.booking_id, now).is_err() {
        return Ok(CreditReturn::AlreadyBack);
    }
    store.grant_put_item(&grant, Some(read)).map(CreditReturn::Back)
}
