//! Connect as a whole: the rules of transfers, reversals and account links
//! on the emulator's state, the routing of Connect events through a running
//! emulator, and every Connect object read back with async-stripe's own
//! types (what the project's client parses).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::account_links::{self, LINK_LIFETIME_SECS, LinkVisit, Submission};
use super::error::ApiError;
use super::events::{self, Origin};
use super::sessions::{self, Funds};
use super::state::{Emulator, EventFilter, IdempotencyScope};
use super::webhooks::Delivery;
use super::{EmulatorConfig, StripeEmulator, form, transfers};

const NOW: i64 = 1_750_000_000;
const KEY: &str = "sk_test_connect";
const TEACHER: &str = "controller[fees][payer]=application&controller[losses][payments]=application\
    &controller[requirement_collection]=stripe&controller[stripe_dashboard][type]=express\
    &capabilities[transfers][requested]=true&email=teacher@example.com";

fn emulator() -> (Emulator, mpsc::UnboundedReceiver<Delivery>) {
    let (queue, deliveries) = mpsc::unbounded_channel();
    let config = EmulatorConfig { secret_key: KEY.into(), platform_country: "DE".into(), ..EmulatorConfig::default() };
    (Emulator::new(config, "http://127.0.0.1:1/".into(), reqwest::Client::new(), queue), deliveries)
}

fn create_account(emulator: &Emulator, extra: &str) -> Value {
    let params = form::parse(format!("{TEACHER}{extra}").as_bytes()).unwrap();
    emulator.idempotent(None, |emulator, inner| emulator.create_account(inner, &params, NOW)).unwrap().0
}

fn onboarded_account(emulator: &Emulator) -> String {
    let id = create_account(emulator, "")["id"].as_str().unwrap().to_owned();
    emulator.set_account_restricted(&id, false, NOW).unwrap();
    id
}

/// The charge of a session paid by card for `amount` euro cents.
fn paid_charge(emulator: &Emulator, amount: i64) -> String {
    let body = format!(
        "mode=payment&success_url=https://ex.com&line_items[0][price_data][currency]=eur&line_items[0][price_data][unit_amount]={amount}\
         &line_items[0][price_data][product_data][name]=Lesson&line_items[0][quantity]=1"
    );
    let params = form::parse(body.as_bytes()).unwrap();
    let (session, _) = emulator.idempotent(None, |emulator, inner| Ok(emulator.insert_session(inner, sessions::parse_create(&params, NOW)?, NOW))).unwrap();
    let session = emulator.complete_session(session["id"].as_str().unwrap(), NOW + 1, Funds::Settled).unwrap();
    let intent = emulator.payment_intent(session.payment_intent.as_deref().unwrap()).unwrap();
    intent["latest_charge"].as_str().unwrap().to_owned()
}

fn transfer(emulator: &Emulator, key: Option<&str>, body: &str) -> Result<(Value, bool), ApiError> {
    let params = form::parse(body.as_bytes()).unwrap();
    let scope = key.map(|key| IdempotencyScope { api_key: KEY, key, endpoint: "POST /v1/transfers".into(), params: form::params_to_json(&params) });
    emulator.idempotent(scope, |emulator, inner| emulator.create_transfer(inner, transfers::parse(&params)?, NOW, &Origin::default()))
}

fn reverse(emulator: &Emulator, id: &str, body: &str) -> Result<Value, ApiError> {
    let params = form::parse(body.as_bytes()).unwrap();
    emulator.idempotent(None, |emulator, inner| emulator.reverse_transfer(inner, id, transfers::parse_reversal(&params)?, NOW, &Origin::default())).map(|(json, _)| json)
}

fn available(emulator: &Emulator, account: Option<&str>) -> i64 {
    emulator.balance_json(account).unwrap()["available"][0]["amount"].as_i64().unwrap()
}

fn refusal(err: ApiError) -> (Option<&'static str>, String) {
    match err {
        ApiError::InvalidRequest { code, message, .. } => (code, message),
        other => panic!("not a refusal: {other:?}"),
    }
}

