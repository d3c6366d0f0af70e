//! Reconciliation for operators (`admin reconcile`, and on a schedule once
//! deployed): checkouts stuck unsettled past their holds, and Stripe events
//! whose delivery failed, each settled through the same fulfilment as the
//! webhook. Safe to run at any time, any number of times: every step it
//! takes is idempotent, so a second run finds nothing to change.

use jiff::{SignedDuration, Timestamp};

use crate::error::ApiError;
use crate::fulfilment::{Settled, Settlement, release};
use crate::attendance::AttendanceConfig;
use crate::refunds::Refunds;
use crate::payments::SessionPayment;
use crate::domain::CheckoutId;
use crate::store::{Booking, Checkout, CheckoutStatus};
use crate::webhook::EventHandler;
use crate::webhook::event::Event;

/// Stripe lists failed deliveries for the last 30 days.
const LOOKBACK: SignedDuration = SignedDuration::from_hours(30 * 24);

/// What one kind of item came to in a run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub settled: usize,
    pub still_failing: usize,
    pub needs_attention: usize,
}

/// A run's report: what changed, and per kind of item (stuck checkouts,
/// undelivered events, owed refunds, pending rooms) how many were settled,
/// are still failing (retried next run) or need a person.
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub changes: Vec<String>,
    pub checked_checkouts: usize,
    pub checked_events: usize,
    pub checkouts: Counts,
    pub events: Counts,
    pub refunds: Counts,
    pub rooms: Counts,
    /// Stored profiles a stricter rule now refuses (flagged for a person).
    pub profiles: Counts,
    /// Lessons whose outcome was decided (settled), or is still undecided.
    pub outcomes: Counts,
    /// Credit grants reminded of their expiry, or expired (settled).
    pub credits: Counts,
    /// One line per item still failing, with its error.
    pub failures: Vec<String>,
}

impl Report {
    /// Something is still failing: the run should be seen as failed.
    pub fn failed(&self) -> bool {
        !self.failures.is_empty()
    }

    fn failing(&mut self, kind: Kind, item: impl std::fmt::Display, err: impl std::fmt::Display) {
        tracing::error!(item = %item, error = %err, "reconcile: still failing");
        self.failures.push(format!("{item}: {err}"));
        self.counts(kind).still_failing += 1;
    }

