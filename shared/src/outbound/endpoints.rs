//! Registering the marketplace's endpoints (`admin webhooks`): the URL must
//! be one we would deliver to, the events ones we send, and each endpoint
//! gets its own `whsec_` secret; rotating adds a new secret and keeps the
//! previous one signing until the next rotation.

use jiff::Timestamp;

use super::event::EVENT_TYPES;
use super::sign::new_secret;
use super::target::TargetPolicy;
use crate::store::{Endpoint, Store, StoreError};

/// Secrets an endpoint is signed with at once: the new one and the one before.
const SECRETS_KEPT: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error(transparent)]
    Target(#[from] super::target::TargetError),
    #[error("unknown event {0:?}; the events are {events}", events = EVENT_TYPES.join(", "))]
    UnknownEvent(String),
    #[error("no endpoint {0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub async fn add(store: &Store, policy: &TargetPolicy, url: &str, events: &[String], now: Timestamp) -> Result<Endpoint, EndpointError> {
    let checked = policy.check_url(url)?;
    policy.resolve(&checked).await?;
    if let Some(unknown) = events.iter().find(|e| !EVENT_TYPES.contains(&e.as_str())) {
        return Err(EndpointError::UnknownEvent(unknown.clone()));
    }
    let endpoint = Endpoint {
        endpoint_id: format!("we_{}", uuid::Uuid::now_v7().simple()),
        url: checked.to_string(),
        events: events.to_vec(),
        secrets: vec![new_secret()],
        enabled: true,
        disabled_reason: None,
        created_at: now,
    };
    store.put_endpoint(&endpoint).await?;
    Ok(endpoint)
}

/// A new secret first; the previous one still signs, older ones go.
pub async fn rotate(store: &Store, id: &str) -> Result<Endpoint, EndpointError> {
    let mut endpoint = store.endpoint(id).await?.ok_or_else(|| EndpointError::NotFound(id.to_owned()))?;
    endpoint.secrets.insert(0, new_secret());
    endpoint.secrets.truncate(SECRETS_KEPT);
    store.set_endpoint_secrets(id, &endpoint.secrets).await?;
    Ok(endpoint)
}

/// Delivers to an endpoint again (after a 410 disabled it).
pub async fn enable(store: &Store, id: &str) -> Result<Endpoint, EndpointError> {
    let mut endpoint = store.endpoint(id).await?.ok_or_else(|| EndpointError::NotFound(id.to_owned()))?;
    endpoint.enabled = true;
    endpoint.disabled_reason = None;
    store.put_endpoint(&endpoint).await?;
    Ok(endpoint)
}
