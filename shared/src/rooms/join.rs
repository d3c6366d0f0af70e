//! join-lesson as a use case: the caller's bookings, and entry to a
//! booking's room for its teacher or its student only, within the join
//! window. Nobody else learns that a booking exists.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::{RoomError, Rooms};
use crate::domain::Presence;
use crate::auth::Principal;
use crate::clock::Clock;
use crate::domain::BookingId;
use crate::error::ApiError;
use crate::store::{Booking, BookingStatus, BookingsOf, RoomStatus};

/// An app token outlives the lesson's end by this much, so a lesson that
/// runs over is not cut off (100ms's rule: at most an hour).
const TOKEN_AFTER_END: SignedDuration = SignedDuration::from_hours(1);
/// The longest lesson a profile allows: how far back a listing looks for
/// lessons still running.
const LONGEST_LESSON: SignedDuration = SignedDuration::from_hours(8);
const PAGE_SIZE: usize = 20;
/// How many bookings of each index one page reads before merging.
const READ_AHEAD: i32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Teacher,
    Student,
}

#[derive(Debug, Serialize)]
pub struct BookingSummary {
    pub booking_id: BookingId,
    pub role: Party,
    pub start: Timestamp,
    pub end: Timestamp,
    pub duration_minutes: u32,
    pub status: BookingStatus,
    /// The other party: the student for a teacher, the teacher for a student.
    pub with: String,
    pub room_ready: bool,
}

/// Which of the caller's bookings a listing reads.
#[derive(Debug, Clone, Copy)]
enum Window {
    /// Starting at or after this instant, oldest first.
    From(Timestamp),
    /// Starting before it, newest first.
    Before(Timestamp),
}

impl Window {
    async fn read(self, store: &crate::store::Store, of: BookingsOf<'_>) -> Result<Vec<Booking>, crate::store::StoreError> {
        match self {
            Self::From(from) => store.bookings_of(of, from, READ_AHEAD).await,
            Self::Before(before) => store.bookings_before(of, before, READ_AHEAD).await,
        }
    }
}

/// A lesson that is over, with its outcome and presence.
#[derive(Debug, Serialize)]
pub struct PastLesson {
    #[serde(flatten)]
    pub lesson: BookingSummary,
    /// Decided after the lesson: `completed`, `student_no_show`,
    /// `teacher_no_show`; `confirmed` until then, or `cancelled`.
    pub outcome: BookingStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub my_presence: Option<Presence>,
    /// The other party's: the student's for a teacher, the teacher's for a student.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub their_presence: Option<Presence>,
}

#[derive(Debug, Serialize)]
pub struct PastPage {
    pub lessons: Vec<PastLesson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct BookingsPage {
    pub bookings: Vec<BookingSummary>,
    /// Pass as `cursor` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct JoinTicket {
    pub booking_id: BookingId,
    pub role: Party,
    pub room_id: String,
    /// The caller's own role's code only.
    pub room_code: String,
    /// A 100ms app token for this room, user and role.
    pub token: String,
    pub join_url: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
}

/// `JOIN_OPENS_MINUTES_BEFORE`: how long before the start a room opens.
pub fn read_opens_before(env: &mut crate::config::Env) -> Option<SignedDuration> {
    env.with_default("JOIN_OPENS_MINUTES_BEFORE", "15", |s| {
        s.parse::<i64>().ok().filter(|m| (0..=7 * 24 * 60).contains(m)).map(SignedDuration::from_mins).ok_or_else(|| "must be 0 to 10080 minutes".into())
    })
}

pub struct Joining {
    pub rooms: Rooms,
    /// `JOIN_OPENS_MINUTES_BEFORE`.
    pub opens_before: SignedDuration,
    pub clock: Clock,
}

impl Joining {
    /// Upcoming and running lessons, soonest first, `PAGE_SIZE` at a time.
    pub async fn list(&self, who: &Principal, cursor: Option<&str>) -> Result<BookingsPage, ApiError> {
        let after = cursor.map(parse_cursor).transpose()?;
        let now = self.clock.now();
        let from = after.as_ref().map_or(now - LONGEST_LESSON, |(start, _)| *start);
        let mut all = self.mine(who, Window::From(from)).await?;
        all.retain(|(_, b)| b.end > now && after.as_ref().is_none_or(|(start, id)| (b.start, b.booking_id.as_str()) > (*start, id.as_str())));
        all.sort_by(|(_, a), (_, b)| (a.start, a.booking_id.as_str()).cmp(&(b.start, b.booking_id.as_str())));
        let more = all.len() > PAGE_SIZE;
        all.truncate(PAGE_SIZE);
        let next_cursor = more.then(|| all.last().map(|(_, b)| format!("{}.{}", b.start.as_second(), b.booking_id))).flatten();
        let bookings = all.into_iter().map(|(role, b)| summary(role, b)).collect();
        Ok(BookingsPage { bookings, next_cursor })
    }

    /// The caller's bookings in `window`, as student and as teacher (a
    /// teacher known by their login's mapping), each with the caller's part.
    async fn mine(&self, who: &Principal, window: Window) -> Result<Vec<(Party, Booking)>, ApiError> {
        let store = &self.rooms.store;
        let as_teacher = async {
            match store.teacher_of(&who.user_id).await? {
                Some(teacher) => window.read(store, BookingsOf::Teacher(&teacher)).await,
                None => Ok(Vec::new()),
            }
        };
        let (as_student, as_teacher) = futures::future::try_join(window.read(store, BookingsOf::Student(&who.user_id)), as_teacher).await?;
        Ok(as_student.into_iter().map(|b| (Party::Student, b)).chain(as_teacher.into_iter().map(|b| (Party::Teacher, b))).collect())
    }

