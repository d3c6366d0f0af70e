//! template.yaml against the code: the table (declared once in infra/table.json), the
//! functions, secrets, policies, timeouts, CORS and the parameter rules.

use std::collections::{BTreeMap, BTreeSet};

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
    // A path's first segment is its function (calendar-feed/{secret}.ics is calendar-feed's).
    let documented: BTreeSet<String> = doc["paths"].as_mapping().unwrap().keys().map(|k| k.as_str().unwrap().trim_matches('/').split('/').next().unwrap().to_owned()).collect();
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

/// Every function's policy names table actions, never a managed CRUD
/// policy; the only other grant is notify's sending, as one SES identity.
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
                    let sending = name.as_str() == Some("NotifyFunction") && ["ses:SendEmail", "ses:SendRawEmail"].contains(&action);
                    assert!((action.starts_with("dynamodb:") || sending) && !action.contains('*'), "{name:?}: {action}");
                    if sending {
                        let resource = format!("{:?}", statement["Resource"]);
                        assert!(resource.contains(":identity/${SesIdentity}") && !resource.contains('*'), "notify sends as its identity only: {resource}");
                    }
                }
            }
        }
    }
}

/// notify leases each claim from its run's start: the lease must outlast the
/// run, or a slow run's notice could be claimed again while it is sent.
#[test]
fn notifys_lease_outlasts_its_timeout() {
    let timeout = timeout_of(function(&template(), "NotifyFunction"));
    assert!(timeout < std::time::Duration::try_from(shared::notify::LEASE).unwrap(), "{timeout:?}");
}

fn function<'t>(template: &'t Value, resource: &str) -> &'t Value {
    let function = &template["Resources"][resource];
    assert_eq!(function["Type"].as_str(), Some("AWS::Serverless::Function"), "{resource}");
    function
}

fn timeout_of(function: &Value) -> std::time::Duration {
    std::time::Duration::from_secs(function["Properties"]["Timeout"].as_u64().expect("a Timeout in seconds"))
}

/// What one stripe-webhook delivery may spend at worst, from the budgets
/// the code enforces (the derivation is written next to the Timeout).
fn webhook_worst_case(template: &Value) -> std::time::Duration {
    use std::time::Duration;
    // Reads and writes outside the contention budget (checkout, ledger, event, bookings), with the SDK's own retries.
    const STORE_CALLS: Duration = Duration::from_secs(2);
    let hms_budget = match function(template, "StripeWebhookFunction")["Properties"]["Environment"]["Variables"]["HMS_TIMEOUT_MS"].as_str() {
        Some(ms) => Duration::from_millis(ms.parse().expect("HMS_TIMEOUT_MS in milliseconds")),
        None => Duration::from_millis(shared::rooms::hms::DEFAULT_TIMEOUT_MS),
    };
    // Rooms are made concurrently; each is two 100ms calls in a row (the room, then its codes).
    let rooms = 2 * hms_budget;
    // Refund work done inline is cut off at its budget; the rest stays owed to reconcile.
    shared::store::CONTENTION_BUDGET + shared::refunds::INLINE_REFUND_BUDGET + rooms + STORE_CALLS
}

