//! Did the lesson happen: each party's presence inside the lesson from what
//! the video service saw, their time together, and the outcome decided from
//! them. Pure, so the boundaries are tested to the second; `sweep` applies it.
//!
//! Who a stay belongs to does not depend on how they joined: with our app
//! token its `user_id` is their login; with a room code (100ms's hosted
//! link) it is a random id, but the code's role is theirs alone, since
//! join-lesson gives the host code only to the teacher and the guest code
//! only to the student.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::domain::{Attendance, Presence, Stay};

/// One party: their login, and their role in the room's template.
#[derive(Debug, Clone, Copy)]
pub struct Party<'a> {
    pub login: &'a str,
    pub role: &'a str,
}

/// A lesson as attendance sees it.
#[derive(Debug, Clone, Copy)]
pub struct Lesson<'a> {
    pub start: Timestamp,
    pub end: Timestamp,
    pub teacher: Party<'a>,
    pub student: Party<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Completed,
    StudentNoShow,
    TeacherNoShow,
    /// Both came, but were never together long enough: a person decides.
    Unclear,
}

/// A stay is `me`'s when it carries my login, or my role and not the
/// other party's login (a room-code peer of my role).
fn counts_for(stay: &Stay, me: Party<'_>, other: Party<'_>) -> bool {
    stay.user_id == me.login || (stay.role.as_deref() == Some(me.role) && stay.user_id != other.login)
}

type Span = (Timestamp, Timestamp);

/// The union of `stays` inside `[from, until]` (a stay still open counts
/// until `now`), as sorted disjoint spans.
fn union<'s>(stays: impl Iterator<Item = &'s Stay>, from: Timestamp, until: Timestamp, now: Timestamp) -> Vec<Span> {
    let mut spans: Vec<Span> = stays.map(|s| (s.joined_at.max(from), s.left_at.unwrap_or(now).min(until))).filter(|(a, b)| a < b).collect();
    spans.sort();
    let mut merged: Vec<Span> = Vec::new();
    for (a, b) in spans {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// Where two sorted unions overlap.
fn intersection(a: &[Span], b: &[Span]) -> Vec<Span> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let (start, end) = (a[i].0.max(b[j].0), a[i].1.min(b[j].1));
        if start < end {
            out.push((start, end));
        }
        if a[i].1 < b[j].1 { i += 1 } else { j += 1 }
    }
    out
}

/// Summed exactly, cut to whole seconds once: separate stays must not each
/// lose a fraction at the boundary.
fn seconds(spans: &[Span]) -> i64 {
    spans.iter().fold(SignedDuration::ZERO, |total, (a, b)| total + (*b - *a)).as_secs()
}

fn presence(stays: &[&Stay], spans: &[Span]) -> Presence {
    let mut identities: Vec<String> = stays.iter().map(|s| format!("{} ({})", s.user_id, s.role.as_deref().unwrap_or("no role recorded"))).collect();
    identities.sort();
    identities.dedup();
    Presence {
        first_joined_at: stays.iter().map(|s| s.joined_at).min(),
        last_left_at: stays.iter().filter_map(|s| s.left_at).max(),
        seconds_present: seconds(spans),
        identities,
    }
}

/// Each party's presence inside `[start, end]` (a join before the start
/// counts from the start) and their time together.
pub fn observe(stays: &[Stay], lesson: &Lesson<'_>, now: Timestamp) -> Attendance {
    let teacher: Vec<&Stay> = stays.iter().filter(|s| counts_for(s, lesson.teacher, lesson.student)).collect();
    let student: Vec<&Stay> = stays.iter().filter(|s| counts_for(s, lesson.student, lesson.teacher)).collect();
    let teacher_spans = union(teacher.iter().copied(), lesson.start, lesson.end, now);
    let student_spans = union(student.iter().copied(), lesson.start, lesson.end, now);
    Attendance {
        teacher: presence(&teacher, &teacher_spans),
        student: presence(&student, &student_spans),
        together_seconds: seconds(&intersection(&teacher_spans, &student_spans)),
    }
}

