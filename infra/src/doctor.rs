//! `make doctor`: checks a deployment (or the local stack) end to end and
//! names the fix for each problem, so the seed's troubleshooting page
//! ("Failed to fetch", "payment succeeds but no booking", "booking created
//! but no room codes", "room codes don't work") is answered by a check
//! before a customer meets it.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use shared::auth::{AuthConfig, OperatorAuthConfig};
use shared::checkout::RedirectPolicy;
use shared::clock::Clock;
use shared::config::{Env, StoreConfig};
use shared::payments::StripeConfig;
use shared::rooms::{Hms, HmsConfig, RoomSpec};
use shared::store::Store;
use shared::webhook::WebhookSecrets;

use crate::operator::Caller;
use crate::table::TableSpec;

/// The Stripe events the webhook handles; the endpoint must send all of them.
pub const WEBHOOK_EVENTS: [&str; 11] = shared::webhook::event::HANDLED;
/// Every function with a Function URL.
pub const FUNCTIONS: [&str; 14] = ["get-slots", "get-teachers", "initiate-checkout", "stripe-webhook", "join-lesson", "change-booking", "teacher-profile", "cart", "hms-webhook", "create-room", "create-booking", "calendar-feed", "teacher-payouts", "credits"];

/// Where the deployment answers.
pub struct Target {
    /// `https://…/` of each function, by name.
    pub urls: Vec<(String, String)>,
    /// The frontend origin CORS must allow.
    pub origin: String,
    /// How to call the `AWS_IAM` URLs (create-booking, create-room): SigV4-signed
    /// when deployed; `None` locally, where nothing is in front of them.
    pub iam: Option<Caller>,
    /// How long Stripe's delivery of the probe event may take.
    pub webhook_wait: Duration,
}

/// The configuration the stack runs with: each function's environment (as
/// deployed: Lambda's function configuration; locally: the file the local
/// stack started the functions with), and the secret store's values (Secrets
/// Manager's `lessons/<ENV>`; locally `.env.local`). Never the operator's shell.
pub struct Configuration {
    pub functions: Vec<(String, Vec<(String, String)>)>,
    pub stored: Vec<(String, String)>,
}

impl Configuration {
    /// Every function with the same environment (the local stack's `functions.env`).
    pub fn same_for_all(vars: Vec<(String, String)>, stored: Vec<(String, String)>) -> Self {
        Self { functions: ALL_FUNCTIONS.iter().map(|f| ((*f).to_owned(), vars.clone())).collect(), stored }
    }

    fn of(&self, function: &str) -> Option<Env> {
        self.functions.iter().find(|(name, _)| name == function).map(|(_, vars)| Env::from_pairs(vars.clone()))
    }
}

/// Every function, with a URL or not.
pub const ALL_FUNCTIONS: [&str; 16] = ["get-slots", "get-teachers", "initiate-checkout", "stripe-webhook", "join-lesson", "change-booking", "teacher-profile", "cart", "hms-webhook", "create-room", "create-booking", "reconcile", "notify", "calendar-feed", "teacher-payouts", "credits"];
/// The functions whose URL is `AWS_IAM` (template.yaml).
pub const IAM_FUNCTIONS: [&str; 2] = ["create-room", "create-booking"];
const STRIPE_FUNCTIONS: [&str; 7] = ["initiate-checkout", "stripe-webhook", "change-booking", "create-booking", "reconcile", "teacher-payouts", "credits"];
const HMS_FUNCTIONS: [&str; 7] = ["initiate-checkout", "stripe-webhook", "join-lesson", "change-booking", "create-room", "create-booking", "reconcile"];
/// The secrets in the store (template.yaml's header), and the functions that must run with them.
const SECRETS: [(&str, &[&str]); 6] = [
    ("HMS_WEBHOOK_SECRET", &["hms-webhook"]),
    ("STRIPE_SECRET_KEY", &STRIPE_FUNCTIONS),
    ("STRIPE_WEBHOOK_SECRET", &["stripe-webhook"]),
    ("STRIPE_CONNECT_WEBHOOK_SECRET", &["stripe-webhook"]),
    ("HMS_APP_SECRET", &HMS_FUNCTIONS),
    // create-room and create-booking read it only with OPERATOR_AUTH=token (the local stack).
    ("AUTH_JWT_SECRET", &["initiate-checkout", "join-lesson", "change-booking", "teacher-profile", "cart", "create-room", "create-booking", "calendar-feed", "teacher-payouts", "credits"]),
];

