//! Turning a checkout's held lessons into bookings. Used by the webhook when
//! Stripe reports payment and by checkout itself for free carts, so there is
//! one way a booking comes to exist.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};

use crate::domain::TeacherId;
use crate::store::{Booking, BusyEntry, BusyKind, Checkout, CheckoutStatus, EditError, Store, StoreError, days_touched, lesson_span};

#[derive(Debug, thiserror::Error)]
pub enum FulfilError {
    #[error("checkout {0} does not exist")]
    UnknownCheckout(String),
    #[error("checkout is {0:?} and cannot be confirmed")]
    NotConfirmable(CheckoutStatus),
    #[error("lesson {0} was taken by someone else after its hold lapsed")]
    LessonTaken(usize),
    #[error("teacher {0} no longer exists")]
    UnknownTeacher(TeacherId),
    #[error("the calendar is too busy to confirm right now")]
    Contention,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Confirms every lesson of a checkout, atomically: the bookings, the
/// calendar entries (hold → booking) and the checkout's status move
/// together or not at all. Confirming an already confirmed checkout returns it unchanged.
pub async fn confirm(store: &Store, checkout_id: &crate::domain::CheckoutId, payment_status: &str, now: Timestamp) -> Result<Checkout, FulfilError> {
    for _ in 0..3 {
        let checkout = store.get_checkout(checkout_id).await?.ok_or_else(|| FulfilError::UnknownCheckout(checkout_id.to_string()))?;
        match checkout.status {
            CheckoutStatus::Confirmed => return Ok(checkout),
            CheckoutStatus::AwaitingPayment | CheckoutStatus::Paid => {}
            other => return Err(FulfilError::NotConfirmable(other)),
        }
        let mut by_teacher: HashMap<&TeacherId, u32> = HashMap::new();
        for lesson in &checkout.lessons {
            if !by_teacher.contains_key(&lesson.teacher_id) {
                let profile = store.get_profile(&lesson.teacher_id).await?.ok_or_else(|| FulfilError::UnknownTeacher(lesson.teacher_id.clone()))?;
                by_teacher.insert(&lesson.teacher_id, profile.buffer_minutes());
            }
        }
        let buffers: Vec<u32> = checkout.lessons.iter().map(|l| by_teacher[&l.teacher_id]).collect();
        match write_bookings(store, &checkout, &buffers, payment_status, now).await {
            Ok(confirmed) => return Ok(confirmed),
            // Another confirmation raced us; the re-read tells who won.
            Err(EditError::ItemConflict(_)) => continue,
            Err(EditError::Rule(err)) => return Err(err),
            Err(EditError::Contention) => return Err(FulfilError::Contention),
            Err(EditError::Store(err)) => return Err(err.into()),
        }
    }
    Err(FulfilError::Contention)
}

async fn write_bookings(store: &Store, checkout: &Checkout, buffers: &[u32], payment_status: &str, now: Timestamp) -> Result<Checkout, EditError<FulfilError>> {
    let spans: Vec<_> = checkout.lessons.iter().zip(buffers).map(|(l, b)| lesson_span(&l.teacher_id, l.start, l.end, *b)).collect();
    let reference = checkout.checkout_id.as_str();
    store
        .edit_days(&spans, |set| {
            for (index, (lesson, buffer)) in checkout.lessons.iter().zip(buffers).enumerate() {
                let pad = SignedDuration::from_mins(i64::from(*buffer));
                let taken = set.busy_entries(&lesson.teacher_id).into_iter().any(|e| {
                    e.reference != reference && e.expires_at.is_none_or(|at| at > now) && e.start < lesson.end + pad && lesson.start < e.end + pad
                });
                if taken {
                    return Err(FulfilError::LessonTaken(index));
                }
                let entry = BusyEntry { start: lesson.start, end: lesson.end, kind: BusyKind::Booking, reference: lesson.booking_id.to_string(), expires_at: None };
                for day in days_touched(lesson.start, lesson.end, *buffer) {
                    set.edit(&lesson.teacher_id, day, now, |entries| {
                        entries.retain(|e| !(e.reference == reference && e.start == lesson.start));
                        entries.push(entry.clone());
                    });
                }
            }
            let bookings = checkout.lessons.iter().map(|l| Booking {
                booking_id: l.booking_id.clone(),
                checkout_id: checkout.checkout_id.clone(),
                teacher_id: l.teacher_id.clone(),
                student_id: checkout.student_id.clone(),
                start: l.start,
                end: l.end,
                duration_minutes: l.duration_minutes,
                amount: l.amount,
                currency: checkout.currency,
                trial: l.trial,
                created_at: now,
            });
            let confirmed = Checkout {
                status: CheckoutStatus::Confirmed,
                payment_status: Some(payment_status.to_owned()),
                booking_ids: checkout.lessons.iter().map(|l| l.booking_id.clone()).collect(),
                ..checkout.clone()
            };
            let mut items = bookings.map(|b| store.new_booking_item(&b)).collect::<Result<Vec<_>, _>>().map_err(FulfilError::Store)?;
            items.push(store.checkout_update_item(&confirmed, checkout.status).map_err(FulfilError::Store)?);
            Ok((confirmed, items))
        })
        .await
}
