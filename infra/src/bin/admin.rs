//! Operator CLI: create the table, load teacher profiles, reconcile payments,
//! call the operator endpoints, mint development tokens.
//! Talks to whatever `TABLE_NAME` and `AWS_ENDPOINT_URL_DYNAMODB` point at.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shared::auth::{self, Claims, Role};
use shared::config::{self, StoreConfig};
use shared::store::Store;

#[derive(Parser)]
#[command(about = "Lesson marketplace admin CLI")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum CreditsAction {
    /// Every grant of STUDENT (their login), as stored: credits, expiry, history.
    List { student: String },
    /// Refund GRANT's unused credits: their value, or AMOUNT (minor units) if less.
    Refund { grant_id: String, amount: Option<u64> },
}

#[derive(Subcommand)]
enum Command {
    /// Create the table (keys, indexes, TTL) unless it exists.
    CreateTable,
    /// Load teacher profile files (an object or a list each); a profile loaded again is replaced.
    Seed { files: Vec<PathBuf> },
    /// Validate profile files without loading them.
    Check { files: Vec<PathBuf> },
    /// Settle checkouts stuck past their holds, Stripe events whose delivery
    /// failed (last 30 days), refunds still owed and rooms still to be made,
    /// each on its own, through the same code as the webhook. Safe to run any
    /// number of times; prints what it changed and exits non-zero only when
    /// something is still failing.
    Reconcile,
    /// Send the notices that are due (one sweep of the notify function, with
    /// this machine's credentials and MAIL_* settings). Safe to repeat: each
    /// notice is claimed before it is sent.
    Notify,
    /// Transfer the teachers' earnings that are due and make the reversals
    /// owed (one sweep, as reconcile's schedule runs it). Safe to repeat.
    Payouts,
    /// A teacher's payout ledger: account state, each earning and transfer.
    Earnings { teacher_id: String },
    /// Stop (on) or resume (off) a teacher's transfers; what is due stays due.
    TransferHold {
        teacher_id: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Make a lesson's earning that Stripe refused due again, once the cause
    /// is fixed (the next sweep reads back what Stripe made first).
    EarningRetry { booking_id: String },
    /// A teacher's commission in percent instead of PLATFORM_COMMISSION_PERCENT
    /// (`default` returns them to it), for earnings not yet transferred.
    Commission { teacher_id: String, percent: String },
    /// A student's lesson-package credits, or the refund of a grant's unused
    /// credits (students may ask within 14 days; after that, only this).
    Credits {
        #[command(subcommand)]
        action: CreditsAction,
    },
    /// Every notice about SUBJECT (a checkout, booking or refund obligation
    /// id): topic, reader, status, attempts, SES's id or the error.
    Notices { subject: String },
    /// The marketplace's own systems that receive our events (README, "Webhooks").
    Webhooks {
        #[command(subcommand)]
        action: WebhooksAction,
    },
    /// List everything that needs a person (refunds Stripe refused or that
    /// failed, payments that do not match their checkout), each with what to
    /// do; with --resolve KEY, close one once it is dealt with.
    Attention {
        #[arg(long)]
        resolve: Option<String>,
    },
    /// Every recorded change of a teacher's profile: version, who, when.
    ProfileHistory { teacher_id: String },
    /// A booking as stored (status, attendance, outcome history…) and the
    /// stays 100ms's webhooks reported for it.
    Booking { booking_id: String },
    /// Overrule a lesson's outcome: completed, student_no_show or
    /// teacher_no_show (refunded in full, as a decided one is). Kept in the
    /// booking's outcome_history.
    Outcome { booking_id: String, outcome: String },
    /// Check a deployment (or the local stack) end to end; every problem comes
    /// with its fix. Exits non-zero when anything fails.
    Doctor {
        /// Functions at <base>/<name>/ (the local stack: http://127.0.0.1:9000/lambda-url).
        #[arg(long, conflicts_with = "stack_outputs", requires = "functions_env")]
        functions_base: Option<String>,
        /// The environment the local stack started the functions with (<data dir>/functions.env);
        /// the stored secrets are then this process's environment (.env.local).
        #[arg(long)]
        functions_env: Option<PathBuf>,
        /// The stack's outputs as `sam list stack-outputs --output json` prints them.
        #[arg(long, requires = "secret_name")]
        stack_outputs: Option<PathBuf>,
        /// The Secrets Manager secret holding the deployment's secrets (lessons/<ENV>).
        #[arg(long)]
        secret_name: Option<String>,
        /// The frontend origin CORS must allow.
        #[arg(long, default_value = "http://localhost:3000")]
        origin: String,
        /// How long Stripe's delivery of the probe event may take, in seconds.
        #[arg(long, default_value_t = 30)]
        webhook_wait: u64,
    },
    /// Create or update the Stripe webhook endpoint for URL with exactly the
    /// events stripe-webhook handles. With --print-secret, a newly created
    /// endpoint's signing secret is the only thing written to stdout (for a pipe).
    StripeWebhook {
        #[arg(long)]
        url: String,
        #[arg(long)]
        print_secret: bool,
        /// The Connect endpoint instead (URL + /connect: events of teachers'
        /// connected accounts, with their own signing secret).
        #[arg(long)]
        connect: bool,
    },
    /// Make the 100ms room of every booking still without one (after an
    /// outage, or once a template problem is fixed). Safe to repeat.
    RepairRooms,
    /// Book a paid checkout that has no bookings yet and make its rooms, through
    /// the create-booking endpoint ("paid but not booked"). Safe to repeat.
    CreateBooking {
        checkout_id: String,
        #[command(flatten)]
        at: Endpoint,
    },
    /// Make a booking's 100ms room and codes, through the create-room endpoint
    /// ("booking created but no room codes"). Safe to repeat.
    CreateRoom {
        booking_id: String,
        #[command(flatten)]
        at: Endpoint,
    },
    /// Mint an HS256 token signed with AUTH_JWT_SECRET (development only).
    Token {
        #[arg(long, value_enum)]
        role: CliRole,
        #[arg(long)]
        sub: String,
        #[arg(long)]
        email: Option<String>,
        /// The `iss` claim (a stack with AUTH_ISSUER refuses tokens without it).
        #[arg(long)]
        iss: Option<String>,
        /// The `aud` claim (a stack with AUTH_AUDIENCE refuses tokens without it).
        #[arg(long)]
        aud: Option<String>,
        #[arg(long, default_value_t = 24)]
        ttl_hours: i64,
    },
}

#[derive(Subcommand)]
enum WebhooksAction {
    /// Register URL for EVENTS (every event when none are named); prints its
    /// id and its signing secret, once.
    Add { url: String, events: Vec<String> },
    /// Every endpoint, with its events and state (never its secrets).
    List,
    /// Stop delivering to an endpoint; its undelivered messages are dropped.
    Remove { id: String },
    /// A new signing secret, printed once; the previous one keeps signing
    /// beside it until the next rotation.
    Rotate { id: String },
    /// Deliver to an endpoint again after a 410 disabled it.
    Enable { id: String },
}

// Where an operator endpoint is: deployed (its URL from the stack outputs,
// called SigV4-signed with your AWS credentials) or on the local stack (called
// with an admin token minted from AUTH_JWT_SECRET). A plain comment: a doc
// comment would become the commands' help text.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct Endpoint {
    /// The deployed stack's outputs as `sam list stack-outputs --output json` prints them.
    #[arg(long)]
    stack_outputs: Option<PathBuf>,
    /// Functions at <base>/<name>/ (the local stack: http://127.0.0.1:9000/lambda-url).
    #[arg(long)]
    functions_base: Option<String>,
}

