//! `make dev`: the whole backend on this machine, no cloud account.
//! Starts the DynamoDB-compatible server (data kept in `.local/`), creates the
//! table, loads the demo teachers, serves every function with `cargo lambda
//! watch` at function-URL paths, and prints how to call them. Ctrl-C stops all.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use jiff::{SignedDuration, Timestamp, ToSpan};
use shared::auth::{self, Claims, Role};
use shared::config::{self, StoreConfig};
use shared::store::Store;
use tokio::process::Command;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = ".local")]
    data_dir: PathBuf,
    #[arg(long, default_value = "infra/seed")]
    seed_dir: PathBuf,
    #[arg(long, default_value = ".env.local")]
    env_file: PathBuf,
    #[arg(long, default_value_t = 8000)]
    dynamo_port: u16,
    #[arg(long, default_value_t = 9000)]
    lambda_port: u16,
    /// Keep the functions as built, whatever changes in the work tree (for
    /// scripted runs: a file a tool writes must not restart them mid-request).
    #[arg(long)]
    no_reload: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("local stack failed: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let store_config = config::load(StoreConfig::read).map_err(|e| e.to_string())?;
    let (jwt_secret, stripe_config, webhook_secret, hms_config) = config::load(|env| {
        let parts = (
            auth::read_signing_secret(env),
            shared::payments::StripeConfig::read(env),
            env.required("STRIPE_WEBHOOK_SECRET", "see .env.local", |s| Ok(s.to_owned())),
            shared::rooms::HmsConfig::read(env),
        );
        Some((parts.0?, parts.1?, parts.2?, parts.3?))
    })
    .map_err(|e| e.to_string())?;

    std::fs::create_dir_all(&args.data_dir).map_err(|e| format!("{}: {e}", args.data_dir.display()))?;
    let db_path = args.data_dir.join("dynamo.sqlite");
    let db = dynoxide::Database::new(&db_path.to_string_lossy()).map_err(|e| format!("opening {}: {e}", db_path.display()))?;
    let dynamo = local_stack::dynamo::LocalDynamo::start(db, args.dynamo_port).await.map_err(|e| format!("DynamoDB port {}: {e}", args.dynamo_port))?;

    let store = Store::new(local_stack::dynamo::local_client(&dynamo.endpoint()), store_config.table_name.clone());
    let spec = infra::table::TableSpec::load().map_err(|e| e.to_string())?;
    infra::table::create_table(store.client(), store.table(), &spec).await.map_err(|e| e.to_string())?;
    let teachers = seed_dir(&store, &args.seed_dir).await?;

    // Webhooks go to the stripe-webhook function once it exists; until then they are only recorded.
    let webhook_url = std::path::Path::new("functions/stripe-webhook")
        .exists()
        .then(|| format!("http://127.0.0.1:{}/lambda-url/stripe-webhook/", args.lambda_port));
    let stripe_port = loopback_port(&stripe_config.api_base, "STRIPE_API_BASE")?;
    let stripe = emulators::stripe::StripeEmulator::start(emulators::stripe::EmulatorConfig {
        port: stripe_port,
        secret_key: stripe_config.secret_key,
        webhook_secret,
        webhook_url,
        retry_base: Duration::from_secs(2),
    })
    .await
    .map_err(|e| format!("Stripe emulator port {stripe_port}: {e}"))?;
    let hms_port = loopback_port(&hms_config.api_base, "HMS_API_BASE")?;
    let hms = emulators::hms::HmsEmulator::start(emulators::hms::HmsEmulatorConfig {
        port: hms_port,
        access_key: hms_config.access_key.clone(),
        secret: hms_config.secret.clone(),
        template_id: hms_config.template_id.clone(),
        roles: vec![hms_config.teacher_role.clone(), hms_config.student_role.clone()],
    })
    .await
    .map_err(|e| format!("100ms emulator port {hms_port}: {e}"))?;

    let mut watch = Command::new("cargo");
    watch.args(["lambda", "watch", "--invoke-address", "127.0.0.1", "--invoke-port", &args.lambda_port.to_string()]);
    if args.no_reload {
        watch.arg("--ignore-changes");
    }
    let mut watch = watch
        .arg("--env-file")
        .arg(&args.env_file)
        .args(["--env-var", &format!("AWS_ENDPOINT_URL_DYNAMODB={}", dynamo.endpoint())])
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting `cargo lambda watch` (run through `make dev`, which installs it): {e}"))?;
    wait_for_port(args.lambda_port).await?;
    let example = first_open_slot(&store, teachers.first()).await;
    print_banner(&args, &Endpoints { dynamo: dynamo.endpoint(), stripe: stripe.base_url(), hms: hms.base_url() }, &teachers, &jwt_secret, example)?;

    tokio::select! {
        _ = tokio::signal::ctrl_c() => println!("\nstopping the local stack"),
        status = watch.wait() => return Err(format!("cargo lambda watch exited: {status:?}")),
    }
    let _ = watch.kill().await;
    Ok(())
}

