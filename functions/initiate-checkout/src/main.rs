use shared::auth::{AuthConfig, Authenticator};
use shared::checkout::{CheckoutService, RedirectPolicy};
use shared::clock::Clock;
use shared::config::{self, StoreConfig};
use shared::payments::{Payments, StripeConfig};
use shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let (store, auth, stripe, redirects) = config::load(|env| {
        let parts = (StoreConfig::read(env), AuthConfig::read(env), StripeConfig::read(env), RedirectPolicy::read(env));
        Some((parts.0?, parts.1?, parts.2?, parts.3?))
    })
    .inspect_err(|e| tracing::error!(%e, "cannot start"))?;
    let auth = Authenticator::new(auth, reqwest::Client::new()).await?;
    let checkout = CheckoutService { store: Store::from_env(&store).await, payments: Payments::new(&stripe)?, redirects, clock: Clock::System };
    shared::http::run(initiate_checkout::App { auth, checkout }, initiate_checkout::handle).await
}
