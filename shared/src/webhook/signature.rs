//! Stripe webhook signatures, verified over the exact bytes received:
//! `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]`, each `v1` an
//! HMAC-SHA256 of `"{t}.{raw_body}"` keyed with the endpoint secret as given
//! (`whsec_` included). Every `v1` is tried against every configured secret,
//! because during a secret roll Stripe signs with each active secret (and
//! async-stripe's helper keeps only the last `v1`). `v0` and other schemes
//! are ignored: accepting them would allow a downgrade.

use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha2::Sha256;

use crate::config::Env;

/// How far a signature's timestamp may be from now, either way (Stripe's libraries use 300 s).
pub const TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header is malformed: {0}")]
    Malformed(&'static str),
    #[error("the signature's timestamp is more than {TOLERANCE_SECONDS} s from now")]
    Stale,
    #[error("no signature matches")]
    NoMatch,
}

/// The endpoint's signing secrets; two during a rotation.
#[derive(Clone)]
pub struct WebhookSecrets(Vec<String>);

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookSecrets({} secret(s), redacted)", self.0.len())
    }
}

fn parse_secrets(raw: &str) -> Result<WebhookSecrets, String> {
    let secrets: Vec<String> = raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    if secrets.is_empty() || secrets.len() > 2 || !secrets.iter().all(|s| s.starts_with("whsec_") && s.len() > 6) {
        return Err("must be one or two whsec_... secrets, comma separated".into());
    }
    Ok(WebhookSecrets(secrets))
}

impl WebhookSecrets {
    pub fn new(secrets: Vec<String>) -> Option<Self> {
        (!secrets.is_empty()).then_some(Self(secrets))
    }

    /// The current secret (the first one while rolling).
    pub fn first(&self) -> Option<&str> {
        self.0.first().map(String::as_str)
    }

    pub fn read(env: &mut Env) -> Option<Self> {
        env.required("STRIPE_WEBHOOK_SECRET", "Stripe Dashboard > Developers > Webhooks > your endpoint > Signing secret; two, comma separated, while rolling it", parse_secrets)
    }

    /// The Connect endpoint's secrets (events of teachers' connected
    /// accounts); without them that endpoint refuses every delivery.
    pub fn read_connect(env: &mut Env) -> Option<Self> {
        env.optional("STRIPE_CONNECT_WEBHOOK_SECRET", "Stripe Dashboard > Developers > Webhooks > your Connect endpoint > Signing secret (make stripe-webhook registers it)", parse_secrets)
    }

