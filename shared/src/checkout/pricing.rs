//! A cart priced from the teachers' profiles: the client never sends a
//! price, and every lesson is checked against the slot rules get-slots uses.

use std::collections::HashMap;

use jiff::Timestamp;

use super::cart::{CartRequest, PackageRequest};
use crate::cart::check::{Facts, Priced, Unavailable, check};
use crate::domain::{BookingId, CheckoutId, Currency, LessonPick, TeacherId, TeacherProfile};
use crate::error::ApiError;
use crate::store::{CheckoutLesson, PackageOrder, Store, StoredProfile};

pub struct PricedCart {
    pub lessons: Vec<CheckoutLesson>,
    pub profiles: HashMap<TeacherId, TeacherProfile>,
    pub currency: Currency,
}

impl PricedCart {
    pub fn amount_total(&self) -> u64 {
        self.lessons.iter().map(|l| l.amount).sum()
    }
}

pub async fn price(store: &Store, cart: &CartRequest, checkout_id: &CheckoutId, now: Timestamp) -> Result<PricedCart, ApiError> {
    let mut stored: HashMap<TeacherId, StoredProfile> = HashMap::new();
    for lesson in &cart.lessons {
        if !stored.contains_key(&lesson.teacher_id)
            && let Some(profile) = store.get_stored_profile(&lesson.teacher_id).await?
        {
            stored.insert(lesson.teacher_id.clone(), profile);
        }
    }
    // Without other people's bookings: a start that fails here was never an
    // open slot (400), not a taken one (409, decided when holding).
    let facts = Facts { profiles: stored.iter().map(|(id, p)| (id.clone(), p)).collect(), ..Facts::default() };
    let (verdicts, currency) = check(&cart.lessons, &facts, now);
    let mut lessons = Vec::with_capacity(verdicts.len());
    for (i, (wanted, verdict)) in cart.lessons.iter().zip(verdicts).enumerate() {
        match (verdict.unavailable, verdict.priced) {
            (Some(Unavailable::TeacherUnavailable(id)), _) => return Err(ApiError::TeacherUnavailable(id)),
            (Some(why), _) => return Err(ApiError::invalid(format!("lessons[{i}].{}", why.field()), why.message("lessons"))),
            (None, Some(priced)) => lessons.push(lesson(i, wanted, &priced, checkout_id)?),
            (None, None) => return Err(ApiError::Internal("a pick judged available without a price".into())),
        }
    }
    let profiles = stored.into_iter().map(|(id, s)| (id, s.profile)).collect();
    Ok(PricedCart { lessons, profiles, currency: currency.ok_or_else(|| ApiError::invalid("lessons", "is empty"))? })
}

fn lesson(i: usize, wanted: &LessonPick, priced: &Priced<'_>, checkout_id: &CheckoutId) -> Result<CheckoutLesson, ApiError> {
    let booking_id = BookingId::parse(&format!("bk_{}_{i}", checkout_id.as_str().trim_start_matches("co_"))).map_err(|e| ApiError::Internal(Box::new(e)))?;
    let profile = priced.profile;
    let mut lesson = CheckoutLesson {
        teacher_id: wanted.teacher_id.clone(),
        teacher_name: profile.name().to_owned(),
        start: wanted.start,
        end: priced.end,
        duration_minutes: priced.offer.duration_minutes,
        amount: priced.offer.price.amount,
        trial: priced.offer.trial,
        booking_id,
        title: String::new(),
        buffer_minutes: profile.buffer_minutes(),
        policy: Some(profile.cancellation()),
        credit: None,
    };
    lesson.title = line_item_name(&lesson, profile);
    Ok(lesson)
}

/// A package priced from the teacher's offer in force (the client sends
/// which package, never its price).
pub async fn price_package(store: &Store, wanted: &PackageRequest, now: Timestamp) -> Result<(PackageOrder, Currency), ApiError> {
    let stored = store.get_stored_profile(&wanted.teacher_id).await?.ok_or_else(|| ApiError::TeacherNotFound(wanted.teacher_id.clone()))?;
    // As for lessons: a stored profile a stricter rule now refuses is never charged.
    if stored.problem.as_ref().is_some_and(|p| ["lessons", "currency", "packages"].iter().any(|f| p.field().starts_with(f))) {
        return Err(ApiError::TeacherUnavailable(wanted.teacher_id.clone()));
    }
    let profile = &stored.profile;
    let offer = profile
        .package(wanted.lessons, wanted.duration_minutes)
        .ok_or_else(|| ApiError::invalid("package", format!("{} offers no package of {} lessons of {} minutes", profile.name(), wanted.lessons, wanted.duration_minutes)))?;
    let price = offer.price();
    if price.amount == 0 {
        return Err(ApiError::TeacherUnavailable(wanted.teacher_id.clone()));
    }
    let valid_days = profile.package_valid_days();
    let until = (now + jiff::SignedDuration::from_hours(i64::from(valid_days) * 24)).to_zoned_datetime(profile.time_zone().clone());
    let title = format!(
        "{} × {}-min lessons with {} ({} % off) — valid {} days from payment (until about {})",
        offer.lessons,
        offer.duration_minutes,
        profile.name(),
        offer.discount_percent,
        valid_days,
        until.strftime("%-d %b %Y")
    );
    let order = PackageOrder {
        teacher_id: profile.id().clone(),
        teacher_name: profile.name().to_owned(),
        lessons: offer.lessons,
        duration_minutes: offer.duration_minutes,
        discount_percent: offer.discount_percent,
        price: price.amount,
        unit_values: offer.unit_values(),
        valid_days,
        policy: profile.cancellation(),
        title,
    };
    Ok((order, price.currency))
}

/// "60-min lesson with Anna Schmidt — Tue 1 Dec 09:00 Europe/Berlin", in the teacher's zone.
fn line_item_name(lesson: &CheckoutLesson, profile: &TeacherProfile) -> String {
    let local = lesson.start.to_zoned_datetime(profile.time_zone().clone());
    let kind = if lesson.trial { "trial lesson" } else { "lesson" };
    format!("{}-min {kind} with {} — {} {}", lesson.duration_minutes, lesson.teacher_name, local.strftime("%a %-d %b %H:%M"), profile.time_zone_name())
}
