//! The `credits` function as a use case: a student's grants (what each
//! holds, until when, and what took and returned its credits), and the
//! refund of a grant's unused credits at their value, which its student
//! may ask for within 14 days of the purchase and an admin at any time
//! (of any amount up to that value).

use jiff::Timestamp;
use serde::Serialize;

use crate::auth::{Principal, Role};
use crate::domain::{Currency, TeacherId};
use crate::error::ApiError;
use crate::payments::Payments;
use crate::refunds::{INLINE_REFUND_BUDGET, Refunds};
use crate::store::{Backoff, CONTENTION_BUDGET, Credit, Grant, GrantEvent, Obligation, ObligationStatus, RefundReason, Store, TransactError, credits_obligation_id};

const MAX_BODY_BYTES: usize = 4096;

pub struct Credits {
    pub store: Store,
    pub payments: Payments,
}

#[derive(Debug, Serialize)]
pub struct GrantsView {
    pub grants: Vec<GrantView>,
}

#[derive(Debug, Serialize)]
pub struct GrantView {
    pub grant_id: String,
    pub teacher_id: TeacherId,
    pub teacher_name: String,
    pub duration_minutes: u32,
    pub currency: Currency,
    pub price: u64,
    pub discount_percent: u32,
    pub credits: u32,
    pub remaining: u32,
    pub used: u32,
    /// `active`, `used_up`, `expired`, `refunded` or `revoked`.
    pub status: &'static str,
    pub expires_at: Timestamp,
    /// Until when its student may have the unused credits back.
    pub refundable_until: Timestamp,
    /// What a refund now gives back: the unused credits' value.
    pub refundable_amount: u64,
    pub unit_values: Vec<u64>,
    pub created_at: Timestamp,
    /// The refund of its unused credits, once asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund: Option<RefundState>,
    pub history: Vec<GrantEvent>,
}

#[derive(Debug, Serialize)]
pub struct RefundState {
    pub amount: u64,
    /// `pending` (on its way), `succeeded` or `failed` (an operator follows up).
    pub status: &'static str,
}

impl GrantView {
    fn of(grant: &Grant, refund: Option<&Obligation>, now: Timestamp) -> Self {
        let remaining = grant.remaining();
        let status = match () {
            _ if grant.credits.iter().any(|c| *c == Credit::Revoked) => "revoked",
            _ if grant.credits.iter().any(|c| matches!(c, Credit::Refunded { .. })) => "refunded",
            _ if grant.credits.iter().any(|c| *c == Credit::Expired) || (remaining > 0 && grant.expires_at <= now) => "expired",
            _ if remaining == 0 => "used_up",
            _ => "active",
        };
        let refundable_amount = if status == "active" { free_value(grant) } else { 0 };
        Self {
            grant_id: grant.grant_id.clone(),
            teacher_id: grant.teacher_id.clone(),
            teacher_name: grant.teacher_name.clone(),
            duration_minutes: grant.duration_minutes,
            currency: grant.currency,
            price: grant.price,
            discount_percent: grant.discount_percent,
            credits: u32::try_from(grant.credits.len()).unwrap_or(u32::MAX),
            remaining,
            used: grant.count(|c| matches!(c, Credit::Used { .. })),
            status,
            expires_at: grant.expires_at,
            refundable_until: grant.self_refundable_until(),
            refundable_amount,
            unit_values: grant.unit_values.clone(),
            created_at: grant.created_at,
            refund: refund.map(|o| RefundState {
                amount: o.amount,
                status: match o.status {
                    ObligationStatus::Succeeded => "succeeded",
                    ObligationStatus::Failed => "failed",
                    ObligationStatus::Covered => "covered",
                    ObligationStatus::Owed | ObligationStatus::Pending => "pending",
                },
            }),
            history: grant.history.clone(),
        }
    }
}

fn free_value(grant: &Grant) -> u64 {
    grant.credits.iter().zip(&grant.unit_values).filter(|(c, _)| **c == Credit::Free).map(|(_, v)| v).sum()
}

impl Credits {
    /// `GET credits/`: the caller's grants, newest first.
    pub async fn list(&self, who: &Principal, now: Timestamp) -> Result<GrantsView, ApiError> {
        let mut grants = Vec::new();
        for grant in self.store.grants_of(&who.user_id).await? {
            let refund = self.refund_of(&grant).await?;
            grants.push(GrantView::of(&grant, refund.as_ref(), now));
        }
        Ok(GrantsView { grants })
    }

