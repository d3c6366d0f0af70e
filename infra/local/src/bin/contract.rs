//! `make contract` (and `make test`): Schemathesis, from the project venv,
//! against every operation of `docs/openapi.yaml` on the local stack: no
//! `5xx`, every status documented, every response in its documented schema,
//! every error in the JSON error shape. Starts the local stack for the run
//! when none is running.

use std::process::ExitCode;

use clap::Parser;
use jiff::{SignedDuration, Timestamp};
use shared::auth::{self, Claims, Role};
use shared::config;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    stack: local_stack::process::StackArgs,
    /// Cases per operation; the seed is fixed, so a run can be repeated exactly.
    #[arg(long, default_value_t = 30)]
    max_examples: u32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}


#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    local_stack::process::run_against_stack(args.stack.start, args.stack.functions_port, "CONTRACT", |_| run(&args)).await
}

async fn run(args: &Args) -> Result<(), String> {
    let secret = config::load(auth::read_signing_secret).map_err(|e| e.to_string())?;
    let student = auth::mint_hs256(&secret, &Claims::new("s_contract", Role::Student, Timestamp::now(), SignedDuration::from_hours(2))).map_err(|e| e.to_string())?;
    let http = reqwest::Client::builder().no_proxy().build().map_err(|e| e.to_string())?;
    // Every function, so each is compiled and started before the clock runs.
    for name in infra::doctor::FUNCTIONS {
        let url = format!("{}/{name}/", args.stack.functions);
        local_stack::process::first_answer(|| http.post(&url)).await?;
        println!("{name} is up");
    }
    let status = tokio::process::Command::new(".venv/bin/schemathesis")
        .args(["--config-file", "tests/contract/schemathesis.toml"])
        .args(["run", "docs/openapi.yaml", "--url", &args.stack.functions])
        .args(["-H", &format!("Authorization: Bearer {student}")])
        .args(["--max-examples", &args.max_examples.to_string(), "--seed", &args.seed.to_string(), "--request-timeout", "30"])
        // Semantic rules (to before from, a slot in the past) are not in a schema: a 4xx for a
        // schema-valid request is the API being right, not the contract being broken.
        .args(["--exclude-checks", "positive_data_acceptance"])
        .env("SCHEMATHESIS_HOOKS", "tests.contract.hooks")
        // Nothing written into the work tree (a running `make dev` would reload on it).
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("HYPOTHESIS_STORAGE_DIRECTORY", std::env::temp_dir().join("lessons-contract-hypothesis"))
        .env("PYTHONPATH", ".")
        .status()
        .await
        .map_err(|e| format!("running .venv/bin/schemathesis (make test installs it): {e}"))?;
    if status.success() { Ok(()) } else { Err("Schemathesis found responses that break docs/openapi.yaml (above)".into()) }
}