#[test]
fn an_idempotent_transfer_is_made_once() {
    let (emulator, _deliveries) = emulator();
    let teacher = onboarded_account(&emulator);
    emulator.set_platform_balance("eur", 5000);
    let body = format!("amount=2000&currency=eur&destination={teacher}&transfer_group=co_1");
    let (first, replayed) = transfer(&emulator, Some("transfer-l1"), &body).unwrap();
    assert!(!replayed);
    let (again, replayed) = transfer(&emulator, Some("transfer-l1"), &body).unwrap();
    assert!(replayed);
    assert_eq!(again, first);
    assert!(matches!(transfer(&emulator, Some("transfer-l1"), &body.replace("2000", "2500")), Err(ApiError::Idempotency(_))));
    assert_eq!((available(&emulator, Some(&teacher)), available(&emulator, None)), (2000, 3000));
    assert_eq!(emulator.transfers_newest_first(Some("co_1"), None).len(), 1);
    assert_eq!(emulator.events_newest_first(Some(events::TRANSFER_CREATED)).len(), 1);
}

#[test]
fn transfers_of_one_charge_cannot_add_up_past_it() {
    let (emulator, _deliveries) = emulator();
    let teacher = onboarded_account(&emulator);
    let charge = paid_charge(&emulator, 3000);
    let body = |amount: i64| format!("amount={amount}&currency=eur&destination={teacher}&source_transaction={charge}");
    transfer(&emulator, None, &body(2000)).unwrap();
    let (code, message) = refusal(transfer(&emulator, None, &body(1001)).unwrap_err());
    assert_eq!(code, None);
    assert_eq!(
        message,
        "Transfers using this transaction as a source must not exceed the source amount of €30.00. (There is already a transfer using this source, amounting to €20.00.)"
    );
    transfer(&emulator, None, &body(1000)).unwrap();
    assert_eq!(available(&emulator, Some(&teacher)), 3000, "a source charge funds the transfer, not the platform's balance");
    assert_eq!(available(&emulator, None), 0);
    // A refund of the charge does not raise what may still be transferred,
    // nor lower what was: the cap stays the charge's amount.
    assert!(transfer(&emulator, None, &body(1)).is_err());
}

#[test]
fn a_transfer_needs_an_active_destination_a_succeeded_charge_or_the_balance() {
    let (emulator, _deliveries) = emulator();
    let charge = paid_charge(&emulator, 3000);
    let pending = create_account(&emulator, "")["id"].as_str().unwrap().to_owned();
    let (code, message) = refusal(transfer(&emulator, None, &format!("amount=100&currency=eur&destination={pending}&source_transaction={charge}")).unwrap_err());
    assert_eq!(code, Some("insufficient_capabilities_for_transfer"));
    assert!(message.starts_with("Your destination account needs to have at least one of the following capabilities enabled: transfers"));
    let (code, message) = refusal(transfer(&emulator, None, "amount=100&currency=eur&destination=acct_nope").unwrap_err());
    assert_eq!((code, message.as_str()), (Some("resource_missing"), "No such destination: 'acct_nope'"));
    let teacher = onboarded_account(&emulator);
    assert_eq!(refusal(transfer(&emulator, None, &format!("amount=100&currency=eur&destination={teacher}")).unwrap_err()).0, Some("balance_insufficient"));
    assert_eq!(refusal(transfer(&emulator, None, &format!("amount=100&currency=eur&destination={teacher}&source_transaction=ch_nope")).unwrap_err()).0, Some("resource_missing"));
    assert!(transfer(&emulator, None, &format!("amount=100&currency=usd&destination={teacher}&source_transaction={charge}")).is_err(), "another currency than the charge's");
    emulator.set_account_restricted(&teacher, true, NOW);
    assert_eq!(refusal(transfer(&emulator, None, &format!("amount=100&currency=eur&destination={teacher}&source_transaction={charge}")).unwrap_err()).0, Some("insufficient_capabilities_for_transfer"));
}