    /// Lessons that are over, newest first, `PAGE_SIZE` at a time, with
    /// their outcome and each side's presence as the caller may see it.
    pub async fn past(&self, who: &Principal, cursor: Option<&str>) -> Result<PastPage, ApiError> {
        let after = cursor.map(parse_cursor).transpose()?;
        let now = self.clock.now();
        let before = after.as_ref().map_or(now, |(start, _)| *start + SignedDuration::from_secs(1));
        let mut all = self.mine(who, Window::Before(before)).await?;
        all.retain(|(_, b)| b.end <= now && after.as_ref().is_none_or(|(start, id)| (b.start, b.booking_id.as_str()) < (*start, id.as_str())));
        all.sort_by(|(_, a), (_, b)| (b.start, b.booking_id.as_str()).cmp(&(a.start, a.booking_id.as_str())));
        let more = all.len() > PAGE_SIZE;
        all.truncate(PAGE_SIZE);
        let next_cursor = more.then(|| all.last().map(|(_, b)| format!("{}.{}", b.start.as_second(), b.booking_id))).flatten();
        let lessons = all
            .into_iter()
            .map(|(role, mut b)| {
                // Who counted (logins, room-code ids) is for operators, not for the other party.
                let shown = |p: Presence| Some(Presence { identities: Vec::new(), ..p });
                let (mine, theirs) = match (role, b.attendance.take()) {
                    (Party::Teacher, Some(a)) => (shown(a.teacher), shown(a.student)),
                    (Party::Student, Some(a)) => (shown(a.student), shown(a.teacher)),
                    (_, None) => (None, None),
                };
                PastLesson { outcome: b.status, my_presence: mine, their_presence: theirs, lesson: summary(role, b) }
            })
            .collect();
        Ok(PastPage { lessons, next_cursor })
    }

    /// The caller's way into one of their lessons.
    pub async fn join(&self, who: &Principal, body: &[u8]) -> Result<JoinTicket, ApiError> {
        let id = parse_booking_ref(body)?;
        let not_found = || ApiError::BookingNotFound(id.to_string());
        let mut booking = self.rooms.store.get_booking(&id).await?.ok_or_else(not_found)?;
        // A teacher is recognised by their login's mapping, never by a
        // teacher id that happens to equal the token's subject.
        let role = if booking.student_id == who.user_id {
            Party::Student
        } else if self.rooms.store.teacher_of(&who.user_id).await?.as_ref() == Some(&booking.teacher_id) {
            Party::Teacher
        } else {
            return Err(not_found());
        };
        if booking.status == BookingStatus::Cancelled {
            return Err(ApiError::BookingCancelled);
        }
        let now = self.clock.now();
        let opens_at = booking.start - self.opens_before;
        if now < opens_at {
            return Err(ApiError::TooEarly(opens_at));
        }
        if now >= booking.end {
            return Err(ApiError::LessonOver);
        }
        if booking.room_status != RoomStatus::Ready {
            booking = self.rooms.ensure(&id).await.map_err(|err| match err {
                RoomError::Cancelled(_) => ApiError::BookingCancelled,
                other => {
                    tracing::warn!(booking_id = %id, error = %other, "room not ready at join");
                    ApiError::RoomNotReady
                }
            })?;
        }
        let config = self.rooms.hms.config();
        let (code, hms_role) = match role {
            Party::Teacher => (booking.teacher_room_code.clone(), &config.teacher_role),
            Party::Student => (booking.student_room_code.clone(), &config.student_role),
        };
        let (Some(room_id), Some(room_code)) = (booking.room_id.clone(), code) else { return Err(ApiError::RoomNotReady) };
        // The login for teachers and students alike: attendance counts by it.
        let token = self.rooms.hms.app_token(&room_id, &who.user_id, hms_role, booking.end + TOKEN_AFTER_END).map_err(|e| ApiError::Internal(Box::new(e)))?;
        tracing::info!(booking_id = %id, role = ?role, "joining");
        Ok(JoinTicket { join_url: self.rooms.hms.join_url(&room_code), booking_id: id, role, room_id, room_code, token, starts_at: booking.start, ends_at: booking.end })
    }
}

fn summary(role: Party, b: Booking) -> BookingSummary {
    BookingSummary {
        with: match role {
            // Never the identity provider's subject (`google-oauth2|…`).
            Party::Teacher => b.student_name.clone().unwrap_or_else(|| "Student".to_owned()),
            Party::Student => b.teacher_id.to_string(),
        },
        room_ready: b.room_status == RoomStatus::Ready,
        booking_id: b.booking_id,
        role,
        start: b.start,
        end: b.end,
        duration_minutes: b.duration_minutes,
        status: b.status,
    }
}

/// `{"booking_id": "bk_…"}`, the body of join-lesson and create-room.
pub fn parse_booking_ref(body: &[u8]) -> Result<BookingId, ApiError> {
    BookingId::parse(&crate::http::one_field(body, "booking_id")?).map_err(|e| ApiError::invalid("booking_id", e))
}

fn parse_cursor(raw: &str) -> Result<(Timestamp, BookingId), ApiError> {
    let bad = || ApiError::invalid("cursor", "is not a cursor this endpoint gave out");
    let (seconds, id) = raw.split_once('.').ok_or_else(bad)?;
    let start = seconds.parse::<i64>().ok().and_then(|s| Timestamp::from_second(s).ok()).ok_or_else(bad)?;
    Ok((start, BookingId::parse(id).map_err(|_| bad())?))
}
