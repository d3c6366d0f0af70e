//! Lesson packages after they are paid: the credits a grant holds, booking
//! lessons with them, giving them back or spending them as the policy says,
//! refunding the unused ones, and their expiry.

mod book;
mod expiry;
mod give_back;
mod sum_rule;
pub mod service;

pub use book::{Booked, CreditCheckout};
pub use give_back::{CreditReturn, give_back};
pub use expiry::{Swept, sweep};