#[test]
fn a_reversal_needs_the_connected_balance_and_an_unreversed_amount() {
    let (emulator, _deliveries) = emulator();
    let teacher = onboarded_account(&emulator);
    let charge = paid_charge(&emulator, 3000);
    let (paid_out, _) = transfer(&emulator, None, &format!("amount=2000&currency=eur&destination={teacher}&source_transaction={charge}")).unwrap();
    emulator.pay_out(&teacher, false, NOW).unwrap();
    assert_eq!(available(&emulator, Some(&teacher)), 0);
    let paid_out_id = paid_out["id"].as_str().unwrap();
    let (code, _) = refusal(reverse(&emulator, paid_out_id, "amount=500").unwrap_err());
    assert_eq!(code, Some("balance_insufficient"));
    assert_eq!(emulator.transfer(paid_out_id).unwrap()["amount_reversed"], 0, "a refused reversal changes nothing");

    let (kept, _) = transfer(&emulator, None, &format!("amount=1000&currency=eur&destination={teacher}&source_transaction={charge}")).unwrap();
    let kept_id = kept["id"].as_str().unwrap();
    let reversal = reverse(&emulator, kept_id, "amount=400&metadata[reason]=refund").unwrap();
    assert_eq!((reversal["object"].as_str(), reversal["amount"].as_i64(), reversal["transfer"].as_str()), (Some("transfer_reversal"), Some(400), Some(kept_id)));
    let after = emulator.transfer(kept_id).unwrap();
    assert_eq!((after["amount_reversed"].as_i64(), after["reversed"].as_bool(), after["reversals"]["total_count"].as_i64()), (Some(400), Some(false), Some(1)));
    assert!(reverse(&emulator, kept_id, "amount=601").is_err(), "more than is unreversed");
    assert_eq!(reverse(&emulator, kept_id, "").unwrap()["amount"], 600, "no amount reverses the rest");
    assert_eq!(emulator.transfer(kept_id).unwrap()["reversed"], true);
    assert!(reverse(&emulator, kept_id, "amount=1").is_err(), "fully reversed");
    assert_eq!((available(&emulator, Some(&teacher)), available(&emulator, None)), (0, 1000), "reversals go back to the platform");
    assert_eq!(emulator.events_newest_first(Some(events::TRANSFER_REVERSED)).len(), 2);
}

