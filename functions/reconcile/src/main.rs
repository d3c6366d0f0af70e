use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::attendance::AttendanceConfig;
use shared::config::{self, StoreConfig};
use shared::payments::StripeConfig;
use shared::payouts::PayoutConfig;
use shared::rooms::HmsConfig;
use shared::store::Store;
use shared::webhook::EventHandler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let (store, stripe, hms, attendance, payouts) = config::load(|env| {
        let parts = (StoreConfig::read(env), StripeConfig::read(env), HmsConfig::read(env), AttendanceConfig::read(env), PayoutConfig::read(env));
        Some((parts.0?, parts.1?, parts.2?, parts.3?, parts.4?))
    })
    .inspect_err(|e| tracing::error!(%e, "cannot start"))?;
    let events = EventHandler::new(Store::open(&store).await?, &stripe, hms)?;
    // Lives for the whole process, as Lambda keeps the environment warm.
    let events: &'static EventHandler = Box::leak(Box::new(events));
    shared::http::stopped(
        lambda_runtime::run(service_fn(move |_: LambdaEvent<serde_json::Value>| async move {
            // A failed run is reported to Lambda, so it shows in the function's error metrics; the next one retries.
            reconcile::handle(events, &attendance, &payouts, jiff::Timestamp::now()).await.map_err(|e| Error::from(e.to_string()))
        }))
        .await,
    )
}
