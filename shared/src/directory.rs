//! get-teachers as a use case: the public directory of teachers, a page at
//! a time in a stable order (by teacher id), each with what a student needs
//! to choose: lessons and prices, the cancellation policy in force, how
//! often the teacher cancelled, and the first start get-slots would offer.
//! Nothing private: no login, no bookings, no holds.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::availability;
use crate::domain::{CancellationPolicy, Currency, Interval, LessonDoc, LessonOffer, PackageOffer, TeacherId, TeacherProfile};
use crate::error::ApiError;
use crate::store::{Store, StoreError, StoredProfile, TeacherStats};

/// How far ahead `next_open_start` looks.
pub const NEXT_OPEN_WINDOW: SignedDuration = SignedDuration::from_hours(14 * 24);
pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeacherCard {
    pub teacher_id: TeacherId,
    pub name: String,
    pub timezone: String,
    pub currency: Currency,
    /// Prices in minor units of `currency`.
    pub lessons: Vec<LessonDoc>,
    pub trial: Option<LessonDoc>,
    pub cancellation: CancellationPolicy,
    /// Lesson packages on offer, each priced (minor units of `currency`).
    pub packages: Vec<PackageCard>,
    /// How long a package's credits last from its payment.
    pub package_valid_days: u32,
    pub teacher_cancellations: u64,
    /// The first start get-slots would offer for the shortest lesson (not
    /// the trial) from now until [`NEXT_OPEN_WINDOW`] ahead.
    pub next_open_start: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageCard {
    pub lessons: u32,
    pub duration_minutes: u32,
    pub discount_percent: u32,
    pub price: u64,
}

impl From<&PackageOffer> for PackageCard {
    fn from(p: &PackageOffer) -> Self {
        Self { lessons: p.lessons, duration_minutes: p.duration_minutes, discount_percent: p.discount_percent, price: p.price().amount }
    }
}

#[derive(Debug, Serialize)]
pub struct TeachersPage {
    pub teachers: Vec<TeacherCard>,
    /// Pass as `cursor` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// One page: one query of the directory index, one statistics batch, and
/// one calendar query per teacher, all teachers at once.
pub async fn page(store: &Store, cursor: Option<&str>, limit: usize, now: Timestamp) -> Result<TeachersPage, ApiError> {
    let after = cursor.map(|c| TeacherId::parse(c).map_err(|_| ApiError::invalid("cursor", "is not a cursor this endpoint gave out"))).transpose()?;
    let page = store.profile_page(after.as_ref().map(TeacherId::as_str), limit).await?;
    let profiles = page.profiles;
    let ids: Vec<TeacherId> = profiles.iter().map(|p| p.profile.id().clone()).collect();
    let (stats, opens) = futures::future::try_join(store.teachers_stats(&ids), futures::future::try_join_all(profiles.iter().map(|p| next_open_start(store, &p.profile, now)))).await?;
    let teachers = profiles.iter().zip(opens).map(|(p, open)| card(p, stats.get(p.profile.id()).copied().unwrap_or_default(), open)).collect();
    Ok(TeachersPage { teachers, next_cursor: page.next })
}

/// One teacher's card.
pub async fn one(store: &Store, id: &TeacherId, now: Timestamp) -> Result<TeacherCard, ApiError> {
    let stored = store.get_stored_profile(id).await?.ok_or_else(|| ApiError::TeacherNotFound(id.clone()))?;
    let (stats, open) = futures::future::try_join(store.teachers_stats(std::slice::from_ref(id)), next_open_start(store, &stored.profile, now)).await?;
    Ok(card(&stored, stats.get(id).copied().unwrap_or_default(), open))
}

/// The first start get-slots offers for the teacher's shortest lesson in
/// the next [`NEXT_OPEN_WINDOW`]: the same slot rules on the same calendar.
pub async fn next_open_start(store: &Store, profile: &TeacherProfile, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
    let Some(shortest) = profile.lessons().iter().map(|l| l.duration_minutes).min() else { return Ok(None) };
    // Slots are whole seconds; so is the window they are looked for in.
    let now = Timestamp::from_second(now.as_second()).unwrap_or(now);
    let Some(window) = now.checked_add(NEXT_OPEN_WINDOW).ok().and_then(|end| Interval::new(now, end)) else { return Ok(None) };
    let busy = store.busy_around(profile.id(), window).await?;
    Ok(availability::slots(profile, shortest, window, &busy, now).first().map(Interval::start))
}

fn card(stored: &StoredProfile, stats: TeacherStats, next_open_start: Option<Timestamp>) -> TeacherCard {
    let p = &stored.profile;
    let lesson = |l: &LessonOffer| LessonDoc { duration_minutes: l.duration_minutes, price: l.price.amount };
    TeacherCard {
        teacher_id: p.id().clone(),
        name: p.name().to_owned(),
        timezone: p.time_zone_name().to_owned(),
        currency: p.currency(),
        lessons: p.lessons().iter().map(lesson).collect(),
        trial: p.trial().map(lesson),
        cancellation: p.cancellation(),
        packages: p.packages().iter().map(PackageCard::from).collect(),
        package_valid_days: p.package_valid_days(),
        teacher_cancellations: stats.teacher_cancellations,
        next_open_start,
    }
}
