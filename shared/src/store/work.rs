//! Durable work (docs/design, "durable work"): an item that says something is
//! owed, written with the change that owes it, listed by due time in a sparse
//! index while open, claimed with a lease before it is worked, and closed
//! with what the provider said. Every kind of work (notices, webhook
//! messages, earnings, reversals) keeps its own fields beside the ones this module owns:
//! `status`, `due_ms`, `lease_ms`, `attempts`, `failing_since_ms` and the
//! index keys `gsi1pk` = `<KIND>_DUE#<shard>`, `gsi1sk` = `<due ms>#<pk>#<sk>`.
//!
//! Times are epoch milliseconds (numbers), so conditions compare instants,
//! not strings.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem, Update};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::item::{key as item_key, s};
use super::keys::{PK, SK};
use super::{Item, Store, StoreError, TransactError};

/// Partitions of each kind's due index. One GSI partition takes about 1,000
/// writes a second; four let a kind list 4,000 changes of due work a second
/// (README, "Notifications"), and the sweep reads all four.
pub const DUE_SHARDS: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkStatus {
    /// Due at `due_ms`; listed.
    Owed,
    /// Claimed until `lease_ms`; listed, so an expired lease is found again.
    Working,
    /// Done, with the provider's id.
    Done,
    /// Nothing to do any more (what it was about changed, or has no address).
    Skipped,
    /// Refused for good: a person is told.
    Failed,
}

impl WorkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owed => "owed",
            Self::Working => "working",
            Self::Done => "done",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }
}

/// Where one item lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkKey {
    pub pk: String,
    pub sk: String,
}

/// A kind of work: the prefix of its due index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkKind(pub &'static str);

impl WorkKind {
    fn shard_pk(self, key: &WorkKey) -> String {
        // FNV-1a: stable across builds and processes, unlike std's hasher.
        let hash = key.pk.bytes().chain([b'#']).chain(key.sk.bytes()).fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        format!("{}_DUE#{}", self.0, hash % u64::from(DUE_SHARDS))
    }

    fn listed_sk(key: &WorkKey, due: Timestamp) -> String {
        format!("{:013}#{}#{}", due.as_millisecond().max(0), key.pk, key.sk)
    }

