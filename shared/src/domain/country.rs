//! A country as Stripe takes it: ISO 3166-1 alpha-2, upper case.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid country {raw:?}: expected a 2-letter ISO 3166-1 code such as \"DE\"")]
pub struct CountryError {
    raw: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Country([u8; 2]);

impl Country {
    pub const US: Self = Self(*b"US");

    pub fn parse(raw: &str) -> Result<Self, CountryError> {
        match raw.as_bytes() {
            &[a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => Ok(Self([a.to_ascii_uppercase(), b.to_ascii_uppercase()])),
            _ => Err(CountryError { raw: raw.to_owned() }),
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored, so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Country {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Country {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_letters_upper_cased() {
        assert_eq!(Country::parse("de").unwrap().as_str(), "DE");
        assert_eq!(Country::parse("US").unwrap().to_string(), "US");
        for bad in ["", "D", "DEU", "D1", "ü"] {
            assert!(Country::parse(bad).is_err(), "{bad:?}");
        }
    }
}
