//! The profile document, exactly as operators (and teachers, through
//! teacher-profile) write it: plain data, stored with serde_dynamo and read
//! from seed files. `validate` turns it into a `TeacherProfile`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::CancellationDoc;

/// A working range as written: `["09:00", "12:00"]`.
pub type RangeDoc = [String; 2];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LessonDoc {
    pub duration_minutes: u32,
    pub price: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileDoc {
    pub id: String,
    /// The teacher's login: the identity provider's subject of their
    /// account. Absent means the id itself, as before logins existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub name: String,
    /// Where the teacher's notices go; private (never in the directory).
    /// Required when teacher-profile creates a profile; older ones may lack it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub timezone: String,
    /// Keys `mon`..`sun`; a missing day is a day off. A map rather than seven
    /// fields so an unknown key gets a field-path error from validation.
    #[serde(default)]
    pub weekly: BTreeMap<String, Vec<RangeDoc>>,
    /// Keys are local dates `YYYY-MM-DD`; the list replaces that day's weekly ranges.
    #[serde(default)]
    pub overrides: BTreeMap<String, Vec<RangeDoc>>,
    pub currency: String,
    pub lessons: Vec<LessonDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial: Option<LessonDoc>,
    pub buffer_minutes: u32,
    pub min_notice_minutes: u32,
    pub horizon_days: u32,
    pub slot_step_minutes: u32,
    /// Cancel and reschedule terms; absent means the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation: Option<CancellationDoc>,
    /// Lesson packages on offer; absent means none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<super::PackageDoc>,
    /// How long a package's credits last from its payment; absent means 180.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_valid_days: Option<u32>,
}

