//! The marketplace's own systems that receive our events: their endpoints
//! (`WEBHOOKS` / `ENDPOINT#<id>`, few, read whole) and each message to each
//! endpoint as a durable work item (`WEBHOOK#<endpoint>` / `<message id>`,
//! listed in `WEBHOOK_DUE#<shard>` while owed), holding the exact body so a
//! retry sends the same bytes under the same `webhook-id`.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::item::{item, key, put_new, s};
use super::work::{WorkKey, WorkKind, WorkStatus};
use super::{Store, StoreError, TransactError};

const ENDPOINTS_PK: &str = "WEBHOOKS";
/// The due index of messages to endpoints.
pub const DELIVERIES: WorkKind = WorkKind("WEBHOOK");

fn endpoint_sk(id: &str) -> String {
    format!("ENDPOINT#{id}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub endpoint_id: String,
    pub url: String,
    /// The event types it receives; empty: all of them.
    #[serde(default)]
    pub events: Vec<String>,
    /// `whsec_…` secrets, newest first; each message is signed with every
    /// one, so a receiver rotating its secret accepts both meanwhile.
    pub secrets: Vec<String>,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub created_at: Timestamp,
}

impl Endpoint {
    pub fn wants(&self, event_type: &str) -> bool {
        self.enabled && (self.events.is_empty() || self.events.iter().any(|e| e == event_type))
    }
}

/// One message to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub endpoint_id: String,
    /// `webhook-id`: the same for every endpoint and every retry of one event.
    pub message_id: String,
    pub event_type: String,
    /// The JSON body, exactly as signed and sent.
    pub body: String,
    pub created_at: Timestamp,
    #[serde(default = "owed")]
    pub status: WorkStatus,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn owed() -> WorkStatus {
    WorkStatus::Owed
}

impl Delivery {
    pub fn key(&self) -> WorkKey {
        WorkKey { pk: format!("WEBHOOK#{}", self.endpoint_id), sk: self.message_id.clone() }
    }
}

impl Store {
    /// Every endpoint, enabled or not.
    pub async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        let items = self.partition("list webhook endpoints", ENDPOINTS_PK).await?;
        items.into_iter().map(|i| serde_dynamo::from_item(i).map_err(|e| StoreError::corrupt("list webhook endpoints", e))).collect()
    }

    pub async fn endpoint(&self, id: &str) -> Result<Option<Endpoint>, StoreError> {
        self.get_typed("read webhook endpoint", ENDPOINTS_PK.to_owned(), &endpoint_sk(id)).await
    }

    /// Writes an endpoint (new, or changed as read).
    pub async fn put_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        let item = item("put webhook endpoint", ENDPOINTS_PK.to_owned(), &endpoint_sk(&endpoint.endpoint_id), endpoint, &[])?;
        let put = Put::builder().table_name(&self.table).set_item(Some(item)).build().map_err(|e| StoreError::corrupt("put webhook endpoint", e))?;
        self.transact(vec![TransactWriteItem::builder().put(put).build()]).await.map_err(|e| match e {
            TransactError::Conflict { .. } => StoreError::corrupt("put webhook endpoint", "an unconditional put failed a condition"),
            TransactError::Busy(err) | TransactError::Store(err) => err,
        })
    }

    pub async fn delete_endpoint(&self, id: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(ENDPOINTS_PK.to_owned(), &endpoint_sk(id))))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| StoreError::sdk("delete webhook endpoint", e))?;
        Ok(out.attributes.is_some())
    }

    /// Replaces an endpoint's secrets only (a rotation never touches whether
    /// it is enabled, so it cannot undo a 410 that lands meanwhile).
    pub async fn set_endpoint_secrets(&self, id: &str, secrets: &[String]) -> Result<(), StoreError> {
        let list = AttributeValue::L(secrets.iter().map(|secret| s(secret.as_str())).collect());
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(ENDPOINTS_PK.to_owned(), &endpoint_sk(id))))
            .update_expression("SET secrets = :secrets")
            .condition_expression("attribute_exists(endpoint_id)")
            .expression_attribute_values(":secrets", list)
            .send()
            .await
            .map_err(|e| StoreError::sdk("rotate webhook secret", e))?;
        Ok(())
    }

    /// An endpoint said `410 Gone`: it receives nothing more until an operator enables it again.
    pub async fn disable_endpoint(&self, id: &str, reason: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(ENDPOINTS_PK.to_owned(), &endpoint_sk(id))))
            .update_expression("SET enabled = :no, disabled_reason = :why")
            .condition_expression("attribute_exists(endpoint_id)")
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .expression_attribute_values(":why", s(reason))
            .send()
            .await
            .map_err(|e| StoreError::sdk("disable webhook endpoint", e))?;
        Ok(())
    }

    /// Writes a message for an endpoint, due now, unless it exists (a fan-out
    /// repeated after a crash writes nothing twice).
    pub async fn put_delivery(&self, delivery: &Delivery, now: Timestamp) -> Result<(), StoreError> {
        let key = delivery.key();
        let item = item("put delivery", key.pk.clone(), &key.sk, delivery, &DELIVERIES.listing(&key, now))?;
        match self.transact(vec![put_new(&self.table, item, "put delivery")?]).await {
            Ok(()) | Err(TransactError::Conflict { .. }) => Ok(()),
            Err(TransactError::Busy(err) | TransactError::Store(err)) => Err(err),
        }
    }

    pub async fn delivery(&self, key: &WorkKey) -> Result<Option<Delivery>, StoreError> {
        self.get_typed("read delivery", key.pk.clone(), &key.sk).await
    }

    /// Every message to one endpoint (an operator's view, the tests).
    pub async fn deliveries_to(&self, endpoint_id: &str) -> Result<Vec<Delivery>, StoreError> {
        let items = self.partition("list deliveries", &format!("WEBHOOK#{endpoint_id}")).await?;
        items.into_iter().map(|i| serde_dynamo::from_item(i).map_err(|e| StoreError::corrupt("list deliveries", e))).collect()
    }
}
