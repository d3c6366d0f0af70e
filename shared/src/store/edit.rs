//! Read–check–write of busy calendars with optimistic concurrency: read the
//! days, let the caller decide (using the same slot rules as get-slots), then
//! write every changed day plus the caller's own items in one transaction,
//! conditioned on the versions read. A lost race re-reads and decides again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_dynamodb::types::TransactWriteItem;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use super::{BusyEntry, CalendarDay, DayWrite, Store, StoreError, TransactError};
use crate::availability::Busy;
use crate::domain::TeacherId;

/// Attempts before a hot calendar is reported as contention.
const MAX_ATTEMPTS: u32 = 8;

#[derive(Debug)]
pub enum EditError<E> {
    /// The caller's rules refused the change.
    Rule(E),
    /// One of the caller's own items failed its condition (index into them).
    ItemConflict(usize),
    Contention,
    Store(StoreError),
}

impl<E> From<StoreError> for EditError<E> {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// The calendar days read for one attempt, and the changes planned on them.
pub struct DaySet {
    days: BTreeMap<(TeacherId, Date), CalendarDay>,
    changed: BTreeMap<(TeacherId, Date), Vec<BusyEntry>>,
}

impl DaySet {
    /// Every entry of `teacher` in the days read, with the changes planned
    /// in this attempt; an interval stored on several days counts once.
    pub fn busy_entries(&self, teacher: &TeacherId) -> Vec<BusyEntry> {
        let mut entries: Vec<BusyEntry> = self
            .days
            .keys()
            .chain(self.changed.keys())
            .filter(|(t, _)| t == teacher)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .flat_map(|(t, day)| self.entries(t, *day).iter().cloned())
            .collect();
        entries.sort_by(|a, b| (a.start, a.end, &a.reference).cmp(&(b.start, b.end, &b.reference)));
        entries.dedup();
        entries
    }

    /// The same as [`Self::busy_entries`], in the form the slot rules take.
    pub fn busy(&self, teacher: &TeacherId) -> Vec<Busy> {
        self.busy_entries(teacher).iter().map(BusyEntry::as_busy).collect()
    }

    pub fn entries(&self, teacher: &TeacherId, day: Date) -> &[BusyEntry] {
        let key = (teacher.clone(), day);
        match self.changed.get(&key) {
            Some(entries) => entries,
            None => self.days.get(&key).map(|d| d.busy.as_slice()).unwrap_or(&[]),
        }
    }

    /// Changes one day's entries; expired holds are dropped on the way, as
    /// nothing needs them any more.
    pub fn edit(&mut self, teacher: &TeacherId, day: Date, now: Timestamp, change: impl FnOnce(&mut Vec<BusyEntry>)) {
        let mut entries = self.entries(teacher, day).to_vec();
        entries.retain(|e| e.expires_at.is_none_or(|at| at > now));
        change(&mut entries);
        self.changed.insert((teacher.clone(), day), entries);
    }
}

/// The UTC days an interval (plus a buffer after it) touches.
pub fn days_touched(start: Timestamp, end: Timestamp, buffer_minutes: u32) -> Vec<Date> {
    let last = end + SignedDuration::from_mins(i64::from(buffer_minutes)) - SignedDuration::from_secs(1);
    let (first, last) = (super::utc_day(start), super::utc_day(last.max(start)));
    first.series(jiff::Span::new().days(1)).take_while(|d| *d <= last).collect()
}

/// The span of days (first, last) a lesson and its buffer touch, for [`Store::edit_days`].
pub fn lesson_span(teacher: &TeacherId, start: Timestamp, end: Timestamp, buffer_minutes: u32) -> (TeacherId, Date, Date) {
    let days = days_touched(start, end, buffer_minutes);
    let first = days.first().copied().unwrap_or_else(|| super::utc_day(start));
    (teacher.clone(), first, days.last().copied().unwrap_or(first))
}

impl Store {
    /// Runs `plan` against fresh reads of the given teachers' days (each span
    /// inclusive) until its writes commit. `plan` returns its result and the
    /// extra items to write atomically with the changed days.
    pub async fn edit_days<T, E>(
        &self,
        spans: &[(TeacherId, Date, Date)],
        mut plan: impl FnMut(&mut DaySet) -> Result<(T, Vec<TransactWriteItem>), E>,
    ) -> Result<T, EditError<E>> {
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                // Jitter spreads racing writers so they do not collide again in lockstep.
                let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % 20;
                tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt) + jitter)).await;
            }
            let mut set = DaySet { days: BTreeMap::new(), changed: BTreeMap::new() };
            for (teacher, first, last) in merge_spans(spans) {
                for day in self.calendar_days(&teacher, first, last).await? {
                    set.days.insert((teacher.clone(), day.day), day);
                }
            }
            let (result, extra) = plan(&mut set).map_err(EditError::Rule)?;
            let mut items = Vec::with_capacity(set.changed.len() + extra.len());
            for (key, busy) in &set.changed {
                let read = set.days.get(key).cloned().unwrap_or_else(|| CalendarDay { teacher_id: key.0.clone(), day: key.1, version: 0, busy: Vec::new() });
                items.push(self.day_write_item(&DayWrite { read, busy: busy.clone() })?);
            }
            let day_count = items.len();
            items.extend(extra);
            match self.transact(items).await {
                Ok(()) => return Ok(result),
                Err(TransactError::Conflict { failed }) => {
                    if let Some(own) = failed.iter().find(|&&i| i >= day_count) {
                        return Err(EditError::ItemConflict(own - day_count));
                    }
                    tracing::debug!(attempt, "calendar changed underneath; re-reading");
                }
                Err(TransactError::Store(err)) => return Err(err.into()),
            }
        }
        Err(EditError::Contention)
    }
}

fn merge_spans(spans: &[(TeacherId, Date, Date)]) -> Vec<(TeacherId, Date, Date)> {
    let teachers: BTreeSet<&TeacherId> = spans.iter().map(|(t, _, _)| t).collect();
    teachers
        .into_iter()
        .filter_map(|teacher| {
            let mine = spans.iter().filter(|(t, _, _)| t == teacher);
            let first = mine.clone().map(|(_, f, _)| *f).min()?;
            let last = mine.map(|(_, _, l)| *l).max()?;
            Some((teacher.clone(), first, last))
        })
        .collect()
}