    /// `POST credits/refund {"grant_id"}`: the caller's own grant, within
    /// [`crate::store::SELF_REFUND_DAYS`] of its purchase.
    pub async fn refund_request(&self, who: &Principal, body: &[u8], now: Timestamp) -> Result<GrantView, ApiError> {
        let grant_id = parse_refund(body)?;
        let grant = self.store.grant(&grant_id).await?.filter(|g| g.student_id == who.user_id || who.role == Some(Role::Admin)).ok_or_else(|| ApiError::GrantNotFound(grant_id.clone()))?;
        if who.role != Some(Role::Admin) && now > grant.self_refundable_until() {
            return Err(ApiError::CreditsNotRefundable("unused credits are refunded on request within 14 days of the purchase; after that, ask support"));
        }
        self.refund(&grant_id, None, now).await
    }

    /// Refunds a grant's unused credits (`amount`: an admin's choice, at
    /// most their value). The credits leave the grant in the same
    /// transaction that owes the money, capped by what is left of the
    /// payment and guarded like a cancellation's refund.
    pub async fn refund(&self, grant_id: &str, amount: Option<u64>, now: Timestamp) -> Result<GrantView, ApiError> {
        let mut backoff = Backoff::new(CONTENTION_BUDGET);
        loop {
            let mut grant = self.store.grant(grant_id).await?.ok_or_else(|| ApiError::GrantNotFound(grant_id.to_owned()))?;
            if grant.remaining() == 0 || grant.stage.is_none() || grant.expires_at <= now {
                return Err(ApiError::CreditsNotRefundable("this grant has no unused credits left to refund"));
            }
            let ledger = self.store.ledger(&grant.payment_intent).await?;
            let value = free_value(&grant).min(ledger.refundable());
            let amount = match amount {
                Some(chosen) if chosen > value => return Err(ApiError::invalid("amount", format!("must be at most {value} (the unused credits' value)"))),
                Some(chosen) => chosen,
                None => value,
            };
            let id = credits_obligation_id(&grant.grant_id);
            let read = grant.version;
            grant.refund_free(&id, now);
            let mut items = vec![self.store.grant_put_item(&grant, Some(read))?];
            if amount > 0 {
                let obligation = Obligation {
                    obligation_id: id,
                    lesson_index: None,
                    ..Obligation::for_lesson(&grant.checkout_id, 0, &grant.payment_intent, amount, grant.currency, RefundReason::CreditsUnused, now)
                };
                items.push(self.store.new_obligation_item(&obligation)?);
                items.push(self.store.payment_cancellation_item(&grant.payment_intent, ledger.cancellations())?);
            }
            match self.store.transact(items).await {
                Ok(()) => {
                    tracing::info!(grant_id, amount, "unused credits refunded");
                    Refunds { store: &self.store, payments: &self.payments }.settle_payment(&grant.payment_intent, now, INLINE_REFUND_BUDGET).await;
                    let grant = self.store.grant(grant_id).await?.unwrap_or(grant);
                    let refund = self.refund_of(&grant).await?;
                    return Ok(GrantView::of(&grant, refund.as_ref(), now));
                }
                Err(TransactError::Conflict { .. }) if backoff.wait().await => {}
                Err(TransactError::Conflict { .. }) => return Err(ApiError::Contention),
                Err(TransactError::Busy(err) | TransactError::Store(err)) => return Err(err.into()),
            }
        }
    }

    async fn refund_of(&self, grant: &Grant) -> Result<Option<Obligation>, ApiError> {
        if !grant.credits.iter().any(|c| matches!(c, Credit::Refunded { .. })) {
            return Ok(None);
        }
        let id = credits_obligation_id(&grant.grant_id);
        Ok(self.store.ledger(&grant.payment_intent).await?.obligations.into_iter().find(|o| o.obligation_id == id))
    }
}

fn parse_refund(body: &[u8]) -> Result<String, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| ApiError::invalid("body", format!("is not valid JSON ({e})")))?;
    let serde_json::Value::Object(object) = &value else { return Err(ApiError::invalid("body", "must be a JSON object")) };
    crate::http::only_fields(object, "", &["grant_id"])?;
    let id = object.get("grant_id").and_then(serde_json::Value::as_str).ok_or_else(|| ApiError::invalid("grant_id", "is required and must be a string"))?;
    if Grant::checkout_of(id).is_none() {
        return Err(ApiError::invalid("grant_id", "is not a grant id (gr_…)"));
    }
    Ok(id.to_owned())
}
