//! What the video service saw of a lesson, as plain records: each peer's
//! stay, and each party's presence once decided. The store keeps them and
//! `attendance` decides from them.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One peer's time in a room, as 100ms saw it (`left_at` none: still there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stay {
    pub peer_id: String,
    /// Our login when they joined with our app token; a random id when they
    /// joined with a room code and no `userId` (100ms's hosted Prebuilt link).
    pub user_id: String,
    /// The role of the token or code they joined with. Stays recorded before
    /// roles were kept have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub joined_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_at: Option<Timestamp>,
}

/// One party's presence in the lesson.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_joined_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_left_at: Option<Timestamp>,
    /// The union of their stays inside the lesson (rejoins and parallel
    /// devices counted once).
    pub seconds_present: i64,
    /// Who counted for them, as `<user_id> (<role>)`: their login, or a
    /// room-code peer in their role.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identities: Vec<String>,
}

/// Both parties' presence and their time together, kept on a decided booking.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendance {
    pub teacher: Presence,
    pub student: Presence,
    /// Seconds both were in the lesson at once.
    #[serde(default)]
    pub together_seconds: i64,
}
