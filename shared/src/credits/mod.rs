//! Lesson packages after they are paid: the credits a grant holds, booking
//! lessons with them, giving them back or spending them as the policy says,
//! refunding the unused ones, and their expiry.

mod book;

pub use book::{Booked, CreditCheckout};