/// The emulators listen where the functions are told the providers are.
fn loopback_port(base: &str, variable: &str) -> Result<u16, String> {
    reqwest::Url::parse(base)
        .ok()
        .filter(|url| url.host_str() == Some("127.0.0.1"))
        .and_then(|url| url.port())
        .ok_or_else(|| format!("{variable} must be http://127.0.0.1:PORT/... for the local stack, not {base}"))
}

async fn seed_dir(store: &Store, dir: &std::path::Path) -> Result<Vec<String>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    let mut ids = Vec::new();
    for file in files {
        let profiles = infra::seed::read_profiles(&file).map_err(|e| e.to_string())?;
        infra::seed::load_profiles(store, &profiles).await.map_err(|e| e.to_string())?;
        ids.extend(profiles.iter().map(|p| p.id().to_string()));
    }
    Ok(ids)
}

async fn wait_for_port(port: u16) -> Result<(), String> {
    for _ in 0..600 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("cargo lambda watch did not listen on port {port} within 2 minutes"))
}

struct Endpoints {
    dynamo: String,
    stripe: String,
    hms: String,
}

/// A slot to put in the example checkout, so the printed curl works as is.
async fn first_open_slot(store: &Store, teacher: Option<&String>) -> Option<(String, String)> {
    let teacher = shared::domain::TeacherId::parse(teacher?).ok()?;
    let profile = store.get_profile(&teacher).await.ok()??;
    let offer = profile.lessons().iter().max_by_key(|l| l.duration_minutes)?;
    // Intervals are whole seconds.
    let now = Timestamp::from_second(Timestamp::now().as_second()).ok()?;
    let window = shared::domain::Interval::new(now, now + SignedDuration::from_hours(24 * 14))?;
    let busy = store.busy_around(&teacher, window).await.ok()?;
    let slot = shared::availability::slots(&profile, offer.duration_minutes, window, &busy, now).into_iter().next()?;
    Some((slot.start().to_string(), offer.duration_minutes.to_string()))
}

fn print_banner(args: &Args, endpoints: &Endpoints, teachers: &[String], secret: &str, example: Option<(String, String)>) -> Result<(), String> {
    let now = Timestamp::now();
    let week = SignedDuration::from_hours(24 * 7);
    let token = |sub: &str, role| auth::mint_hs256(secret, &Claims::new(sub, role, now, week)).map_err(|e| e.to_string());
    let base = format!("http://127.0.0.1:{}/lambda-url", args.lambda_port);
    let today = jiff::tz::TimeZone::UTC.to_datetime(now).date();
    let from = today.checked_add(1.day()).map_err(|e| e.to_string())?;
    let to = today.checked_add(7.days()).map_err(|e| e.to_string())?;
    let teacher = teachers.first().map(String::as_str).unwrap_or("t_anna");

    println!("\n================ lesson marketplace: local stack ================");
    println!("DynamoDB (dynoxide)   {}   data in {}", endpoints.dynamo, args.data_dir.display());
    println!("Stripe emulator       {}   (sessions: {}_emulator/sessions)", endpoints.stripe, endpoints.stripe);
    println!("100ms emulator        {}   (rooms: {}_emulator/rooms)", endpoints.hms, endpoints.hms.trim_end_matches("v2/"));
    println!("Demo teachers         {}", teachers.join(", "));
    println!("Functions (function-URL paths; each compiles on its first call):");
    for name in function_names() {
        println!("  {base}/{name}/");
    }
    println!("\nTokens (valid 7 days, signed with the development AUTH_JWT_SECRET):");
    let student = token("s_demo", Role::Student)?;
    println!("  student  {student}");
    println!("  teacher  {}", token(teacher, Role::Teacher)?);
    println!("  admin    {}", token("admin", Role::Admin)?);
    println!("\nTry:");
    println!("  curl -s '{base}/get-slots/?teacher_id={teacher}&from={from}&to={to}&duration=60'");
    println!("  curl -s '{base}/get-slots/?teacher_id={teacher}&from={from}&to={to}&duration=trial&tz=America/New_York'");
    if let Some((start, minutes)) = example {
        println!("  curl -s -X POST '{base}/initiate-checkout/' -H 'Authorization: Bearer {student}' -H 'Content-Type: application/json' \\");
        println!("       -d '{{\"lessons\": [{{\"teacher_id\": \"{teacher}\", \"start\": \"{start}\", \"duration_minutes\": {minutes}}}]}}'");
        println!("  (open the returned checkout_url in a browser to pay or cancel)");
    }
    println!("  curl -s -X POST '{}_emulator/faults' -H 'Content-Type: application/json' -d '{{\"status\": 500, \"count\": 1}}'   # make Stripe fail once", endpoints.stripe);
    println!("\nCtrl-C stops everything.");
    println!("=================================================================\n");
    Ok(())
}

fn function_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("functions")
        .map(|dir| dir.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}
