//! The busy calendar: one item per teacher per UTC day, holding that day's
//! busy intervals (holds and bookings) and a version number. Every write is
//! conditioned on the version read, so two writers that both saw a free slot
//! cannot both succeed: the loser's transaction is cancelled and it re-reads.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::keys::{self, PK, SK};
use super::{MAX_BATCH_GET, Store, StoreError};
use crate::availability::Busy;
use crate::domain::{Interval, TeacherId};

/// Whether a read must see every write acknowledged before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    Consistent,
    Eventual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusyKind {
    Hold,
    Booking,
}

/// One busy interval as stored: the lesson itself (buffers are applied when
/// slots are computed, so a changed buffer takes effect at once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusyEntry {
    pub start: Timestamp,
    pub end: Timestamp,
    pub kind: BusyKind,
    /// The checkout (for a hold) or booking that owns the interval.
    pub reference: String,
    /// When a hold stops blocking; bookings never expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

impl BusyEntry {
    /// A booking's interval: it never expires.
    pub fn booking(id: &crate::domain::BookingId, start: Timestamp, end: Timestamp) -> Self {
        Self { start, end, kind: BusyKind::Booking, reference: id.to_string(), expires_at: None }
    }

    pub fn as_busy(&self) -> Busy {
        Busy { start: self.start, end: self.end, expires_at: self.expires_at }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarDay {
    pub teacher_id: TeacherId,
    pub day: Date,
    /// 0 means "no item yet": the first write must create it.
    pub version: u64,
    pub busy: Vec<BusyEntry>,
}

#[derive(Serialize)]
struct DayItem<'a> {
    pk: String,
    sk: String,
    #[serde(flatten)]
    day: &'a CalendarDay,
}

/// Replaces a day's busy list, provided nobody wrote it since `read.version`.
#[derive(Debug, Clone)]
pub struct DayWrite {
    pub read: CalendarDay,
    pub busy: Vec<BusyEntry>,
}

impl Store {
    /// Every calendar day of `teacher` from `first` to `last` (UTC days,
    /// inclusive), with a missing item returned as an empty version-0 day.
    /// One Query, paged only past 1 MB.
    pub async fn calendar_days(&self, teacher: &TeacherId, first: Date, last: Date, read: Read) -> Result<Vec<CalendarDay>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :first AND :last")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", AttributeValue::S(keys::teacher_pk(teacher)))
            .expression_attribute_values(":first", AttributeValue::S(keys::day_sk(first)))
            .expression_attribute_values(":last", AttributeValue::S(keys::day_sk(last)))
            .consistent_read(read == Read::Consistent);
        let mut stored: HashMap<Date, CalendarDay> = HashMap::new();
        for item in self.query_all("query calendar", query).await? {
            let day: CalendarDay = serde_dynamo::from_item(item).map_err(|e| StoreError::corrupt("query calendar", e))?;
            stored.insert(day.day, day);
        }
        let days = first.series(jiff::Span::new().days(1)).take_while(|d| *d <= last);
        Ok(days
            .map(|day| stored.remove(&day).unwrap_or_else(|| CalendarDay { teacher_id: teacher.clone(), day, version: 0, busy: Vec::new() }))
            .collect())
    }

    /// Exactly the given days (any teachers), strongly consistent, missing
    /// ones as empty version-0 days: what a read-check-write needs, at one
    /// round trip for up to 100 days whatever their spread.
    pub async fn days(&self, wanted: &BTreeSet<(TeacherId, Date)>) -> Result<Vec<CalendarDay>, StoreError> {
        let keys: Vec<HashMap<String, AttributeValue>> = wanted
            .iter()
            .map(|(teacher, day)| HashMap::from([(PK.to_owned(), AttributeValue::S(keys::teacher_pk(teacher))), (SK.to_owned(), AttributeValue::S(keys::day_sk(*day)))]))
            .collect();
        let batches = keys.chunks(MAX_BATCH_GET).map(|chunk| self.batch_get("read calendar", chunk.to_vec()));
        let mut stored: HashMap<(TeacherId, Date), CalendarDay> = HashMap::new();
        for batch in futures::future::join_all(batches).await {
            for item in batch? {
                let day: CalendarDay = serde_dynamo::from_item(item).map_err(|e| StoreError::corrupt("read calendar", e))?;
                stored.insert((day.teacher_id.clone(), day.day), day);
            }
        }
        Ok(wanted
            .iter()
            .map(|key| stored.remove(key).unwrap_or_else(|| CalendarDay { teacher_id: key.0.clone(), day: key.1, version: 0, busy: Vec::new() }))
            .collect())
    }

    /// The busy intervals that can matter for slots starting in `window`:
    /// the UTC days it touches, widened by a day on each side so lessons and
    /// buffers that cross midnight are seen. Eventually consistent (half the
    /// read cost, and get-slots is the most frequent call): a slot that
    /// looks free for a moment longer is re-checked, strongly, at checkout.
    pub async fn busy_around(&self, teacher: &TeacherId, window: Interval) -> Result<Vec<Busy>, StoreError> {
        let mut busy: Vec<Busy> = self.busy_entries_around(teacher, window).await?.iter().map(BusyEntry::as_busy).collect();
        busy.dedup();
        Ok(busy)
    }

    /// [`Store::busy_around`] with each interval's owner, once each.
    pub async fn busy_entries_around(&self, teacher: &TeacherId, window: Interval) -> Result<Vec<BusyEntry>, StoreError> {
        let first = keys::utc_day(window.start()).yesterday().map_err(|e| StoreError::corrupt("busy window", e))?;
        let last = keys::utc_day(window.end()).tomorrow().map_err(|e| StoreError::corrupt("busy window", e))?;
        let days = self.calendar_days(teacher, first, last, Read::Eventual).await?;
        let mut entries: Vec<BusyEntry> = days.into_iter().flat_map(|d| d.busy).collect();
        // An interval crossing midnight is stored on each day it touches.
        entries.sort_by(|a, b| (a.start, a.end, &a.reference).cmp(&(b.start, b.end, &b.reference)));
        entries.dedup();
        Ok(entries)
    }

    /// The transaction item for one day write, so callers can combine day
    /// writes with their own items (checkout, markers) in one transaction.
    pub fn day_write_item(&self, write: &DayWrite) -> Result<TransactWriteItem, StoreError> {
        let next = CalendarDay { version: write.read.version + 1, busy: write.busy.clone(), ..write.read.clone() };
        let item = DayItem { pk: keys::teacher_pk(&next.teacher_id), sk: keys::day_sk(next.day), day: &next };
        let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(item).map_err(|e| StoreError::corrupt("write calendar", e))?;
        let put = Put::builder().table_name(&self.table).set_item(Some(item));
        let put = if write.read.version == 0 {
            put.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", PK)
        } else {
            put.condition_expression("#version = :read")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":read", AttributeValue::N(write.read.version.to_string()))
        };
        let put = put.build().map_err(|e| StoreError::corrupt("write calendar", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}
