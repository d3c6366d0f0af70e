//! Standard Webhooks signatures (standardwebhooks.com): `webhook-signature`
//! is `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">` keyed with the
//! base64 part of a `whsec_` secret, one per secret (space separated) so a
//! receiver rotating its secret accepts either.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "whsec_";

/// A new secret: 24 bytes of two v4 UUIDs (the operating system's
/// generator; about 180 random bits).
pub fn new_secret() -> String {
    let bytes: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()].iter().flat_map(|u| *u.as_bytes()).take(24).collect();
    format!("{PREFIX}{}", STANDARD.encode(bytes))
}

/// The key of a `whsec_` secret; `None` when it is not one.
fn key_of(secret: &str) -> Option<Vec<u8>> {
    STANDARD.decode(secret.strip_prefix(PREFIX)?).ok().filter(|k| !k.is_empty())
}

/// Whether `secret` is a usable `whsec_` secret.
pub fn is_secret(secret: &str) -> bool {
    key_of(secret).is_some()
}

/// The `webhook-signature` header for a message, signed with every usable secret.
pub fn signature(secrets: &[String], id: &str, timestamp: i64, body: &str) -> String {
    secrets
        .iter()
        .filter_map(|s| key_of(s))
        .filter_map(|key| {
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
            mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
            Some(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's own example.
    #[test]
    fn signs_the_specifications_example() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(signature(&[secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn every_secret_signs_and_a_bad_one_is_skipped() {
        let (a, b) = (new_secret(), new_secret());
        assert!(is_secret(&a) && a != b && !is_secret("whsec_") && !is_secret("secret"));
        let both = signature(&[a.clone(), b.clone(), "nope".into()], "msg_1", 1, "{}");
        assert_eq!(both.split(' ').count(), 2);
        assert!(both.starts_with(&signature(&[a], "msg_1", 1, "{}")));
    }
}
