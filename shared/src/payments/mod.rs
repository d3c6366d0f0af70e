//! Stripe Checkout through async-stripe. The base URL is configurable so the
//! local emulator can stand in; every call carries an idempotency key derived
//! from our own id, so a retry (ours or a replayed request) never creates a
//! second session.

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;
use stripe::{IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
    CreateCheckoutSessionPaymentIntentData, ExpireCheckoutSession, ProductData, RetrieveCheckoutSession,
};
use stripe_checkout::{CheckoutSessionMode, CheckoutSessionPaymentStatus, CheckoutSessionStatus};
use stripe_core::refund::{CreateRefund, ListRefund};

use crate::config::Env;
use crate::domain::{CheckoutId, Currency};
use crate::store::{Checkout, Obligation, Refund};

mod connect;
pub use connect::{AccountRequest, ConnectedAccount, TransferMade, TransferRequest};

/// The largest Stripe budget `STRIPE_TIMEOUT_MS` may set.
pub const MAX_TIMEOUT_MS: u64 = 8_000;

#[derive(Clone)]
pub struct StripeConfig {
    pub secret_key: String,
    pub api_base: String,
    /// Budget for one call including our retries; below Lambda's timeout.
    pub timeout: Duration,
}

impl std::fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeConfig").field("api_base", &self.api_base).field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl StripeConfig {
    /// A live key (`sk_live_`, `rk_live_`) takes live-mode events only; a test key, test-mode ones.
    pub fn is_live(&self) -> bool {
        self.secret_key.starts_with("sk_live_") || self.secret_key.starts_with("rk_live_")
    }

    pub fn read(env: &mut Env) -> Option<Self> {
        let secret_key = env.required("STRIPE_SECRET_KEY", "Stripe Dashboard > Developers > API keys", |s| {
            if s.starts_with("sk_") || s.starts_with("rk_") { Ok(s.to_owned()) } else { Err("must start with sk_ or rk_".into()) }
        });
        let api_base = env.with_default("STRIPE_API_BASE", "https://api.stripe.com/", |s| {
            // async-stripe joins paths onto the base: without the slash the path is lost.
            let s = if s.ends_with('/') { s.to_owned() } else { format!("{s}/") };
            if s.starts_with("https://") || s.starts_with("http://127.0.0.1") || s.starts_with("http://localhost") { Ok(s) } else { Err("must be an https URL".into()) }
        });
        // Bounded so a request's worst case stays inside the function's timeout (see checkout::service).
        let timeout = env.with_default("STRIPE_TIMEOUT_MS", "8000", |s| {
            s.parse::<u64>().ok().filter(|ms| (100..=MAX_TIMEOUT_MS).contains(ms)).map(Duration::from_millis).ok_or_else(|| format!("must be 100 to {MAX_TIMEOUT_MS} milliseconds"))
        });
        Some(Self { secret_key: secret_key?, api_base: api_base?, timeout: timeout? })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("Stripe did not answer within {0:?}")]
    Timeout(Duration),
    #[error("Stripe answered {status}: {message}")]
    Rejected { status: u16, message: String, code: Option<String> },
    #[error("talking to Stripe failed: {0}")]
    Transport(String),
    #[error("Stripe's answer was unusable: {0}")]
    Unusable(String),
}

impl PaymentError {
    /// Only where another try can help: the request may not have reached
    /// Stripe (connection failure, our timeout), Stripe asked us to slow
    /// down (429), or it is still running the same idempotency key (409).
    /// A 500 is not retried: Stripe stores it under the idempotency key and
    /// would answer the same again.
    fn is_retryable(&self) -> bool {
        match self {
            Self::Rejected { status, .. } => matches!(*status, 409 | 429),
            Self::Transport(_) => true,
            Self::Timeout(_) | Self::Unusable(_) => false,
        }
    }

    /// Stripe refused the request itself (invalid for this object: nothing
    /// left to refund, a method that cannot be refunded): asking again
    /// changes nothing. A bad key (401/403), rate limits and Stripe's own
    /// failures are not: they pass once fixed or in time.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Rejected { status: 400 | 402 | 404, .. })
    }

    /// Stripe answered, and the answer was its own failure (a 5xx): it is
    /// saved under the idempotency key and would be replayed.
    pub fn is_provider_failure(&self) -> bool {
        matches!(self, Self::Rejected { status: 500..=599, .. })
    }

    /// Stripe's error code, or the status when it gave none.
    pub fn code(&self) -> String {
        match self {
            Self::Rejected { code: Some(code), .. } => code.clone(),
            Self::Rejected { status, .. } => format!("http_{status}"),
            Self::Timeout(_) => "timeout".into(),
            Self::Transport(_) => "transport".into(),
            Self::Unusable(_) => "unusable_answer".into(),
        }
    }
}

