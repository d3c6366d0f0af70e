//! One HTTP client stack for every call we make: DynamoDB (through the AWS
//! SDK), Stripe's raw calls and 100ms all go through reqwest (hyper, rustls,
//! aws-lc-rs) with Mozilla's root certificates compiled in.
//!
//! Why: each TLS client used to read and parse the machine's certificate
//! store while the function started (the SDK once, reqwest once per client),
//! which was most of a cold start (README, "Cold start"); and one HTTP stack
//! is one copy in every binary. async-stripe keeps its own hyper client, on
//! the same hyper, rustls and webpki roots.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector, http_client_fn};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;

static TLS: LazyLock<rustls::ClientConfig> = LazyLock::new(|| {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
        // The provider is aws-lc-rs's own default: it supports the defaults.
        .unwrap_or_else(|e| unreachable!("aws-lc-rs supports rustls' default protocol versions: {e}"))
});

/// An error with its causes, as one line: reqwest's own message is only
/// "error sending request"; the cause (a connection refused) is what helps.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// A reqwest client builder on the shared TLS configuration; callers add
/// their timeouts.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().tls_backend_preconfigured(TLS.clone())
}

/// The AWS SDK's HTTP client: requests go through one reqwest client that
/// connects within `connect_timeout`. The SDK's per-attempt and per-operation
/// timeouts still bound each call.
pub fn aws_http_client(connect_timeout: Duration) -> Result<SharedHttpClient, reqwest::Error> {
    let connector = SharedHttpConnector::new(SdkConnector(client_builder().connect_timeout(connect_timeout).build()?));
    Ok(http_client_fn(move |_settings, _components| connector.clone()))
}

#[derive(Debug)]
struct SdkConnector(reqwest::Client);

impl HttpConnector for SdkConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.0.clone();
        HttpConnectorFuture::new(async move {
            let request = to_reqwest(request)?;
            let response = client.execute(request).await.map_err(classify)?;
            let mut http = http::Response::builder().status(response.status());
            if let Some(headers) = http.headers_mut() {
                *headers = response.headers().clone();
            }
            let body = response.bytes().await.map_err(classify)?;
            let http = http.body(SdkBody::from(body)).map_err(|e| ConnectorError::other(e.into(), None))?;
            HttpResponse::try_from(http).map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// DynamoDB requests are small JSON documents, always in memory.
fn to_reqwest(request: HttpRequest) -> Result<reqwest::Request, ConnectorError> {
    let request = request.try_into_http1x().map_err(|e| ConnectorError::user(e.into()))?;
    let (parts, body) = request.into_parts();
    let bytes = body.bytes().ok_or_else(|| ConnectorError::user("a streaming request body; DynamoDB requests are buffered".into()))?.to_vec();
    reqwest::Request::try_from(http::Request::from_parts(parts, bytes)).map_err(|e| ConnectorError::user(e.into()))
}

/// As the SDK's own client classifies them, so that its retries behave the
/// same: timeouts and I/O failures are transient, anything else is not.
fn classify(err: reqwest::Error) -> ConnectorError {
    if err.is_timeout() {
        ConnectorError::timeout(err.into())
    } else if err.is_connect() || err.is_request() || err.is_body() {
        ConnectorError::io(err.into())
    } else {
        ConnectorError::other(err.into(), None)
    }
}
