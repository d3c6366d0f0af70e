//! The decision, run by reconcile: for each booking whose end plus the
//! grace has passed, read what 100ms saw (its sessions, every page, merged
//! with what the webhook stored), decide the outcome and write it once, in
//! one conditional transaction; a teacher who did not come refunds the
//! student in full through a refund obligation. Then the room closes.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use super::no_show;
use super::rules::{Lesson, Outcome, Party, decide, observe};
use crate::config::Env;
use crate::domain::Stay;
use crate::refunds::{INLINE_REFUND_BUDGET, Refunds};
use crate::store::{Attention, AttentionKind, Booking, BookingStatus, Due, Notice, TeacherCount, Topic, TransactError};
use crate::webhook::EventHandler;

/// How long after a lesson its outcome may wait for 100ms before a person is asked.
const UNDECIDED_FOR: SignedDuration = SignedDuration::from_hours(24);

#[derive(Debug, Clone, Copy)]
pub struct AttendanceConfig {
    /// `ATTENDANCE_GRACE_MINUTES`: after the end, before deciding.
    pub grace: SignedDuration,
    /// `ATTENDANCE_MIN_MINUTES`: in the lesson, and together, to count.
    pub min_minutes: u32,
}

impl Default for AttendanceConfig {
    fn default() -> Self {
        Self { grace: SignedDuration::from_mins(15), min_minutes: 5 }
    }
}

impl AttendanceConfig {
    pub fn read(env: &mut Env) -> Option<Self> {
        let grace = env.with_default("ATTENDANCE_GRACE_MINUTES", "15", |s| s.parse::<i64>().ok().filter(|m| (0..=1440).contains(m)).ok_or_else(|| "must be 0 to 1440 minutes".into()));
        let min = env.with_default("ATTENDANCE_MIN_MINUTES", "5", |s| s.parse::<u32>().ok().filter(|m| (1..=60).contains(m)).ok_or_else(|| "must be 1 to 60 minutes".into()));
        Some(Self { grace: SignedDuration::from_mins(grace?), min_minutes: min? })
    }
}

/// What one sweep did.
#[derive(Debug, Default)]
pub struct Decided {
    pub outcomes: Vec<(String, BookingStatus)>,
    /// Not decided for a reason that may pass (100ms down): retried next run.
    pub still_failing: Vec<(String, String)>,
    /// Undecided for a day, or unclear (both came, never together long
    /// enough): listed for a person.
    pub attention: Vec<String>,
}

/// What deciding one booking did.
enum Done {
    Decided(BookingStatus),
    ForAPerson,
}

pub async fn decide_due(handler: &EventHandler, config: &AttendanceConfig, now: Timestamp) -> Result<Decided, crate::store::StoreError> {
    let mut decided = Decided::default();
    for due in handler.store.outcomes_due(now - config.grace).await? {
        match decide_one(handler, config, &due, now).await {
            Ok(Some(Done::Decided(outcome))) => decided.outcomes.push((due.booking_id.to_string(), outcome)),
            Ok(Some(Done::ForAPerson)) => decided.attention.push(due.booking_id.to_string()),
            Ok(None) => {}
            Err(err) if now - due.end > config.grace + UNDECIDED_FOR => {
                let attention = Attention {
                    kind: AttentionKind::AttendanceUndecided,
                    subject: due.booking_id.to_string(),
                    reason: format!("the outcome of {} (ended {}) is still undecided: {err}; it is retried every run", due.booking_id, due.end),
                    checkout_id: None,
                    payment_intent: None,
                    code: None,
                    due_by: None,
                    created_at: now,
                };
                match handler.store.flag_attention(&attention).await {
                    Ok(true) => decided.attention.push(due.booking_id.to_string()),
                    Ok(false) => {}
                    Err(flag) => decided.still_failing.push((due.booking_id.to_string(), format!("listing it for a person: {flag}"))),
                }
                decided.still_failing.push((due.booking_id.to_string(), err));
            }
            Err(err) => decided.still_failing.push((due.booking_id.to_string(), err)),
        }
    }
    Ok(decided)
}