type Reader = fn(&mut Env) -> bool;

/// Each configuration section and the functions that read it at start-up (their main.rs).
const SECTIONS: [(&str, &[&str], Reader); 11] = [
    ("configuration: payouts", &["reconcile", "teacher-payouts"], |env| shared::payouts::PayoutConfig::read(env).is_some()),
    ("configuration: mail", &["notify", "calendar-feed"], |env| shared::notify::MailConfig::read(env).is_some()),
    ("configuration: attendance", &["reconcile"], |env| shared::attendance::AttendanceConfig::read(env).is_some()),
    ("configuration: 100ms webhook secret", &["hms-webhook"], |env| shared::attendance::HmsWebhookSecrets::read(env).is_some()),
    ("configuration: storage", &ALL_FUNCTIONS, |env| StoreConfig::read(env).is_some()),
    ("configuration: auth", &["initiate-checkout", "join-lesson", "change-booking", "teacher-profile", "cart", "calendar-feed", "teacher-payouts", "credits"], |env| AuthConfig::read(env).is_some()),
    ("configuration: operator auth", &IAM_FUNCTIONS, |env| OperatorAuthConfig::read(env).is_some()),
    ("configuration: Stripe", &STRIPE_FUNCTIONS, |env| StripeConfig::read(env).is_some()),
    ("configuration: Stripe webhook secret", &["stripe-webhook"], |env| WebhookSecrets::read(env).is_some()),
    ("configuration: 100ms", &HMS_FUNCTIONS, |env| HmsConfig::read(env).is_some()),
    ("configuration: redirects", &["initiate-checkout", "teacher-payouts"], |env| RedirectPolicy::read(env).is_some()),
];

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
pub async fn run(config: Configuration, target: &Target) -> Report {
    let mut report = Report::default();
    let parts = read_config(&config, &mut report);
    let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().unwrap_or_default();
    let store = match &parts.store {
        Some(store) => check_table(store, parts.dynamo_endpoint.as_ref(), &mut report).await,
        None => None,
    };
    if let Some(stripe) = &parts.stripe
        && check_stripe(&http, stripe, target, &mut report).await
        && let Some(url) = url_of(target, "stripe-webhook")
    {
        check_webhook_round_trip(&http, stripe, store.as_ref(), url, target.webhook_wait, &mut report).await;
    }
    if let Some(hms) = parts.hms {
        check_hms(hms, &mut report).await;
    }
    if let Some(mail) = &parts.mail {
        check_ses(&http, mail, parts.ses_endpoint.as_deref(), target, &mut report).await;
    }
    check_functions(&http, target, &mut report).await;
    report
}

struct Parts {
    store: Option<StoreConfig>,
    /// The functions' own DynamoDB endpoint and keys (the local stack's), so doctor reads their table.
    dynamo_endpoint: Option<LocalDynamo>,
    stripe: Option<StripeConfig>,
    hms: Option<HmsConfig>,
    mail: Option<shared::notify::MailConfig>,
    /// notify's `AWS_ENDPOINT_URL_SESV2` (the local stack's SES).
    ses_endpoint: Option<String>,
}