    /// Accepts `body` when any `v1` of `header` is the HMAC of it under any
    /// secret, and its timestamp is within the tolerance of `now`.
    pub fn verify(&self, header: Option<&str>, body: &[u8], now: Timestamp) -> Result<(), SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let mut timestamp = None;
        let mut candidates = Vec::new();
        for part in header.split(',') {
            let (key, value) = part.trim().split_once('=').ok_or(SignatureError::Malformed("expected key=value pairs"))?;
            match key {
                "t" => timestamp = Some(value.parse::<i64>().map_err(|_| SignatureError::Malformed("t is not a number"))?),
                "v1" => candidates.push(hex::decode(value).map_err(|_| SignatureError::Malformed("v1 is not hex"))?),
                _ => {}
            }
        }
        let t = timestamp.ok_or(SignatureError::Malformed("no t"))?;
        if candidates.is_empty() {
            return Err(SignatureError::Malformed("no v1 signature"));
        }
        if (now.as_second() - t).abs() > TOLERANCE_SECONDS {
            return Err(SignatureError::Stale);
        }
        for secret in &self.0 {
            for candidate in &candidates {
                let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| SignatureError::NoMatch)?;
                mac.update(t.to_string().as_bytes());
                mac.update(b".");
                mac.update(body);
                // verify_slice compares in constant time.
                if mac.verify_slice(candidate).is_ok() {
                    return Ok(());
                }
            }
        }
        Err(SignatureError::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    const BODY: &[u8] = br#"{"id":"evt_test","object":"event"}"#;
    const T: i64 = 1_492_774_577;

    fn at(t: i64) -> Timestamp {
        Timestamp::from_second(t).unwrap()
    }

    fn secrets(list: &[&str]) -> WebhookSecrets {
        WebhookSecrets::new(list.iter().map(|s| (*s).to_owned()).collect()).unwrap()
    }

    #[test]
    fn matches_stripes_reference_vector() {
        let header = format!("t={T},v1=691252e266ce41cb94d709c84e9580d4172b117a510bbc81723f657d2cd5d215");
        assert_eq!(secrets(&["whsec_test_secret"]).verify(Some(&header), BODY, at(T)), Ok(()));
        assert_eq!(sign("whsec_test_secret", T, BODY), header);
    }

    #[test]
    fn any_v1_under_any_secret_during_a_roll() {
        let old = sign("whsec_old", T, BODY);
        let new = sign("whsec_new", T, BODY);
        let both = format!("{old},{},v0=deadbeef", new.split_once(',').unwrap().1);
        assert_eq!(secrets(&["whsec_new"]).verify(Some(&both), BODY, at(T)), Ok(()));
        assert_eq!(secrets(&["whsec_old"]).verify(Some(&both), BODY, at(T)), Ok(()));
        assert_eq!(secrets(&["whsec_other", "whsec_old"]).verify(Some(&old), BODY, at(T)), Ok(()));
        assert_eq!(secrets(&["whsec_other"]).verify(Some(&both), BODY, at(T)), Err(SignatureError::NoMatch));
    }

    #[test]
    fn tolerance_is_300_seconds_either_way() {
        let header = sign("whsec_s", T, BODY);
        let s = secrets(&["whsec_s"]);
        assert_eq!(s.verify(Some(&header), BODY, at(T + 300)), Ok(()));
        assert_eq!(s.verify(Some(&header), BODY, at(T - 300)), Ok(()));
        assert_eq!(s.verify(Some(&header), BODY, at(T + 301)), Err(SignatureError::Stale));
        assert_eq!(s.verify(Some(&header), BODY, at(T - 301)), Err(SignatureError::Stale));
    }

    #[test]
    fn tampering_and_malformed_headers_are_refused() {
        let s = secrets(&["whsec_s"]);
        let header = sign("whsec_s", T, BODY);
        assert_eq!(s.verify(Some(&header), br#"{"id":"evt_test","object":"event" }"#, at(T)), Err(SignatureError::NoMatch));
        assert_eq!(s.verify(None, BODY, at(T)), Err(SignatureError::Missing));
        let v0_only = format!("t={T},v0={}", header.split_once("v1=").unwrap().1);
        assert!(matches!(s.verify(Some(&v0_only), BODY, at(T)), Err(SignatureError::Malformed(_))), "v0 never counts");
        for bad in ["", "garbage", "t=abc,v1=00", &format!("t={T},v1=zz"), "v1=00"] {
            assert!(matches!(s.verify(Some(bad), BODY, at(T)), Err(SignatureError::Malformed(_))), "{bad:?}");
        }
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let mut env = Env::from_pairs([("STRIPE_WEBHOOK_SECRET", "whsec_aaa, whsec_bbb")]);
        let read = WebhookSecrets::read(&mut env).unwrap();
        let shown = format!("{read:?} {read:#?}");
        assert!(!shown.contains("aaa") && !shown.contains("bbb"), "{shown}");
        assert!(shown.contains("2 secret(s)"), "{shown}");
        assert_eq!(read.first(), Some("whsec_aaa"), "the current secret is the first");
        let mut bare = Env::from_pairs([("STRIPE_WEBHOOK_SECRET", "whsec_")]);
        assert!(WebhookSecrets::read(&mut bare).is_none(), "a prefix alone is no secret");
        let mut shortest = Env::from_pairs([("STRIPE_WEBHOOK_SECRET", "whsec_a")]);
        assert!(WebhookSecrets::read(&mut shortest).is_some());
        let mut three = Env::from_pairs([("STRIPE_WEBHOOK_SECRET", "whsec_a,whsec_b,whsec_c")]);
        assert!(WebhookSecrets::read(&mut three).is_none());
        let mut wrong = Env::from_pairs([("STRIPE_WEBHOOK_SECRET", "sk_test_x")]);
        assert!(WebhookSecrets::read(&mut wrong).is_none());
    }
}
