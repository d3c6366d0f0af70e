//! Capped exponential backoff with full jitter, bounded by time rather than
//! by a count: under a flash crowd the number of lost races says little,
//! while the time a request has left says everything.

use std::time::Duration;

use tokio::time::Instant;

/// How long one request keeps retrying a contested or throttled write. Part
/// of the request's worst case (see `checkout::service`), well inside the
/// functions' timeouts.
pub const CONTENTION_BUDGET: Duration = Duration::from_secs(3);
const BASE: Duration = Duration::from_millis(10);
const CAP: Duration = Duration::from_millis(400);

pub struct Backoff {
    deadline: Instant,
    attempts: u32,
}

impl Backoff {
    pub fn new(budget: Duration) -> Self {
        Self { deadline: Instant::now() + budget, attempts: 0 }
    }

    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Sleeps a random time up to the current cap and returns true, or
    /// returns false at once when that sleep would end past the budget.
    pub async fn wait(&mut self) -> bool {
        let cap = BASE.saturating_mul(1 << self.attempts.min(16)).min(CAP);
        let wait = cap.mul_f64(random_unit());
        if Instant::now() + wait >= self.deadline {
            return false;
        }
        self.attempts += 1;
        tokio::time::sleep(wait).await;
        true
    }
}

/// A uniform number in [0, 1); uuid's v4 generator is already in the build.
fn random_unit() -> f64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[..8]);
    (u64::from_le_bytes(word) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn stops_when_the_budget_is_spent() {
        let budget = Duration::from_secs(2);
        let start = Instant::now();
        let mut backoff = Backoff::new(budget);
        while backoff.wait().await {}
        assert!(start.elapsed() <= budget);
        // Each wait is at most the cap, so the budget is nearly used up.
        assert!(start.elapsed() + CAP >= budget, "{:?}", start.elapsed());
        assert!(backoff.attempts() >= 5);
    }
}
