//! The table exists once (infra/table.json); template.yaml must declare the same.

use std::collections::BTreeSet;

use infra::table::TableSpec;
use serde_norway::Value;

fn template() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn keys(schema: &Value) -> (String, String) {
    let mut hash = None;
    let mut range = None;
    for key in schema.as_sequence().unwrap() {
        let name = key["AttributeName"].as_str().unwrap().to_owned();
        match key["KeyType"].as_str().unwrap() {
            "HASH" => hash = Some(name),
            "RANGE" => range = Some(name),
            other => panic!("unknown key type {other}"),
        }
    }
    (hash.unwrap(), range.unwrap())
}

#[test]
fn template_table_matches_infra_table_json() {
    let spec = TableSpec::load().unwrap();
    let template = template();
    let table = &template["Resources"]["Table"];
    assert_eq!(table["Type"].as_str(), Some("AWS::DynamoDB::Table"));
    let props = &table["Properties"];

    assert_eq!(keys(&props["KeySchema"]), (spec.partition_key.clone(), spec.sort_key.clone()));
    assert_eq!(props["TimeToLiveSpecification"]["AttributeName"].as_str(), Some(spec.ttl_attribute.as_str()));
    assert_eq!(props["TimeToLiveSpecification"]["Enabled"].as_bool(), Some(true));
    assert_eq!(props["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));

    let declared: BTreeSet<(String, String)> = props["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| (a["AttributeName"].as_str().unwrap().to_owned(), a["AttributeType"].as_str().unwrap().to_owned()))
        .collect();
    let expected: BTreeSet<(String, String)> = spec.key_attributes().into_iter().map(|n| (n.to_owned(), "S".to_owned())).collect();
    assert_eq!(declared, expected);

    let indexes: Vec<(String, (String, String), String)> = props["GlobalSecondaryIndexes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|i| (i["IndexName"].as_str().unwrap().to_owned(), keys(&i["KeySchema"]), i["Projection"]["ProjectionType"].as_str().unwrap().to_owned()))
        .collect();
    let expected: Vec<(String, (String, String), String)> =
        spec.global_secondary_indexes.iter().map(|i| (i.name.clone(), (i.partition_key.clone(), i.sort_key.clone()), "ALL".to_owned())).collect();
    assert_eq!(indexes, expected);
}

#[test]
fn every_function_crate_is_deployed_by_the_template() {
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    let deployed: BTreeSet<String> = resources
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|r| r["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap().to_owned())
        .collect();
    let crates: BTreeSet<String> = std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(deployed, crates);
}

/// Functions with a Function URL are in the contract; the others run on a schedule.
#[test]
fn the_openapi_contract_documents_every_function_url_and_the_rest_are_scheduled() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.yaml");
    let doc: Value = serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let documented: BTreeSet<String> = doc["paths"].as_mapping().unwrap().keys().map(|k| k.as_str().unwrap().trim_matches('/').to_owned()).collect();
    let template = template();
    let functions: Vec<&Value> = template["Resources"].as_mapping().unwrap().values().filter(|r| r["Type"].as_str() == Some("AWS::Serverless::Function")).collect();
    let binary = |r: &Value| r["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap().to_owned();
    let with_url: BTreeSet<String> = functions.iter().filter(|r| r["Properties"]["FunctionUrlConfig"].is_mapping()).map(|r| binary(r)).collect();
    assert_eq!(documented, with_url);
    for function in functions.iter().filter(|r| !r["Properties"]["FunctionUrlConfig"].is_mapping()) {
        let events = function["Properties"]["Events"].as_mapping().unwrap_or_else(|| panic!("{} has neither a URL nor events", binary(function)));
        assert!(events.values().any(|e| e["Type"].as_str() == Some("ScheduleV2")), "{} is not scheduled", binary(function));
    }
}

/// Secrets reach the functions only as deploy-time Secrets Manager references:
/// no template parameter carries one, and every secret variable is resolved.
#[test]
fn secrets_are_never_template_parameters() {
    let raw = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml")).unwrap();
    let template = template();
    for (name, parameter) in template["Parameters"].as_mapping().unwrap() {
        assert!(parameter["NoEcho"].is_null(), "{name:?} is a secret parameter");
    }
    for secret in ["STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "HMS_APP_SECRET", "AUTH_JWT_SECRET"] {
        let resolved = format!("{{{{resolve:secretsmanager:${{SecretName}}:SecretString:{secret}}}}}");
        assert!(raw.contains(&resolved), "{secret} is not resolved from the secret");
        for line in raw.lines().filter(|l| l.trim_start().starts_with(&format!("{secret}:"))) {
            assert!(line.contains("resolve:secretsmanager"), "{line}");
        }
    }
}

/// Every function's policy names table actions, never a managed CRUD policy.
#[test]
fn every_function_has_its_own_least_privilege_policy() {
    let template = template();
    for (name, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let policies = resource["Properties"]["Policies"].as_sequence().unwrap_or_else(|| panic!("{name:?} has no policy"));
        for policy in policies {
            assert!(policy.is_mapping() && policy["Statement"].is_sequence(), "{name:?}: {policy:?}");
            for statement in policy["Statement"].as_sequence().unwrap() {
                for action in statement["Action"].as_sequence().unwrap() {
                    let action = action.as_str().unwrap();
                    assert!(action.starts_with("dynamodb:") && !action.contains('*'), "{name:?}: {action}");
                }
            }
        }
    }
}

/// The operator endpoints' model: an `AWS_IAM` Function URL and a function that
/// trusts the IAM principal Lambda verified (`OPERATOR_AUTH: iam`), never one
/// without the other (a token would never arrive; an open URL would be trusted).
#[test]
fn iam_function_urls_and_iam_operator_auth_go_together() {
    let template = template();
    let mut iam = BTreeSet::new();
    for resource in template["Resources"].as_mapping().unwrap().values().filter(|r| r["Type"].as_str() == Some("AWS::Serverless::Function")) {
        let binary = resource["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap().to_owned();
        let url_iam = resource["Properties"]["FunctionUrlConfig"]["AuthType"].as_str() == Some("AWS_IAM");
        let operator_iam = resource["Properties"]["Environment"]["Variables"]["OPERATOR_AUTH"].as_str() == Some("iam");
        assert_eq!(url_iam, operator_iam, "{binary}: AuthType AWS_IAM and OPERATOR_AUTH=iam must go together");
        if url_iam {
            iam.insert(binary);
        }
    }
    assert_eq!(iam, BTreeSet::from(["create-booking".to_owned(), "create-room".to_owned()]));
}
