//! The hold transaction: a new checkout's holds, the checkout, its trial
//! claims, the release of the student's checkouts it supersedes, the
//! student's open-checkout set and the idempotency record, all in one
//! `TransactWriteItems` re-checked against fresh reads on every attempt.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use super::pricing::PricedCart;
use crate::availability;
use crate::domain::{CheckoutId, TeacherId};
use crate::error::ApiError;
use crate::fulfilment::{ReleasePlan, plan_release};
use crate::store::{BusyEntry, BusyKind, Checkout, DaySet, EditError, IdempotencyRecord, OpenCheckouts, Store, StoreError, days_to_read, days_touched};

/// Idempotency records outlive any replay a client would make.
const IDEMPOTENCY_TTL: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

/// The student's checkouts that can still be paid, as read for one attempt.
pub struct OpenSet {
    pub read: OpenCheckouts,
    pub live: Vec<Checkout>,
}

impl OpenSet {
    pub async fn read(store: &Store, student: &str, now: Timestamp) -> Result<Self, StoreError> {
        let read = store.get_open_checkouts(student).await?;
        let candidates: Vec<&CheckoutId> = read.open.iter().filter(|(_, hold_until)| **hold_until > now.as_second()).map(|(id, _)| id).collect();
        let live = if candidates.is_empty() { Vec::new() } else { store.get_checkouts(&candidates).await? };
        Ok(Self { live: live.into_iter().filter(|c| c.is_open(now)).collect(), read })
    }

    /// The open checkouts `new` supersedes: any lesson of theirs that the
    /// same teacher's lesson in `new` overlaps, buffer included (which is
    /// exactly what would otherwise make the new checkout a `409`).
    pub fn overlapping(&self, new: &Checkout) -> Vec<Checkout> {
        self.live.iter().filter(|old| old.lessons.iter().any(|o| new.lessons.iter().any(|n| overlaps(o, n)))).cloned().collect()
    }
}

/// The index of the first lesson of `new` that `old` overlaps.
pub fn first_overlap(old: &Checkout, new: &Checkout) -> usize {
    new.lessons.iter().position(|n| old.lessons.iter().any(|o| overlaps(o, n))).unwrap_or(0)
}

fn overlaps(old: &crate::store::CheckoutLesson, new: &crate::store::CheckoutLesson) -> bool {
    clashes(old, &new.teacher_id, new.start, new.end, new.buffer_minutes)
}

/// Whether a lesson of an open checkout and a new lesson of the same student
/// (one teacher, `start..end`, the teacher's buffer) overlap: what makes the
/// new checkout supersede the old one.
pub fn clashes(old: &crate::store::CheckoutLesson, teacher: &TeacherId, start: Timestamp, end: Timestamp, buffer_minutes: u32) -> bool {
    let pad = jiff::SignedDuration::from_mins(i64::from(buffer_minutes));
    &old.teacher_id == teacher && old.start < end + pad && start < old.end + pad
}

/// Why a hold attempt did not commit.
pub enum HoldError {
    /// State read outside the calendar (the open set, a superseded checkout,
    /// a trial claim to release, the idempotency key) changed: start over.
    Retry,
    Refused(ApiError),
}

impl From<ApiError> for HoldError {
    fn from(err: ApiError) -> Self {
        Self::Refused(err)
    }
}

pub struct Hold<'a> {
    pub checkout: &'a Checkout,
    pub priced: &'a PricedCart,
    pub superseded: &'a [ReleasePlan<'a>],
    pub open: &'a OpenSet,
    pub idempotency: Option<(&'a str, &'a IdempotencyRecord)>,
}

/// Why a transaction that books or holds slots refused inside its plan:
/// the index of the first lesson not offered, or the store.
pub(crate) enum Refusal {
    Slot(usize),
    Store(StoreError),
}

impl From<StoreError> for Refusal {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

impl Hold<'_> {
    /// Whether the hold would be placed now, without writing anything: the
    /// same rules as [`Hold::place`] on fresh strongly consistent reads. A
    /// changed cart asks this before expiring the sessions of the checkouts
    /// it supersedes, so a cart refused here leaves them payable. It cannot
    /// promise that `place` succeeds (another student may take a slot in
    /// between); what it rules out is refusing a cart that was never
    /// placeable after the old checkout was made unpayable.
    pub async fn check(&self, store: &Store, max_open: usize, now: Timestamp) -> Result<(), ApiError> {
        self.remaining(max_open)?;
        let mut set = DaySet::new(store.days(&self.days_to_read()).await?);
        self.plan_holds(&mut set, now).map_err(|lesson_index| ApiError::SlotUnavailable { lesson_index })?;
        for teacher in self.checkout.trial_teachers() {
            let replaces = self.replaced_claims(teacher);
            if store.get_trial_claim(&self.checkout.student_id, teacher).await?.is_some_and(|claim| claim.blocks(now, &replaces)) {
                return Err(ApiError::TrialAlreadyUsed(teacher.clone()));
            }
        }
        Ok(())
    }

