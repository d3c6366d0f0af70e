use shared::auth::{AuthConfig, Authenticator};
use shared::clock::Clock;
use shared::config::{self, StoreConfig};
use shared::credits::service::Credits;
use shared::payments::{Payments, StripeConfig};
use shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let (store, auth, stripe) = config::load(|env| {
        let parts = (StoreConfig::read(env), AuthConfig::read(env), StripeConfig::read(env));
        Some((parts.0?, parts.1?, parts.2?))
    })
    .inspect_err(|e| tracing::error!(%e, "cannot start"))?;
    let auth = Authenticator::new(auth, shared::net::client_builder().build()?).await?;
    let credits = Credits { store: Store::open(&store).await?, payments: Payments::new(&stripe)? };
    shared::http::run(credits::App { auth, credits, clock: Clock::System }, credits::handle).await
}
