//! A teacher's lesson packages: so many lessons of one duration at a
//! discount, bought at once and booked later with the credits they grant.

use serde::{Deserialize, Serialize};

use super::validate::{ProfileError, check_range};
use super::{LessonOffer, Rules};
use crate::domain::money::Money;
use crate::domain::stripe_limits::MAX_CHARGE;

pub const MIN_PACKAGE_LESSONS: u32 = 2;
pub const MAX_PACKAGE_LESSONS: u32 = 50;
pub const MAX_PACKAGE_DISCOUNT: u32 = 50;
pub const DEFAULT_PACKAGE_VALID_DAYS: u32 = 180;
pub const MIN_PACKAGE_VALID_DAYS: u32 = 30;
pub const MAX_PACKAGE_VALID_DAYS: u32 = 730;
/// A profile offers a handful, not a price list.
pub const MAX_PACKAGES: usize = 10;

/// A package as a profile writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageDoc {
    pub lessons: u32,
    pub duration_minutes: u32,
    #[serde(default)]
    pub discount_percent: u32,
}

/// A package on offer, checked against the profile's lessons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PackageOffer {
    pub lessons: u32,
    pub duration_minutes: u32,
    pub discount_percent: u32,
    /// One lesson of that duration, as the profile prices it.
    pub lesson_price: Money,
}

impl PackageOffer {
    /// The lesson's price × lessons × (1 − discount), rounded down to the minor unit.
    pub fn price(&self) -> Money {
        let full = u128::from(self.lesson_price.amount) * u128::from(self.lessons);
        let paid = full * u128::from(100 - self.discount_percent) / 100;
        Money::new(u64::try_from(paid).unwrap_or(u64::MAX), self.lesson_price.currency)
    }

    /// What each credit is worth: the price split evenly, the remainder
    /// kept by the last credit, so the values add up to the price exactly.
    pub fn unit_values(&self) -> Vec<u64> {
        split(self.price().amount, self.lessons)
    }

    pub fn to_doc(&self) -> PackageDoc {
        PackageDoc { lessons: self.lessons, duration_minutes: self.duration_minutes, discount_percent: self.discount_percent }
    }
}

/// `total` in `parts` whole shares, the remainder on the last.
pub fn split(total: u64, parts: u32) -> Vec<u64> {
    let parts = u64::from(parts.max(1));
    let each = total / parts;
    let mut values = vec![each; usize::try_from(parts).unwrap_or(1)];
    if let Some(last) = values.last_mut() {
        *last += total - each * parts;
    }
    values
}

/// Checks each package against the profile's lessons (a duration it offers,
/// a price that is not free and stays within Stripe's maximum charge).
pub(super) fn parse_packages(docs: &[PackageDoc], lessons: &[LessonOffer], min_charge: u64, rules: Rules) -> Result<Vec<PackageOffer>, ProfileError> {
    if rules == Rules::Strict && docs.len() > MAX_PACKAGES {
        return Err(ProfileError::new("packages", format!("at most {MAX_PACKAGES} packages")));
    }
    let mut offers: Vec<PackageOffer> = Vec::with_capacity(docs.len());
    for (i, doc) in docs.iter().enumerate() {
        let path = |field: &str| format!("packages[{i}].{field}");
        let lessons_in = check_range(&path("lessons"), doc.lessons, MIN_PACKAGE_LESSONS, MAX_PACKAGE_LESSONS, rules)?;
        let discount = check_range(&path("discount_percent"), doc.discount_percent, 0, MAX_PACKAGE_DISCOUNT, rules)?.min(100);
        let lesson = lessons
            .iter()
            .find(|l| l.duration_minutes == doc.duration_minutes)
            .ok_or_else(|| ProfileError::new(path("duration_minutes"), "must be the duration of one of the profile's lessons"))?;
        if lessons_in == 0 {
            return Err(ProfileError::new(path("lessons"), "must be positive"));
        }
        let offer = PackageOffer { lessons: lessons_in, duration_minutes: doc.duration_minutes, discount_percent: discount, lesson_price: lesson.price };
        if rules == Rules::Strict {
            let price = offer.price().amount;
            // At least two lessons at half price cost one lesson, which is 0
            // or at least Stripe's minimum: only a free lesson's package is too cheap.
            if price == 0 {
                return Err(ProfileError::new(path("discount_percent"), format!("leaves a price of 0, under Stripe's minimum charge of {min_charge} (a free lesson has no package)")));
            }
            if price > MAX_CHARGE {
                return Err(ProfileError::new(path("lessons"), format!("makes a price of {price}, over Stripe's maximum charge of {MAX_CHARGE}")));
            }
        }
        if offers.iter().any(|o| o.lessons == offer.lessons && o.duration_minutes == offer.duration_minutes) {
            return Err(ProfileError::new(path("lessons"), "another package already offers this many lessons of this duration"));
        }
        offers.push(offer);
    }
    Ok(offers)
}

pub(super) fn parse_valid_days(days: Option<u32>, rules: Rules) -> Result<u32, ProfileError> {
    check_range("package_valid_days", days.unwrap_or(DEFAULT_PACKAGE_VALID_DAYS), MIN_PACKAGE_VALID_DAYS, MAX_PACKAGE_VALID_DAYS, rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Currency;

    fn offer(price: u64, currency: &str, lessons: u32, discount: u32) -> PackageOffer {
        PackageOffer { lessons, duration_minutes: 60, discount_percent: discount, lesson_price: Money::new(price, Currency::parse(currency).unwrap()) }
    }

    #[test]
    fn the_price_is_rounded_down_and_the_last_credit_keeps_the_remainder() {
        let ten = offer(3000, "eur", 10, 10);
        assert_eq!(ten.price().amount, 27_000);
        assert_eq!(ten.unit_values(), vec![2700; 10]);
        // 999 × 3 × 0.93 = 2787.21 → 2787; 929 each and the last 929.
        let odd = offer(999, "eur", 3, 7);
        assert_eq!(odd.price().amount, 2787);
        assert_eq!(odd.unit_values(), vec![929, 929, 929]);
        let yen = offer(1001, "jpy", 7, 15);
        assert_eq!(yen.price().amount, 5955, "1001 × 7 × 0.85 = 5955.95, rounded down");
        let values = yen.unit_values();
        assert_eq!(values, vec![850, 850, 850, 850, 850, 850, 855]);
        assert_eq!(values.iter().sum::<u64>(), yen.price().amount);
    }

    #[test]
    fn split_always_adds_up() {
        for (total, parts) in [(0, 2), (1, 2), (101, 10), (99_999_999, 50), (7, 7)] {
            let values = split(total, parts);
            assert_eq!(values.len(), parts as usize);
            assert_eq!(values.iter().sum::<u64>(), total);
            assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");
        }
    }
}
