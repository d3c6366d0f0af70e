use shared::auth::{OperatorAuth, OperatorAuthConfig};
use shared::clock::Clock;
use shared::config::{self, StoreConfig};
use shared::rooms::{HmsConfig, Rooms};
use shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let (store, auth, hms) = config::load(|env| {
        let parts = (StoreConfig::read(env), OperatorAuthConfig::read(env), HmsConfig::read(env));
        Some((parts.0?, parts.1?, parts.2?))
    })
    .inspect_err(|e| tracing::error!(%e, "cannot start"))?;
    let auth = OperatorAuth::new(auth, shared::net::client_builder().build()?).await?;
    let rooms = Rooms::new(Store::open(&store).await?, hms, Clock::System)?;
    shared::http::run(create_room::App { auth, rooms }, create_room::handle).await
}
