//! A JSON Web Key Set fetched at start-up and refreshed when a token names a
//! key id we have not seen (the provider rotated its keys), at most once per
//! interval so a stream of bogus `kid`s cannot hammer the provider.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::RwLock;

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
    state: RwLock<State>,
}

struct State {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Instant,
}

impl JwksCache {
    pub(super) async fn fetch(http: reqwest::Client, url: String, algorithm: Algorithm, min_refresh: Duration) -> Result<Self, JwksError> {
        let keys = load(&http, &url, algorithm).await?;
        if keys.is_empty() {
            return Err(JwksError::NoKeys { url, algorithm });
        }
        Ok(Self { http, url, algorithm, min_refresh, state: RwLock::new(State { keys, fetched_at: Instant::now() }) })
    }

    pub(super) fn set_min_refresh_interval(&mut self, interval: Duration) {
        self.min_refresh = interval;
    }

    /// The key for `kid`; a token without `kid` is accepted only while the set has exactly one key.
    pub(super) async fn key(&self, kid: Option<&str>) -> Option<DecodingKey> {
        if let Some(key) = lookup(&*self.state.read().await, kid) {
            return Some(key);
        }
        let mut state = self.state.write().await;
        if let Some(key) = lookup(&state, kid) {
            return Some(key);
        }
        if state.fetched_at.elapsed() < self.min_refresh {
            return None;
        }
        state.fetched_at = Instant::now();
        match load(&self.http, &self.url, self.algorithm).await {
            Ok(keys) if !keys.is_empty() => state.keys = keys,
            Ok(_) => tracing::warn!(url = %self.url, "refreshed JWKS has no usable key; keeping the old set"),
            Err(err) => tracing::warn!(%err, "JWKS refresh failed; keeping the old set"),
        }
        lookup(&state, kid)
    }
}

fn lookup(state: &State, kid: Option<&str>) -> Option<DecodingKey> {
    match kid {
        Some(kid) => state.keys.get(kid).cloned(),
        None if state.keys.len() == 1 => state.keys.values().next().cloned(),
        None => None,
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
