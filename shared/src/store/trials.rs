//! A student's one trial per teacher: a claim written in the hold
//! transaction, made permanent by confirmation, given back by release.

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::item::{item, key, s};
use super::keys::PK;
use super::{Store, StoreError};
use crate::domain::{CheckoutId, TeacherId};

/// A student's claim on their one trial with a teacher. It counts while its
/// checkout can still be paid (`hold_until`) or once it is `confirmed`; a
/// lapsed, unconfirmed claim may be taken over by a new checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrialClaim {
    pub checkout_id: CheckoutId,
    // Defaults read markers written before claims could lapse; the write
    // conditions treat their missing attributes as "counts" all the same.
    #[serde(default)]
    pub confirmed: bool,
    /// Unix seconds, a number so conditions can compare it.
    #[serde(default)]
    pub hold_until: i64,
}

impl TrialClaim {
    /// Whether this claim keeps a new checkout that `replaces` the listed
    /// checkouts from claiming the trial: the negation of the condition of
    /// [`Store::trial_claim_item`], for checking before writing. (A claim
    /// written before claims could lapse reads as lapsed here while the
    /// condition still counts it; then the write refuses it, only later.)
    pub fn blocks(&self, now: Timestamp, replaces: &[&CheckoutId]) -> bool {
        let lapsed = !self.confirmed && self.hold_until <= now.as_second();
        !lapsed && !replaces.contains(&&self.checkout_id)
    }
}

fn trial_key(student: &str, teacher: &TeacherId) -> (String, String) {
    (format!("STUDENT#{student}"), format!("TRIAL#{teacher}"))
}

impl Store {

    /// Claims a student's one trial with a teacher for `checkout`. Fails if
    /// another claim still counts; takes over a lapsed unconfirmed one, or
    /// one of the checkouts this one `replaces` (superseded in the same
    /// transaction), in one conditional write.
    pub fn trial_claim_item(&self, student: &str, teacher: &TeacherId, checkout: &CheckoutId, hold_until: Timestamp, now: Timestamp, replaces: &[&CheckoutId]) -> Result<TransactWriteItem, StoreError> {
        let claim = TrialClaim { checkout_id: checkout.clone(), confirmed: false, hold_until: hold_until.as_second() };
        self.trial_put(student, teacher, &claim, now, replaces)
    }

    /// Makes `checkout`'s claim permanent; fails if another claim counts.
    pub fn trial_confirm_item(&self, student: &str, teacher: &TeacherId, checkout: &CheckoutId, now: Timestamp) -> Result<TransactWriteItem, StoreError> {
        let claim = TrialClaim { checkout_id: checkout.clone(), confirmed: true, hold_until: now.as_second() };
        self.trial_put(student, teacher, &claim, now, &[checkout])
    }

    fn trial_put(&self, student: &str, teacher: &TeacherId, claim: &TrialClaim, now: Timestamp, replaces: &[&CheckoutId]) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = trial_key(student, teacher);
        let item = item("put trial claim", pk, &sk, claim, &[])?;
        // TrialClaim::blocks is the negation of this condition: change both together.
        let mut condition = "attribute_not_exists(#pk) OR (confirmed = :false AND hold_until <= :now)".to_owned();
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":now", AttributeValue::N(now.as_second().to_string()));
        if !replaces.is_empty() {
            let names: Vec<String> = (0..replaces.len()).map(|i| format!(":replaces{i}")).collect();
            condition.push_str(&format!(" OR checkout_id IN ({})", names.join(", ")));
            for (name, id) in names.iter().zip(replaces) {
                put = put.expression_attribute_values(name, s(id.as_str()));
            }
        }
        let put = put.condition_expression(condition).build().map_err(|e| StoreError::corrupt("put trial claim", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Keeps `checkout`'s unconfirmed claim counting while its delayed
    /// payment settles, as its holds do: no lapse by time, until the payment
    /// succeeds (confirm) or fails (release). Fails if the claim is no longer
    /// that checkout's.
    pub fn trial_keep_item(&self, student: &str, teacher: &TeacherId, checkout: &CheckoutId) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = trial_key(student, teacher);
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk, &sk)))
            .update_expression("SET hold_until = :forever")
            .condition_expression("checkout_id = :checkout AND confirmed = :false")
            .expression_attribute_values(":forever", AttributeValue::N(i64::MAX.to_string()))
            .expression_attribute_values(":checkout", s(checkout.as_str()))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .build()
            .map_err(|e| StoreError::corrupt("keep trial", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    pub async fn get_trial_claim(&self, student: &str, teacher: &TeacherId) -> Result<Option<TrialClaim>, StoreError> {
        let (pk, sk) = trial_key(student, teacher);
        self.get_typed("get trial claim", pk, &sk).await
    }

    /// Gives back `checkout`'s unconfirmed claim; fails if the claim is no
    /// longer that (the caller read it just before, so it re-reads).
    pub fn trial_release_item(&self, student: &str, teacher: &TeacherId, checkout: &CheckoutId) -> Result<TransactWriteItem, StoreError> {
        self.trial_delete(student, teacher, checkout, true)
    }

    /// Gives back the trial a cancelled lesson used, confirmed or not, so the
    /// student may buy that teacher's trial again; fails if the claim is no
    /// longer `checkout`'s (the caller read it just before, so it re-reads).
    pub fn trial_give_back_item(&self, student: &str, teacher: &TeacherId, checkout: &CheckoutId) -> Result<TransactWriteItem, StoreError> {
        self.trial_delete(student, teacher, checkout, false)
    }

    /// Deletes `checkout`'s claim, only while unconfirmed if `unconfirmed_only`.
    fn trial_delete(&self, student: &str, teacher: &TeacherId, checkout: &CheckoutId, unconfirmed_only: bool) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = trial_key(student, teacher);
        let mut delete = Delete::builder().table_name(&self.table).set_key(Some(key(pk, &sk))).expression_attribute_values(":checkout", s(checkout.as_str()));
        delete = if unconfirmed_only {
            delete.condition_expression("checkout_id = :checkout AND confirmed = :false").expression_attribute_values(":false", AttributeValue::Bool(false))
        } else {
            delete.condition_expression("checkout_id = :checkout")
        };
        Ok(TransactWriteItem::builder().delete(delete.build().map_err(|e| StoreError::corrupt("give back trial", e))?).build())
    }
}
