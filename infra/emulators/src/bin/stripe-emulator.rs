//! The Stripe emulator on its own, for running beside a stack by hand:
//! `STRIPE_SECRET_KEY=sk_test_… STRIPE_WEBHOOK_SECRET=whsec_… \
//!  cargo run -p emulators --bin stripe-emulator -- --webhook-url http://127.0.0.1:9000/…`
//! (Connect events: `--connect-webhook-url`, `STRIPE_CONNECT_WEBHOOK_SECRET`).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use emulators::stripe::{EmulatorConfig, StripeEmulator};

#[derive(Parser)]
#[command(about = "A stateful local Stripe: Checkout Sessions, a hosted pay page, Connect, signed webhooks.")]
struct Args {
    /// Port on 127.0.0.1 (stripe-mock's default, so tools that know it find us).
    #[arg(long, default_value_t = 12111)]
    port: u16,
    /// Where platform events are POSTed; without it they are only recorded.
    #[arg(long)]
    webhook_url: Option<String>,
    /// Where Connect events (about connected accounts) are POSTed; without it they are only recorded.
    #[arg(long, env = "STRIPE_CONNECT_WEBHOOK_URL")]
    connect_webhook_url: Option<String>,
    /// The API key clients must send as `Authorization: Bearer …`.
    #[arg(long, env = "STRIPE_SECRET_KEY", hide_env_values = true)]
    secret_key: String,
    /// The `whsec_…` secret platform events are signed with.
    #[arg(long, env = "STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: String,
    /// The Connect endpoint's `whsec_…` secret; without it Connect events are signed with the webhook secret.
    #[arg(long, env = "STRIPE_CONNECT_WEBHOOK_SECRET", hide_env_values = true)]
    connect_webhook_secret: Option<String>,
    /// The platform's country (ISO code): connected accounts elsewhere are cross-border.
    #[arg(long, env = "STRIPE_PLATFORM_COUNTRY", default_value = "US")]
    platform_country: String,
    /// First retry delay for failed deliveries, in milliseconds; it doubles per attempt.
    #[arg(long, default_value_t = 2000)]
    retry_base_ms: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = EmulatorConfig {
        port: args.port,
        secret_key: args.secret_key,
        webhook_secret: args.webhook_secret,
        webhook_url: args.webhook_url.clone(),
        connect_webhook_url: args.connect_webhook_url.clone(),
        connect_webhook_secret: args.connect_webhook_secret,
        retry_base: Duration::from_millis(args.retry_base_ms),
        platform_country: args.platform_country,
    };
    let emulator = match StripeEmulator::start(config).await {
        Ok(emulator) => emulator,
        Err(err) => {
            eprintln!("stripe emulator: cannot listen on 127.0.0.1:{}: {err}", args.port);
            return ExitCode::FAILURE;
        }
    };
    println!("Stripe emulator at {}", emulator.base_url());
    println!("  webhooks: {}", args.webhook_url.as_deref().unwrap_or("not delivered (no --webhook-url)"));
    println!("  connect:  {}", args.connect_webhook_url.as_deref().unwrap_or("not delivered (no --connect-webhook-url)"));
    println!("  inspect:  {}_emulator/{{sessions,events,deliveries,requests}}", emulator.base_url());
    if let Err(err) = tokio::signal::ctrl_c().await {
        eprintln!("stripe emulator: cannot wait for Ctrl-C: {err}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
