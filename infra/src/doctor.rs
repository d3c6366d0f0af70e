//! `make doctor`: checks a deployment (or the local stack) end to end and
//! names the fix for each problem, so the seed's troubleshooting page
//! ("Failed to fetch", "payment succeeds but no booking", "booking created
//! but no room codes", "room codes don't work") is answered by a check
//! before a customer meets it.

use std::collections::BTreeSet;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use shared::auth::AuthConfig;
use shared::checkout::RedirectPolicy;
use shared::clock::Clock;
use shared::config::{Env, StoreConfig};
use shared::payments::StripeConfig;
use shared::rooms::{Hms, HmsConfig, RoomSpec};
use shared::store::Store;
use shared::webhook::WebhookSecrets;

use crate::table::TableSpec;

/// The Stripe events the webhook handles; the endpoint must send all of them.
pub const WEBHOOK_EVENTS: [&str; 8] = shared::webhook::event::HANDLED;
/// Every function with a Function URL.
pub const FUNCTIONS: [&str; 6] = ["get-slots", "initiate-checkout", "stripe-webhook", "join-lesson", "create-room", "create-booking"];

/// Where the deployment answers.
pub struct Target {
    /// `https://…/` of each function, by name.
    pub urls: Vec<(String, String)>,
    /// The frontend origin CORS must allow.
    pub origin: String,
}

/// One finding: what was checked, whether it holds, and the fix if not.
#[derive(Debug)]
pub struct Finding {
    pub check: &'static str,
    pub ok: bool,
    pub detail: String,
}

#[derive(Default)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    fn pass(&mut self, check: &'static str, detail: impl Into<String>) {
        self.findings.push(Finding { check, ok: true, detail: detail.into() });
    }

    fn fail(&mut self, check: &'static str, fix: impl Into<String>) {
        self.findings.push(Finding { check, ok: false, detail: fix.into() });
    }

    pub fn healthy(&self) -> bool {
        self.findings.iter().all(|f| f.ok)
    }
}

/// Runs every check it can with the configuration it has: a missing key is
/// itself a finding, and the checks that need it are skipped.
pub async fn run(env: Env, target: &Target) -> Report {
    let mut report = Report::default();
    let config = read_config(env, &mut report);
    let http = reqwest::Client::builder().no_proxy().timeout(std::time::Duration::from_secs(10)).build().unwrap_or_default();
    if let Some(store) = &config.store {
        check_table(store, &mut report).await;
    }
    if let Some(stripe) = &config.stripe {
        check_stripe(&http, stripe, target, &mut report).await;
    }
    if let (Some(secrets), Some(url)) = (&config.webhook, url_of(target, "stripe-webhook")) {
        check_webhook_secret(&http, secrets, url, config.stripe.as_ref().is_some_and(StripeConfig::is_live), &mut report).await;
    }
    if let Some(hms) = config.hms {
        check_hms(hms, &mut report).await;
    }
    check_functions(&http, target, &mut report).await;
    report
}

struct Config {
    store: Option<StoreConfig>,
    stripe: Option<StripeConfig>,
    webhook: Option<WebhookSecrets>,
    hms: Option<HmsConfig>,
}

/// Each section read on its own, so one missing key does not hide the rest.
fn read_config(env: Env, report: &mut Report) -> Config {
    let vars: Vec<(String, String)> = env.vars().map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut section = |name: &'static str, read: &dyn Fn(&mut Env) -> bool| {
        let mut env = Env::from_pairs(vars.clone());
        let read_ok = read(&mut env);
        match env.finish(read_ok.then_some(())) {
            Ok(()) => report.pass(name, "every key present and valid"),
            Err(err) => report.fail(name, err.problems.join("; ")),
        }
    };
    section("configuration: storage", &|env| StoreConfig::read(env).is_some());
    section("configuration: auth", &|env| AuthConfig::read(env).is_some());
    section("configuration: Stripe", &|env| StripeConfig::read(env).is_some() && WebhookSecrets::read(env).is_some());
    section("configuration: 100ms", &|env| HmsConfig::read(env).is_some());
    section("configuration: redirects", &|env| RedirectPolicy::read(env).is_some());
    let mut env = Env::from_pairs(vars);
    Config { store: StoreConfig::read(&mut env), stripe: StripeConfig::read(&mut env), webhook: WebhookSecrets::read(&mut env), hms: HmsConfig::read(&mut env) }
}

fn url_of<'t>(target: &'t Target, function: &str) -> Option<&'t str> {
    target.urls.iter().find(|(name, _)| name == function).map(|(_, url)| url.as_str())
}