/// Calls the operator endpoint `function` with `body` and prints its answer.
async fn call_operator(function: &str, at: Endpoint, body: serde_json::Value) -> Result<(), String> {
    let http = shared::net::client_builder().timeout(std::time::Duration::from_secs(60)).build().map_err(|e| e.to_string())?;
    let (url, caller) = match (at.stack_outputs, at.functions_base) {
        (Some(file), _) => {
            let url = urls_from_outputs(&file)?.into_iter().find(|(name, _)| name == function).map(|(_, url)| url).ok_or_else(|| format!("{} has no {function} URL: deploy the stack", file.display()))?;
            let caller = infra::operator::Caller::from_aws_chain(&url).await?;
            (url, caller)
        }
        (None, Some(base)) => {
            let secret = config::load(auth::read_signing_secret).map_err(|e| e.to_string())?;
            let claims = Claims::new("admin-cli", Role::Admin, jiff::Timestamp::now(), jiff::SignedDuration::from_mins(5));
            let token = auth::mint_hs256(&secret, &claims).map_err(|e| e.to_string())?;
            (format!("{}/{function}/", base.trim_end_matches('/')), infra::operator::Caller::Token(token))
        }
        (None, None) => return Err("give --stack-outputs or --functions-base".into()),
    };
    let answer = infra::operator::call(&http, &caller, &url, &body).await?;
    println!("{}", serde_json::to_string_pretty(&answer.body).unwrap_or_default());
    match answer.status {
        200..=299 => Ok(()),
        403 if matches!(caller, infra::operator::Caller::Iam { .. }) && answer.body["error"].is_null() => {
            Err(format!("{function} answered 403 before running: IAM refused your credentials; they need lambda:InvokeFunctionUrl and lambda:InvokeFunction on the {function} function"))
        }
        status => Err(format!("{function} answered {status}")),
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum CliRole {
    Student,
    Teacher,
    Admin,
}

impl From<CliRole> for Role {
    fn from(role: CliRole) -> Self {
        match role {
            CliRole::Student => Role::Student,
            CliRole::Teacher => Role::Teacher,
            CliRole::Admin => Role::Admin,
        }
    }
}

/// Function URLs from `sam list stack-outputs --output json` (GetSlotsUrl → get-slots, …).
fn urls_from_outputs(file: &std::path::Path) -> Result<Vec<(String, String)>, String> {
    let raw = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let outputs: Vec<serde_json::Value> = serde_json::from_str(&raw).map_err(|e| format!("{}: {e}", file.display()))?;
    let name_of = |key: &str| infra::doctor::FUNCTIONS.iter().find(|f| f.replace('-', "") == key.trim_end_matches("Url").to_ascii_lowercase()).map(|f| (*f).to_owned());
    Ok(outputs
        .iter()
        .filter_map(|o| Some((name_of(o["OutputKey"].as_str()?)?, o["OutputValue"].as_str()?.to_owned())))
        .collect())
}

/// The `StackName` output: the functions are named `<stack>-<function>`.
fn stack_name(file: &std::path::Path) -> Result<String, String> {
    let raw = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let outputs: Vec<serde_json::Value> = serde_json::from_str(&raw).map_err(|e| format!("{}: {e}", file.display()))?;
    outputs.iter().find(|o| o["OutputKey"] == "StackName").and_then(|o| o["OutputValue"].as_str()).map(str::to_owned).ok_or_else(|| format!("{} has no StackName output: deploy the current template", file.display()))
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse().command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::CreateTable => {
            let config = config::load(StoreConfig::read).map_err(|e| e.to_string())?;
            let store = Store::from_env(&config).await.map_err(|e| e.to_string())?;
            let spec = infra::table::TableSpec::load().map_err(|e| e.to_string())?;
            let created = infra::table::create_table(store.client(), store.table(), &spec).await.map_err(|e| e.to_string())?;
            println!("table {} {}", store.table(), if created { "created" } else { "already exists" });
        }
        Command::Check { files } => {
            for file in &files {
                let profiles = infra::seed::read_profiles(file).map_err(|e| e.to_string())?;
                println!("{}: {} valid profile(s)", file.display(), profiles.len());
            }
        }
        Command::Seed { files } => {
            let config = config::load(StoreConfig::read).map_err(|e| e.to_string())?;
            let store = Store::from_env(&config).await.map_err(|e| e.to_string())?;
            let mut all = Vec::new();
            for file in &files {
                all.extend(infra::seed::read_profiles(file).map_err(|e| e.to_string())?);
            }
            infra::seed::load_profiles(&store, &all).await.map_err(|e| e.to_string())?;
            for profile in &all {
                println!("loaded teacher {}", profile.id());
            }
        }
        Command::Doctor { functions_base, functions_env, stack_outputs, secret_name, origin, webhook_wait } => {
            let webhook_wait = std::time::Duration::from_secs(webhook_wait);
            let (urls, configuration, iam) = match (functions_base, functions_env, stack_outputs, secret_name) {
                (Some(base), Some(env_file), _, _) => {
                    let urls = infra::doctor::FUNCTIONS.iter().map(|f| ((*f).to_owned(), format!("{}/{f}/", base.trim_end_matches('/')))).collect();
                    let running = infra::env_file::read(&env_file).map_err(|e| format!("{e} (the local stack writes it when it starts: is make dev running?)"))?;
                    (urls, infra::doctor::Configuration::same_for_all(running, std::env::vars().collect()), None)
                }
                (None, _, Some(file), Some(secret_name)) => {
                    let urls: Vec<(String, String)> = urls_from_outputs(&file)?;
                    let stack = stack_name(&file)?;
                    let caller = infra::operator::Caller::from_aws_chain(urls.first().map_or("", |(_, url)| url.as_str())).await?;
                    let http = shared::net::client_builder().timeout(std::time::Duration::from_secs(15)).build().map_err(|e| e.to_string())?;
                    let endpoints = infra::deployed::Endpoints::of_region(caller.region().ok_or("no AWS region")?);
                    let configuration = infra::deployed::configuration(&http, &caller, &endpoints, &stack, &secret_name).await?;
                    (urls, configuration, Some(caller))
                }
                _ => return Err("give --functions-base with --functions-env, or --stack-outputs with --secret-name".into()),
            };
            let report = infra::doctor::run(configuration, &infra::doctor::Target { urls, origin, iam, webhook_wait }).await;
            for finding in &report.findings {
                println!("{} {}: {}", if finding.ok { "ok  " } else { "FAIL" }, finding.check, finding.detail);
            }
            if !report.healthy() {
                return Err(format!("{} check(s) failed; each line says how to fix it", report.findings.iter().filter(|f| !f.ok).count()));
            }
            println!("doctor: everything checked is healthy");
        }
        Command::StripeWebhook { url, print_secret, connect } => {
            let stripe = config::load(shared::payments::StripeConfig::read).map_err(|e| e.to_string())?;
            let registered = infra::stripe_webhook::register(&stripe, &url, connect).await?;
            let url = if connect { infra::stripe_webhook::connect_url(&url) } else { url };
            match (&registered.secret, print_secret) {
                (Some(secret), true) => {
                    eprintln!("created endpoint {} for {url}", registered.endpoint_id);
                    println!("{secret}");
                }
                (Some(_), false) => eprintln!("created endpoint {} for {url}; its signing secret is in Stripe Dashboard > Developers > Webhooks", registered.endpoint_id),
                (None, _) => eprintln!("updated endpoint {} for {url} (its signing secret is unchanged)", registered.endpoint_id),
            }
        }
        Command::RepairRooms => {
            let (store, hms) = config::load(|env| {
                let parts = (StoreConfig::read(env), shared::rooms::HmsConfig::read(env));
                Some((parts.0?, parts.1?))
            })
            .map_err(|e| e.to_string())?;
            let rooms = shared::rooms::Rooms::new(Store::from_env(&store).await.map_err(|e| e.to_string())?, hms, shared::clock::Clock::System).map_err(|e| e.to_string())?;
            let report = rooms.repair().await.map_err(|e| e.to_string())?;
            for id in &report.ready {
                println!("{id} room ready");
            }
            for (id, why) in &report.failed {
                println!("{id} room still not ready: {why}");
            }
            println!("repaired: {} ready, {} still failing", report.ready.len(), report.failed.len());
            if !report.failed.is_empty() {
                return Err("some rooms could not be made".into());
            }
        }
        Command::Reconcile => {
            let (store, stripe, hms, attendance) = config::load(|env| {
                let parts = (StoreConfig::read(env), shared::payments::StripeConfig::read(env), shared::rooms::HmsConfig::read(env), shared::attendance::AttendanceConfig::read(env));
                Some((parts.0?, parts.1?, parts.2?, parts.3?))
            })
            .map_err(|e| e.to_string())?;
            let handler = shared::webhook::EventHandler::new(Store::from_env(&store).await.map_err(|e| e.to_string())?, &stripe, hms).map_err(|e| e.to_string())?;
            let report = shared::reconcile::run_with(&handler, &attendance, jiff::Timestamp::now()).await;
            for change in &report.changes {
                println!("{change}");
            }
            for (kind, c) in [("checkouts", report.checkouts), ("events", report.events), ("refunds", report.refunds), ("rooms", report.rooms)] {
                println!("{kind}: {} settled, {} still failing, {} needing attention", c.settled, c.still_failing, c.needs_attention);
            }
            if report.failed() {
                return Err(format!("still failing (the next run retries them):\n  {}", report.failures.join("\n  ")));
            }
        }
        Command::Notify => {
            let (store, mail, policy) = config::load(|env| {
                let parts = (StoreConfig::read(env), shared::notify::MailConfig::read(env), shared::outbound::TargetPolicy::read(env));
                Some((parts.0?, parts.1?, parts.2?))
            })
            .map_err(|e| e.to_string())?;
            let store = Store::from_env(&store).await.map_err(|e| e.to_string())?;
            let subscribers = shared::outbound::Subscribers { store: store.clone(), policy };
            let notifier = shared::notify::Notifier { store, mailer: shared::notify::Mailer::from_env().map_err(|e| e.to_string())?, config: mail, subscribers };
            let report = notifier.sweep(jiff::Timestamp::now()).await;
            println!("notices: {} due, {} sent, {} not needed, {} failed, {} retried later, {} held by another worker", report.due, report.sent, report.skipped, report.failed, report.retried, report.not_claimed);
            if !report.errors.is_empty() {
                return Err(format!("still failing (the next sweep retries them):\n  {}", report.errors.join("\n  ")));
            }
        }
        Command::Payouts => infra::payouts::run(infra::payouts::Action::Sweep, jiff::Timestamp::now()).await?,
        Command::Earnings { teacher_id } => infra::payouts::run(infra::payouts::Action::Earnings { teacher: teacher_id }, jiff::Timestamp::now()).await?,
        Command::TransferHold { teacher_id, state } => infra::payouts::run(infra::payouts::Action::Hold { teacher: teacher_id, on: state == "on" }, jiff::Timestamp::now()).await?,
        Command::EarningRetry { booking_id } => infra::payouts::run(infra::payouts::Action::Retry { booking: booking_id }, jiff::Timestamp::now()).await?,
        Command::Commission { teacher_id, percent } => {
            let percent = if percent == "default" { None } else { Some(percent.parse::<u8>().map_err(|_| format!("{percent} is not a percentage or `default`"))?) };
            infra::payouts::run(infra::payouts::Action::Commission { teacher: teacher_id, percent }, jiff::Timestamp::now()).await?;
        }
        Command::Credits { action } => {
            let action = match action {
                CreditsAction::List { student } => infra::credits::Action::List { student },
                CreditsAction::Refund { grant_id, amount } => infra::credits::Action::Refund { grant: grant_id, amount },
            };
            infra::credits::run(action, jiff::Timestamp::now()).await?;
        }
        Command::Notices { subject } => {
            let config = config::load(StoreConfig::read).map_err(|e| e.to_string())?;
            let store = Store::from_env(&config).await.map_err(|e| e.to_string())?;
            for notice in store.notices_of(&subject).await.map_err(|e| e.to_string())? {
                println!("{}", serde_json::to_string(&notice).map_err(|e| e.to_string())?);
            }
        }
        Command::Webhooks { action } => {
            let (config, policy) = config::load(|env| {
                let parts = (StoreConfig::read(env), shared::outbound::TargetPolicy::read(env));
                Some((parts.0?, parts.1?))
            })
            .map_err(|e| e.to_string())?;
            let store = Store::from_env(&config).await.map_err(|e| e.to_string())?;
            infra::webhooks::run(&store, &policy, action.into(), jiff::Timestamp::now()).await?;
        }
        Command::Booking { booking_id } => {
            let id = shared::domain::BookingId::parse(&booking_id).map_err(|e| format!("booking_id: {e}"))?;
            let config = config::load(StoreConfig::read).map_err(|e| e.to_string())?;
            let store = Store::from_env(&config).await.map_err(|e| e.to_string())?;
            let booking = store.booking_as_stored(&id).await.map_err(|e| e.to_string())?.ok_or(format!("no booking {id}"))?;
            let stays = store.stays_of(&id).await.map_err(|e| e.to_string())?;
            let shown = serde_json::json!({"booking": booking, "stays_from_webhooks": stays});
            println!("{}", serde_json::to_string_pretty(&shown).map_err(|e| e.to_string())?);
        }
        Command::Outcome { booking_id, outcome } => {
            let id = shared::domain::BookingId::parse(&booking_id).map_err(|e| format!("booking_id: {e}"))?;
            let (store, stripe, hms) = config::load(|env| {
                let parts = (StoreConfig::read(env), shared::payments::StripeConfig::read(env), shared::rooms::HmsConfig::read(env));
                Some((parts.0?, parts.1?, parts.2?))
            })
            .map_err(|e| e.to_string())?;
            let handler = shared::webhook::EventHandler::new(Store::from_env(&store).await.map_err(|e| e.to_string())?, &stripe, hms).map_err(|e| e.to_string())?;
            let by = format!("operator:{}", std::env::var("USER").unwrap_or_else(|_| "admin".into()));
            let before = shared::attendance::overrule(&handler, &id, &outcome, &by, jiff::Timestamp::now()).await.map_err(|e| e.to_string())?;
            println!("{id}: {} -> {outcome} (by {by})", before.as_str());
        }
        Command::ProfileHistory { teacher_id } => {
            let teacher = shared::domain::TeacherId::parse(&teacher_id).map_err(|e| format!("teacher_id: {e}"))?;
            let config = config::load(StoreConfig::read).map_err(|e| e.to_string())?;
            let store = Store::from_env(&config).await.map_err(|e| e.to_string())?;
            let history = store.profile_history(&teacher).await.map_err(|e| e.to_string())?;
            let mut before: Option<serde_json::Value> = None;
            for change in &history {
                let now = change.profile.as_ref().and_then(|p| serde_json::to_value(p).ok());
                let changed: Vec<String> = match (&before, &now) {
                    (Some(serde_json::Value::Object(old)), Some(serde_json::Value::Object(new))) => {
                        let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
                        keys.sort();
                        keys.dedup();
                        keys.into_iter().filter(|k| old.get(*k) != new.get(*k)).cloned().collect()
                    }
                    (None, Some(_)) => vec!["(created)".to_owned()],
                    _ => Vec::new(),
                };
                println!("version {:>4}  {}  by {}  changed: {}", change.version, change.at, change.by, if changed.is_empty() { "-".to_owned() } else { changed.join(", ") });
                before = now;
            }
            println!("{} change(s) of {teacher}'s profile", history.len());
        }
        Command::Attention { resolve } => {
            let config = config::load(StoreConfig::read).map_err(|e| e.to_string())?;
            let store = Store::from_env(&config).await.map_err(|e| e.to_string())?;
            match resolve {
                Some(key) if store.resolve_attention(&key).await.map_err(|e| e.to_string())? => println!("resolved {key}"),
                Some(key) => return Err(format!("no attention record {key} (admin attention lists them)")),
                None => {
                    let lines = infra::attention::list(&store).await.map_err(|e| e.to_string())?;
                    for line in &lines {
                        println!("{line}");
                    }
                    println!("{} record(s) need attention", lines.len());
                }
            }
        }
        Command::CreateBooking { checkout_id, at } => call_operator("create-booking", at, serde_json::json!({"checkout_id": checkout_id})).await?,
        Command::CreateRoom { booking_id, at } => call_operator("create-room", at, serde_json::json!({"booking_id": booking_id})).await?,
        Command::Token { role, sub, email, iss, aud, ttl_hours } => {
            let secret = config::load(auth::read_signing_secret).map_err(|e| e.to_string())?;
            let mut claims = Claims::new(sub, role.into(), jiff::Timestamp::now(), jiff::SignedDuration::from_hours(ttl_hours));
            claims.email = email;
            claims.iss = iss;
            claims.aud = aud;
            println!("{}", auth::mint_hs256(&secret, &claims).map_err(|e| e.to_string())?);
        }
    }
    Ok(())
}

impl From<WebhooksAction> for infra::webhooks::Action {
    fn from(action: WebhooksAction) -> Self {
        match action {
            WebhooksAction::Add { url, events } => Self::Add { url, events },
            WebhooksAction::List => Self::List,
            WebhooksAction::Remove { id } => Self::Remove { id },
            WebhooksAction::Rotate { id } => Self::Rotate { id },
            WebhooksAction::Enable { id } => Self::Enable { id },
        }
    }
}
