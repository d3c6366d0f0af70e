//! Whether each picked lesson can be bought now, and at what price: the
//! slot rules get-slots uses, the teachers' offers and one currency per
//! cart. Pure, so a checkout (which must refuse) and the saved cart (which
//! flags) decide with the same code.

use std::collections::{HashMap, HashSet};

use jiff::{SignedDuration, Timestamp};

use crate::availability::{self, Busy};
use crate::domain::{Currency, LessonChoice, LessonOffer, LessonPick, TeacherId, TeacherProfile};
use crate::store::StoredProfile;

/// What is known about the teachers of a list of picks.
#[derive(Default)]
pub struct Facts<'a> {
    pub profiles: HashMap<TeacherId, &'a StoredProfile>,
    /// Other people's holds and bookings (none: check the rules alone).
    pub busy: HashMap<TeacherId, Vec<Busy>>,
    /// The student's own booked lessons: a pick one of them blocks is theirs
    /// already, not taken by someone else.
    pub own_lessons: HashMap<TeacherId, Vec<Busy>>,
    /// Teachers whose one trial this student has used or holds elsewhere.
    pub trials_used: HashSet<TeacherId>,
}

/// A pick whose teacher offers it, priced from the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced<'a> {
    pub profile: &'a TeacherProfile,
    pub offer: LessonOffer,
    pub end: Timestamp,
}

/// Why a pick cannot be bought now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    TeacherNotFound(TeacherId),
    /// The stored profile breaks a pricing rule until an operator fixes it.
    TeacherUnavailable(TeacherId),
    NoTrial(TeacherId),
    TrialLasts(TeacherId, u32),
    DurationNotOffered(TeacherId, u32),
    OtherCurrency { teacher: Currency, cart: Currency },
    /// Not a start get-slots offers, whoever else books: outside the
    /// teacher's hours, a day off, too soon, too far ahead or past.
    SlotNotOpen,
    /// Someone else holds or booked it (or its buffer).
    SlotTaken,
    /// The student has booked a lesson with this teacher at this time (or
    /// within its buffer).
    BookedByYou,
    TrialUsed(TeacherId),
    /// Overlaps the earlier pick at this index with the same teacher.
    Overlaps { earlier: usize, buffer_minutes: u32 },
    SecondTrial { earlier: usize },
}

impl Unavailable {
    /// The reason's code, as the cart flags it and a 422 names it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TeacherNotFound(_) => "teacher_not_found",
            Self::TeacherUnavailable(_) => "teacher_unavailable",
            Self::NoTrial(_) | Self::TrialLasts(..) | Self::DurationNotOffered(..) => "lesson_not_offered",
            Self::OtherCurrency { .. } => "currency_mismatch",
            Self::SlotNotOpen => "slot_not_open",
            Self::SlotTaken => "slot_taken",
            Self::BookedByYou => "booked_by_you",
            Self::TrialUsed(_) => "trial_used",
            Self::Overlaps { .. } => "overlaps_another_item",
            Self::SecondTrial { .. } => "second_trial",
        }
    }

    /// The field of the pick that is wrong.
    pub fn field(&self) -> &'static str {
        match self {
            Self::TeacherNotFound(_) | Self::TeacherUnavailable(_) | Self::OtherCurrency { .. } => "teacher_id",
            Self::TrialLasts(..) | Self::DurationNotOffered(..) => "duration_minutes",
            Self::NoTrial(_) | Self::TrialUsed(_) | Self::SecondTrial { .. } => "trial",
            Self::SlotNotOpen | Self::SlotTaken | Self::BookedByYou | Self::Overlaps { .. } => "start",
        }
    }

    /// A sentence for the student; `list` names the array (`lessons`, `items`).
    pub fn message(&self, list: &str) -> String {
        match self {
            Self::TeacherNotFound(id) => format!("no teacher with id {id}"),
            Self::TeacherUnavailable(id) => format!("teacher {id} cannot be booked until an operator corrects their prices"),
            Self::NoTrial(id) => format!("teacher {id} offers no trial lesson"),
            Self::TrialLasts(id, minutes) => format!("a trial lesson with {id} lasts {minutes} minutes"),
            Self::DurationNotOffered(id, minutes) => format!("teacher {id} does not offer {minutes}-minute lessons"),
            Self::OtherCurrency { teacher, cart } => format!("charges in {teacher}, but this cart is in {cart}; one currency per cart"),
            Self::SlotNotOpen => "is not an open slot of this teacher (see get-slots)".to_owned(),
            Self::SlotTaken => "is no longer free: someone else holds or booked it".to_owned(),
            Self::BookedByYou => "you have already booked a lesson with this teacher at this time".to_owned(),
            Self::TrialUsed(id) => format!("the trial lesson with teacher {id} has already been used"),
            Self::Overlaps { earlier, buffer_minutes } => format!("overlaps {list}[{earlier}] with the same teacher (including the {buffer_minutes}-minute buffer)"),
            Self::SecondTrial { earlier } => format!("only one trial lesson per teacher ({list}[{earlier}] is one)"),
        }
    }
}

