//! Property tests of the slot rules against an independent, slow oracle that
//! resolves every candidate through jiff, on random profiles in zones with
//! unusual DST (Lord Howe shifts by 30 minutes, Kolkata has none) and
//! windows around the 2026 transitions.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use shared::availability::{Busy, is_offered, slots};
use shared::domain::{Interval, LessonDoc, ProfileDoc, TeacherProfile};

const ZONES: [&str; 5] = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"];
const STEPS: [u32; 6] = [5, 10, 15, 20, 30, 60];
/// For zones without transitions: days of other zones' 2026 transitions.
const ANCHORS: [&str; 6] = ["2026-03-08", "2026-03-29", "2026-04-05", "2026-10-04", "2026-10-25", "2026-11-01"];
const WEEK: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

#[derive(Debug, Clone)]
struct Case {
    profile: TeacherProfile,
    duration: u32,
    window: Interval,
    busy: Vec<Busy>,
    now: Timestamp,
}

fn ts(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap()
}

fn plus_minutes(t: Timestamp, minutes: i64) -> Timestamp {
    t.checked_add(SignedDuration::from_mins(minutes)).unwrap()
}

fn add_days(date: Date, days: i64) -> Date {
    let step = |d: Date| if days < 0 { d.yesterday().unwrap() } else { d.tomorrow().unwrap() };
    (0..days.abs()).fold(date, |d, _| step(d))
}

fn clock(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// Bounds cluster in the small hours, where the transitions are.
fn cut_point() -> impl Strategy<Value = u16> {
    prop_oneof![0u16..=1440, 0u16..=300, (0u16..=288).prop_map(|x| x * 5)]
}

/// Up to three sorted, disjoint ranges of one day.
fn day() -> impl Strategy<Value = Vec<[String; 2]>> {
    prop::collection::btree_set(cut_point(), 0..=6).prop_map(|cuts| {
        let cuts: Vec<u16> = cuts.into_iter().collect();
        cuts.chunks_exact(2).map(|pair| [clock(pair[0]), clock(pair[1])]).collect()
    })
}

prop_compose! {
    fn case()(
        zone in prop::sample::select(&ZONES[..]),
        step in prop::sample::select(&STEPS[..]),
        duration in (1u32..=36).prop_map(|x| x * 5),
        buffer in prop_oneof![Just(0u32), 0u32..=60, 0u32..=240],
        min_notice in prop_oneof![Just(0u32), 0u32..=3000],
        horizon_days in prop_oneof![1u32..=10, Just(365u32)],
        week in prop::collection::vec(prop::option::weighted(0.8, day()), 7),
        overrides in prop::collection::vec((0i64..8, day()), 0..=3),
        transition in 0usize..2,
        anchor in prop::sample::select(&ANCHORS[..]),
        before in 0i64..=(3 * 86_400),
        length in 3_600i64..=(6 * 86_400),
        now_offset in -(5 * 86_400i64)..=86_400,
        now_nanos in prop_oneof![Just(0i32), 0i32..1_000_000_000],
        busy in prop::collection::vec((0i64..=(9 * 1440), 1i64..=300, prop::option::of(-3_600i64..=3_600)), 0..=12),
    ) -> Case {
        let tz = TimeZone::get(zone).unwrap();
        let anchor: Date = anchor.parse().unwrap();
        let anchor = anchor.to_zoned_datetime(TimeZone::UTC).unwrap().timestamp();
        // One of the zone's two 2026 transitions, or a fixed date where it has none.
        let target = tz.following("2026-01-01T00:00:00Z".parse().unwrap()).nth(transition).map_or(anchor, |t| t.timestamp()).as_second();
        // Whole minutes mostly, odd seconds sometimes, so the window edges need not be on the grid.
        let before = if before % 7 == 0 { before } else { before - before % 60 };
        let window_start = target - before;
        let window = Interval::new(ts(window_start), ts(window_start + length)).unwrap();
        let window_date = tz.to_datetime(window.start()).date();
        let now = Timestamp::new(window_start + now_offset, now_nanos).unwrap();
        let weekly = WEEK
            .iter()
            .zip(week)
            .filter_map(|(key, ranges)| ranges.map(|r| (key.to_string(), r)))
            .collect();
        let overrides: BTreeMap<String, Vec<[String; 2]>> = overrides
            .into_iter()
            .map(|(offset, ranges)| (add_days(window_date, offset - 1).to_string(), ranges))
            .collect();
        let doc = ProfileDoc {
            id: "t_prop".into(),
            user_id: None,
            name: "Prop".into(),
            email: None,
            timezone: zone.into(),
            weekly,
            overrides,
            currency: "eur".into(),
            lessons: vec![LessonDoc { duration_minutes: duration, price: 1000 }],
            trial: None,
            buffer_minutes: buffer,
            min_notice_minutes: min_notice,
            horizon_days,
            slot_step_minutes: step,
            cancellation: None,
            packages: Vec::new(),
            package_valid_days: None,
        };
        let busy = busy
            .into_iter()
            .map(|(start, len, expires)| {
                let start = plus_minutes(ts(window_start - 86_400), start);
                Busy { start, end: plus_minutes(start, len), expires_at: expires.map(|e| now.checked_add(SignedDuration::from_secs(e)).unwrap()) }
            })
            .collect();
        Case { profile: TeacherProfile::try_from(doc).unwrap(), duration, window, busy, now }
    }
}

/// The rules, restated directly on jiff values, for a given candidate.
struct Oracle<'a> {
    case: &'a Case,
    tz: &'a TimeZone,
    /// Working ranges as instants, over every local date near the window.
    ranges: Vec<(Timestamp, Timestamp)>,
}

