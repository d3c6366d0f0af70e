//! `make dev`: the whole backend on this machine, no cloud account.
//! Starts the DynamoDB-compatible server (data kept in `.local/`), creates the
//! table, loads the demo teachers, serves every function with `cargo lambda
//! watch` at function-URL paths, starts the mail viewer, runs notify every few
//! seconds (as its schedule does every minute), and prints how to call them.
//! Ctrl-C stops all.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use jiff::{SignedDuration, Timestamp, ToSpan};
use shared::auth::{self, Claims, Role};
use shared::store::Store;
use local_stack::services::{LocalConfig, Ports, Services};
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
    /// Where the reference web app is served (the origin the functions allow).
    #[arg(long, default_value_t = 3000)]
    web_port: u16,
    #[arg(long, default_value = "infra/web")]
    web_dir: PathBuf,
    /// Keep the functions as built, whatever changes in the work tree (for
    /// scripted runs: a file a tool writes must not restart them mid-request).
    #[arg(long)]
    no_reload: bool,
    /// KEY=VALUE over the env file for the functions only, not the emulators
    /// (`KEY=` unsets it): a stack started misconfigured on purpose, as
    /// `make test`'s check of `make doctor` does.
    #[arg(long = "function-env", value_parser = parse_pair)]
    function_env: Vec<(String, String)>,
}

fn parse_pair(raw: &str) -> Result<(String, String), String> {
    raw.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| "expected KEY=VALUE".into())
}

#[tokio::main]
async fn main() -> ExitCode {
    let code = match run(Args::parse()).await {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("local stack failed: {message}");
            1
        }
    };
    // Everything is stopped by now. Exiting here skips tearing down the
    // runtime under tasks still running (an emulator's webhook retries, the
    // web server), which could panic about a runtime being shut down.
    std::process::exit(code)
}

async fn run(args: Args) -> Result<(), String> {
    let config = LocalConfig::from_env()?;
    std::fs::create_dir_all(&args.data_dir).map_err(|e| format!("{}: {e}", args.data_dir.display()))?;
    let db_path = args.data_dir.join("dynamo.sqlite");
    let db = dynoxide::Database::new(&db_path.to_string_lossy()).map_err(|e| format!("opening {}: {e}", db_path.display()))?;
    // Webhooks go to the stripe-webhook function.
    let webhook_url = Some(format!("http://127.0.0.1:{}/lambda-url/stripe-webhook/", args.lambda_port));
    let ports = Ports::configured(&config, args.dynamo_port)?;
    let services = Services::start(&config, db, ports, &args.seed_dir, webhook_url).await?;
    let Services { dynamo, stripe, hms, ses, store, teachers } = &services;
    let _viewer = match &config.ses_viewer {
        Some(url) => Some(start_mail_viewer(url)?),
        None => None,
    };

    // The functions' environment as one file, which `make doctor` reads back
    // as the configuration the stack runs with: the env file, the services
    // where they really listen, and the overrides.
    let endpoints = services.endpoints().map(|(k, v)| (k.to_owned(), v));
    let vars = infra::env_file::merge(infra::env_file::merge(infra::env_file::read(&args.env_file)?, endpoints), args.function_env.clone());
    let vars = quiet_concurrency_warning(vars);
    let functions_env = args.data_dir.join("functions.env");
    std::fs::write(&functions_env, infra::env_file::render(&vars)).map_err(|e| format!("{}: {e}", functions_env.display()))?;

    let mut watch = Command::new("cargo");
    watch.args(["lambda", "watch", "--invoke-address", "127.0.0.1", "--invoke-port", &args.lambda_port.to_string()]);
    if args.no_reload {
        watch.arg("--ignore-changes");
    }
    let mut watch = watch
        .arg("--env-file")
        .arg(&functions_env)
        // Its own process group: a terminal's Ctrl-C reaches only this process,
        // which then stops cargo lambda watch alone (below). Signalled together,
        // its functions die under it and it reports a failed wait as an ERROR.
        .process_group(0)
        // Its own INFO lines are noise here (one is its whole configuration, 90 KB,
        // at every stop), and its watcher reports each function it stops as an
        // ERROR. Warnings stay; a function's own failure prints its own message.
        .env("RUST_LOG", "warn,watchexec=off,cargo_lambda_watch::watcher=off")
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting `cargo lambda watch` (run through `make dev`, which installs it): {e}"))?;
    wait_for_port(args.lambda_port).await?;
    let functions_base = format!("http://127.0.0.1:{}/lambda-url", args.lambda_port);
    let web_config = local_stack::web::config(store, teachers, &config.jwt_secret, &functions_base).await?;
    // Scripted runs (make demo, make contract) need no web app; a missing build is said, not fatal.
    let _web = match local_stack::web::serve(args.web_port, &args.web_dir, web_config).await {
        Ok(server) => Some(server),
        Err(message) => {
            eprintln!("web app not served: {message}");
            None
        }
    };
    let example = first_open_slot(store, teachers.first()).await;
    let endpoints = Endpoints { dynamo: dynamo.endpoint(), stripe: stripe.base_url(), hms: hms.base_url(), ses: ses.endpoint(), viewer: config.ses_viewer.clone() };
    print_banner(&args, &endpoints, teachers, &config.jwt_secret, example)?;
    let _notify = tokio::spawn(notify_every(NOTIFY_EVERY, args.lambda_port));

    tokio::select! {
        _ = tokio::signal::ctrl_c() => println!("\nstopping the local stack"),
        status = watch.wait() => return Err(format!("cargo lambda watch exited: {status:?}")),
    }
    // SIGTERM: it stops its functions and exits. (On SIGINT, while it watches
    // files, it logs a failed wait on its process group as an ERROR.)
    if let Some(pid) = watch.id() {
        let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
    }
    if tokio::time::timeout(Duration::from_secs(10), watch.wait()).await.is_err() {
        let _ = watch.kill().await;
    }
    Ok(())
}