/// Each section read from each function that needs it, so one missing key
/// names the functions it stops; then every secret the functions run with
/// compared with the stored one.
fn read_config(config: &Configuration, report: &mut Report) -> Parts {
    for (check, functions, read) in SECTIONS {
        let mut problems = Vec::new();
        let mut checked = 0;
        for function in functions {
            let Some(mut env) = config.of(function) else { continue };
            checked += 1;
            let ok = read(&mut env);
            if let Err(err) = env.finish(ok.then_some(())) {
                problems.extend(err.problems.iter().map(|p| format!("{function}: {p}")));
            }
        }
        match (checked, problems.is_empty()) {
            (0, _) => {}
            (_, true) => report.pass(check, format!("every key present and valid in {checked} function(s)")),
            (_, false) => report.fail(check, format!("{}; fix the secret or the template parameters, then make deploy ENV=<env> (locally: .env.local, then restart make dev)", problems.join("; "))),
        }
    }
    check_stored_secrets(config, report);
    // The values the other checks use: those of a function that reads them.
    let store = first(config, &ALL_FUNCTIONS, StoreConfig::read);
    let stripe = first(config, &STRIPE_FUNCTIONS, StripeConfig::read);
    let hms = first(config, &HMS_FUNCTIONS, HmsConfig::read);
    let dynamo_endpoint = first(config, &ALL_FUNCTIONS, |env| {
        let mut var = |name: &str| env.optional(name, "the local stack's", |s| Ok(s.to_owned()));
        Some(LocalDynamo { endpoint: var("AWS_ENDPOINT_URL_DYNAMODB")?, region: var("AWS_REGION")?, access_key: var("AWS_ACCESS_KEY_ID")?, secret_key: var("AWS_SECRET_ACCESS_KEY")? })
    });
    let mail = first(config, &["notify"], shared::notify::MailConfig::read);
    let ses_endpoint = first(config, &["notify"], |env| env.optional("AWS_ENDPOINT_URL_SESV2", "the local stack's", |s| Ok(s.trim_end_matches('/').to_owned())));
    Parts { store, dynamo_endpoint, stripe, hms, mail, ses_endpoint }
}

fn first<T>(config: &Configuration, functions: &[&str], read: impl Fn(&mut Env) -> Option<T>) -> Option<T> {
    functions.iter().find_map(|f| config.of(f).and_then(|mut env| read(&mut env)))
}

/// A secret changed in the store but not yet deployed (or a function started
/// with another value) is the function's value differing from the stored one.
fn check_stored_secrets(config: &Configuration, report: &mut Report) {
    const CHECK: &str = "configuration: secrets as stored";
    let stored = |key: &str| config.stored.iter().find(|(k, v)| k == key && !v.trim().is_empty()).map(|(_, v)| v.trim());
    let mut differing = Vec::new();
    for (function, vars) in &config.functions {
        for (key, _) in SECRETS.iter().filter(|(_, readers)| readers.contains(&function.as_str())) {
            let key = *key;
            let (Some(running), Some(stored)) = (vars.iter().find(|(k, v)| k == key && !v.trim().is_empty()).map(|(_, v)| v.trim()), stored(key)) else { continue };
            // While rolling a webhook secret the function holds "old,new"; the stored one must be among them.
            let matches = if key == "STRIPE_WEBHOOK_SECRET" || key == "STRIPE_CONNECT_WEBHOOK_SECRET" { running.split(',').any(|s| s.trim() == stored) } else { running == stored };
            if !matches {
                differing.push(format!("{function} runs with a {key} other than the stored one"));
            }
        }
    }
    if differing.is_empty() {
        report.pass(CHECK, "every function runs with the stored secrets");
    } else {
        report.fail(CHECK, format!("{}: make deploy ENV=<env> hands the stored values to the functions (locally: restart make dev)", differing.join("; ")));
    }
}

fn url_of<'t>(target: &'t Target, function: &str) -> Option<&'t str> {
    target.urls.iter().find(|(name, _)| name == function).map(|(_, url)| url.as_str())
}

struct LocalDynamo {
    endpoint: String,
    region: String,
    access_key: String,
    secret_key: String,
}

async fn open_store(config: &StoreConfig, local: Option<&LocalDynamo>) -> Result<Store, reqwest::Error> {
    let Some(local) = local else { return Store::from_env(config).await };
    let credentials = aws_sdk_dynamodb::config::Credentials::new(&local.access_key, &local.secret_key, None, None, "functions-env");
    let client = shared::store::client_config()?.endpoint_url(&local.endpoint).region(aws_sdk_dynamodb::config::Region::new(local.region.clone())).credentials_provider(credentials).build();
    Ok(Store::new(aws_sdk_dynamodb::Client::from_conf(client), config.table_name.clone()))
}