/// One pick's verdict: its price when the teacher offers it, and why it
/// cannot be bought (if it cannot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict<'a> {
    pub priced: Option<Priced<'a>>,
    pub unavailable: Option<Unavailable>,
}

/// Checks every pick in order. The cart's currency is the first offered
/// pick's; later picks must overlap no earlier available pick of the same
/// teacher and use that teacher's trial at most once.
pub fn check<'a>(picks: &[LessonPick], facts: &Facts<'a>, now: Timestamp) -> (Vec<Verdict<'a>>, Option<Currency>) {
    let mut currency = None;
    let mut verdicts: Vec<Verdict<'a>> = Vec::with_capacity(picks.len());
    for pick in picks {
        let verdict = match priced(pick, facts) {
            Err(why) => Verdict { priced: None, unavailable: Some(why) },
            Ok(priced) => {
                let unavailable = judge(pick, &priced, facts, *currency.get_or_insert(priced.offer.price.currency), picks, &verdicts, now);
                Verdict { priced: Some(priced), unavailable }
            }
        };
        verdicts.push(verdict);
    }
    (verdicts, currency)
}

fn priced<'a>(pick: &LessonPick, facts: &Facts<'a>) -> Result<Priced<'a>, Unavailable> {
    let id = &pick.teacher_id;
    let stored = facts.profiles.get(id).ok_or_else(|| Unavailable::TeacherNotFound(id.clone()))?;
    // Slots are served from a profile a stricter rule refuses, but no price
    // that breaks one is ever charged.
    if stored.problem.as_ref().is_some_and(|p| ["lessons", "trial", "currency"].iter().any(|f| p.field().starts_with(f))) {
        return Err(Unavailable::TeacherUnavailable(id.clone()));
    }
    let profile = &stored.profile;
    let choice = if pick.trial { LessonChoice::Trial } else { LessonChoice::Minutes(pick.duration_minutes) };
    let offer = profile.offer(choice).filter(|o| o.duration_minutes == pick.duration_minutes).ok_or_else(|| match (pick.trial, profile.trial()) {
        (true, Some(trial)) => Unavailable::TrialLasts(id.clone(), trial.duration_minutes),
        (true, None) => Unavailable::NoTrial(id.clone()),
        (false, _) => Unavailable::DurationNotOffered(id.clone(), pick.duration_minutes),
    })?;
    let end = pick.start + SignedDuration::from_mins(i64::from(offer.duration_minutes));
    Ok(Priced { profile, offer, end })
}

