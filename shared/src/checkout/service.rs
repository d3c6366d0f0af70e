use std::collections::HashMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

use super::cart::{CartLesson, CartRequest, parse_cart};
use super::redirects::RedirectPolicy;
use super::view::CheckoutView;
use crate::auth::Principal;
use crate::availability;
use crate::clock::Clock;
use crate::domain::{BookingId, CheckoutId, Currency, LessonChoice, TeacherId, TeacherProfile};
use crate::error::ApiError;
use crate::fulfilment::{self, FulfilError};
use crate::payments::{LineItem, Payments, SessionRequest};
use crate::store::{BusyEntry, BusyKind, Checkout, CheckoutLesson, CheckoutStatus, EditError, IdempotencyRecord, Store, StoreError, days_touched, lesson_span};

/// Stripe refuses an `expires_at` under 30 minutes from its own clock; a
/// minute more absorbs clock skew and our own latency.
const SESSION_LIFETIME: SignedDuration = SignedDuration::from_mins(31);
/// Holds outlive the session a little, so a payment completed at the last
/// second still finds its slots held when the webhook arrives.
const HOLD_GRACE: SignedDuration = SignedDuration::from_mins(5);
const IDEMPOTENCY_TTL: SignedDuration = SignedDuration::from_hours(24);
/// How long a replayed request waits for the first one to finish.
const REPLAY_WAIT: Duration = Duration::from_secs(15);

pub struct CheckoutService {
    pub store: Store,
    pub payments: Payments,
    pub redirects: RedirectPolicy,
    pub clock: Clock,
}

/// A cart priced from the teachers' profiles.
struct PricedCart {
    lessons: Vec<CheckoutLesson>,
    buffers: Vec<u32>,
    profiles: HashMap<TeacherId, TeacherProfile>,
    currency: Currency,
}

enum Refusal {
    Slot(usize),
    Store(StoreError),
}

impl CheckoutService {
    pub async fn initiate(&self, who: &Principal, body: &[u8], idempotency_key: Option<&str>) -> Result<CheckoutView, ApiError> {
        let cart = parse_cart(body)?;
        let key_hash = idempotency_key.map(|key| idempotency_hash(who, key)).transpose()?;
        if let Some(hash) = &key_hash
            && let Some(record) = self.store.get_idempotency(hash).await?
        {
            return self.replay(who, &record, &cart).await;
        }
        let now = self.clock.now();
        let checkout_id = CheckoutId::parse(&format!("co_{}", uuid::Uuid::now_v7().simple())).map_err(|e| ApiError::Internal(Box::new(e)))?;
        let priced = self.price(&cart, &checkout_id, now).await?;
        let success_url = self.redirects.resolve("success_url", cart.success_url.as_deref(), "/checkout/success", &checkout_id)?;
        let cancel_url = self.redirects.resolve("cancel_url", cart.cancel_url.as_deref(), "/checkout/cancel", &checkout_id)?;
        let expires_at = now + SESSION_LIFETIME;
        let checkout = Checkout {
            checkout_id: checkout_id.clone(),
            student_id: who.user_id.clone(),
            email: who.email.clone(),
            status: CheckoutStatus::AwaitingPayment,
            currency: priced.currency,
            amount_total: priced.lessons.iter().map(|l| l.amount).sum(),
            lessons: priced.lessons.clone(),
            created_at: now,
            expires_at,
            hold_until: expires_at + HOLD_GRACE,
            stripe_session_id: None,
            checkout_url: None,
            payment_status: None,
            booking_ids: Vec::new(),
        };
        let record = key_hash.map(|hash| (hash, IdempotencyRecord { request_hash: fingerprint_hash(&cart), checkout_id: checkout_id.clone() }));
        if let Err(err) = self.hold(&checkout, &priced, record.as_ref(), now).await {
            // A concurrent request with the same key may have won the race: then answer as it did.
            let raced = matches!(err, ApiError::SlotUnavailable { .. } | ApiError::TrialAlreadyUsed(_) | ApiError::IdempotencyKeyReused);
            if let Some((hash, _)) = record.as_ref().filter(|_| raced)
                && let Some(stored) = self.store.get_idempotency(hash).await?
            {
                return self.replay(who, &stored, &cart).await;
            }
            return Err(err);
        }
        tracing::info!(checkout_id = %checkout_id, lessons = checkout.lessons.len(), amount_total = checkout.amount_total, "slots held");
        if checkout.amount_total == 0 {
            let confirmed = fulfilment::confirm(&self.store, &checkout_id, "free", now).await.map_err(fulfil_error)?;
            tracing::info!(checkout_id = %checkout_id, bookings = ?confirmed.booking_ids, "free checkout confirmed");
            return Ok(CheckoutView::of(&confirmed, now));
        }
        self.open_session(checkout, &priced, success_url, cancel_url, now).await
    }

