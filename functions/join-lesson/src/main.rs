use shared::auth::{AuthConfig, Authenticator};
use shared::clock::Clock;
use shared::config::{self, StoreConfig};
use shared::rooms::{HmsConfig, Joining, Rooms, read_opens_before};
use shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let (store, auth, hms, opens_before) = config::load(|env| {
        let parts = (StoreConfig::read(env), AuthConfig::read(env), HmsConfig::read(env), read_opens_before(env));
        Some((parts.0?, parts.1?, parts.2?, parts.3?))
    })
    .inspect_err(|e| tracing::error!(%e, "cannot start"))?;
    let auth = Authenticator::new(auth, shared::net::client_builder().build()?).await?;
    let rooms = Rooms::new(Store::open(&store).await?, hms, Clock::System)?;
    shared::http::run(join_lesson::App { auth, joining: Joining { rooms, opens_before, clock: Clock::System } }, join_lesson::handle).await
}
