//! Starting the local stack for a one-off run (`make demo`, the contract
//! fuzzing in `make test`) when none is running, and stopping it after.

use std::time::Duration;

use tokio::process::{Child, Command};

// Where a scripted run finds the functions, and whether it may start the
// local stack for itself (`make demo`, `make contract`). A plain comment: a
// doc comment would become every command's `--help` text.
#[derive(clap::Args)]
pub struct StackArgs {
    /// Where the functions are served (cargo lambda watch).
    #[arg(long, default_value = "http://127.0.0.1:9000/lambda-url")]
    pub functions: String,
    #[arg(long, default_value_t = 9000)]
    pub functions_port: u16,
    /// Start the local stack if it is not running (and stop it afterwards).
    #[arg(long)]
    pub start: bool,
}

/// A local stack this process started, with its throwaway data directory
/// (or none, when one was running).
pub struct Stack(Option<(Child, std::path::PathBuf)>);

impl Stack {
    /// Starts `cargo run -p local-stack` with a throwaway data directory if
    /// `start` is set and nothing listens on the functions' port.
    pub async fn start_if_needed(start: bool, functions_port: u16) -> Result<Self, String> {
        if !start || tokio::net::TcpStream::connect(("127.0.0.1", functions_port)).await.is_ok() {
            return Ok(Self(None));
        }
        println!("0. starting the local stack (nothing listens on the functions' port)");
        Self::start(&[], &[]).await
    }

    /// Starts `cargo run -p local-stack -- <args>` with a throwaway data
    /// directory and `env` over this process's environment.
    pub async fn start(args: &[String], env: &[(String, String)]) -> Result<Self, String> {
        let data = std::env::temp_dir().join(format!("lessons-local-{}-{}", std::process::id(), uuid_like()));
        let child = Command::new("cargo")
            .args(["run", "--locked", "-q", "-p", "local-stack", "--bin", "local-stack", "--", "--no-reload", "--data-dir"])
            .arg(&data)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| e.to_string())?;
        Ok(Self(Some((child, data))))
    }

    /// The environment file the stack started its functions with (the local
    /// stack writes it into its data directory; `.local` for `make dev`).
    pub fn functions_env(&self) -> std::path::PathBuf {
        self.0.as_ref().map_or_else(|| std::path::PathBuf::from(".local"), |(_, data)| data.clone()).join("functions.env")
    }

    /// Ctrl-C, as a person would: the local stack stops `cargo lambda watch` itself.
    pub async fn stop(self) {
        let Some((mut child, data)) = self.0 else { return };
        if let Some(pid) = child.id() {
            let _ = Command::new("kill").args(["-INT", &pid.to_string()]).status().await;
        }
        if tokio::time::timeout(Duration::from_secs(20), child.wait()).await.is_err() {
            let _ = child.kill().await;
        }
        let _ = std::fs::remove_dir_all(data);
    }
}

/// Tells apart the data directories of stacks one process starts.
fn uuid_like() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// Runs `work` against the local stack (started for it when `start` is set
/// and none runs), given the stack's functions' environment file, stops
/// what it started, and reports as the scripts in
/// `make test` do: `<LABEL> PASSED`, or `<LABEL> FAILED: why` and a failure exit.
pub async fn run_against_stack<F, Fut>(start: bool, functions_port: u16, label: &str, work: F) -> std::process::ExitCode
where
    F: FnOnce(std::path::PathBuf) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let stack = match Stack::start_if_needed(start, functions_port).await {
        Ok(stack) => stack,
        Err(message) => {
            eprintln!("{label} FAILED: starting the local stack: {message}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = work(stack.functions_env()).await;
    stack.stop().await;
    match result {
        Ok(()) => {
            println!("{label} PASSED");
            std::process::ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{label} FAILED: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The first answer that is not `cargo lambda watch` still compiling the
/// function (it refuses connections or answers 502/504 meanwhile).
pub async fn first_answer(request: impl Fn() -> reqwest::RequestBuilder) -> Result<reqwest::Response, String> {
    for _ in 0..300 {
        match request().timeout(Duration::from_secs(300)).send().await {
            Ok(response) if !matches!(response.status().as_u16(), 502 | 504) => return Ok(response),
            _ => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
    Err("the functions never answered (is `make dev` running?)".into())
}
