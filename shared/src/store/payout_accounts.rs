//! A teacher's Stripe connected account, beside their profile
//! (`TEACHER#<id>` / `PAYOUTS`): its id, what Stripe last said of it, and
//! the operator's transfer hold. Never in the profile document a teacher
//! edits, never in the directory.

use aws_sdk_dynamodb::types::AttributeValue;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::item::{key, s};
use super::keys::teacher_pk;
use super::{Store, StoreError};
use crate::domain::{Country, TeacherId};
use crate::domain::Percent;

const PAYOUTS_SK: &str = "PAYOUTS";

/// What Stripe says of a connected account (`account.updated`, or a read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AccountState {
    /// The `transfers` capability: `active`, `pending`, `inactive`.
    pub transfers: String,
    pub details_submitted: bool,
    pub payouts_enabled: bool,
    #[serde(default)]
    pub currently_due: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
}

impl AccountState {
    pub fn can_receive_transfers(&self) -> bool {
        self.transfers == "active"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutAccount {
    pub teacher_id: TeacherId,
    /// `acct_…`; absent until Stripe made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The teacher's country, given at onboarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<Country>,
    #[serde(default)]
    pub state: AccountState,
    /// An operator stopped this teacher's transfers (fraud review).
    #[serde(default)]
    pub hold: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_by: Option<String>,
    /// An admin's commission for this teacher instead of the platform's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission_percent: Option<Percent>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Store {
    pub async fn payout_account(&self, teacher: &TeacherId) -> Result<Option<PayoutAccount>, StoreError> {
        self.get_typed("read payout account", teacher_pk(teacher), PAYOUTS_SK).await
    }

    /// Records the account Stripe made for the teacher; `false` when one is
    /// recorded already (a concurrent onboarding made it first: Stripe's
    /// idempotency key gave both the same account).
    pub async fn record_payout_account(&self, account: &PayoutAccount) -> Result<bool, StoreError> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let state = serde_dynamo::to_attribute_value(&account.state).map_err(|e| StoreError::corrupt("record payout account", e))?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(teacher_pk(&account.teacher_id), PAYOUTS_SK)))
            .update_expression("SET teacher_id = :teacher, account_id = :account, country = :country, #state = :state, created_at = if_not_exists(created_at, :now), updated_at = :now, #hold = if_not_exists(#hold, :no)")
            .condition_expression("attribute_not_exists(account_id)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#hold", "hold")
            .expression_attribute_values(":teacher", s(account.teacher_id.to_string()))
            .expression_attribute_values(":account", s(account.account_id.clone().unwrap_or_default()))
            .expression_attribute_values(":country", s(account.country.map(|c| c.to_string()).unwrap_or_default()))
            .expression_attribute_values(":state", state)
            .expression_attribute_values(":now", s(account.updated_at.to_string()))
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if matches!(err.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_))) => Ok(false),
            Err(err) => Err(StoreError::sdk("record payout account", err)),
        }
    }

    /// What Stripe now says of the account, if it is still this teacher's.
    pub async fn record_account_state(&self, teacher: &TeacherId, account_id: &str, state: &AccountState, now: Timestamp) -> Result<bool, StoreError> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let value = serde_dynamo::to_attribute_value(state).map_err(|e| StoreError::corrupt("record account state", e))?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(teacher_pk(teacher), PAYOUTS_SK)))
            .update_expression("SET #state = :state, updated_at = :now")
            .condition_expression("account_id = :account")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":state", value)
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":account", s(account_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if matches!(err.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_))) => Ok(false),
            Err(err) => Err(StoreError::sdk("record account state", err)),
        }
    }

    /// Stops or resumes a teacher's transfers; what is due stays due.
    pub async fn set_transfer_hold(&self, teacher: &TeacherId, hold: bool, by: &str, now: Timestamp) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(teacher_pk(teacher), PAYOUTS_SK)))
            .update_expression("SET teacher_id = :teacher, #hold = :hold, hold_by = :by, updated_at = :now, created_at = if_not_exists(created_at, :now)")
            .expression_attribute_values(":teacher", s(teacher.to_string()))
            .expression_attribute_names("#hold", "hold")
            .expression_attribute_values(":hold", AttributeValue::Bool(hold))
            .expression_attribute_values(":by", s(by))
            .expression_attribute_values(":now", s(now.to_string()))
            .send()
            .await
            .map_err(|e| StoreError::sdk("hold transfers", e))?;
        Ok(())
    }

    /// An admin's commission for the teacher; `None` returns them to the platform's.
    pub async fn set_commission(&self, teacher: &TeacherId, commission: Option<Percent>, now: Timestamp) -> Result<(), StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(teacher_pk(teacher), PAYOUTS_SK)))
            .expression_attribute_values(":teacher", s(teacher.to_string()))
            .expression_attribute_values(":now", s(now.to_string()));
        update = match commission {
            Some(percent) => update
                .expression_attribute_names("#hold", "hold")
                .update_expression("SET teacher_id = :teacher, commission_percent = :percent, updated_at = :now, created_at = if_not_exists(created_at, :now), #hold = if_not_exists(#hold, :no)")
                .expression_attribute_values(":percent", AttributeValue::N(percent.value().to_string()))
                .expression_attribute_values(":no", AttributeValue::Bool(false)),
            None => update.update_expression("SET teacher_id = :teacher, updated_at = :now, created_at = if_not_exists(created_at, :now) REMOVE commission_percent"),
        };
        update.send().await.map_err(|e| StoreError::sdk("set commission", e))?;
        Ok(())
    }
}