/// Present with at least `min_minutes` in the lesson, or half the lesson if
/// that is shorter; the teacher's absence decides first (they are refunded).
/// Both present: `completed` only when together for the same minimum.
pub fn decide(attendance: &Attendance, lesson: SignedDuration, min_minutes: u32) -> Outcome {
    let needed = SignedDuration::from_mins(i64::from(min_minutes)).min(lesson / 2).as_secs();
    match (attendance.teacher.seconds_present >= needed, attendance.student.seconds_present >= needed) {
        (false, _) => Outcome::TeacherNoShow,
        (true, false) => Outcome::StudentNoShow,
        (true, true) if attendance.together_seconds >= needed => Outcome::Completed,
        (true, true) => Outcome::Unclear,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(raw: &str) -> Timestamp {
        format!("2026-12-01T{raw}Z").parse().unwrap()
    }

    fn stay(user: &str, role: Option<&str>, joined: &str, left: Option<&str>) -> Stay {
        Stay { peer_id: format!("p-{user}-{joined}"), user_id: user.into(), role: role.map(Into::into), joined_at: ts(joined), left_at: left.map(ts) }
    }

    const LESSON: Lesson<'static> = Lesson {
        start: Timestamp::constant(1_796_119_200, 0), // 10:00
        end: Timestamp::constant(1_796_122_800, 0),   // 11:00
        teacher: Party { login: "t_login", role: "host" },
        student: Party { login: "s_login", role: "guest" },
    };

    #[test]
    fn presence_is_the_union_of_stays_inside_the_lesson() {
        assert_eq!(LESSON.start, ts("10:00:00"));
        let stays = [
            stay("t_login", Some("host"), "09:30:00", Some("10:10:00")), // joined before the start: counts from it
            stay("t_login", Some("host"), "10:05:00", Some("10:20:00")), // a second device
            stay("t_login", Some("host"), "10:30:00", None),             // a rejoin, still there
            stay("s_login", Some("guest"), "10:00:00", Some("10:01:00")),
        ];
        let seen = observe(&stays, &LESSON, ts("10:40:00"));
        assert_eq!(seen.teacher.seconds_present, (20 + 10) * 60, "10:00-10:20 and 10:30-now(10:40)");
        assert_eq!((seen.teacher.first_joined_at, seen.teacher.last_left_at), (Some(ts("09:30:00")), Some(ts("10:20:00"))));
        assert_eq!(observe(&stays, &LESSON, ts("12:00:00")).teacher.seconds_present, (20 + 30) * 60, "an open stay stops at the end");
        assert_eq!((seen.student.seconds_present, seen.together_seconds), (60, 60));
        assert_eq!(seen.teacher.identities, vec!["t_login (host)".to_owned()]);
        let fractions = [stay("s_login", None, "10:00:00.4", Some("10:02:31")), stay("s_login", None, "10:10:00", Some("10:12:29.6"))];
        assert_eq!(observe(&fractions, &LESSON, ts("12:00:00")).student.seconds_present, 300, "150.6 s and 149.6 s are 300 s, not 299");
    }

    #[test]
    fn a_room_code_peer_counts_for_the_party_of_its_role_whatever_its_user_id() {
        let stays = [stay("6f1c2a9e-random", Some("host"), "10:00:00", Some("10:50:00")), stay("0b7d-random", Some("guest"), "10:02:00", Some("10:55:00"))];
        let seen = observe(&stays, &LESSON, ts("12:00:00"));
        assert_eq!((seen.teacher.seconds_present, seen.student.seconds_present, seen.together_seconds), (50 * 60, 53 * 60, 48 * 60));
        assert_eq!(decide(&seen, SignedDuration::from_hours(1), 5), Outcome::Completed);
        assert_eq!(seen.student.identities, vec!["0b7d-random (guest)".to_owned()]);
        // The student's own login in the host role is still the student, never the teacher.
        let borrowed = [stay("s_login", Some("host"), "10:00:00", Some("10:50:00"))];
        let seen = observe(&borrowed, &LESSON, ts("12:00:00"));
        assert_eq!((seen.teacher.seconds_present, seen.student.seconds_present), (0, 50 * 60));
        // A stray role counts for nobody; a stay without a role only by login.
        let strangers = [stay("x", Some("viewer"), "10:00:00", Some("10:50:00")), stay("y", None, "10:00:00", Some("10:50:00"))];
        let seen = observe(&strangers, &LESSON, ts("12:00:00"));
        assert_eq!((seen.teacher.seconds_present, seen.student.seconds_present), (0, 0));
    }

    #[test]
    fn only_time_inside_the_lesson_counts() {
        // The teacher sat in the room before the start and came back after the end.
        let stays = [
            stay("t_login", Some("host"), "09:45:00", Some("09:50:00")),
            stay("t_login", Some("host"), "11:00:00", Some("11:05:00")),
            stay("s_login", Some("guest"), "10:00:00", Some("11:00:00")),
        ];
        let seen = observe(&stays, &LESSON, ts("12:00:00"));
        assert_eq!(seen.teacher.seconds_present, 0);
        assert_eq!(decide(&seen, SignedDuration::from_hours(1), 5), Outcome::TeacherNoShow);
    }

    #[test]
    fn both_present_but_never_together_long_enough_is_for_a_person() {
        let stays = [stay("t_login", Some("host"), "10:00:00", Some("10:20:00")), stay("s_login", Some("guest"), "10:17:00", Some("10:50:00"))];
        let seen = observe(&stays, &LESSON, ts("12:00:00"));
        assert_eq!(seen.together_seconds, 180);
        assert_eq!(decide(&seen, SignedDuration::from_hours(1), 5), Outcome::Unclear);
        let longer = [stay("t_login", Some("host"), "10:00:00", Some("10:22:00")), stay("s_login", Some("guest"), "10:17:00", Some("10:50:00"))];
        assert_eq!(decide(&observe(&longer, &LESSON, ts("12:00:00")), SignedDuration::from_hours(1), 5), Outcome::Completed, "exactly five minutes together");
    }

    #[test]
    fn the_outcome_turns_on_the_minimum_to_the_second() {
        let with = |teacher, student, together| Attendance {
            teacher: Presence { seconds_present: teacher, ..Presence::default() },
            student: Presence { seconds_present: student, ..Presence::default() },
            together_seconds: together,
        };
        let hour = SignedDuration::from_hours(1);
        assert_eq!(decide(&with(300, 300, 300), hour, 5), Outcome::Completed, "exactly five minutes each, together");
        assert_eq!(decide(&with(299, 3600, 299), hour, 5), Outcome::TeacherNoShow, "a second short, the teacher did not come");
        assert_eq!(decide(&with(300, 299, 299), hour, 5), Outcome::StudentNoShow);
        assert_eq!(decide(&with(300, 300, 299), hour, 5), Outcome::Unclear);
        assert_eq!(decide(&with(0, 0, 0), hour, 5), Outcome::TeacherNoShow, "nobody: the student is refunded");
        let short = SignedDuration::from_mins(6);
        assert_eq!(decide(&with(180, 180, 180), short, 5), Outcome::Completed, "half of a 6-minute lesson is enough");
        assert_eq!(decide(&with(179, 180, 179), short, 5), Outcome::TeacherNoShow);
    }

    #[test]
    fn intersections_of_several_spans() {
        let (a, b) = ([(ts("10:00:00"), ts("10:10:00")), (ts("10:20:00"), ts("10:40:00"))], [(ts("10:05:00"), ts("10:25:00")), (ts("10:35:00"), ts("10:50:00"))]);
        assert_eq!(seconds(&intersection(&a, &b)), (5 + 5 + 5) * 60);
        assert_eq!(seconds(&intersection(&b, &a)), (5 + 5 + 5) * 60);
        assert!(intersection(&a, &[]).is_empty());
    }
}
