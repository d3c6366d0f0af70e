//! A JSON Web Key Set fetched at start-up and fetched again when a token
//! names a key id we have not seen (the provider rotated its keys) or when
//! the set is older than its max age (the provider may have removed a key,
//! which must then stop being trusted). Fetches happen at most once per
//! minimum interval, so a stream of bogus `kid`s cannot hammer the provider.
//!
//! Refreshes happen on use, by the request that finds the set due, rather
//! than in a background task: Lambda freezes the process between
//! invocations, so a timer would not fire when due and a fetch running when
//! the response went out would be frozen mid-request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};

/// How long an unknown `kid` or a due set waits after the last fetch.
const MIN_REFRESH: Duration = Duration::from_secs(60);
/// How long a fetched set is trusted as it is.
const MAX_AGE: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("fetching the JWKS from {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("the JWKS at {url} has no usable {algorithm:?} key")]
    NoKeys { url: String, algorithm: Algorithm },
}

pub(super) struct JwksCache {
    http: reqwest::Client,
    url: String,
    algorithm: Algorithm,
    min_refresh: Duration,
    max_age: Duration,
    /// Locked only to copy or swap the `Arc`, never across a fetch, so
    /// requests keep verifying against the current set while one refreshes.
    current: RwLock<Arc<KeySet>>,
    gate: RefreshGate,
}

struct KeySet {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Instant,
}

impl JwksCache {
    pub(super) async fn fetch(http: reqwest::Client, url: String, algorithm: Algorithm) -> Result<Self, JwksError> {
        let keys = load(&http, &url, algorithm).await?;
        if keys.is_empty() {
            return Err(JwksError::NoKeys { url, algorithm });
        }
        let current = RwLock::new(Arc::new(KeySet { keys, fetched_at: Instant::now() }));
        Ok(Self { http, url, algorithm, min_refresh: MIN_REFRESH, max_age: MAX_AGE, current, gate: RefreshGate::new() })
    }

    pub(super) fn set_min_refresh_interval(&mut self, interval: Duration) {
        self.min_refresh = interval;
    }

    pub(super) fn set_max_age(&mut self, max_age: Duration) {
        self.max_age = max_age;
    }

    /// The key for `kid`; a token without `kid` is accepted only while the set has exactly one key.
    ///
    /// A failed refresh keeps the set we had (and logs a warning): while the
    /// provider's JWKS endpoint is down we prefer trusting the keys it last
    /// published over locking every user out, at the cost of a removed key
    /// staying trusted until the provider answers again.
    pub(super) async fn key(&self, kid: Option<&str>) -> Option<DecodingKey> {
        let set = self.snapshot();
        let found = set.lookup(kid);
        if found.is_some() && set.fetched_at.elapsed() < self.max_age {
            return found;
        }
        let Some(_claim) = self.gate.try_claim(self.min_refresh) else {
            // Someone else is refreshing, or did so lately (and may have finished since our snapshot).
            return found.or_else(|| self.snapshot().lookup(kid));
        };
        match load(&self.http, &self.url, self.algorithm).await {
            Ok(keys) if !keys.is_empty() => {
                let fresh = Arc::new(KeySet { keys, fetched_at: Instant::now() });
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = fresh;
            }
            Ok(_) => tracing::warn!(url = %self.url, "refreshed JWKS has no usable key; keeping the old set"),
            Err(err) => tracing::warn!(%err, "JWKS refresh failed; keeping the old set"),
        }
        self.snapshot().lookup(kid)
    }

    fn snapshot(&self) -> Arc<KeySet> {
        // Nothing panics while holding the lock, so a poisoned one still holds a whole set.
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl KeySet {
    fn lookup(&self, kid: Option<&str>) -> Option<DecodingKey> {
        match kid {
            Some(kid) => self.keys.get(kid).cloned(),
            None if self.keys.len() == 1 => self.keys.values().next().cloned(),
            None => None,
        }
    }
}

/// Lets one caller at a time refresh, and only once the minimum interval
/// has passed since the last attempt (successful or not; the start-up
/// fetch counts).
struct RefreshGate {
    epoch: Instant,
    /// Milliseconds after `epoch` of the last attempt's end, or [`IN_FLIGHT`].
    last_attempt: AtomicU64,
}

const IN_FLIGHT: u64 = u64::MAX;

impl RefreshGate {
    fn new() -> Self {
        Self { epoch: Instant::now(), last_attempt: AtomicU64::new(0) }
    }

    fn try_claim(&self, min_interval: Duration) -> Option<RefreshClaim<'_>> {
        let last = self.last_attempt.load(Ordering::Acquire);
        let min_interval = u64::try_from(min_interval.as_millis()).unwrap_or(u64::MAX);
        if last == IN_FLIGHT || self.now_ms().saturating_sub(last) < min_interval {
            return None;
        }
        self.last_attempt.compare_exchange(last, IN_FLIGHT, Ordering::AcqRel, Ordering::Acquire).ok()?;
        Some(RefreshClaim { gate: self })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(IN_FLIGHT - 1)
    }
}

/// Held while refreshing; dropping it (also when the request is cancelled
/// mid-fetch) records the attempt and lets the next refresh happen.
struct RefreshClaim<'a> {
    gate: &'a RefreshGate,
}

impl Drop for RefreshClaim<'_> {
    fn drop(&mut self) {
        self.gate.last_attempt.store(self.gate.now_ms(), Ordering::Release);
    }
}

async fn load(http: &reqwest::Client, url: &str, algorithm: Algorithm) -> Result<HashMap<String, DecodingKey>, JwksError> {
    let fail = |message: String| JwksError::Fetch { url: url.to_owned(), message };
    let response = http.get(url).timeout(Duration::from_secs(5)).send().await.map_err(|e| fail(e.to_string()))?;
    if !response.status().is_success() {
        return Err(fail(format!("status {}", response.status())));
    }
    let set: JwkSet = response.json().await.map_err(|e| fail(e.to_string()))?;
    Ok(set
        .keys
        .iter()
        .filter(|jwk| jwk_matches(jwk, algorithm))
        .filter_map(|jwk| Some((jwk.common.key_id.clone().unwrap_or_default(), DecodingKey::from_jwk(jwk).ok()?)))
        .collect())
}

/// Only keys of the pinned algorithm's family count, so an RSA key can
/// never be used to check an HMAC signature or the other way round.
fn jwk_matches(jwk: &jsonwebtoken::jwk::Jwk, algorithm: Algorithm) -> bool {
    use jsonwebtoken::jwk::AlgorithmParameters;
    let family_ok = matches!(
        (&jwk.algorithm, algorithm),
        (AlgorithmParameters::RSA(_), Algorithm::RS256) | (AlgorithmParameters::EllipticCurve(_), Algorithm::ES256)
    );
    let declared_ok = jwk.common.key_algorithm.is_none_or(|alg| format!("{alg:?}") == format!("{algorithm:?}"));
    family_ok && declared_ok
}
