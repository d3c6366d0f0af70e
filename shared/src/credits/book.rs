//! Booking with credits: each lesson takes one credit of its teacher and
//! duration (from the grant expiring first that lasts past its start) in
//! the one transaction that checks its slot, writes its booking and records
//! the checkout as confirmed, so no Stripe call is made and nothing is ever
//! held. Two checkouts racing for the last credit both condition on the
//! grant's version: exactly one commits, and the other reads again and
//! finds the credit gone.

use std::collections::BTreeSet;

use jiff::Timestamp;

use crate::availability;
use crate::checkout::Refusal;
use crate::domain::{CancellationPolicy, TeacherId, TeacherProfile};
use crate::error::{ApiError, MissingCredits};
use crate::fulfilment::{booked_items, booking_of};
use crate::store::{
    Backoff, BusyEntry, CONTENTION_BUDGET, Checkout, CheckoutStatus, CreditUse, DaySet, EditError, Grant, IdempotencyRecord, Store, days_to_read, days_touched,
};

/// Idempotency records outlive any replay a client would make.
const IDEMPOTENCY_TTL: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

/// What one attempt decided: the confirmed checkout and the grants it changed (with the versions read).
struct Spent {
    checkout: Checkout,
    grants: Vec<(Grant, u64)>,
}

/// Assigns a credit to each lesson of `checkout` from `grants`, or says
/// what is missing. Earliest lessons first, each from the usable grant
/// that expires first.
fn assign(checkout: &Checkout, grants: &[Grant], now: Timestamp) -> Result<Spent, Vec<MissingCredits>> {
    let mut working: Vec<(Grant, u64)> = grants.iter().map(|g| (g.clone(), g.version)).collect();
    working.sort_by_key(|(g, _)| (g.expires_at, g.created_at));
    let mut lessons = checkout.lessons.clone();
    let mut order: Vec<usize> = (0..lessons.len()).collect();
    order.sort_by_key(|&i| lessons[i].start);
    let mut short: BTreeSet<(TeacherId, u32)> = BTreeSet::new();
    for i in order {
        let lesson = &mut lessons[i];
        let found = working.iter_mut().find(|(g, _)| fits(g, &lesson.teacher_id, lesson.duration_minutes, checkout.currency, lesson.start, now));
        match found.map(|(grant, _)| grant.take(&lesson.booking_id, now).map(|index| (grant, index))) {
            Some(Ok((grant, index))) => {
                lesson.amount = grant.unit_values[index];
                // The policy sold with the package, not today's.
                lesson.policy = Some(grant.policy);
                lesson.credit = Some(CreditUse {
                    grant_id: grant.grant_id.clone(),
                    payment_intent: grant.payment_intent.clone(),
                    package_checkout: grant.checkout_id.clone(),
                    booked_by: Some(checkout.checkout_id.clone()),
                    index,
                });
            }
            _ => {
                short.insert((lesson.teacher_id.clone(), lesson.duration_minutes));
            }
        }
    }
    if !short.is_empty() {
        return Err(short.into_iter().map(|(teacher, duration)| missing(checkout, grants, teacher, duration, now)).collect());
    }
    let booking_ids = lessons.iter().map(|l| l.booking_id.clone()).collect();
    let confirmed = Checkout { lessons, booking_ids, status: CheckoutStatus::Confirmed, payment_status: Some("credits".into()), amount_total: 0, paid_with_credits: true, ..checkout.clone() };
    let touched: BTreeSet<String> = confirmed.lessons.iter().filter_map(|l| l.credit.as_ref()).map(|c| c.grant_id.clone()).collect();
    Ok(Spent { checkout: confirmed, grants: working.into_iter().filter(|(g, _)| touched.contains(&g.grant_id)).collect() })
}

/// Whether `grant` can pay for a lesson of `teacher` and `duration` in
/// `currency` (a teacher who changed currency since cannot be paid in the old one) at `start`.
fn fits(grant: &Grant, teacher: &TeacherId, duration: u32, currency: crate::domain::Currency, start: Timestamp, now: Timestamp) -> bool {
    &grant.teacher_id == teacher && grant.duration_minutes == duration && grant.currency == currency && grant.usable_for(start, now)
}

/// What the lessons of `teacher` and `duration` need, and the credits usable
/// for the earliest of them (a later one may outlast some grants).
fn missing(checkout: &Checkout, grants: &[Grant], teacher: TeacherId, duration: u32, now: Timestamp) -> MissingCredits {
    let lessons: Vec<_> = checkout.lessons.iter().filter(|l| l.teacher_id == teacher && l.duration_minutes == duration).collect();
    let first = lessons.iter().map(|l| l.start).min().unwrap_or(now);
    let available = grants.iter().filter(|g| fits(g, &teacher, duration, checkout.currency, first, now)).map(Grant::remaining).sum();
    MissingCredits { teacher_id: teacher, duration_minutes: duration, needed: u32::try_from(lessons.len()).unwrap_or(u32::MAX), available }
}

