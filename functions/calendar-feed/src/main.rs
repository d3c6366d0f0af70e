use shared::auth::{AuthConfig, Authenticator};
use shared::calendar_feed::Feeds;
use shared::clock::Clock;
use shared::config::{self, StoreConfig};
use shared::notify::MailConfig;
use shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let (store, auth, mail, base_url) = config::load(|env| {
        let base = env.optional("FEED_BASE_URL", "where calendar-feed answers, when not its Function URL (a custom domain; the local stack)", |s| Ok(s.to_owned()));
        let parts = (StoreConfig::read(env), AuthConfig::read(env), MailConfig::read(env));
        Some((parts.0?, parts.1?, parts.2?, base))
    })
    .inspect_err(|e| tracing::error!(%e, "cannot start"))?;
    let auth = Authenticator::new(auth, shared::net::client_builder().build()?).await?;
    let feeds = Feeds { store: Store::open(&store).await?, mail };
    shared::http::run(calendar_feed::App { auth, feeds, base_url, clock: Clock::System }, calendar_feed::handle).await
}
