use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

use super::cart::{CartRequest, parse_cart};
use super::hold::{Hold, HoldError, OpenSet, first_overlap};
use super::pricing::{PricedCart, price, price_package};
use super::redirects::RedirectPolicy;
use super::view::CheckoutView;
use crate::auth::Principal;
use crate::clock::Clock;
use crate::domain::CheckoutId;
use crate::error::ApiError;
use crate::credits::{Booked, CreditCheckout};
use crate::fulfilment::{self, FulfilError, ReleasePlan, Settled, Settlement};
use crate::payments::{CreatedSession, Expiry, Payments, SessionPayment, SessionRequest};
use crate::rooms::Rooms;
use crate::store::{Backoff, CONTENTION_BUDGET, Checkout, CheckoutStatus, IdempotencyRecord, Store};

/// Stripe refuses an `expires_at` under 30 minutes from its own clock; a
/// minute more absorbs clock skew and our own latency.
const SESSION_LIFETIME: SignedDuration = SignedDuration::from_mins(31);
/// Holds outlive the session a little, so a payment completed at the last
/// second still finds its slots held when the webhook arrives.
const HOLD_GRACE: SignedDuration = SignedDuration::from_mins(5);
/// One account must not be able to hold a teacher's whole calendar.
pub const MAX_OPEN_CHECKOUTS: usize = 5;
/// How often one checkout's status poll may ask Stripe.
const POLL_INTERVAL: SignedDuration = SignedDuration::from_secs(3);
/// What one poll may spend settling a paid session (booking, refunds,
/// rooms), so that with Stripe's lookup it answers within the function's
/// timeout (template.yaml).
pub const POLL_SETTLE_BUDGET: std::time::Duration = std::time::Duration::from_secs(12);
/// Attempts at recording a created session before answering without
/// recording it (the student still gets the URL; a replay records it).
const RECORD_SESSION_ATTEMPTS: u32 = 3;

// The worst case of one POST, which the function's timeout must cover
// (template.yaml gives initiate-checkout 30 s):
//   expiring superseded sessions, concurrently    ≤ STRIPE_TIMEOUT_MS (≤ 8 s)
// + the hold transaction under contention         ≤ CONTENTION_BUDGET (3 s) + one call
// + creating the session                          ≤ STRIPE_TIMEOUT_MS (≤ 8 s)
// + recording it                                  ≤ 3 attempts (~1 s)
// + reads (a changed cart's check included) and the SDK's own retries  ~ 2 s
// ≈ 22 s. A replay re-opens a session instead of waiting for the first
// request, so it is bounded by the same terms.

pub struct CheckoutService {
    pub store: Store,
    pub payments: Payments,
    pub rooms: Rooms,
    pub redirects: RedirectPolicy,
    pub clock: Clock,
}