/// What a Checkout Session says about its payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionPayment {
    Paid,
    NoPaymentRequired,
    /// Completed with a delayed method (SEPA debit, bank transfer): the
    /// money is not there yet.
    Unpaid,
}

/// A Checkout Session as an event carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFacts {
    pub session_id: String,
    /// From `client_reference_id`, else `metadata.checkout_id`.
    pub checkout_id: Option<CheckoutId>,
    pub amount_total: Option<u64>,
    pub currency: Option<String>,
    pub payment: SessionPayment,
    pub payment_intent: Option<String>,
}

/// What expiring a session found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// It can no longer be paid (we expired it, or it had expired already).
    Expired,
    /// It was paid first: the checkout stands.
    Complete,
}

pub struct LineItem {
    pub name: String,
    pub amount: u64,
}

pub struct SessionRequest<'a> {
    pub checkout_id: &'a CheckoutId,
    pub currency: Currency,
    pub items: Vec<LineItem>,
    pub customer_email: Option<&'a str>,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
    pub expires_at: Timestamp,
}

impl<'a> SessionRequest<'a> {
    /// Everything comes from the stored checkout, so every request for its
    /// session carries identical parameters under its idempotency key.
    pub fn for_checkout(checkout: &'a Checkout) -> Self {
        Self {
            checkout_id: &checkout.checkout_id,
            currency: checkout.currency,
            items: match &checkout.package {
                Some(package) => vec![LineItem { name: package.title.clone(), amount: package.price }],
                None => checkout.lessons.iter().map(|l| LineItem { name: l.title.clone(), amount: l.amount }).collect(),
            },
            customer_email: checkout.email.as_deref(),
            success_url: &checkout.success_url,
            cancel_url: &checkout.cancel_url,
            expires_at: checkout.expires_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedSession {
    pub id: String,
    pub url: String,
}

pub struct Payments {
    client: stripe::Client,
    timeout: Duration,
    /// For the one call made without async-stripe (see [`Self::undelivered_events`]).
    raw: reqwest::Client,
    secret_key: String,
    api_base: String,
}

impl Payments {
    pub fn new(config: &StripeConfig) -> Result<Self, PaymentError> {
        let client = stripe::ClientBuilder::new(&config.secret_key)
            .url(&config.api_base)
            .build()
            .map_err(|e| PaymentError::Unusable(e.to_string()))?;
        let raw = crate::net::client_builder().timeout(config.timeout).build().map_err(|e| PaymentError::Unusable(e.to_string()))?;
        Ok(Self { client, timeout: config.timeout, raw, secret_key: config.secret_key.clone(), api_base: config.api_base.clone() })
    }

    /// Creates the Checkout Session of a checkout. The idempotency key is
    /// the checkout's, so asking again with the same parameters (a retry, or
    /// a replayed request whose first answer was lost) returns the same session.
    pub async fn create_checkout_session(&self, request: &SessionRequest<'_>) -> Result<CreatedSession, PaymentError> {
        let params = session_params(request);
        let key = IdempotencyKey::new(format!("checkout-session-{}", request.checkout_id)).map_err(|e| PaymentError::Unusable(e.to_string()))?;
        let session = self.call(|| params.customize().request_strategy(RequestStrategy::Idempotent(key.clone())).send(&self.client)).await?;
        let url = session.url.ok_or_else(|| PaymentError::Unusable("the session has no url".into()))?;
        Ok(CreatedSession { id: session.id.to_string(), url })
    }

    /// The session of a checkout. One whose id was never recorded (its
    /// creation was in flight, or its answer was lost) is asked for again
    /// under the same idempotency key, which returns the session Stripe made,
    /// if it made one.
    pub async fn session_id_of(&self, checkout: &Checkout) -> Result<String, PaymentError> {
        match &checkout.stripe_session_id {
            Some(id) => Ok(id.clone()),
            None => Ok(self.create_checkout_session(&SessionRequest::for_checkout(checkout)).await?.id),
        }
    }

    /// What a session says now: `None` while it is still open (nothing to act on).
    pub async fn completed_session(&self, session_id: &str) -> Result<Option<SessionFacts>, PaymentError> {
        let retrieve = RetrieveCheckoutSession::new(session_id);
        let session = self.call(|| retrieve.send(&self.client)).await?;
        if session.status != Some(CheckoutSessionStatus::Complete) {
            return Ok(None);
        }
        let payment = match session.payment_status {
            CheckoutSessionPaymentStatus::Paid => SessionPayment::Paid,
            CheckoutSessionPaymentStatus::NoPaymentRequired => SessionPayment::NoPaymentRequired,
            _ => SessionPayment::Unpaid,
        };
        let reference = session.client_reference_id.or_else(|| session.metadata.and_then(|mut m| m.remove("checkout_id")));
        Ok(Some(SessionFacts {
            session_id: session.id.to_string(),
            checkout_id: reference.and_then(|r| CheckoutId::parse(&r).ok()),
            amount_total: session.amount_total.and_then(|a| u64::try_from(a).ok()),
            currency: session.currency.map(|c| c.to_string().to_ascii_lowercase()),
            payment,
            payment_intent: session.payment_intent.map(|pi| pi.id().to_string()),
        }))
    }

    /// Events created since `since` whose delivery to a webhook endpoint
    /// failed, oldest first, as raw JSON. Fetched without async-stripe's typed
    /// events on purpose: its `Event` requires every object's current shape,
    /// while an event rendered in another API version must still be read
    /// (by `webhook::event`, which reads only the fields we use).
    pub async fn undelivered_events(&self, since: Timestamp) -> Result<Vec<serde_json::Value>, PaymentError> {
        let mut events = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut query = vec![("delivery_success", "false".to_owned()), ("limit", "100".to_owned()), ("created[gte]", since.as_second().to_string())];
            if let Some(last) = &after {
                query.push(("starting_after", last.clone()));
            }
            let url = format!("{}v1/events", self.api_base);
            let response = self.raw.get(&url).bearer_auth(&self.secret_key).query(&query).send().await.map_err(|e| PaymentError::Transport(e.to_string()))?;
            let status = response.status().as_u16();
            let page: serde_json::Value = response.json().await.map_err(|e| PaymentError::Unusable(e.to_string()))?;
            if status != 200 {
                return Err(PaymentError::Rejected { status, message: page["error"]["message"].as_str().unwrap_or_default().to_owned(), code: page["error"]["code"].as_str().map(str::to_owned) });
            }
            let data = page["data"].as_array().cloned().unwrap_or_default();
            after = data.last().and_then(|e| e["id"].as_str()).map(str::to_owned);
            events.extend(data);
            if page["has_more"] != true || after.is_none() {
                break;
            }
        }
        // Stripe lists newest first; settle in the order things happened.
        events.reverse();
        Ok(events)
    }

    /// Makes a session unpayable, telling apart one that was paid first
    /// (Stripe refuses to expire a `complete` session).
    pub async fn expire_session(&self, session_id: &str) -> Result<Expiry, PaymentError> {
        let expire = ExpireCheckoutSession::new(session_id);
        match self.call(|| expire.send(&self.client)).await {
            Ok(_) => Ok(Expiry::Expired),
            Err(PaymentError::Rejected { status: 400, message, code }) => {
                let retrieve = RetrieveCheckoutSession::new(session_id);
                match self.call(|| retrieve.send(&self.client)).await?.status {
                    Some(CheckoutSessionStatus::Complete) => Ok(Expiry::Complete),
                    Some(CheckoutSessionStatus::Expired) => Ok(Expiry::Expired),
                    _ => Err(PaymentError::Rejected { status: 400, message, code }),
                }
            }
            Err(err) => Err(err),
        }
    }

    /// Makes the refund an obligation asks for. The idempotency key is the
    /// obligation's ([`Obligation::idempotency_key`]), so however often a
    /// redelivered event or the sweep asks, one refund is made for it
    /// (within Stripe's 24 hours; beyond them, [`Self::refunds_of`] is the guard).
    pub async fn refund(&self, obligation: &Obligation, amount: u64) -> Result<Refund, PaymentError> {
        let key = IdempotencyKey::new(obligation.idempotency_key(amount)).map_err(|e| PaymentError::Unusable(e.to_string()))?;
        let mut metadata = HashMap::from([
            ("obligation_id".to_owned(), obligation.obligation_id.clone()),
            ("checkout_id".to_owned(), obligation.checkout_id.to_string()),
            ("reason".to_owned(), serde_json::to_value(obligation.reason).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()),
        ]);
        if let Some(index) = obligation.lesson_index {
            metadata.insert("lesson_index".to_owned(), index.to_string());
        }
        let params = CreateRefund::new().payment_intent(obligation.payment_intent.as_str()).amount(i64::try_from(amount).unwrap_or(i64::MAX)).metadata(metadata);
        let refund = self.call(|| params.customize().request_strategy(RequestStrategy::Idempotent(key.clone())).send(&self.client)).await?;
        Ok(refund_of(refund, &obligation.payment_intent))
    }

    /// Every refund of a PaymentIntent as Stripe has it now.
    pub async fn refunds_of(&self, payment_intent: &str) -> Result<Vec<Refund>, PaymentError> {
        let mut refunds = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut list = ListRefund::new().payment_intent(payment_intent).limit(100);
            if let Some(last) = &after {
                list = list.starting_after(last.as_str());
            }
            let page = self.call(|| list.send(&self.client)).await?;
            after = page.data.last().map(|r| r.id.to_string());
            refunds.extend(page.data.into_iter().map(|r| refund_of(r, payment_intent)));
            if !page.has_more || after.is_none() {
                return Ok(refunds);
            }
        }
    }

    /// One Stripe call with the retries [`PaymentError::is_retryable`]
    /// allows, all within the configured budget.
    async fn call<T, F, Fut>(&self, mut send: F) -> Result<T, PaymentError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StripeError>>,
    {
        let attempts = async {
            let mut wait = Duration::from_millis(200);
            loop {
                match send().await.map_err(from_stripe) {
                    Err(err) if err.is_retryable() => {
                        tracing::warn!(error = %err, "Stripe call failed; retrying");
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(2));
                    }
                    other => return other,
                }
            }
        };
        tokio::time::timeout(self.timeout, attempts).await.map_err(|_| PaymentError::Timeout(self.timeout))?
    }
}

