use shared::auth::{OperatorAuth, OperatorAuthConfig};
use shared::clock::Clock;
use shared::config::{self, StoreConfig};
use shared::payments::StripeConfig;
use shared::rooms::HmsConfig;
use shared::store::Store;
use shared::webhook::EventHandler;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let (store, auth, stripe, hms) = config::load(|env| {
        let parts = (StoreConfig::read(env), OperatorAuthConfig::read(env), StripeConfig::read(env), HmsConfig::read(env));
        Some((parts.0?, parts.1?, parts.2?, parts.3?))
    })
    .inspect_err(|e| tracing::error!(%e, "cannot start"))?;
    let auth = OperatorAuth::new(auth, shared::net::client_builder().build()?).await?;
    let events = EventHandler::new(Store::open(&store).await?, &stripe, hms)?;
    shared::http::run(create_booking::App { auth, events, clock: Clock::System }, create_booking::handle).await
}
