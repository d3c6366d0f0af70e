use shared::auth::{AuthConfig, Authenticator};
use shared::checkout::{CheckoutService, RedirectPolicy};
use shared::clock::Clock;
use shared::config::{self, StoreConfig};
use shared::payments::{Payments, StripeConfig};
use shared::rooms::{HmsConfig, Rooms};
use shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let (store, auth, stripe, redirects, hms) = config::load(|env| {
        let parts = (StoreConfig::read(env), AuthConfig::read(env), StripeConfig::read(env), RedirectPolicy::read(env), HmsConfig::read(env));
        Some((parts.0?, parts.1?, parts.2?, parts.3?, parts.4?))
    })
    .inspect_err(|e| tracing::error!(%e, "cannot start"))?;
    let auth = Authenticator::new(auth, shared::net::client_builder().build()?).await?;
    let store = Store::open(&store).await?;
    let rooms = Rooms::new(store.clone(), hms, Clock::System)?;
    let checkout = CheckoutService { store, payments: Payments::new(&stripe)?, rooms, redirects, clock: Clock::System };
    shared::http::run(initiate_checkout::App { auth, checkout }, initiate_checkout::handle).await
}
