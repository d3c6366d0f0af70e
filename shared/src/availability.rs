//! The slot rules: which lesson starts a teacher offers. Pure: no I/O, and
//! "now" is an argument, so the rules are testable at any instant.
//!
//! A start `s` with end `e = s + duration` is offered iff
//! 1. `s` lies in the requested window;
//! 2. `[s, e)` lies inside one working range of the teacher's local calendar,
//!    the range's wall-clock bounds resolved to instants on that date (gaps
//!    and folds resolve "compatible", as jiff does by default). The buffer
//!    separates lessons from each other (rule 4), not from the range's end;
//! 3. `s` is on the grid: its local wall-clock time is local midnight plus a
//!    multiple of the slot step. Wall-clock times inside a DST gap do not
//!    exist and are skipped; one repeated by a fold is offered once, at its
//!    earlier instant;
//! 4. it conflicts with no busy interval `b`: `s < b.end + buffer` and
//!    `b.start < e + buffer`; holds that expired by now never block;
//! 5. `s >= now + min_notice`;
//! 6. `e <= now + horizon_days * 24h`.
//!
//! Internally everything is whole seconds since the Unix epoch, and local
//! wall-clock times are "civil seconds" (the same count, read on the local
//! clock). The zone's offsets over the query span are looked up once, so a
//! range is stepped through by plain addition unless a transition falls
//! inside it.

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::{Offset, TimeZone};

use crate::domain::{Interval, LocalRange, TeacherProfile};

/// Something that occupies the teacher: a hold (with `expires_at`) or a
/// confirmed booking (`expires_at: None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    pub start: Timestamp,
    pub end: Timestamp,
    pub expires_at: Option<Timestamp>,
}

impl Busy {
    /// A hold stops blocking at the instant it expires.
    pub fn blocks_at(&self, now: Timestamp) -> bool {
        self.expires_at.is_none_or(|expires| expires > now)
    }
}

/// Every offered start in `window`, as `[start, start + duration)`, sorted.
pub fn slots(profile: &TeacherProfile, duration_minutes: u32, window: Interval, busy: &[Busy], now: Timestamp) -> Vec<Interval> {
    let dur = i64::from(duration_minutes) * 60;
    let mut out = Vec::new();
    // Interval bounds are whole seconds, so the conversion is exact.
    let (from, until) = (window.start().as_second(), window.end().as_second());
    for_each_start(profile, duration_minutes, from, until, busy, now, |s| out.extend(Interval::from_seconds(s, s + dur)));
    // Starts come out in order by construction; this only guards that argument.
    if !out.is_sorted_by(|a, b| a.start() < b.start()) {
        out.sort_unstable();
        out.dedup();
    }
    out
}

/// Whether `slots` would offer a lesson starting at `start`, for validating
/// a cart item. Runs the same code as `slots` over a one-second window.
pub fn is_offered(profile: &TeacherProfile, duration_minutes: u32, start: Timestamp, busy: &[Busy], now: Timestamp) -> bool {
    if start.subsec_nanosecond() != 0 {
        return false;
    }
    let s = start.as_second();
    let mut found = false;
    for_each_start(profile, duration_minutes, s, s.saturating_add(1), busy, now, |t| found |= t == s);
    found
}

const DAY: i64 = 86_400;
/// More than any clock change the tz database records in this era.
const MAX_SHIFT: i64 = 2 * 3_600;
/// How far beyond the candidate starts the zone's offsets are looked up:
/// enough for the day before, the day after and any UTC offset.
const ZONE_SLACK: i64 = 3 * DAY;

