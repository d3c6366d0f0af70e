//! A stateful local Stripe for the calls this project makes: Checkout
//! Sessions (create, retrieve, expire), the PaymentIntents they leave,
//! refunds and disputes, Connect (accounts, onboarding links, transfers and
//! reversals, balances, payouts), Events and signed webhook deliveries, and
//! hosted pages to pay or to onboard.
//!
//! stripe-mock answers from fixtures without state, and no other emulator
//! keeps Checkout Sessions, so `make dev` and the tests carry this one.
//!
//! Besides Stripe's `/v1` surface it serves `/pay/{id}` (the page a
//! session's `url` points to), `/connect/onboard/{link}` (an account link's
//! onboarding form) and `/_emulator/*` (faults, and logs of requests,
//! sessions, events and deliveries for tests); see `control`.

mod account_links;
mod accounts;
mod api;
mod balances;
mod connect;
mod connect_api;
mod connect_control;
#[cfg(test)]
mod connect_tests;
mod control;
mod disputes;
mod error;
mod events;
mod faults;
mod form;
mod idempotency;
mod objects;
mod onboarding;
mod page;
mod payment_intents;
mod refunds;
mod sessions;
mod state;
mod transfers;
mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use events::API_VERSION;
pub use webhooks::{MAX_ATTEMPTS, sign, signature_header};

use state::{Emulator, Shared};

/// How often sessions past `expires_at` are looked for.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// A webhook endpoint that takes longer than this has failed the attempt.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Build it with `..EmulatorConfig::default()` for the fields you do not
/// set, so fields added later do not break the construction.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// 0 picks a free port (tests).
    pub port: u16,
    /// The only key `/v1` accepts, as `Authorization: Bearer <secret_key>`.
    pub secret_key: String,
    /// The `whsec_…` secret platform events are signed with.
    pub webhook_secret: String,
    /// Where platform events are POSTed; `None` records them without delivering.
    pub webhook_url: Option<String>,
    /// Where Connect events (about connected accounts) are POSTed while no
    /// endpoint is registered, as a Connect endpoint receives them; `None`
    /// records them without delivering.
    pub connect_webhook_url: Option<String>,
    /// The Connect endpoint's own `whsec_…` secret; `None` signs Connect
    /// events with `webhook_secret`.
    pub connect_webhook_secret: Option<String>,
    /// The wait before the first retry of a failed delivery; it doubles for
    /// each further attempt, up to [`MAX_ATTEMPTS`] in all.
    pub retry_base: Duration,
    /// The platform's country (ISO code): accounts elsewhere are cross-border.
    pub platform_country: String,
}

impl Default for EmulatorConfig {
    /// A free port, test keys, no deliveries, a US platform.
    fn default() -> Self {
        EmulatorConfig {
            port: 0,
            secret_key: "sk_test_emulator".into(),
            webhook_secret: "whsec_emulator".into(),
            webhook_url: None,
            connect_webhook_url: None,
            connect_webhook_secret: None,
            retry_base: Duration::from_secs(2),
            platform_country: "US".into(),
        }
    }
}

/// A running emulator on 127.0.0.1; dropping it stops the server, the expiry
/// sweep and any pending webhook deliveries.
pub struct StripeEmulator {
    addr: SocketAddr,
    emulator: Shared,
    tasks: Vec<JoinHandle<()>>,
}

impl StripeEmulator {
    pub async fn start(config: EmulatorConfig) -> std::io::Result<StripeEmulator> {
        let listener = TcpListener::bind(("127.0.0.1", config.port)).await?;
        let addr = listener.local_addr()?;
        // Deliveries go to loopback endpoints; an HTTP(S)_PROXY from the
        // environment must not capture them.
        let http = reqwest::Client::builder().no_proxy().timeout(DELIVERY_TIMEOUT).build().map_err(std::io::Error::other)?;
        let (queue, deliveries) = mpsc::unbounded_channel();
        let emulator = Arc::new(Emulator::new(config, format!("http://{addr}/"), http, queue));
        let app = router(emulator.clone());
        let tasks = vec![
            tokio::spawn(async move {
                if let Err(err) = axum::serve(listener, app).await {
                    tracing::error!(%err, "Stripe emulator stopped serving");
                }
            }),
            tokio::spawn(webhooks::dispatch(emulator.clone(), deliveries)),
            tokio::spawn(sweep(emulator.clone())),
        ];
        Ok(StripeEmulator { addr, emulator, tasks })
    }

    /// `http://127.0.0.1:PORT/`; async-stripe needs the trailing slash.
    pub fn base_url(&self) -> String {
        self.emulator.base_url.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Takes effect for the next delivery attempt, retries included.
    pub fn set_webhook_url(&self, url: Option<String>) {
        self.emulator.set_webhook_url(url);
    }

    /// Where Connect events go from the next attempt on; a `secret` of `None` keeps the current one.
    pub fn set_connect_webhook(&self, url: Option<String>, secret: Option<String>) {
        self.emulator.set_connect_webhook(url, secret);
    }
}

impl Drop for StripeEmulator {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn router(emulator: Shared) -> Router {
    Router::new()
        .merge(api::router(emulator.clone()))
        .merge(page::router(emulator.clone()))
        .merge(onboarding::router(emulator.clone()))
        .merge(control::router(emulator.clone()))
        .merge(connect_control::router(emulator))
}

async fn sweep(emulator: Shared) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        emulator.expire_due(state::now());
    }
}
