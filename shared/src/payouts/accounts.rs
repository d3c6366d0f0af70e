//! A teacher's connected account: made once at their first onboarding
//! (Stripe's idempotency key is the teacher's, and our record is written
//! only if absent, so two racing onboardings end with one account), a
//! fresh single-use onboarding link each time it is asked for, and
//! whatever `account.updated` says of it afterwards, read back from Stripe
//! rather than from the event (events arrive late and out of order).

use jiff::Timestamp;
use serde::Serialize;

use super::PayoutConfig;
use crate::checkout::RedirectPolicy;
use crate::domain::{Country, TeacherId};
use crate::error::ApiError;
use crate::payments::{AccountRequest, Payments};
use crate::store::{PayoutAccount, Store, StoreError, WorkStatus};

/// Where the teacher's browser goes after Stripe's onboarding, by default.
pub const RETURN_PATH: &str = "/earnings?onboarding=done";
/// Where it goes when the link was used or expired: the page asks for a new one.
pub const REFRESH_PATH: &str = "/earnings?onboarding=refresh";

pub struct Onboarding<'a> {
    pub store: &'a Store,
    pub payments: &'a Payments,
    pub config: &'a PayoutConfig,
    pub redirects: &'a RedirectPolicy,
}

/// What the teacher's frontend asks.
#[derive(Debug, Default)]
pub struct OnboardingRequest {
    /// Where the teacher lives; the platform's country when absent. Only
    /// the first onboarding's counts (Stripe fixes an account's country).
    pub country: Option<Country>,
    pub return_url: Option<String>,
    pub refresh_url: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct OnboardingLink {
    pub account_id: String,
    /// Single-use; it expires within minutes.
    pub url: String,
}

fn provider(err: crate::payments::PaymentError) -> ApiError {
    ApiError::PaymentProvider(err.to_string())
}

impl Onboarding<'_> {
    pub async fn link(&self, teacher: &TeacherId, request: &OnboardingRequest, now: Timestamp) -> Result<OnboardingLink, ApiError> {
        let return_url = self.redirects.page("return_url", request.return_url.as_deref(), RETURN_PATH)?;
        let refresh_url = self.redirects.page("refresh_url", request.refresh_url.as_deref(), REFRESH_PATH)?;
        let account_id = match self.store.payout_account(teacher).await?.and_then(|a| a.account_id) {
            Some(id) => id,
            None => self.create(teacher, request.country.unwrap_or(self.config.platform_country), now).await?,
        };
        let url = self.payments.onboarding_link(&account_id, &return_url, &refresh_url).await.map_err(provider)?;
        tracing::info!(teacher_id = %teacher, account_id = %account_id, "onboarding link made");
        Ok(OnboardingLink { account_id, url })
    }

    async fn create(&self, teacher: &TeacherId, country: Country, now: Timestamp) -> Result<String, ApiError> {
        let profile = self.store.get_profile(teacher).await?.ok_or_else(|| ApiError::TeacherNotFound(teacher.clone()))?;
        let email = profile.email().map(ToString::to_string);
        let request = AccountRequest { teacher_id: teacher, country, email: email.as_deref(), recipient: country != self.config.platform_country };
        let made = self.payments.create_account(&request).await.map_err(|err| if err.is_refusal() { ApiError::invalid("country", err) } else { provider(err) })?;
        let record = PayoutAccount { teacher_id: teacher.clone(), account_id: Some(made.id.clone()), country: Some(country), state: made.state, hold: false, hold_by: None, commission_percent: None, created_at: now, updated_at: now };
        if self.store.record_payout_account(&record).await? {
            tracing::info!(teacher_id = %teacher, account_id = %made.id, country = %country, "connected account made");
            return Ok(made.id);
        }
        // Recorded meanwhile by a concurrent onboarding (the same account, by Stripe's key).
        self.store.payout_account(teacher).await?.and_then(|a| a.account_id).ok_or(ApiError::Contention)
    }
}

/// `account.updated`: the account's state as Stripe has it now, recorded
/// for its teacher; when it can take transfers, the teacher's waiting
/// earnings are due at once.
pub async fn account_updated(store: &Store, payments: &Payments, account_id: &str, now: Timestamp) -> Result<&'static str, ApiError> {
    let account = match payments.account(account_id).await {
        Ok(account) => account,
        // Disconnected from the platform, or never ours: nothing to record, and a resend changes nothing.
        Err(crate::payments::PaymentError::Rejected { status: 403 | 404, .. }) => return Ok("account_not_accessible"),
        Err(err) => return Err(provider(err)),
    };
    let Some(teacher) = account.teacher_id.as_deref().and_then(|t| TeacherId::parse(t).ok()) else { return Ok("not_a_teacher_account") };
    if !store.record_account_state(&teacher, account_id, &account.state, now).await? {
        return Ok("not_the_teachers_account");
    }
    tracing::info!(teacher_id = %teacher, account_id, transfers = %account.state.transfers, "connected account updated");
    if account.state.can_receive_transfers() {
        wake(store, &teacher, now).await?;
    }
    Ok("account_updated")
}

/// Makes every earning of the teacher that waits due now (an account that
/// can take transfers, a hold lifted).
pub async fn wake(store: &Store, teacher: &TeacherId, now: Timestamp) -> Result<usize, StoreError> {
    let mut woken = 0;
    let mut after: Option<String> = None;
    loop {
        let page = store.earnings_of(teacher, 100, after.as_deref()).await?;
        for earning in page.earnings.iter().filter(|e| e.status == WorkStatus::Owed && e.waiting.is_some()) {
            if store.relist_earning(&earning.key(), now).await? {
                woken += 1;
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(woken),
        }
    }
}