impl CheckoutService {
    pub async fn initiate(&self, who: &Principal, body: &[u8], idempotency_key: Option<&str>) -> Result<CheckoutView, ApiError> {
        let mut cart = parse_cart(body)?;
        let key_hash = idempotency_key.map(|key| idempotency_hash(who, key)).transpose()?;
        let now = self.clock.now();
        if let Some(hash) = &key_hash
            && let Some(record) = self.store.get_idempotency(hash, now).await?
        {
            return self.replay(who, &record, &cart).await;
        }
        if cart.from_cart {
            cart.lessons = crate::cart::available_picks(&self.store, &who.user_id, cart.cart_version, now).await?;
        }
        let checkout_id = CheckoutId::parse(&format!("co_{}", uuid::Uuid::now_v7().simple())).map_err(|e| ApiError::Internal(Box::new(e)))?;
        let (priced, package) = match &cart.package {
            Some(wanted) => {
                let (order, currency) = price_package(&self.store, wanted, now).await?;
                (PricedCart { lessons: Vec::new(), profiles: Default::default(), currency }, Some(order))
            }
            None => (price(&self.store, &cart, &checkout_id, now).await?, None),
        };
        let expires_at = now + SESSION_LIFETIME;
        let checkout = Checkout {
            checkout_id: checkout_id.clone(),
            student_id: who.user_id.clone(),
            email: who.email.clone(),
            email_unverified: who.email_verified == Some(false),
            timezone: cart.timezone.clone(),
            student_name: who.name.clone(),
            status: CheckoutStatus::AwaitingPayment,
            currency: priced.currency,
            amount_total: package.as_ref().map_or_else(|| priced.amount_total(), |p| p.price),
            lessons: priced.lessons.clone(),
            created_at: now,
            expires_at,
            hold_until: expires_at + HOLD_GRACE,
            stripe_session_id: None,
            checkout_url: None,
            payment_status: None,
            booking_ids: Vec::new(),
            success_url: self.redirects.resolve("success_url", cart.success_url.as_deref(), "/checkout/success", &checkout_id)?,
            cancel_url: self.redirects.resolve("cancel_url", cart.cancel_url.as_deref(), "/checkout/cancel", &checkout_id)?,
            from_cart: cart.from_cart,
            payment_intent: None,
            refunded_lessons: Vec::new(),
            package,
            paid_with_credits: false,
        };
        let record = key_hash.as_ref().map(|hash| (hash.as_str(), IdempotencyRecord { request_hash: fingerprint_hash(&cart), checkout_id: checkout_id.clone() }));
        if cart.pay_with_credits {
            return self.book_with_credits(who, &cart, &checkout, &priced, record.as_ref().map(|(h, r)| (*h, r)), key_hash.as_deref(), now).await;
        }
        let mut backoff = Backoff::new(CONTENTION_BUDGET);
        loop {
            let open = OpenSet::read(&self.store, &who.user_id, now).await?;
            let superseded = open.overlapping(&checkout);
            let mut plans = Vec::with_capacity(superseded.len());
            for old in &superseded {
                plans.push(ReleasePlan::read(&self.store, old, CheckoutStatus::Expired).await?);
            }
            let hold = Hold { checkout: &checkout, priced: &priced, superseded: &plans, open: &open, idempotency: record.as_ref().map(|(h, r)| (*h, r)) };
            // An expired session cannot be reopened: the old checkouts stay
            // payable unless the new cart would be placed.
            if superseded.iter().any(|old| old.amount_total > 0)
                && let Err(err) = hold.check(&self.store, MAX_OPEN_CHECKOUTS, now).await
            {
                return self.refused(who, &cart, key_hash.as_deref(), err).await;
            }
            self.expire_superseded(&superseded, &checkout).await?;
            match hold.place(&self.store, MAX_OPEN_CHECKOUTS, now).await {
                Ok(()) => break,
                Err(HoldError::Refused(err)) => return self.refused(who, &cart, key_hash.as_deref(), err).await,
                Err(HoldError::Retry) => {
                    if let Some(hash) = &key_hash
                        && let Some(stored) = self.store.get_idempotency(hash, now).await?
                    {
                        return self.replay(who, &stored, &cart).await;
                    }
                    if !backoff.wait().await {
                        return Err(ApiError::Contention);
                    }
                }
            }
        }
        tracing::info!(checkout_id = %checkout_id, lessons = checkout.lessons.len(), amount_total = checkout.amount_total, "slots held");
        if checkout.amount_total == 0 {
            let confirmed = fulfilment::confirm(&self.store, &checkout_id, "free", now).await.map_err(ApiError::from)?;
            // The booking stands either way; a room 100ms could not make now
            // is made by the repair path or at the first join.
            if let Err(err) = self.rooms.ensure_all(&confirmed.booking_ids).await {
                tracing::warn!(checkout_id = %checkout_id, error = %err, "free booking confirmed; its room is pending");
            }
            return Ok(CheckoutView::of(&confirmed, now));
        }
        self.open_session(checkout, now).await
    }

