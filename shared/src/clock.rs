//! "Now", injected so rules that depend on it (notice, horizon, hold
//! expiry) can be tested at any instant.

use jiff::Timestamp;

#[derive(Debug, Clone, Copy, Default)]
pub enum Clock {
    #[default]
    System,
    Fixed(Timestamp),
}

impl Clock {
    /// Whole seconds: every instant we store or send goes out as RFC 3339
    /// without a fraction (and Stripe takes unix seconds).
    pub fn now(&self) -> Timestamp {
        match self {
            Self::System => {
                let now = Timestamp::now();
                Timestamp::from_second(now.as_second()).unwrap_or(now)
            }
            Self::Fixed(at) => *at,
        }
    }
}
