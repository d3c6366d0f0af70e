//! Serves a function's handler over real HTTP on loopback, each request
//! turned into the Function URL event Lambda would send, so a provider
//! emulator can call it as the provider calls the deployed URL.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use lambda_http::{Body, Request};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::FunctionUrlEvent;

type Handler = Arc<dyn Fn(Request) -> std::pin::Pin<Box<dyn Future<Output = lambda_http::Response<Body>> + Send>> + Send + Sync>;

/// Serves `app` on an ephemeral loopback port until the task is aborted.
pub(crate) async fn spawn_on_loopback(app: axum::Router) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}

pub struct ServedFunction {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl ServedFunction {
    pub async fn start<F, Fut>(handler: F) -> Self
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = lambda_http::Response<Body>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |req| Box::pin(handler(req)));
        let (addr, task) = spawn_on_loopback(axum::Router::new().fallback(call).with_state(handler)).await;
        Self { addr, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for ServedFunction {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn call(State(handler): State<Handler>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let mut event = FunctionUrlEvent::new(method.as_str(), uri.path()).body(&String::from_utf8_lossy(&body));
    for (name, value) in &headers {
        if let Ok(value) = value.to_str() {
            event = event.header(name.as_str(), value);
        }
    }
    let response = handler(event.into_request()).await;
    let (parts, body) = response.into_parts();
    let bytes: Vec<u8> = match body {
        Body::Empty => Vec::new(),
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    (parts.status, parts.headers, bytes).into_response()
}