/// The store, when the table is as expected, for the webhook check to read.
async fn check_table(config: &StoreConfig, endpoint: Option<&LocalDynamo>, report: &mut Report) -> Option<Store> {
    const CHECK: &str = "DynamoDB table";
    let store = match open_store(config, endpoint).await {
        Ok(store) => store,
        Err(err) => {
            report.fail(CHECK, format!("no HTTP client for DynamoDB: {err}"));
            return None;
        }
    };
    let Ok(spec) = TableSpec::load() else {
        report.fail(CHECK, "infra/table.json does not parse");
        return None;
    };
    let described = match store.client().describe_table().table_name(store.table()).send().await {
        Ok(described) => described,
        Err(err) => {
            report.fail(CHECK, format!("{} cannot be described ({}): deploy the stack (make deploy) or fix TABLE_NAME and AWS credentials", store.table(), aws_sdk_dynamodb::error::DisplayErrorContext(&err)));
            return None;
        }
    };
    let Some(table) = described.table else {
        report.fail(CHECK, "DescribeTable returned no table");
        return None;
    };
    let keys: Vec<&str> = table.key_schema().iter().map(|k| k.attribute_name()).collect();
    let indexes: BTreeSet<&str> = table.global_secondary_indexes().iter().filter_map(|i| i.index_name()).collect();
    let wanted: BTreeSet<&str> = spec.global_secondary_indexes.iter().map(|i| i.name.as_str()).collect();
    let ttl = store.client().describe_time_to_live().table_name(store.table()).send().await.ok().and_then(|t| t.time_to_live_description).and_then(|d| d.attribute_name).unwrap_or_default();
    if keys != [spec.partition_key.as_str(), spec.sort_key.as_str()] || !wanted.is_subset(&indexes) || ttl != spec.ttl_attribute {
        report.fail(CHECK, format!("{} has keys {keys:?}, indexes {indexes:?}, TTL {ttl:?}; expected those of infra/table.json: redeploy the stack", store.table()));
        return None;
    }
    report.pass(CHECK, format!("{} has the expected keys, indexes {wanted:?} and TTL", store.table()));
    Some(store)
}

