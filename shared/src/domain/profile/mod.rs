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
mod tests {
    use super::*;
    use crate::domain::Money;
    use jiff::civil::date;

    const ANNA: &str = r#"{"id": "t_anna", "name": "Anna Schmidt", "timezone": "Europe/Berlin",
     "weekly": {"mon": [["09:00", "12:00"], ["13:00", "17:00"]], "tue": [["09:00", "17:00"]]},
     "overrides": {"2026-12-24": [], "2026-12-27": [["10:00", "14:00"]]},
     "currency": "eur",
     "lessons": [{"duration_minutes": 30, "price": 1800}, {"duration_minutes": 60, "price": 3000}],
     "trial": {"duration_minutes": 30, "price": 0},
     "buffer_minutes": 10, "min_notice_minutes": 720, "horizon_days": 60, "slot_step_minutes": 30}"#;

    fn anna_value() -> serde_json::Value {
        serde_json::from_str(ANNA).unwrap()
    }

    /// Validates `ANNA` after `edit`, returning the error text.
    fn error_after(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut value = anna_value();
        edit(&mut value);
        let err = TeacherProfile::from_json_str(&value.to_string()).unwrap_err();
        assert!(err.to_string().starts_with(&format!("{}: ", err.field())));
        err.to_string()
    }

    #[test]
    fn the_cancellation_policy_defaults_field_by_field_and_is_validated_by_name() {
        let p = TeacherProfile::from_json_str(ANNA).unwrap();
        assert_eq!(p.cancellation(), CancellationPolicy { free_cancel_hours: 24, late_cancel_refund_percent: 0, reschedule_hours: 24, max_reschedules: 2 });
        assert!(p.to_doc().cancellation.is_none(), "the defaults are not written out");

        let mut value = anna_value();
        value["cancellation"] = serde_json::json!({"free_cancel_hours": 12, "late_cancel_refund_percent": 50});
        let p = TeacherProfile::from_json_str(&value.to_string()).unwrap();
        assert_eq!(p.cancellation(), CancellationPolicy { free_cancel_hours: 12, late_cancel_refund_percent: 50, reschedule_hours: 24, max_reschedules: 2 });
        assert_eq!(TeacherProfile::try_from(p.to_doc()).unwrap(), p, "round trip");

        for (field, value) in [("free_cancel_hours", 169), ("late_cancel_refund_percent", 101), ("reschedule_hours", 169), ("max_reschedules", 11)] {
            let err = error_after(|v| v["cancellation"] = serde_json::json!({ field: value }));
            assert!(err.starts_with(&format!("cancellation.{field}: must be between 0 and")), "{err}");
        }
        for (field, value) in [("free_cancel_hours", 168), ("late_cancel_refund_percent", 100), ("reschedule_hours", 0), ("max_reschedules", 10)] {
            let mut v = anna_value();
            v["cancellation"] = serde_json::json!({ field: value });
            assert!(TeacherProfile::from_json_str(&v.to_string()).is_ok(), "{field} = {value} is allowed");
        }
        let err = error_after(|v| v["cancellation"] = serde_json::json!({"free_cancel_hour": 12}));
        assert!(err.contains("free_cancel_hour"), "an unknown field is named: {err}");
    }

    #[test]
    fn parses_the_documented_example() {
        let p = TeacherProfile::from_json_str(ANNA).unwrap();
        assert_eq!(p.id().as_str(), "t_anna");
        assert_eq!(p.name(), "Anna Schmidt");
        assert_eq!(p.time_zone_name(), "Europe/Berlin");
        assert_eq!(p.time_zone(), &TimeZone::get("Europe/Berlin").unwrap());
        assert_eq!(p.currency().as_str(), "eur");
        assert_eq!(p.weekly(Weekday::Monday).len(), 2);
        assert_eq!(p.weekly(Weekday::Monday)[1].to_string(), "13:00-17:00");
        assert!(p.weekly(Weekday::Sunday).is_empty());
        // 2026-12-24 is a Thursday off; 2026-12-27 a Sunday with an override.
        assert!(p.ranges_on(date(2026, 12, 24)).is_empty());
        assert_eq!(p.ranges_on(date(2026, 12, 27))[0].to_string(), "10:00-14:00");
        assert_eq!(p.ranges_on(date(2026, 12, 22))[0].to_string(), "09:00-17:00");
        assert_eq!((p.buffer_minutes(), p.min_notice_minutes(), p.horizon_days(), p.slot_step_minutes()), (10, 720, 60, 30));
    }

    #[test]
    fn the_login_is_the_user_id_given_else_the_id() {
        let p = TeacherProfile::from_json_str(ANNA).unwrap();
        assert_eq!(p.user_id().as_str(), "t_anna");
        assert!(p.to_doc().user_id.is_none(), "the file's spelling is kept: no user_id written for it");
        for sub in ["0b7e3f1a-5c2d-4e8f-9a61-2f3b4c5d6e7f", "auth0|65f1c2d3e4a5b6c7d8e9f001", "Xk9LmQ2pRs7TuVw3YzA1bC4dE5f2"] {
            let p = valid_after(|v| v["user_id"] = sub.into());
            assert_eq!((p.user_id().as_str(), p.to_doc().user_id.as_deref()), (sub, Some(sub)));
            assert_eq!(TeacherProfile::try_from(p.to_doc()).unwrap(), p);
        }
        for bad in ["", "  ", "line\nbreak"] {
            assert_eq!(error_after(|v| v["user_id"] = bad.into()), "user_id: must be 1 to 255 printable characters, not all blank");
        }
        assert_eq!(error_after(|v| v["user_id"] = "x".repeat(256).into()), "user_id: must be 1 to 255 printable characters, not all blank");
    }

    #[test]
    fn offers_lessons_and_trial() {
        let p = TeacherProfile::from_json_str(ANNA).unwrap();
        let eur = Currency::parse("eur").unwrap();
        assert_eq!(
            p.offer(LessonChoice::Minutes(60)),
            Some(LessonOffer { duration_minutes: 60, price: Money::new(3000, eur), trial: false })
        );
        assert_eq!(p.offer(LessonChoice::Trial), Some(LessonOffer { duration_minutes: 30, price: Money::new(0, eur), trial: true }));
        assert_eq!(p.offer(LessonChoice::Minutes(45)), None);
        assert_eq!(p.lessons().len(), 2);
        assert!(p.trial().is_some());
    }

    #[test]
    fn round_trips_through_the_document() {
        let p = TeacherProfile::from_json_str(ANNA).unwrap();
        let doc = p.to_doc();
        assert_eq!(doc, serde_json::from_value::<ProfileDoc>(anna_value()).unwrap());
        assert_eq!(TeacherProfile::try_from(doc).unwrap(), p);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<TeacherProfile>(&json).unwrap(), p);
    }

    #[test]
    fn document_round_trips_through_dynamodb_attributes() {
        use aws_sdk_dynamodb::types::AttributeValue;
        let doc = TeacherProfile::from_json_str(ANNA).unwrap().to_doc();
        let item: std::collections::HashMap<String, AttributeValue> = serde_dynamo::to_item(&doc).unwrap();
        assert!(matches!(&item["weekly"], AttributeValue::M(days) if matches!(&days["mon"], AttributeValue::L(_))));
        assert_eq!(serde_dynamo::from_item::<_, ProfileDoc>(item).unwrap(), doc);
    }

    #[test]
    fn ranges_are_sorted_and_24_00_ends_a_day() {
        let p = TeacherProfile::from_json_str(&{
            let mut v = anna_value();
            v["weekly"]["fri"] = serde_json::json!([["18:00", "24:00"], ["00:00", "02:00"]]);
            v.to_string()
        })
        .unwrap();
        let fri: Vec<String> = p.weekly(Weekday::Friday).iter().map(|r| r.to_string()).collect();
        assert_eq!(fri, ["00:00-02:00", "18:00-24:00"]);
        assert_eq!(p.to_doc().weekly["fri"][1], ["18:00".to_owned(), "24:00".to_owned()]);
    }

    #[test]
    fn rejects_bad_ranges_with_their_path() {
        let err = error_after(|v| v["weekly"]["mon"] = serde_json::json!([["09:00", "12:00"], ["13:00", "12:00"]]));
        assert_eq!(err, "weekly.mon[1]: end 12:00 is not after start 13:00");
        let err = error_after(|v| v["weekly"]["mon"] = serde_json::json!([["13:00", "17:00"], ["09:00", "13:30"]]));
        assert_eq!(err, "weekly.mon[0]: 13:00-17:00 overlaps weekly.mon[1] (09:00-13:30)");
        let err = error_after(|v| v["weekly"]["tue"] = serde_json::json!([["9:00", "12:00"]]));
        assert_eq!(err, r#"weekly.tue[0][0]: invalid time "9:00", expected HH:MM from 00:00 to 24:00"#);
        let err = error_after(|v| v["weekly"]["tue"] = serde_json::json!([["24:00", "24:00"]]));
        assert_eq!(err, "weekly.tue[0][0]: 24:00 is only allowed as an end");
        for bad in ["24:01", "12:60", "25:00", "12-00", "1200", ""] {
            let err = error_after(|v| v["weekly"]["tue"] = serde_json::json!([["09:00", bad]]));
            assert!(err.starts_with("weekly.tue[0][1]: invalid time"), "{err}");
        }
        let err = error_after(|v| v["weekly"]["monday"] = serde_json::json!([]));
        assert!(err.starts_with("weekly.monday: unknown weekday"), "{err}");
        let err = error_after(|v| v["overrides"]["2026-12-27"] = serde_json::json!([["10:00", "09:00"]]));
        assert_eq!(err, "overrides.2026-12-27[0]: end 09:00 is not after start 10:00");
        for bad in ["2026-02-30", "2026-1-01", "20261201", "2026-12-01T00:00"] {
            let err = error_after(|v| v["overrides"][bad] = serde_json::json!([]));
            assert_eq!(err, format!("overrides.{bad}: invalid date, expected YYYY-MM-DD"));
        }
    }

    #[test]
    fn rejects_bad_scalars_with_their_path() {
        let cases: [(&str, serde_json::Value, &str); 14] = [
            ("id", "1anna".into(), "id: must start with a lowercase letter"),
            ("name", "".into(), "name: must be 1 to 200 characters and not blank"),
            ("name", "x".repeat(201).into(), "name: must be 1 to 200 characters and not blank"),
            ("timezone", "Europe/Berln".into(), r#"timezone: unknown IANA zone "Europe/Berln""#),
            ("currency", "euro".into(), r#"currency: invalid currency "euro": expected a 3-letter ISO 4217 code such as "eur""#),
            ("lessons", serde_json::json!([]), "lessons: at least one lesson is required"),
            ("lessons", serde_json::json!([{"duration_minutes": 4, "price": 1}]), "lessons[0].duration_minutes: must be between 5 and 480"),
            (
                "lessons",
                serde_json::json!([{"duration_minutes": 485, "price": 1}]),
                "lessons[0].duration_minutes: must be between 5 and 480",
            ),
            ("lessons", serde_json::json!([{"duration_minutes": 32, "price": 1}]), "lessons[0].duration_minutes: must be a multiple of 5"),
            (
                "trial",
                serde_json::json!({"duration_minutes": 30, "price": 10_000_000}),
                "trial.price: must be at most 9999999 (minor units), so a cart of 10 lessons stays within Stripe's maximum charge",
            ),
            ("buffer_minutes", 241.into(), "buffer_minutes: must be between 0 and 240"),
            ("min_notice_minutes", 43_201.into(), "min_notice_minutes: must be between 0 and 43200"),
            ("horizon_days", 0.into(), "horizon_days: must be between 1 and 365"),
            ("slot_step_minutes", 45.into(), "slot_step_minutes: must be one of 5, 10, 15, 20, 30, 60"),
        ];
        for (field, value, expected) in cases {
            assert_eq!(error_after(|v| v[field] = value), expected);
        }
        let dup = serde_json::json!([{"duration_minutes": 30, "price": 1000}, {"duration_minutes": 30, "price": 2000}]);
        assert_eq!(error_after(|v| v["lessons"] = dup), "lessons[1].duration_minutes: duplicates lessons[0]");
    }

    /// Validates `ANNA` after `edit`, which must still be valid.
    fn valid_after(edit: impl FnOnce(&mut serde_json::Value)) -> TeacherProfile {
        let mut value = anna_value();
        edit(&mut value);
        TeacherProfile::from_json_str(&value.to_string()).unwrap()
    }

    #[test]
    fn paid_prices_are_at_least_stripes_minimum_charge() {
        let err = error_after(|v| v["lessons"][0]["price"] = 49.into());
        assert_eq!(err, "lessons[0].price: must be 0 (free) or at least 50 (minor units), Stripe's minimum charge in eur");
        let err = error_after(|v| {
            v["currency"] = "huf".into();
            v["lessons"] = serde_json::json!([{"duration_minutes": 60, "price": 17_500}]);
            v["trial"]["price"] = 17_499.into();
        });
        assert_eq!(err, "trial.price: must be 0 (free) or at least 17500 (minor units), Stripe's minimum charge in huf");
        for (currency, minimum) in [("eur", 50), ("huf", 17_500), ("czk", 1_500)] {
            let p = valid_after(|v| {
                v["currency"] = currency.into();
                v["lessons"] = serde_json::json!([{"duration_minutes": 60, "price": minimum}]);
                v["trial"]["price"] = minimum.into();
            });
            assert_eq!((p.lessons()[0].price.amount, p.trial().unwrap().price.amount), (minimum, minimum), "{currency}");
        }
    }

    #[test]
    fn free_lessons_are_allowed() {
        let p = valid_after(|v| v["lessons"][1]["price"] = 0.into());
        assert_eq!(p.lessons()[1].price.amount, 0);
        assert_eq!(p.trial().unwrap().price.amount, 0);
    }

    #[test]
    fn a_full_cart_stays_within_stripes_maximum_charge() {
        // 10 lessons of 9 999 999 stay within Stripe's 99 999 999.
        assert_eq!(valid_after(|v| v["lessons"][0]["price"] = 9_999_999.into()).lessons()[0].price.amount, 9_999_999);
        let err = error_after(|v| v["lessons"][0]["price"] = 10_000_000.into());
        assert_eq!(err, "lessons[0].price: must be at most 9999999 (minor units), so a cart of 10 lessons stays within Stripe's maximum charge");
    }

    #[test]
    fn currencies_without_a_known_minimum_charge_are_not_supported() {
        let err = error_after(|v| v["currency"] = "xyz".into());
        assert_eq!(
            err,
            "currency: xyz is not supported; supported are usd, eur, gbp, aud, cad, chf, nzd, sgd, jpy, hkd, dkk, nok, sek, pln, czk, huf, mxn, brl, inr, ron, bgn, aed, thb, myr"
        );
    }

    #[test]
    fn rejects_unknown_fields() {
        let err = error_after(|v| v["timezon"] = "Europe/Berlin".into());
        assert!(err.starts_with("$: unknown field `timezon`"), "{err}");
        let err = error_after(|v| v["lessons"][0]["minutes"] = 30.into());
        assert!(err.starts_with("$: unknown field `minutes`"), "{err}");
    }

    #[test]
    fn accepts_minimal_profile_and_normalizes() {
        let json = r#"{"id": "t_x", "name": "X", "timezone": "utc", "currency": "USD",
            "lessons": [{"duration_minutes": 480, "price": 9999999}],
            "buffer_minutes": 0, "min_notice_minutes": 0, "horizon_days": 365, "slot_step_minutes": 5}"#;
        let p = TeacherProfile::from_json_str(json).unwrap();
        assert_eq!(p.time_zone_name(), "UTC");
        assert_eq!(p.currency().as_str(), "usd");
        assert!(p.trial().is_none() && p.offer(LessonChoice::Trial).is_none());
        let doc = p.to_doc();
        assert!(doc.weekly.is_empty() && doc.overrides.is_empty() && doc.trial.is_none());
        assert!(!serde_json::to_string(&doc).unwrap().contains("trial"));
    }

    #[test]
    fn lesson_choice_parses_query_values() {
        assert_eq!(LessonChoice::parse("trial").unwrap(), LessonChoice::Trial);
        assert_eq!(LessonChoice::parse("60").unwrap(), LessonChoice::Minutes(60));
        for bad in ["", "0", "-30", "+30", "30m", "Trial", "99999999999", " 30"] {
            assert!(LessonChoice::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(LessonChoice::Minutes(45).to_string(), "45");
        assert_eq!("trial".parse::<LessonChoice>().unwrap().to_string(), "trial");
    }
}
