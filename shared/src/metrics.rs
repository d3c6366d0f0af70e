//! CloudWatch metrics as Embedded Metric Format lines in the function's log:
//! CloudWatch extracts them from the log stream, so no metrics client, call
//! or permission is needed, and an alarm (template.yaml) watches them.

use std::io::Write;

/// Where the alarms look for them.
pub const NAMESPACE: &str = "Lessons";

/// Counted things that need a person or mean money did not go back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// An attention record was written.
    AttentionRecords,
    /// A refund was refused by Stripe or failed after it was made.
    RefundsFailed,
    /// A reconcile run ended with items still failing.
    ReconcileFailures,
    /// DynamoDB refused a function's credentials or role: a policy lacks a grant.
    StoreAccessDenied,
    /// A notice SES refused for good (a rejected address), or one given up
    /// after days of failures.
    NoticesFailed,
    /// A webhook message given up (three days of failures, a refused
    /// address) or its endpoint gone (410).
    WebhooksFailed,
    /// A teacher's transfer Stripe refused for good.
    TransfersFailed,
    /// A reversal Stripe refused after a refund: a loss the platform bears.
    ReversalsRefused,
}

impl Metric {
    pub const ALL: [Self; 8] = [Self::AttentionRecords, Self::RefundsFailed, Self::ReconcileFailures, Self::StoreAccessDenied, Self::NoticesFailed, Self::WebhooksFailed, Self::TransfersFailed, Self::ReversalsRefused];

    pub fn name(self) -> &'static str {
        match self {
            Self::AttentionRecords => "AttentionRecords",
            Self::RefundsFailed => "RefundsFailed",
            Self::ReconcileFailures => "ReconcileFailures",
            Self::StoreAccessDenied => "StoreAccessDenied",
            Self::NoticesFailed => "NoticesFailed",
            Self::WebhooksFailed => "WebhooksFailed",
            Self::TransfersFailed => "TransfersFailed",
            Self::ReversalsRefused => "ReversalsRefused",
        }
    }
}

/// Counted to watch the work flow, not to wake anyone (no alarm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tally {
    NoticesSent,
    /// Nothing to send any more (superseded, moved, no address).
    NoticesSkipped,
    /// A transient failure: owed again later.
    NoticesRetried,
    /// Claimed again after a lease expired: a worker died or hung between
    /// claiming and recording. For a mail, SES may have sent it once already.
    NoticesReclaimed,
    WebhooksSent,
    WebhooksReclaimed,
    TransfersMade,
    /// Earnings that could not go out yet (no account, restricted, on hold).
    TransfersWaiting,
    TransfersReclaimed,
    ReversalsMade,
}

impl Tally {
    pub fn name(self) -> &'static str {
        match self {
            Self::NoticesSent => "NoticesSent",
            Self::NoticesSkipped => "NoticesSkipped",
            Self::NoticesRetried => "NoticesRetried",
            Self::NoticesReclaimed => "NoticesReclaimed",
            Self::WebhooksSent => "WebhooksSent",
            Self::WebhooksReclaimed => "WebhooksReclaimed",
            Self::TransfersMade => "TransfersMade",
            Self::TransfersWaiting => "TransfersWaiting",
            Self::TransfersReclaimed => "TransfersReclaimed",
            Self::ReversalsMade => "ReversalsMade",
        }
    }
}

/// Writes one tally, as [`count`] does a metric.
pub fn tally(what: Tally, value: u64) {
    emit(what.name(), value);
}

/// The EMF document for one count, without dimensions (one series per
/// metric for the whole deployment, which is what the alarms watch).
pub fn document(metric: Metric, value: u64, now: jiff::Timestamp) -> serde_json::Value {
    named_document(metric.name(), value, now)
}

fn named_document(name: &str, value: u64, now: jiff::Timestamp) -> serde_json::Value {
    serde_json::json!({
        "_aws": {
            "Timestamp": now.as_millisecond(),
            "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [[]], "Metrics": [{"Name": name, "Unit": "Count"}]}]
        },
        name: value,
    })
}

/// Writes one count to stdout, the stream Lambda sends to CloudWatch Logs;
/// a line of its own, as EMF requires.
pub fn count(metric: Metric, value: u64) {
    emit(metric.name(), value);
}

fn emit(name: &str, value: u64) {
    if value == 0 {
        return;
    }
    let line = named_document(name, value, jiff::Timestamp::now()).to_string();
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_document_names_its_metric_and_carries_the_value() {
        let doc = document(Metric::RefundsFailed, 2, "2026-11-30T10:00:00Z".parse().unwrap());
        assert_eq!(doc["RefundsFailed"], 2);
        assert_eq!(doc["_aws"]["Timestamp"], 1_796_032_800_000_i64);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!((directive["Namespace"].as_str(), directive["Metrics"][0]["Name"].as_str()), (Some("Lessons"), Some("RefundsFailed")));
        assert_eq!(directive["Dimensions"], serde_json::json!([[]]));
    }
}