    /// Books the lessons with the student's credits: confirmed at once, no
    /// Stripe call; the rooms are made as for a free cart.
    #[allow(clippy::too_many_arguments)]
    async fn book_with_credits(&self, who: &Principal, cart: &CartRequest, checkout: &Checkout, priced: &PricedCart, idempotency: Option<(&str, &IdempotencyRecord)>, key_hash: Option<&str>, now: Timestamp) -> Result<CheckoutView, ApiError> {
        let credit = CreditCheckout { checkout, profiles: &priced.profiles, idempotency };
        let confirmed = match credit.book(&self.store, now).await {
            Ok(Booked::Confirmed(confirmed)) => confirmed,
            Ok(Booked::Replay) => {
                let stored = match key_hash { Some(hash) => self.store.get_idempotency(hash, now).await?, None => None };
                return match stored {
                    Some(record) => self.replay(who, &record, cart).await,
                    None => Err(ApiError::Contention),
                };
            }
            Err(err) => return self.refused(who, cart, key_hash, err).await,
        };
        if let Err(err) = self.rooms.ensure_all(&confirmed.booking_ids).await {
            tracing::warn!(checkout_id = %confirmed.checkout_id, error = %err, "booked with credits; the rooms are pending");
        }
        Ok(CheckoutView::of(&confirmed, now))
    }

    /// The success page polls this. A checkout still awaiting payment asks
    /// Stripe for its session (at most every [`POLL_INTERVAL`]) and settles
    /// it if it was paid, so a student who comes back sees `confirmed` even
    /// when the webhook is late or misconfigured.
    pub async fn status(&self, who: &Principal, checkout_id: &str) -> Result<CheckoutView, ApiError> {
        let checkout = self.owned(who, checkout_id).await?;
        let now = self.clock.now();
        let Some(session_id) = checkout.stripe_session_id.as_deref().filter(|_| checkout.status == CheckoutStatus::AwaitingPayment) else {
            return Ok(CheckoutView::of(&checkout, now));
        };
        if !self.store.claim_poll(&checkout.checkout_id, now, POLL_INTERVAL).await? {
            return Ok(CheckoutView::of(&checkout, now));
        }
        let facts = match self.payments.completed_session(session_id).await {
            Ok(Some(facts)) => facts,
            Ok(None) => return Ok(CheckoutView::of(&checkout, now)),
            Err(err) => {
                // The page keeps polling; the webhook may still come.
                tracing::warn!(checkout_id = %checkout.checkout_id, error = %err, "asking Stripe about a checkout failed");
                return Ok(CheckoutView::of(&checkout, now));
            }
        };
        let settlement = Settlement { store: &self.store, payments: &self.payments, rooms: &self.rooms };
        let settling = async {
            if facts.payment == SessionPayment::Unpaid { settlement.payment_pending(&facts, now).await } else { settlement.paid(&facts, now).await }
        };
        // Every step is durable and idempotent, so one cut off by the
        // budget is finished by the webhook or reconcile.
        let settled = tokio::time::timeout(POLL_SETTLE_BUDGET, settling).await;
        match settled {
            Ok(Ok(Settled::Checkout(current))) => Ok(CheckoutView::of(&current, now)),
            Ok(Ok(Settled::Ignored(_))) => Ok(CheckoutView::of(&checkout, now)),
            // What failed after the booking (a room, a refund) is retried by
            // the webhook and reconcile; the student sees where the checkout
            // stands, never an error about money that was taken and booked.
            failed => {
                let why = failed.map_or_else(|_| format!("not finished within {POLL_SETTLE_BUDGET:?}"), |r| r.err().map(|e| e.to_string()).unwrap_or_default());
                tracing::warn!(checkout_id = %checkout.checkout_id, error = %why, "settling from the success page did not finish; the webhook or reconcile completes it");
                let current = self.store.get_checkout(&checkout.checkout_id).await?.unwrap_or(checkout);
                Ok(CheckoutView::of(&current, now))
            }
        }
    }

