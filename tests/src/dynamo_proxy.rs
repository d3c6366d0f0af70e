//! A loopback HTTP proxy in front of dynoxide that produces the DynamoDB
//! behaviours dynoxide cannot: answers lost after the write happened,
//! transactions cancelled with `TransactionConflict`, throttling, a service
//! that ignores `ClientRequestToken`, and per-call latency closer to
//! DynamoDB's. It also logs every call, so tests can assert what was read.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What the proxy does to a matching call.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Forward it, then answer `500 InternalServerError` as if the answer
    /// was lost on the way back (the write did happen).
    LoseAnswer,
    /// Answer `TransactionCanceledException` with `code` as the reason of
    /// every item whose `pk` starts with `prefix` ("None" for the others),
    /// without forwarding.
    Cancel { code: &'static str, prefix: &'static str },
    /// Answer `ThrottlingException` without forwarding.
    Throttle,
    /// Answer `500 InternalServerError` without forwarding.
    Fail,
    /// Answer `500` with a body that is not DynamoDB's error shape (no
    /// `__type`), as a web server in front of a failing DynamoDB
    /// implementation does, without forwarding: the SDK sees a server error
    /// without a code.
    Garbled,
    /// Forward it, then hold the answer back this long: past the SDK's
    /// attempt timeout the client gives up on an answer that was coming.
    Hang(Duration),
    /// Start an answer and break the connection in the middle of its body,
    /// without forwarding.
    Cut,
}

#[derive(Debug, Clone)]
struct Rule {
    operation: &'static str,
    fault: Fault,
    remaining: u32,
}

/// One call as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Call {
    pub operation: String,
    pub request: Value,
}

struct ProxyState {
    upstream: String,
    http: reqwest::Client,
    rules: Mutex<Vec<Rule>>,
    log: Mutex<Vec<Call>>,
    latency: Mutex<Duration>,
    ignore_tokens: Mutex<bool>,
    connections: AtomicUsize,
}

pub struct DynamoProxy {
    pub addr: SocketAddr,
    state: Arc<ProxyState>,
    task: JoinHandle<()>,
}

impl DynamoProxy {
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let http = reqwest::Client::builder().no_proxy().build().expect("proxy client");
        let state = Arc::new(ProxyState { upstream, http, rules: Mutex::default(), log: Mutex::default(), latency: Mutex::new(Duration::ZERO), ignore_tokens: Mutex::new(false), connections: AtomicUsize::new(0) });
        let app = Router::new().fallback(forward).with_state(state.clone());
        let counted = state.clone();
        let listener = listener.tap_io(move |_| {
            counted.connections.fetch_add(1, Ordering::Relaxed);
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state, task }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Applies `fault` to the next `count` calls of `operation` (e.g. "TransactWriteItems").
    pub fn fail(&self, operation: &'static str, fault: Fault, count: u32) {
        lock(&self.state.rules).push(Rule { operation, fault, remaining: count });
    }

    pub fn clear(&self) {
        lock(&self.state.rules).clear();
    }

    /// Forward every call without its `ClientRequestToken`, as a service
    /// that ignores tokens would treat it.
    pub fn ignore_tokens(&self, ignore: bool) {
        *lock(&self.state.ignore_tokens) = ignore;
    }

    /// Added to every call, both ways split evenly.
    pub fn set_latency(&self, latency: Duration) {
        *lock(&self.state.latency) = latency;
    }

    pub fn calls(&self) -> Vec<Call> {
        lock(&self.state.log).clone()
    }

    /// How many TCP connections clients have opened to the proxy.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::Relaxed)
    }

    pub fn clear_calls(&self) {
        lock(&self.state.log).clear();
    }
}

