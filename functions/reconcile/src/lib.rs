//! Reconciliation on a schedule (EventBridge Scheduler, every 15 minutes):
//! the same run as `admin reconcile`, whose report goes to the log. No
//! Function URL: nothing calls it but the schedule.

use jiff::Timestamp;
use serde::Serialize;
use shared::error::ApiError;
use shared::webhook::EventHandler;

#[derive(Debug, Serialize)]
pub struct Summary {
    pub checked_checkouts: usize,
    pub checked_events: usize,
    pub changes: Vec<String>,
}

pub async fn handle(events: &EventHandler, now: Timestamp) -> Result<Summary, ApiError> {
    let report = shared::reconcile::run(events, now).await?;
    for change in &report.changes {
        tracing::info!(change = %change, "reconciled");
    }
    Ok(Summary { checked_checkouts: report.checked_checkouts, checked_events: report.checked_events, changes: report.changes })
}