    /// The student gave up on paying (the frontend's cancel page): the
    /// session is expired at Stripe first, so it can no longer be paid, then
    /// the holds and trial claims are given back at once.
    pub async fn abandon(&self, who: &Principal, checkout_id: &str) -> Result<CheckoutView, ApiError> {
        let checkout = self.owned(who, checkout_id).await?;
        let now = self.clock.now();
        match checkout.status {
            CheckoutStatus::AwaitingPayment => {}
            CheckoutStatus::Expired | CheckoutStatus::Failed => return Ok(CheckoutView::of(&checkout, now)),
            other => return Err(ApiError::CheckoutNotOpen(other.as_str())),
        }
        if checkout.amount_total > 0 && self.expire_at_stripe(&checkout).await? == Expiry::Complete {
            return Err(ApiError::CheckoutNotOpen("paid"));
        }
        match fulfilment::release(&self.store, &checkout, CheckoutStatus::Expired, now).await {
            Ok(released) => Ok(CheckoutView::of(&released, now)),
            Err(FulfilError::NotReleasable(CheckoutStatus::Expired | CheckoutStatus::Failed)) => self.status(who, checkout_id).await,
            Err(FulfilError::NotReleasable(other)) => Err(ApiError::CheckoutNotOpen(other.as_str())),
            Err(err) => Err(err.into()),
        }
    }

    async fn owned(&self, who: &Principal, checkout_id: &str) -> Result<Checkout, ApiError> {
        let id = CheckoutId::parse(checkout_id).map_err(|e| ApiError::invalid("checkout_id", e))?;
        self.store.get_checkout(&id).await?.filter(|c| c.student_id == who.user_id).ok_or_else(|| ApiError::CheckoutNotFound(id.to_string()))
    }

    /// Expires the sessions of the checkouts a new one supersedes. One that
    /// was paid first stands, and its lessons stay taken.
    async fn expire_superseded(&self, superseded: &[Checkout], new: &Checkout) -> Result<(), ApiError> {
        let paid_ones = superseded.iter().filter(|c| c.amount_total > 0);
        let expiries = futures::future::join_all(paid_ones.clone().map(|old| self.expire_at_stripe(old))).await;
        for (old, expiry) in paid_ones.zip(expiries) {
            if expiry? == Expiry::Complete {
                tracing::info!(checkout_id = %old.checkout_id, "an overlapping checkout of this student was paid first");
                return Err(ApiError::SlotUnavailable { lesson_index: first_overlap(old, new) });
            }
            tracing::info!(checkout_id = %old.checkout_id, superseded_by = %new.checkout_id, "session expired for a changed cart");
        }
        Ok(())
    }

    /// Expires a checkout's session at Stripe. A checkout whose session id
    /// was never recorded (its creation is in flight, or its answer was lost)
    /// asks for the session again under the same idempotency key first.
    async fn expire_at_stripe(&self, checkout: &Checkout) -> Result<Expiry, ApiError> {
        let session_id = self.payments.session_id_of(checkout).await.map_err(provider_error)?;
        self.payments.expire_session(&session_id).await.map_err(provider_error)
    }

    async fn open_session(&self, checkout: Checkout, now: Timestamp) -> Result<CheckoutView, ApiError> {
        match self.payments.create_checkout_session(&SessionRequest::for_checkout(&checkout)).await {
            Ok(session) => self.record_session(checkout, session, now).await,
            Err(err) => {
                tracing::warn!(checkout_id = %checkout.checkout_id, error = %err, "Stripe failed; releasing the holds");
                if let Err(release) = fulfilment::release(&self.store, &checkout, CheckoutStatus::Failed, now).await {
                    tracing::error!(checkout_id = %checkout.checkout_id, error = %release, "releasing holds failed; they lapse at hold_until");
                }
                Err(ApiError::PaymentNotTaken(err.to_string()))
            }
        }
    }

