//! The single DynamoDB table. Key layout and access patterns are described in
//! `docs/data-model.md`; this module is the only code that knows them.

mod attendance;
mod attention;
mod backoff;
mod bookings;
mod calendar;
mod carts;
mod checkouts;
mod earnings;
mod edit;
mod error;
mod feeds;
mod grants;
mod idempotency;
mod item;
mod keys;
mod ledger;
mod migrations;
mod obligations;
mod outbox;
mod payout_accounts;
mod profiles;
mod token;
mod subscribers;
mod trials;
mod work;

pub use backoff::{Backoff, CONTENTION_BUDGET};
pub use carts::{CART_LIFETIME, StoredCart};
pub use calendar::{BusyEntry, BusyKind, CalendarDay, DayWrite, Read};
pub use edit::{DaySet, EditError, days_to_read, days_touched};
pub use error::StoreError;
pub use keys::utc_day;
pub use attendance::Due;
pub use attention::{Attention, AttentionKind};
pub use earnings::{Basis, EARNINGS, Earning, EarningOf, EarningsPage, REVERSALS, Reversal, earning_key};
pub use ledger::{Dispute, Ledger, Payment, Refund};
pub use payout_accounts::{AccountState, PayoutAccount};
pub use obligations::{Obligation, ObligationOutcome, ObligationStatus, RefundReason, cancel_obligation_id, credits_obligation_id, lesson_obligation_id, obligation_of_metadata};
pub use bookings::{Booking, BookingStatus, BookingsOf, CancelledBy, Cancelling, CreditUse, Moved, RoomStatus, TeacherCount, TeacherStats};
pub use checkouts::{Checkout, CheckoutChange, CheckoutLesson, CheckoutStatus, OpenCheckouts, PackageOrder};
pub use idempotency::IdempotencyRecord;
pub use trials::TrialClaim;
pub use feeds::FeedOwner;
pub use grants::{Credit, CreditError, GRANTS, Grant, GrantEvent, GrantStage, SELF_REFUND_DAYS};
pub use subscribers::{DELIVERIES, Delivery, Endpoint};
pub use outbox::{NOTICES, Notice, Recipient, Stage, Topic, outbox_pk};
pub use work::{Claim, DUE_SHARDS, Finish, WorkKey, WorkKind, WorkStatus, retry_backoff};
pub use profiles::{Expect, ProfileChange, ProfilePage, ProfileWriteError, StoredProfile};

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;

use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, TransactWriteItem};

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
    /// credentials, and `AWS_ENDPOINT_URL_DYNAMODB` for local servers),
    /// sending through the shared HTTP stack ([`crate::net`]).
    pub async fn from_env(config: &StoreConfig) -> Result<Self, reqwest::Error> {
        let http = crate::net::aws_http_client(CONNECT_TIMEOUT)?;
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http).load().await;
        let client = aws_sdk_dynamodb::config::Builder::from(&sdk).retry_config(retry_config()).timeout_config(timeout_config()).build();
        Ok(Self::new(Client::from_conf(client), config.table_name.clone()))
    }

    /// The store of a function's start-up. It opens the
    /// connection to DynamoDB (TCP, TLS, the SDK's set-up of its first call)
    /// with one read of an item that never exists, so that a cold start's
    /// first request does not pay for it. A failure is only logged: the
    /// first request that needs the table retries and reports it.
    ///
    /// Lambda hands a function its region and credentials in the environment,
    /// so the client is built from exactly those (and
    /// `AWS_ENDPOINT_URL_DYNAMODB` for the local stack). `aws_config`'s full
    /// provider chain would find nothing more, and setting it up (profiles,
    /// SSO, an STS client for web identity) was a fifth of a cold start's
    /// instructions (callgrind, README "Cold start").
    pub async fn open(config: &StoreConfig) -> Result<Self, reqwest::Error> {
        let mut sdk = client_config()?.region(std::env::var("AWS_REGION").ok().map(Region::new)).credentials_provider(EnvironmentVariableCredentialsProvider::new());
        if let Ok(url) = std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
            sdk = sdk.endpoint_url(url);
        }
        let store = Self::new(Client::from_conf(sdk.build()), config.table_name.clone());
        store.connect().await;
        Ok(store)
    }

    /// The read [`Store::open`] makes; on its own for tests.
    pub async fn connect(&self) {
        let absent = |v: &str| AttributeValue::S(v.to_owned());
        let read = self.client.get_item().table_name(&self.table).key(keys::PK, absent(keys::WARMUP)).key(keys::SK, absent(keys::WARMUP)).projection_expression(keys::PK).send().await;
        if let Err(err) = read {
            tracing::warn!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(err), "DynamoDB did not answer at start-up");
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

/// The SDK's own retries of one call. Its standard backoff starts at 1 s,
/// sized for control-plane calls; DynamoDB answers in milliseconds, and our
/// own retries (see `edit`) are bounded by a budget of a few seconds, so
/// the SDK's share must stay small.
/// A DynamoDB client configuration with our HTTP stack, retries and
/// timeouts; the caller adds region, credentials and endpoint.
pub fn client_config() -> Result<aws_sdk_dynamodb::config::Builder, reqwest::Error> {
    Ok(aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(crate::net::aws_http_client(CONNECT_TIMEOUT)?)
        .retry_config(retry_config())
        .timeout_config(timeout_config()))
}

fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(25)).with_max_backoff(Duration::from_millis(500))
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A hung connection must not eat a request's whole budget.
fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT).operation_attempt_timeout(Duration::from_secs(2)).operation_timeout(Duration::from_secs(5)).build()
}

