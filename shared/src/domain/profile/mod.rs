//! The teacher profile: the operator-written document (`ProfileDoc`) and its
//! validated form (`TeacherProfile`) that the slot rules run on.
//!
//! Two types because the document must stay plain data (it is stored with
//! serde_dynamo and read from seed files), while the rules want parsed
//! values: a resolved time zone, ranges as minutes, a checked currency.

use std::collections::BTreeMap;
use std::fmt;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

mod lessons;
mod policy;
mod ranges;

pub use lessons::{LessonChoice, LessonChoiceError, LessonOffer};
pub use policy::{CancellationDoc, CancellationPolicy};
pub use ranges::LocalRange;

use lessons::parse_lesson;
use ranges::{parse_date_key, parse_day};
use crate::domain::ids::{TeacherId, UserId};
use crate::domain::money::Currency;
use crate::domain::stripe_limits::{self, MAX_CHARGE};

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
// The document, exactly as operators write it.

/// A working range as written: `["09:00", "12:00"]`.
pub type RangeDoc = [String; 2];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LessonDoc {
    pub duration_minutes: u32,
    pub price: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileDoc {
    pub id: String,
    /// The teacher's login: the identity provider's subject of their
    /// account. Absent means the id itself, as before logins existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub name: String,
    pub timezone: String,
    /// Keys `mon`..`sun`; a missing day is a day off. A map rather than seven
    /// fields so an unknown key gets a field-path error from validation.
    #[serde(default)]
    pub weekly: BTreeMap<String, Vec<RangeDoc>>,
    /// Keys are local dates `YYYY-MM-DD`; the list replaces that day's weekly ranges.
    #[serde(default)]
    pub overrides: BTreeMap<String, Vec<RangeDoc>>,
    pub currency: String,
    pub lessons: Vec<LessonDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial: Option<LessonDoc>,
    pub buffer_minutes: u32,
    pub min_notice_minutes: u32,
    pub horizon_days: u32,
    pub slot_step_minutes: u32,
    /// Cancel and reschedule terms; absent means the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation: Option<CancellationDoc>,
}

// ---------------------------------------------------------------------------
// Errors.

/// A validation failure, displayed as `<field path>: <problem>`. The path is
/// `$` when the document could not be read at all (bad JSON or shape).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ProfileError {
    field: String,
    problem: String,
}

impl ProfileError {
    fn new(field: impl Into<String>, problem: impl fmt::Display) -> Self {
        Self { field: field.into(), problem: problem.to_string() }
    }

    pub fn field(&self) -> &str {
        &self.field
    }

    pub fn problem(&self) -> &str {
        &self.problem
    }
}

fn check_range(field: &str, value: u32, min: u32, max: u32) -> Result<u32, ProfileError> {
    if (min..=max).contains(&value) { Ok(value) } else { Err(ProfileError::new(field, format!("must be between {min} and {max}"))) }
}

// ---------------------------------------------------------------------------
// The validated profile.

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ProfileDoc", into = "ProfileDoc")]
pub struct TeacherProfile {
    id: TeacherId,
    /// As written; see [`TeacherProfile::user_id`].
    user_id: Option<UserId>,
    name: String,
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

