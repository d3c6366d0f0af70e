//! What attendance stores: each peer's stay as the webhook reported it
//! (`BOOKING#<id>` / `STAY#<peer_id>`, so a repeated or reordered event
//! writes the same item), and the list of bookings whose outcome is due
//! (`OUTCOMES_DUE` / `<end>#<booking_id>`, written with the booking, moved
//! with it, removed when it is cancelled or decided), so the sweep reads
//! only what is due, however long the history.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use jiff::Timestamp;

use super::item::{key, s};
use super::keys::{PK, SK};
use super::{Booking, BookingStatus, Store, StoreError};
use crate::domain::{Attendance, BookingId, Stay};

const DUE: &str = "OUTCOMES_DUE";
const STAY_PREFIX: &str = "STAY#";

fn due_sk(booking: &BookingId, end: Timestamp) -> String {
    format!("{end}#{booking}")
}

/// A booking whose outcome is due, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub booking_id: BookingId,
    pub end: Timestamp,
}

impl Store {
    /// Records (or completes) one stay; safe to repeat and in any order.
    pub async fn record_stay(&self, booking: &BookingId, stay: &Stay) -> Result<(), StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(super::bookings::booking_pk(booking), &format!("{STAY_PREFIX}{}", stay.peer_id))))
            .expression_attribute_values(":peer", s(&stay.peer_id))
            .expression_attribute_values(":user", s(&stay.user_id))
            .expression_attribute_values(":joined", s(stay.joined_at.to_string()));
        let mut set = "peer_id = :peer, user_id = :user, joined_at = if_not_exists(joined_at, :joined)".to_owned();
        if let Some(role) = &stay.role {
            set.push_str(", #role = :role");
            update = update.expression_attribute_names("#role", "role").expression_attribute_values(":role", s(role));
        }
        if let Some(left) = stay.left_at {
            set.push_str(", left_at = :left");
            update = update.expression_attribute_values(":left", s(left.to_string()));
        }
        update.update_expression(format!("SET {set}")).send().await.map_err(|e| StoreError::sdk("record stay", e))?;
        Ok(())
    }

    /// Every stay the webhook stored for a booking.
    pub async fn stays_of(&self, booking: &BookingId) -> Result<Vec<Stay>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :stay)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(super::bookings::booking_pk(booking)))
            .expression_attribute_values(":stay", s(STAY_PREFIX))
            .consistent_read(true);
        let items = self.query_all("read stays", query).await?;
        items.into_iter().map(|i| serde_dynamo::from_item(i).map_err(|e| StoreError::corrupt("read stays", e))).collect()
    }

    /// Lists a confirmed booking for its outcome, for the transaction that
    /// creates (or moves) it.
    pub fn outcome_due_item(&self, booking: &Booking) -> Result<TransactWriteItem, StoreError> {
        let mut item = key(DUE.to_owned(), &due_sk(&booking.booking_id, booking.end));
        item.insert("booking_id".into(), s(booking.booking_id.as_str()));
        item.insert("end".into(), s(booking.end.to_string()));
        let put = Put::builder().table_name(&self.table).set_item(Some(item)).build().map_err(|e| StoreError::corrupt("list outcome due", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Takes a booking (as read) off the list: moved, cancelled or decided.
    pub fn outcome_undue_item(&self, booking: &Booking) -> Result<TransactWriteItem, StoreError> {
        self.outcome_due_key_delete_item(&Due { booking_id: booking.booking_id.clone(), end: booking.end })
    }

    /// Takes an entry off the list as it was listed (its booking moved,
    /// decided, cancelled or gone).
    pub fn outcome_due_key_delete_item(&self, due: &Due) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder().table_name(&self.table).set_key(Some(key(DUE.to_owned(), &due_sk(&due.booking_id, due.end)))).build().map_err(|e| StoreError::corrupt("unlist outcome due", e))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Bookings that ended at or before `ended_by`, oldest first.
    pub async fn outcomes_due(&self, ended_by: Timestamp) -> Result<Vec<Due>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #sk <= :cutoff")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(DUE))
            .expression_attribute_values(":cutoff", s(format!("{ended_by}#~")));
        let items = self.query_all("list outcomes due", query).await?;
        Ok(items
            .iter()
            .filter_map(|i: &HashMap<String, AttributeValue>| {
                let id = BookingId::parse(i.get("booking_id")?.as_s().ok()?).ok()?;
                let end = i.get("end")?.as_s().ok()?.parse().ok()?;
                Some(Due { booking_id: id, end })
            })
            .collect())
    }

    /// An operator's outcome for a booking (as read), kept in its
    /// `outcome_history` with who and when; conditioned on the status read.
    pub fn booking_overrule_item(&self, booking: &Booking, to: BookingStatus, by: &str, at: Timestamp) -> Result<TransactWriteItem, StoreError> {
        let change = serde_dynamo::to_attribute_value(vec![serde_json::json!({"from": booking.status.as_str(), "to": to.as_str(), "by": by, "at": at.to_string()})]).map_err(|e| StoreError::corrupt("overrule outcome", e))?;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(super::bookings::booking_pk(&booking.booking_id), "BOOKING")))
            .update_expression(format!("SET #status = :to, outcome_history = list_append(if_not_exists(outcome_history, :none), :change), {}", super::bookings::RAISE_SEQUENCE))
            .condition_expression("#status = :from AND #start = :start")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#start", "start")
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":from", s(booking.status.as_str()))
            .expression_attribute_values(":start", s(booking.start.to_string()))
            .expression_attribute_values(":none", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":change", change)
            .expression_attribute_values(":seq_zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":seq_one", AttributeValue::N("1".into()))
            .expression_attribute_names("#sequence", "sequence")
            .build()
            .map_err(|e| StoreError::corrupt("overrule outcome", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The outcome of a confirmed booking (as read), with each party's
    /// presence: written once, whoever decides at the same time. `outcome`
    /// `Confirmed` records the attendance and leaves the status for a person
    /// to decide.
    pub fn booking_outcome_item(&self, booking: &Booking, outcome: BookingStatus, attendance: &Attendance) -> Result<TransactWriteItem, StoreError> {
        let attendance = serde_dynamo::to_attribute_value(attendance).map_err(|e| StoreError::corrupt("record outcome", e))?;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(super::bookings::booking_pk(&booking.booking_id), "BOOKING")))
            .update_expression(format!("SET #status = :outcome, attendance = :attendance, {}", super::bookings::RAISE_SEQUENCE))
            .condition_expression("#status = :confirmed AND #start = :start")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#start", "start")
            .expression_attribute_values(":outcome", s(outcome.as_str()))
            .expression_attribute_values(":attendance", attendance)
            .expression_attribute_values(":confirmed", s("confirmed"))
            .expression_attribute_values(":start", s(booking.start.to_string()))
            .expression_attribute_values(":seq_zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":seq_one", AttributeValue::N("1".into()))
            .expression_attribute_names("#sequence", "sequence")
            .build()
            .map_err(|e| StoreError::corrupt("record outcome", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}