    fn counts(&mut self, kind: Kind) -> &mut Counts {
        match kind {
            Kind::Checkouts => &mut self.checkouts,
            Kind::Events => &mut self.events,
            Kind::Refunds => &mut self.refunds,
            Kind::Rooms => &mut self.rooms,
            Kind::Profiles => &mut self.profiles,
            Kind::Outcomes => &mut self.outcomes,
            Kind::Credits => &mut self.credits,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Checkouts,
    Events,
    Refunds,
    Rooms,
    Profiles,
    Outcomes,
    Credits,
}

/// Settles each item on its own: one that fails is reported and retried by
/// the next run, and never keeps the others (or the refund sweep and the
/// room repair, which always run) from being settled.
pub async fn run(handler: &EventHandler, now: Timestamp) -> Report {
    run_with(handler, &AttendanceConfig::default(), now).await
}

/// [`run`] with the attendance settings the function was configured with.
pub async fn run_with(handler: &EventHandler, attendance: &AttendanceConfig, now: Timestamp) -> Report {
    let mut report = Report::default();
    stuck_checkouts(handler, now, &mut report).await;
    undelivered_events(handler, now, &mut report).await;
    owed_refunds(handler, now, &mut report).await;
    decided_rooms_once(handler, now, &mut report).await;
    pending_rooms(handler, &mut report).await;
    profile_problems(handler, now, &mut report).await;
    lesson_outcomes(handler, attendance, now, &mut report).await;
    credit_grants(handler, now, &mut report).await;
    crate::metrics::count(crate::metrics::Metric::ReconcileFailures, report.failures.len() as u64);
    report
}

async fn stuck_checkouts(handler: &EventHandler, now: Timestamp, report: &mut Report) {
    let first = crate::store::utc_day(now - LOOKBACK);
    let last = crate::store::utc_day(now);
    for day in first.series(jiff::Span::new().days(1)).take_while(|d| *d <= last) {
        let ids = match handler.store.unsettled_checkouts(day, now).await {
            Ok(ids) => ids,
            Err(err) => {
                report.failing(Kind::Checkouts, format!("unsettled checkouts of {day}"), err);
                continue;
            }
        };
        for id in ids {
            match stuck_checkout(handler, &id, now).await {
                Ok(None) => {}
                Ok(Some((before, after))) => {
                    report.checked_checkouts += 1;
                    if after == CheckoutStatus::NeedsAttention {
                        report.checkouts.needs_attention += 1;
                    } else if after != before {
                        report.checkouts.settled += 1;
                    }
                    if after != before {
                        report.changes.push(format!("{id} {} -> {}", before.as_str(), after.as_str()));
                    }
                }
                Err(err) => {
                    report.checked_checkouts += 1;
                    report.failing(Kind::Checkouts, &id, err);
                }
            }
        }
    }
}

/// One checkout from the index: `None` when it is not stuck after all.
async fn stuck_checkout(handler: &EventHandler, id: &CheckoutId, now: Timestamp) -> Result<Option<(CheckoutStatus, CheckoutStatus)>, ApiError> {
    // The index is eventually consistent; the checkout itself is not.
    let Some(checkout) = handler.store.get_checkout(id).await? else { return Ok(None) };
    if !matches!(checkout.status, CheckoutStatus::AwaitingPayment | CheckoutStatus::PaymentPending) || checkout.hold_until > now {
        return Ok(None);
    }
    let after = settle_stuck(handler, &checkout, now).await?.unwrap_or(checkout.status);
    Ok(Some((checkout.status, after)))
}

/// Asks Stripe what became of a stuck checkout's session and acts on it.
/// A checkout with no recorded session asks for it again under the same
/// idempotency key before anything is released: the session may have been
/// made, and paid, with only its answer lost.
async fn settle_stuck(handler: &EventHandler, checkout: &Checkout, now: Timestamp) -> Result<Option<CheckoutStatus>, ApiError> {
    let settlement = Settlement { store: &handler.store, payments: &handler.payments, rooms: &handler.rooms };
    let session = match handler.payments.session_id_of(checkout).await {
        Ok(session) => Some(session),
        // Stripe will not make it (its expiry is past, its key long gone): it never existed.
        Err(err) if err.is_refusal() && checkout.stripe_session_id.is_none() => None,
        Err(err) => return Err(ApiError::PaymentProvider(err.to_string())),
    };
    let facts = match session {
        Some(session) => handler.payments.completed_session(&session).await.map_err(|e| ApiError::PaymentProvider(e.to_string()))?,
        None => None,
    };
    let settled = match facts {
        Some(facts) if facts.payment == SessionPayment::Unpaid => settlement.payment_pending(&facts, now).await?,
        Some(facts) => settlement.paid(&facts, now).await?,
        // Never completed, and its holds are over: it expired.
        None if checkout.status == CheckoutStatus::AwaitingPayment => Settled::Checkout(release(&handler.store, checkout, CheckoutStatus::Expired, now).await?),
        None => Settled::Ignored("still pending"),
    };
    Ok(match settled {
        Settled::Checkout(after) => Some(after.status),
        Settled::Ignored(_) => None,
    })
}

/// Lessons whose end plus the grace has passed get their outcome, once.
async fn lesson_outcomes(handler: &EventHandler, attendance: &AttendanceConfig, now: Timestamp, report: &mut Report) {
    let decided = match crate::attendance::decide_due(handler, attendance, now).await {
        Ok(decided) => decided,
        Err(err) => return report.failing(Kind::Outcomes, "the lessons due for an outcome", err),
    };
    report.outcomes.settled += decided.outcomes.len();
    report.outcomes.needs_attention += decided.attention.len();
    report.changes.extend(decided.outcomes.iter().map(|(id, status)| format!("{id} {}", status.as_str())));
    for (id, err) in &decided.still_failing {
        report.failing(Kind::Outcomes, id, err);
    }
}

/// Grants whose reminder or expiry is due get it, once.
async fn credit_grants(handler: &EventHandler, now: Timestamp, report: &mut Report) {
    let swept = match crate::credits::sweep(&handler.store, now).await {
        Ok(swept) => swept,
        Err(err) => return report.failing(Kind::Credits, "the grants due for a reminder or their expiry", err),
    };
    report.credits.settled += swept.reminded.len() + swept.expired.len();
    report.changes.extend(swept.reminded.iter().map(|id| format!("{id} reminded of its expiry")));
    report.changes.extend(swept.expired.iter().map(|id| format!("{id} expired")));
    for (id, err) in &swept.still_failing {
        report.failing(Kind::Credits, id, err);
    }
}

/// Profiles a later, stricter rule refuses are served as stored; each is
/// listed once for `make attention` until someone fixes and resolves it.
async fn profile_problems(handler: &EventHandler, now: Timestamp, report: &mut Report) {
    let mut after: Option<String> = None;
    loop {
        let page = match handler.store.profile_page(after.as_deref(), 100).await {
            Ok(page) => page,
            Err(err) => return report.failing(Kind::Profiles, "the directory of profiles", err),
        };
        let problems = page.profiles.iter().filter_map(|s| s.problem.as_ref().map(|p| (s.profile.id().to_string(), format!("the profile (version {}) breaks a rule: {p}", s.version), p.field().to_owned())));
        let unreadable = page.unreadable.iter().map(|(id, why)| (id.clone(), format!("the profile cannot be read, so it is not offered at all: {why}"), "$".to_owned()));
        for (teacher, reason, field) in problems.chain(unreadable) {
            let attention = crate::store::Attention {
                kind: crate::store::AttentionKind::ProfileInvalid,
                subject: teacher.clone(),
                reason: format!("{teacher}: {reason}"),
                checkout_id: None,
                payment_intent: None,
                code: Some(field),
                due_by: None,
                created_at: now,
            };
            match handler.store.flag_attention(&attention).await {
                Ok(true) => {
                    report.profiles.needs_attention += 1;
                    report.changes.push(format!("{teacher} profile needs attention"));
                }
                Ok(false) => {}
                Err(err) => report.failing(Kind::Profiles, &teacher, err),
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return,
        }
    }
}

async fn undelivered_events(handler: &EventHandler, now: Timestamp, report: &mut Report) {
    let events = match handler.payments.undelivered_events(now - LOOKBACK).await {
        Ok(events) => events,
        Err(err) => return report.failing(Kind::Events, "the list of undelivered events", err),
    };
    for raw in events {
        let Ok(event) = Event::parse(raw.to_string().as_bytes()) else { continue };
        report.checked_events += 1;
        match handler.process(&event, now).await {
            // A duplicate or an event that is not ours changed nothing.
            Ok(ack) if ack.outcome == "duplicate" || ack.outcome.starts_with("ignored") => {}
            Ok(ack) => {
                if ack.outcome == CheckoutStatus::NeedsAttention.as_str() {
                    report.events.needs_attention += 1;
                } else {
                    report.events.settled += 1;
                }
                report.changes.push(format!("{} {} -> {}", event.id, event.kind, ack.outcome));
            }
            Err(err) => report.failing(Kind::Events, format!("{} {}", event.id, event.kind), err),
        }
    }
}

async fn owed_refunds(handler: &EventHandler, now: Timestamp, report: &mut Report) {
    let refunds = Refunds { store: &handler.store, payments: &handler.payments };
    let swept = match refunds.sweep(now).await {
        Ok(swept) => swept,
        Err(err) => return report.failing(Kind::Refunds, "the list of owed refunds", err),
    };
    report.refunds.settled += swept.settled.len();
    report.refunds.needs_attention += swept.attention.len();
    report.changes.extend(swept.settled.iter().map(|id| format!("{id} refund settled")));
    report.changes.extend(swept.attention.iter().map(|id| format!("{id} refund needs attention")));
    for (id, err) in &swept.still_failing {
        report.failing(Kind::Refunds, id, err);
    }
    // A payment whose refunds now add up to all of it cancels its bookings.
    let settlement = Settlement { store: &handler.store, payments: &handler.payments, rooms: &handler.rooms };
    for intent in &swept.payments {
        if let Err(err) = settlement.refunds_changed(intent, now).await {
            report.failing(Kind::Refunds, intent, err);
        }
    }
}

/// Bookings decided by a version that left their rooms open are listed for
/// the room repair (which closes them) once; a failure retries next run.
const DECIDED_ROOMS: &str = "decided-bookings-rooms-listed";

async fn decided_rooms_once(handler: &EventHandler, now: Timestamp, report: &mut Report) {
    let store = &handler.store;
    let listed = async {
        if store.migration_done(DECIDED_ROOMS).await? {
            return Ok(0);
        }
        let ids = store.decided_bookings_with_rooms().await?;
        for chunk in ids.chunks(25) {
            let items = chunk.iter().map(|id| store.pending_room_item(id)).collect::<Result<Vec<_>, _>>()?;
            // Unconditional puts: no condition can fail them.
            store.transact(items).await.map_err(|err| match err {
                crate::store::TransactError::Busy(err) | crate::store::TransactError::Store(err) => err,
                conflict @ crate::store::TransactError::Conflict { .. } => crate::store::StoreError::corrupt("list decided rooms", conflict),
            })?;
        }
        store.mark_migration_done(DECIDED_ROOMS, now).await?;
        Ok::<usize, crate::store::StoreError>(ids.len())
    };
    match listed.await {
        Ok(0) => {}
        Ok(n) => report.changes.push(format!("{n} rooms of lessons decided before rooms were closed listed to close")),
        Err(err) => report.failing(Kind::Rooms, "listing the rooms of decided lessons", err),
    }
}

async fn pending_rooms(handler: &EventHandler, report: &mut Report) {
    match handler.rooms.repair().await {
        Ok(repaired) => {
            report.rooms.settled += repaired.ready.len();
            report.changes.extend(repaired.ready.iter().map(|id| format!("{id} room ready")));
            for (id, why) in &repaired.failed {
                report.failing(Kind::Rooms, format!("{id} room"), why);
            }
        }
        Err(err) => report.failing(Kind::Rooms, "the list of pending rooms", err),
    }
}

/// `create-booking`, the operator's repair tool for one checkout: books a
/// paid checkout's lessons if that has not happened (asking Stripe whether
/// it was paid), makes their rooms, and returns the bookings. Idempotent.
pub async fn book_checkout(handler: &EventHandler, checkout_id: &CheckoutId, now: Timestamp) -> Result<(Checkout, Vec<Booking>), ApiError> {
    let checkout = handler.store.get_checkout(checkout_id).await?.ok_or_else(|| ApiError::CheckoutNotFound(checkout_id.to_string()))?;
    let settled = if checkout.status.is_settled() {
        checkout
    } else if checkout.amount_total == 0 {
        crate::fulfilment::confirm(&handler.store, checkout_id, "free", now).await?
    } else {
        let session = checkout.stripe_session_id.as_deref().ok_or_else(|| ApiError::CheckoutNotPaid(checkout_id.to_string()))?;
        let facts = handler.payments.completed_session(session).await.map_err(|e| ApiError::PaymentProvider(e.to_string()))?;
        let facts = facts.filter(|f| f.payment != SessionPayment::Unpaid).ok_or_else(|| ApiError::CheckoutNotPaid(checkout_id.to_string()))?;
        let settlement = Settlement { store: &handler.store, payments: &handler.payments, rooms: &handler.rooms };
        match settlement.paid(&facts, now).await? {
            Settled::Checkout(checkout) => checkout,
            Settled::Ignored(why) => return Err(ApiError::Internal(why.into())),
        }
    };
    handler.rooms.ensure_all(&settled.booking_ids).await?;
    let mut bookings = Vec::with_capacity(settled.booking_ids.len());
    for id in &settled.booking_ids {
        bookings.extend(handler.store.get_booking(id).await?);
    }
    Ok((settled, bookings))
}
