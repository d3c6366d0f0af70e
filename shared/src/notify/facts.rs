//! What a notice is about, read as it is now (a notice is checked against
//! the present when it is sent, never against what was true when written),
//! and who reads it: address, name and time zone.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::domain::{BookingId, EmailAddress, Money, TeacherProfile};
use crate::store::{Booking, BookingStatus, CancelledBy, Checkout, Store, StoreError};

/// One lesson as a notice tells it.
#[derive(Debug, Clone)]
pub struct Lesson {
    pub booking_id: BookingId,
    pub teacher_name: String,
    pub student_name: String,
    pub start: Timestamp,
    pub end: Timestamp,
    pub duration_minutes: u32,
    pub status: BookingStatus,
    pub sequence: u32,
    pub cancelled_by: Option<CancelledBy>,
    /// What its cancellation or no-show refunds (none: nothing).
    pub refund: Option<Money>,
    /// It cost something (a free trial has nothing to refund).
    pub paid: bool,
    /// Where it was before its last move.
    pub was: Option<Timestamp>,
    /// Paid with a credit that came back to its grant (no money moved).
    pub credit_back: bool,
}

impl Lesson {
    pub fn of(booking: &Booking, teacher_name: &str) -> Self {
        let refund = match booking.status {
            BookingStatus::TeacherNoShow => Some(booking.amount),
            _ => booking.refund_amount,
        };
        Self {
            booking_id: booking.booking_id.clone(),
            teacher_name: teacher_name.to_owned(),
            student_name: booking.student_name.clone().unwrap_or_else(|| "your student".to_owned()),
            start: booking.start,
            end: booking.end,
            duration_minutes: booking.duration_minutes,
            status: booking.status,
            sequence: booking.sequence,
            cancelled_by: booking.cancelled_by,
            refund: refund.filter(|&a| a > 0).map(|a| Money::new(a, booking.currency)),
            paid: booking.amount > 0,
            was: booking.history.last().map(|m| m.start),
            credit_back: false,
        }
    }
}

/// Who reads a notice.
#[derive(Debug, Clone)]
pub struct Reader {
    pub address: EmailAddress,
    pub name: String,
    pub zone: TimeZone,
    pub zone_name: String,
    /// No zone was known: times are in UTC, and the mail says so.
    pub zone_is_default: bool,
    pub is_teacher: bool,
    pub unverified: bool,
}

impl Reader {
    /// The student of a checkout, when the token gave an address.
    pub fn student(checkout: &Checkout) -> Option<Self> {
        let address = EmailAddress::parse(checkout.email.as_deref()?).ok()?;
        let zone = checkout.timezone.as_deref().and_then(|z| TimeZone::get(z).ok());
        Some(Self {
            address,
            name: checkout.student_name.clone().unwrap_or_else(|| "there".to_owned()),
            zone_name: checkout.timezone.clone().filter(|_| zone.is_some()).unwrap_or_else(|| "UTC".to_owned()),
            zone_is_default: zone.is_none(),
            zone: zone.unwrap_or(TimeZone::UTC),
            is_teacher: false,
            unverified: checkout.email_unverified,
        })
    }

    /// A teacher, when their profile names an address.
    pub fn teacher(profile: &TeacherProfile) -> Option<Self> {
        Some(Self {
            address: profile.email()?.clone(),
            name: profile.name().to_owned(),
            zone: profile.time_zone().clone(),
            zone_name: profile.time_zone_name().to_owned(),
            zone_is_default: false,
            is_teacher: true,
            unverified: false,
        })
    }

    /// The operator (`MAIL_OPERATOR`).
    pub fn operator(address: &EmailAddress) -> Self {
        Self { address: address.clone(), name: "operator".into(), zone: TimeZone::UTC, zone_name: "UTC".into(), zone_is_default: false, is_teacher: false, unverified: false }
    }
}

/// A booking with what its notices need beside it.
pub struct BookingFacts {
    pub booking: Booking,
    pub checkout: Option<Checkout>,
    pub profile: Option<TeacherProfile>,
    /// Its credit is back in its grant (a credit lesson cancelled or not taught).
    pub credit_back: bool,
}

impl BookingFacts {
    pub async fn read(store: &Store, id: &BookingId) -> Result<Option<Self>, StoreError> {
        let Some(booking) = store.get_booking(id).await? else { return Ok(None) };
        // A lesson booked with a credit names its package's checkout; the
        // student's address and zone are the booking checkout's.
        let told_at = booking.credit.as_ref().and_then(|c| c.booked_by.clone()).unwrap_or_else(|| booking.checkout_id.clone());
        let (checkout, profile) = futures::future::try_join(store.get_checkout(&told_at), store.get_profile(&booking.teacher_id)).await?;
        let credit_back = match &booking.credit {
            Some(credit) => store.grant_of_payment(&credit.payment_intent).await?.is_some_and(|g| g.credit_of(&booking.booking_id).is_none()),
            None => false,
        };
        Ok(Some(Self { booking, checkout, profile, credit_back }))
    }

    pub fn lesson(&self) -> Lesson {
        let lesson = Lesson::of(&self.booking, self.profile.as_ref().map_or("your teacher", |p| p.name()));
        if self.credit_back { Lesson { credit_back: true, refund: None, ..lesson } } else { lesson }
    }

    pub fn student(&self) -> Option<Reader> {
        self.checkout.as_ref().and_then(Reader::student)
    }

    pub fn teacher(&self) -> Option<Reader> {
        self.profile.as_ref().and_then(Reader::teacher)
    }
}
