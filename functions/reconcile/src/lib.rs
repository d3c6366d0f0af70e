//! Reconciliation on a schedule (EventBridge Scheduler, every 15 minutes):
//! the same run as `admin reconcile`, whose report goes to the log. No
//! Function URL: nothing calls it but the schedule.

use jiff::Timestamp;
use shared::attendance::AttendanceConfig;
use shared::payouts::{PayoutConfig, Payouts};
use shared::reconcile::Report;
use shared::webhook::EventHandler;

/// A run that left items failing. Reported to Lambda as an error, so it
/// shows in the function's error metrics too; the next run retries them.
#[derive(Debug, thiserror::Error)]
#[error("{} item(s) still failing: {}", .0.failures.len(), .0.failures.join("; "))]
pub struct StillFailing(pub Report);

pub async fn handle(events: &EventHandler, attendance: &AttendanceConfig, payouts: &PayoutConfig, now: Timestamp) -> Result<Report, StillFailing> {
    let mut report = shared::reconcile::run_with(events, attendance, now).await;
    // Then the teachers' transfers and reversals (their own durable work),
    // leased from the clock as it is now: the run above may have taken minutes.
    let paid = Payouts { store: &events.store, payments: &events.payments, config: payouts }.sweep(now.max(Timestamp::now())).await;
    tracing::info!(due = paid.due, transferred = paid.transferred, reversed = paid.reversed, waiting = paid.waiting, failed = paid.failed, retried = paid.retried, "payout sweep");
    report.failures.extend(paid.errors);
    for change in &report.changes {
        tracing::info!(change = %change, "reconciled");
    }
    tracing::info!(checkouts = ?report.checkouts, events = ?report.events, refunds = ?report.refunds, rooms = ?report.rooms, outcomes = ?report.outcomes, "reconcile run");
    if report.failed() { Err(StillFailing(report)) } else { Ok(report) }
}