fn session_params(request: &SessionRequest<'_>) -> CreateCheckoutSession {
    // Parsing is infallible: an unknown code becomes Currency::Unknown and Stripe rejects it.
    let Ok(currency) = request.currency.as_str().parse::<stripe_types::Currency>();
    let line_items: Vec<CreateCheckoutSessionLineItems> = request
        .items
        .iter()
        .map(|item| {
            let mut price = CreateCheckoutSessionLineItemsPriceData::new(currency.clone());
            price.product_data = Some(ProductData::new(item.name.clone()));
            price.unit_amount = Some(i64::try_from(item.amount).unwrap_or(i64::MAX));
            CreateCheckoutSessionLineItems { price_data: Some(price), quantity: Some(1), ..Default::default() }
        })
        .collect();
    let metadata = HashMap::from([("checkout_id".to_owned(), request.checkout_id.to_string())]);
    let mut intent = CreateCheckoutSessionPaymentIntentData::new();
    intent.metadata = Some(metadata.clone());
    // Separate charges and transfers: each teacher's earning is transferred
    // later from this charge, and Stripe groups those transfers under it.
    intent.transfer_group = Some(request.checkout_id.to_string());
    let mut params = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Payment)
        .line_items(line_items)
        .client_reference_id(request.checkout_id.to_string())
        .metadata(metadata)
        .payment_intent_data(intent)
        .success_url(request.success_url)
        .cancel_url(request.cancel_url)
        .expires_at(request.expires_at.as_second());
    if let Some(email) = request.customer_email {
        params = params.customer_email(email);
    }
    params
}

fn refund_of(refund: stripe_core::Refund, payment_intent: &str) -> Refund {
    let metadata = refund.metadata.unwrap_or_default();
    Refund {
        refund_id: refund.id.to_string(),
        payment_intent: payment_intent.to_owned(),
        amount: u64::try_from(refund.amount).unwrap_or(0),
        status: refund.status.unwrap_or_else(|| "pending".into()),
        obligation_id: crate::store::obligation_of_metadata(|k| metadata.get(k).cloned()),
        failure_reason: refund.failure_reason,
    }
}

fn from_stripe(err: StripeError) -> PaymentError {
    match err {
        StripeError::Stripe(api, status) => PaymentError::Rejected { status, code: api.code.as_ref().map(|c| c.as_str().to_owned()), message: api.message.unwrap_or_default() },
        StripeError::Timeout => PaymentError::Transport("timed out".into()),
        StripeError::ClientError(message) => PaymentError::Transport(message),
        StripeError::JSONDeserialize(message) | StripeError::ConfigError(message) => PaymentError::Unusable(message),
    }
}
