//! The teacher profile: the operator-written document (`ProfileDoc`) and its
//! validated form (`TeacherProfile`) that the slot rules run on.
//!
//! Two types because the document must stay plain data (it is stored with
//! serde_dynamo and read from seed files), while the rules want parsed
//! values: a resolved time zone, ranges as minutes, a checked currency.

use std::collections::BTreeMap;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

mod doc;
mod lessons;
mod packages;
mod policy;
mod ranges;
mod validate;

pub use doc::{LessonDoc, ProfileDoc, RangeDoc};
pub use lessons::{LessonChoice, LessonChoiceError, LessonOffer};
pub use packages::{MAX_PACKAGE_LESSONS, PackageDoc, PackageOffer, split};
pub use policy::{CancellationDoc, CancellationPolicy};
pub use ranges::LocalRange;
pub use validate::{ProfileError, Rules, validate};

use crate::domain::ids::{TeacherId, UserId};
use crate::domain::money::Currency;
use crate::domain::stripe_limits::MAX_CHARGE;

pub const MIN_LESSON_MINUTES: u32 = 5;
pub const MAX_LESSON_MINUTES: u32 = 480;
/// How many lessons one checkout may hold. Defined here, not in checkout
/// (which re-exports it), because it also bounds a lesson's price.
pub const MAX_LESSONS: usize = 10;
/// So that a cart of `MAX_LESSONS` at this price stays within Stripe's maximum charge.
pub const MAX_PRICE: u64 = MAX_CHARGE / MAX_LESSONS as u64;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_BUFFER_MINUTES: u32 = 240;
/// Thirty days.
pub const MAX_MIN_NOTICE_MINUTES: u32 = 43_200;
pub const MAX_HORIZON_DAYS: u32 = 365;
/// All divide a day, so the grid restarts cleanly at every local midnight.
pub const SLOT_STEPS: [u32; 6] = [5, 10, 15, 20, 30, 60];

const WEEKDAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const MINUTES_PER_DAY: u16 = 24 * 60;

// ---------------------------------------------------------------------------
// The validated profile.

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ProfileDoc", into = "ProfileDoc")]
pub struct TeacherProfile {
    id: TeacherId,
    /// As written; see [`TeacherProfile::user_id`].
    user_id: Option<UserId>,
    name: String,
    email: Option<super::EmailAddress>,
    time_zone: TimeZone,
    time_zone_name: String,
    /// Indexed Monday = 0; each day sorted and non-overlapping.
    weekly: [Vec<LocalRange>; 7],
    overrides: BTreeMap<Date, Vec<LocalRange>>,
    currency: Currency,
    lessons: Vec<LessonOffer>,
    trial: Option<LessonOffer>,
    buffer_minutes: u32,
    min_notice_minutes: u32,
    horizon_days: u32,
    slot_step_minutes: u32,
    cancellation: CancellationPolicy,
    packages: Vec<PackageOffer>,
    package_valid_days: u32,
}

impl TeacherProfile {
    pub fn from_json_str(json: &str) -> Result<Self, ProfileError> {
        let doc: ProfileDoc = serde_json::from_str(json).map_err(|e| ProfileError::new("$", e))?;
        Self::try_from(doc)
    }

    pub fn id(&self) -> &TeacherId {
        &self.id
    }

