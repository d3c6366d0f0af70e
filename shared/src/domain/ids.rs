//! Identifier newtypes. Each one is validated once at the boundary (query
//! parameter, JSON body, stored item) so the rest of the code can put it in
//! keys and URLs without re-checking.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters, got {len}")]
    TooLong { max: usize, len: usize },
    #[error("must start with a lowercase letter")]
    MustStartWithLetter,
    #[error("invalid character {ch:?} at position {position}; allowed: {allowed}")]
    InvalidChar { ch: char, position: usize, allowed: &'static str },
}

/// The character rules of one id kind.
struct Rules {
    max_len: usize,
    allowed: fn(u8) -> bool,
    allowed_text: &'static str,
    starts_with_letter: bool,
}

impl Rules {
    fn check(&self, raw: &str) -> Result<(), IdError> {
        if raw.is_empty() {
            return Err(IdError::Empty);
        }
        // Counting chars, not bytes, so a non-ASCII input reports its real length.
        let len = raw.chars().count();
        if len > self.max_len {
            return Err(IdError::TooLong { max: self.max_len, len });
        }
        if let Some((position, ch)) = raw.chars().enumerate().find(|&(_, c)| !c.is_ascii() || !(self.allowed)(c as u8)) {
            return Err(IdError::InvalidChar { ch, position, allowed: self.allowed_text });
        }
        if self.starts_with_letter && !raw.as_bytes()[0].is_ascii_lowercase() {
            return Err(IdError::MustStartWithLetter);
        }
        Ok(())
    }
}

/// Generates a validated string newtype with parse, Display and string serde
/// (deserializing validates, so a bad stored or posted id never gets in).
macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident, $rules:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            const RULES: Rules = $rules;

            pub fn parse(raw: &str) -> Result<Self, IdError> {
                Self::RULES.check(raw)?;
                Ok(Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(raw: String) -> Result<Self, IdError> {
                Self::RULES.check(&raw)?;
                Ok(Self(raw))
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(raw: &str) -> Result<Self, IdError> {
                Self::parse(raw)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::try_from(raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

fn teacher_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
}

fn opaque_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

// Opaque ids may be UUIDs or provider ids (e.g. "cs_test_…"), so upper case is
// allowed; '#', ':' and '/' are not, as they separate parts of store keys and URLs.
const OPAQUE: Rules = Rules { max_len: 128, allowed: opaque_char, allowed_text: "A-Z a-z 0-9 _ -", starts_with_letter: false };

string_id!(
    /// A teacher's handle, chosen by operators and visible in URLs.
    TeacherId,
    Rules { max_len: 64, allowed: teacher_char, allowed_text: "a-z 0-9 _ -", starts_with_letter: true }
);

string_id!(
    /// Identifies one booking (a held or confirmed lesson).
    BookingId,
    OPAQUE
);

string_id!(
    /// Identifies one checkout (a cart being paid for).
    CheckoutId,
    OPAQUE
);

/// The subject (`sub`) of an account at the identity provider, as its
/// tokens carry it: providers choose freely (Supabase and Cognito UUIDs,
/// `auth0|…`, mixed-case Firebase uids), so only what could never be a
/// token's subject is refused. It is a key only after a fixed prefix
/// (`USER#<user_id>`), so no character needs to be kept out of it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(String);

pub const MAX_USER_ID_CHARS: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to {MAX_USER_ID_CHARS} printable characters, not all blank")]
pub struct UserIdError;

impl UserId {
    pub fn parse(raw: &str) -> Result<Self, UserIdError> {
        let printable = raw.chars().all(|c| !c.is_control());
        // A blank subject is refused by authentication, so it could never match.
        if raw.trim().is_empty() || raw.chars().count() > MAX_USER_ID_CHARS || !printable {
            return Err(UserIdError);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&TeacherId> for UserId {
    /// A teacher id is always a valid user id: the default login of a profile.
    fn from(id: &TeacherId) -> Self {
        Self(id.as_str().to_owned())
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for UserId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for UserId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn teacher_id_accepts_valid_handles() {
        for raw in ["t_anna", "a", "ben-carter-2", &"a".repeat(64)] {
            assert_eq!(TeacherId::parse(raw).unwrap().as_str(), raw);
        }
    }

    #[test]
    fn teacher_id_rejects_invalid_handles() {
        assert_eq!(TeacherId::parse(""), Err(IdError::Empty));
        assert_eq!(TeacherId::parse(&"a".repeat(65)), Err(IdError::TooLong { max: 64, len: 65 }));
        assert_eq!(TeacherId::parse("1anna"), Err(IdError::MustStartWithLetter));
        assert_eq!(TeacherId::parse("_anna"), Err(IdError::MustStartWithLetter));
        assert!(matches!(TeacherId::parse("Anna"), Err(IdError::InvalidChar { ch: 'A', position: 0, .. })));
        assert!(matches!(TeacherId::parse("an na"), Err(IdError::InvalidChar { ch: ' ', position: 2, .. })));
        assert!(matches!(TeacherId::parse("anné"), Err(IdError::InvalidChar { ch: 'é', position: 3, .. })));
    }

    #[test]
    fn teacher_id_serde_is_a_validated_string() {
        let id = TeacherId::parse("t_anna").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""t_anna""#);
        assert_eq!(serde_json::from_str::<TeacherId>(r#""t_anna""#).unwrap(), id);
        let err = serde_json::from_str::<TeacherId>(r#""T_ANNA""#).unwrap_err();
        assert!(err.to_string().contains("invalid character"), "{err}");
    }

    #[test]
    fn user_ids_take_what_identity_providers_issue() {
        for raw in ["0b7e3f1a-5c2d-4e8f-9a61-2f3b4c5d6e7f", "auth0|65f1c2d3e4a5b6c7d8e9f001", "Xk9LmQ2pRs7TuVw3YzA1bC4dE5f2", "t_anna", "a b", "ünïcode", &"x".repeat(255)] {
            assert_eq!(UserId::parse(raw).unwrap().as_str(), raw);
        }
        for bad in ["", " ", "\t", "tab\there", "new\nline", "nul\0", &"x".repeat(256)] {
            assert_eq!(UserId::parse(bad), Err(UserIdError), "{bad:?}");
        }
        assert_eq!(UserId::from(&TeacherId::parse("t_anna").unwrap()).as_str(), "t_anna");
    }

    #[test]
    fn opaque_ids_accept_uuids_and_provider_ids() {
        let uuid = "0190f2c4-7e4a-7b3e-9a51-3c2d1e0f9a8b";
        assert_eq!(BookingId::parse(uuid).unwrap().to_string(), uuid);
        assert_eq!(CheckoutId::parse("cs_test_a1B2c3").unwrap().as_str(), "cs_test_a1B2c3");
        assert!(BookingId::parse("BOOKING#1").is_err());
        assert!(CheckoutId::parse("").is_err());
        assert!(CheckoutId::parse(&"x".repeat(129)).is_err());
        let back: BookingId = serde_json::from_str(&serde_json::to_string(&BookingId::parse(uuid).unwrap()).unwrap()).unwrap();
        assert_eq!(back.as_str(), uuid);
    }
}