async fn check_table(config: &StoreConfig, report: &mut Report) {
    const CHECK: &str = "DynamoDB table";
    let store = match Store::from_env(config).await {
        Ok(store) => store,
        Err(err) => return report.fail(CHECK, format!("no HTTP client for DynamoDB: {err}")),
    };
    let Ok(spec) = TableSpec::load() else { return report.fail(CHECK, "infra/table.json does not parse") };
    let described = match store.client().describe_table().table_name(store.table()).send().await {
        Ok(described) => described,
        Err(err) => {
            return report.fail(CHECK, format!("{} cannot be described ({}): deploy the stack (make deploy) or fix TABLE_NAME and AWS credentials", store.table(), aws_sdk_dynamodb::error::DisplayErrorContext(&err)));
        }
    };
    let Some(table) = described.table else { return report.fail(CHECK, "DescribeTable returned no table") };
    let keys: Vec<&str> = table.key_schema().iter().map(|k| k.attribute_name()).collect();
    let indexes: BTreeSet<&str> = table.global_secondary_indexes().iter().filter_map(|i| i.index_name()).collect();
    let wanted: BTreeSet<&str> = spec.global_secondary_indexes.iter().map(|i| i.name.as_str()).collect();
    let ttl = store.client().describe_time_to_live().table_name(store.table()).send().await.ok().and_then(|t| t.time_to_live_description).and_then(|d| d.attribute_name).unwrap_or_default();
    if keys != [spec.partition_key.as_str(), spec.sort_key.as_str()] || !wanted.is_subset(&indexes) || ttl != spec.ttl_attribute {
        return report.fail(CHECK, format!("{} has keys {keys:?}, indexes {indexes:?}, TTL {ttl:?}; expected those of infra/table.json: redeploy the stack", store.table()));
    }
    report.pass(CHECK, format!("{} has the expected keys, indexes {wanted:?} and TTL", store.table()));
}

async fn check_stripe(http: &reqwest::Client, stripe: &StripeConfig, target: &Target, report: &mut Report) {
    let key_mode = if stripe.is_live() { "live" } else { "test" };
    let listed = http.get(format!("{}v1/webhook_endpoints", stripe.api_base)).bearer_auth(&stripe.secret_key).query(&[("limit", "100")]).send().await;
    let endpoints: Value = match listed {
        Ok(response) if response.status().as_u16() == 401 => {
            return report.fail("Stripe key", "Stripe refuses STRIPE_SECRET_KEY: copy the secret key from Stripe Dashboard > Developers > API keys into the secret");
        }
        Ok(response) if response.status().is_success() => response.json().await.unwrap_or(Value::Null),
        Ok(response) => return report.fail("Stripe key", format!("Stripe answered {}: check STRIPE_API_BASE", response.status())),
        Err(err) => return report.fail("Stripe key", format!("Stripe is unreachable ({err}): check STRIPE_API_BASE and the network")),
    };
    report.pass("Stripe key", format!("a {key_mode}-mode key Stripe accepts"));
    // "Payment succeeds but no booking": the endpoint is missing, disabled, elsewhere or deaf to an event.
    const CHECK: &str = "Stripe webhook endpoint";
    let Some(url) = url_of(target, "stripe-webhook") else { return };
    let list = endpoints["data"].as_array().cloned().unwrap_or_default();
    let Some(endpoint) = list.iter().find(|e| e["url"].as_str().is_some_and(|u| u.trim_end_matches('/') == url.trim_end_matches('/'))) else {
        return report.fail(CHECK, format!("no endpoint for {url}: run make stripe-webhook ENV=<env> then make deploy ENV=<env> (or add it in Stripe Dashboard > Developers > Webhooks with the events in the README)"));
    };
    if endpoint["status"] != "enabled" {
        return report.fail(CHECK, format!("the endpoint for {url} is {}: enable it in Stripe Dashboard > Developers > Webhooks", endpoint["status"]));
    }
    if endpoint["livemode"].as_bool().is_some_and(|live| live != stripe.is_live()) {
        return report.fail(CHECK, format!("the endpoint is {} mode but the key is {key_mode} mode: use keys and endpoint of one mode", if stripe.is_live() { "test" } else { "live" }));
    }
    let enabled: BTreeSet<&str> = endpoint["enabled_events"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let missing: Vec<&str> = WEBHOOK_EVENTS.iter().copied().filter(|e| !enabled.contains(e) && !enabled.contains("*")).collect();
    if !missing.is_empty() {
        return report.fail(CHECK, format!("the endpoint does not send {missing:?}: run make stripe-webhook ENV=<env>"));
    }
    report.pass(CHECK, format!("{url} is registered, enabled and sends every handled event"));
}

/// A signed event the webhook must accept and ignore: the signing secret of
/// the endpoint and the function's `STRIPE_WEBHOOK_SECRET` agree.
async fn check_webhook_secret(http: &reqwest::Client, secrets: &WebhookSecrets, url: &str, live: bool, report: &mut Report) {
    const CHECK: &str = "Stripe webhook signature";
    let body = json!({"id": format!("evt_doctor_{}", jiff::Timestamp::now().as_second()), "object": "event", "type": "doctor.ping", "livemode": live, "data": {"object": {}}}).to_string();
    let Some(secret) = secrets.first() else { return };
    let t = jiff::Timestamp::now().as_second();
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return };
    mac.update(format!("{t}.{body}").as_bytes());
    let signature = format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()));
    match http.post(url).header("stripe-signature", signature).header("content-type", "application/json").body(body).send().await {
        Ok(response) if response.status().is_success() => report.pass(CHECK, "the deployed webhook accepts events signed with STRIPE_WEBHOOK_SECRET"),
        Ok(response) if response.status().as_u16() == 400 => report.fail(
            CHECK,
            "the webhook refuses events signed with STRIPE_WEBHOOK_SECRET: the function's secret differs from this one; copy Stripe Dashboard > Webhooks > your endpoint > Signing secret into the secret and redeploy",
        ),
        Ok(response) => report.fail(CHECK, format!("the webhook answered {}: see its logs", response.status())),
        Err(err) => report.fail(CHECK, format!("the webhook is unreachable ({err})")),
    }
}