impl<'a> Oracle<'a> {
    fn new(case: &'a Case) -> Self {
        let tz = case.profile.time_zone();
        let mut ranges = Vec::new();
        for date in Self::dates(case) {
            for r in case.profile.ranges_on(date) {
                let at = |minute: u16| {
                    let (day, minute) = if minute == 1440 { (date.tomorrow().unwrap(), 0) } else { (date, minute) };
                    let dt = day.at((minute / 60) as i8, (minute % 60) as i8, 0, 0);
                    tz.to_ambiguous_timestamp(dt).compatible().unwrap()
                };
                ranges.push((at(r.start_minute()), at(r.end_minute())));
            }
        }
        Self { case, tz, ranges }
    }

    /// Local dates from the day before the window to the day after it.
    fn dates(case: &Case) -> impl Iterator<Item = Date> {
        let tz = case.profile.time_zone();
        let first = tz.to_datetime(case.window.start()).date().yesterday().unwrap();
        let last = tz.to_datetime(case.window.end()).date().tomorrow().unwrap();
        std::iter::successors(Some(first), move |d| d.tomorrow().ok().filter(|d| *d <= last))
    }

    /// The earlier instant of every grid wall-clock time near the window.
    fn grid(&self) -> Vec<Timestamp> {
        let step = self.case.profile.slot_step_minutes() as i64;
        let mut out = Vec::new();
        for date in Self::dates(self.case) {
            for k in 0..(1440 / step) {
                let minute = k * step;
                let dt = date.at((minute / 60) as i8, (minute % 60) as i8, 0, 0);
                let ambiguous = self.tz.to_ambiguous_timestamp(dt);
                if !matches!(ambiguous.offset(), AmbiguousOffset::Gap { .. }) {
                    out.push(ambiguous.earlier().unwrap());
                }
            }
        }
        out
    }

    fn on_grid(&self, s: Timestamp) -> bool {
        let local = self.tz.to_datetime(s);
        let minute = i64::from(local.hour()) * 60 + i64::from(local.minute());
        local.second() == 0
            && local.subsec_nanosecond() == 0
            && minute % self.case.profile.slot_step_minutes() as i64 == 0
            && self.tz.to_ambiguous_timestamp(local).earlier().unwrap() == s
    }

