//! Where Stripe may send the student back to: only the configured frontend
//! origins, so a checkout link can never be turned into an open redirect.

use reqwest::Url;

use crate::config::Env;
use crate::domain::CheckoutId;
use crate::error::ApiError;

/// Filled in with the checkout's id in `success_url` and `cancel_url`.
pub const CHECKOUT_ID_PLACEHOLDER: &str = "{CHECKOUT_ID}";

#[derive(Debug, Clone)]
pub struct RedirectPolicy {
    /// Serialized origins (`scheme://host[:port]`), the first being the default.
    origins: Vec<String>,
}

impl RedirectPolicy {
    pub fn new(origins: Vec<String>) -> Option<Self> {
        (!origins.is_empty()).then_some(Self { origins })
    }

    pub fn read(env: &mut Env) -> Option<Self> {
        env.required("ALLOWED_REDIRECT_ORIGINS", "your frontend's origins, comma separated, e.g. https://app.example.com", parse_origins)
    }

    pub fn origins(&self) -> &[String] {
        &self.origins
    }

    /// The URL to use for `field`: the client's, when its origin is allowed,
    /// or the default page on the first allowed origin. A `{CHECKOUT_ID}` in
    /// the client's URL becomes the checkout's id (as Stripe fills in
    /// `{CHECKOUT_SESSION_ID}`), so a page opened in a new tab or reloaded
    /// still knows which checkout it is about.
    pub fn resolve(&self, field: &str, requested: Option<&str>, default_path: &str, checkout: &CheckoutId) -> Result<String, ApiError> {
        let Some(raw) = requested else {
            return Ok(format!("{}{default_path}?checkout_id={checkout}", self.origins[0]));
        };
        self.allowed(field, &raw.replace(CHECKOUT_ID_PLACEHOLDER, checkout.as_str()))
    }

    /// The URL to use for `field` where nothing is filled in: the client's,
    /// when its origin is allowed, or `default_path` on the first origin.
    pub fn page(&self, field: &str, requested: Option<&str>, default_path: &str) -> Result<String, ApiError> {
        match requested {
            Some(raw) => self.allowed(field, raw),
            None => Ok(format!("{}{default_path}", self.origins[0])),
        }
    }

    fn allowed(&self, field: &str, raw: &str) -> Result<String, ApiError> {
        let url = Url::parse(raw).map_err(|_| ApiError::invalid(field, "is not an absolute URL"))?;
        let origin = url.origin().ascii_serialization();
        if !matches!(url.scheme(), "https" | "http") || !self.origins.contains(&origin) {
            return Err(ApiError::invalid(field, format!("must be on an allowed origin ({})", self.origins.join(", "))));
        }
        Ok(url.to_string())
    }
}

fn parse_origins(raw: &str) -> Result<RedirectPolicy, String> {
    let origins = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let url = Url::parse(s).map_err(|_| format!("{s:?} is not a URL"))?;
            if !matches!(url.scheme(), "https" | "http") || url.path() != "/" {
                return Err(format!("{s:?} must be an origin like https://app.example.com"));
            }
            Ok(url.origin().ascii_serialization())
        })
        .collect::<Result<Vec<_>, _>>()?;
    RedirectPolicy::new(origins).ok_or_else(|| "must name at least one origin".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RedirectPolicy {
        parse_origins("https://app.example.com, http://localhost:3000").unwrap()
    }

    #[test]
    fn allows_only_configured_origins() {
        let id = CheckoutId::parse("co_1").unwrap();
        let p = policy();
        assert_eq!(p.resolve("success_url", Some("https://app.example.com/done?x=1"), "/s", &id).unwrap(), "https://app.example.com/done?x=1");
        assert_eq!(p.resolve("success_url", None, "/checkout/success", &id).unwrap(), "https://app.example.com/checkout/success?checkout_id=co_1");
        assert_eq!(p.resolve("success_url", Some("http://localhost:3000/paid?checkout={CHECKOUT_ID}&s={CHECKOUT_SESSION_ID}"), "/s", &id).unwrap(), "http://localhost:3000/paid?checkout=co_1&s={CHECKOUT_SESSION_ID}", "ours filled in, Stripe's left for Stripe");
        assert_eq!(p.resolve("success_url", Some("http://localhost:3000/lessons/{CHECKOUT_ID}/paid"), "/s", &id).unwrap(), "http://localhost:3000/lessons/co_1/paid");
        for bad in ["https://evil.example.com/", "https://app.example.com.evil.com/", "javascript:alert(1)", "//evil.com", "https://app.example.com:8443/", "http://app.example.com/"] {
            assert_eq!(p.resolve("cancel_url", Some(bad), "/c", &id).unwrap_err().field(), Some("cancel_url"), "{bad}");
        }
    }

    #[test]
    fn rejects_non_origins_in_config() {
        assert!(parse_origins("https://app.example.com/path").is_err());
        assert!(parse_origins("ftp://x").is_err());
        assert!(parse_origins(" , ").is_err());
    }
}
