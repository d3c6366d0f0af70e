//! Half-open time intervals between instants.

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `[start, end)` with `start < end`, both whole seconds.
///
/// Whole seconds because the wire form is RFC 3339 without a fraction: an
/// interval must survive a trip through JSON or the store unchanged, or a slot
/// read back from a cart would no longer equal the slot that was offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    start: Timestamp,
    end: Timestamp,
}

impl Interval {
    /// `None` unless `start < end` and neither has a fraction of a second.
    pub fn new(start: Timestamp, end: Timestamp) -> Option<Self> {
        let whole = |t: Timestamp| t.subsec_nanosecond() == 0;
        (start < end && whole(start) && whole(end)).then_some(Self { start, end })
    }

    pub(crate) fn from_seconds(start: i64, end: i64) -> Option<Self> {
        Self::new(Timestamp::from_second(start).ok()?, Timestamp::from_second(end).ok()?)
    }

    pub fn start(&self) -> Timestamp {
        self.start
    }

    pub fn end(&self) -> Timestamp {
        self.end
    }

    pub fn contains(&self, instant: Timestamp) -> bool {
        self.start <= instant && instant < self.end
    }

    /// Touching intervals (`a.end == b.start`) do not overlap.
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// A lesson start as a client sends it: RFC 3339 in whole seconds, and
/// inside the years any teacher's calendar can reach (no horizon is longer
/// than a year), so that no later arithmetic on it (its end, its buffer, the
/// days around it) can overflow jiff's range.
pub fn parse_lesson_start(raw: &str) -> Result<Timestamp, String> {
    let start = raw.parse::<Timestamp>().ok().filter(|t| t.subsec_nanosecond() == 0).ok_or_else(|| format!("{raw:?} is not an RFC 3339 time in whole seconds, e.g. 2026-12-01T08:00:00Z"))?;
    let (earliest, latest) = (Timestamp::constant(946_684_800, 0), Timestamp::constant(4_102_444_800, 0));
    if start < earliest || start >= latest {
        return Err(format!("{raw:?} is beyond any teacher's booking horizon"));
    }
    Ok(start)
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    start: String,
    end: String,
}

impl Serialize for Interval {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Timestamp's Display is UTC with "Z" and omits a zero fraction.
        Wire { start: self.start.to_string(), end: self.end.to_string() }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let wire = Wire::deserialize(deserializer)?;
        let parse = |field: &str, raw: &str| {
            raw.parse::<Timestamp>().map_err(|e| D::Error::custom(format!("{field}: invalid RFC 3339 instant {raw:?}: {e}")))
        };
        let (start, end) = (parse("start", &wire.start)?, parse("end", &wire.end)?);
        Interval::new(start, end).ok_or_else(|| D::Error::custom("start must be before end, both in whole seconds"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(raw: &str) -> Timestamp {
        raw.parse().unwrap()
    }

    fn iv(start: &str, end: &str) -> Interval {
        Interval::new(ts(start), ts(end)).unwrap()
    }

    #[test]
    fn a_lesson_start_is_refused_outside_the_years_a_calendar_reaches() {
        assert_eq!(parse_lesson_start("2026-12-01T08:00:00Z"), Ok(ts("2026-12-01T08:00:00Z")));
        assert_eq!(parse_lesson_start("2000-01-01T00:00:00Z"), Ok(ts("2000-01-01T00:00:00Z")));
        assert_eq!(parse_lesson_start("2099-12-31T23:59:59Z"), Ok(ts("2099-12-31T23:59:59Z")));
        for far in ["9999-12-30T21:30:00Z", "2100-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "1999-12-31T23:59:59Z"] {
            assert!(parse_lesson_start(far).unwrap_err().contains("horizon"), "{far}");
        }
        assert!(parse_lesson_start("2026-12-01T08:00:00.5Z").unwrap_err().contains("whole seconds"));
        assert!(parse_lesson_start("tomorrow").is_err());
    }

    #[test]
    fn new_requires_order_and_whole_seconds() {
        assert!(Interval::new(ts("2026-12-01T08:00:00Z"), ts("2026-12-01T08:00:00Z")).is_none());
        assert!(Interval::new(ts("2026-12-01T09:00:00Z"), ts("2026-12-01T08:00:00Z")).is_none());
        assert!(Interval::new(ts("2026-12-01T08:00:00.5Z"), ts("2026-12-01T09:00:00Z")).is_none());
        assert!(Interval::new(ts("2026-12-01T08:00:00Z"), ts("2026-12-01T08:00:01Z")).is_some());
    }

    #[test]
    fn overlaps_is_half_open() {
        let a = iv("2026-12-01T08:00:00Z", "2026-12-01T09:00:00Z");
        assert!(a.overlaps(&iv("2026-12-01T08:59:00Z", "2026-12-01T10:00:00Z")));
        assert!(a.overlaps(&iv("2026-12-01T08:10:00Z", "2026-12-01T08:20:00Z")));
        assert!(!a.overlaps(&iv("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")));
        assert!(!a.overlaps(&iv("2026-12-01T07:00:00Z", "2026-12-01T08:00:00Z")));
        assert!(a.contains(a.start()) && !a.contains(a.end()));
    }

    #[test]
    fn serializes_as_utc_rfc3339_whole_seconds() {
        let a = iv("2026-12-01T09:00:00+01:00", "2026-12-01T10:00:00+01:00");
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#"{"start":"2026-12-01T08:00:00Z","end":"2026-12-01T09:00:00Z"}"#);
        assert_eq!(serde_json::from_str::<Interval>(&json).unwrap(), a);
    }

    #[test]
    fn deserialize_validates() {
        let backwards = r#"{"start":"2026-12-01T09:00:00Z","end":"2026-12-01T08:00:00Z"}"#;
        assert!(serde_json::from_str::<Interval>(backwards).is_err());
        let fraction = r#"{"start":"2026-12-01T08:00:00.1Z","end":"2026-12-01T09:00:00Z"}"#;
        assert!(serde_json::from_str::<Interval>(fraction).is_err());
        let garbage = r#"{"start":"tomorrow","end":"2026-12-01T09:00:00Z"}"#;
        let err = serde_json::from_str::<Interval>(garbage).unwrap_err().to_string();
        assert!(err.contains("start: invalid RFC 3339 instant"), "{err}");
    }
}
