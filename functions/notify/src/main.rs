use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::config::{self, StoreConfig};
use shared::notify::{MailConfig, Mailer, Notifier};
use shared::outbound::{Subscribers, TargetPolicy};
use shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let (store, mail, policy) = config::load(|env| {
        let parts = (StoreConfig::read(env), MailConfig::read(env), TargetPolicy::read(env));
        Some((parts.0?, parts.1?, parts.2?))
    })
    .inspect_err(|e| tracing::error!(%e, "cannot start"))?;
    let store = Store::open(&store).await?;
    let notifier = Notifier { subscribers: Subscribers { store: store.clone(), policy }, store, mailer: Mailer::from_env()?, config: mail };
    // Lives for the whole process, as Lambda keeps the environment warm.
    let notifier: &'static Notifier = Box::leak(Box::new(notifier));
    shared::http::stopped(
        lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
            notify::handle(notifier, &event.payload, jiff::Timestamp::now()).await.map_err(Error::from)
        }))
        .await,
    )
}