pub struct CreditCheckout<'a> {
    pub checkout: &'a Checkout,
    pub profiles: &'a std::collections::HashMap<TeacherId, TeacherProfile>,
    pub idempotency: Option<(&'a str, &'a IdempotencyRecord)>,
}

/// How a credit checkout ended.
pub enum Booked {
    Confirmed(Checkout),
    /// The idempotency key was written by a concurrent request: answer as it did.
    Replay,
}

impl CreditCheckout<'_> {
    pub async fn book(&self, store: &Store, now: Timestamp) -> Result<Booked, ApiError> {
        if let Some(i) = self.checkout.lessons.iter().position(|l| l.trial) {
            return Err(ApiError::invalid(format!("lessons[{i}].trial"), "a trial lesson is not paid with credits"));
        }
        let mut backoff = Backoff::new(CONTENTION_BUDGET);
        loop {
            let grants = store.grants_of(&self.checkout.student_id).await?;
            let spent = assign(self.checkout, &grants, now).map_err(ApiError::InsufficientCredits)?;
            match self.commit(store, &spent, now).await {
                Ok(()) => {
                    tracing::info!(checkout_id = %spent.checkout.checkout_id, lessons = spent.checkout.lessons.len(), "booked with credits");
                    return Ok(Booked::Confirmed(spent.checkout));
                }
                // The checkout's id is fresh: only our own earlier attempt,
                // whose answer was lost, can have written it.
                Err(EditError::ItemConflict(0)) => return Ok(Booked::Confirmed(spent.checkout)),
                Err(EditError::ItemConflict(i)) if i > spent.grants.len() && self.idempotency.is_some() => return Ok(Booked::Replay),
                // A grant changed since it was read (another checkout took a credit, one came back).
                Err(EditError::ItemConflict(_)) if backoff.wait().await => {}
                Err(EditError::ItemConflict(_) | EditError::Contention) => return Err(ApiError::Contention),
                Err(EditError::Rule(Refusal::Slot(i))) => return Err(ApiError::SlotUnavailable { lesson_index: i }),
                Err(EditError::Rule(Refusal::Store(err)) | EditError::Store(err)) => return Err(err.into()),
                Err(EditError::TooLarge(n)) => return Err(ApiError::invalid("lessons", format!("this cart would change {n} records at once; check out fewer lessons"))),
            }
        }
    }

    /// Item order: the checkout, the grants, then everything else.
    async fn commit(&self, store: &Store, spent: &Spent, now: Timestamp) -> Result<(), EditError<Refusal>> {
        let checkout = &spent.checkout;
        let read: BTreeSet<_> = checkout.lessons.iter().flat_map(|l| days_to_read(&l.teacher_id, l.start, l.end, l.buffer_minutes)).collect();
        let policy_of = |i: usize| checkout.lessons[i].policy.unwrap_or_default();
        store
            .edit_days(&read, |set| {
                self.plan(set, checkout, now).map_err(Refusal::Slot)?;
                let mut items = vec![store.new_checkout_item(checkout)?];
                for (grant, version) in &spent.grants {
                    items.push(store.grant_put_item(grant, Some(*version))?);
                }
                for i in 0..checkout.lessons.len() {
                    items.push(store.new_booking_item(&booking_of(checkout, i, "credits", policy_of(i), now))?);
                }
                if let Some((hash, record)) = self.idempotency {
                    items.push(store.idempotency_item(hash, record, now, now + IDEMPOTENCY_TTL)?);
                }
                let all: Vec<usize> = (0..checkout.lessons.len()).collect();
                items.extend(booked_items(store, checkout, &all, "credits", &policy_of as &dyn Fn(usize) -> CancellationPolicy, now)?);
                Ok(((), items))
            })
            .await
    }

    /// Books each lesson straight into `set` if get-slots offers it; the
    /// index of the first that is not.
    fn plan(&self, set: &mut DaySet, checkout: &Checkout, now: Timestamp) -> Result<(), usize> {
        for (i, lesson) in checkout.lessons.iter().enumerate() {
            let profile = &self.profiles[&lesson.teacher_id];
            if !availability::is_offered(profile, lesson.duration_minutes, lesson.start, &set.busy_except(&lesson.teacher_id, &[]), now) {
                return Err(i);
            }
            let entry = BusyEntry::booking(&lesson.booking_id, lesson.start, lesson.end);
            for day in days_touched(lesson.start, lesson.end, lesson.buffer_minutes) {
                set.edit(&lesson.teacher_id, day, now, |entries| entries.push(entry.clone()));
            }
        }
        Ok(())
    }
}
