//! Stripe Connect for teacher payouts (separate charges and transfers):
//! connected accounts with controller properties, onboarding links,
//! transfers from a lesson's charge and their reversals. Every call that
//! creates something carries an idempotency key derived from our own ids.

use std::collections::HashMap;

use stripe::{IdempotencyKey, RequestStrategy, StripeRequest};
use stripe_connect::account::{
    CreateAccount, CreateAccountCapabilities, CreateAccountCapabilitiesTransfers, CreateAccountController, CreateAccountControllerFees,
    CreateAccountControllerFeesPayer, CreateAccountControllerLosses, CreateAccountControllerLossesPayments, CreateAccountControllerRequirementCollection,
    CreateAccountControllerStripeDashboard, CreateAccountControllerStripeDashboardType, RetrieveAccount, TosAcceptanceSpecs,
};
use stripe_connect::account_link::{CreateAccountLink, CreateAccountLinkType};
use stripe_connect::transfer::{CreateTransfer, ListTransfer};
use stripe_connect::transfer_reversal::{CreateIdTransferReversal, ListIdTransferReversal};
use stripe_core::payment_intent::RetrievePaymentIntent;

use super::{PaymentError, Payments};
use crate::domain::{Country, Currency, TeacherId};
use crate::store::AccountState;

/// A teacher's connected account to create.
pub struct AccountRequest<'a> {
    pub teacher_id: &'a TeacherId,
    pub country: Country,
    pub email: Option<&'a str>,
    /// The teacher is in another country than the platform: Stripe's
    /// `recipient` service agreement (transfers only, cross-border).
    pub recipient: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedAccount {
    pub id: String,
    pub teacher_id: Option<String>,
    pub state: AccountState,
}

pub struct TransferRequest<'a> {
    pub amount: u64,
    pub currency: Currency,
    pub destination: &'a str,
    /// The lesson's charge: the transfer needs no available balance, and
    /// its funds become the teacher's when the charge's do.
    pub source_transaction: &'a str,
    pub transfer_group: &'a str,
    pub metadata: HashMap<String, String>,
    pub idempotency_key: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferMade {
    pub id: String,
    pub amount: u64,
    pub metadata: HashMap<String, String>,
}

fn key(raw: &str) -> Result<IdempotencyKey, PaymentError> {
    IdempotencyKey::new(raw).map_err(|e| PaymentError::Unusable(e.to_string()))
}

