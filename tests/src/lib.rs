//! Test harness: real parts only. A dynoxide server per test on an ephemeral
//! loopback port, the real table definition, and Lambda Function URL events
//! (payload 2.0) built as Lambda sends them and parsed by `lambda_http`.

use std::sync::atomic::{AtomicU32, Ordering};

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::store::Store;

pub use infra::local::LocalDynamo;

/// An isolated, in-memory DynamoDB-compatible server with the table created.
pub struct TestDb {
    pub dynamo: LocalDynamo,
    pub store: Store,
}

impl TestDb {
    pub async fn start() -> Self {
        let db = dynoxide::Database::memory().expect("in-memory dynoxide");
        let dynamo = LocalDynamo::start(db, 0).await.expect("dynoxide on loopback");
        let store = Store::new(infra::local::local_client(&dynamo.endpoint()), "lessons");
        let spec = infra::table::TableSpec::load().expect("table spec");
        infra::table::create_table(store.client(), store.table(), &spec).await.expect("create table");
        Self { dynamo, store }
    }

    /// Loads the demo teachers from `infra/seed/`.
    pub async fn seed_demo(&self) -> Vec<shared::domain::TeacherProfile> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/seed/teachers.json");
        let profiles = infra::seed::read_profiles(&path).expect("demo seed is valid");
        infra::seed::load_profiles(&self.store, &profiles).await.expect("seeding");
        profiles
    }
}

static REQUEST_SEQ: AtomicU32 = AtomicU32::new(0);

/// A Function URL invocation event, shaped as in the Lambda documentation.
pub struct FunctionUrlEvent {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

impl FunctionUrlEvent {
    pub fn new(method: &str, path: &str) -> Self {
        Self { method: method.into(), path: path.into(), query: Vec::new(), headers: Vec::new(), body: None }
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
        json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": self.path,
            "rawQueryString": raw_query,
            "headers": headers,
            "queryStringParameters": if params.is_empty() { Value::Null } else { Value::Object(params) },
            "requestContext": {
                "accountId": "anonymous",
                "apiId": "abcdefghijklmnop",
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
            "isBase64Encoded": false
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

/// Status and parsed JSON body of a handler's response.
pub fn json_of(response: &Response<Body>) -> (u16, Value) {
    let bytes: &[u8] = match response.body() {
        Body::Empty => b"null",
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => panic!("unexpected body kind"),
    };
    (response.status().as_u16(), serde_json::from_slice(bytes).expect("response body is JSON"))
}
