//! Teachers are paid per lesson through Stripe Connect (separate charges
//! and transfers): a lesson whose outcome earns (completed, a student's
//! no-show, a late cancellation keeping part of the price) owes its
//! teacher the kept amount less the platform's commission, transferable a
//! hold after its end. The earning is durable work (`store::work`); what it
//! is worth is derived from the payment's ledger each time it is needed
//! (`share`), so a refund or chargeback recorded at any moment reduces it,
//! and one recorded after the transfer owes a reversal.

pub mod accounts;
pub mod config;
pub mod earn;
pub mod reversals;
pub mod review;
pub mod service;
pub mod share;
#[cfg(test)]
mod sum_rule;
pub mod sweep;
pub mod transfers;
pub mod view;
pub mod worth;

pub use config::PayoutConfig;
pub use share::{Entitlement, Percent, teacher_share};
pub use sweep::{PayoutReport, Payouts, Worked};
