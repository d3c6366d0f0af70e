//! Read–check–write of busy calendars with optimistic concurrency: read the
//! days, let the caller decide (using the same slot rules as get-slots), then
//! write every changed day plus the caller's own items in one transaction,
//! conditioned on the versions read. A lost race re-reads and decides again.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::types::TransactWriteItem;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use super::backoff::{Backoff, CONTENTION_BUDGET};
use super::{BusyEntry, CalendarDay, DayWrite, MAX_TRANSACTION_ITEMS, Store, StoreError, TransactError};
use crate::availability::Busy;
use crate::domain::TeacherId;

#[derive(Debug)]
pub enum EditError<E> {
    /// The caller's rules refused the change.
    Rule(E),
    /// One of the caller's own items failed its condition (index into them).
    ItemConflict(usize),
    /// Other writers kept winning for the whole contention budget.
    Contention,
    /// The change needs more items than one transaction may hold.
    TooLarge(usize),
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
    pub fn new(days: impl IntoIterator<Item = CalendarDay>) -> Self {
        Self { days: days.into_iter().map(|d| ((d.teacher_id.clone(), d.day), d)).collect(), changed: BTreeMap::new() }
    }

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

    /// What blocks `teacher`'s slots, in the form the slot rules take,
    /// leaving out the entries of `own` references (a caller's own hold or
    /// bookings are never in its way).
    pub fn busy_except(&self, teacher: &TeacherId, own: &[&str]) -> Vec<Busy> {
        self.busy_entries(teacher).iter().filter(|e| !own.contains(&e.reference.as_str())).map(BusyEntry::as_busy).collect()
    }

    pub fn entries(&self, teacher: &TeacherId, day: Date) -> &[BusyEntry] {
        let key = (teacher.clone(), day);
        match self.changed.get(&key) {
            Some(entries) => entries,
            None => self.days.get(&key).map(|d| d.busy.as_slice()).unwrap_or(&[]),
        }
    }

    /// Changes one day's entries; expired holds are dropped on the way, as
    /// nothing needs them any more. The day must be among those read.
    pub fn edit(&mut self, teacher: &TeacherId, day: Date, now: Timestamp, change: impl FnOnce(&mut Vec<BusyEntry>)) {
        debug_assert!(self.days.contains_key(&(teacher.clone(), day)), "{teacher} {day} was not read");
        let mut entries = self.entries(teacher, day).to_vec();
        entries.retain(|e| e.expires_at.is_none_or(|at| at > now));
        change(&mut entries);
        self.changed.insert((teacher.clone(), day), entries);
    }

    fn writes(&self) -> Vec<DayWrite> {
        self.changed
            .iter()
            .filter_map(|(key, busy)| {
                let read = self.days.get(key)?;
                (read.busy != *busy).then(|| DayWrite { read: read.clone(), busy: busy.clone() })
            })
            .collect()
    }
}

/// The UTC days an interval (plus a buffer after it) touches: where its entry is stored.
pub fn days_touched(start: Timestamp, end: Timestamp, buffer_minutes: u32) -> Vec<Date> {
    let last = end + SignedDuration::from_mins(i64::from(buffer_minutes)) - SignedDuration::from_secs(1);
    let (first, last) = (super::utc_day(start), super::utc_day(last.max(start)));
    first.series(jiff::Span::new().days(1)).take_while(|d| *d <= last).collect()
}

/// The days to read to check a lesson: every entry that conflicts with it
/// (the buffer applied on both sides) is stored on at least one of them,
/// whatever buffer the entry was written with.
pub fn days_to_read(teacher: &TeacherId, start: Timestamp, end: Timestamp, buffer_minutes: u32) -> impl Iterator<Item = (TeacherId, Date)> + '_ {
    let before = start - SignedDuration::from_mins(i64::from(buffer_minutes));
    days_touched(before, end, buffer_minutes).into_iter().map(move |day| (teacher.clone(), day))
}

