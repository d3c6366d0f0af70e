//! Validation: the one way a `ProfileDoc` becomes a `TeacherProfile`, for
//! `make seed`, `admin check` and teacher-profile alike. Errors name the
//! field path (`weekly.mon[1]`).
//!
//! Stored profiles are read with [`Rules::AsStored`]: only what the slot
//! rules need to run is checked, not the limits (lengths, ranges, Stripe's
//! minimum), so a later, stricter limit never takes a teacher's pages down;
//! such a profile is served as it was stored and flagged (reconcile).

use std::collections::BTreeMap;
use std::fmt;

use jiff::tz::TimeZone;

use super::lessons::parse_lesson;
use super::ranges::{parse_date_key, parse_day};
use super::*;
use crate::domain::ids::{TeacherId, UserId};
use crate::domain::money::Currency;
use crate::domain::stripe_limits;

/// Which checks apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    /// Every rule: what a write must pass.
    Strict,
    /// Only what the slot rules need to run: a stored profile that a later,
    /// stricter limit would refuse is still served.
    AsStored,
}

/// A validation failure, displayed as `<field path>: <problem>`. The path is
/// `$` when the document could not be read at all (bad JSON or shape).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ProfileError {
    field: String,
    problem: String,
}

impl ProfileError {
    pub(super) fn new(field: impl Into<String>, problem: impl fmt::Display) -> Self {
        Self { field: field.into(), problem: problem.to_string() }
    }

    pub fn field(&self) -> &str {
        &self.field
    }

    pub fn problem(&self) -> &str {
        &self.problem
    }
}

pub(super) fn check_range(field: &str, value: u32, min: u32, max: u32, rules: Rules) -> Result<u32, ProfileError> {
    if rules == Rules::AsStored || (min..=max).contains(&value) { Ok(value) } else { Err(ProfileError::new(field, format!("must be between {min} and {max}"))) }
}


impl TryFrom<ProfileDoc> for TeacherProfile {
    type Error = ProfileError;

    fn try_from(doc: ProfileDoc) -> Result<Self, ProfileError> {
        validate(doc, Rules::Strict)
    }
}

impl TeacherProfile {
    /// A stored profile: validated strictly, or, if a limit it was written
    /// under is stricter now, as stored, with what the strict rules say
    /// (for the operator). Fails only when the slot rules cannot run on it.
    pub fn from_stored(doc: ProfileDoc) -> Result<(Self, Option<ProfileError>), ProfileError> {
        match validate(doc.clone(), Rules::Strict) {
            Ok(profile) => Ok((profile, None)),
            Err(problem) => validate(doc, Rules::AsStored).map(|profile| (profile, Some(problem))),
        }
    }
}

/// The one validator: every write goes through it with [`Rules::Strict`].
pub fn validate(doc: ProfileDoc, rules: Rules) -> Result<TeacherProfile, ProfileError> {
    let strict = rules == Rules::Strict;
    let id = TeacherId::try_from(doc.id).map_err(|e| ProfileError::new("id", e))?;
    let user_id = doc.user_id.as_deref().map(UserId::parse).transpose().map_err(|e| ProfileError::new("user_id", e))?;

    let name_chars = doc.name.chars().count();
    if strict && (name_chars > MAX_NAME_CHARS || doc.name.trim().is_empty()) {
        return Err(ProfileError::new("name", format!("must be 1 to {MAX_NAME_CHARS} characters and not blank")));
    }

    let email = doc.email.as_deref().map(crate::domain::EmailAddress::parse).transpose().map_err(|e| ProfileError::new("email", e))?;

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
    let min_charge = match stripe_limits::min_charge(currency) {
        Some(min) => min,
        None if !strict => 0,
        None => return Err(ProfileError::new("currency", format!("{currency} is not supported; supported are {}", stripe_limits::supported_currencies()))),
    };

    if doc.lessons.is_empty() {
        return Err(ProfileError::new("lessons", "at least one lesson is required"));
    }
    let mut lessons: Vec<LessonOffer> = Vec::with_capacity(doc.lessons.len());
    for (i, lesson) in doc.lessons.iter().enumerate() {
        let offer = parse_lesson(&format!("lessons[{i}]"), lesson, currency, min_charge, false, rules)?;
        if let Some(first) = lessons.iter().position(|l| l.duration_minutes == offer.duration_minutes) {
            return Err(ProfileError::new(format!("lessons[{i}].duration_minutes"), format!("duplicates lessons[{first}]")));
        }
        lessons.push(offer);
    }
    let trial = doc.trial.as_ref().map(|t| parse_lesson("trial", t, currency, min_charge, true, rules)).transpose()?;

    let buffer_minutes = check_range("buffer_minutes", doc.buffer_minutes, 0, MAX_BUFFER_MINUTES, rules)?;
    let min_notice_minutes = check_range("min_notice_minutes", doc.min_notice_minutes, 0, MAX_MIN_NOTICE_MINUTES, rules)?;
    let horizon_days = check_range("horizon_days", doc.horizon_days, 1, MAX_HORIZON_DAYS, rules)?;
    let slot_step_minutes = doc.slot_step_minutes;
    // The slot grid must restart at every local midnight, whatever the rules.
    let grid = slot_step_minutes > 0 && 1440 % slot_step_minutes == 0;
    if !grid || (strict && !SLOT_STEPS.contains(&slot_step_minutes)) {
        let steps = SLOT_STEPS.map(|s| s.to_string()).join(", ");
        return Err(ProfileError::new("slot_step_minutes", format!("must be one of {steps}")));
    }
    let cancellation = CancellationPolicy::parse(doc.cancellation.as_ref(), rules)?;
    let packages = super::packages::parse_packages(&doc.packages, &lessons, min_charge, rules)?;
    let package_valid_days = super::packages::parse_valid_days(doc.package_valid_days, rules)?;

    Ok(TeacherProfile {
        id,
        user_id,
        name: doc.name,
        email,
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
        packages,
        package_valid_days,
    })
}
