//! Stripe's limits on the amount of one charge, which bound what a profile
//! may ask for a lesson: a price Stripe would refuse must be caught when the
//! profile is written, not when a student pays. Both come from Stripe's
//! documentation, "Minimum and maximum charge amounts"
//! (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts).

use super::money::Currency;

/// Stripe's largest amount: eight digits of minor units.
pub const MAX_CHARGE: u64 = 99_999_999;

/// Stripe's minimum charge amounts, in minor units. They are the currencies
/// this marketplace supports: one missing here has no known minimum, so a
/// price in it could be refused at payment.
const MIN_CHARGES: [(&str, u64); 24] = [
    ("usd", 50),
    ("eur", 50),
    ("gbp", 30),
    ("aud", 50),
    ("cad", 50),
    ("chf", 50),
    ("nzd", 50),
    ("sgd", 50),
    ("jpy", 50),
    ("hkd", 400),
    ("dkk", 250),
    ("nok", 300),
    ("sek", 300),
    ("pln", 200),
    ("czk", 1500),
    ("huf", 17500),
    ("mxn", 1000),
    ("brl", 50),
    ("inr", 50),
    ("ron", 200),
    ("bgn", 100),
    ("aed", 200),
    ("thb", 1000),
    ("myr", 200),
];

/// Stripe's minimum charge in `currency`; `None` when it is not supported.
pub fn min_charge(currency: Currency) -> Option<u64> {
    MIN_CHARGES.iter().find(|(code, _)| *code == currency.as_str()).map(|&(_, minimum)| minimum)
}

/// The supported currency codes, comma separated, for error messages.
pub fn supported_currencies() -> String {
    MIN_CHARGES.map(|(code, _)| code).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_the_minimum_of_listed_currencies_only() {
        let currency = |code: &str| Currency::parse(code).unwrap();
        assert_eq!(min_charge(currency("EUR")), Some(50));
        assert_eq!(min_charge(currency("gbp")), Some(30));
        assert_eq!(min_charge(currency("huf")), Some(17_500));
        assert_eq!(min_charge(currency("xyz")), None);
    }
}
