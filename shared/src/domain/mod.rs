//! Domain types shared by every function: identifiers, money, time intervals
//! and the teacher profile.

pub mod ids;
pub mod money;
pub mod profile;
pub mod time;

pub use ids::{BookingId, CheckoutId, IdError, TeacherId};
pub use money::{Currency, CurrencyError, Money};
pub use profile::{LessonChoice, LessonChoiceError, LessonDoc, LessonOffer, LocalRange, ProfileDoc, ProfileError, TeacherProfile};
pub use time::Interval;
