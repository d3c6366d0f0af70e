//! How the admin CLI calls the operator endpoints (create-booking,
//! create-room). Deployed, their Function URLs are `AuthType: AWS_IAM`: each
//! request is signed with SigV4 (service `lambda`) with the operator's own AWS
//! credentials, and Lambda hands the function the verified principal. The
//! local stack has no IAM in front, so there an admin token is sent instead.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde_json::Value;

/// The service name Function URLs verify SigV4 signatures for.
pub const SERVICE: &str = "lambda";

pub enum Caller {
    /// The local stack: `Authorization: Bearer <admin token>`.
    Token(String),
    /// A deployed `AWS_IAM` Function URL.
    Iam { credentials: Credentials, region: String },
}

impl Caller {
    /// The operator's credentials from the standard chain (variables,
    /// profiles, SSO), and the region of the URL (`<id>.lambda-url.<region>.on.aws`)
    /// or else of the chain.
    pub async fn from_aws_chain(url: &str) -> Result<Self, String> {
        let http = shared::net::aws_http_client(std::time::Duration::from_secs(5)).map_err(|e| e.to_string())?;
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http).load().await;
        let provider = sdk.credentials_provider().ok_or("no AWS credentials found: run `aws configure` or `aws sso login`, or set AWS_PROFILE")?;
        let credentials = provider.provide_credentials().await.map_err(|e| format!("no usable AWS credentials ({e}): run `aws configure` or `aws sso login`, or set AWS_PROFILE"))?;
        let region = region_of(url).or_else(|| sdk.region().map(|r| r.to_string())).ok_or("no AWS region: set AWS_REGION")?;
        Ok(Self::Iam { credentials, region })
    }
}

/// `eu-central-1` of `https://abc.lambda-url.eu-central-1.on.aws/`.
pub fn region_of(url: &str) -> Option<String> {
    let host = reqwest::Url::parse(url).ok()?.host_str()?.to_owned();
    let rest = host.split_once(".lambda-url.")?.1;
    Some(rest.strip_suffix(".on.aws")?.to_owned())
}

/// The endpoint's answer: its status and JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// POSTs `body` to an operator endpoint as `caller`.
pub async fn call(http: &reqwest::Client, caller: &Caller, url: &str, body: &Value) -> Result<Answer, String> {
    let mut request = http::Request::builder().method("POST").uri(url).header("content-type", "application/json").body(body.to_string()).map_err(|e| format!("{url}: {e}"))?;
    match caller {
        Caller::Token(token) => {
            let value = format!("Bearer {token}").parse().map_err(|_| "the admin token is not a valid header value")?;
            request.headers_mut().insert(http::header::AUTHORIZATION, value);
        }
        Caller::Iam { credentials, region } => sign_request(&mut request, credentials, region, SERVICE, SystemTime::now())?,
    }
    let request = reqwest::Request::try_from(request).map_err(|e| format!("{url}: {e}"))?;
    let response = http.execute(request).await.map_err(|e| format!("{url} is unreachable: {e}"))?;
    let status = response.status().as_u16();
    let text = response.text().await.map_err(|e| format!("{url}: {e}"))?;
    Ok(Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) })
}

/// Signs `request` for `service` in place: `host`, `x-amz-date`,
/// `x-amz-security-token` (temporary credentials) and `authorization`. The
/// body is hashed into the signature, so it must not change afterwards.
pub fn sign_request(request: &mut http::Request<String>, credentials: &Credentials, region: &str, service: &str, time: SystemTime) -> Result<(), String> {
    // The host is signed; set it as it will be sent so signer and server agree.
    let host = request.uri().authority().map(|a| a.as_str().to_owned()).ok_or("the URL has no host")?;
    request.headers_mut().insert(http::header::HOST, host.parse().map_err(|_| "the URL's host is not a valid header")?);
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder().identity(&identity).region(region).name(service).time(time).settings(SigningSettings::default()).build().map_err(|e| e.to_string())?.into();
    let headers: Vec<(String, String)> = request.headers().iter().filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned()))).collect();
    let signable = SignableRequest::new(request.method().as_str(), request.uri().to_string(), headers.iter().map(|(k, v)| (k.as_str(), v.as_str())), SignableBody::Bytes(request.body().as_bytes()))
        .map_err(|e| format!("cannot sign the request: {e}"))?;
    let (instructions, _) = sign(signable, &params).map_err(|e| format!("cannot sign the request: {e}"))?.into_parts();
    instructions.apply_to_request_http1x(request);
    Ok(())
}

/// A signed call of an AWS API with a JSON answer (doctor reads the deployed
/// functions' configuration and the stored secret this way, without an SDK
/// crate per service).
pub async fn aws_json(http: &reqwest::Client, caller: &Caller, service: &str, request: http::Request<String>) -> Result<Value, String> {
    let Caller::Iam { credentials, region } = caller else { return Err("AWS calls need AWS credentials".into()) };
    let mut request = request;
    let url = request.uri().to_string();
    sign_request(&mut request, credentials, region, service, SystemTime::now())?;
    let request = reqwest::Request::try_from(request).map_err(|e| format!("{url}: {e}"))?;
    let response = http.execute(request).await.map_err(|e| format!("{url} is unreachable: {e}"))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| format!("{url}: {e}"))?;
    if !status.is_success() {
        return Err(format!("{service} answered {status}: {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("{service} answered something other than JSON: {e}"))
}

impl Caller {
    pub fn region(&self) -> Option<&str> {
        match self {
            Self::Iam { region, .. } => Some(region),
            Self::Token(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_comes_from_a_function_url() {
        assert_eq!(region_of("https://abcdefghij.lambda-url.eu-central-1.on.aws/").as_deref(), Some("eu-central-1"));
        assert_eq!(region_of("http://127.0.0.1:9000/lambda-url/create-room/"), None);
    }
}
