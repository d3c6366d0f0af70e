//! get-slots as a use case: which lessons of one teacher can be booked in a
//! range of local dates.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::availability;
use crate::domain::{Interval, LessonChoice, Money, TeacherId};
use crate::error::ApiError;
use crate::store::Store;

/// The longest range one request may ask for, in days between `from` and `to`.
pub const MAX_RANGE_DAYS: i64 = 62;

#[derive(Debug, Clone)]
pub struct SlotsQuery {
    pub teacher_id: TeacherId,
    pub from: Date,
    pub to: Date,
    pub lesson: LessonChoice,
    /// The zone `from`/`to` are read in; the teacher's when absent.
    pub zone: Option<NamedZone>,
}

#[derive(Debug, Clone)]
pub struct NamedZone {
    pub name: String,
    pub zone: TimeZone,
}

impl NamedZone {
    pub fn parse(name: &str) -> Result<Self, String> {
        TimeZone::get(name).map(|zone| Self { name: name.to_owned(), zone }).map_err(|_| format!("unknown IANA time zone {name:?}"))
    }
}

#[derive(Debug, Serialize)]
pub struct SlotsPage {
    pub teacher_id: TeacherId,
    /// The zone the date range was read in.
    pub timezone: String,
    pub teacher_timezone: String,
    pub duration_minutes: u32,
    pub trial: bool,
    pub price: Money,
    pub slots: Vec<Interval>,
}

/// The instants covered by local dates `from..=to` in `zone`.
pub fn date_window(from: Date, to: Date, zone: &TimeZone) -> Result<Interval, ApiError> {
    if to < from {
        return Err(ApiError::invalid("to", "must not be before from"));
    }
    let days = from.until(to).map_err(|e| ApiError::invalid("to", e))?.get_days();
    if i64::from(days) > MAX_RANGE_DAYS {
        return Err(ApiError::invalid("to", format!("must be at most {MAX_RANGE_DAYS} days after from")));
    }
    let start = from.to_zoned_datetime(zone.clone()).map_err(|e| ApiError::invalid("from", e))?;
    let end = to.tomorrow().and_then(|d| d.to_zoned_datetime(zone.clone())).map_err(|e| ApiError::invalid("to", e))?;
    Interval::new(start.timestamp(), end.timestamp()).ok_or_else(|| ApiError::invalid("to", "is out of range"))
}

pub async fn open_slots(store: &Store, query: SlotsQuery, now: Timestamp) -> Result<SlotsPage, ApiError> {
    let profile = store.get_profile(&query.teacher_id).await?.ok_or_else(|| ApiError::TeacherNotFound(query.teacher_id.clone()))?;
    let offer = profile
        .offer(query.lesson)
        .ok_or_else(|| ApiError::DurationNotOffered(query.teacher_id.clone(), query.lesson))?;
    let zone = query.zone.unwrap_or_else(|| NamedZone { name: profile.time_zone_name().to_owned(), zone: profile.time_zone().clone() });
    let window = date_window(query.from, query.to, &zone.zone)?;
    let busy = store.busy_around(&query.teacher_id, window).await?;
    let slots = availability::slots(&profile, offer.duration_minutes, window, &busy, now);
    Ok(SlotsPage {
        teacher_id: query.teacher_id,
        timezone: zone.name,
        teacher_timezone: profile.time_zone_name().to_owned(),
        duration_minutes: offer.duration_minutes,
        trial: offer.trial,
        price: offer.price,
        slots,
    })
}
