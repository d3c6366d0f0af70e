//! Injected failures for `/v1` calls, so callers' timeout, retry and
//! error paths can be exercised against a local Stripe.

use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

/// The body of `POST /_emulator/faults`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub status: Option<u16>,
    pub delay_ms: Option<u64>,
    /// How many calls the fault applies to; absent = until cleared.
    pub count: Option<u32>,
    /// Only calls with this method (`POST`) and path (`/v1/refunds`); absent = every call.
    pub method: Option<String>,
    pub path: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Fault {
    pub status: Option<u16>,
    pub delay_ms: Option<u64>,
    /// Calls still affected; `None` = until cleared.
    pub remaining: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FaultError {
    #[error("a fault needs `status`, `delay_ms` or both")]
    Empty,
    #[error("`status` must be an HTTP error status (400-599), got {0}")]
    Status(u16),
    #[error("`count` must be at least 1; clear faults with DELETE /_emulator/faults")]
    Count,
}

/// What one affected call suffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Injection {
    pub delay: Option<Duration>,
    pub status: Option<StatusCode>,
}

impl Fault {
    pub fn new(spec: FaultSpec) -> Result<Fault, FaultError> {
        if spec.status.is_none() && spec.delay_ms.is_none() {
            return Err(FaultError::Empty);
        }
        if let Some(status) = spec.status
            && !(400..=599).contains(&status)
        {
            return Err(FaultError::Status(status));
        }
        if spec.count == Some(0) {
            return Err(FaultError::Count);
        }
        Ok(Fault { status: spec.status, delay_ms: spec.delay_ms, remaining: spec.count, method: spec.method.map(|m| m.to_ascii_uppercase()), path: spec.path })
    }

    fn injection(&self) -> Injection {
        Injection {
            delay: self.delay_ms.map(Duration::from_millis),
            status: self.status.and_then(|s| StatusCode::from_u16(s).ok()),
        }
    }

    fn applies_to(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method) && self.path.as_deref().is_none_or(|p| p == path)
    }
}

/// Uses up one call of the current fault if it applies to this call,
/// clearing it after its last one.
pub fn take(slot: &mut Option<Fault>, method: &str, path: &str) -> Option<Injection> {
    let fault = slot.as_mut().filter(|f| f.applies_to(method, path))?;
    let injection = fault.injection();
    match &mut fault.remaining {
        Some(1) => *slot = None,
        Some(remaining) => *remaining -= 1,
        None => {}
    }
    Some(injection)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(status: Option<u16>, delay_ms: Option<u64>, count: Option<u32>) -> FaultSpec {
        FaultSpec { status, delay_ms, count, method: None, path: None }
    }

    #[test]
    fn counted_fault_clears_after_its_last_call() {
        let mut slot = Some(Fault::new(spec(Some(500), None, Some(2))).unwrap());
        assert_eq!(take(&mut slot, "GET", "/v1/events").unwrap().status, Some(StatusCode::INTERNAL_SERVER_ERROR));
        assert_eq!(take(&mut slot, "GET", "/v1/events").unwrap().status, Some(StatusCode::INTERNAL_SERVER_ERROR));
        assert_eq!(take(&mut slot, "GET", "/v1/events"), None);
    }

    #[test]
    fn uncounted_fault_stays() {
        let mut slot = Some(Fault::new(spec(None, Some(20), None)).unwrap());
        for _ in 0..5 {
            assert_eq!(take(&mut slot, "GET", "/v1/events").unwrap().delay, Some(Duration::from_millis(20)));
        }
    }

    #[test]
    fn a_fault_for_one_endpoint_leaves_the_others_alone() {
        let mut slot = Some(Fault::new(FaultSpec { method: Some("post".into()), path: Some("/v1/refunds".into()), ..spec(Some(500), None, Some(1)) }).unwrap());
        assert_eq!(take(&mut slot, "GET", "/v1/refunds"), None, "another method");
        assert_eq!(take(&mut slot, "POST", "/v1/checkout/sessions"), None, "another path");
        assert!(slot.is_some(), "calls it does not apply to do not use it up");
        assert_eq!(take(&mut slot, "POST", "/v1/refunds").unwrap().status, Some(StatusCode::INTERNAL_SERVER_ERROR));
        assert_eq!(slot, None);
    }

    #[test]
    fn rejects_meaningless_faults() {
        assert_eq!(Fault::new(spec(None, None, Some(1))), Err(FaultError::Empty));
        assert_eq!(Fault::new(spec(Some(200), None, None)), Err(FaultError::Status(200)));
        assert_eq!(Fault::new(spec(Some(500), None, Some(0))), Err(FaultError::Count));
    }
}