    pub fn to_doc(&self) -> ProfileDoc {
        let day_doc = |ranges: &[LocalRange]| ranges.iter().map(|r| r.to_doc()).collect::<Vec<_>>();
        let lesson_doc = |l: &LessonOffer| LessonDoc { duration_minutes: l.duration_minutes, price: l.price.amount };
        ProfileDoc {
            id: self.id.to_string(),
            user_id: self.user_id.as_ref().map(UserId::to_string),
            name: self.name.clone(),
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

impl TryFrom<ProfileDoc> for TeacherProfile {
    type Error = ProfileError;

    fn try_from(doc: ProfileDoc) -> Result<Self, ProfileError> {
        let id = TeacherId::try_from(doc.id).map_err(|e| ProfileError::new("id", e))?;
        let user_id = doc.user_id.as_deref().map(UserId::parse).transpose().map_err(|e| ProfileError::new("user_id", e))?;

        let name_chars = doc.name.chars().count();
        if name_chars > MAX_NAME_CHARS || doc.name.trim().is_empty() {
            return Err(ProfileError::new("name", format!("must be 1 to {MAX_NAME_CHARS} characters and not blank")));
        }

        let time_zone =
            TimeZone::get(&doc.timezone).map_err(|_| ProfileError::new("timezone", format!("unknown IANA zone {:?}", doc.timezone)))?;
        // jiff's lookup ignores case; keep the database's spelling.
        let time_zone_name = time_zone.iana_name().unwrap_or(&doc.timezone).to_owned();

        let mut weekly: [Vec<LocalRange>; 7] = Default::default();
        for (key, ranges) in &doc.weekly {
            let path = format!("weekly.{key}");
            let Some(index) = WEEKDAY_KEYS.iter().position(|k| k == key) else {
                return Err(ProfileError::new(path, format!("unknown weekday, expected one of {}", WEEKDAY_KEYS.join(", "))));
            };
            weekly[index] = parse_day(&path, ranges)?;
        }

        let mut overrides = BTreeMap::new();
        for (key, ranges) in &doc.overrides {
            let path = format!("overrides.{key}");
            let date = parse_date_key(key).ok_or_else(|| ProfileError::new(&path, "invalid date, expected YYYY-MM-DD"))?;
            overrides.insert(date, parse_day(&path, ranges)?);
        }

        let currency = Currency::parse(&doc.currency).map_err(|e| ProfileError::new("currency", e))?;
        let min_charge = stripe_limits::min_charge(currency).ok_or_else(|| {
            ProfileError::new("currency", format!("{currency} is not supported; supported are {}", stripe_limits::supported_currencies()))
        })?;

        if doc.lessons.is_empty() {
            return Err(ProfileError::new("lessons", "at least one lesson is required"));
        }
        let mut lessons: Vec<LessonOffer> = Vec::with_capacity(doc.lessons.len());
        for (i, lesson) in doc.lessons.iter().enumerate() {
            let offer = parse_lesson(&format!("lessons[{i}]"), lesson, currency, min_charge, false)?;
            if let Some(first) = lessons.iter().position(|l| l.duration_minutes == offer.duration_minutes) {
                return Err(ProfileError::new(format!("lessons[{i}].duration_minutes"), format!("duplicates lessons[{first}]")));
            }
            lessons.push(offer);
        }
        let trial = doc.trial.as_ref().map(|t| parse_lesson("trial", t, currency, min_charge, true)).transpose()?;

        let buffer_minutes = check_range("buffer_minutes", doc.buffer_minutes, 0, MAX_BUFFER_MINUTES)?;
        let min_notice_minutes = check_range("min_notice_minutes", doc.min_notice_minutes, 0, MAX_MIN_NOTICE_MINUTES)?;
        let horizon_days = check_range("horizon_days", doc.horizon_days, 1, MAX_HORIZON_DAYS)?;
        let slot_step_minutes = doc.slot_step_minutes;
        if !SLOT_STEPS.contains(&slot_step_minutes) {
            let steps = SLOT_STEPS.map(|s| s.to_string()).join(", ");
            return Err(ProfileError::new("slot_step_minutes", format!("must be one of {steps}")));
        }
        let cancellation = CancellationPolicy::parse(doc.cancellation.as_ref())?;

        Ok(Self {
            id,
            user_id,
            name: doc.name,
            time_zone,
            time_zone_name,
            weekly,
            overrides,
            currency,
            lessons,
            trial,
            buffer_minutes,
            min_notice_minutes,
            horizon_days,
            slot_step_minutes,
            cancellation,
        })
    }
}

#[cfg(test)]
mod tests;
