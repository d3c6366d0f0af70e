//! Who may call the operator endpoints (create-booking, create-room).
//!
//! Deployed, their Function URLs use `AuthType: AWS_IAM`: Lambda checks the
//! caller's SigV4 signature and `lambda:InvokeFunctionUrl` permission before
//! the function runs, and the signature occupies `Authorization`. So there the
//! function trusts the IAM principal Lambda puts in
//! `requestContext.authorizer.iam` and reads no token. The local stack has no
//! IAM in front, so there an admin Bearer token stands in for it. Which of the
//! two is configuration (`OPERATOR_AUTH`, set by the template), never the
//! request: a request cannot choose the weaker check.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use super::{AuthConfig, Authenticator, JwksError, require_admin};
use crate::config::Env;
use crate::error::ApiError;

const MODE_VAR: &str = "OPERATOR_AUTH";

#[derive(Debug, Clone)]
pub enum OperatorAuthConfig {
    /// Behind a Function URL with `AuthType: AWS_IAM`.
    Iam,
    /// An admin Bearer token (the local stack).
    Token(AuthConfig),
}

impl OperatorAuthConfig {
    pub fn read(env: &mut Env) -> Option<Self> {
        let iam = env.with_default(MODE_VAR, "token", |s| match s {
            "iam" => Ok(true),
            "token" => Ok(false),
            _ => Err("must be `iam` (deployed behind an AWS_IAM Function URL) or `token` (an admin Bearer token, the local stack)".into()),
        })?;
        if iam { Some(Self::Iam) } else { AuthConfig::read(env).map(Self::Token) }
    }
}

pub enum OperatorAuth {
    Iam,
    Token(Authenticator),
}

impl From<Authenticator> for OperatorAuth {
    fn from(auth: Authenticator) -> Self {
        Self::Token(auth)
    }
}

/// The operator a request came from, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator(pub String);

impl OperatorAuth {
    pub async fn new(config: OperatorAuthConfig, http: reqwest::Client) -> Result<Self, JwksError> {
        match config {
            OperatorAuthConfig::Iam => Ok(Self::Iam),
            OperatorAuthConfig::Token(config) => Ok(Self::Token(Authenticator::new(config, http).await?)),
        }
    }

    pub async fn authorize(&self, req: &Request) -> Result<Operator, ApiError> {
        let operator = match self {
            Self::Iam => iam_principal(req)?,
            Self::Token(auth) => {
                let who = auth.authenticate(req.headers()).await?;
                require_admin(&who)?;
                Operator(format!("token:{}", who.user_id))
            }
        };
        tracing::info!(operator = %operator.0, "operator request");
        Ok(operator)
    }
}

/// Lambda sets `authorizer.iam` only after it verified the signature; a
/// request without it did not pass IAM (the URL is not `AWS_IAM`), so it is
/// refused rather than trusted.
fn iam_principal(req: &Request) -> Result<Operator, ApiError> {
    let arn = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.authorizer.as_ref().and_then(|a| a.iam.as_ref()).and_then(|iam| iam.user_arn.clone()),
        _ => None,
    };
    match arn.filter(|arn| arn.starts_with("arn:")) {
        Some(arn) => Ok(Operator(arn)),
        None => Err(ApiError::Unauthorized("this endpoint takes only SigV4-signed requests through its AWS_IAM Function URL (admin create-booking / create-room sign them)")),
    }
}