/// Whether the webhook endpoint is as it must be (the round trip needs it).
async fn check_stripe(http: &reqwest::Client, stripe: &StripeConfig, target: &Target, report: &mut Report) -> bool {
    let key_mode = if stripe.is_live() { "live" } else { "test" };
    let listed = http.get(format!("{}v1/webhook_endpoints", stripe.api_base)).bearer_auth(&stripe.secret_key).query(&[("limit", "100")]).send().await;
    let endpoints: Value = match listed {
        Ok(response) if response.status().as_u16() == 401 => {
            report.fail("Stripe key", "Stripe refuses STRIPE_SECRET_KEY: copy the secret key from Stripe Dashboard > Developers > API keys into the secret");
            return false;
        }
        Ok(response) if response.status().is_success() => response.json().await.unwrap_or(Value::Null),
        Ok(response) => {
            report.fail("Stripe key", format!("Stripe answered {}: check STRIPE_API_BASE", response.status()));
            return false;
        }
        Err(err) => {
            report.fail("Stripe key", format!("Stripe is unreachable ({err}): check STRIPE_API_BASE and the network"));
            return false;
        }
    };
    report.pass("Stripe key", format!("a {key_mode}-mode key Stripe accepts"));
    // "Payment succeeds but no booking": the endpoint is missing, disabled, elsewhere or deaf to an event.
    const CHECK: &str = "Stripe webhook endpoint";
    let Some(url) = url_of(target, "stripe-webhook") else { return false };
    let list = endpoints["data"].as_array().cloned().unwrap_or_default();
    let fail = |report: &mut Report, fix: String| {
        report.fail(CHECK, fix);
        false
    };
    let Some(endpoint) = list.iter().find(|e| e["url"].as_str().is_some_and(|u| u.trim_end_matches('/') == url.trim_end_matches('/'))) else {
        return fail(report, format!("no endpoint for {url}: run make stripe-webhook ENV=<env> then make deploy ENV=<env> (or add it in Stripe Dashboard > Developers > Webhooks with the events in the README)"));
    };
    if endpoint["status"] != "enabled" {
        return fail(report, format!("the endpoint for {url} is {}: enable it in Stripe Dashboard > Developers > Webhooks", endpoint["status"]));
    }
    if endpoint["livemode"].as_bool().is_some_and(|live| live != stripe.is_live()) {
        return fail(report, format!("the endpoint is {} mode but the key is {key_mode} mode: use keys and endpoint of one mode", if stripe.is_live() { "test" } else { "live" }));
    }
    let enabled: BTreeSet<&str> = endpoint["enabled_events"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let missing: Vec<&str> = WEBHOOK_EVENTS.iter().copied().filter(|e| !enabled.contains(e) && !enabled.contains("*")).collect();
    if !missing.is_empty() {
        return fail(report, format!("the endpoint does not send {missing:?}: run make stripe-webhook ENV=<env>"));
    }
    report.pass(CHECK, format!("{url} is registered, enabled and sends every handled event"));
    check_connect_endpoint(&list, url, report);
    true
}

/// "Teachers onboard but are never paid": the Connect endpoint (the
/// webhook's URL + /connect) must be registered and send what it handles.
fn check_connect_endpoint(list: &[Value], url: &str, report: &mut Report) {
    const CHECK: &str = "Stripe Connect endpoint";
    let connect = crate::stripe_webhook::connect_url(url);
    let Some(endpoint) = list.iter().find(|e| e["url"].as_str().is_some_and(|u| u.trim_end_matches('/') == connect)) else {
        report.fail(CHECK, format!("no endpoint for {connect}: teachers' account changes go unheard and their earnings never go out; run make stripe-webhook ENV=<env> then make deploy ENV=<env>"));
        return;
    };
    if endpoint["status"] != "enabled" {
        report.fail(CHECK, format!("the endpoint for {connect} is {}: enable it in Stripe Dashboard > Developers > Webhooks", endpoint["status"]));
        return;
    }
    let enabled: BTreeSet<&str> = endpoint["enabled_events"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let missing: Vec<&str> = shared::webhook::event::CONNECT_HANDLED.iter().copied().filter(|e| !enabled.contains(e) && !enabled.contains("*")).collect();
    if missing.is_empty() {
        report.pass(CHECK, format!("{connect} is registered, enabled and sends {:?}", shared::webhook::event::CONNECT_HANDLED));
    } else {
        report.fail(CHECK, format!("the Connect endpoint does not send {missing:?}: run make stripe-webhook ENV=<env>"));
    }
}

/// The real round trip: a Checkout Session marked as a doctor probe (no
/// checkout of ours) is expired at once, so Stripe itself signs
/// `checkout.session.expired` with the endpoint's secret and delivers it to
/// the deployed URL; the webhook must accept it (it acknowledges a probe and
/// changes nothing but recording the event). Accepted means Stripe shows no
/// pending delivery, or the webhook recorded the event as processed.
async fn check_webhook_round_trip(http: &reqwest::Client, stripe: &StripeConfig, store: Option<&Store>, url: &str, wait: Duration, report: &mut Report) {
    const CHECK: &str = "Stripe webhook round trip";
    let started = jiff::Timestamp::now().as_second();
    let created = http
        .post(format!("{}v1/checkout/sessions", stripe.api_base))
        .bearer_auth(&stripe.secret_key)
        .form(&[
            ("mode", "payment"),
            ("success_url", "https://example.com/doctor-probe"),
            ("cancel_url", "https://example.com/doctor-probe"),
            ("line_items[0][price_data][currency]", "eur"),
            ("line_items[0][price_data][unit_amount]", "100"),
            ("line_items[0][price_data][product_data][name]", "make doctor probe (expired at once, never paid)"),
            ("line_items[0][quantity]", "1"),
            ("metadata[doctor_probe]", "true"),
        ])
        .send()
        .await;
    let session = match created {
        Ok(response) if response.status().is_success() => response.json::<Value>().await.unwrap_or(Value::Null),
        Ok(response) => return report.fail(CHECK, format!("Stripe refused the probe session ({}): {}", response.status(), response.text().await.unwrap_or_default())),
        Err(err) => return report.fail(CHECK, format!("Stripe is unreachable ({err})")),
    };
    let Some(session_id) = session["id"].as_str() else { return report.fail(CHECK, "Stripe's probe session has no id") };
    match http.post(format!("{}v1/checkout/sessions/{session_id}/expire", stripe.api_base)).bearer_auth(&stripe.secret_key).send().await {
        Ok(response) if response.status().is_success() => {}
        Ok(response) => return report.fail(CHECK, format!("Stripe did not expire the probe session {session_id} ({})", response.status())),
        Err(err) => return report.fail(CHECK, format!("Stripe is unreachable ({err})")),
    }
    let deadline = tokio::time::Instant::now() + wait;
    let mut event_id = None;
    loop {
        if event_id.is_none() {
            event_id = expired_event_of(http, stripe, session_id, started).await;
        }
        if let Some(id) = &event_id {
            let pending = event_pending(http, stripe, id).await;
            let recorded = match store {
                Some(store) => store.event_seen(id).await.unwrap_or(false),
                None => false,
            };
            if pending == Some(0) || recorded {
                return report.pass(CHECK, format!("Stripe signed and delivered {id} (the probe session {session_id} expired) and the webhook accepted it"));
            }
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let Some(id) = event_id else {
        return report.fail(CHECK, format!("Stripe made no checkout.session.expired event for the probe session {session_id} within {}s", wait.as_secs()));
    };
    // Why not: an unsigned request tells a running webhook (400, bad signature) from one that does not start.
    let why = match http.post(url).header("content-type", "application/json").body("{}").send().await {
        Ok(response) if response.status().as_u16() == 400 => format!(
            "the webhook at {url} refuses Stripe's deliveries of {id}: the endpoint's signing secret at Stripe differs from the function's STRIPE_WEBHOOK_SECRET; copy Stripe Dashboard > Developers > Webhooks > your endpoint > Signing secret into the secret and make deploy ENV=<env> (locally: the emulator's secret is .env.local's)"
        ),
        Ok(response) => format!("Stripe's delivery of {id} was not accepted within {}s and the webhook at {url} answers {} (a start-up failure: see the configuration findings and its logs)", wait.as_secs(), response.status()),
        Err(err) => format!("Stripe's delivery of {id} was not accepted within {}s and the webhook at {url} gives no answer ({}): it is not deployed, or it fails to start (see the configuration findings and its logs)", wait.as_secs(), shared::net::error_chain(&err)),
    };
    report.fail(CHECK, why);
}

/// The `checkout.session.expired` event of `session_id`, once Stripe has made it.
async fn expired_event_of(http: &reqwest::Client, stripe: &StripeConfig, session_id: &str, since: i64) -> Option<String> {
    let listed: Value = http
        .get(format!("{}v1/events", stripe.api_base))
        .bearer_auth(&stripe.secret_key)
        .query(&[("type", "checkout.session.expired"), ("created[gte]", &since.to_string()), ("limit", "100")])
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    listed["data"].as_array()?.iter().find(|e| e["data"]["object"]["id"] == session_id).and_then(|e| e["id"].as_str()).map(str::to_owned)
}

async fn event_pending(http: &reqwest::Client, stripe: &StripeConfig, id: &str) -> Option<u64> {
    let event: Value = http.get(format!("{}v1/events/{id}", stripe.api_base)).bearer_auth(&stripe.secret_key).send().await.ok()?.json().await.ok()?;
    event["pending_webhooks"].as_u64()
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

/// Notices go out: the SES account may send, is out of the sandbox (which
/// sends only to verified addresses), and MAIL_FROM's identity (the address,
/// or its domain) is verified for sending.
async fn check_ses(http: &reqwest::Client, mail: &shared::notify::MailConfig, local: Option<&str>, target: &Target, report: &mut Report) {
    const CHECK: &str = "SES";
    let get = |path: String| async move {
        match (local, &target.iam) {
            (Some(base), _) => {
                let response = http.get(format!("{base}{path}")).send().await.map_err(|e| format!("the local SES at {base} is unreachable: {e}"))?;
                let status = response.status();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                if status.is_success() { Ok(body) } else { Err(format!("ses answered {status}: {body}")) }
            }
            (None, Some(caller)) => {
                let region = caller.region().ok_or("SES needs AWS credentials")?;
                let request = http::Request::get(format!("https://email.{region}.amazonaws.com{path}")).body(String::new()).map_err(|e| e.to_string())?;
                crate::operator::aws_json(http, caller, "ses", request).await
            }
            (None, None) => Err("no way to reach SES from here".to_owned()),
        }
    };
    let account = match get("/v2/email/account".into()).await {
        Ok(account) => account,
        Err(err) => return report.fail(CHECK, format!("{err}: notify cannot tell anyone anything; check the region and your access to SES")),
    };
    if account["SendingEnabled"] != true {
        return report.fail(CHECK, "sending is paused for this SES account (SES console > Account dashboard): no notice goes out until it is resumed");
    }
    if account["ProductionAccessEnabled"] != true {
        return report.fail(CHECK, "the SES account is in the sandbox: it sends only to verified addresses, 200 a day; request production access (SES console > Account dashboard > Request production access)");
    }
    let address = mail.from.as_str();
    let domain = address.rsplit_once('@').map_or(address, |(_, d)| d);
    let mut verified = None;
    for identity in [address, domain] {
        if let Ok(found) = get(format!("/v2/email/identities/{identity}")).await {
            verified = Some((identity, found["VerifiedForSendingStatus"] == true));
            break;
        }
    }
    match verified {
        Some((identity, true)) => report.pass(CHECK, format!("sending enabled, out of the sandbox; {address} sends as the verified identity {identity}")),
        Some((identity, false)) => report.fail(CHECK, format!("the identity {identity} of MAIL_FROM is not verified yet: finish its DNS records (SES console > Identities > {identity})")),
        None => report.fail(CHECK, format!("neither {address} nor {domain} is an SES identity: create and verify one (SES console > Identities), and set the SesIdentity parameter to it")),
    }
}

/// "Failed to fetch": each URL answers, and CORS lets the frontend in. The
/// `AWS_IAM` URLs are called signed, as operators call them: a `403` there is
/// IAM refusing before the function runs, not health. A function that fails
/// to start answers `5xx` (Lambda: 502) and is a failure.
async fn check_functions(http: &reqwest::Client, target: &Target, report: &mut Report) {
    let mut broken = Vec::new();
    for (name, url) in &target.urls {
        let iam = IAM_FUNCTIONS.contains(&name.as_str());
        let answer = match (&target.iam, iam) {
            (Some(caller), true) => crate::operator::call(http, caller, url, &Value::Object(Default::default())).await.map(|a| (a.status, a.body)),
            _ => match http.get(url).send().await {
                Ok(response) => Ok((response.status().as_u16(), Value::Null)),
                Err(err) => Err(format!("{url}: {}", shared::net::error_chain(&err))),
            },
        };
        match answer {
            Ok((status, _)) if status >= 500 => broken.push(format!("{name} at {url} answered {status}: it does not start or fails; the configuration findings above and its logs say why")),
            // Our handlers answer errors in our shape; IAM's own refusal has none.
            Ok((403, body)) if iam && target.iam.is_some() && body["error"].is_null() => {
                broken.push(format!("{name} at {url} answered 403 from IAM: your AWS credentials need lambda:InvokeFunctionUrl and lambda:InvokeFunction on it"))
            }
            Ok(_) => {}
            // `cargo lambda watch` closes the connection of a function that fails to start.
            Err(err) => broken.push(format!("{name} gave no answer ({err}): it is not deployed, or it fails to start (the configuration findings above and its logs say why)")),
        }
    }
    if !broken.is_empty() {
        return report.fail("function URLs", broken.join("; "));
    }
    report.pass("function URLs", format!("all {} answer", target.urls.len()));
    // 100ms signs nothing: an event without the room's secret header must be refused.
    if let Some(url) = url_of(target, "hms-webhook") {
        match http.post(url).json(&serde_json::json!({"type": "peer.join.success", "data": {}})).send().await {
            Ok(response) if response.status().as_u16() == 401 => report.pass("100ms webhook", "an event without the secret header is refused (401)"),
            Ok(response) => return report.fail("100ms webhook", format!("hms-webhook answered {} to an event without X-Webhook-Secret, not 401: anyone could write attendance", response.status())),
            Err(err) => return report.fail("100ms webhook", format!("hms-webhook gave no answer: {}", shared::net::error_chain(&err))),
        }
    }
    for name in ["get-slots", "get-teachers", "initiate-checkout", "join-lesson", "change-booking", "teacher-profile", "cart"] {
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
