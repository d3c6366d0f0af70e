//! After payment, plans change: a booking is cancelled (by its student,
//! teacher or an admin under the policy it kept, or by a full refund or a
//! dispute) or moved by its student. `rules` decides what is allowed and
//! what it refunds, `cancel` and `reschedule` are the only code that
//! changes a booking, and `service` is change-booking's use case.

mod cancel;
mod request;
mod reschedule;
mod rules;
mod service;

pub use cancel::{CancelError, Cancellation, booking_days, commit};
pub use request::{Action, ChangeRequest, parse_change};
pub use reschedule::{MoveError, move_booking};
pub use rules::{Actor, CancelQuote, Refusal, RescheduleQuote, cancel_quote, reschedule_quote};
pub use service::{BookingChanges, CancelOption, Cancelled, ChangeOptions, ChangeOutcome, RefundView, RescheduleOption, Rescheduled};
