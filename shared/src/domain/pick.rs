//! A lesson as a student picks it (from get-slots): what they chose, never
//! a price. The checkout body and the saved cart both hold these.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::TeacherId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LessonPick {
    pub teacher_id: TeacherId,
    pub start: Timestamp,
    pub duration_minutes: u32,
    pub trial: bool,
}
