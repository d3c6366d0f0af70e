//! Sends the outbox's notices. Two triggers, one claim: the table's stream
//! (filtered to notices that are owed) sends each as soon as it is written,
//! and a one-minute schedule sweeps what is due and what the stream missed
//! (stream records live 24 hours; a reminder is due long after its write).

use jiff::Timestamp;
use serde_json::{Value, json};
use shared::notify::{Notifier, Worked};
use shared::store::WorkKey;

/// A stream batch's answer (`ReportBatchItemFailures`): the records whose
/// notice could not be claimed or recorded because the table failed; Lambda
/// retries from the first of them. A notice that SES refused or throttled is
/// recorded as such and is not a failure of the record.
pub async fn handle(notifier: &Notifier, event: &Value, now: Timestamp) -> Result<Value, String> {
    let Some(records) = event.get("Records").and_then(Value::as_array) else {
        let report = notifier.sweep(now).await;
        tracing::info!(due = report.due, sent = report.sent, skipped = report.skipped, failed = report.failed, retried = report.retried, not_claimed = report.not_claimed, "notify sweep");
        return if report.errors.is_empty() { Ok(json!(report)) } else { Err(report.errors.join("; ")) };
    };
    let mut failures = Vec::new();
    for record in records {
        let sequence = record["dynamodb"]["SequenceNumber"].as_str().unwrap_or_default();
        let Some(key) = key_of(record) else {
            tracing::warn!(sequence, "a stream record without a notice's key; skipped");
            continue;
        };
        match notifier.work(&key, now).await {
            Ok(Worked::NotClaimed) => tracing::debug!(notice = %key.sk, "not due, or being worked elsewhere"),
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(notice = %key.sk, subject = %key.pk, error = %err, "notice not worked; the stream retries it");
                failures.push(json!({ "itemIdentifier": sequence }));
            }
        }
    }
    Ok(json!({ "batchItemFailures": failures }))
}

/// The item's key from a stream record (`KEYS_ONLY` or any richer view).
pub fn key_of(record: &Value) -> Option<WorkKey> {
    let keys = &record["dynamodb"]["Keys"];
    Some(WorkKey { pk: keys["pk"]["S"].as_str()?.to_owned(), sk: keys["sk"]["S"].as_str()?.to_owned() })
}