fn judge(pick: &LessonPick, priced: &Priced<'_>, facts: &Facts<'_>, cart: Currency, picks: &[LessonPick], earlier: &[Verdict<'_>], now: Timestamp) -> Option<Unavailable> {
    let (profile, minutes) = (priced.profile, priced.offer.duration_minutes);
    if priced.offer.price.currency != cart {
        return Some(Unavailable::OtherCurrency { teacher: priced.offer.price.currency, cart });
    }
    if !availability::is_offered(profile, minutes, pick.start, &[], now) {
        return Some(Unavailable::SlotNotOpen);
    }
    let blocked = |busy: Option<&Vec<Busy>>| busy.is_some_and(|b| !b.is_empty() && !availability::is_offered(profile, minutes, pick.start, b, now));
    if blocked(facts.own_lessons.get(&pick.teacher_id)) {
        return Some(Unavailable::BookedByYou);
    }
    if blocked(facts.busy.get(&pick.teacher_id)) {
        return Some(Unavailable::SlotTaken);
    }
    if pick.trial && facts.trials_used.contains(&pick.teacher_id) {
        return Some(Unavailable::TrialUsed(pick.teacher_id.clone()));
    }
    let pad = SignedDuration::from_mins(i64::from(profile.buffer_minutes()));
    for (j, before) in earlier.iter().enumerate().filter(|(j, v)| v.unavailable.is_none() && picks[*j].teacher_id == pick.teacher_id) {
        let Some(other) = &before.priced else { continue };
        if picks[j].start < priced.end + pad && pick.start < other.end + pad {
            return Some(Unavailable::Overlaps { earlier: j, buffer_minutes: profile.buffer_minutes() });
        }
        if picks[j].trial && pick.trial {
            return Some(Unavailable::SecondTrial { earlier: j });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-11-30T10:00:00Z";

    fn stored(id: &str, currency: &str) -> StoredProfile {
        let doc = serde_json::json!({
            "id": id, "name": "Anna", "timezone": "UTC", "currency": currency,
            "lessons": [{"duration_minutes": 60, "price": 3000}],
            "trial": {"duration_minutes": 30, "price": 0},
            "weekly": {"mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]], "wed": [["09:00", "17:00"]], "thu": [["09:00", "17:00"]], "fri": [["09:00", "17:00"]]},
            "buffer_minutes": 15, "min_notice_minutes": 0, "horizon_days": 60, "slot_step_minutes": 15
        });
        StoredProfile { profile: TeacherProfile::from_json_str(&doc.to_string()).unwrap(), version: 1, problem: None }
    }

    fn pick(teacher: &str, start: &str, minutes: u32, trial: bool) -> LessonPick {
        LessonPick { teacher_id: TeacherId::parse(teacher).unwrap(), start: start.parse().unwrap(), duration_minutes: minutes, trial }
    }

    fn codes(picks: &[LessonPick], facts: &Facts<'_>) -> Vec<&'static str> {
        check(picks, facts, NOW.parse().unwrap()).0.iter().map(|v| v.unavailable.as_ref().map_or("ok", Unavailable::code)).collect()
    }

    #[test]
    fn flags_each_reason() {
        let (anna, bob) = (stored("t_anna", "eur"), stored("t_bob", "usd"));
        let mut facts = Facts::default();
        facts.profiles.insert(anna.profile.id().clone(), &anna);
        facts.profiles.insert(bob.profile.id().clone(), &bob);
        let picks = [
            pick("t_anna", "2026-12-01T09:00:00Z", 60, false),
            pick("t_bob", "2026-12-01T09:00:00Z", 60, false),
            pick("t_anna", "2026-12-01T09:30:00Z", 60, false),
            pick("t_anna", "2026-12-01T10:15:00Z", 60, false),
            pick("t_anna", "2026-12-01T20:00:00Z", 60, false),
            pick("t_anna", "2026-12-01T12:00:00Z", 45, false),
            pick("t_anna", "2026-12-02T09:00:00Z", 30, true),
            pick("t_anna", "2026-12-03T09:00:00Z", 30, true),
            pick("t_nobody", "2026-12-01T09:00:00Z", 60, false),
            pick("t_anna", "2026-12-02T13:00:00Z", 30, false),
        ];
        assert_eq!(codes(&picks, &facts), [
            "ok",
            "currency_mismatch",
            "overlaps_another_item",
            "ok",
            "slot_not_open",
            "lesson_not_offered",
            "ok",
            "second_trial",
            "teacher_not_found",
            "lesson_not_offered",
        ]);
        let (verdicts, currency) = check(&picks, &facts, NOW.parse().unwrap());
        let fields: Vec<&str> = verdicts.iter().map(|v| v.unavailable.as_ref().map_or("", Unavailable::field)).collect();
        assert_eq!(fields, ["", "teacher_id", "start", "", "start", "duration_minutes", "", "trial", "teacher_id", "duration_minutes"]);
        let words: Vec<String> = verdicts.iter().filter_map(|v| v.unavailable.as_ref()).map(|u| u.message("items")).collect();
        assert_eq!(words, [
            "charges in usd, but this cart is in eur; one currency per cart",
            "overlaps items[0] with the same teacher (including the 15-minute buffer)",
            "is not an open slot of this teacher (see get-slots)",
            "teacher t_anna does not offer 45-minute lessons",
            "only one trial lesson per teacher (items[6] is one)",
            "no teacher with id t_nobody",
            "teacher t_anna does not offer 30-minute lessons",
        ]);
        assert_eq!(currency, Some(Currency::parse("eur").unwrap()));
        assert_eq!(verdicts[0].priced.as_ref().map(|p| p.offer.price.amount), Some(3000));
        assert_eq!(verdicts[1].priced.as_ref().map(|p| p.offer.price.amount), Some(3000), "a flagged pick still shows its price");
        assert_eq!(verdicts[2].unavailable.as_ref().map(|u| u.message("items")).as_deref(), Some("overlaps items[0] with the same teacher (including the 15-minute buffer)"));
    }

    /// The buffer separates two picks of one teacher, whichever is listed first, to the minute.
    #[test]
    fn picks_of_one_teacher_keep_the_buffer_between_them_either_way_round() {
        let anna = stored("t_anna", "eur");
        let mut facts = Facts::default();
        facts.profiles.insert(anna.profile.id().clone(), &anna);
        let picks = [
            pick("t_anna", "2026-12-03T12:15:00Z", 60, false),
            pick("t_anna", "2026-12-03T11:00:00Z", 60, false),
            pick("t_anna", "2026-12-04T12:00:00Z", 60, false),
            pick("t_anna", "2026-12-04T11:00:00Z", 60, false),
            pick("t_anna", "2026-12-07T09:00:00Z", 60, false),
            pick("t_anna", "2026-12-07T10:00:00Z", 60, false),
            pick("t_anna", "2026-12-07T11:15:00Z", 60, false),
        ];
        assert_eq!(codes(&picks, &facts), ["ok", "ok", "ok", "overlaps_another_item", "ok", "overlaps_another_item", "ok"]);
    }

    #[test]
    fn other_peoples_busy_time_and_used_trials_flag_a_pick() {
        let anna = stored("t_anna", "eur");
        let mut facts = Facts::default();
        let id = anna.profile.id().clone();
        facts.profiles.insert(id.clone(), &anna);
        let picks = [pick("t_anna", "2026-12-01T09:00:00Z", 60, false), pick("t_anna", "2026-12-02T09:00:00Z", 30, true)];
        assert_eq!(codes(&picks, &facts), ["ok", "ok"]);
        let start = "2026-12-01T10:00:00Z".parse().unwrap();
        facts.busy.insert(id.clone(), vec![Busy { start, end: start + SignedDuration::from_mins(60), expires_at: None }]);
        facts.trials_used.insert(id);
        assert_eq!(codes(&picks, &facts), ["slot_taken", "trial_used"], "the buffer after 10:00 reaches back into 09:00-10:00");
        // A hold that lapsed blocks nothing.
        facts.busy.values_mut().for_each(|b| b[0].expires_at = Some(NOW.parse().unwrap()));
        assert_eq!(codes(&picks, &facts)[0], "ok");
    }

    #[test]
    fn a_pick_the_students_own_lesson_blocks_is_theirs_not_taken() {
        let anna = stored("t_anna", "eur");
        let mut facts = Facts::default();
        let id = anna.profile.id().clone();
        facts.profiles.insert(id.clone(), &anna);
        let lesson = |at: &str| {
            let start: Timestamp = at.parse().unwrap();
            vec![Busy { start, end: start + SignedDuration::from_mins(60), expires_at: None }]
        };
        let picks = [pick("t_anna", "2026-12-01T09:00:00Z", 60, false), pick("t_anna", "2026-12-01T10:15:00Z", 60, false), pick("t_anna", "2026-12-01T13:00:00Z", 60, false)];
        facts.own_lessons.insert(id.clone(), lesson("2026-12-01T09:00:00Z"));
        assert_eq!(codes(&picks, &facts), ["booked_by_you", "ok", "ok"], "10:15 keeps the 15-minute buffer after the student's 09:00-10:00");
        facts.own_lessons.insert(id.clone(), lesson("2026-12-01T10:00:00Z"));
        facts.busy.insert(id.clone(), lesson("2026-12-01T13:00:00Z"));
        assert_eq!(codes(&picks, &facts), ["booked_by_you", "booked_by_you", "slot_taken"], "the buffer before their 10:00 reaches 09:00-10:00");
        let verdicts = check(&picks, &facts, NOW.parse().unwrap()).0;
        let why = verdicts[0].unavailable.as_ref().unwrap();
        assert_eq!((why.field(), why.message("items").as_str()), ("start", "you have already booked a lesson with this teacher at this time"));
        // Another teacher's calendar is not the student's lesson with this one.
        facts.own_lessons = HashMap::from([(TeacherId::parse("t_bob").unwrap(), lesson("2026-12-01T09:00:00Z"))]);
        assert_eq!(codes(&picks, &facts)[0], "ok");
    }
}
