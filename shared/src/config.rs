//! Typed configuration, read once at start-up from the environment.
//!
//! Every section is read through [`Env`], which collects *all* problems
//! instead of stopping at the first, so a misconfigured deployment fails with
//! one message that lists everything to fix and where to get each value.
//! Values are never echoed back, as some of them are secrets.

use std::collections::HashMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration ({} problem(s)):", self.problems.len())?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// A view of environment variables that records what is missing or invalid.
pub struct Env {
    vars: HashMap<String, String>,
    problems: Vec<String>,
}

impl Env {
    pub fn from_process() -> Self {
        Self::from_pairs(std::env::vars())
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        let vars = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter(|(_, v)| !v.trim().is_empty())
            .collect();
        Self { vars, problems: Vec::new() }
    }

    /// The variables as given (non-blank ones), for tools that read several sections apart.
    pub fn vars(&self) -> impl Iterator<Item = (&String, &String)> {
        self.vars.iter()
    }

    /// A required variable; `help` says where to get it.
    pub fn required<T>(&mut self, name: &str, help: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        match self.vars.get(name) {
            None => {
                self.problems.push(format!("{name} is not set ({help})"));
                None
            }
            Some(raw) => self.parse(name, help, raw.clone(), parse),
        }
    }

    pub fn optional<T>(&mut self, name: &str, help: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let raw = self.vars.get(name)?.clone();
        self.parse(name, help, raw, parse)
    }

    pub fn with_default<T>(&mut self, name: &str, default: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let raw = self.vars.get(name).cloned().unwrap_or_else(|| default.to_owned());
        self.parse(name, "see .env.example", raw, parse)
    }

    pub fn problem(&mut self, message: impl Into<String>) {
        self.problems.push(message.into());
    }

    fn parse<T>(&mut self, name: &str, help: &str, raw: String, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        match parse(raw.trim()) {
            Ok(v) => Some(v),
            Err(why) => {
                self.problems.push(format!("{name} is invalid: {why} ({help})"));
                None
            }
        }
    }

    /// Finishes reading: the value when nothing was wrong, otherwise every problem.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, ConfigError> {
        match value {
            Some(v) if self.problems.is_empty() => Ok(v),
            _ => Err(ConfigError { problems: self.problems }),
        }
    }
}

/// Where the single DynamoDB table is. The endpoint itself comes from the
/// standard `AWS_ENDPOINT_URL_DYNAMODB` (read by the AWS SDK), so local
/// emulators need no code path of their own.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub table_name: String,
}

impl StoreConfig {
    pub fn read(env: &mut Env) -> Option<Self> {
        let table_name = env.required("TABLE_NAME", "the DynamoDB table name; `make dev` uses `lessons`, SAM sets it on deploy", parse_table_name)?;
        Some(Self { table_name })
    }
}

fn parse_table_name(raw: &str) -> Result<String, String> {
    let ok_len = (3..=255).contains(&raw.len());
    let ok_chars = raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok_len && ok_chars {
        Ok(raw.to_owned())
    } else {
        Err("must be 3-255 characters of a-z, A-Z, 0-9, '_', '-', '.'".into())
    }
}

/// Reads one section from the process environment, failing with every problem at once.
pub fn load<T>(read: impl FnOnce(&mut Env) -> Option<T>) -> Result<T, ConfigError> {
    let mut env = Env::from_process();
    let value = read(&mut env);
    env.finish(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_problem_without_values() {
        let mut env = Env::from_pairs([("TABLE_NAME", "x y")]);
        let table = StoreConfig::read(&mut env);
        let other: Option<u32> = env.required("OTHER", "from the dashboard", |s| s.parse().map_err(|_| "not a number".into()));
        let err = env.finish(table.zip(other)).unwrap_err();
        assert_eq!(err.problems.len(), 2);
        assert!(err.problems[0].starts_with("TABLE_NAME is invalid"));
        assert!(err.problems[1].contains("OTHER is not set (from the dashboard)"));
        assert!(!err.to_string().contains("x y"));
    }

    #[test]
    fn blank_counts_as_missing() {
        let mut env = Env::from_pairs([("TABLE_NAME", "  ")]);
        let table = StoreConfig::read(&mut env);
        assert!(env.finish(table).is_err());
    }

    const JWT_SECRET: &str = "hs256-secret-3f9c1a7e5b2d8046afe1c3b5d7092468";
    const STRIPE_KEY: &str = "sk_test_51stripesecret9d8c7b6a5f4e3d2c1b0a";
    /// Parts of each secret, so a Debug that shortened or split a value still fails.
    const SECRET_PARTS: [&str; 4] = [JWT_SECRET, "3f9c1a7e5b2d", STRIPE_KEY, "51stripesecret"];

    /// Every configuration section read from `pairs`, in both Debug forms.
    fn debug_of_every_section(pairs: &[(&str, &str)]) -> Vec<String> {
        fn read<T: fmt::Debug>(pairs: &[(&str, &str)], read: impl FnOnce(&mut Env) -> Option<T>) -> [String; 2] {
            let mut env = Env::from_pairs(pairs.iter().copied());
            let value = read(&mut env);
            let value = env.finish(value).unwrap();
            [format!("{value:?}"), format!("{value:#?}")]
        }
        [
            read(pairs, StoreConfig::read),
            read(pairs, crate::auth::AuthConfig::read),
            read(pairs, crate::payments::StripeConfig::read),
            read(pairs, crate::checkout::RedirectPolicy::read),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    #[test]
    fn no_debug_output_contains_a_secret() {
        let common = [("TABLE_NAME", "lessons"), ("STRIPE_SECRET_KEY", STRIPE_KEY), ("ALLOWED_REDIRECT_ORIGINS", "https://app.example.com")];
        let hs256 = [common.as_slice(), &[("AUTH_JWT_SECRET", JWT_SECRET)]].concat();
        let jwks = [common.as_slice(), &[("AUTH_JWKS_URL", "https://auth.example.com/.well-known/jwks.json")]].concat();
        for pairs in [hs256, jwks] {
            for debug in debug_of_every_section(&pairs) {
                for secret in SECRET_PARTS {
                    assert!(!debug.contains(secret), "{debug} shows {secret}");
                }
            }
        }
    }

    #[test]
    fn reads_a_valid_table() {
        let mut env = Env::from_pairs([("TABLE_NAME", "lessons")]);
        let table = StoreConfig::read(&mut env);
        assert_eq!(env.finish(table).unwrap().table_name, "lessons");
    }
}