impl Drop for DynamoProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn forward(State(state): State<Arc<ProxyState>>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
    let mut request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let original = request.clone();
    lock(&state.log).push(Call { operation: operation.clone(), request: request.clone() });
    let fault = {
        let mut rules = lock(&state.rules);
        let hit = rules.iter_mut().find(|r| r.operation == operation && r.remaining > 0);
        hit.map(|r| {
            r.remaining -= 1;
            r.fault.clone()
        })
    };
    let stripped = *lock(&state.ignore_tokens) && request.as_object_mut().and_then(|o| o.remove("ClientRequestToken")).is_some();
    let body = if stripped { Bytes::from(request.to_string()) } else { body };
    let latency = *lock(&state.latency);
    tokio::time::sleep(latency / 2).await;
    let answer = match fault {
        Some(Fault::Cancel { code, prefix }) => return error(400, "TransactionCanceledException", Some(reasons(&original, code, prefix))),
        Some(Fault::Throttle) => return error(400, "ThrottlingException", None),
        Some(Fault::Fail) => return error(500, "InternalServerError", None),
        Some(Fault::Garbled) => {
            let mut response = (StatusCode::INTERNAL_SERVER_ERROR, "<html><body><h1>Internal Server Error</h1></body></html>").into_response();
            response.headers_mut().insert("content-type", HeaderValue::from_static("text/html"));
            return response;
        }
        Some(Fault::Hang(hold)) => {
            let answer = send(&state, &headers, body).await;
            tokio::time::sleep(hold).await;
            return answer;
        }
        Some(Fault::Cut) => {
            // The first bytes of an answer, then the connection fails.
            let chunks: [Result<Bytes, std::io::Error>; 2] = [Ok(Bytes::from_static(b"{\"Item")), Err(std::io::Error::other("cut by the test proxy"))];
            let mut response = (StatusCode::OK, axum::body::Body::from_stream(futures::stream::iter(chunks))).into_response();
            response.headers_mut().insert("content-type", HeaderValue::from_static("application/x-amz-json-1.0"));
            return response;
        }
        Some(Fault::LoseAnswer) => {
            let _ = send(&state, &headers, body).await;
            return error(500, "InternalServerError", None);
        }
        None => send(&state, &headers, body).await,
    };
    tokio::time::sleep(latency / 2).await;
    answer
}

async fn send(state: &ProxyState, headers: &HeaderMap, body: Bytes) -> Response {
    let mut request = state.http.post(&state.upstream).body(body);
    for (name, value) in headers {
        // The body may have changed; reqwest sets the length itself.
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(upstream) => {
            let status = StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let content_type = upstream.headers().get("content-type").cloned();
            let bytes = upstream.bytes().await.unwrap_or_default();
            let mut response = (status, bytes).into_response();
            if let Some(content_type) = content_type {
                response.headers_mut().insert("content-type", content_type);
            }
            response
        }
        Err(_) => error(500, "InternalServerError", None),
    }
}

/// One reason per transaction item, as DynamoDB lists them.
fn reasons(request: &Value, code: &str, prefix: &str) -> Value {
    let items = request["TransactItems"].as_array().cloned().unwrap_or_default();
    let reasons: Vec<Value> = items
        .iter()
        .map(|item| {
            let action = ["Put", "Update", "Delete", "ConditionCheck"].iter().find_map(|a| item.get(*a)).cloned().unwrap_or(Value::Null);
            let pk = action["Item"]["pk"]["S"].as_str().or_else(|| action["Key"]["pk"]["S"].as_str()).unwrap_or_default();
            if pk.starts_with(prefix) { json!({"Code": code, "Message": "injected by the test proxy"}) } else { json!({"Code": "None"}) }
        })
        .collect();
    Value::Array(reasons)
}

fn error(status: u16, kind: &str, reasons: Option<Value>) -> Response {
    let mut body = json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"), "message": format!("{kind} injected by the test proxy")});
    if let Some(reasons) = reasons {
        body["CancellationReasons"] = reasons;
    }
    let mut response = (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), body.to_string()).into_response();
    response.headers_mut().insert("content-type", HeaderValue::from_static("application/x-amz-json-1.0"));
    response
}
