use shared::auth::{AuthConfig, Authenticator};
use shared::checkout::RedirectPolicy;
use shared::clock::Clock;
use shared::config::{self, StoreConfig};
use shared::payments::{Payments, StripeConfig};
use shared::payouts::PayoutConfig;
use shared::payouts::service::TeacherPayouts;
use shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let (store, auth, stripe, config, redirects) = config::load(|env| {
        let parts = (StoreConfig::read(env), AuthConfig::read(env), StripeConfig::read(env), PayoutConfig::read(env), RedirectPolicy::read(env));
        Some((parts.0?, parts.1?, parts.2?, parts.3?, parts.4?))
    })
    .inspect_err(|e| tracing::error!(%e, "cannot start"))?;
    let auth = Authenticator::new(auth, shared::net::client_builder().build()?).await?;
    let payouts = TeacherPayouts { store: Store::open(&store).await?, payments: Payments::new(&stripe)?, config, redirects };
    shared::http::run(teacher_payouts::App { auth, payouts, clock: Clock::System }, teacher_payouts::handle).await
}
