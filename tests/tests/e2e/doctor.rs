//! `make doctor` against real parts: dynoxide, the 100ms emulator, and the
//! Stripe emulator delivering to the real stripe-webhook handler over
//! loopback. Doctor reads the configuration the function runs with and the
//! stored secrets, and its webhook check is a real round trip: a probe
//! session Stripe expires, signs and delivers.

use std::sync::Arc;
use std::time::Duration;

use infra::doctor::{Configuration, Report, Target};
use shared::clock::Clock;
use shared::webhook::{EventHandler, WebhookSecrets, WebhookService};
use tests::serve::ServedFunction;
use tests::{CheckoutEnv, STRIPE_KEY, WEBHOOK_SECRET};

/// The stack: stripe-webhook started with `function_secret`; the emulator
/// signs with the endpoint's secret, WEBHOOK_SECRET.
async fn stack(function_secret: &str) -> (CheckoutEnv, ServedFunction) {
    let env = CheckoutEnv::start().await;
    let config = shared::payments::StripeConfig { secret_key: STRIPE_KEY.into(), api_base: env.stripe.base_url(), timeout: Duration::from_secs(5) };
    let service = Arc::new(WebhookService {
        events: EventHandler { store: env.db.store_of("stripe-webhook"), payments: shared::payments::Payments::new(&config).unwrap(), rooms: tests::rooms_for(&env.db.store_of("stripe-webhook"), &env.hms.base_url(), Clock::System), livemode: false },
        secrets: WebhookSecrets::new(vec![function_secret.to_owned()]).unwrap(),
        connect_secrets: WebhookSecrets::new(vec![tests::CONNECT_WEBHOOK_SECRET.to_owned()]),
        clock: Clock::System,
    });
    let served = ServedFunction::start(move |req| {
        let service = service.clone();
        async move { shared::http::into_response(stripe_webhook::handle(&service, req).await) }
    })
    .await;
    env.stripe.set_webhook_url(Some(served.url()));
    connect_endpoint(&env, Some(format!("{}connect", served.url()))).await;
    (env, served)
}

/// Where the emulator sends Connect events (none: no Connect endpoint).
async fn connect_endpoint(env: &CheckoutEnv, url: Option<String>) {
    let set = reqwest::Client::new().post(format!("{}_emulator/connect_webhook", env.stripe.base_url())).json(&serde_json::json!({"url": url})).send().await.unwrap();
    assert!(set.status().is_success(), "{}", set.status());
}

/// stripe-webhook's environment as it runs, and the store's secrets.
fn configuration(env: &CheckoutEnv, function_secret: &str, stored_secret: &str) -> Configuration {
    let vars = |webhook_secret: &str| -> Vec<(String, String)> {
        [
            ("TABLE_NAME", "lessons".to_owned()),
            ("AWS_ENDPOINT_URL_DYNAMODB", env.db.dynamo.endpoint()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "local".into()),
            ("AWS_SECRET_ACCESS_KEY", "local".into()),
            ("STRIPE_SECRET_KEY", STRIPE_KEY.into()),
            ("STRIPE_API_BASE", env.stripe.base_url()),
            ("STRIPE_WEBHOOK_SECRET", webhook_secret.into()),
            ("STRIPE_CONNECT_WEBHOOK_SECRET", tests::CONNECT_WEBHOOK_SECRET.into()),
            ("HMS_APP_ACCESS_KEY", tests::HMS_ACCESS_KEY.into()),
            ("HMS_APP_SECRET", tests::HMS_SECRET.into()),
            ("HMS_TEMPLATE_ID", tests::HMS_TEMPLATE.into()),
            ("HMS_SUBDOMAIN", "lessons-test".into()),
            ("HMS_API_BASE", env.hms.base_url()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    };
    Configuration { functions: vec![("stripe-webhook".into(), vars(function_secret))], stored: vars(stored_secret) }
}

fn target(served: &ServedFunction) -> Target {
    Target { urls: vec![("stripe-webhook".into(), served.url())], origin: tests::FRONTEND.into(), iam: None, webhook_wait: Duration::from_secs(4) }
}

fn finding<'r>(report: &'r Report, check: &str) -> &'r infra::doctor::Finding {
    report.findings.iter().find(|f| f.check == check).unwrap_or_else(|| panic!("no {check} finding in {:#?}", report.findings))
}

