//! Did the lesson happen: each party's presence from what the video service
//! saw, and the outcome decided from it. Pure, so the boundaries are
//! tested to the second; `sweep` applies it.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::rooms::Stay;

/// One party's presence in the lesson window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_joined_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_left_at: Option<Timestamp>,
    /// The union of their stays inside the window (rejoins and parallel
    /// devices counted once).
    pub seconds_present: i64,
}

/// Both parties' presence, kept on a decided booking.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendance {
    pub teacher: Presence,
    pub student: Presence,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Completed,
    StudentNoShow,
    TeacherNoShow,
}

/// The presence of `user_id` in `[from, until)`, from every stay (a stay
/// still open counts until `now`).
pub fn presence(stays: &[Stay], user_id: &str, from: Timestamp, until: Timestamp, now: Timestamp) -> Presence {
    let mut spans: Vec<(Timestamp, Timestamp)> = stays
        .iter()
        .filter(|s| s.user_id == user_id)
        .map(|s| (s.joined_at.max(from), s.left_at.unwrap_or(now).min(until)))
        .filter(|(a, b)| a < b)
        .collect();
    spans.sort();
    // Summed exactly, cut to whole seconds once: separate stays must not
    // each lose a fraction at the boundary.
    let mut total = SignedDuration::ZERO;
    let mut covered: Option<(Timestamp, Timestamp)> = None;
    for (a, b) in spans {
        covered = match covered {
            Some((ca, cb)) if a <= cb => Some((ca, cb.max(b))),
            Some((ca, cb)) => {
                total += cb - ca;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    if let Some((ca, cb)) = covered {
        total += cb - ca;
    }
    let seconds = total.as_secs();
    let mine = stays.iter().filter(|s| s.user_id == user_id);
    Presence {
        first_joined_at: mine.clone().map(|s| s.joined_at).min(),
        last_left_at: mine.filter_map(|s| s.left_at).max(),
        seconds_present: seconds,
    }
}

/// Present with at least `min_minutes` in the room, or half the lesson if
/// that is shorter; the teacher's absence decides first (they are refunded).
pub fn decide(teacher: &Presence, student: &Presence, lesson: SignedDuration, min_minutes: u32) -> Outcome {
    let needed = SignedDuration::from_mins(i64::from(min_minutes)).min(lesson / 2).as_secs();
    match (teacher.seconds_present >= needed, student.seconds_present >= needed) {
        (false, _) => Outcome::TeacherNoShow,
        (true, false) => Outcome::StudentNoShow,
        (true, true) => Outcome::Completed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(raw: &str) -> Timestamp {
        raw.parse().unwrap()
    }

    fn stay(peer: &str, user: &str, joined: &str, left: Option<&str>) -> Stay {
        Stay { peer_id: peer.into(), user_id: user.into(), joined_at: ts(joined), left_at: left.map(ts) }
    }

    #[test]
    fn presence_is_the_union_of_stays_inside_the_window_by_user() {
        let (from, until) = (ts("2026-12-01T09:45:00Z"), ts("2026-12-01T11:00:00Z"));
        let stays = [
            stay("p1", "t", "2026-12-01T09:30:00Z", Some("2026-12-01T10:10:00Z")), // starts before the window
            stay("p2", "t", "2026-12-01T10:05:00Z", Some("2026-12-01T10:20:00Z")), // overlaps p1 (a second device)
            stay("p3", "t", "2026-12-01T10:30:00Z", None),                        // a rejoin, still there
            stay("p4", "s", "2026-12-01T10:00:00Z", Some("2026-12-01T10:01:00Z")),
        ];
        let teacher = presence(&stays, "t", from, until, ts("2026-12-01T10:40:00Z"));
        assert_eq!(teacher.seconds_present, (35 + 10) * 60, "09:45-10:20 and 10:30-now(10:40)");
        assert_eq!((teacher.first_joined_at, teacher.last_left_at), (Some(ts("2026-12-01T09:30:00Z")), Some(ts("2026-12-01T10:20:00Z"))));
        assert_eq!(presence(&stays, "t", from, until, ts("2026-12-01T12:00:00Z")).seconds_present, (35 + 30) * 60, "an open stay stops at the window's end");
        assert_eq!(presence(&stays, "s", from, until, until).seconds_present, 60);
        assert_eq!(presence(&stays, "nobody", from, until, until), Presence::default());
        let fractions = [stay("p5", "f", "2026-12-01T10:00:00.4Z", Some("2026-12-01T10:02:31Z")), stay("p6", "f", "2026-12-01T10:10:00Z", Some("2026-12-01T10:12:29.6Z"))];
        assert_eq!(presence(&fractions, "f", from, until, until).seconds_present, 300, "150.6 s and 149.6 s are 300 s, not 299");
    }

    #[test]
    fn the_outcome_turns_on_the_minimum_to_the_second() {
        let with = |seconds| Presence { seconds_present: seconds, ..Presence::default() };
        let hour = SignedDuration::from_hours(1);
        assert_eq!(decide(&with(300), &with(300), hour, 5), Outcome::Completed, "exactly five minutes each");
        assert_eq!(decide(&with(299), &with(3600), hour, 5), Outcome::TeacherNoShow, "a second short, the teacher did not come");
        assert_eq!(decide(&with(300), &with(299), hour, 5), Outcome::StudentNoShow);
        assert_eq!(decide(&with(0), &with(0), hour, 5), Outcome::TeacherNoShow, "nobody: the student is refunded");
        let short = SignedDuration::from_mins(6);
        assert_eq!(decide(&with(180), &with(180), short, 5), Outcome::Completed, "half of a 6-minute lesson is enough");
        assert_eq!(decide(&with(179), &with(180), short, 5), Outcome::TeacherNoShow);
    }
}
