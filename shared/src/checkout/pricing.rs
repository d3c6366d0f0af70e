//! A cart priced from the teachers' profiles: the client never sends a
//! price, and every lesson is checked against the slot rules get-slots uses.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};

use super::cart::{CartLesson, CartRequest};
use crate::availability;
use crate::domain::{BookingId, CheckoutId, Currency, LessonChoice, TeacherId, TeacherProfile};
use crate::error::ApiError;
use crate::store::{CheckoutLesson, Store};

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
    let mut profiles: HashMap<TeacherId, TeacherProfile> = HashMap::new();
    for (i, lesson) in cart.lessons.iter().enumerate() {
        if !profiles.contains_key(&lesson.teacher_id) {
            let stored = store.get_stored_profile(&lesson.teacher_id).await?.ok_or_else(|| ApiError::invalid(format!("lessons[{i}].teacher_id"), format!("no teacher with id {}", lesson.teacher_id)))?;
            // Slots are served from a profile a stricter rule refuses, but
            // no price that breaks one is ever charged.
            if stored.problem.as_ref().is_some_and(|p| ["lessons", "trial", "currency"].iter().any(|f| p.field().starts_with(f))) {
                return Err(ApiError::TeacherUnavailable(lesson.teacher_id.clone()));
            }
            profiles.insert(lesson.teacher_id.clone(), stored.profile);
        }
    }
    let mut lessons: Vec<CheckoutLesson> = Vec::with_capacity(cart.lessons.len());
    let mut currency = None;
    for (i, wanted) in cart.lessons.iter().enumerate() {
        let profile = &profiles[&wanted.teacher_id];
        let lesson = price_lesson(i, wanted, profile, checkout_id, now)?;
        let cur = *currency.get_or_insert(profile.currency());
        if profile.currency() != cur {
            return Err(ApiError::invalid(format!("lessons[{i}].teacher_id"), format!("charges in {}, but this cart is in {cur}; one currency per cart", profile.currency())));
        }
        let pad = SignedDuration::from_mins(i64::from(profile.buffer_minutes()));
        for (j, earlier) in lessons.iter().enumerate().filter(|(_, l)| l.teacher_id == wanted.teacher_id) {
            if earlier.start < lesson.end + pad && lesson.start < earlier.end + pad {
                return Err(ApiError::invalid(format!("lessons[{i}].start"), format!("overlaps lessons[{j}] with the same teacher (including the {}-minute buffer)", profile.buffer_minutes())));
            }
            if earlier.trial && lesson.trial {
                return Err(ApiError::invalid(format!("lessons[{i}].trial"), format!("only one trial lesson per teacher (lessons[{j}] is one)")));
            }
        }
        lessons.push(lesson);
    }
    Ok(PricedCart { lessons, profiles, currency: currency.ok_or_else(|| ApiError::invalid("lessons", "is empty"))? })
}

fn price_lesson(i: usize, wanted: &CartLesson, profile: &TeacherProfile, checkout_id: &CheckoutId, now: Timestamp) -> Result<CheckoutLesson, ApiError> {
    let field = |name: &str| format!("lessons[{i}].{name}");
    let choice = if wanted.trial { LessonChoice::Trial } else { LessonChoice::Minutes(wanted.duration_minutes) };
    let offer = profile.offer(choice).filter(|o| o.duration_minutes == wanted.duration_minutes).ok_or_else(|| match (wanted.trial, profile.trial()) {
        (true, Some(trial)) => ApiError::invalid(field("duration_minutes"), format!("a trial lesson with {} lasts {} minutes", profile.id(), trial.duration_minutes)),
        (true, None) => ApiError::invalid(field("trial"), format!("teacher {} offers no trial lesson", profile.id())),
        (false, _) => ApiError::invalid(field("duration_minutes"), format!("teacher {} does not offer {}-minute lessons", profile.id(), wanted.duration_minutes)),
    })?;
    // The same rule get-slots applies, without other people's bookings: a
    // start that fails here was never an open slot (400), not a taken one (409).
    if !availability::is_offered(profile, offer.duration_minutes, wanted.start, &[], now) {
        return Err(ApiError::invalid(field("start"), "is not an open slot of this teacher (see get-slots)"));
    }
    let booking_id = BookingId::parse(&format!("bk_{}_{i}", checkout_id.as_str().trim_start_matches("co_"))).map_err(|e| ApiError::Internal(Box::new(e)))?;
    let mut lesson = CheckoutLesson {
        teacher_id: wanted.teacher_id.clone(),
        teacher_name: profile.name().to_owned(),
        start: wanted.start,
        end: wanted.start + SignedDuration::from_mins(i64::from(offer.duration_minutes)),
        duration_minutes: offer.duration_minutes,
        amount: offer.price.amount,
        trial: offer.trial,
        booking_id,
        title: String::new(),
        buffer_minutes: profile.buffer_minutes(),
    };
    lesson.title = line_item_name(&lesson, profile);
    Ok(lesson)
}

/// "60-min lesson with Anna Schmidt — Tue 1 Dec 09:00 Europe/Berlin", in the teacher's zone.
fn line_item_name(lesson: &CheckoutLesson, profile: &TeacherProfile) -> String {
    let local = lesson.start.to_zoned_datetime(profile.time_zone().clone());
    let kind = if lesson.trial { "trial lesson" } else { "lesson" };
    format!("{}-min {kind} with {} — {} {}", lesson.duration_minutes, lesson.teacher_name, local.strftime("%a %-d %b %H:%M"), profile.time_zone_name())
}
