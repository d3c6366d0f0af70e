//! The payout settings, read once at start-up.

use jiff::SignedDuration;

use super::share::Percent;
use crate::config::Env;
use crate::domain::Country;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayoutConfig {
    /// `PLATFORM_COMMISSION_PERCENT`: kept of each lesson unless the
    /// teacher's profile says otherwise (an admin's `commission_percent`).
    pub commission: Percent,
    /// `PAYOUT_HOLD_HOURS`: after a lesson's end, before its earning may be
    /// transferred (the time a student has to claim it back).
    pub hold: SignedDuration,
    /// `STRIPE_PLATFORM_COUNTRY`: a teacher elsewhere is onboarded under
    /// Stripe's `recipient` service agreement.
    pub platform_country: Country,
}

impl Default for PayoutConfig {
    fn default() -> Self {
        Self { commission: Percent::DEFAULT_COMMISSION, hold: SignedDuration::from_hours(72), platform_country: Country::US }
    }
}

impl PayoutConfig {
    pub fn read(env: &mut Env) -> Option<Self> {
        let commission = env.with_default("PLATFORM_COMMISSION_PERCENT", "15", |s| s.parse::<u8>().ok().and_then(Percent::new).ok_or_else(|| "must be a whole percentage, 0 to 100".into()));
        let hold = env.with_default("PAYOUT_HOLD_HOURS", "72", |s| s.parse::<i64>().ok().filter(|h| (0..=720).contains(h)).ok_or_else(|| "must be 0 to 720 hours".into()));
        let country = env.with_default("STRIPE_PLATFORM_COUNTRY", "US", |s| Country::parse(s).map_err(|e| e.to_string()));
        Some(Self { commission: commission?, hold: SignedDuration::from_hours(hold?), platform_country: country? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        let mut env = Env::from_pairs([("X", "1")]);
        let config = PayoutConfig::read(&mut env).unwrap();
        assert_eq!(config, PayoutConfig::default());
        assert_eq!(config.commission.value(), 15);
        for (name, bad) in [("PLATFORM_COMMISSION_PERCENT", "101"), ("PLATFORM_COMMISSION_PERCENT", "-1"), ("PAYOUT_HOLD_HOURS", "721"), ("STRIPE_PLATFORM_COUNTRY", "USA")] {
            let mut env = Env::from_pairs([(name, bad)]);
            let read = PayoutConfig::read(&mut env);
            assert!(env.finish(read).is_err(), "{name}={bad}");
        }
        let mut env = Env::from_pairs([("PLATFORM_COMMISSION_PERCENT", "0"), ("PAYOUT_HOLD_HOURS", "0"), ("STRIPE_PLATFORM_COUNTRY", "de")]);
        let config = PayoutConfig::read(&mut env).unwrap();
        assert_eq!((config.commission.value(), config.hold, config.platform_country.as_str()), (0, SignedDuration::ZERO, "DE"));
    }
}
