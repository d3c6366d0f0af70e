use shared::clock::Clock;
use shared::config::{self, StoreConfig};
use shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let config = config::load(StoreConfig::read).inspect_err(|e| tracing::error!(%e, "cannot start"))?;
    let app = get_teachers::App { store: Store::open(&config).await?, clock: Clock::System };
    shared::http::run(app, get_teachers::handle).await
}