    pub async fn status(&self, who: &Principal, checkout_id: &str) -> Result<CheckoutView, ApiError> {
        let id = CheckoutId::parse(checkout_id).map_err(|e| ApiError::invalid("checkout_id", e))?;
        let checkout = self.store.get_checkout(&id).await?.filter(|c| c.student_id == who.user_id).ok_or_else(|| ApiError::CheckoutNotFound(id.to_string()))?;
        Ok(CheckoutView::of(&checkout, self.clock.now()))
    }

    async fn price(&self, cart: &CartRequest, checkout_id: &CheckoutId, now: Timestamp) -> Result<PricedCart, ApiError> {
        let mut profiles: HashMap<TeacherId, TeacherProfile> = HashMap::new();
        for (i, lesson) in cart.lessons.iter().enumerate() {
            if !profiles.contains_key(&lesson.teacher_id) {
                let profile = self.store.get_profile(&lesson.teacher_id).await?.ok_or_else(|| ApiError::invalid(format!("lessons[{i}].teacher_id"), format!("no teacher with id {}", lesson.teacher_id)))?;
                profiles.insert(lesson.teacher_id.clone(), profile);
            }
        }
        let mut lessons: Vec<CheckoutLesson> = Vec::with_capacity(cart.lessons.len());
        let mut buffers = Vec::with_capacity(cart.lessons.len());
        let mut currency = None;
        for (i, wanted) in cart.lessons.iter().enumerate() {
            let profile = &profiles[&wanted.teacher_id];
            let lesson = price_lesson(i, wanted, profile, checkout_id, now)?;
            let cur = *currency.get_or_insert(profile.currency());
            if profile.currency() != cur {
                return Err(ApiError::invalid(format!("lessons[{i}].teacher_id"), format!("charges in {}, but this cart is in {cur}; one currency per cart", profile.currency())));
            }
            let pad = SignedDuration::from_mins(i64::from(profile.buffer_minutes()));
            for (j, earlier) in lessons.iter().enumerate().filter(|(_, l)| l.teacher_id == wanted.teacher_id) {
                if earlier.start < lesson.end + pad && lesson.start < earlier.end + pad {
                    return Err(ApiError::invalid(format!("lessons[{i}].start"), format!("overlaps lessons[{j}] with the same teacher (including the {}-minute buffer)", profile.buffer_minutes())));
                }
                if earlier.trial && lesson.trial {
                    return Err(ApiError::invalid(format!("lessons[{i}].trial"), format!("only one trial lesson per teacher (lessons[{j}] is one)")));
                }
            }
            lessons.push(lesson);
            buffers.push(profile.buffer_minutes());
        }
        Ok(PricedCart { lessons, buffers, profiles, currency: currency.ok_or_else(|| ApiError::invalid("lessons", "is empty"))? })
    }

