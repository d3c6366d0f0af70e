//! A whole percentage, 0 to 100 (a commission).

use serde::{Deserialize, Serialize};

/// The platform's commission, 0 to 100 percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Percent(u8);

impl Percent {
    pub const DEFAULT_COMMISSION: Self = Self(15);

    pub fn new(value: u8) -> Option<Self> {
        (value <= 100).then_some(Self(value))
    }

    pub fn value(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Percent {
    type Error = String;

    fn try_from(value: u8) -> Result<Self, String> {
        Self::new(value).ok_or_else(|| format!("{value} is not a percentage (0 to 100)"))
    }
}

impl From<Percent> for u8 {
    fn from(p: Percent) -> u8 {
        p.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_percentage_is_0_to_100_and_stored_as_its_number() {
        assert_eq!(serde_json::to_string(&Percent::new(15).unwrap()).unwrap(), "15");
        assert_eq!(serde_json::from_str::<Percent>("40").unwrap().value(), 40);
        assert!(serde_json::from_str::<Percent>("101").is_err());
        assert_eq!(u8::from(Percent::new(7).unwrap()), 7);
    }
}
