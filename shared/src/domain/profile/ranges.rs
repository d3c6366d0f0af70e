//! Working ranges as operators write them (`["09:00", "12:00"]`) and as
//! the slot rules use them (minutes after local midnight).

use std::fmt;

use jiff::civil::Date;

use super::{MINUTES_PER_DAY, ProfileError, RangeDoc};

/// Local wall-clock `[start, end)` as minutes after local midnight;
/// `end_minute` may be 1440 ("24:00", the next local midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalRange {
    start_minute: u16,
    end_minute: u16,
}

impl LocalRange {
    pub fn start_minute(&self) -> u16 {
        self.start_minute
    }

    pub fn end_minute(&self) -> u16 {
        self.end_minute
    }

    pub(super) fn to_doc(self) -> RangeDoc {
        [format_clock(self.start_minute), format_clock(self.end_minute)]
    }
}

impl fmt::Display for LocalRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", format_clock(self.start_minute), format_clock(self.end_minute))
    }
}

fn format_clock(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// Strict `HH:MM`; other spellings ("9:00", "09:00:00") are rejected so
/// that what operators read in the file is exactly what gets applied.
fn parse_clock(raw: &str) -> Option<u16> {
    let &[h1, h2, b':', m1, m2] = raw.as_bytes() else { return None };
    let digit = |b: u8| b.is_ascii_digit().then(|| u16::from(b - b'0'));
    let (hour, minute) = (digit(h1)? * 10 + digit(h2)?, digit(m1)? * 10 + digit(m2)?);
    let total = hour * 60 + minute;
    (minute < 60 && total <= MINUTES_PER_DAY).then_some(total)
}

/// Parses one day's ranges, sorted by start, rejecting empty or overlapping ones.
pub(super) fn parse_day(path: &str, raw: &[RangeDoc]) -> Result<Vec<LocalRange>, ProfileError> {
    let mut ranges = Vec::with_capacity(raw.len());
    for (i, [start, end]) in raw.iter().enumerate() {
        let at = |j: usize| format!("{path}[{i}][{j}]");
        let invalid = |j: usize, s: &str| ProfileError::new(at(j), format!("invalid time {s:?}, expected HH:MM from 00:00 to 24:00"));
        let start_minute = parse_clock(start).ok_or_else(|| invalid(0, start))?;
        let end_minute = parse_clock(end).ok_or_else(|| invalid(1, end))?;
        if start_minute == MINUTES_PER_DAY {
            return Err(ProfileError::new(at(0), "24:00 is only allowed as an end"));
        }
        if end_minute <= start_minute {
            return Err(ProfileError::new(format!("{path}[{i}]"), format!("end {end} is not after start {start}")));
        }
        ranges.push((LocalRange { start_minute, end_minute }, i));
    }
    ranges.sort();
    for pair in ranges.windows(2) {
        let [(earlier, ei), (later, li)] = pair else { continue };
        if later.start_minute < earlier.end_minute {
            return Err(ProfileError::new(format!("{path}[{li}]"), format!("{later} overlaps {path}[{ei}] ({earlier})")));
        }
    }
    Ok(ranges.into_iter().map(|(range, _)| range).collect())
}

/// Strict `YYYY-MM-DD`, since jiff alone would also take other ISO forms.
pub(super) fn parse_date_key(raw: &str) -> Option<Date> {
    let b = raw.as_bytes();
    let shape = b.len() == 10 && b[4] == b'-' && b[7] == b'-';
    let digits = |r: std::ops::Range<usize>| raw.get(r).filter(|s| s.bytes().all(|c| c.is_ascii_digit()));
    if !shape {
        return None;
    }
    let year = digits(0..4)?.parse().ok()?;
    let month = digits(5..7)?.parse().ok()?;
    let day = digits(8..10)?.parse().ok()?;
    Date::new(year, month, day).ok()
}