/// `cargo lambda watch` sets `AWS_LAMBDA_MAX_CONCURRENCY=1` for every
/// function, and lambda_runtime warns about it at each start (AWS sets no such
/// variable for these functions): that one warning is left out of the
/// functions' logs, whatever else `RUST_LOG` says.
fn quiet_concurrency_warning(vars: Vec<(String, String)>) -> Vec<(String, String)> {
    let level = vars.iter().find(|(k, _)| k == "RUST_LOG").map_or_else(|| "info".to_owned(), |(_, v)| v.clone());
    if level.contains("lambda_runtime::runtime") {
        return vars;
    }
    infra::env_file::merge(vars, [("RUST_LOG".to_owned(), format!("{level},lambda_runtime::runtime=error"))])
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
    ses: String,
    viewer: Option<String>,
}

/// How often `make dev` runs notify (its schedule is every minute in AWS).
const NOTIFY_EVERY: Duration = Duration::from_secs(5);

/// aws-ses-v2-local (npm, `make dev` installs it): the page where the mails are read.
fn start_mail_viewer(url: &str) -> Result<tokio::process::Child, String> {
    let port = reqwest::Url::parse(url).ok().and_then(|u| u.port()).ok_or_else(|| format!("SES_VIEWER_URL must be http://127.0.0.1:PORT, not {url}"))?;
    Command::new("node")
        .args(["infra/ses-local/node_modules/aws-ses-v2-local/dist/cli.js", "--host", "127.0.0.1", "--port", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting the mail viewer (run through `make dev`, which installs it): {e}"))
}

/// Invokes the notify function through `cargo lambda watch`'s Lambda API, as
/// its schedule does; the first call waits for it to compile.
async fn notify_every(period: Duration, lambda_port: u16) {
    let url = format!("http://127.0.0.1:{lambda_port}/2015-03-31/functions/notify/invocations");
    let Ok(http) = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(600)).build() else { return };
    loop {
        tokio::time::sleep(period).await;
        if let Err(err) = http.post(&url).body(r#"{"source": "local-stack"}"#).send().await {
            eprintln!("notify did not run: {err}");
        }
    }
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
    println!("SES emulator          {}   (raw mails: {}/_emulator/messages)", endpoints.ses, endpoints.ses);
    if let Some(viewer) = &endpoints.viewer {
        println!("Mails                 {viewer}/   (every notice sent, with its invites; notify runs every {} s)", NOTIFY_EVERY.as_secs());
    }
    println!("Web app               http://localhost:{}/   (sign in as a demo student, teacher or operator)", args.web_port);
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
    println!("  make create-booking CHECKOUT=co_…   /   make create-room BOOKING=bk_…   # the operator endpoints, with an admin token");
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