async fn table_items(env: &CheckoutEnv) -> Vec<String> {
    let scan = env.db.store.client().scan().table_name(env.db.store.table()).send().await.unwrap();
    let mut keys: Vec<String> = scan.items().iter().map(|i| format!("{:?}/{:?}", i["pk"], i["sk"])).collect();
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_stack_passes_and_the_probe_changes_nothing_but_its_event_record() {
    let (env, served) = stack(WEBHOOK_SECRET).await;
    let before = table_items(&env).await;
    let report = infra::doctor::run(configuration(&env, WEBHOOK_SECRET, WEBHOOK_SECRET), &target(&served)).await;
    assert!(report.healthy(), "{:#?}", report.findings);
    assert!(finding(&report, "Stripe webhook round trip").detail.contains("accepted"));

    // The probe: Stripe's checkout.session.expired for a session of no checkout of ours.
    let events: serde_json::Value = reqwest::Client::new().get(format!("{}v1/events?type=checkout.session.expired", env.stripe.base_url())).bearer_auth(STRIPE_KEY).send().await.unwrap().json().await.unwrap();
    let probe = &events["data"][0];
    assert_eq!(probe["data"]["object"]["metadata"]["doctor_probe"], "true");
    assert!(probe["data"]["object"]["client_reference_id"].is_null());
    assert_eq!(probe["pending_webhooks"], 0, "delivered and answered 2xx");
    let delivered: serde_json::Value = reqwest::Client::new().get(format!("{}_emulator/deliveries", env.stripe.base_url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(delivered.as_array().unwrap().iter().filter(|d| d["event_id"] == probe["id"]).map(|d| d["status"].as_u64()).collect::<Vec<_>>(), [Some(200)]);
    let after = table_items(&env).await;
    let added: Vec<&String> = after.iter().filter(|k| !before.contains(k)).collect();
    assert_eq!(added.len(), 1, "only the processed-event record: {added:?}");
    assert!(env.db.store.event_seen(probe["id"].as_str().unwrap()).await.unwrap());
}

/// "Teachers are never paid": no Connect endpoint, so account.updated goes unheard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_connect_endpoint_is_named_with_its_fix() {
    let (env, served) = stack(WEBHOOK_SECRET).await;
    connect_endpoint(&env, None).await;
    let report = infra::doctor::run(configuration(&env, WEBHOOK_SECRET, WEBHOOK_SECRET), &target(&served)).await;
    assert!(!report.healthy());
    let connect = finding(&report, "Stripe Connect endpoint");
    assert!(!connect.ok && connect.detail.contains("/connect") && connect.detail.contains("make stripe-webhook"), "{connect:?}");
}

/// "Payment succeeds but no booking": the function's secret and the stored
/// one agree, but the endpoint at Stripe signs with another. Only the round
/// trip can see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_secret_other_than_the_endpoints_fails_the_round_trip() {
    let (env, served) = stack("whsec_not_the_endpoints_secret").await;
    let report = infra::doctor::run(configuration(&env, "whsec_not_the_endpoints_secret", "whsec_not_the_endpoints_secret"), &target(&served)).await;
    assert!(!report.healthy());
    let round_trip = finding(&report, "Stripe webhook round trip");
    assert!(!round_trip.ok && round_trip.detail.contains("Signing secret") && round_trip.detail.contains("differs"), "{round_trip:?}");
    assert!(finding(&report, "configuration: secrets as stored").ok);
}

/// A secret changed in the store but not deployed: the function runs with
/// another value than the stored one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_running_with_another_secret_than_the_stored_one_fails() {
    let (env, served) = stack("whsec_stale").await;
    let report = infra::doctor::run(configuration(&env, "whsec_stale", WEBHOOK_SECRET), &target(&served)).await;
    let stored = finding(&report, "configuration: secrets as stored");
    assert!(!stored.ok && stored.detail.contains("stripe-webhook runs with a STRIPE_WEBHOOK_SECRET other than the stored one"), "{stored:?}");
    assert!(!finding(&report, "Stripe webhook round trip").ok);
}

/// The configuration is read per function and names the one a missing key stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_key_is_named_with_the_function_it_stops() {
    let (env, served) = stack(WEBHOOK_SECRET).await;
    let mut config = configuration(&env, WEBHOOK_SECRET, WEBHOOK_SECRET);
    config.functions[0].1.retain(|(k, _)| k != "HMS_APP_SECRET");
    let report = infra::doctor::run(config, &target(&served)).await;
    let hms = finding(&report, "configuration: 100ms");
    assert!(!hms.ok && hms.detail.contains("stripe-webhook: HMS_APP_SECRET is not set"), "{hms:?}");
}

