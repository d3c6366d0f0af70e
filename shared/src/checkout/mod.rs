//! initiate-checkout as a use case: a student's cart becomes held slots and
//! a Stripe Checkout Session (or, for a free cart, confirmed bookings).

mod cart;
mod redirects;
mod service;
mod view;

pub use cart::{CartLesson, CartRequest, MAX_BODY_BYTES, MAX_LESSONS, parse_cart};
pub use redirects::RedirectPolicy;
pub use service::CheckoutService;
pub use view::{CheckoutView, LessonView};
