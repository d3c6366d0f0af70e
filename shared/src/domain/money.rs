//! Amounts are integer minor units: floats would round prices, and the
//! payment provider takes minor units anyway.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid currency {raw:?}: expected a 3-letter ISO 4217 code such as \"eur\"")]
pub struct CurrencyError {
    raw: String,
}

/// A lowercase ISO 4217 code. Lowercase because that is the form the payment
/// provider and the stored profiles use; upper case input is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    pub fn parse(raw: &str) -> Result<Self, CurrencyError> {
        match raw.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_alphabetic) => {
                Ok(Self([a.to_ascii_lowercase(), b.to_ascii_lowercase(), c.to_ascii_lowercase()]))
            }
            _ => Err(CurrencyError { raw: raw.to_owned() }),
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored, so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl FromStr for Currency {
    type Err = CurrencyError;

    fn from_str(raw: &str) -> Result<Self, CurrencyError> {
        Self::parse(raw)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// An amount in the currency's minor unit (cents for eur/usd, yen for jpy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Money {
    pub amount: u64,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: u64, currency: Currency) -> Self {
        Self { amount, currency }
    }
}

/// Stripe's zero-decimal currencies: their minor unit is the whole unit.
const ZERO_DECIMAL: [&str; 16] = ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"];

/// For people: `EUR 30.00`, `JPY 5000`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.currency.as_str().to_ascii_uppercase();
        if ZERO_DECIMAL.contains(&self.currency.as_str()) {
            write!(f, "{code} {}", self.amount)
        } else {
            write!(f, "{code} {}.{:02}", self.amount / 100, self.amount % 100)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_is_three_letters_lowercased() {
        assert_eq!(Currency::parse("eur").unwrap().as_str(), "eur");
        assert_eq!(Currency::parse("USD").unwrap().as_str(), "usd");
        assert_eq!(Currency::parse("Aud").unwrap().to_string(), "aud");
        for bad in ["", "eu", "euro", "e1r", "€ur", "eu "] {
            assert!(Currency::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn money_is_shown_in_major_units_except_zero_decimal_currencies() {
        assert_eq!(Money::new(3005, Currency::parse("eur").unwrap()).to_string(), "EUR 30.05");
        assert_eq!(Money::new(7, Currency::parse("usd").unwrap()).to_string(), "USD 0.07");
        assert_eq!(Money::new(5000, Currency::parse("jpy").unwrap()).to_string(), "JPY 5000");
    }

    #[test]
    fn money_serializes_as_minor_units_and_code() {
        let money = Money::new(3000, Currency::parse("EUR").unwrap());
        let json = serde_json::to_string(&money).unwrap();
        assert_eq!(json, r#"{"amount":3000,"currency":"eur"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), money);
        assert!(serde_json::from_str::<Money>(r#"{"amount":1,"currency":"euro"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"amount":-1,"currency":"eur"}"#).is_err());
    }
}
