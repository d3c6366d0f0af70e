//! IAM on the local stack. Every DynamoDB request reaches dynoxide through
//! this checker, which evaluates it against the calling function's policy as
//! written in `template.yaml` and answers a request the policy does not allow
//! exactly as DynamoDB does (`400 AccessDeniedException`), so a missing grant
//! fails here as it would in AWS instead of after a deploy.
//!
//! Who calls is told by the access key id, as in AWS, where each function
//! signs with its own role's keys: a function signs as `fn-<crate name>`
//! (its `[package.metadata.lambda.env]` sets that for `cargo lambda watch`,
//! the tests' harness for the handlers it calls). The operator's key
//! (`local`: `make table`, `admin`, doctor, a test's own reads and seeding)
//! is the operator's own credentials and is not checked. Any other key is
//! refused as DynamoDB refuses unknown keys.

pub mod capacity;
pub mod policy;
pub mod request;
pub mod usage;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use capacity::Units;
use policy::{Access, Policies};
use request::KeyNames;
use usage::Usage;

/// The access key id the operator's tools sign with locally (`.env.local`).
pub const OPERATOR_KEY: &str = "local";

/// The access key id function `name` signs with locally.
pub fn function_key(name: &str) -> String {
    format!("fn-{name}")
}

/// Who signed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Operator,
    Function(String),
    Unknown(String),
}

impl Caller {
    /// From the SigV4 `Authorization` header's `Credential=<key id>/…`.
    pub fn of(headers: &HeaderMap) -> Self {
        let key = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split("Credential=").nth(1))
            .and_then(|v| v.split('/').next())
            .unwrap_or_default();
        match key.strip_prefix("fn-") {
            _ if key == OPERATOR_KEY => Self::Operator,
            Some(name) if !name.is_empty() => Self::Function(name.to_owned()),
            _ => Self::Unknown(key.to_owned()),
        }
    }
}

/// The checker in front of one dynoxide server.
pub struct Checker {
    policies: Policies,
    keys: KeyNames,
    usage: Usage,
    upstream: String,
    http: reqwest::Client,
    /// What each caller consumed, as DynamoDB bills it (dynoxide's own
    /// computation, per DynamoDB's rules for items, indexes and transactions).
    consumed: std::sync::Mutex<BTreeMap<String, Units>>,
}

impl Checker {
    /// Reads the real `template.yaml` (beside the workspace's `Cargo.toml`).
    pub fn new(upstream: String, table: &str) -> Result<Self, String> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
        let yaml = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let policies = Policies::from_template(&yaml, table)?;
        let spec = infra::table::TableSpec::load().map_err(|e| e.to_string())?;
        let http = reqwest::Client::builder().no_proxy().build().map_err(|e| e.to_string())?;
        Ok(Self { policies, keys: KeyNames::of(&spec), usage: Usage::from_env(), upstream, http, consumed: std::sync::Mutex::default() })
    }

    /// Capacity consumed so far, by caller (`operator`, or a function's name).
    pub fn consumed(&self) -> BTreeMap<String, Units> {
        self.consumed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn add(&self, caller: &Caller, units: Units) {
        let name = match caller {
            Caller::Function(name) => name.clone(),
            Caller::Operator => "operator".to_owned(),
            Caller::Unknown(_) => return,
        };
        *self.consumed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(name).or_default() += units;
    }

    /// The denial DynamoDB would answer `caller`'s request with, if any.
    fn refusal(&self, caller: &Caller, operation: &str, body: &Value) -> Option<Response> {
        let name = match caller {
            Caller::Operator => return None,
            Caller::Unknown(key) => {
                tracing::warn!(key, operation, "DynamoDB request signed with a key that is neither a function's nor the operator's");
                return Some(error(StatusCode::BAD_REQUEST, "UnrecognizedClientException", "The security token included in the request is invalid."));
            }
            Caller::Function(name) => name,
        };
        let accesses = request::accesses(operation, body, &self.keys);
        // Fail closed: a request whose keys the checker cannot read would pass
        // `ForAllValues` with nothing to test, where AWS tests the real keys.
        if capacity::reports(operation) && (accesses.is_empty() || accesses.iter().any(|a| a.action == "dynamodb:Query" && a.leading_keys.is_empty())) {
            tracing::warn!(function = %name, operation, "the IAM checker could not read this request's partition keys");
            return Some(error(StatusCode::BAD_REQUEST, "AccessDeniedException", &format!("the local IAM checker could not read the partition keys of this {operation} of {name}: it refuses what it cannot check")));
        }
        let verdicts: Vec<(&Access, Option<String>)> = accesses.iter().map(|access| (access, self.policies.denies(name, access))).collect();
        self.usage.record(name, verdicts.iter().map(|(access, why)| (*access, why.is_some())));
        let (access, why) = verdicts.into_iter().find_map(|(access, why)| why.map(|why| (access, why)))?;
        let message = denial_message(name, access, &why);
        tracing::warn!(function = %name, action = %access.action, resource = %access.resource, keys = ?access.leading_keys, "{message}");
        Some(error(StatusCode::BAD_REQUEST, "AccessDeniedException", &message))
    }
}

