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
    pub fn now(&self) -> Timestamp {
        match self {
            Self::System => Timestamp::now(),
            Self::Fixed(at) => *at,
        }
    }
}