/// Calls `emit` with every offered start `s` with `from <= s < until`, in
/// increasing order.
fn for_each_start(
    profile: &TeacherProfile,
    duration_minutes: u32,
    from: i64,
    until: i64,
    busy: &[Busy],
    now: Timestamp,
    mut emit: impl FnMut(i64),
) {
    if duration_minutes == 0 {
        return;
    }
    let dur = i64::from(duration_minutes) * 60;
    let buffer = i64::from(profile.buffer_minutes()) * 60;
    // Rule 5 and 6 bounds, exact for a `now` with a fraction of a second.
    let earliest = from.max(ceil_second(now) + i64::from(profile.min_notice_minutes()) * 60);
    let latest = (until - 1).min(floor_second(now) + i64::from(profile.horizon_days()) * DAY - dur);
    if earliest > latest {
        return;
    }
    let tz = profile.time_zone();
    let Some(zone) = ZoneTable::new(tz, earliest - ZONE_SLACK, latest + ZONE_SLACK) else { return };
    let Some(mut date) = local_date(tz, earliest).and_then(|d| d.yesterday().ok()) else { return };
    let Some(last_date) = local_date(tz, latest) else { return };
    let Some(mut midnight) = civil_midnight(date) else { return };

    let mut walk = Walk {
        zone: &zone,
        blocked: Blocked::new(busy, now, dur, buffer),
        step: i64::from(profile.slot_step_minutes()) * 60,
        dur,
        earliest,
        latest,
    };
    while date <= last_date {
        for &range in profile.ranges_on(date) {
            walk.range(midnight, range, &mut emit);
        }
        let Ok(next) = date.tomorrow() else { return };
        date = next;
        // Every civil day is 86 400 civil seconds, whatever the zone does.
        midnight += DAY;
    }
}

/// The per-query constants and state of the walk through the ranges.
struct Walk<'a> {
    zone: &'a ZoneTable,
    blocked: Blocked,
    step: i64,
    dur: i64,
    earliest: i64,
    latest: i64,
}

impl Walk<'_> {
    /// Emits the offered starts of one working range of the local date whose
    /// midnight is `midnight` (civil seconds).
    fn range(&mut self, midnight: i64, range: LocalRange, emit: &mut impl FnMut(i64)) {
        let civil_start = midnight + i64::from(range.start_minute()) * 60;
        let civil_end = midnight + i64::from(range.end_minute()) * 60;
        let range_start = self.zone.compatible(civil_start);
        let range_end = self.zone.compatible(civil_end);
        let first = range_start.max(self.earliest);
        let last = (range_end - self.dur).min(self.latest);
        if first > last {
            return;
        }
        match self.zone.constant_offset(range_start, range_end) {
            Some(offset) => self.constant_range(midnight, offset, first, last, emit),
            None => self.shifting_range(midnight, civil_start, civil_end, first, last, emit),
        }
    }

    /// No transition inside the range: every grid time exists once and is
    /// `offset` away from its instant, so stepping in elapsed time is exact.
    fn constant_range(&mut self, midnight: i64, offset: i64, first: i64, last: i64, emit: &mut impl FnMut(i64)) {
        let k = ceil_div(first + offset - midnight, self.step);
        let mut s = midnight + k * self.step - offset;
        while s <= last {
            match self.blocked.conflict_end(s) {
                None => {
                    emit(s);
                    s += self.step;
                }
                Some(free_from) => s += ceil_div(free_from - s, self.step) * self.step,
            }
        }
    }

    /// A transition inside the range: resolve each grid time on its own.
    /// Grid times a little past the civil end still count when their instant
    /// fits: a range ending in a spring-forward gap (Lord Howe's 02:00-02:30)
    /// ends at the gap's far side, after local times later than its own end.
    fn shifting_range(&mut self, midnight: i64, civil_start: i64, civil_end: i64, first: i64, last: i64, emit: &mut impl FnMut(i64)) {
        let mut civil = midnight + ceil_div(civil_start - midnight, self.step) * self.step;
        while civil < civil_end + MAX_SHIFT {
            // Earliest resolution is non-decreasing in civil time, so the first
            // start past `last` ends the range.
            if let Some(s) = self.zone.earliest(civil) {
                if s > last {
                    break;
                }
                if s >= first && self.blocked.conflict_end(s).is_none() {
                    emit(s);
                }
            }
            civil += self.step;
        }
    }
}

/// The zone's offsets over the query span: segment `i` covers instants
/// `[starts[i], starts[i + 1])` with `offsets[i]` seconds east of UTC.
struct ZoneTable {
    starts: Vec<i64>,
    offsets: Vec<i64>,
}