    fn offered(&self, s: Timestamp) -> bool {
        let p = &self.case.profile;
        let e = plus_minutes(s, self.case.duration.into());
        let buffer = i64::from(p.buffer_minutes());
        let in_window = self.case.window.start() <= s && s < self.case.window.end();
        let in_range = self.ranges.iter().any(|&(r0, r1)| r0 <= s && e <= r1);
        let free = self.case.busy.iter().all(|b| {
            let expired = b.expires_at.is_some_and(|x| x <= self.case.now);
            expired || !(s < plus_minutes(b.end, buffer) && b.start < plus_minutes(e, buffer))
        });
        let noticed = s >= plus_minutes(self.case.now, p.min_notice_minutes().into());
        let within_horizon = e <= plus_minutes(self.case.now, i64::from(p.horizon_days()) * 1440);
        in_window && self.on_grid(s) && in_range && free && noticed && within_horizon
    }
}

fn run(case: &Case, busy: &[Busy]) -> Vec<Interval> {
    slots(&case.profile, case.duration, case.window, busy, case.now)
}

proptest! {
    // Integration tests have no lib.rs beside them to persist failures next to;
    // a failure prints its minimal case instead.
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn slots_are_exactly_the_starts_the_rules_allow(case in case()) {
        let got = run(&case, &case.busy);
        let oracle = Oracle::new(&case);

        prop_assert!(got.windows(2).all(|w| w[0].start() < w[1].start()), "not sorted and unique");
        for slot in &got {
            prop_assert_eq!(slot.end(), plus_minutes(slot.start(), case.duration.into()));
            prop_assert!(oracle.offered(slot.start()), "offered against the rules: {}", slot.start());
            prop_assert!(is_offered(&case.profile, case.duration, slot.start(), &case.busy, case.now));
            // A minute later is off the grid in every zone here.
            let off_grid = plus_minutes(slot.start(), 1);
            prop_assert!(!is_offered(&case.profile, case.duration, off_grid, &case.busy, case.now));
        }

        let offered: BTreeSet<Timestamp> = got.iter().map(|s| s.start()).collect();
        let refused: Vec<Timestamp> = oracle.grid().into_iter().filter(|s| !offered.contains(s)).collect();
        for &s in &refused {
            prop_assert!(!oracle.offered(s), "missing a slot the rules allow: {}", s);
        }
        // is_offered has no window, so only refusals inside it are its to repeat.
        let in_window: Vec<Timestamp> = refused.into_iter().filter(|&s| case.window.contains(s)).collect();
        for &s in in_window.iter().step_by(in_window.len() / 25 + 1) {
            prop_assert!(!is_offered(&case.profile, case.duration, s, &case.busy, case.now), "is_offered disagrees at {}", s);
        }
    }

    #[test]
    fn removing_busy_never_removes_a_slot(case in case()) {
        let with: BTreeSet<Interval> = run(&case, &case.busy).into_iter().collect();
        let without: BTreeSet<Interval> = run(&case, &[]).into_iter().collect();
        prop_assert!(with.is_subset(&without));
    }

    #[test]
    fn adding_busy_never_adds_a_slot(
        case in case(),
        extra_start in 0i64..=(8 * 1440),
        extra_len in 1i64..=600,
        position in any::<prop::sample::Index>(),
    ) {
        let start = plus_minutes(case.window.start(), extra_start - 1440);
        let extra = Busy { start, end: plus_minutes(start, extra_len), expires_at: None };
        let mut more = case.busy.clone();
        more.insert(position.index(more.len() + 1), extra);
        let before: BTreeSet<Interval> = run(&case, &case.busy).into_iter().collect();
        let after: BTreeSet<Interval> = run(&case, &more).into_iter().collect();
        prop_assert!(after.is_subset(&before));
        prop_assert!(after.iter().all(|s| !(s.start() < plus_minutes(extra.end, case.profile.buffer_minutes().into())
            && extra.start < plus_minutes(s.end(), case.profile.buffer_minutes().into()))));
    }
}