/// A delivery cut off by Lambda is retried by Stripe, but what it did not
/// finish (a room, a refund) waits for that retry or the sweep: the timeout
/// must cover booking, the inline refunds and the rooms together.
#[test]
fn the_stripe_webhook_timeout_covers_its_worst_case() {
    let template = template();
    let worst = webhook_worst_case(&template);
    let timeout = timeout_of(function(&template, "StripeWebhookFunction"));
    assert!(timeout >= worst, "stripe-webhook's Timeout {timeout:?} is below its worst case {worst:?}");
    // create-booking asks Stripe for the session, then settles as the webhook does.
    let create_booking = timeout_of(function(&template, "CreateBookingFunction"));
    let needed = std::time::Duration::from_millis(shared::payments::MAX_TIMEOUT_MS) + worst;
    assert!(create_booking >= needed, "create-booking's Timeout {create_booking:?} is below {needed:?}");
    // The success-page poll: a Stripe lookup, then a settlement cut off at its budget, then a read.
    let initiate = timeout_of(function(&template, "InitiateCheckoutFunction"));
    let poll = std::time::Duration::from_millis(shared::payments::MAX_TIMEOUT_MS) + shared::checkout::POLL_SETTLE_BUDGET + std::time::Duration::from_secs(2);
    assert!(initiate >= poll, "initiate-checkout's Timeout {initiate:?} is below the poll's {poll:?}");
    // A cancel: the transaction under contention, the refund made inline, disabling the room, reads.
    let change = timeout_of(function(&template, "ChangeBookingFunction"));
    let cancel = shared::store::CONTENTION_BUDGET + shared::refunds::INLINE_REFUND_BUDGET + std::time::Duration::from_millis(shared::rooms::hms::DEFAULT_TIMEOUT_MS) + std::time::Duration::from_secs(2);
    assert!(change >= cancel, "change-booking's Timeout {change:?} is below a cancel's {cancel:?}");
}

/// Browsers hide every response header CORS does not expose; a 503's
/// `Retry-After` must reach the frontend's code.
#[test]
fn every_cors_configuration_exposes_retry_after() {
    let template = template();
    let mut with_cors = 0;
    for (name, resource) in template["Resources"].as_mapping().unwrap() {
        let cors = &resource["Properties"]["FunctionUrlConfig"]["Cors"];
        if !cors.is_mapping() {
            continue;
        }
        with_cors += 1;
        let exposed: Vec<String> = cors["ExposeHeaders"].as_sequence().map(|s| s.iter().filter_map(Value::as_str).map(str::to_ascii_lowercase).collect()).unwrap_or_default();
        assert!(exposed.iter().any(|h| h == "retry-after"), "{name:?} does not expose Retry-After: {exposed:?}");
    }
    assert!(with_cors >= 6, "get-slots, get-teachers, initiate-checkout, join-lesson, change-booking and teacher-profile answer browsers");
}

/// The value of a Rules expression: a string, or the truth of a condition.
#[derive(Debug, PartialEq)]
enum Rule {
    Text(String),
    Truth(bool),
}

/// Evaluates a Rules expression for the given parameter values (the
/// others at their defaults), in both the `!Tag` and `Fn::` spellings, as
/// CloudFormation does before it creates anything.
fn evaluate(expr: &Value, parameters: &BTreeMap<String, String>) -> Rule {
    let (function, argument) = match expr {
        Value::String(text) => return Rule::Text(text.clone()),
        Value::Tagged(tagged) => (tagged.tag.to_string().trim_start_matches('!').to_owned(), &tagged.value),
        Value::Mapping(map) if map.len() == 1 => {
            let (key, argument) = map.iter().next().unwrap();
            (key.as_str().unwrap().trim_start_matches("Fn::").to_owned(), argument)
        }
        other => panic!("not a Rules expression: {other:?}"),
    };
    let truth = |e: &Value| match evaluate(e, parameters) {
        Rule::Truth(t) => t,
        other => panic!("{other:?} is not a condition"),
    };
    let list = || argument.as_sequence().unwrap_or_else(|| panic!("{function} takes a list"));
    match function.as_str() {
        "Ref" => {
            let name = argument.as_str().unwrap();
            Rule::Text(parameters.get(name).cloned().unwrap_or_else(|| panic!("no parameter {name}")))
        }
        "Equals" => Rule::Truth(evaluate(&list()[0], parameters) == evaluate(&list()[1], parameters)),
        "Not" => Rule::Truth(!truth(&list()[0])),
        "And" => Rule::Truth(list().iter().all(truth)),
        "Or" => Rule::Truth(list().iter().any(truth)),
        other => panic!("{other} is not evaluated here"),
    }
}