#[test]
fn a_link_works_once_and_for_five_minutes_then_sends_to_refresh_url() {
    let (emulator, _deliveries) = emulator();
    let teacher = create_account(&emulator, "")["id"].as_str().unwrap().to_owned();
    let link = |kind: &str| {
        let body = format!("account={teacher}&type={kind}&refresh_url=https://ex.com/refresh&return_url=https://ex.com/back");
        let params = form::parse(body.as_bytes()).unwrap();
        emulator.idempotent(None, |emulator, inner| emulator.create_account_link(inner, account_links::parse(&params)?, NOW)).map(|(json, _)| json)
    };
    let id_of = |link: &Value| link["url"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let first = link("account_onboarding").unwrap();
    assert_eq!((first["object"].as_str(), first["expires_at"].as_i64()), (Some("account_link"), Some(NOW + LINK_LIFETIME_SECS)));
    let first = id_of(&first);
    assert!(matches!(emulator.open_account_link(&first, NOW + 10), LinkVisit::Page { .. }));
    assert!(matches!(emulator.open_account_link(&first, NOW + 11), LinkVisit::Redirect(url) if url == "https://ex.com/refresh"), "visited once already");
    assert!(matches!(emulator.submit_account_link(&first, Submission::Verified, NOW + 400), LinkVisit::Redirect(url) if url == "https://ex.com/back"), "its form outlives the link");
    assert!(matches!(emulator.submit_account_link(&first, Submission::Verified, NOW + 401), LinkVisit::Redirect(url) if url == "https://ex.com/refresh"), "sent once already");
    let account = emulator.account(&teacher).unwrap();
    assert_eq!((account["details_submitted"].as_bool(), account["capabilities"]["transfers"].as_str()), (Some(true), Some("active")));
    let updated = emulator.events_newest_first(Some(events::ACCOUNT_UPDATED));
    assert_eq!((updated.len(), updated[0]["account"].as_str()), (1, Some(teacher.as_str())));
    assert_eq!(updated[0]["data"]["previous_attributes"]["payouts_enabled"], false);

    let expired = id_of(&link("account_onboarding").unwrap());
    assert!(matches!(emulator.open_account_link(&expired, NOW + LINK_LIFETIME_SECS), LinkVisit::Redirect(url) if url == "https://ex.com/refresh"));
    let unopened = id_of(&link("account_onboarding").unwrap());
    assert!(matches!(emulator.submit_account_link(&unopened, Submission::Verified, NOW + LINK_LIFETIME_SECS), LinkVisit::Redirect(url) if url == "https://ex.com/refresh"));
    assert!(matches!(emulator.open_account_link("acctlink_nope", NOW), LinkVisit::NotFound));
    assert!(link("account_update").is_err(), "Stripe collects this account's requirements");
}

#[test]
fn submitting_without_verification_leaves_the_account_restricted() {
    let (emulator, _deliveries) = emulator();
    let teacher = create_account(&emulator, "")["id"].as_str().unwrap().to_owned();
    let params = form::parse(format!("account={teacher}&type=account_onboarding&refresh_url=https://ex.com/r&return_url=https://ex.com/b").as_bytes()).unwrap();
    let (link, _) = emulator.idempotent(None, |emulator, inner| emulator.create_account_link(inner, account_links::parse(&params)?, NOW)).unwrap();
    let id = link["url"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    assert!(matches!(emulator.submit_account_link(&id, Submission::Unverified, NOW), LinkVisit::Redirect(url) if url == "https://ex.com/b"));
    let account = emulator.account(&teacher).unwrap();
    assert_eq!((account["details_submitted"].as_bool(), account["payouts_enabled"].as_bool()), (Some(true), Some(false)));
    assert_eq!((account["capabilities"]["transfers"].as_str(), account["requirements"]["disabled_reason"].as_str()), (Some("inactive"), Some("requirements.past_due")));
}

#[test]
fn a_payout_empties_the_balance_or_fails_back_into_it() {
    let (emulator, _deliveries) = emulator();
    let teacher = onboarded_account(&emulator);
    emulator.set_platform_balance("eur", 1500);
    transfer(&emulator, None, &format!("amount=1500&currency=eur&destination={teacher}")).unwrap();
    let failed = emulator.pay_out(&teacher, true, NOW).unwrap();
    assert_eq!((failed[0]["status"].as_str(), failed[0]["failure_code"].as_str()), (Some("failed"), Some("account_closed")));
    assert_eq!(available(&emulator, Some(&teacher)), 1500);
    let paid = emulator.pay_out(&teacher, false, NOW).unwrap();
    assert_eq!((paid[0]["status"].as_str(), paid[0]["amount"].as_i64()), (Some("paid"), Some(1500)));
    assert_eq!(available(&emulator, Some(&teacher)), 0);
    assert!(emulator.pay_out(&teacher, false, NOW).is_err(), "nothing left");
    let payout_events = emulator.list_events(&EventFilter { account: Some(&teacher), ..EventFilter::default() });
    let kinds: Vec<&str> = payout_events.iter().rev().filter_map(|e| e["type"].as_str()).filter(|k| k.starts_with("payout.")).collect();
    assert_eq!(kinds, ["payout.created", "payout.failed", "payout.created", "payout.paid"]);
    assert!(payout_events.iter().all(|e| e["account"] == teacher.as_str()));
    emulator.set_account_restricted(&teacher, true, NOW);
    assert!(emulator.pay_out(&teacher, false, NOW).is_err(), "payouts disabled");
}

#[test]
fn connect_events_go_to_connect_endpoints_only() {
    let (emulator, mut deliveries) = emulator();
    assert_eq!(emulator.delivery_target(events::ACCOUNT_UPDATED, true), None, "no Connect URL configured");
    emulator.set_webhook_url(Some("http://127.0.0.1:9/platform".into()));
    emulator.set_connect_webhook(Some("http://127.0.0.1:9/connect".into()), Some("whsec_connect".into()));
    assert_eq!(emulator.delivery_target(events::ACCOUNT_UPDATED, true), Some(("http://127.0.0.1:9/connect".into(), "whsec_connect".into())));
    assert_eq!(emulator.delivery_target(events::TRANSFER_CREATED, false).map(|(url, _)| url).as_deref(), Some("http://127.0.0.1:9/platform"));
    let platform = emulator.create_webhook_endpoint("http://127.0.0.1:9/p2".into(), vec!["*".into()], None, false);
    assert_eq!(emulator.delivery_target(events::ACCOUNT_UPDATED, true), None, "registered endpoints replace the configured URLs, and none is a Connect one");
    let connect = emulator.create_webhook_endpoint("http://127.0.0.1:9/c2".into(), vec![events::ACCOUNT_UPDATED.into()], None, true);
    assert_eq!(emulator.delivery_target(events::ACCOUNT_UPDATED, true), Some(("http://127.0.0.1:9/c2".into(), connect["secret"].as_str().unwrap().to_owned())));
    assert_eq!(emulator.delivery_target(events::ACCOUNT_UPDATED, false).map(|(url, _)| url).as_deref(), Some("http://127.0.0.1:9/p2"), "the platform's own account.updated");
    assert_eq!(emulator.delivery_target(events::PAYOUT_PAID, true), None, "the Connect endpoint does not take payouts");
    assert_eq!(emulator.delivery_target(events::TRANSFER_CREATED, false).map(|(_, secret)| secret), platform["secret"].as_str().map(str::to_owned));

    let teacher = onboarded_account(&emulator);
    let queued = deliveries.try_recv().unwrap();
    assert_eq!((queued.event_type, queued.connect), (events::ACCOUNT_UPDATED, true));
    let event: Value = serde_json::from_str(&queued.body).unwrap();
    assert_eq!(event["account"], teacher.as_str());
    assert_eq!(event["pending_webhooks"], 1);
}

/// One webhook receiver: (path, raw body, signature) of every delivery.
type Received = Arc<Mutex<Vec<(String, String, String)>>>;

async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let store = received.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
        let store = store.clone();
        async move {
            let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            store.lock().unwrap().push((uri.path().to_owned(), String::from_utf8_lossy(&body).into_owned(), signature));
            axum::http::StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), received)
}