/// Why a transaction did not go through.
#[derive(Debug, thiserror::Error)]
pub enum TransactError {
    /// Conditions failed: someone else wrote first and the caller should
    /// re-read. `failed` holds the indexes of the items whose condition
    /// failed, in request order. Only `ConditionalCheckFailed` counts here;
    /// a `TransactionConflict` (another transaction in flight on an item) or
    /// throttling is a transient [`StoreError`]: nothing was decided by it.
    #[error("transaction cancelled by conditions on items {failed:?}")]
    Conflict { failed: Vec<usize> },
    /// Cancelled because other transactions held its items, or throttled:
    /// nothing was written, and a re-read and retry may well succeed.
    #[error(transparent)]
    Busy(StoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// DynamoDB's limit on the items of one transaction.
pub const MAX_TRANSACTION_ITEMS: usize = 100;
/// BatchGetItem's limit of keys per call.
const MAX_BATCH_GET: usize = 100;
/// Rounds of re-asking for unprocessed keys before giving up as throttled.
const MAX_UNPROCESSED_ROUNDS: u32 = 5;

/// One item as DynamoDB holds it.
pub type Item = HashMap<String, AttributeValue>;

impl Store {
    /// Every item a query matches, following DynamoDB's 1 MB pages.
    async fn query_all(&self, operation: &'static str, query: QueryFluentBuilder) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start_key = None;
        loop {
            let page = query.clone().set_exclusive_start_key(start_key).send().await.map_err(|e| StoreError::sdk(operation, e))?;
            items.extend(page.items.unwrap_or_default());
            start_key = page.last_evaluated_key;
            if start_key.is_none() {
                return Ok(items);
            }
        }
    }

    /// One strongly consistent BatchGetItem (at most [`MAX_BATCH_GET`] keys),
    /// re-asking for unprocessed keys (DynamoDB returns them under load) with
    /// a short backoff, so none is silently dropped.
    async fn batch_get(&self, operation: &'static str, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::with_capacity(keys.len());
        let mut pending = KeysAndAttributes::builder().set_keys(Some(keys)).consistent_read(true).build().map_err(|e| StoreError::corrupt(operation, e))?;
        for attempt in 0..=MAX_UNPROCESSED_ROUNDS {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
            }
            let output = self.client.batch_get_item().request_items(&self.table, pending).send().await.map_err(|e| StoreError::sdk(operation, e))?;
            items.extend(output.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default());
            match output.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).filter(|k| !k.keys().is_empty()) {
                None => return Ok(items),
                Some(rest) => pending = rest,
            }
        }
        Err(StoreError::throttled(operation, "keys still unprocessed after every retry"))
    }
}

impl Store {
    /// Writes all items or none, with a token derived from the items so an
    /// identical resend is answered from DynamoDB's token cache (see `token`).
    pub async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TransactError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        let token = token::for_items(&items);
        match self.client.transact_write_items().set_transact_items(Some(items)).client_request_token(token).send().await {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancel)) => {
                    let codes: Vec<Option<String>> = cancel.cancellation_reasons().iter().map(|r| r.code().map(str::to_owned)).collect();
                    let failed: Vec<usize> = codes.iter().enumerate().filter(|(_, c)| c.as_deref() == Some("ConditionalCheckFailed")).map(|(i, _)| i).collect();
                    if failed.is_empty() {
                        let err = StoreError::cancelled(&codes, err);
                        Err(if err.is_transient() { TransactError::Busy(err) } else { TransactError::Store(err) })
                    } else {
                        Err(TransactError::Conflict { failed })
                    }
                }
                _ => Err(StoreError::sdk("transact", err).into()),
            },
        }
    }
}