    /// Writes every hold, the checkout, the trial claims and the idempotency
    /// record in one transaction, re-checking the slots on every attempt.
    async fn hold(&self, checkout: &Checkout, priced: &PricedCart, record: Option<&(String, IdempotencyRecord)>, now: Timestamp) -> Result<(), ApiError> {
        // A day each side, so intervals whose buffer crosses midnight are seen.
        let spans: Vec<_> = checkout
            .lessons
            .iter()
            .zip(&priced.buffers)
            .map(|(l, buffer)| {
                let (teacher, first, last) = lesson_span(&l.teacher_id, l.start, l.end, *buffer);
                (teacher, first.yesterday().unwrap_or(first), last.tomorrow().unwrap_or(last))
            })
            .collect();
        let trials: Vec<&TeacherId> = checkout.lessons.iter().filter(|l| l.trial).map(|l| &l.teacher_id).collect();
        let result = self
            .store
            .edit_days(&spans, |set| {
                for (i, lesson) in checkout.lessons.iter().enumerate() {
                    let profile = &priced.profiles[&lesson.teacher_id];
                    if !availability::is_offered(profile, lesson.duration_minutes, lesson.start, &set.busy(&lesson.teacher_id), now) {
                        return Err(Refusal::Slot(i));
                    }
                    let hold = BusyEntry { start: lesson.start, end: lesson.end, kind: BusyKind::Hold, reference: checkout.checkout_id.to_string(), expires_at: Some(checkout.hold_until) };
                    for day in days_touched(lesson.start, lesson.end, priced.buffers[i]) {
                        set.edit(&lesson.teacher_id, day, now, |entries| entries.push(hold.clone()));
                    }
                }
                let mut items = vec![self.store.new_checkout_item(checkout).map_err(Refusal::Store)?];
                for teacher in &trials {
                    items.push(self.store.trial_marker_item(&checkout.student_id, teacher, &checkout.checkout_id).map_err(Refusal::Store)?);
                }
                if let Some((hash, record)) = record {
                    items.push(self.store.idempotency_item(hash, record, now + IDEMPOTENCY_TTL).map_err(Refusal::Store)?);
                }
                Ok(((), items))
            })
            .await;
        match result {
            Ok(()) => Ok(()),
            Err(EditError::Rule(Refusal::Slot(i))) => Err(ApiError::SlotUnavailable { lesson_index: i }),
            Err(EditError::Rule(Refusal::Store(err)) | EditError::Store(err)) => Err(err.into()),
            // Item 0 is the checkout (fresh id, cannot exist), then the trial claims, then the idempotency record.
            Err(EditError::ItemConflict(i)) if (1..=trials.len()).contains(&i) => Err(ApiError::TrialAlreadyUsed(trials[i - 1].clone())),
            Err(EditError::ItemConflict(_)) => Err(ApiError::IdempotencyKeyReused),
            Err(EditError::Contention) => Err(ApiError::Contention),
        }
    }

    async fn open_session(&self, checkout: Checkout, priced: &PricedCart, success_url: String, cancel_url: String, now: Timestamp) -> Result<CheckoutView, ApiError> {
        let items = checkout.lessons.iter().map(|l| LineItem { name: line_item_name(l, &priced.profiles[&l.teacher_id]), amount: l.amount }).collect();
        let request = SessionRequest {
            checkout_id: &checkout.checkout_id,
            currency: checkout.currency,
            items,
            customer_email: checkout.email.as_deref(),
            success_url,
            cancel_url,
            expires_at: checkout.expires_at,
        };
        match self.payments.create_checkout_session(&request).await {
            Ok(session) => {
                self.store.set_checkout_session(&checkout.checkout_id, &session.id, &session.url).await?;
                tracing::info!(checkout_id = %checkout.checkout_id, stripe_session = %session.id, "checkout session opened");
                let opened = Checkout { stripe_session_id: Some(session.id), checkout_url: Some(session.url), ..checkout };
                Ok(CheckoutView::of(&opened, now))
            }
            Err(err) => {
                tracing::warn!(checkout_id = %checkout.checkout_id, error = %err, "Stripe failed; releasing the holds");
                if let Err(release) = self.release(&checkout, priced, now).await {
                    tracing::error!(checkout_id = %checkout.checkout_id, error = ?release, "releasing holds failed; they lapse at hold_until");
                }
                Err(ApiError::PaymentProvider(err.to_string()))
            }
        }
    }

    /// Gives the slots and trial claims of an unpaid checkout back and marks it failed.
    async fn release(&self, checkout: &Checkout, priced: &PricedCart, now: Timestamp) -> Result<(), EditError<StoreError>> {
        let spans: Vec<_> = checkout.lessons.iter().zip(&priced.buffers).map(|(l, b)| lesson_span(&l.teacher_id, l.start, l.end, *b)).collect();
        let failed = Checkout { status: CheckoutStatus::Failed, ..checkout.clone() };
        let reference = checkout.checkout_id.as_str();
        self.store
            .edit_days(&spans, |set| {
                for (lesson, buffer) in checkout.lessons.iter().zip(&priced.buffers) {
                    for day in days_touched(lesson.start, lesson.end, *buffer) {
                        set.edit(&lesson.teacher_id, day, now, |entries| entries.retain(|e| e.reference != reference));
                    }
                }
                let mut items = vec![self.store.checkout_update_item(&failed, CheckoutStatus::AwaitingPayment)?];
                for lesson in checkout.lessons.iter().filter(|l| l.trial) {
                    items.push(self.store.trial_release_item(&checkout.student_id, &lesson.teacher_id, &checkout.checkout_id)?);
                }
                Ok(((), items))
            })
            .await
    }