    /// Stores the session on the checkout and answers with its URL. The URL
    /// goes out even if storing keeps failing: the student can pay, the
    /// webhook finds the checkout by its id, and a replay stores it later.
    async fn record_session(&self, checkout: Checkout, session: CreatedSession, now: Timestamp) -> Result<CheckoutView, ApiError> {
        let id = &checkout.checkout_id;
        for attempt in 1..=RECORD_SESSION_ATTEMPTS {
            match self.store.set_checkout_session(id, &session.id, &session.url).await {
                Ok(true) => break,
                Ok(false) => {
                    // Abandoned or superseded meanwhile: this session must not be paid.
                    if let Err(err) = self.payments.expire_session(&session.id).await {
                        tracing::warn!(checkout_id = %id, error = %err, "could not expire the session of a checkout that moved on");
                    }
                    let current = self.store.get_checkout(id).await?.ok_or_else(|| ApiError::CheckoutNotFound(id.to_string()))?;
                    return Ok(CheckoutView::of(&current, now));
                }
                Err(err) if attempt < RECORD_SESSION_ATTEMPTS => {
                    tracing::warn!(checkout_id = %id, error = %err, attempt, "recording the session failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
                Err(err) => tracing::error!(checkout_id = %id, error = %err, "recording the session failed; answering with its URL anyway"),
            }
        }
        tracing::info!(checkout_id = %id, stripe_session = %session.id, "checkout session opened");
        Ok(CheckoutView::of(&Checkout { stripe_session_id: Some(session.id), checkout_url: Some(session.url), ..checkout }, now))
    }

    /// A refusal may come from losing to a concurrent request with the same
    /// key; then answer as that request did.
    async fn refused(&self, who: &Principal, cart: &CartRequest, key_hash: Option<&str>, err: ApiError) -> Result<CheckoutView, ApiError> {
        let raced = matches!(err, ApiError::SlotUnavailable { .. } | ApiError::TrialAlreadyUsed(_) | ApiError::InsufficientCredits(_));
        if let Some(hash) = key_hash.filter(|_| raced)
            && let Some(stored) = self.store.get_idempotency(hash, self.clock.now()).await?
        {
            return self.replay(who, &stored, cart).await;
        }
        Err(err)
    }

    /// Answers a repeated `Idempotency-Key` with the first request's outcome,
    /// finishing what the first request may not have: confirming a free cart,
    /// or asking Stripe for the session (same key, same parameters) when its
    /// URL was never stored.
    async fn replay(&self, who: &Principal, record: &IdempotencyRecord, cart: &CartRequest) -> Result<CheckoutView, ApiError> {
        if record.request_hash != fingerprint_hash(cart) {
            return Err(ApiError::IdempotencyKeyReused);
        }
        let checkout = self.store.get_checkout(&record.checkout_id).await?.filter(|c| c.student_id == who.user_id).ok_or(ApiError::IdempotencyKeyReused)?;
        let now = self.clock.now();
        match checkout.status {
            CheckoutStatus::AwaitingPayment if checkout.amount_total == 0 => {
                let confirmed = fulfilment::confirm(&self.store, &checkout.checkout_id, "free", now).await.map_err(ApiError::from)?;
                Ok(CheckoutView::of(&confirmed, now))
            }
            CheckoutStatus::AwaitingPayment if checkout.checkout_url.is_none() && checkout.is_open(now) => {
                let session = self.payments.create_checkout_session(&SessionRequest::for_checkout(&checkout)).await.map_err(provider_error)?;
                self.record_session(checkout, session, now).await
            }
            CheckoutStatus::Failed => Err(ApiError::PaymentNotTaken("replay of a failed checkout".into())),
            _ => Ok(CheckoutView::of(&checkout, now)),
        }
    }
}

fn idempotency_hash(who: &Principal, key: &str) -> Result<String, ApiError> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid("Idempotency-Key", "must be 1-255 visible ASCII characters"));
    }
    Ok(sha256_hex(&format!("{}\n{key}", who.user_id)))
}

fn fingerprint_hash(cart: &CartRequest) -> String {
    sha256_hex(&cart.fingerprint)
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn provider_error(err: crate::payments::PaymentError) -> ApiError {
    ApiError::PaymentProvider(err.to_string())
}