impl ZoneTable {
    fn new(tz: &TimeZone, lo: i64, hi: i64) -> Option<Self> {
        let lo_ts = Timestamp::from_second(lo).ok()?;
        let mut starts = vec![i64::MIN];
        let mut offsets = vec![i64::from(tz.to_offset(lo_ts).seconds())];
        for transition in tz.following(lo_ts) {
            let at = transition.timestamp().as_second();
            if at > hi {
                break;
            }
            starts.push(at);
            offsets.push(i64::from(transition.offset().seconds()));
        }
        Some(Self { starts, offsets })
    }

    fn segment(&self, instant: i64) -> usize {
        // starts[0] is i64::MIN, so the partition point is at least 1.
        self.starts.partition_point(|&s| s <= instant).saturating_sub(1)
    }

    fn in_segment(&self, i: usize, instant: i64) -> bool {
        self.starts[i] <= instant && self.starts.get(i + 1).is_none_or(|&next| instant < next)
    }

    /// The offset if the instants `[from, to)` all share one segment.
    fn constant_offset(&self, from: i64, to: i64) -> Option<i64> {
        let i = self.segment(from);
        (i == self.segment(to - 1)).then(|| self.offsets[i])
    }

    /// The first instant whose local clock reads `civil`; `None` in a gap.
    fn earliest(&self, civil: i64) -> Option<i64> {
        // Offsets ascend with time only in a gap and descend in a fold; the
        // first segment that contains its candidate holds the earliest one.
        (0..self.offsets.len()).map(|i| civil - self.offsets[i]).enumerate().find(|&(i, t)| self.in_segment(i, t)).map(|(_, t)| t)
    }

    /// jiff's "compatible" resolution: the earlier instant of a fold, and for
    /// a gap the instant the clock would show had it not jumped (the offset
    /// from before the gap), which lands just after the transition.
    fn compatible(&self, civil: i64) -> i64 {
        if let Some(t) = self.earliest(civil) {
            return t;
        }
        // In a gap the candidate of the segment before the transition falls
        // after it, and that of the segment after falls before it.
        (1..self.offsets.len())
            .find(|&i| civil - self.offsets[i - 1] >= self.starts[i] && civil - self.offsets[i] < self.starts[i])
            .map_or(civil - self.offsets[0], |i| civil - self.offsets[i - 1])
    }
}

/// The starts that busy intervals forbid, as merged, sorted half-open
/// intervals, queried with non-decreasing starts.
struct Blocked {
    spans: Vec<(i64, i64)>,
    next: usize,
    last_query: i64,
}

