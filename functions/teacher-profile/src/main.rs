use shared::auth::{AuthConfig, Authenticator};
use shared::clock::Clock;
use shared::config::{self, StoreConfig};
use shared::store::Store;
use shared::teacher_profile::ProfileEditing;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let (store, auth) = config::load(|env| {
        let parts = (StoreConfig::read(env), AuthConfig::read(env));
        Some((parts.0?, parts.1?))
    })
    .inspect_err(|e| tracing::error!(%e, "cannot start"))?;
    let auth = Authenticator::new(auth, shared::net::client_builder().build()?).await?;
    let editing = ProfileEditing { store: Store::open(&store).await? };
    shared::http::run(teacher_profile::App { auth, editing, clock: Clock::System }, teacher_profile::handle).await
}
