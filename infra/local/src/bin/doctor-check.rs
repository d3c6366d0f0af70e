//! `make test`'s check of `make doctor` itself, against the local stack
//! (started for the run when none is running): healthy configuration passes;
//! a removed key and a wrong webhook secret fail, each naming its fix.

use std::process::ExitCode;

use infra::doctor::{FUNCTIONS, Report, Target};
use shared::config::Env;

const BASE: &str = "http://127.0.0.1:9000/lambda-url";

#[tokio::main]
async fn main() -> ExitCode {
    local_stack::process::run_against_stack(true, 9000, "DOCTOR CHECK", run).await
}

async fn run() -> Result<(), String> {
    let target = Target { urls: FUNCTIONS.iter().map(|f| ((*f).to_owned(), format!("{BASE}/{f}/"))).collect(), origin: "http://localhost:3000".into() };
    // Wait until every function has compiled and answers.
    let http = reqwest::Client::builder().no_proxy().build().map_err(|e| e.to_string())?;
    for (_, url) in &target.urls {
        local_stack::process::first_answer(|| http.get(url)).await?;
    }
    let vars: Vec<(String, String)> = std::env::vars().collect();

    let healthy = infra::doctor::run(Env::from_pairs(vars.clone()), &target).await;
    print("as configured", &healthy);
    if !healthy.healthy() {
        return Err("the local stack as configured is not healthy".into());
    }

    let broken: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(k, _)| k != "HMS_APP_SECRET")
        .map(|(k, v)| if k == "STRIPE_WEBHOOK_SECRET" { (k, "whsec_not_the_endpoints_secret".into()) } else { (k, v) })
        .collect();
    let sick = infra::doctor::run(Env::from_pairs(broken), &target).await;
    print("with HMS_APP_SECRET removed and a wrong STRIPE_WEBHOOK_SECRET", &sick);
    let failed = |check: &str, fix: &str| sick.findings.iter().any(|f| !f.ok && f.check == check && f.detail.contains(fix));
    if sick.healthy() || !failed("configuration: 100ms", "HMS_APP_SECRET is not set") || !failed("Stripe webhook signature", "Signing secret") {
        return Err("doctor did not name both problems".into());
    }
    Ok(())
}

fn print(title: &str, report: &Report) {
    println!("--- doctor, {title}:");
    for finding in &report.findings {
        println!("{} {}: {}", if finding.ok { "ok  " } else { "FAIL" }, finding.check, finding.detail);
    }
}
