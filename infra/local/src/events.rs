//! Lambda Function URL invocation events (payload 2.0), built as Lambda sends
//! them: for tests, which hand them to handlers, and for `make bench`, which
//! sends them to the deployed binaries through a local Runtime API.

use std::sync::atomic::{AtomicU32, Ordering};

use lambda_http::Request;
use serde_json::{Value, json};

static REQUEST_SEQ: AtomicU32 = AtomicU32::new(0);

/// A Function URL invocation event, shaped as in the Lambda documentation.
pub struct FunctionUrlEvent {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<String>,
    base64: bool,
    iam: Option<IamCaller>,
}

/// The caller Lambda verified for a Function URL with `AuthType: AWS_IAM`
/// (`requestContext.authorizer.iam`).
#[derive(Debug, Clone)]
pub struct IamCaller {
    pub access_key: String,
    pub account_id: String,
    pub caller_id: String,
    pub user_arn: String,
}

impl FunctionUrlEvent {
    pub fn new(method: &str, path: &str) -> Self {
        Self { method: method.into(), path: path.into(), query: Vec::new(), headers: Vec::new(), body: None, base64: false, iam: None }
    }

    pub fn get(path: &str) -> Self {
        Self::new("GET", path)
    }

    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    pub fn body(mut self, body: &str) -> Self {
        self.body = Some(body.into());
        self
    }

    /// A body that is not text, base64-encoded as Lambda passes it.
    pub fn binary_body(mut self, body: &[u8]) -> Self {
        use base64::Engine;
        self.body = Some(base64::engine::general_purpose::STANDARD.encode(body));
        self.base64 = true;
        self
    }

    /// As Lambda passes a request that passed IAM auth: the verified caller in
    /// `requestContext.authorizer.iam` (the signature headers stay in `headers`).
    pub fn iam_caller(mut self, caller: IamCaller) -> Self {
        self.iam = Some(caller);
        self
    }

    pub fn to_json(&self) -> Value {
        let raw_query = self.query.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
        // Function URLs join repeated parameters with commas.
        let mut params = serde_json::Map::new();
        for (k, v) in &self.query {
            let joined = match params.get(k).and_then(Value::as_str) {
                Some(prev) => format!("{prev},{v}"),
                None => v.clone(),
            };
            params.insert(k.clone(), Value::String(joined));
        }
        let mut headers: serde_json::Map<String, Value> = self.headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        headers.entry("host").or_insert_with(|| json!("abcdefghijklmnop.lambda-url.eu-central-1.on.aws"));
        let seq = REQUEST_SEQ.fetch_add(1, Ordering::Relaxed);
        // Without IAM auth Lambda says "anonymous" and sets no authorizer; with it, the
        // function owner's account and the caller as the Lambda developer guide documents them.
        let (account, authorizer) = match &self.iam {
            None => (json!("anonymous"), Value::Null),
            Some(caller) => (
                json!(caller.account_id),
                json!({"iam": {
                    "accessKey": caller.access_key,
                    "accountId": caller.account_id,
                    "callerId": caller.caller_id,
                    "cognitoIdentity": null,
                    "principalOrgId": null,
                    "userArn": caller.user_arn,
                    "userId": caller.caller_id
                }}),
            ),
        };
        json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": self.path,
            "rawQueryString": raw_query,
            "headers": headers,
            "queryStringParameters": if params.is_empty() { Value::Null } else { Value::Object(params) },
            "requestContext": {
                "accountId": account,
                "apiId": "abcdefghijklmnop",
                "authentication": null,
                "authorizer": authorizer,
                "domainName": "abcdefghijklmnop.lambda-url.eu-central-1.on.aws",
                "domainPrefix": "abcdefghijklmnop",
                "http": {"method": self.method, "path": self.path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "tests"},
                "requestId": format!("test-request-{seq}"),
                "routeKey": "$default",
                "stage": "$default",
                "time": "24/Nov/2026:08:00:00 +0000",
                "timeEpoch": 1_795_507_200_000u64
            },
            "body": self.body,
            "isBase64Encoded": self.base64
        })
    }

    /// The event as `lambda_http` hands it to a handler.
    pub fn into_request(self) -> Request {
        lambda_http::request::from_str(&self.to_json().to_string()).expect("a valid Function URL event")
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