async fn decide_one(handler: &EventHandler, config: &AttendanceConfig, due: &Due, now: Timestamp) -> Result<Option<Done>, String> {
    let store = &handler.store;
    let booking = store.get_booking(&due.booking_id).await.map_err(|e| e.to_string())?;
    let Some(booking) = booking.filter(|b| b.status == BookingStatus::Confirmed && b.end == due.end) else {
        // Gone, cancelled, decided or moved meanwhile: the listing is stale.
        store.transact(vec![store.outcome_due_key_delete_item(due).map_err(|e| e.to_string())?]).await.map_err(|e| e.to_string())?;
        return Ok(None);
    };
    let teacher_login = no_show::teacher_login(store, &booking).await?;
    let mut stays = store.stays_of(&booking.booking_id).await.map_err(|e| e.to_string())?;
    if let Some(room) = &booking.room_id {
        stays.extend(handler.rooms.hms.stays(room).await.map_err(|e| format!("100ms: {e}"))?);
    }
    let (teacher_role, student_role) = handler.rooms.hms.roles();
    let lesson = Lesson {
        start: booking.start,
        end: booking.end,
        teacher: Party { login: &teacher_login, role: teacher_role },
        student: Party { login: &booking.student_id, role: student_role },
    };
    let attendance = observe(&merged(stays), &lesson, now);
    let outcome = decide(&attendance, booking.end - booking.start, config.min_minutes);
    let status = match outcome {
        Outcome::Completed => BookingStatus::Completed,
        Outcome::StudentNoShow => BookingStatus::StudentNoShow,
        Outcome::TeacherNoShow => BookingStatus::TeacherNoShow,
        // The attendance is kept and the status left for a person.
        Outcome::Unclear => BookingStatus::Confirmed,
    };
    let io = |e: crate::store::StoreError| e.to_string();
    // Listed for its room to be closed: a failed disable is retried by the room repair.
    let mut items = vec![store.booking_outcome_item(&booking, status, &attendance).map_err(io)?, store.outcome_undue_item(&booking).map_err(io)?, store.pending_room_item(&booking.booking_id).map_err(io)?];
    if let Some(basis) = crate::store::Basis::of_outcome(status) {
        items.extend(crate::payouts::earn::outcome_item(store, &booking, basis, now).await.map_err(io)?);
    }
    let mut intent = None;
    match outcome {
        Outcome::TeacherNoShow => {
            items.push(store.teacher_count_item(&booking.teacher_id, TeacherCount::NoShows, 1).map_err(io)?);
            let (refund, pi) = no_show::refund_items(store, &booking, now).await.map_err(io)?;
            items.extend(refund);
            intent = pi;
        }
        Outcome::Unclear => items.push(store.attention_item(&unclear(&booking, &attendance, now)).map_err(io)?),
        Outcome::Completed | Outcome::StudentNoShow => {}
    }
    // Both parties hear of a no-show; the webhooks of every decided outcome.
    match outcome {
        Outcome::TeacherNoShow | Outcome::StudentNoShow => {
            for notice in Notice::of_change(&booking, Topic::Outcome, booking.sequence + 1, now) {
                items.push(store.notice_item(&notice, now).map_err(io)?);
            }
        }
        Outcome::Completed => items.push(store.notice_item(&Notice::event(booking.booking_id.to_string(), Topic::Outcome, booking.sequence + 1, now), now).map_err(io)?),
        Outcome::Unclear => {}
    }
    match store.transact(items).await {
        Ok(()) => {}
        // Decided by a concurrent run (or changed meanwhile): the next run sees it.
        Err(TransactError::Conflict { .. }) => return Ok(None),
        Err(TransactError::Busy(err) | TransactError::Store(err)) => return Err(err.to_string()),
    }
    tracing::info!(booking_id = %booking.booking_id, outcome = ?outcome, teacher_seconds = attendance.teacher.seconds_present, student_seconds = attendance.student.seconds_present, together_seconds = attendance.together_seconds, "lesson outcome decided");
    if outcome == Outcome::Unclear {
        crate::metrics::count(crate::metrics::Metric::AttentionRecords, 1);
    }
    if let Some(pi) = intent {
        let report = Refunds { store, payments: &handler.payments }.settle_payment(&pi, now, INLINE_REFUND_BUDGET).await;
        for (obligation, err) in report.still_failing {
            tracing::warn!(booking_id = %booking.booking_id, %obligation, error = %err, "the no-show refund is owed; the refund sweep retries it");
        }
    }
    // The lesson is over: its codes and tokens stop working.
    if let Err(err) = handler.rooms.disable(&booking).await {
        tracing::warn!(booking_id = %booking.booking_id, error = %err, "room not closed yet; the room repair closes it");
    }
    Ok(Some(if outcome == Outcome::Unclear { Done::ForAPerson } else { Done::Decided(status) }))
}

fn unclear(booking: &Booking, attendance: &crate::domain::Attendance, now: Timestamp) -> Attention {
    let minutes = |seconds: i64| seconds / 60;
    Attention {
        kind: AttentionKind::AttendanceUnclear,
        subject: booking.booking_id.to_string(),
        reason: format!(
            "both came to {} ({} to {}) but were together only {} min (teacher {} min, student {} min): nothing was refunded; decide it with `make outcome`",
            booking.booking_id,
            booking.start,
            booking.end,
            minutes(attendance.together_seconds),
            minutes(attendance.teacher.seconds_present),
            minutes(attendance.student.seconds_present)
        ),
        checkout_id: Some(booking.checkout_id.clone()),
        payment_intent: None,
        code: None,
        due_by: None,
        created_at: now,
    }
}

/// One stay per peer: what the webhook stored and what the sessions API
/// says are the same stays; a stay that has ended wins over one still open.
fn merged(stays: Vec<Stay>) -> Vec<Stay> {
    let mut by_peer: BTreeMap<String, Stay> = BTreeMap::new();
    for stay in stays {
        by_peer
            .entry(stay.peer_id.clone())
            .and_modify(|kept| {
                kept.joined_at = kept.joined_at.min(stay.joined_at);
                kept.left_at = kept.left_at.max(stay.left_at);
                kept.role = kept.role.take().or_else(|| stay.role.clone());
            })
            .or_insert(stay);
    }
    by_peer.into_values().collect()
}
