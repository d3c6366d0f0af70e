//! What a student can book: the lessons and trial a profile offers, and the
//! `duration` a request asks for.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{LessonDoc, MAX_LESSON_MINUTES, MAX_LESSONS, MAX_PRICE, MIN_LESSON_MINUTES, ProfileError, Rules};
use crate::domain::money::{Currency, Money};


/// What a student can book: a duration and its price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LessonOffer {
    pub duration_minutes: u32,
    pub price: Money,
    pub trial: bool,
}

/// The `duration` query parameter: `trial` or a number of minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LessonChoice {
    Minutes(u32),
    Trial,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid lesson {raw:?}: expected \"trial\" or a positive whole number of minutes")]
pub struct LessonChoiceError {
    raw: String,
}

impl LessonChoice {
    pub fn parse(raw: &str) -> Result<Self, LessonChoiceError> {
        if raw == "trial" {
            return Ok(Self::Trial);
        }
        // Digits only: u32's parser would also take "+30".
        raw.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| raw.parse::<u32>().ok())
            .flatten()
            .filter(|&m| m > 0)
            .map(Self::Minutes)
            .ok_or_else(|| LessonChoiceError { raw: raw.to_owned() })
    }
}

impl FromStr for LessonChoice {
    type Err = LessonChoiceError;

    fn from_str(raw: &str) -> Result<Self, LessonChoiceError> {
        Self::parse(raw)
    }
}

impl fmt::Display for LessonChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Minutes(m) => write!(f, "{m}"),
            Self::Trial => f.write_str("trial"),
        }
    }
}

/// `min_charge` is Stripe's minimum in `currency`; a free lesson (price 0) is never charged.
pub(super) fn parse_lesson(path: &str, doc: &LessonDoc, currency: Currency, min_charge: u64, trial: bool, rules: Rules) -> Result<LessonOffer, ProfileError> {
    let minutes = doc.duration_minutes;
    if rules == Rules::AsStored {
        // A lesson must have a length for slots to exist; the rest are limits.
        return if minutes > 0 { Ok(LessonOffer { duration_minutes: minutes, price: Money::new(doc.price, currency), trial }) } else { Err(ProfileError::new(format!("{path}.duration_minutes"), "must be positive")) };
    }
    if !(MIN_LESSON_MINUTES..=MAX_LESSON_MINUTES).contains(&minutes) {
        let problem = format!("must be between {MIN_LESSON_MINUTES} and {MAX_LESSON_MINUTES}");
        return Err(ProfileError::new(format!("{path}.duration_minutes"), problem));
    }
    if !minutes.is_multiple_of(5) {
        return Err(ProfileError::new(format!("{path}.duration_minutes"), "must be a multiple of 5"));
    }
    if doc.price > MAX_PRICE {
        let problem = format!("must be at most {MAX_PRICE} (minor units), so a cart of {MAX_LESSONS} lessons stays within Stripe's maximum charge");
        return Err(ProfileError::new(format!("{path}.price"), problem));
    }
    if doc.price != 0 && doc.price < min_charge {
        let problem = format!("must be 0 (free) or at least {min_charge} (minor units), Stripe's minimum charge in {currency}");
        return Err(ProfileError::new(format!("{path}.price"), problem));
    }
    Ok(LessonOffer { duration_minutes: minutes, price: Money::new(doc.price, currency), trial })
}
