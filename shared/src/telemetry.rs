//! Structured JSON logs. Lambda's runtime opens a span per invocation that
//! carries the request id, so every line of a request can be found by it.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber once; `RUST_LOG` overrides the level.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // try_init: tests and local tools may call this more than once.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .without_time() // CloudWatch stamps every line itself.
        .try_init();
}