/// The descriptions of the Rules assertions a deployment with these
/// parameters fails: empty when CloudFormation would go ahead.
fn refusals(template: &Value, given: &[(&str, &str)]) -> Vec<String> {
    let declared = template["Parameters"].as_mapping().unwrap();
    let mut parameters: BTreeMap<String, String> = declared
        .iter()
        .filter_map(|(name, p)| Some((name.as_str()?.to_owned(), p["Default"].as_str().map(str::to_owned).or_else(|| p["Default"].as_u64().map(|n| n.to_string()))?)))
        .collect();
    for (name, value) in given {
        assert!(declared.contains_key(*name), "the template has no parameter {name}");
        parameters.insert((*name).to_owned(), (*value).to_owned());
    }
    let mut refused = Vec::new();
    for rule in template["Rules"].as_mapping().unwrap().values() {
        if rule["RuleCondition"].is_null() || evaluate(&rule["RuleCondition"], &parameters) == Rule::Truth(true) {
            for assertion in rule["Assertions"].as_sequence().unwrap() {
                if evaluate(&assertion["Assert"], &parameters) != Rule::Truth(true) {
                    refused.push(assertion["AssertDescription"].as_str().unwrap().to_owned());
                }
            }
        }
    }
    refused
}

/// A production stack checks `iss` and `aud` whatever signs the tokens: one
/// HS256 secret (a Supabase project's) signs every token of the project, not
/// only the ones meant for this app.
#[test]
fn production_requires_issuer_and_audience_in_hs256_mode_too() {
    let template = template();
    let (issuer, audience) = (("AuthIssuer", "https://auth.example.com/auth/v1"), ("AuthAudience", "authenticated"));
    let jwks = ("AuthJwksUrl", "https://auth.example.com/auth/v1/.well-known/jwks.json");
    for stage in ["prod", "dev"] {
        let stage = ("Stage", stage);
        assert!(!refusals(&template, &[stage, jwks]).is_empty(), "{stage:?}: JWKS needs both");
        assert_eq!(refusals(&template, &[stage, jwks, issuer, audience]), Vec::<String>::new(), "{stage:?}");
        assert_eq!(refusals(&template, &[stage, issuer, audience]), Vec::<String>::new(), "{stage:?}: HS256 with both");
    }
    for missing in [vec![], vec![issuer], vec![audience]] {
        let given: Vec<(&str, &str)> = [("Stage", "prod")].into_iter().chain(missing.iter().copied()).collect();
        assert!(!refusals(&template, &given).is_empty(), "production, HS256, given only {missing:?}");
    }
    assert!(!refusals(&template, &[]).is_empty(), "a stack that names no Stage is production");
    assert_eq!(refusals(&template, &[("Stage", "dev")]), Vec::<String>::new(), "a dev stack may use HS256 test tokens without iss and aud");
}

/// Every metric the functions write has an alarm in the metric's namespace
/// that goes to the operators' topic; an alarm on a name nothing writes
/// would never fire.
#[test]
fn every_metric_the_functions_write_has_an_alarm_to_the_operators() {
    use shared::metrics::{Metric, NAMESPACE};
    let template = template();
    let alarms: Vec<&Value> = template["Resources"].as_mapping().unwrap().values().filter(|r| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm")).collect();
    for metric in Metric::ALL {
        let alarm = alarms.iter().find(|a| a["Properties"]["MetricName"].as_str() == Some(metric.name())).unwrap_or_else(|| panic!("no alarm on {}", metric.name()));
        assert_eq!(alarm["Properties"]["Namespace"].as_str(), Some(NAMESPACE));
        let action = match &alarm["Properties"]["AlarmActions"][0] {
            Value::Tagged(tagged) if tagged.tag.to_string() == "!Ref" => tagged.value.as_str(),
            _ => None,
        };
        assert_eq!(action, Some("AlarmTopic"), "{alarm:?}");
    }
    assert_eq!(alarms.len(), Metric::ALL.len(), "an alarm on a metric nothing writes");
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