fn denial_message(function: &str, access: &Access, why: &str) -> String {
    format!(
        "User: arn:aws:sts::{}:assumed-role/{function}-role/{function} is not authorized to perform: {} on resource: {} {why}",
        policy::ACCOUNT,
        access.action,
        access.resource
    )
}

/// A DynamoDB error answer (the JSON 1.0 protocol's shape).
fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"), "Message": message}).to_string();
    (status, [("content-type", "application/x-amz-json-1.0"), ("x-amzn-requestid", "local-iam-checker")], body).into_response()
}

/// The axum handler: check, then forward to dynoxide as it came.
pub async fn handle(State(checker): State<Arc<Checker>>, headers: HeaderMap, body: Bytes) -> Response {
    let operation = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).and_then(|t| t.split('.').nth(1)).unwrap_or_default().to_owned();
    if operation.is_empty() {
        return forward(&checker, headers, body).await;
    }
    let caller = Caller::of(&headers);
    let mut parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(refusal) = checker.refusal(&caller, &operation, &parsed) {
        return refusal;
    }
    // Asked for its consumed capacity (and the answer's copy dropped again
    // unless the caller asked), so every call is counted as it is billed.
    let asked = parsed.get("ReturnConsumedCapacity").is_some();
    let body = match parsed.as_object_mut().filter(|_| !asked && capacity::reports(&operation)) {
        Some(object) => {
            object.insert("ReturnConsumedCapacity".into(), Value::from("INDEXES"));
            Bytes::from(parsed.to_string())
        }
        None => body,
    };
    let response = forward(&checker, headers, body).await;
    let (parts, bytes) = response.into_parts();
    let bytes = axum::body::to_bytes(bytes, 64 * 1024 * 1024).await.unwrap_or_default();
    let mut answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    checker.add(&caller, capacity::of(&operation, &answer["ConsumedCapacity"]));
    let stripped = !asked && answer.as_object_mut().is_some_and(|object| object.remove("ConsumedCapacity").is_some());
    let bytes = if stripped { Bytes::from(answer.to_string()) } else { bytes };
    let mut response = Response::from_parts(parts, axum::body::Body::from(bytes));
    response.headers_mut().remove("content-length");
    response.headers_mut().remove("x-amz-crc32");
    response
}

async fn forward(checker: &Checker, headers: HeaderMap, body: Bytes) -> Response {
    let mut request = checker.http.post(&checker.upstream).body(body);
    for (name, value) in headers.iter().filter(|(n, _)| *n != "host" && *n != "content-length") {
        request = request.header(name, value);
    }
    match request.send().await {
        Ok(answer) => {
            let status = answer.status();
            let headers = answer.headers().clone();
            let bytes = answer.bytes().await.unwrap_or_default();
            let mut response = (status, bytes).into_response();
            for (name, value) in headers.iter().filter(|(n, _)| *n != "content-length" && *n != "transfer-encoding") {
                response.headers_mut().insert(name, value.clone());
            }
            response
        }
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", &format!("the local DynamoDB did not answer: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(key: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = format!("AWS4-HMAC-SHA256 Credential={key}/20261206/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00");
        headers.insert("authorization", value.parse().unwrap());
        headers
    }

    #[test]
    fn what_the_checker_cannot_read_it_refuses() {
        let checker = Checker::new("http://127.0.0.1:1".into(), "lessons").unwrap();
        let cart = Caller::Function("cart".into());
        let query = |condition: &str| json!({"TableName": "lessons", "KeyConditionExpression": condition, "ExpressionAttributeNames": {"#p": "pk"}, "ExpressionAttributeValues": {":p": {"S": "STUDENT#s"}}});
        assert!(checker.refusal(&cart, "Query", &query("#p = :p")).is_none(), "its own partition");
        assert!(checker.refusal(&cart, "Query", &query("#q = :p")).is_some(), "no partition key found: refused, not waved through");
        assert!(checker.refusal(&cart, "BatchWriteItem", &Value::Null).is_some(), "a body it cannot parse");
        assert!(checker.refusal(&Caller::Operator, "BatchWriteItem", &Value::Null).is_none(), "the operator is not checked");
    }

    #[test]
    fn the_caller_is_the_signing_key() {
        assert_eq!(Caller::of(&signed("fn-cart")), Caller::Function("cart".into()));
        assert_eq!(Caller::of(&signed("local")), Caller::Operator);
        assert_eq!(Caller::of(&signed("fn-")), Caller::Unknown("fn-".into()));
        assert_eq!(Caller::of(&HeaderMap::new()), Caller::Unknown(String::new()));
    }
}

#[cfg(test)]
mod identity {
    /// A function without it would sign as the operator under `make dev` and escape its policy.
    #[test]
    fn every_function_crate_signs_as_itself_under_cargo_lambda_watch() {
        let functions = concat!(env!("CARGO_MANIFEST_DIR"), "/../../functions");
        for entry in std::fs::read_dir(functions).unwrap() {
            let dir = entry.unwrap().path();
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            let env = manifest.split("[package.metadata.lambda.env]").nth(1).and_then(|rest| rest.split("\n[").next()).unwrap_or_default();
            let expected = format!("AWS_ACCESS_KEY_ID = \"{}\"", super::function_key(&name));
            assert!(env.lines().any(|l| l.trim() == expected), "functions/{name}/Cargo.toml needs [package.metadata.lambda.env] {expected}");
        }
    }
}