impl Store {
    /// Runs `plan` against fresh strongly consistent reads of exactly the
    /// `read` days until its writes commit. `plan` returns its result and the
    /// extra items to write atomically with the changed days; it may only
    /// edit days it was given.
    ///
    /// Lost races re-read and re-plan, and transient failures are retried,
    /// with capped exponential backoff and full jitter for at most
    /// [`CONTENTION_BUDGET`]: a contested request ends with the caller's own
    /// answer (done, or refused by its rules) unless the budget runs out.
    pub async fn edit_days<T, E>(
        &self,
        read: &BTreeSet<(TeacherId, Date)>,
        mut plan: impl FnMut(&mut DaySet) -> Result<(T, Vec<TransactWriteItem>), E>,
    ) -> Result<T, EditError<E>> {
        let mut backoff = Backoff::new(CONTENTION_BUDGET);
        loop {
            let days = match self.days(read).await {
                Ok(days) => days,
                Err(err) if err.is_transient() && backoff.wait().await => continue,
                Err(err) => return Err(err.into()),
            };
            let mut set = DaySet::new(days);
            let (result, extra) = plan(&mut set).map_err(EditError::Rule)?;
            let mut items = set.writes().iter().map(|w| self.day_write_item(w)).collect::<Result<Vec<_>, _>>()?;
            let day_count = items.len();
            items.extend(extra);
            if items.len() > MAX_TRANSACTION_ITEMS {
                return Err(EditError::TooLarge(items.len()));
            }
            if items.is_empty() {
                return Ok(result);
            }
            match self.send_until_decided(items, &mut backoff).await {
                Ok(()) => return Ok(result),
                Err(TransactError::Conflict { failed }) => {
                    if let Some(own) = failed.iter().find(|&&i| i >= day_count) {
                        return Err(EditError::ItemConflict(own - day_count));
                    }
                    tracing::debug!(attempt = backoff.attempts(), "calendar changed underneath; re-reading");
                }
                Err(TransactError::Busy(err)) => tracing::debug!(attempt = backoff.attempts(), error = %err, "transaction cancelled by a concurrent one; re-reading"),
                Err(TransactError::Store(err)) => return Err(err.into()),
            }
            if !backoff.wait().await {
                return Err(EditError::Contention);
            }
        }
    }

    /// Sends a transaction; when its outcome is unknown (timeout, 5xx after
    /// the SDK's own retries) sends the identical items again. Their token
    /// is derived from them, so a first attempt that did commit is answered
    /// from DynamoDB's token cache instead of failing on its own writes.
    async fn send_until_decided(&self, items: Vec<TransactWriteItem>, backoff: &mut Backoff) -> Result<(), TransactError> {
        loop {
            match self.transact(items.clone()).await {
                Err(TransactError::Store(err)) if err.is_transient() && backoff.wait().await => {
                    tracing::warn!(error = %err, "transaction outcome unknown; sending it again");
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(raw: &str) -> Timestamp {
        raw.parse().unwrap()
    }

    #[test]
    fn days_to_read_cover_the_buffer_on_both_sides() {
        let t = TeacherId::parse("t_a").unwrap();
        let days = |s: &str, e: &str, b: u32| days_to_read(&t, ts(s), ts(e), b).map(|(_, d)| d.to_string()).collect::<Vec<_>>();
        assert_eq!(days("2026-06-02T10:00:00Z", "2026-06-02T11:00:00Z", 10), ["2026-06-02"]);
        assert_eq!(days("2026-06-02T00:05:00Z", "2026-06-02T01:00:00Z", 10), ["2026-06-01", "2026-06-02"]);
        assert_eq!(days("2026-06-02T00:10:00Z", "2026-06-02T01:00:00Z", 10), ["2026-06-02"]);
        assert_eq!(days("2026-06-02T23:00:00Z", "2026-06-02T23:55:00Z", 10), ["2026-06-02", "2026-06-03"]);
        assert_eq!(days("2026-06-02T23:00:00Z", "2026-06-02T23:50:00Z", 10), ["2026-06-02"]);
    }

    #[test]
    fn unchanged_days_are_not_written() {
        let t = TeacherId::parse("t_a").unwrap();
        let day = jiff::civil::date(2026, 6, 2);
        let mut set = DaySet::new([CalendarDay { teacher_id: t.clone(), day, version: 3, busy: Vec::new() }]);
        set.edit(&t, day, ts("2026-06-01T00:00:00Z"), |_| {});
        assert!(set.writes().is_empty());
        let entry = BusyEntry { start: ts("2026-06-02T10:00:00Z"), end: ts("2026-06-02T11:00:00Z"), kind: super::super::BusyKind::Hold, reference: "co_1".into(), expires_at: None };
        set.edit(&t, day, ts("2026-06-01T00:00:00Z"), |e| e.push(entry.clone()));
        assert_eq!(set.writes().len(), 1);
    }
}
