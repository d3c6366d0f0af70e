//! What `make doctor ENV=…` reads of a deployment: each function's
//! configuration as Lambda runs it (GetFunctionConfiguration) and the stored
//! secret (Secrets Manager), called SigV4-signed with the operator's credentials.

use serde_json::{Value, json};

use crate::doctor::{ALL_FUNCTIONS, Configuration};
use crate::operator::{Caller, aws_json};

/// Where the two AWS APIs answer.
pub struct Endpoints {
    pub lambda: String,
    pub secrets_manager: String,
}

impl Endpoints {
    pub fn of_region(region: &str) -> Self {
        Self { lambda: format!("https://lambda.{region}.amazonaws.com/"), secrets_manager: format!("https://secretsmanager.{region}.amazonaws.com/") }
    }
}

/// Every function's environment (`<stack>-<function>`, as template.yaml names them) and the secret `secret_name`.
pub async fn configuration(http: &reqwest::Client, caller: &Caller, endpoints: &Endpoints, stack: &str, secret_name: &str) -> Result<Configuration, String> {
    let mut functions = Vec::new();
    for function in ALL_FUNCTIONS {
        let name = format!("{stack}-{function}");
        let request = http::Request::get(format!("{}2015-03-31/functions/{name}/configuration", endpoints.lambda)).body(String::new()).map_err(|e| e.to_string())?;
        let config = aws_json(http, caller, "lambda", request).await.map_err(|e| format!("reading the configuration of {name}: {e}"))?;
        functions.push((function.to_owned(), variables(&config["Environment"]["Variables"])));
    }
    let request = http::Request::post(&endpoints.secrets_manager)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "secretsmanager.GetSecretValue")
        .body(json!({"SecretId": secret_name}).to_string())
        .map_err(|e| e.to_string())?;
    let secret = aws_json(http, caller, "secretsmanager", request).await.map_err(|e| format!("reading the secret {secret_name}: {e}"))?;
    let stored: Value = secret["SecretString"].as_str().and_then(|s| serde_json::from_str(s).ok()).ok_or_else(|| format!("the secret {secret_name} is not a JSON object"))?;
    Ok(Configuration { functions, stored: variables(&stored) })
}

fn variables(object: &Value) -> Vec<(String, String)> {
    object.as_object().into_iter().flatten().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect()
}
