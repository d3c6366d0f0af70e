//! E-mail addresses, parsed once at the edge: a token's `email` claim, a
//! teacher's profile field. lettre's parser decides what an address is, so
//! whatever is stored is something the mailer can send to.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// RFC 5321's limit on a forward path.
const MAX_LEN: usize = 254;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be an e-mail address like name@example.com (at most {MAX_LEN} characters)")]
pub struct EmailError;

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > MAX_LEN {
            return Err(EmailError);
        }
        lettre::Address::from_str(raw).map(|a| Self(a.to_string())).map_err(|_| EmailError)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = EmailError;
    fn try_from(raw: String) -> Result<Self, EmailError> {
        Self::parse(&raw)
    }
}

impl From<EmailAddress> for String {
    fn from(address: EmailAddress) -> Self {
        address.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_parsed_and_trimmed() {
        assert_eq!(EmailAddress::parse(" ana@example.com ").map(|a| a.to_string()), Ok("ana@example.com".to_owned()));
        for bad in ["", "ana", "ana@", "@example.com", "a b@example.com", &format!("{}@example.com", "a".repeat(250))] {
            assert_eq!(EmailAddress::parse(bad), Err(EmailError), "{bad:?}");
        }
    }
}