fn amount(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl Payments {
    /// Creates the teacher's connected account: Stripe-hosted onboarding,
    /// the Express dashboard, the platform liable for losses and paying
    /// Stripe's fees, the `transfers` capability. Keyed by the teacher, so
    /// two onboardings racing get one account.
    pub async fn create_account(&self, request: &AccountRequest<'_>) -> Result<ConnectedAccount, PaymentError> {
        let controller = CreateAccountController {
            fees: Some(CreateAccountControllerFees { payer: Some(CreateAccountControllerFeesPayer::Application) }),
            losses: Some(CreateAccountControllerLosses { payments: Some(CreateAccountControllerLossesPayments::Application) }),
            requirement_collection: Some(CreateAccountControllerRequirementCollection::Stripe),
            stripe_dashboard: Some(CreateAccountControllerStripeDashboard { type_: Some(CreateAccountControllerStripeDashboardType::Express) }),
        };
        let capabilities = CreateAccountCapabilities { transfers: Some(CreateAccountCapabilitiesTransfers { requested: Some(true) }), ..Default::default() };
        let mut params = CreateAccount::new()
            .controller(controller)
            .capabilities(capabilities)
            .country(request.country.as_str())
            .metadata(HashMap::from([("teacher_id".to_owned(), request.teacher_id.to_string())]));
        if request.recipient {
            params = params.tos_acceptance(TosAcceptanceSpecs { service_agreement: Some("recipient".into()), ..Default::default() });
        }
        if let Some(email) = request.email {
            params = params.email(email);
        }
        let key = key(&format!("connect-account-{}", request.teacher_id))?;
        let account = self.call(|| params.customize().request_strategy(RequestStrategy::Idempotent(key.clone())).send(&self.client)).await?;
        Ok(connected(account))
    }

    pub async fn account(&self, id: &str) -> Result<ConnectedAccount, PaymentError> {
        let retrieve = RetrieveAccount::new(id);
        Ok(connected(self.call(|| retrieve.send(&self.client)).await?))
    }

    /// A fresh single-use onboarding link (it expires within minutes).
    pub async fn onboarding_link(&self, account: &str, return_url: &str, refresh_url: &str) -> Result<String, PaymentError> {
        let params = CreateAccountLink::new(account, CreateAccountLinkType::AccountOnboarding).return_url(return_url).refresh_url(refresh_url);
        Ok(self.call(|| params.send(&self.client)).await?.url)
    }

    /// The charge a PaymentIntent made (the source of its lessons' transfers).
    pub async fn charge_of(&self, payment_intent: &str) -> Result<String, PaymentError> {
        let retrieve = RetrievePaymentIntent::new(payment_intent);
        let intent = self.call(|| retrieve.send(&self.client)).await?;
        intent.latest_charge.map(|c| c.id().to_string()).ok_or_else(|| PaymentError::Unusable(format!("{payment_intent} has no charge")))
    }

    pub async fn transfer(&self, request: &TransferRequest<'_>) -> Result<TransferMade, PaymentError> {
        // Infallible: an unknown code becomes Currency::Unknown and Stripe refuses it.
        let Ok(currency) = request.currency.as_str().parse::<stripe_types::Currency>();
        let params = CreateTransfer::new(currency, request.destination)
            .amount(amount(request.amount))
            .source_transaction(request.source_transaction)
            .transfer_group(request.transfer_group)
            .metadata(request.metadata.clone());
        let key = key(request.idempotency_key)?;
        let transfer = self.call(|| params.customize().request_strategy(RequestStrategy::Idempotent(key.clone())).send(&self.client)).await?;
        Ok(made(transfer))
    }

    /// The transfers of one group (a checkout's), as Stripe has them: the
    /// read-back before asking again once Stripe may have forgotten a key.
    pub async fn transfers_of_group(&self, group: &str) -> Result<Vec<TransferMade>, PaymentError> {
        let mut transfers = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut list = ListTransfer::new().transfer_group(group).limit(100);
            if let Some(last) = &after {
                list = list.starting_after(last.as_str());
            }
            let page = self.call(|| list.send(&self.client)).await?;
            after = page.data.last().map(|t| t.id.to_string());
            transfers.extend(page.data.into_iter().map(made));
            if !page.has_more || after.is_none() {
                return Ok(transfers);
            }
        }
    }

    /// Takes `amount` back from a transfer; returns the reversal's id.
    pub async fn reverse(&self, transfer: &str, amount_back: u64, idempotency_key: &str, metadata: HashMap<String, String>) -> Result<String, PaymentError> {
        let params = CreateIdTransferReversal::new(transfer).amount(amount(amount_back)).metadata(metadata);
        let key = key(idempotency_key)?;
        let reversal = self.call(|| params.customize().request_strategy(RequestStrategy::Idempotent(key.clone())).send(&self.client)).await?;
        Ok(reversal.id.to_string())
    }
}

impl Payments {
    /// The reversals of a transfer, each with its metadata (the read-back of
    /// a reversal asked for more than once).
    pub async fn reversals_of(&self, transfer: &str) -> Result<Vec<(String, HashMap<String, String>)>, PaymentError> {
        let mut reversals = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut list = ListIdTransferReversal::new(transfer).limit(100);
            if let Some(last) = &after {
                list = list.starting_after(last.as_str());
            }
            let page = self.call(|| list.send(&self.client)).await?;
            after = page.data.last().map(|r| r.id.to_string());
            reversals.extend(page.data.into_iter().map(|r| (r.id.to_string(), r.metadata.unwrap_or_default())));
            if !page.has_more || after.is_none() {
                return Ok(reversals);
            }
        }
    }
}

fn connected(account: stripe_connect::Account) -> ConnectedAccount {
    let requirements = account.requirements.as_ref();
    ConnectedAccount {
        id: account.id.to_string(),
        teacher_id: account.metadata.as_ref().and_then(|m| m.get("teacher_id").cloned()),
        state: AccountState {
            transfers: account.capabilities.as_ref().and_then(|c| c.transfers.as_ref()).map_or_else(|| "inactive".to_owned(), |s| s.as_str().to_owned()),
            details_submitted: account.details_submitted.unwrap_or(false),
            payouts_enabled: account.payouts_enabled.unwrap_or(false),
            currently_due: requirements.and_then(|r| r.currently_due.clone()).unwrap_or_default(),
            disabled_reason: requirements.and_then(|r| r.disabled_reason.as_ref()).map(|r| r.as_str().to_owned()),
        },
    }
}

fn made(transfer: stripe_connect::Transfer) -> TransferMade {
    TransferMade { id: transfer.id.to_string(), amount: u64::try_from(transfer.amount).unwrap_or(0), metadata: transfer.metadata }
}
