//! teacher-payouts as a use case, for the teacher (their login) and admins
//! (`?teacher_id=`): onboarding to Stripe Connect, and the ledger.

use jiff::Timestamp;
use serde::Deserialize;

use super::PayoutConfig;
use super::accounts::{Onboarding, OnboardingLink, OnboardingRequest};
use super::view::{PayoutsView, view};
use crate::auth::Principal;
use crate::checkout::RedirectPolicy;
use crate::domain::Country;
use crate::error::ApiError;
use crate::payments::Payments;
use crate::store::Store;
use crate::teacher_profile::whose;

/// A page of the ledger: 20 earnings unless asked, at most 100.
const DEFAULT_PAGE: i32 = 20;
const MAX_PAGE: i32 = 100;
const MAX_BODY_BYTES: usize = 4096;

pub struct TeacherPayouts {
    pub store: Store,
    pub payments: Payments,
    pub config: PayoutConfig,
    pub redirects: RedirectPolicy,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnboardingBody {
    country: Option<String>,
    return_url: Option<String>,
    refresh_url: Option<String>,
}

impl TeacherPayouts {
    /// `POST onboarding`: the account (made on the first call) and a fresh link.
    pub async fn onboard(&self, who: &Principal, teacher_id: Option<&str>, body: &[u8], now: Timestamp) -> Result<OnboardingLink, ApiError> {
        let teacher = whose(&self.store, who, teacher_id).await?;
        let request = parse_onboarding(body)?;
        Onboarding { store: &self.store, payments: &self.payments, config: &self.config, redirects: &self.redirects }.link(&teacher, &request, now).await
    }

    /// `GET /`: the account's state and a page of earnings.
    pub async fn ledger(&self, who: &Principal, teacher_id: Option<&str>, limit: Option<&str>, after: Option<&str>, now: Timestamp) -> Result<PayoutsView, ApiError> {
        let teacher = whose(&self.store, who, teacher_id).await?;
        let limit = match limit {
            None => DEFAULT_PAGE,
            Some(raw) => raw.parse::<i32>().ok().filter(|n| (1..=MAX_PAGE).contains(n)).ok_or_else(|| ApiError::invalid("limit", format!("must be 1 to {MAX_PAGE}")))?,
        };
        if let Some(after) = after
            && (after.len() > 200 || after.splitn(3, '#').count() != 3)
        {
            return Err(ApiError::invalid("after", "is not a cursor this endpoint gave"));
        }
        Ok(view(&self.store, &self.config, &teacher, limit, after, now).await?)
    }
}

fn parse_onboarding(body: &[u8]) -> Result<OnboardingRequest, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
    }
    let parsed: OnboardingBody = if body.iter().all(u8::is_ascii_whitespace) { OnboardingBody::default() } else { serde_json::from_slice(body).map_err(|e| ApiError::invalid("body", e))? };
    let country = parsed.country.as_deref().map(Country::parse).transpose().map_err(|e| ApiError::invalid("country", e))?;
    Ok(OnboardingRequest { country, return_url: parsed.return_url, refresh_url: parsed.refresh_url })
}
