use shared::auth::{AuthConfig, Authenticator};
use shared::changes::BookingChanges;
use shared::clock::Clock;
use shared::config::{self, StoreConfig};
use shared::payments::{Payments, StripeConfig};
use shared::rooms::{HmsConfig, Rooms};
use shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let (store, auth, stripe, hms) = config::load(|env| {
        let parts = (StoreConfig::read(env), AuthConfig::read(env), StripeConfig::read(env), HmsConfig::read(env));
        Some((parts.0?, parts.1?, parts.2?, parts.3?))
    })
    .inspect_err(|e| tracing::error!(%e, "cannot start"))?;
    let auth = Authenticator::new(auth, shared::net::client_builder().build()?).await?;
    let store = Store::open(&store).await?;
    let rooms = Rooms::new(store.clone(), hms, Clock::System)?;
    let changes = BookingChanges { store, payments: Payments::new(&stripe)?, rooms, clock: Clock::System };
    shared::http::run(change_booking::App { auth, changes }, change_booking::handle).await
}