    /// The login whose tokens act as this teacher: the file's `user_id`,
    /// else the teacher id.
    pub fn user_id(&self) -> UserId {
        self.user_id.clone().unwrap_or_else(|| UserId::from(&self.id))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the teacher's notices go, when the profile says.
    pub fn email(&self) -> Option<&super::EmailAddress> {
        self.email.as_ref()
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.time_zone
    }

    /// The IANA name, e.g. `Europe/Berlin`.
    pub fn time_zone_name(&self) -> &str {
        &self.time_zone_name
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// In the order the operator listed them.
    pub fn lessons(&self) -> &[LessonOffer] {
        &self.lessons
    }

    pub fn trial(&self) -> Option<&LessonOffer> {
        self.trial.as_ref()
    }

    /// `None` when the teacher does not offer that choice.
    pub fn offer(&self, choice: LessonChoice) -> Option<LessonOffer> {
        match choice {
            LessonChoice::Trial => self.trial,
            LessonChoice::Minutes(m) => self.lessons.iter().find(|l| l.duration_minutes == m).copied(),
        }
    }

    pub fn weekly(&self, day: Weekday) -> &[LocalRange] {
        &self.weekly[weekday_index(day)]
    }

    pub fn overrides(&self) -> &BTreeMap<Date, Vec<LocalRange>> {
        &self.overrides
    }

    /// The working ranges of one local date: its override if any, else its weekday's.
    pub fn ranges_on(&self, date: Date) -> &[LocalRange] {
        match self.overrides.get(&date) {
            Some(ranges) => ranges,
            None => self.weekly(date.weekday()),
        }
    }

    pub fn buffer_minutes(&self) -> u32 {
        self.buffer_minutes
    }

    pub fn min_notice_minutes(&self) -> u32 {
        self.min_notice_minutes
    }

    pub fn horizon_days(&self) -> u32 {
        self.horizon_days
    }

    pub fn slot_step_minutes(&self) -> u32 {
        self.slot_step_minutes
    }

    pub fn cancellation(&self) -> CancellationPolicy {
        self.cancellation
    }

    /// In the order the profile lists them.
    pub fn packages(&self) -> &[PackageOffer] {
        &self.packages
    }

    /// The package of `lessons` lessons of `duration_minutes`, if offered.
    pub fn package(&self, lessons: u32, duration_minutes: u32) -> Option<PackageOffer> {
        self.packages.iter().find(|p| p.lessons == lessons && p.duration_minutes == duration_minutes).copied()
    }

    /// How many days a package's credits last from its payment.
    pub fn package_valid_days(&self) -> u32 {
        self.package_valid_days
    }

    pub fn to_doc(&self) -> ProfileDoc {
        let day_doc = |ranges: &[LocalRange]| ranges.iter().map(|r| r.to_doc()).collect::<Vec<_>>();
        let lesson_doc = |l: &LessonOffer| LessonDoc { duration_minutes: l.duration_minutes, price: l.price.amount };
        ProfileDoc {
            id: self.id.to_string(),
            user_id: self.user_id.as_ref().map(UserId::to_string),
            name: self.name.clone(),
            email: self.email.as_ref().map(ToString::to_string),
            timezone: self.time_zone_name.clone(),
            weekly: WEEKDAY_KEYS
                .iter()
                .zip(&self.weekly)
                .filter(|(_, ranges)| !ranges.is_empty())
                .map(|(key, ranges)| ((*key).to_owned(), day_doc(ranges)))
                .collect(),
            overrides: self.overrides.iter().map(|(date, ranges)| (date.to_string(), day_doc(ranges))).collect(),
            currency: self.currency.to_string(),
            lessons: self.lessons.iter().map(lesson_doc).collect(),
            trial: self.trial.as_ref().map(lesson_doc),
            buffer_minutes: self.buffer_minutes,
            min_notice_minutes: self.min_notice_minutes,
            horizon_days: self.horizon_days,
            slot_step_minutes: self.slot_step_minutes,
            cancellation: self.cancellation.to_doc(),
            packages: self.packages.iter().map(PackageOffer::to_doc).collect(),
            package_valid_days: (self.package_valid_days != packages::DEFAULT_PACKAGE_VALID_DAYS).then_some(self.package_valid_days),
        }
    }
}

fn weekday_index(day: Weekday) -> usize {
    // Monday-zero offsets are 0..=6, so the cast cannot wrap.
    day.to_monday_zero_offset() as usize
}

impl From<TeacherProfile> for ProfileDoc {
    fn from(profile: TeacherProfile) -> Self {
        profile.to_doc()
    }
}

#[cfg(test)]
mod tests;