    /// The attributes that list an item due at `due` (for a new item).
    pub fn listing(self, key: &WorkKey, due: Timestamp) -> [(&'static str, AttributeValue); 5] {
        [
            ("gsi1pk", s(self.shard_pk(key))),
            ("gsi1sk", s(Self::listed_sk(key, due))),
            ("status", s(WorkStatus::Owed.as_str())),
            ("due_ms", ms(due)),
            ("attempts", AttributeValue::N("0".into())),
        ]
    }
}

fn ms(at: Timestamp) -> AttributeValue {
    AttributeValue::N(at.as_millisecond().to_string())
}

/// A claimed item as it was before the claim.
#[derive(Debug, Clone)]
pub struct Claim {
    pub item: Item,
    /// The lease this claim holds; finishing needs it.
    pub lease: Timestamp,
    /// Claimed from an expired lease: a worker died or hung after claiming.
    pub reclaimed: bool,
    /// Claims so far, this one included.
    pub attempts: u32,
    /// When the first transient failure of the current run happened.
    pub failing_since: Option<Timestamp>,
}

/// How a worked item ends (or waits).
#[derive(Debug, Clone)]
pub enum Finish {
    /// With fields of the kind's own to record beside it (`set`).
    Done { provider_id: String, set: Vec<(&'static str, AttributeValue)> },
    Skipped { why: String },
    Failed { error: String },
    /// Transient: owed again at `due`; `since` is when failures began.
    Retry { due: Timestamp, error: String, since: Timestamp },
    /// Done for now, owed again at `due` with `set` (a reminder's next stage).
    Again { due: Timestamp, set: Vec<(&'static str, AttributeValue)> },
}

/// How long a transient failure waits: 30 s doubling per attempt up to an
/// hour, with up to half of it again as jitter so items failing together
/// do not retry together.
pub fn retry_backoff(attempts: u32) -> jiff::SignedDuration {
    let base = 30_i64.saturating_mul(1_i64 << attempts.saturating_sub(1).min(7)).min(3600);
    let jitter = (uuid::Uuid::new_v4().as_u128() % (base as u128 / 2 + 1)) as i64;
    jiff::SignedDuration::from_secs(base + jitter)
}

/// The update that records a finish, conditioned on the lease.
struct FinishParts {
    expression: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl FinishParts {
    const CONDITION: &'static str = "#status = :working AND lease_ms = :lease";

    fn of(kind: WorkKind, key: &WorkKey, lease: Timestamp, finish: Finish) -> Self {
        let mut values: HashMap<String, AttributeValue> = HashMap::from([(":working".into(), s(WorkStatus::Working.as_str())), (":lease".into(), ms(lease))]);
        let mut set = vec!["#status = :to".to_owned()];
        let mut remove = vec!["lease_ms"];
        let (to, listed_at) = match finish {
            Finish::Done { provider_id, set: fields } => {
                set.push("provider_id = :provider".into());
                values.insert(":provider".into(), s(provider_id));
                for (i, (name, value)) in fields.into_iter().enumerate() {
                    set.push(format!("{name} = :set{i}"));
                    values.insert(format!(":set{i}"), value);
                }
                remove.push("failing_since_ms");
                (WorkStatus::Done, None)
            }
            Finish::Skipped { why } => {
                set.push("#error = :error".into());
                values.insert(":error".into(), s(why));
                (WorkStatus::Skipped, None)
            }
            Finish::Failed { error } => {
                set.push("#error = :error".into());
                values.insert(":error".into(), s(error));
                (WorkStatus::Failed, None)
            }
            Finish::Retry { due, error, since } => {
                set.extend(["#error = :error".into(), "failing_since_ms = :since".into()]);
                values.insert(":error".into(), s(error));
                values.insert(":since".into(), ms(since));
                (WorkStatus::Owed, Some(due))
            }
            Finish::Again { due, set: fields } => {
                for (i, (name, value)) in fields.into_iter().enumerate() {
                    set.push(format!("{name} = :set{i}"));
                    values.insert(format!(":set{i}"), value);
                }
                remove.push("failing_since_ms");
                (WorkStatus::Owed, Some(due))
            }
        };
        values.insert(":to".into(), s(to.as_str()));
        match listed_at {
            Some(due) => {
                set.extend(["due_ms = :due".into(), "gsi1pk = :listed".into(), "gsi1sk = :listed_sk".into()]);
                values.insert(":due".into(), ms(due));
                values.insert(":listed".into(), s(kind.shard_pk(key)));
                values.insert(":listed_sk".into(), s(WorkKind::listed_sk(key, due)));
            }
            None => remove.extend(["gsi1pk", "gsi1sk"]),
        }
        let mut names = HashMap::from([("#status".to_owned(), "status".to_owned())]);
        if set.iter().any(|p| p.contains("#error")) {
            names.insert("#error".into(), "error".into());
        }
        Self { expression: format!("SET {} REMOVE {}", set.join(", "), remove.join(", ")), names, values }
    }
}

impl Store {
    /// Claims an owed item that is due, or one whose lease expired, until
    /// `lease`; `None` when another worker holds it or it is not due.
    pub async fn claim_work(&self, key: &WorkKey, now: Timestamp, lease: Timestamp) -> Result<Option<Claim>, StoreError> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(key.pk.clone(), &key.sk)))
            .update_expression("SET #status = :working, lease_ms = :lease, attempts = if_not_exists(attempts, :zero) + :one")
            .condition_expression("(#status = :owed AND due_ms <= :now) OR (#status = :working AND lease_ms < :now)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":working", s(WorkStatus::Working.as_str()))
            .expression_attribute_values(":owed", s(WorkStatus::Owed.as_str()))
            .expression_attribute_values(":now", ms(now))
            .expression_attribute_values(":lease", ms(lease))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out.attributes.unwrap_or_default();
                let number = |name: &str| item.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<i64>().ok());
                let reclaimed = item.get("status").and_then(|v| v.as_s().ok()).is_some_and(|s| s == WorkStatus::Working.as_str());
                let attempts = u32::try_from(number("attempts").unwrap_or(0)).unwrap_or(u32::MAX).saturating_add(1);
                let failing_since = number("failing_since_ms").and_then(|ms| Timestamp::from_millisecond(ms).ok());
                Ok(Some(Claim { item, lease, reclaimed, attempts, failing_since }))
            }
            Err(err) if matches!(err.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_))) => Ok(None),
            Err(err) => Err(StoreError::sdk("claim work", err)),
        }
    }

    /// Records how a claimed item ended; `false` when the lease was lost (a
    /// slower worker's result after another reclaimed it is dropped).
    pub async fn finish_work(&self, kind: WorkKind, key: &WorkKey, lease: Timestamp, finish: Finish) -> Result<bool, StoreError> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let parts = FinishParts::of(kind, key, lease, finish);
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(key.pk.clone(), &key.sk)))
            .update_expression(&parts.expression)
            .condition_expression(FinishParts::CONDITION)
            .set_expression_attribute_names(Some(parts.names))
            .set_expression_attribute_values(Some(parts.values));
        match update.send().await {
            Ok(_) => Ok(true),
            Err(err) if matches!(err.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_))) => Ok(false),
            Err(err) => Err(StoreError::sdk("finish work", err)),
        }
    }

    /// The same, with `with` written in the same transaction (what the work
    /// owes next: a notice of it); `false` when the lease was lost, and then
    /// nothing is written.
    pub async fn finish_work_with(&self, kind: WorkKind, key: &WorkKey, lease: Timestamp, finish: Finish, with: Vec<TransactWriteItem>) -> Result<bool, StoreError> {
        let parts = FinishParts::of(kind, key, lease, finish);
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(item_key(key.pk.clone(), &key.sk)))
            .update_expression(parts.expression)
            .condition_expression(FinishParts::CONDITION)
            .set_expression_attribute_names(Some(parts.names))
            .set_expression_attribute_values(Some(parts.values))
            .build()
            .map_err(|e| StoreError::corrupt("finish work", e))?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        items.extend(with);
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactError::Conflict { failed }) if failed.contains(&0) => Ok(false),
            Err(TransactError::Conflict { .. }) => Err(StoreError::corrupt("finish work", "an item written with the finish exists already")),
            Err(TransactError::Busy(err) | TransactError::Store(err)) => Err(err),
        }
    }

    /// Makes an item that is not being worked owed again at `due`, listed:
    /// one in a state of `from` (`Owed` only when it is due later than
    /// `due`: nothing is ever put off), with `set` and `remove` beside.
    /// `false` when it was in none of them.
    pub async fn owe_again(&self, kind: WorkKind, key: &WorkKey, due: Timestamp, from: &[WorkStatus], set: Vec<(&'static str, AttributeValue)>, remove: &[&str]) -> Result<bool, StoreError> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let mut values: HashMap<String, AttributeValue> = HashMap::from([
            (":owed".into(), s(WorkStatus::Owed.as_str())),
            (":listed".into(), s(kind.shard_pk(key))),
            (":listed_sk".into(), s(WorkKind::listed_sk(key, due))),
            (":due".into(), ms(due)),
        ]);
        let mut conditions = Vec::new();
        for (i, status) in from.iter().enumerate() {
            if *status == WorkStatus::Owed {
                conditions.push("(#status = :owed AND due_ms > :due)".to_owned());
            } else {
                conditions.push(format!("#status = :from{i}"));
                values.insert(format!(":from{i}"), s(status.as_str()));
            }
        }
        let mut assignments = vec!["#status = :owed".to_owned(), "gsi1pk = :listed".into(), "gsi1sk = :listed_sk".into(), "due_ms = :due".into()];
        for (i, (name, value)) in set.into_iter().enumerate() {
            assignments.push(format!("{name} = :set{i}"));
            values.insert(format!(":set{i}"), value);
        }
        let removed = if remove.is_empty() { String::new() } else { format!(" REMOVE {}", remove.join(", ")) };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(key.pk.clone(), &key.sk)))
            .update_expression(format!("SET {}{removed}", assignments.join(", ")))
            .condition_expression(conditions.join(" OR "))
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if matches!(err.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_))) => Ok(false),
            Err(err) => Err(StoreError::sdk("owe work again", err)),
        }
    }

    /// The keys of items of `kind` due by `now` (owed, or working with a
    /// lease that may have expired), oldest first, at most `limit` per shard.
    /// The index is eventually consistent; the claim is what decides.
    pub async fn due_work(&self, kind: WorkKind, now: Timestamp, limit: i32) -> Result<Vec<WorkKey>, StoreError> {
        let mut keys = Vec::new();
        for shard in 0..DUE_SHARDS {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :pk AND gsi1sk <= :now")
                .expression_attribute_values(":pk", s(format!("{}_DUE#{shard}", kind.0)))
                .expression_attribute_values(":now", s(format!("{:013}#~", now.as_millisecond().max(0))))
                .projection_expression("#pk, #sk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .limit(limit)
                .send()
                .await
                .map_err(|e| StoreError::sdk("list due work", e))?;
            keys.extend(output.items.unwrap_or_default().iter().filter_map(|item| {
                let pk = item.get(PK)?.as_s().ok()?.clone();
                let sk = item.get(SK)?.as_s().ok()?.clone();
                Some(WorkKey { pk, sk })
            }));
        }
        Ok(keys)
    }

    /// Appends `value` to the list `field` of a claimed item; `false` when
    /// the lease was lost.
    pub async fn append_while_leased(&self, key: &WorkKey, lease: Timestamp, field: &str, value: &str) -> Result<bool, StoreError> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(key.pk.clone(), &key.sk)))
            .update_expression("SET #field = list_append(if_not_exists(#field, :none), :value)")
            .condition_expression("#status = :working AND lease_ms = :lease")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#field", field)
            .expression_attribute_values(":working", s(WorkStatus::Working.as_str()))
            .expression_attribute_values(":lease", ms(lease))
            .expression_attribute_values(":none", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":value", AttributeValue::L(vec![s(value)]))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if matches!(err.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_))) => Ok(false),
            Err(err) => Err(StoreError::sdk("record progress", err)),
        }
    }

    /// One item as stored (an operator's view of its history).
    pub async fn work_item(&self, key: &WorkKey) -> Result<Option<Item>, StoreError> {
        let output = self.client.get_item().table_name(&self.table).set_key(Some(item_key(key.pk.clone(), &key.sk))).consistent_read(true).send().await.map_err(|e| StoreError::sdk("read work", e))?;
        Ok(output.item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_stays_within_an_hour_and_a_half() {
        for attempts in 1..20 {
            let wait = retry_backoff(attempts).as_secs();
            let base = (30_i64 << (attempts - 1).min(7)).min(3600);
            assert!((base..=base + base / 2).contains(&wait), "attempt {attempts}: {wait}");
        }
    }
}