    /// The open checkouts that stay open beside the new one, refused when
    /// they already reach the limit.
    fn remaining(&self, max_open: usize) -> Result<Vec<&Checkout>, ApiError> {
        let remaining: Vec<&Checkout> = self.open.live.iter().filter(|c| !self.superseded.iter().any(|s| s.checkout.checkout_id == c.checkout_id)).collect();
        if remaining.len() >= max_open {
            return Err(ApiError::TooManyOpenCheckouts(max_open));
        }
        Ok(remaining)
    }

    fn days_to_read(&self) -> BTreeSet<(TeacherId, jiff::civil::Date)> {
        let mut read: BTreeSet<_> = self.checkout.lessons.iter().flat_map(|l| days_to_read(&l.teacher_id, l.start, l.end, l.buffer_minutes)).collect();
        read.extend(self.superseded.iter().flat_map(ReleasePlan::days));
        read
    }

    /// Releases the superseded checkouts in `set` and adds the new one's
    /// holds; refuses with the index of the first lesson no longer offered.
    fn plan_holds(&self, set: &mut DaySet, now: Timestamp) -> Result<(), usize> {
        let checkout = self.checkout;
        for plan in self.superseded {
            plan_release(set, plan.checkout, now);
        }
        let own = [checkout.checkout_id.as_str()];
        for (i, lesson) in checkout.lessons.iter().enumerate() {
            let profile = &self.priced.profiles[&lesson.teacher_id];
            if !availability::is_offered(profile, lesson.duration_minutes, lesson.start, &set.busy_except(&lesson.teacher_id, &own), now) {
                return Err(i);
            }
            let hold = BusyEntry { start: lesson.start, end: lesson.end, kind: BusyKind::Hold, reference: checkout.checkout_id.to_string(), expires_at: Some(checkout.hold_until) };
            for day in days_touched(lesson.start, lesson.end, lesson.buffer_minutes) {
                set.edit(&lesson.teacher_id, day, now, |entries| entries.push(hold.clone()));
            }
        }
        Ok(())
    }

    /// The superseded checkouts whose trial claim with `teacher` the new
    /// checkout takes over.
    fn replaced_claims(&self, teacher: &TeacherId) -> Vec<&CheckoutId> {
        self.superseded.iter().filter(|p| p.claims.contains(teacher)).map(|p| &p.checkout.checkout_id).collect()
    }

    pub async fn place(&self, store: &Store, max_open: usize, now: Timestamp) -> Result<(), HoldError> {
        let checkout = self.checkout;
        let remaining = self.remaining(max_open)?;
        let read = self.days_to_read();
        let trials: Vec<&TeacherId> = checkout.trial_teachers().collect();
        // Item order, for mapping a failed condition back: checkout, trial
        // claims, then everything that only fails when state read outside
        // the calendar changed underneath.
        let result = store
            .edit_days(&read, |set| {
                self.plan_holds(set, now).map_err(Refusal::Slot)?;
                let mut items = vec![store.new_checkout_item(checkout)?];
                for teacher in &trials {
                    items.push(store.trial_claim_item(&checkout.student_id, teacher, &checkout.checkout_id, checkout.hold_until, now, &self.replaced_claims(teacher))?);
                }
                for plan in self.superseded {
                    items.extend(plan.items(store, &trials)?);
                }
                let mut open: BTreeMap<CheckoutId, i64> = remaining.iter().map(|c| (c.checkout_id.clone(), c.hold_until.as_second())).collect();
                open.insert(checkout.checkout_id.clone(), checkout.hold_until.as_second());
                items.push(store.open_checkouts_item(&checkout.student_id, &self.open.read, open)?);
                if let Some((hash, record)) = self.idempotency {
                    items.push(store.idempotency_item(hash, record, now, now + IDEMPOTENCY_TTL)?);
                }
                Ok(((), items))
            })
            .await;
        match result {
            Ok(()) => Ok(()),
            // The checkout's id is fresh: only our own earlier attempt, whose
            // answer was lost, can have written it, and with it everything else.
            Err(EditError::ItemConflict(0)) => Ok(()),
            Err(EditError::ItemConflict(i)) if i <= trials.len() => Err(ApiError::TrialAlreadyUsed(trials[i - 1].clone()).into()),
            Err(EditError::ItemConflict(_)) => Err(HoldError::Retry),
            Err(EditError::Rule(Refusal::Slot(i))) => Err(ApiError::SlotUnavailable { lesson_index: i }.into()),
            Err(EditError::Rule(Refusal::Store(err)) | EditError::Store(err)) => Err(ApiError::from(err).into()),
            Err(EditError::Contention) => Err(ApiError::Contention.into()),
            Err(EditError::TooLarge(n)) => Err(ApiError::invalid("lessons", format!("this cart would change {n} records at once; check out fewer lessons")).into()),
        }
    }
}
