//! The checkout lifecycle's transitions: confirming a checkout (its holds
//! become bookings) and releasing one (its holds and trial claims are given
//! back). Free carts, the payment webhook, the success-page poll, operator
//! tools and cart changes all call these, so there is one way a booking
//! comes to exist and one way a slot is given back. Each transition is a
//! transaction conditioned on the status it read, so running it twice, or
//! two at once, ends as running it once.

mod confirm;
mod release;
mod settle;

pub use confirm::{PaidWith, Unbookable, confirm, plan_bookings, plan_confirmation};
pub(crate) use confirm::{booked_items, booking_of};
pub use release::{ReleasePlan, plan_release, release};
pub use settle::{Settled, Settlement};

use crate::store::{CheckoutStatus, EditError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum FulfilError {
    #[error("checkout {0} does not exist")]
    UnknownCheckout(String),
    #[error("checkout is {} and cannot be confirmed", .0.as_str())]
    NotConfirmable(CheckoutStatus),
    #[error("checkout is {} and holds nothing to release", .0.as_str())]
    NotReleasable(CheckoutStatus),
    #[error("lesson {0} was taken by someone else after its hold lapsed")]
    LessonTaken(usize),
    #[error("lesson {0} is a trial the student has since used with another checkout")]
    TrialUsed(usize),
    #[error("the calendar is too busy to change right now")]
    Contention,
    #[error("the change needs {0} writes, more than one transaction holds")]
    TooLarge(usize),
    #[error("lessons must be refunded, but the payment's PaymentIntent is unknown")]
    NoPaymentIntent,
    #[error("the payment provider failed: {0}")]
    Payment(String),
    #[error("the video provider failed: {0}")]
    Rooms(String),
    #[error("inconsistent checkout: {0}")]
    Corrupt(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl FulfilError {
    fn from_edit(err: EditError<FulfilError>) -> Self {
        match err {
            EditError::Rule(err) => err,
            EditError::Contention => Self::Contention,
            EditError::TooLarge(n) => Self::TooLarge(n),
            EditError::Store(err) => Self::Store(err),
            // Callers map their own items' conflicts before this.
            EditError::ItemConflict(_) => Self::Contention,
        }
    }
}

/// Fulfilment failures reach clients (and Stripe) as: retry later (storage,
/// contention), the provider failed, or our own bug.
impl From<FulfilError> for crate::error::ApiError {
    fn from(err: FulfilError) -> Self {
        match err {
            FulfilError::Store(err) => err.into(),
            FulfilError::Contention => Self::Contention,
            FulfilError::Payment(detail) => Self::PaymentProvider(detail),
            FulfilError::Rooms(detail) => Self::VideoProvider(detail),
            other => Self::Internal(Box::new(other)),
        }
    }
}
