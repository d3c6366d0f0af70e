//! The local stack's parts that tests use too: an embedded DynamoDB-compatible
//! server (dynoxide, SQLite-backed) behind the IAM checker ([`crate::iam`]) on
//! loopback, and clients pointed at it as the operator or as a function.

use std::net::SocketAddr;
use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{Credentials, Region};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::iam;

/// A running dynoxide server behind the IAM checker; dropping it stops both.
pub struct LocalDynamo {
    /// Where clients connect: the checker.
    pub addr: SocketAddr,
    checker: Arc<iam::Checker>,
    _stop: oneshot::Sender<()>,
}

impl LocalDynamo {
    /// Serves `db` on 127.0.0.1:`port` (0 picks a free port, as tests do),
    /// every request checked against the policies of `template.yaml` for a
    /// table named `table`.
    pub async fn start(db: dynoxide::Database, port: u16, table: &str) -> Result<Self, String> {
        let inner = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| e.to_string())?;
        let upstream = format!("http://{}", inner.local_addr().map_err(|e| e.to_string())?);
        let checker = Arc::new(iam::Checker::new(upstream, table)?);
        let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let (stop, stopped) = oneshot::channel::<()>();
        let (stop_inner, stopped_inner) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped_inner.await;
            };
            if let Err(err) = dynoxide::server::serve_with_shutdown(inner, db, shutdown).await {
                tracing::error!(%err, "dynoxide stopped");
            }
        });
        let app = axum::Router::new().fallback(iam::handle).layer(axum::extract::DefaultBodyLimit::max(16 * 1024 * 1024)).with_state(checker.clone());
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
                let _ = stop_inner.send(());
            };
            if let Err(err) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
                tracing::error!(%err, "the IAM checker stopped");
            }
        });
        Ok(Self { addr, checker, _stop: stop })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Capacity consumed so far, by caller (`make bench`'s cost figures).
    pub fn consumed(&self) -> std::collections::BTreeMap<String, iam::capacity::Units> {
        self.checker.consumed()
    }
}

/// A DynamoDB client for a local endpoint with the operator's credentials
/// (exempt from the functions' policies).
pub fn local_client(endpoint: &str) -> Client {
    client_as(endpoint, iam::OPERATOR_KEY)
}

/// A DynamoDB client that signs as function `name` (its policy applies).
pub fn function_client(endpoint: &str, name: &str) -> Client {
    client_as(endpoint, &iam::function_key(name))
}

fn client_as(endpoint: &str, key: &str) -> Client {
    let config = shared::store::client_config()
        .expect("a client on the static TLS configuration")
        .endpoint_url(endpoint)
        .region(Region::new(iam::policy::REGION))
        .credentials_provider(Credentials::new(key, "local", None, None, "local"))
        .build();
    Client::from_conf(config)
}
