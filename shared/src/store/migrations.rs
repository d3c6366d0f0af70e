//! One-time repairs of data written by older versions, each recorded once
//! done (`MIGRATIONS` / `<name>`), so a sweep that runs every 15 minutes
//! pays for one only once.

use aws_sdk_dynamodb::types::AttributeValue;

use super::item::{key, s};
use super::keys::{PK, SK};
use super::{Store, StoreError};
use crate::domain::BookingId;

const MIGRATIONS: &str = "MIGRATIONS";

impl Store {
    /// Whether migration `name` has run to its end.
    pub async fn migration_done(&self, name: &str) -> Result<bool, StoreError> {
        let got = self.client.get_item().table_name(&self.table).set_key(Some(key(MIGRATIONS.to_owned(), name))).consistent_read(true).send().await.map_err(|e| StoreError::sdk("read migration", e))?;
        Ok(got.item.is_some())
    }

    pub async fn mark_migration_done(&self, name: &str, at: jiff::Timestamp) -> Result<(), StoreError> {
        let mut item = key(MIGRATIONS.to_owned(), name);
        item.insert("done_at".into(), s(at.to_string()));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(|e| StoreError::sdk("mark migration", e))?;
        Ok(())
    }

    /// Every booking whose outcome was decided and that has a room: the
    /// versions before the decision closed its room left it open. A Scan
    /// of the whole table, page by page: run once (see `migration_done`).
    pub async fn decided_bookings_with_rooms(&self) -> Result<Vec<BookingId>, StoreError> {
        let scan = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("begins_with(#pk, :booking) AND #sk = :record AND #status IN (:completed, :student, :teacher) AND attribute_exists(room_id)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":booking", s("BOOKING#"))
            .expression_attribute_values(":record", s("BOOKING"))
            .expression_attribute_values(":completed", s("completed"))
            .expression_attribute_values(":student", s("student_no_show"))
            .expression_attribute_values(":teacher", s("teacher_no_show"))
            .projection_expression("booking_id");
        let mut ids = Vec::new();
        let mut start = None;
        loop {
            let page = scan.clone().set_exclusive_start_key(start).send().await.map_err(|e| StoreError::sdk("find decided bookings", e))?;
            ids.extend(page.items.unwrap_or_default().iter().filter_map(|i| i.get("booking_id").and_then(|v: &AttributeValue| v.as_s().ok()).and_then(|id| BookingId::parse(id).ok())));
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(ids);
            }
        }
    }
}
