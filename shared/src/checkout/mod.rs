//! initiate-checkout as a use case: a student's cart becomes held slots and
//! a Stripe Checkout Session (or, for a free cart, confirmed bookings); a
//! new cart supersedes the student's overlapping unpaid ones, and an unpaid
//! checkout can be abandoned.

mod cart;
mod hold;
mod pricing;
mod redirects;
mod service;
mod view;

pub use hold::{OpenSet, clashes};
pub(crate) use hold::Refusal;
pub use cart::{CartRequest, MAX_BODY_BYTES, MAX_LESSONS, parse_cart};
pub(crate) use cart::parse_picks;
pub use redirects::RedirectPolicy;
pub use service::{CheckoutService, MAX_OPEN_CHECKOUTS, POLL_SETTLE_BUDGET};
pub use view::{CheckoutView, LessonView, PackageView};