/// `make doctor ENV=…` reads each function's configuration from Lambda
/// (GetFunctionConfiguration) and the stored secret from Secrets Manager, both
/// SigV4-signed with the operator's credentials. A loopback stand-in for both
/// APIs checks each signature as AWS would and answers in their documented shapes.
#[tokio::test]
async fn a_deployments_configuration_is_read_from_lambda_and_secrets_manager_signed() {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use axum::response::IntoResponse;
    use serde_json::json;
    use tests::iam_url::{Principal, verify};

    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let aws = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let log = log.clone();
        async move {
            let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            let service = if target.starts_with("secretsmanager.") { "secretsmanager" } else { "lambda" };
            if let Err(why) = verify(&Principal::operator(), "eu-central-1", service, &method, &uri, &headers, &body) {
                return (StatusCode::FORBIDDEN, why).into_response();
            }
            log.lock().unwrap().push(format!("{service} {method} {}", uri.path()));
            if service == "secretsmanager" {
                let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(target, "secretsmanager.GetSecretValue");
                let stored = json!({"STRIPE_WEBHOOK_SECRET": "whsec_stored", "HMS_APP_SECRET": "stored-hms"}).to_string();
                return axum::Json(json!({"ARN": "arn:aws:secretsmanager:eu-central-1:111122223333:secret:lessons/dev-AbCdEf", "Name": request["SecretId"], "SecretString": stored, "VersionId": "v1"})).into_response();
            }
            let name = uri.path().trim_start_matches("/2015-03-31/functions/").trim_end_matches("/configuration").to_owned();
            axum::Json(json!({"FunctionName": name, "Runtime": "provided.al2023", "Environment": {"Variables": {"TABLE_NAME": "lessons-dev-Table", "STRIPE_WEBHOOK_SECRET": format!("whsec_of_{name}")}}})).into_response()
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().fallback(aws)).await.unwrap() });

    let caller = infra::operator::Caller::Iam { credentials: Principal::operator().credentials(), region: "eu-central-1".into() };
    let endpoints = infra::deployed::Endpoints { lambda: base.clone(), secrets_manager: base };
    let config = infra::deployed::configuration(&reqwest::Client::builder().no_proxy().build().unwrap(), &caller, &endpoints, "lessons-dev", "lessons/dev").await.unwrap();
    assert_eq!(config.functions.len(), infra::doctor::ALL_FUNCTIONS.len());
    let webhook = &config.functions.iter().find(|(name, _)| name == "stripe-webhook").unwrap().1;
    assert!(webhook.contains(&("STRIPE_WEBHOOK_SECRET".into(), "whsec_of_lessons-dev-stripe-webhook".into())));
    assert!(config.stored.contains(&("STRIPE_WEBHOOK_SECRET".into(), "whsec_stored".into())));
    let seen = seen.lock().unwrap().clone();
    assert!(seen.contains(&"lambda GET /2015-03-31/functions/lessons-dev-reconcile/configuration".to_owned()), "{seen:?}");
    assert!(seen.contains(&"secretsmanager POST /".to_owned()));

    // Another key: refused as AWS refuses it, and doctor says what it could not read.
    let mut stranger = Principal::operator();
    stranger.secret_key = "not/the/operators/secret/key/EXAMPLE000".into();
    let caller = infra::operator::Caller::Iam { credentials: stranger.credentials(), region: "eu-central-1".into() };
    let err = infra::deployed::configuration(&reqwest::Client::builder().no_proxy().build().unwrap(), &caller, &endpoints, "lessons-dev", "lessons/dev").await.err().unwrap();
    assert!(err.contains("lessons-dev-get-slots") && err.contains("403"), "{err}");
}

/// notify's settings against SES: an account that may send and MAIL_FROM at
/// a verified identity pass; an address at an unverified domain is named
/// with its fix.
#[tokio::test]
async fn doctor_checks_that_notify_sends_as_a_verified_ses_identity() {
    let ses = tests::mail::start_ses().await;
    let notify = |from: &str| Configuration {
        functions: vec![(
            "notify".into(),
            [("MAIL_FROM", from.to_owned()), ("MAIL_DOMAIN", "lessons.test".into()), ("APP_URL", tests::FRONTEND.into()), ("AWS_ENDPOINT_URL_SESV2", ses.endpoint())].into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        )],
        stored: Vec::new(),
    };
    let target = Target { urls: Vec::new(), origin: tests::FRONTEND.into(), iam: None, webhook_wait: Duration::from_secs(1) };
    let report = infra::doctor::run(notify(tests::mail::MAIL_FROM), &target).await;
    let ses_finding = finding(&report, "SES");
    assert!(ses_finding.ok && ses_finding.detail.contains("verified identity mail.lessons.test"), "{ses_finding:?}");
    assert!(finding(&report, "configuration: mail").ok);

    let report = infra::doctor::run(notify("lessons@elsewhere.test"), &target).await;
    let ses_finding = finding(&report, "SES");
    assert!(!ses_finding.ok && ses_finding.detail.contains("neither lessons@elsewhere.test nor elsewhere.test is an SES identity"), "{ses_finding:?}");
}