impl Blocked {
    fn new(busy: &[Busy], now: Timestamp, dur: i64, buffer: i64) -> Self {
        // s conflicts with b iff s < b.end + buffer and b.start < s + dur + buffer;
        // for whole-second s that is floor(b.start) - buffer - dur < s < ceil(b.end) + buffer.
        let mut spans: Vec<(i64, i64)> = busy
            .iter()
            .filter(|b| b.blocks_at(now))
            .map(|b| (floor_second(b.start) - buffer - dur + 1, ceil_second(b.end) + buffer))
            .filter(|(lo, hi)| lo < hi)
            .collect();
        spans.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(spans.len());
        for (lo, hi) in spans {
            match merged.last_mut() {
                Some(last) if lo <= last.1 => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        Self { spans: merged, next: 0, last_query: i64::MIN }
    }

    /// `Some(end)` when `s` is forbidden, `end` being the first start after
    /// it that this span no longer forbids.
    fn conflict_end(&mut self, s: i64) -> Option<i64> {
        if s < self.last_query {
            self.next = self.spans.partition_point(|&(_, hi)| hi <= s);
        }
        self.last_query = s;
        while self.spans.get(self.next).is_some_and(|&(_, hi)| hi <= s) {
            self.next += 1;
        }
        self.spans.get(self.next).filter(|&&(lo, _)| lo <= s).map(|&(_, hi)| hi)
    }
}

fn local_date(tz: &TimeZone, instant: i64) -> Option<Date> {
    Some(tz.to_datetime(Timestamp::from_second(instant).ok()?).date())
}

/// Civil seconds of a date's midnight: the Unix second of that wall-clock
/// reading in UTC.
fn civil_midnight(date: Date) -> Option<i64> {
    Offset::UTC.to_timestamp(date.to_datetime(Time::midnight())).ok().map(Timestamp::as_second)
}

fn floor_second(t: Timestamp) -> i64 {
    // Sub-second parts of negative timestamps are negative.
    t.as_second() - i64::from(t.subsec_nanosecond() < 0)
}

fn ceil_second(t: Timestamp) -> i64 {
    t.as_second() + i64::from(t.subsec_nanosecond() > 0)
}

fn ceil_div(a: i64, b: i64) -> i64 {
    a.div_euclid(b) + i64::from(a.rem_euclid(b) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ts(raw: &str) -> Timestamp {
        raw.parse().unwrap()
    }

    fn window(start: &str, end: &str) -> Interval {
        Interval::new(ts(start), ts(end)).unwrap()
    }

    /// A profile in `zone` working `hours` every day, edited by `edit`.
    fn profile(zone: &str, hours: serde_json::Value, edit: impl FnOnce(&mut serde_json::Value)) -> TeacherProfile {
        let week = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let mut doc = json!({
            "id": "t_test", "name": "Test", "timezone": zone, "currency": "eur",
            "weekly": week.iter().map(|d| (d.to_string(), hours.clone())).collect::<serde_json::Map<_, _>>(),
            "lessons": [{"duration_minutes": 60, "price": 3000}],
            "buffer_minutes": 0, "min_notice_minutes": 0, "horizon_days": 365, "slot_step_minutes": 60,
        });
        edit(&mut doc);
        TeacherProfile::from_json_str(&doc.to_string()).unwrap()
    }

    fn starts(slots: &[Interval]) -> Vec<String> {
        slots.iter().map(|s| s.start().to_string()).collect()
    }

    fn busy(start: &str, end: &str) -> Busy {
        Busy { start: ts(start), end: ts(end), expires_at: None }
    }

    const LONG_AGO: &str = "2026-01-01T00:00:00Z";

    /// Found by the property tests: Lord Howe skips 02:00-02:30 on 2026-10-04,
    /// so a range ending at 02:05 ends at 15:35Z, and 02:30 local (15:30Z) fits.
    #[test]
    fn a_range_ending_in_a_gap_ends_on_its_far_side() {
        let p = profile("Australia/Lord_Howe", json!([["00:00", "02:05"]]), |doc| {
            doc["lessons"] = json!([{"duration_minutes": 5, "price": 1000}]);
            doc["slot_step_minutes"] = json!(5);
        });
        let got = slots(&p, 5, window("2026-10-03T15:20:00Z", "2026-10-03T16:30:00Z"), &[], ts(LONG_AGO));
        assert_eq!(starts(&got), ["2026-10-03T15:20:00Z", "2026-10-03T15:25:00Z", "2026-10-03T15:30:00Z"]);
        assert!(is_offered(&p, 5, ts("2026-10-03T15:30:00Z"), &[], ts(LONG_AGO)));
    }

    #[test]
    fn berlin_day_is_08_to_16_utc_in_winter_and_07_to_15_in_summer() {
        let p = profile("Europe/Berlin", json!([["09:00", "17:00"]]), |_| {});
        let now = ts(LONG_AGO);
        let winter = slots(&p, 60, window("2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z"), &[], now);
        assert_eq!(winter.first().unwrap().start(), ts("2026-12-01T08:00:00Z"));
        assert_eq!(winter.last().unwrap().end(), ts("2026-12-01T16:00:00Z"));
        assert_eq!(winter.len(), 8);
        let summer = slots(&p, 60, window("2026-07-01T00:00:00Z", "2026-07-02T00:00:00Z"), &[], now);
        assert_eq!(summer.first().unwrap().start(), ts("2026-07-01T07:00:00Z"));
        assert_eq!(summer.last().unwrap().end(), ts("2026-07-01T15:00:00Z"));
        assert_eq!(summer.len(), 8);
    }

    #[test]
    fn new_york_afternoon_on_the_spring_forward_day_is_not_shifted() {
        let p = profile("America/New_York", json!([]), |d| d["weekly"]["sun"] = json!([["13:00", "18:00"]]));
        let got = slots(&p, 60, window("2026-03-08T00:00:00Z", "2026-03-09T12:00:00Z"), &[], ts("2026-03-01T00:00:00Z"));
        assert_eq!(
            starts(&got),
            ["2026-03-08T17:00:00Z", "2026-03-08T18:00:00Z", "2026-03-08T19:00:00Z", "2026-03-08T20:00:00Z", "2026-03-08T21:00:00Z"]
        );
    }

    #[test]
    fn spring_forward_gap_times_are_skipped() {
        // Berlin 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00Z).
        let p = profile("Europe/Berlin", json!([["01:00", "05:00"]]), |d| d["slot_step_minutes"] = json!(30));
        let got = slots(&p, 30, window("2026-03-29T00:00:00Z", "2026-03-29T12:00:00Z"), &[], ts(LONG_AGO));
        // 01:00, 01:30 CET, then 03:00 .. 04:30 CEST; 02:00 and 02:30 do not exist.
        assert_eq!(
            starts(&got),
            [
                "2026-03-29T00:00:00Z",
                "2026-03-29T00:30:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-29T01:30:00Z",
                "2026-03-29T02:00:00Z",
                "2026-03-29T02:30:00Z"
            ]
        );
    }

    /// Starts offered with `overrides` as the only working days, 30-minute
    /// grid, lessons of `duration`. Asked for the days in `short` and again
    /// for a window opening in October 2025, whose zone offsets also hold the
    /// previous change, so the gap is not the first transition they know.
    fn starts_around_a_gap(zone: &str, overrides: serde_json::Value, duration: u32, short: (&str, &str)) -> Vec<String> {
        let p = profile(zone, json!([]), |d| {
            d["overrides"] = overrides;
            d["slot_step_minutes"] = json!(30);
            d["lessons"] = json!([{"duration_minutes": duration, "price": 3000}]);
        });
        let now = ts("2025-10-01T00:00:00Z");
        let got = starts(&slots(&p, duration, window(short.0, short.1), &[], now));
        assert_eq!(starts(&slots(&p, duration, window("2025-10-01T00:00:00Z", short.1), &[], now)), got);
        for start in &got {
            assert!(is_offered(&p, duration, ts(start), &[], now), "{start}");
        }
        got
    }

    /// A range bound inside a DST gap resolves "compatible": with the offset
    /// from before the gap, landing after the transition.
    #[test]
    fn berlin_ranges_starting_or_ending_in_the_spring_gap() {
        // 2026-03-29: 02:00 CET (+01) jumps to 03:00 CEST (+02) at 01:00Z; 02:30 resolves to 01:30Z, 03:30 CEST.
        let day = ("2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z");
        // 03:30 .. 05:30 CEST; 03:00 CEST (01:00Z) is before the range starts.
        let got = starts_around_a_gap("Europe/Berlin", json!({"2026-03-29": [["02:30", "06:00"]]}), 30, day);
        assert_eq!(got, ["2026-03-29T01:30:00Z", "2026-03-29T02:00:00Z", "2026-03-29T02:30:00Z", "2026-03-29T03:00:00Z", "2026-03-29T03:30:00Z"]);
        // 00:00 .. 01:30 CET, then 03:00 CEST, whose lesson ends at 01:30Z, where the range does.
        let got = starts_around_a_gap("Europe/Berlin", json!({"2026-03-29": [["00:00", "02:30"]]}), 30, day);
        assert_eq!(got, ["2026-03-28T23:00:00Z", "2026-03-28T23:30:00Z", "2026-03-29T00:00:00Z", "2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z"]);
    }

    #[test]
    fn new_york_ranges_starting_or_ending_in_the_spring_gap() {
        // 2026-03-08: 02:00 EST (-05) jumps to 03:00 EDT (-04) at 07:00Z; 02:30 resolves to 07:30Z, 03:30 EDT.
        let day = ("2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z");
        let got = starts_around_a_gap("America/New_York", json!({"2026-03-08": [["02:30", "05:00"]]}), 30, day);
        assert_eq!(got, ["2026-03-08T07:30:00Z", "2026-03-08T08:00:00Z", "2026-03-08T08:30:00Z"]);
        // 01:00 and 01:30 EST, then 03:00 EDT (07:00Z), ending at 07:30Z with the range.
        let got = starts_around_a_gap("America/New_York", json!({"2026-03-08": [["01:00", "02:30"]]}), 30, day);
        assert_eq!(got, ["2026-03-08T06:00:00Z", "2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z"]);
    }

    #[test]
    fn santiago_ranges_at_the_midnight_gap() {
        // 2026-09-06: midnight (-04) jumps to 01:00 (-03) at 04:00Z, so the day has no 00:00-01:00.
        let days = ("2026-09-05T12:00:00Z", "2026-09-07T00:00:00Z");
        // A range from the missing midnight starts at the transition, 01:00 (-03).
        let got = starts_around_a_gap("America/Santiago", json!({"2026-09-06": [["00:00", "03:00"]]}), 60, days);
        assert_eq!(got, ["2026-09-06T04:00:00Z", "2026-09-06T04:30:00Z", "2026-09-06T05:00:00Z"]);
        // 00:30 resolves to 04:30Z, 01:30 (-03), so 01:00 is before the range.
        let got = starts_around_a_gap("America/Santiago", json!({"2026-09-06": [["00:30", "03:00"]]}), 60, days);
        assert_eq!(got, ["2026-09-06T04:30:00Z", "2026-09-06T05:00:00Z"]);
        // The evening before ends at 24:00, the gap's first instant, which is 04:00Z.
        let got = starts_around_a_gap("America/Santiago", json!({"2026-09-05": [["22:00", "24:00"]]}), 60, days);
        assert_eq!(got, ["2026-09-06T02:00:00Z", "2026-09-06T02:30:00Z", "2026-09-06T03:00:00Z"]);
    }

    #[test]
    fn fall_back_fold_times_are_offered_once_at_the_earlier_instant() {
        // Berlin 2026-10-25: 03:00 CEST falls back to 02:00 CET (01:00Z).
        let p = profile("Europe/Berlin", json!([["01:00", "04:00"]]), |d| d["slot_step_minutes"] = json!(30));
        let got = slots(&p, 30, window("2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z"), &[], ts(LONG_AGO));
        // 01:00 .. 02:30 CEST, then 03:00 and 03:30 CET; the repeated 02:00, 02:30 CET are not offered again.
        assert_eq!(
            starts(&got),
            [
                "2026-10-24T23:00:00Z",
                "2026-10-24T23:30:00Z",
                "2026-10-25T00:00:00Z",
                "2026-10-25T00:30:00Z",
                "2026-10-25T02:00:00Z",
                "2026-10-25T02:30:00Z"
            ]
        );
        for slot in &got {
            assert!(is_offered(&p, 30, slot.start(), &[], ts(LONG_AGO)));
        }
        assert!(!is_offered(&p, 30, ts("2026-10-25T01:00:00Z"), &[], ts(LONG_AGO)));
    }

    #[test]
    fn a_range_may_end_at_24_00() {
        let p = profile("Asia/Kolkata", json!([["22:00", "24:00"]]), |_| {});
        let got = slots(&p, 60, window("2026-05-01T00:00:00Z", "2026-05-02T00:00:00Z"), &[], ts(LONG_AGO));
        // Kolkata is +05:30: 22:00 and 23:00 local.
        assert_eq!(starts(&got), ["2026-05-01T16:30:00Z", "2026-05-01T17:30:00Z"]);
    }

    #[test]
    fn buffer_after_a_busy_interval_is_exact_to_the_minute() {
        let p = profile("UTC", json!([["08:00", "18:00"]]), |d| {
            d["buffer_minutes"] = json!(10);
            d["slot_step_minutes"] = json!(5);
        });
        let start = ts("2026-06-01T11:10:00Z");
        let now = ts(LONG_AGO);
        assert!(is_offered(&p, 60, start, &[busy("2026-06-01T10:00:00Z", "2026-06-01T11:00:00Z")], now));
        assert!(!is_offered(&p, 60, start, &[busy("2026-06-01T10:00:00Z", "2026-06-01T11:01:00Z")], now));
    }

    #[test]
    fn buffer_before_a_busy_interval_is_exact_to_the_minute() {
        let p = profile("UTC", json!([["08:00", "18:00"]]), |d| {
            d["buffer_minutes"] = json!(10);
            d["slot_step_minutes"] = json!(5);
        });
        // 09:00-10:00 plus 10 minutes of buffer ends exactly where the busy one starts.
        let start = ts("2026-06-01T09:00:00Z");
        let now = ts(LONG_AGO);
        assert!(is_offered(&p, 60, start, &[busy("2026-06-01T10:10:00Z", "2026-06-01T11:00:00Z")], now));
        assert!(!is_offered(&p, 60, start, &[busy("2026-06-01T10:09:00Z", "2026-06-01T11:00:00Z")], now));
    }

    /// The buffer separates lessons; the working range bounds only the lesson.
    #[test]
    fn buffer_need_not_fit_inside_the_range() {
        let p = profile("UTC", json!([["09:00", "12:00"]]), |d| d["buffer_minutes"] = json!(10));
        let got = slots(&p, 60, window("2026-06-01T00:00:00Z", "2026-06-02T00:00:00Z"), &[], ts(LONG_AGO));
        assert_eq!(starts(&got), ["2026-06-01T09:00:00Z", "2026-06-01T10:00:00Z", "2026-06-01T11:00:00Z"]);
        assert!(is_offered(&p, 60, ts("2026-06-01T11:00:00Z"), &[], ts(LONG_AGO)));
    }

    #[test]
    fn min_notice_boundary() {
        let p = profile("UTC", json!([["08:00", "18:00"]]), |d| d["min_notice_minutes"] = json!(720));
        let start = ts("2026-06-01T12:00:00Z");
        assert!(is_offered(&p, 60, start, &[], ts("2026-06-01T00:00:00Z")));
        assert!(!is_offered(&p, 60, start, &[], ts("2026-06-01T00:01:00Z")));
        assert!(!is_offered(&p, 60, start, &[], ts("2026-06-01T00:00:00.000000001Z")));
    }

    #[test]
    fn horizon_boundary() {
        let p = profile("UTC", json!([["08:00", "18:00"]]), |d| d["horizon_days"] = json!(2));
        // Ends at 12:00 two days after now.
        let start = ts("2026-06-03T11:00:00Z");
        assert!(is_offered(&p, 60, start, &[], ts("2026-06-01T12:00:00Z")));
        assert!(!is_offered(&p, 60, start, &[], ts("2026-06-01T11:59:59Z")));
        assert!(!is_offered(&p, 60, start, &[], ts("2026-06-01T11:59:59.999Z")));
    }

    #[test]
    fn window_start_is_inclusive_and_end_exclusive() {
        let p = profile("UTC", json!([["08:00", "18:00"]]), |_| {});
        let got = slots(&p, 60, window("2026-06-01T09:00:00Z", "2026-06-01T11:00:00Z"), &[], ts(LONG_AGO));
        assert_eq!(starts(&got), ["2026-06-01T09:00:00Z", "2026-06-01T10:00:00Z"]);
    }

    #[test]
    fn override_replaces_the_weekly_hours() {
        let p = profile("Europe/Berlin", json!([["09:00", "17:00"]]), |d| {
            d["overrides"] = json!({"2026-12-24": [], "2026-12-27": [["10:00", "12:00"]]});
        });
        let now = ts(LONG_AGO);
        assert!(slots(&p, 60, window("2026-12-24T00:00:00Z", "2026-12-25T00:00:00Z"), &[], now).is_empty());
        let got = slots(&p, 60, window("2026-12-27T00:00:00Z", "2026-12-28T00:00:00Z"), &[], now);
        assert_eq!(starts(&got), ["2026-12-27T09:00:00Z", "2026-12-27T10:00:00Z"]);
    }

    #[test]
    fn expired_holds_never_block_and_live_ones_do() {
        let p = profile("UTC", json!([["08:00", "18:00"]]), |_| {});
        let now = ts("2026-06-01T00:00:00Z");
        let start = ts("2026-06-01T10:00:00Z");
        let hold = |expires: &str| Busy { expires_at: Some(ts(expires)), ..busy("2026-06-01T10:00:00Z", "2026-06-01T11:00:00Z") };
        assert!(is_offered(&p, 60, start, &[hold("2026-05-31T23:59:00Z")], now));
        assert!(is_offered(&p, 60, start, &[hold("2026-06-01T00:00:00Z")], now));
        assert!(!is_offered(&p, 60, start, &[hold("2026-06-01T00:00:01Z")], now));
        assert!(!is_offered(&p, 60, start, &[busy("2026-06-01T10:30:00Z", "2026-06-01T10:31:00Z")], now));
    }

    #[test]
    fn busy_intervals_in_any_order_are_skipped_over() {
        let p = profile("UTC", json!([["08:00", "18:00"]]), |d| d["slot_step_minutes"] = json!(15));
        let taken = [busy("2026-06-01T15:00:00Z", "2026-06-01T16:00:00Z"), busy("2026-06-01T09:10:00Z", "2026-06-01T09:20:00Z")];
        let got = slots(&p, 60, window("2026-06-01T00:00:00Z", "2026-06-02T00:00:00Z"), &taken, ts(LONG_AGO));
        let expected: Vec<String> = [
            "08:00", "09:30", "09:45", "10:00", "10:15", "10:30", "10:45", "11:00", "11:15", "11:30", "11:45", "12:00", "12:15", "12:30",
            "12:45", "13:00", "13:15", "13:30", "13:45", "14:00", "16:00", "16:15", "16:30", "16:45", "17:00",
        ]
        .iter()
        .map(|t| format!("2026-06-01T{t}:00Z"))
        .collect();
        assert_eq!(starts(&got), expected);
    }

    #[test]
    fn is_offered_rejects_what_slots_does_not_offer() {
        let p = profile("UTC", json!([["08:00", "18:00"]]), |_| {});
        let now = ts(LONG_AGO);
        assert!(is_offered(&p, 60, ts("2026-06-01T08:00:00Z"), &[], now));
        assert!(!is_offered(&p, 60, ts("2026-06-01T08:30:00Z"), &[], now), "off the grid");
        assert!(!is_offered(&p, 60, ts("2026-06-01T08:00:00.5Z"), &[], now), "fraction of a second");
        assert!(!is_offered(&p, 60, ts("2026-06-01T17:30:00Z"), &[], now), "outside the range");
        assert!(!is_offered(&p, 0, ts("2026-06-01T08:00:00Z"), &[], now), "zero duration");
    }

    #[test]
    fn zone_table_resolves_like_jiff() {
        for zone in ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"] {
            let tz = TimeZone::get(zone).unwrap();
            let lo = ts("2026-01-01T00:00:00Z").as_second();
            let table = ZoneTable::new(&tz, lo, lo + 400 * DAY).unwrap();
            let base = civil_midnight(jiff::civil::date(2026, 1, 3)).unwrap();
            for civil in (base..base + 360 * DAY).step_by(15 * 60) {
                let dt = Offset::UTC.to_datetime(Timestamp::from_second(civil).unwrap());
                let ambiguous = tz.to_ambiguous_timestamp(dt);
                let gap = matches!(ambiguous.offset(), jiff::tz::AmbiguousOffset::Gap { .. });
                let earlier = (!gap).then(|| ambiguous.earlier().unwrap().as_second());
                assert_eq!(table.earliest(civil), earlier, "{zone} {dt}");
                assert_eq!(table.compatible(civil), ambiguous.compatible().unwrap().as_second(), "{zone} {dt}");
            }
        }
    }
}
