use shared::clock::Clock;
use shared::config::{self, StoreConfig};
use shared::payments::StripeConfig;
use shared::rooms::HmsConfig;
use shared::store::Store;
use shared::webhook::{EventHandler, WebhookSecrets, WebhookService};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let (store, stripe, secrets, connect_secrets, hms) = config::load(|env| {
        let parts = (StoreConfig::read(env), StripeConfig::read(env), WebhookSecrets::read(env), WebhookSecrets::read_connect(env), HmsConfig::read(env));
        Some((parts.0?, parts.1?, parts.2?, parts.3, parts.4?))
    })
    .inspect_err(|e| tracing::error!(%e, "cannot start"))?;
    let events = EventHandler::new(Store::open(&store).await?, &stripe, hms)?;
    let service = WebhookService { events, secrets, connect_secrets, clock: Clock::System };
    shared::http::run(service, stripe_webhook::handle).await
}
