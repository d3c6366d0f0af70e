//! Domain types shared by every function: identifiers, money, time intervals,
//! the teacher profile and the payment provider's limits on it.

pub mod attendance;
pub mod country;
pub mod email;
pub mod ids;
pub mod money;
pub mod percent;
pub mod pick;
pub mod profile;
pub mod stripe_limits;
pub mod time;

pub use attendance::{Attendance, Presence, Stay};
pub use country::{Country, CountryError};
pub use email::{EmailAddress, EmailError};
pub use ids::{BookingId, CheckoutId, IdError, TeacherId, UserId, UserIdError};
pub use money::{Currency, CurrencyError, Money};
pub use percent::Percent;
pub use pick::LessonPick;
pub use profile::{CancellationDoc, CancellationPolicy, LessonChoice, LessonChoiceError, LessonDoc, LessonOffer, LocalRange, PackageDoc, PackageOffer, ProfileDoc, ProfileError, Rules, TeacherProfile};
pub use time::Interval;
