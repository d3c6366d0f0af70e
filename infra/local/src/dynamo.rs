//! The local stack's parts that tests use too: an embedded DynamoDB-compatible
//! server (dynoxide, SQLite-backed) on loopback, and a client pointed at it.

use std::net::SocketAddr;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{Credentials, Region};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A running dynoxide server; dropping it stops the server.
pub struct LocalDynamo {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl LocalDynamo {
    /// Serves `db` on 127.0.0.1:`port` (0 picks a free port, as tests do).
    pub async fn start(db: dynoxide::Database, port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(err) = dynoxide::server::serve_with_shutdown(listener, db, shutdown).await {
                tracing::error!(%err, "dynoxide stopped");
            }
        });
        Ok(Self { addr, _stop: stop })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A DynamoDB client for a local endpoint, with the fixed dummy credentials
/// local servers accept.
pub fn local_client(endpoint: &str) -> Client {
    let config = shared::store::client_config()
        .expect("a client on the static TLS configuration")
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "local"))
        .build();
    Client::from_conf(config)
}
