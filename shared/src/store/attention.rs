//! Attention records: what needs a person (a refund Stripe refused or that
//! failed later, a payment that does not match its checkout). A record is
//! separate from the status of what it is about, which keeps saying what
//! happened to the money; `admin attention` lists them and an operator
//! resolves them.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::item::{item, key};
use super::{Store, StoreError};
use crate::domain::CheckoutId;

const ATTENTION_PK: &str = "ATTENTION";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttentionKind {
    /// Stripe refused to make a refund we owe (a 4xx: nothing left to refund
    /// on the charge, a method that cannot be refunded...).
    RefundRefused,
    /// A refund failed after it was made (a closed card): the money is back
    /// in the platform balance and the student has not got it.
    RefundFailed,
    /// A payment whose session, amount or currency is not what we created.
    PaymentMismatch,
    /// A cardholder's bank asks about a payment (an inquiry: nothing is
    /// debited yet); answering by `due_by` may avoid a chargeback.
    DisputeInquiry,
    /// A chargeback: the bank took the money back; evidence is due by `due_by`.
    Dispute,
    /// A chargeback closed in our favour (`won`, or an inquiry
    /// `warning_closed`): the platform has the money again, but the lessons
    /// the chargeback cancelled stay cancelled; the student is owed them.
    DisputeWon,
    /// A stored profile a later, stricter rule refuses: it is served as
    /// stored, and writes of it are refused until it is fixed.
    ProfileInvalid,
    /// A lesson's outcome could not be decided for a day (100ms unreachable).
    AttendanceUndecided,
    /// Both parties came but were never together long enough: nothing was
    /// refunded automatically; a person decides (`admin outcome`).
    AttendanceUnclear,
    /// A notice has failed to go out for an hour (SES unreachable or
    /// refusing our sender): it is still retried.
    NoticeUndelivered,
    /// A notice will never go out: SES refused its address for good, or it
    /// failed for three days.
    NoticeRejected,
    /// A webhook message was given up (about three days of failures, or an
    /// address we do not send to).
    WebhookUndelivered,
    /// An endpoint answered 410 Gone and was disabled.
    WebhookEndpointGone,
    /// Stripe refused a teacher's transfer for a reason waiting will not
    /// fix (the charge's transfers would exceed it, the currency...).
    TransferRefused,
    /// A transfer has failed for a day (Stripe unreachable): still retried.
    TransferFailing,
    /// Stripe refused to take back a transfer after a refund (the
    /// teacher's balance no longer covers it): the platform bears the loss.
    ReversalRefused,
    /// A payout from a teacher's Stripe balance to their bank failed.
    PayoutFailed,
    /// Earnings due for over 30 days to a teacher who never set up payouts.
    EarningsUnclaimed,
}

impl AttentionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RefundRefused => "refund_refused",
            Self::RefundFailed => "refund_failed",
            Self::PaymentMismatch => "payment_mismatch",
            Self::DisputeInquiry => "dispute_inquiry",
            Self::Dispute => "dispute",
            Self::DisputeWon => "dispute_won",
            Self::ProfileInvalid => "profile_invalid",
            Self::AttendanceUndecided => "attendance_undecided",
            Self::AttendanceUnclear => "attendance_unclear",
            Self::NoticeUndelivered => "notice_undelivered",
            Self::NoticeRejected => "notice_rejected",
            Self::WebhookUndelivered => "webhook_undelivered",
            Self::WebhookEndpointGone => "webhook_endpoint_gone",
            Self::TransferRefused => "transfer_refused",
            Self::TransferFailing => "transfer_failing",
            Self::ReversalRefused => "reversal_refused",
            Self::PayoutFailed => "payout_failed",
            Self::EarningsUnclaimed => "earnings_unclaimed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attention {
    pub kind: AttentionKind,
    /// What it is about: an obligation id, or a checkout id.
    pub subject: String,
    /// In words, for the operator.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout_id: Option<CheckoutId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_intent: Option<String>,
    /// Stripe's error code or failure reason, when Stripe gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The deadline to act by (a dispute's evidence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_by: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl Attention {
    /// `kind#subject`: one record per thing, however often it is reported.
    pub fn key(&self) -> String {
        format!("{}#{}", self.kind.as_str(), self.subject)
    }
}

impl Store {
    /// Records (or restates) an attention record, as an item for the
    /// transaction that finds the problem.
    pub fn attention_item(&self, attention: &Attention) -> Result<TransactWriteItem, StoreError> {
        let item = item("put attention", ATTENTION_PK.to_owned(), &attention.key(), attention, &[])?;
        let put = Put::builder().table_name(&self.table).set_item(Some(item)).build().map_err(|e| StoreError::corrupt("put attention", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Records a problem found by a sweep unless it is recorded already (its
    /// first sighting is kept); `true` when this call recorded it, counted
    /// then (an item of a transaction is counted by its caller once committed).
    pub async fn flag_attention(&self, attention: &Attention) -> Result<bool, StoreError> {
        let item = item("flag attention", ATTENTION_PK.to_owned(), &attention.key(), attention, &[])?;
        let put = super::item::put_new(&self.table, item, "flag attention")?;
        match self.transact(vec![put]).await {
            Ok(()) => {
                crate::metrics::count(crate::metrics::Metric::AttentionRecords, 1);
                Ok(true)
            }
            Err(super::TransactError::Conflict { .. }) => Ok(false),
            Err(super::TransactError::Busy(err) | super::TransactError::Store(err)) => Err(err),
        }
    }

    /// Every open attention record, by key.
    pub async fn attention(&self) -> Result<Vec<Attention>, StoreError> {
        let items = self.partition("list attention", ATTENTION_PK).await?;
        items.into_iter().map(|item| serde_dynamo::from_item(item).map_err(|e| StoreError::corrupt("list attention", e))).collect()
    }

    /// An operator has dealt with it; `false` if there was no such record.
    pub async fn resolve_attention(&self, record_key: &str) -> Result<bool, StoreError> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(ATTENTION_PK.to_owned(), record_key)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| StoreError::sdk("resolve attention", e))?;
        Ok(output.attributes.is_some_and(|a: HashMap<String, AttributeValue>| !a.is_empty()))
    }
}
