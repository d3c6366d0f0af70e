//! `make browser` (part of `make test`): the generated client's own tests,
//! then the journey of tests/browser in headless Chromium against the local stack and its web app, started for
//! the run when nothing listens on the functions' port.

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    stack: local_stack::process::StackArgs,
    #[arg(long, default_value = "http://localhost:3000")]
    web: String,
    #[arg(long, default_value = "target/browser")]
    screenshots: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    local_stack::process::run_against_stack(args.stack.start, args.stack.functions_port, "BROWSER", |_| run(&args)).await
}

async fn run(args: &Args) -> Result<(), String> {
    let http = reqwest::Client::builder().no_proxy().build().map_err(|e| e.to_string())?;
    // Every function compiled and started, so the browser's waits measure the app, not cargo.
    for name in infra::doctor::FUNCTIONS {
        let url = format!("{}/{name}/", args.stack.functions);
        local_stack::process::first_answer(|| http.post(&url)).await?;
    }
    let config = format!("{}/config.json", args.web);
    local_stack::process::first_answer(|| http.get(&config)).await?;
    let client = tokio::process::Command::new("node").args(["--test", "tests/browser/client.test.mjs"]).status().await.map_err(|e| format!("running node: {e}"))?;
    if !client.success() {
        return Err("the generated client's tests failed (above)".into());
    }
    let screenshots = std::path::absolute(&args.screenshots).map_err(|e| e.to_string())?;
    let status = tokio::process::Command::new("node")
        .arg("tests/browser/journey.mjs")
        .env("WEB_BASE", &args.web)
        .env("SCREENSHOTS", &screenshots)
        .status()
        .await
        .map_err(|e| format!("running node (make test installs the browser test's packages): {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("the journey failed (above); screenshots of each step in {}", screenshots.display())) }
}