#[tokio::test]
async fn over_http_connect_events_reach_the_connect_endpoint_signed_with_its_secret() {
    let (hook, received) = receiver().await;
    let config = EmulatorConfig {
        secret_key: KEY.into(),
        webhook_url: Some(format!("{hook}/platform")),
        connect_webhook_url: Some(format!("{hook}/connect")),
        connect_webhook_secret: Some("whsec_connect".into()),
        retry_base: Duration::from_millis(20),
        ..EmulatorConfig::default()
    };
    let stripe = StripeEmulator::start(config).await.unwrap();
    let base = stripe.base_url();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let post = |path: &str, body: String| http.post(format!("{base}{path}")).bearer_auth(KEY).header("Content-Type", "application/x-www-form-urlencoded").body(body).send();
    let account: Value = post("v1/accounts", TEACHER.to_owned()).await.unwrap().json().await.unwrap();
    let teacher = account["id"].as_str().unwrap().to_owned();
    http.post(format!("{base}_emulator/accounts/{teacher}/onboard")).send().await.unwrap();
    http.post(format!("{base}_emulator/balance")).json(&json!({"currency": "usd", "amount": 700})).send().await.unwrap();
    let transfer: Value = post("v1/transfers", format!("amount=700&currency=usd&destination={teacher}")).await.unwrap().json().await.unwrap();
    assert_eq!(transfer["object"], "transfer", "{transfer}");

    let balance: Value = http.get(format!("{base}v1/balance")).bearer_auth(KEY).header("Stripe-Account", &teacher).send().await.unwrap().json().await.unwrap();
    assert_eq!(balance["available"][0], json!({"amount": 700, "currency": "usd", "source_types": {"card": 700}}));
    let stranger = http.get(format!("{base}v1/balance")).bearer_auth(KEY).header("Stripe-Account", "acct_nope").send().await.unwrap();
    assert_eq!(stranger.status(), 403);
    assert_eq!(stranger.json::<Value>().await.unwrap()["error"]["code"], "account_invalid");
    let on_behalf = http.post(format!("{base}v1/transfers")).bearer_auth(KEY).header("Stripe-Account", &teacher).body("amount=1").send();
    assert_eq!(on_behalf.await.unwrap().status(), 400, "the emulator does not act as a connected account there");

    for _ in 0..200 {
        if received.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let received: Vec<(String, Value, String, String)> =
        received.lock().unwrap().iter().map(|(path, raw, signature)| (path.clone(), serde_json::from_str(raw).unwrap(), raw.clone(), signature.clone())).collect();
    let (path, event, raw, signature) = received.iter().find(|(_, e, _, _)| e["type"] == events::ACCOUNT_UPDATED).expect("account.updated delivered");
    assert_eq!((path.as_str(), event["account"].as_str()), ("/connect", Some(teacher.as_str())));
    let timestamp: i64 = signature.split(',').find_map(|part| part.strip_prefix("t=")).and_then(|t| t.parse().ok()).unwrap();
    assert_eq!(*signature, super::signature_header("whsec_connect", timestamp, raw.as_bytes()), "signed with the Connect secret");
    let (path, event, _, _) = received.iter().find(|(_, e, _, _)| e["type"] == events::TRANSFER_CREATED).expect("transfer.created delivered");
    assert_eq!(path, "/platform");
    assert!(event.get("account").is_none(), "a platform event names no account");
}

/// What the project's client parses: each object the Connect surface
/// renders, read with async-stripe's types (serde, as `deserialize` builds them).
#[test]
fn async_stripe_reads_every_connect_object() {
    let (emulator, _deliveries) = emulator();
    let fresh = create_account(&emulator, "&metadata[teacher_id]=t1");
    let abroad = create_account(&emulator, "&country=US&tos_acceptance[service_agreement]=recipient");
    let teacher = onboarded_account(&emulator);
    let charge = paid_charge(&emulator, 3000);
    let params = form::parse(format!("account={teacher}&type=account_onboarding&refresh_url=https://ex.com/r&return_url=https://ex.com/b").as_bytes()).unwrap();
    let (link, _) = emulator.idempotent(None, |emulator, inner| emulator.create_account_link(inner, account_links::parse(&params)?, NOW)).unwrap();
    let (made, _) = transfer(&emulator, None, &format!("amount=2000&currency=eur&destination={teacher}&source_transaction={charge}&transfer_group=co_1&metadata[lesson]=l1")).unwrap();
    let id = made["id"].as_str().unwrap();
    let reversal = reverse(&emulator, id, "amount=500").unwrap();
    let reversed = emulator.transfer(id).unwrap();
    let list = json!({ "object": "list", "data": emulator.transfers_newest_first(Some("co_1"), None), "has_more": false, "url": "/v1/transfers" });
    let payouts = emulator.pay_out(&teacher, true, NOW).unwrap();

    for account in [fresh, abroad, emulator.account(&teacher).unwrap()] {
        let parsed: stripe_shared::Account = serde_json::from_value(account.clone()).unwrap_or_else(|e| panic!("{e}: {account}"));
        assert_eq!(parsed.id.as_str(), account["id"].as_str().unwrap());
        assert!(matches!(parsed.type_, Some(stripe_shared::AccountType::None)));
    }
    let link: stripe_connect::AccountLink = serde_json::from_value(link).unwrap();
    assert_eq!(link.expires_at, NOW + LINK_LIFETIME_SECS);
    for transfer in [made.clone(), reversed] {
        let parsed: stripe_connect::Transfer = serde_json::from_value(transfer.clone()).unwrap_or_else(|e| panic!("{e}: {transfer}"));
        assert_eq!(parsed.amount, 2000);
    }
    let parsed: stripe_connect::TransferReversal = serde_json::from_value(reversal.clone()).unwrap_or_else(|e| panic!("{e}: {reversal}"));
    assert_eq!(parsed.amount, 500);
    let parsed: stripe_types::List<stripe_connect::Transfer> = serde_json::from_value(list).unwrap();
    assert_eq!(parsed.data.len(), 1);
    assert_eq!(parsed.data[0].reversals.data.len(), 1);
    for payout in payouts {
        let parsed: stripe_shared::Payout = serde_json::from_value(payout.clone()).unwrap_or_else(|e| panic!("{e}: {payout}"));
        assert_eq!(parsed.failure_code.as_deref(), Some("account_closed"));
    }
}
