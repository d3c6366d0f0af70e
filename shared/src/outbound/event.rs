//! The events the webhooks receive, built from a notice when it fans out:
//! `{"type", "timestamp", "data"}` as Standard Webhooks suggests, the data
//! being what the change is about as it is then. Each event has one id
//! (`webhook-id`) derived from its notice, the same for every endpoint and
//! retry, so a receiver deduplicates on it.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::domain::{BookingId, CheckoutId};
use crate::store::{Booking, Notice, Store, StoreError, Topic};

/// Every event type, as `admin webhooks add` accepts them.
pub const EVENT_TYPES: [&str; 7] = ["booking.confirmed", "booking.rescheduled", "booking.cancelled", "booking.outcome", "refund.succeeded", "refund.failed", "earning.transferred"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub event_type: &'static str,
    /// The body, as signed.
    pub body: String,
}

pub fn event_type(topic: Topic) -> Option<&'static str> {
    match topic {
        Topic::Confirmed => Some("booking.confirmed"),
        Topic::Rescheduled => Some("booking.rescheduled"),
        Topic::Cancelled => Some("booking.cancelled"),
        Topic::Outcome => Some("booking.outcome"),
        Topic::RefundSucceeded => Some("refund.succeeded"),
        Topic::RefundFailed => Some("refund.failed"),
        Topic::Transferred => Some("earning.transferred"),
        Topic::Reminder | Topic::CreditsExpiring => None,
    }
}

fn booking_data(b: &Booking) -> Value {
    json!({
        "booking_id": b.booking_id, "checkout_id": b.checkout_id, "teacher_id": b.teacher_id, "student_id": b.student_id,
        "start": b.start, "end": b.end, "duration_minutes": b.duration_minutes, "status": b.status.as_str(), "sequence": b.sequence,
        "amount": b.amount, "currency": b.currency, "cancelled_by": b.cancelled_by.map(|c| c.as_str()), "refund_amount": b.refund_amount,
        "reschedule_count": b.reschedule_count,
    })
}

/// The id of the event about `about` that `notice` announces.
fn event_id(notice: &Notice, about: &str) -> String {
    let key = notice.key();
    let digest = Sha256::digest(format!("{}|{}|{about}|{}", key.pk, key.sk, notice.created_at.as_millisecond()).as_bytes());
    format!("msg_{}", &hex::encode(digest)[..32])
}

fn event(notice: &Notice, event_type: &'static str, about: &str, data: Value) -> Event {
    let body = json!({"type": event_type, "timestamp": notice.created_at, "data": data}).to_string();
    Event { id: event_id(notice, about), event_type, body }
}

/// The events a notice to the webhooks announces (one per booking of a
/// confirmed checkout); none when what it is about is gone.
pub async fn events_of(store: &Store, notice: &Notice) -> Result<Vec<Event>, StoreError> {
    let Some(event_type) = event_type(notice.topic) else { return Ok(Vec::new()) };
    let mut events = Vec::new();
    match notice.topic {
        Topic::Confirmed => {
            let Some(checkout) = CheckoutId::parse(&notice.subject).ok() else { return Ok(events) };
            let Some(checkout) = store.get_checkout(&checkout).await? else { return Ok(events) };
            for id in &checkout.booking_ids {
                if let Some(booking) = store.get_booking(id).await? {
                    events.push(event(notice, event_type, id.as_str(), booking_data(&booking)));
                }
            }
        }
        Topic::RefundSucceeded | Topic::RefundFailed => {
            let Some(intent) = &notice.payment_intent else { return Ok(events) };
            let ledger = store.ledger(intent).await?;
            if let Some(o) = ledger.obligations.iter().find(|o| o.obligation_id == notice.subject) {
                let data = json!({
                    "obligation_id": o.obligation_id, "payment_intent": o.payment_intent, "checkout_id": o.checkout_id, "booking_id": o.booking_id,
                    "amount": o.amount, "currency": o.currency, "reason": o.reason, "status": o.status.as_str(), "refund_id": o.refund_id, "error": o.error,
                });
                events.push(event(notice, event_type, &o.obligation_id, data));
            }
        }
        Topic::Transferred => {
            let (Some(intent), Ok(booking)) = (&notice.payment_intent, BookingId::parse(&notice.subject)) else { return Ok(events) };
            let ledger = store.ledger(intent).await?;
            if let Some(e) = ledger.earnings.iter().find(|e| e.booking_id == booking && e.provider_id.is_some()) {
                let reversed: u64 = ledger.reversals.iter().filter(|r| r.booking_id == booking && r.status == crate::store::WorkStatus::Done).map(|r| r.amount).sum();
                let data = json!({
                    "booking_id": e.booking_id, "checkout_id": e.checkout_id, "teacher_id": e.teacher_id, "payment_intent": e.payment_intent,
                    "basis": e.basis, "amount": e.transferred, "currency": e.currency, "commission_percent": e.commission, "transfer_id": e.provider_id,
                    "transferred_at": e.transferred_at, "reversed": reversed,
                });
                events.push(event(notice, event_type, booking.as_str(), data));
            }
        }
        _ => {
            let Some(id) = BookingId::parse(&notice.subject).ok() else { return Ok(events) };
            if let Some(booking) = store.get_booking(&id).await? {
                events.push(event(notice, event_type, id.as_str(), booking_data(&booking)));
            }
        }
    }
    Ok(events)
}
