use shared::attendance::{HmsWebhook, HmsWebhookSecrets};
use shared::config::{self, StoreConfig};
use shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let (store, secrets) = config::load(|env| {
        let parts = (StoreConfig::read(env), HmsWebhookSecrets::read(env));
        Some((parts.0?, parts.1?))
    })
    .inspect_err(|e| tracing::error!(%e, "cannot start"))?;
    let webhook = HmsWebhook { store: Store::open(&store).await?, secrets };
    shared::http::run(hms_webhook::App { webhook }, hms_webhook::handle).await
}
