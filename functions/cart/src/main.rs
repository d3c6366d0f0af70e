use shared::auth::{AuthConfig, Authenticator};
use shared::clock::Clock;
use shared::config::{self, StoreConfig};
use shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let (store, auth) = config::load(|env| Some((StoreConfig::read(env)?, AuthConfig::read(env)?))).inspect_err(|e| tracing::error!(%e, "cannot start"))?;
    let auth = Authenticator::new(auth, shared::net::client_builder().build()?).await?;
    let app = cart::App { auth, store: Store::open(&store).await?, clock: Clock::System };
    shared::http::run(app, cart::handle).await
}
