//! `make test`'s check of `make doctor` itself. Doctor passes on the local
//! stack as configured (started for the run when none is running). Then a
//! second local stack is started broken the way deployments break: its
//! functions run with a STRIPE_WEBHOOK_SECRET other than the one the Stripe
//! emulator signs with (the stored one), and without HMS_APP_SECRET. Doctor's
//! own environment (the stored secrets, `.env.local`) stays as it is; it must
//! fail naming both fixes.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use infra::doctor::{Configuration, FUNCTIONS, Report, Target};
use local_stack::process::Stack;

/// The broken stack's ports, beside the healthy one's (9000, 8000, 12111, 12112, 12113).
const BROKEN_LAMBDA_PORT: u16 = 9010;
const BROKEN_DYNAMO_PORT: u16 = 8010;
const BROKEN_STRIPE: &str = "http://127.0.0.1:12121/";
const BROKEN_HMS: &str = "http://127.0.0.1:12122/v2/";
const BROKEN_SES: &str = "http://127.0.0.1:12123";

#[tokio::main]
async fn main() -> ExitCode {
    local_stack::process::run_against_stack(true, 9000, "DOCTOR CHECK", |functions_env| run(functions_env)).await
}

async fn run(functions_env: std::path::PathBuf) -> Result<(), String> {
    let http = reqwest::Client::builder().no_proxy().build().map_err(|e| e.to_string())?;
    // Wait until every function has compiled and answers.
    let healthy_target = target(9000);
    for (_, url) in &healthy_target.urls {
        local_stack::process::first_answer(|| http.get(url)).await?;
    }
    let healthy = doctor(&functions_env, &healthy_target).await?;
    print("the local stack as configured", &healthy);
    if !healthy.healthy() {
        return Err("the local stack as configured is not healthy".into());
    }

    // The web app is the healthy stack's (port 0: the broken one's goes wherever is free).
    let args: Vec<String> = ["--lambda-port", &BROKEN_LAMBDA_PORT.to_string(), "--dynamo-port", &BROKEN_DYNAMO_PORT.to_string(), "--web-port", "0"]
        .into_iter()
        .map(str::to_owned)
        .chain(["--function-env", "STRIPE_WEBHOOK_SECRET=whsec_not_the_endpoints_secret", "--function-env", "HMS_APP_SECRET="].map(str::to_owned))
        .collect();
    // Its mails go to its own SES emulator, and no second mail viewer is started.
    let env = [
        ("STRIPE_API_BASE".to_owned(), BROKEN_STRIPE.to_owned()),
        ("HMS_API_BASE".to_owned(), BROKEN_HMS.to_owned()),
        ("AWS_ENDPOINT_URL_SESV2".to_owned(), BROKEN_SES.to_owned()),
        ("SES_VIEWER_URL".to_owned(), String::new()),
    ];
    let broken_stack = Stack::start(&args, &env).await?;
    let result = check_broken(&http, &broken_stack).await;
    broken_stack.stop().await;
    result
}

async fn check_broken(http: &reqwest::Client, stack: &Stack) -> Result<(), String> {
    let target = target(BROKEN_LAMBDA_PORT);
    // get-slots needs neither secret: once it answers, the stack is up (the others do not start).
    let (_, slots) = target.urls.iter().find(|(name, _)| name == "get-slots").ok_or("no get-slots")?;
    local_stack::process::first_answer(|| http.get(slots)).await?;
    let sick = doctor(&stack.functions_env(), &Target { webhook_wait: Duration::from_secs(10), ..target }).await?;
    print("a stack started with a wrong STRIPE_WEBHOOK_SECRET and without HMS_APP_SECRET", &sick);
    let failed = |check: &str, fix: &str| sick.findings.iter().any(|f| !f.ok && f.check == check && f.detail.contains(fix));
    if sick.healthy() || !failed("configuration: 100ms", "HMS_APP_SECRET is not set") || !failed("configuration: secrets as stored", "stripe-webhook runs with a STRIPE_WEBHOOK_SECRET other than the stored one") {
        return Err("doctor did not name both problems".into());
    }
    Ok(())
}

fn target(port: u16) -> Target {
    let base = format!("http://127.0.0.1:{port}/lambda-url");
    Target { urls: FUNCTIONS.iter().map(|f| ((*f).to_owned(), format!("{base}/{f}/"))).collect(), origin: "http://localhost:3000".into(), iam: None, webhook_wait: Duration::from_secs(30) }
}

/// Doctor as `make doctor` runs it locally: the stack's functions' environment, and this process's as the stored secrets.
async fn doctor(functions_env: &Path, target: &Target) -> Result<Report, String> {
    let running = infra::env_file::read(functions_env)?;
    Ok(infra::doctor::run(Configuration::same_for_all(running, std::env::vars().collect()), target).await)
}

fn print(title: &str, report: &Report) {
    println!("--- doctor, {title}:");
    for finding in &report.findings {
        println!("{} {}: {}", if finding.ok { "ok  " } else { "FAIL" }, finding.check, finding.detail);
    }
}