    /// Answers a repeated `Idempotency-Key` with the first request's outcome.
    async fn replay(&self, who: &Principal, record: &IdempotencyRecord, cart: &CartRequest) -> Result<CheckoutView, ApiError> {
        if record.request_hash != fingerprint_hash(cart) {
            return Err(ApiError::IdempotencyKeyReused);
        }
        let deadline = tokio::time::Instant::now() + REPLAY_WAIT;
        loop {
            let checkout = self.store.get_checkout(&record.checkout_id).await?.filter(|c| c.student_id == who.user_id).ok_or(ApiError::IdempotencyKeyReused)?;
            let settled = checkout.status != CheckoutStatus::AwaitingPayment || checkout.checkout_url.is_some();
            if settled || tokio::time::Instant::now() >= deadline {
                return match checkout.status {
                    CheckoutStatus::Failed => Err(ApiError::PaymentProvider("replay of a failed checkout".into())),
                    _ => Ok(CheckoutView::of(&checkout, self.clock.now())),
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn price_lesson(i: usize, wanted: &CartLesson, profile: &TeacherProfile, checkout_id: &CheckoutId, now: Timestamp) -> Result<CheckoutLesson, ApiError> {
    let field = |name: &str| format!("lessons[{i}].{name}");
    let choice = if wanted.trial { LessonChoice::Trial } else { LessonChoice::Minutes(wanted.duration_minutes) };
    let offer = profile.offer(choice).filter(|o| o.duration_minutes == wanted.duration_minutes).ok_or_else(|| match (wanted.trial, profile.trial()) {
        (true, Some(trial)) => ApiError::invalid(field("duration_minutes"), format!("a trial lesson with {} lasts {} minutes", profile.id(), trial.duration_minutes)),
        (true, None) => ApiError::invalid(field("trial"), format!("teacher {} offers no trial lesson", profile.id())),
        (false, _) => ApiError::invalid(field("duration_minutes"), format!("teacher {} does not offer {}-minute lessons", profile.id(), wanted.duration_minutes)),
    })?;
    // The same rule get-slots applies, without other people's bookings: a
    // start that fails here was never an open slot (400), not a taken one (409).
    if !availability::is_offered(profile, offer.duration_minutes, wanted.start, &[], now) {
        return Err(ApiError::invalid(field("start"), "is not an open slot of this teacher (see get-slots)"));
    }
    let booking_id = BookingId::parse(&format!("bk_{}_{i}", checkout_id.as_str().trim_start_matches("co_"))).map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok(CheckoutLesson {
        teacher_id: wanted.teacher_id.clone(),
        teacher_name: profile.name().to_owned(),
        start: wanted.start,
        end: wanted.start + SignedDuration::from_mins(i64::from(offer.duration_minutes)),
        duration_minutes: offer.duration_minutes,
        amount: offer.price.amount,
        trial: offer.trial,
        booking_id,
    })
}

/// "60-min lesson with Anna Schmidt — Tue 1 Dec 09:00 Europe/Berlin", in the teacher's zone.
fn line_item_name(lesson: &CheckoutLesson, profile: &TeacherProfile) -> String {
    let local = lesson.start.to_zoned_datetime(profile.time_zone().clone());
    let kind = if lesson.trial { "trial lesson" } else { "lesson" };
    format!("{}-min {kind} with {} — {} {}", lesson.duration_minutes, lesson.teacher_name, local.strftime("%a %-d %b %H:%M"), profile.time_zone_name())
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

fn fulfil_error(err: FulfilError) -> ApiError {
    match err {
        FulfilError::Store(err) => err.into(),
        FulfilError::Contention => ApiError::Contention,
        other => ApiError::Internal(Box::new(other)),
    }
}
