//! Reconciliation for operators (`admin reconcile`, and on a schedule once
//! deployed): checkouts stuck unsettled past their holds, and Stripe events
//! whose delivery failed, each settled through the same fulfilment as the
//! webhook. Safe to run at any time, any number of times: every step it
//! takes is idempotent, so a second run finds nothing to change.

use jiff::{SignedDuration, Timestamp};

use crate::error::ApiError;
use crate::fulfilment::{Settled, Settlement, release};
use crate::payments::SessionPayment;
use crate::domain::CheckoutId;
use crate::store::{Booking, Checkout, CheckoutStatus};
use crate::webhook::EventHandler;
use crate::webhook::event::Event;

/// Stripe lists failed deliveries for the last 30 days.
const LOOKBACK: SignedDuration = SignedDuration::from_hours(30 * 24);

/// One line per thing reconciliation changed.
#[derive(Debug, Default)]
pub struct Report {
    pub changes: Vec<String>,
    pub checked_checkouts: usize,
    pub checked_events: usize,
}

pub async fn run(handler: &EventHandler, now: Timestamp) -> Result<Report, ApiError> {
    let mut report = Report::default();
    stuck_checkouts(handler, now, &mut report).await?;
    undelivered_events(handler, now, &mut report).await?;
    let repaired = handler.rooms.repair().await?;
    report.changes.extend(repaired.ready.iter().map(|id| format!("{id} room ready")));
    report.changes.extend(repaired.failed.iter().map(|(id, why)| format!("{id} room still not ready: {why}")));
    Ok(report)
}

async fn stuck_checkouts(handler: &EventHandler, now: Timestamp, report: &mut Report) -> Result<(), ApiError> {
    let first = crate::store::utc_day(now - LOOKBACK);
    let last = crate::store::utc_day(now);
    for day in first.series(jiff::Span::new().days(1)).take_while(|d| *d <= last) {
        for id in handler.store.unsettled_checkouts(day, now).await? {
            // The index is eventually consistent; the checkout itself is not.
            let Some(checkout) = handler.store.get_checkout(&id).await? else { continue };
            if !matches!(checkout.status, CheckoutStatus::AwaitingPayment | CheckoutStatus::PaymentPending) || checkout.hold_until > now {
                continue;
            }
            report.checked_checkouts += 1;
            if let Some(after) = settle_stuck(handler, &checkout, now).await?.filter(|after| *after != checkout.status) {
                report.changes.push(format!("{} {} -> {}", checkout.checkout_id, checkout.status.as_str(), after.as_str()));
            }
        }
    }
    Ok(())
}

/// Asks Stripe what became of a stuck checkout's session and acts on it.
async fn settle_stuck(handler: &EventHandler, checkout: &Checkout, now: Timestamp) -> Result<Option<CheckoutStatus>, ApiError> {
    let settlement = Settlement { store: &handler.store, payments: &handler.payments, rooms: &handler.rooms };
    let facts = match &checkout.stripe_session_id {
        Some(session) => handler.payments.completed_session(session).await.map_err(|e| ApiError::PaymentProvider(e.to_string()))?,
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

async fn undelivered_events(handler: &EventHandler, now: Timestamp, report: &mut Report) -> Result<(), ApiError> {
    let events = handler.payments.undelivered_events(now - LOOKBACK).await.map_err(|e| ApiError::PaymentProvider(e.to_string()))?;
    for raw in events {
        let Ok(event) = Event::parse(raw.to_string().as_bytes()) else { continue };
        report.checked_events += 1;
        let ack = handler.process(&event, now).await?;
        if ack.outcome != "duplicate" && !ack.outcome.starts_with("ignored") {
            report.changes.push(format!("{} {} -> {}", event.id, event.kind, ack.outcome));
        }
    }
    Ok(())
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
