//! Key formats of the single table. Prefixes keep entity types apart inside
//! one partition (`TEACHER#t_anna` holds the profile and the calendar days).

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::domain::TeacherId;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const PROFILE_SK: &str = "PROFILE";
/// Beside the profile: counters of what the teacher did (not in the profile document).
pub const STATS_SK: &str = "STATS";
pub const DAY_PREFIX: &str = "DAY#";
/// The sort key of a login's mapping to the teacher it is.
pub const LOGIN_SK: &str = "TEACHER";
/// The key (pk and sk) of an item that is never written: reading it opens the
/// connection at start-up. Every function's policy allows reading it.
pub const WARMUP: &str = "WARMUP";

pub fn teacher_pk(id: &TeacherId) -> String {
    format!("TEACHER#{id}")
}

/// A payment's partition: its record, refunds, disputes and refund obligations.
pub fn payment_pk(intent: &str) -> String {
    format!("PAYMENT#{intent}")
}

/// Any string after the fixed prefix: a provider's subject may hold `#`.
pub fn user_pk(user_id: &str) -> String {
    format!("USER#{user_id}")
}

pub fn day_sk(day: Date) -> String {
    format!("{DAY_PREFIX}{day}")
}

/// The UTC calendar day an instant falls on; calendar items are per UTC day
/// so that every teacher's items line up whatever their zone.
pub fn utc_day(at: Timestamp) -> Date {
    TimeZone::UTC.to_datetime(at).date()
}
