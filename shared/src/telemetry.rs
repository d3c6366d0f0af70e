//! Structured JSON logs. Lambda's runtime opens a span per invocation that
//! carries the request id, so every line of a request can be found by it.

use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt;
use tracing_subscriber::prelude::*;

/// Installs the JSON subscriber once. `RUST_LOG` is a level (`debug`) or
/// per-target levels (`info,shared::webhook=debug`); anything else means
/// `info`. Target filters, not `EnvFilter`: its span and regex syntax pulled
/// a regex engine into every binary for a feature no one used.
pub fn init() {
    let filter = std::env::var("RUST_LOG").ok().and_then(|value| value.parse::<Targets>().ok()).unwrap_or_else(|| Targets::new().with_default(Level::INFO));
    let json = fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .without_time(); // CloudWatch stamps every line itself.
    // try_init: tests and local tools may call this more than once.
    let _ = tracing_subscriber::registry().with(json.with_filter(filter)).try_init();
}
