//! A stand-in for a Function URL with `AuthType: AWS_IAM`, for the operator
//! endpoints: it checks each request's SigV4 signature the way Lambda does
//! (recomputed from what arrived, with the caller's secret key), refuses a bad
//! one with `403` before the function runs, and passes a good one on as the
//! event Lambda builds: every header as sent (the SigV4 `authorization`,
//! `x-amz-date`, `x-amz-security-token`) and the verified caller in
//! `requestContext.authorizer.iam`.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use lambda_http::{Body, Request};
use local_stack::events::IamCaller;
use tokio::task::JoinHandle;

use crate::FunctionUrlEvent;

/// An IAM principal allowed to invoke the URL, with its keys.
#[derive(Clone)]
pub struct Principal {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
    pub account_id: String,
    pub user_arn: String,
    pub caller_id: String,
}

impl Principal {
    /// An operator's role session, as `aws sso login` leaves one.
    pub fn operator() -> Self {
        Self {
            access_key: "ASIAOPERATOREXAMPLE1".into(),
            secret_key: "operator/secret/key/EXAMPLEKEY0123456789".into(),
            session_token: Some("IQoJb3JpZ2luX2VjEXAMPLEsessiontoken".into()),
            account_id: "111122223333".into(),
            user_arn: "arn:aws:sts::111122223333:assumed-role/operators/alice".into(),
            caller_id: "AROAOPERATOREXAMPLE:alice".into(),
        }
    }

    pub fn credentials(&self) -> Credentials {
        Credentials::new(&self.access_key, &self.secret_key, self.session_token.clone(), None, "test")
    }
}

type Handler = Arc<dyn Fn(Request) -> std::pin::Pin<Box<dyn Future<Output = lambda_http::Response<Body>> + Send>> + Send + Sync>;

struct Url {
    region: String,
    principal: Principal,
    handler: Handler,
}

pub struct IamFunctionUrl {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl IamFunctionUrl {
    pub async fn start<F, Fut>(region: &str, principal: Principal, handler: F) -> Self
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = lambda_http::Response<Body>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |req| Box::pin(handler(req)));
        let state = Arc::new(Url { region: region.into(), principal, handler });
        let (addr, task) = crate::serve::spawn_on_loopback(axum::Router::new().fallback(call).with_state(state)).await;
        Self { addr, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for IamFunctionUrl {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn call(State(url): State<Arc<Url>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(why) = verify(&url.principal, &url.region, infra::operator::SERVICE, &method, &uri, &headers, &body) {
        // Lambda's own refusal, before the function runs.
        return (StatusCode::FORBIDDEN, [("x-refused-because", why)], r#"{"Message":"Forbidden"}"#).into_response();
    }
    let p = &url.principal;
    let caller = IamCaller { access_key: p.access_key.clone(), account_id: p.account_id.clone(), caller_id: p.caller_id.clone(), user_arn: p.user_arn.clone() };
    let mut event = FunctionUrlEvent::new(method.as_str(), uri.path()).body(&String::from_utf8_lossy(&body)).iam_caller(caller);
    for (name, value) in &headers {
        if let Ok(value) = value.to_str() {
            event = event.header(name.as_str(), value);
        }
    }
    // What Lambda adds in front of the function.
    for (name, value) in [("x-amzn-trace-id", "Root=1-67891233-abcdef012345678912345678"), ("x-forwarded-for", "127.0.0.1"), ("x-forwarded-proto", "https"), ("x-forwarded-port", "443")] {
        event = event.header(name, value);
    }
    let (parts, body) = (url.handler)(event.into_request()).await.into_parts();
    let bytes: Vec<u8> = match body {
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    (parts.status, parts.headers, bytes).into_response()
}

/// Recomputes the request's signature from what arrived, as AWS does for
/// `principal`'s key in `region` for `service`, and compares.
pub fn verify(principal: &Principal, expected_region: &str, expected_service: &str, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let authorization = header("authorization").ok_or("no authorization header")?;
    let fields = authorization.strip_prefix("AWS4-HMAC-SHA256 ").ok_or("not SigV4")?;
    let fields: BTreeMap<&str, &str> = fields.split(", ").filter_map(|f| f.split_once('=')).collect();
    let (credential, signed, signature) = (fields.get("Credential").ok_or("no Credential")?, fields.get("SignedHeaders").ok_or("no SignedHeaders")?, fields.get("Signature").ok_or("no Signature")?);
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, _date, region, service, "aws4_request"] = scope[..] else { return Err("malformed credential scope".into()) };
    if access_key != principal.access_key || region != expected_region || service != expected_service {
        return Err(format!("wrong key, region or service: {credential}"));
    }
    let time = jiff::fmt::strtime::parse("%Y%m%dT%H%M%SZ", header("x-amz-date").ok_or("no x-amz-date")?).and_then(|t| t.to_datetime()).map_err(|e| e.to_string())?;
    let time = SystemTime::try_from(jiff::tz::TimeZone::UTC.to_timestamp(time).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    if SystemTime::now().duration_since(time).unwrap_or_default() > Duration::from_secs(300) {
        return Err("signature expired".into());
    }
    // x-amz-date and the session token are added back by the signer, from the time and the credentials.
    let signed: Vec<&str> = signed.split(';').collect();
    let to_sign: Vec<(&str, &str)> = signed.iter().filter(|n| !matches!(**n, "x-amz-date" | "x-amz-security-token")).map(|n| Ok((*n, header(n).ok_or(format!("signed header {n} missing"))?))).collect::<Result<_, String>>()?;
    let token = if signed.contains(&"x-amz-security-token") { header("x-amz-security-token").map(str::to_owned) } else { None };
    let identity = Credentials::new(&principal.access_key, &principal.secret_key, token, None, "verifier").into();
    let params = v4::SigningParams::builder().identity(&identity).region(region).name(service).time(time).settings(SigningSettings::default()).build().map_err(|e| e.to_string())?.into();
    let full_uri = format!("http://{}{}", header("host").ok_or("no host")?, uri.path_and_query().map_or("/", |p| p.as_str()));
    let signable = SignableRequest::new(method.as_str(), full_uri, to_sign.into_iter(), SignableBody::Bytes(body)).map_err(|e| e.to_string())?;
    let expected = sign(signable, &params).map_err(|e| e.to_string())?;
    if expected.signature() == *signature { Ok(()) } else { Err("signature does not match".into()) }
}
