//! A stand-in for the Lambda Runtime API (version 2018-06-01) on loopback, for
//! one function process at a time: it notes when the process asks for work,
//! hands it the events it is given and collects the answers, so that
//! `make bench` can time a start-up and its requests as Lambda would see them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

/// What the function sent back for one invocation (or for its init).
#[derive(Debug)]
pub struct Reply {
    pub at: Instant,
    /// `false` for `/error` and `/init/error`.
    pub ok: bool,
    pub body: Value,
}

struct Channels {
    polls: mpsc::UnboundedSender<Instant>,
    events: Mutex<mpsc::UnboundedReceiver<Value>>,
    replies: mpsc::UnboundedSender<Reply>,
    sequence: AtomicU64,
}

/// The Runtime API for one process; dropping it stops the server.
pub struct RuntimeApi {
    addr: SocketAddr,
    polls: mpsc::UnboundedReceiver<Instant>,
    events: mpsc::UnboundedSender<Value>,
    replies: mpsc::UnboundedReceiver<Reply>,
    server: JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (polls_tx, polls) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::unbounded_channel();
        let (replies_tx, replies) = mpsc::unbounded_channel();
        let channels = Arc::new(Channels { polls: polls_tx, events: Mutex::new(events_rx), replies: replies_tx, sequence: AtomicU64::new(0) });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(|s, b| reply(s, b, true)))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(|s, b| reply(s, b, false)))
            .route("/2018-06-01/runtime/init/error", post(|s, b| reply(s, b, false)))
            .with_state(channels);
        let server = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::error!(%err, "runtime API stand-in stopped");
            }
        });
        Ok(Self { addr, polls, events, replies, server })
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API` for the process.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// When the process next asked for work.
    pub async fn next_poll(&mut self, within: Duration) -> Result<Instant, String> {
        tokio::time::timeout(within, self.polls.recv()).await.map_err(|_| format!("no call to /invocation/next within {within:?}"))?.ok_or_else(|| "runtime API stopped".into())
    }

    /// Hands `event` to the process's (pending or next) poll.
    pub fn invoke(&self, event: Value) {
        // The receiver lives as long as `self`.
        let _ = self.events.send(event);
    }

    pub async fn reply(&mut self, within: Duration) -> Result<Reply, String> {
        tokio::time::timeout(within, self.replies.recv()).await.map_err(|_| format!("no answer within {within:?}"))?.ok_or_else(|| "runtime API stopped".into())
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(channels): State<Arc<Channels>>) -> Response {
    let _ = channels.polls.send(Instant::now());
    let Some(event) = channels.events.lock().await.recv().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let n = channels.sequence.fetch_add(1, Ordering::Relaxed);
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + Duration::from_secs(30);
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("lambda-runtime-aws-request-id", format!("bench-{n}"));
    set("lambda-runtime-deadline-ms", deadline.as_millis().to_string());
    set("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:000000000000:function:bench".into());
    set("lambda-runtime-trace-id", format!("Root=1-00000000-{n:024x};Sampled=0"));
    (headers, axum::Json(event)).into_response()
}

async fn reply(State(channels): State<Arc<Channels>>, body: Bytes, ok: bool) -> StatusCode {
    let at = Instant::now();
    let body = serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let _ = channels.replies.send(Reply { at, ok, body });
    StatusCode::ACCEPTED
}
