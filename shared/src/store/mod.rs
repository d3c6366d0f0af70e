//! The single DynamoDB table. Key layout and access patterns are described in
//! `docs/data-model.md`; this module is the only code that knows them.

mod calendar;
mod edit;
mod error;
mod keys;
mod profiles;
mod records;

pub use calendar::{BusyEntry, BusyKind, CalendarDay, DayWrite};
pub use edit::{DaySet, EditError, days_touched, lesson_span};
pub use error::StoreError;
pub use keys::utc_day;
pub use records::{Booking, Checkout, CheckoutLesson, CheckoutStatus, IdempotencyRecord};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::TransactWriteItem;

use crate::config::StoreConfig;

/// Handle to the table; cheap to clone, built once per process.
#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// Builds the client from the standard AWS environment (region,
    /// credentials, and `AWS_ENDPOINT_URL_DYNAMODB` for local servers).
    pub async fn from_env(config: &StoreConfig) -> Self {
        let sdk = aws_config::load_from_env().await;
        Self::new(Client::new(&sdk), config.table_name.clone())
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

/// Why a transaction did not go through.
#[derive(Debug, thiserror::Error)]
pub enum TransactError {
    /// A condition failed or another transaction held an item: someone else
    /// wrote first and the caller should re-read. `failed` holds the
    /// indexes of the items whose condition failed, in request order.
    #[error("transaction cancelled by conditions on items {failed:?}")]
    Conflict { failed: Vec<usize> },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Writes all items or none (DynamoDB allows up to 100 per transaction).
    pub async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TransactError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancel)) => {
                    let failed = cancel
                        .cancellation_reasons()
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| matches!(r.code(), Some("ConditionalCheckFailed" | "TransactionConflict")))
                        .map(|(i, _)| i)
                        .collect::<Vec<_>>();
                    if failed.is_empty() {
                        // Cancelled for another reason (e.g. a concurrent transaction): transient.
                        Err(StoreError::sdk("transact", err).into())
                    } else {
                        Err(TransactError::Conflict { failed })
                    }
                }
                _ => Err(StoreError::sdk("transact", err).into()),
            },
        }
    }
}