/// "Booking created but no room codes" / "room codes don't work": the
/// credentials mint a token 100ms accepts, the template exists and has both roles.
async fn check_hms(config: HmsConfig, report: &mut Report) {
    const CHECK: &str = "100ms";
    let template = config.template_id.clone();
    let hms = match Hms::new(config, Clock::System) {
        Ok(hms) => hms,
        Err(err) => return report.fail(CHECK, err.to_string()),
    };
    let spec = RoomSpec { name: "lessons-doctor".into(), description: "make doctor's check room".into(), max_duration_seconds: 600 };
    let room = match hms.create_room(&spec).await {
        Ok(room) => room,
        Err(shared::rooms::HmsError::Rejected { status: 401 | 403, .. }) => {
            return report.fail(CHECK, "100ms refuses our management token: HMS_APP_ACCESS_KEY and HMS_APP_SECRET must be the pair from 100ms dashboard > Developer");
        }
        Err(shared::rooms::HmsError::Rejected { status: 400 | 404, message }) => {
            return report.fail(CHECK, format!("100ms refuses template {template} ({message}): set HMS_TEMPLATE_ID from 100ms dashboard > Templates"));
        }
        Err(err) => return report.fail(CHECK, format!("{err}: check HMS_API_BASE and 100ms's status")),
    };
    match hms.room_codes(&room.id).await {
        Ok(_) => report.pass(CHECK, format!("a minted management token is accepted; template {template} makes rooms with both roles")),
        Err(err) => report.fail(CHECK, err.to_string()),
    }
}

/// "Failed to fetch": each URL answers, and CORS lets the frontend in.
async fn check_functions(http: &reqwest::Client, target: &Target, report: &mut Report) {
    for (name, url) in &target.urls {
        match http.get(url).send().await {
            Ok(response) if !response.status().is_server_error() => {}
            Ok(response) => return report.fail("function URLs", format!("{name} at {url} answered {}: see its logs (a start-up failure lists its missing configuration)", response.status())),
            Err(err) => return report.fail("function URLs", format!("{name} at {url} is unreachable ({err}): deploy the stack, or check the URL")),
        }
    }
    report.pass("function URLs", format!("all {} answer", target.urls.len()));
    for name in ["get-slots", "initiate-checkout", "join-lesson"] {
        let Some(url) = url_of(target, name) else { continue };
        let preflight = http
            .request(reqwest::Method::OPTIONS, url)
            .header("origin", &target.origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization,content-type")
            .send()
            .await;
        let allowed = preflight.ok().and_then(|r| r.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()).map(str::to_owned));
        if !allowed.as_deref().is_some_and(|a| a == "*" || a == target.origin) {
            return report.fail("CORS", format!("{name} does not allow {} (got {allowed:?}): add it to the AllowedOrigins parameter and redeploy", target.origin));
        }
    }
    report.pass("CORS", format!("the user-facing functions allow {}", target.origin));
}
