//! Webhooks for the marketplace's own systems: endpoints registered as an
//! operator does, notices fanned out by notify (as deployed) into messages,
//! posted to a receiver on loopback that verifies them with the
//! `standardwebhooks` crate, as a receiver's code would.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use shared::outbound::{TargetError, TargetPolicy, endpoints};
use shared::store::{AttentionKind, WorkStatus};
use tests::mail::start_ses;
use tests::{CheckoutEnv, in_days, lesson};

const LOOPBACK: TargetPolicy = TargetPolicy { allow_loopback: true };

/// What the receiver got: path, headers, body.
type Received = Arc<Mutex<Vec<(String, HeaderMap, String)>>>;

/// A receiver on loopback answering each request with the next status
/// queued (200 once they run out); a 302 points at /elsewhere.
async fn receiver(statuses: Vec<u16>) -> (String, Received) {
    let got: Received = Arc::default();
    let queue = Arc::new(Mutex::new(VecDeque::from(statuses)));
    let app = {
        let got = got.clone();
        axum::Router::new().fallback(move |uri: axum::http::Uri, headers: HeaderMap, body: String| {
            let (got, queue) = (got.clone(), queue.clone());
            async move {
                got.lock().unwrap().push((uri.path().to_owned(), headers, body));
                let status = queue.lock().unwrap().pop_front().unwrap_or(200);
                let mut response = axum::response::Response::new(axum::body::Body::empty());
                *response.status_mut() = StatusCode::from_u16(status).unwrap();
                if status == 302 {
                    response.headers_mut().insert("location", "/elsewhere".parse().unwrap());
                }
                response
            }
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

fn verify(secret: &str, headers: &HeaderMap, body: &str) -> bool {
    standardwebhooks::Webhook::new(secret).unwrap().verify(body.as_bytes(), headers).is_ok()
}

#[tokio::test]
async fn a_confirmation_reaches_an_endpoint_signed_per_standard_webhooks_and_a_failure_retries_with_the_same_id() {
    let env = CheckoutEnv::start().await;
    let ses = start_ses().await;
    let notifier = env.notifier(&ses);
    let (url, got) = receiver(vec![500]).await;
    let now = Timestamp::now();
    let endpoint = endpoints::add(&env.db.store, &LOOPBACK, &url, &["booking.confirmed".into(), "booking.cancelled".into()], now).await.unwrap();
    let (checkout, bookings) = env.paid_booking("kim", vec![lesson("t_one", &in_days(2, "10:00"), 60)]).await;

    // The fan-out writes the message; the next sweep (or the stream) sends it.
    let now = Timestamp::now();
    notifier.sweep(now).await;
    notifier.sweep(now).await;
    let first = got.lock().unwrap().clone();
    assert_eq!(first.len(), 1, "one attempt, answered 500");
    let (_, headers, body) = &first[0];
    assert!(verify(&endpoint.secrets[0], headers, body), "{headers:?}");
    let event: Value = serde_json::from_str(body).unwrap();
    assert_eq!((event["type"].as_str(), event["data"]["booking_id"].as_str(), event["data"]["checkout_id"].as_str()), (Some("booking.confirmed"), Some(bookings[0].as_str()), Some(checkout.as_str())));
    assert!(!verify("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", headers, body), "another secret does not verify");

    let later = now + SignedDuration::from_secs(6);
    notifier.sweep(later).await;
    let all = got.lock().unwrap().clone();
    assert_eq!(all.len(), 2, "retried once after 5 s");
    let (_, again, body_again) = &all[1];
    assert_eq!((again["webhook-id"].clone(), body_again), (headers["webhook-id"].clone(), body), "the same message: same id and body");
    assert!(verify(&endpoint.secrets[0], again, body_again));
    let delivered = env.db.store.deliveries_to(&endpoint.endpoint_id).await.unwrap();
    assert_eq!((delivered.len(), delivered[0].status, delivered[0].attempts), (1, WorkStatus::Done, 2));
    notifier.sweep(later + SignedDuration::from_mins(1)).await;
    assert_eq!(got.lock().unwrap().len(), 2, "nothing more");
}

#[tokio::test]
async fn a_410_disables_the_endpoint_a_redirect_is_not_followed_and_a_rotation_signs_with_both_secrets() {
    let env = CheckoutEnv::start().await;
    let ses = start_ses().await;
    let notifier = env.notifier(&ses);
    let now = Timestamp::now();
    let (gone_url, gone) = receiver(vec![410]).await;
    let gone_endpoint = endpoints::add(&env.db.store, &LOOPBACK, &gone_url, &[], now).await.unwrap();
    let (moved_url, moved) = receiver(vec![302]).await;
    let moved_endpoint = endpoints::add(&env.db.store, &LOOPBACK, &moved_url, &[], now).await.unwrap();
    let rotated = endpoints::rotate(&env.db.store, &moved_endpoint.endpoint_id).await.unwrap();
    assert_eq!((rotated.secrets.len(), &rotated.secrets[1]), (2, &moved_endpoint.secrets[0]));

    env.paid_booking("lou", vec![lesson("t_one", &in_days(2, "11:00"), 60)]).await;
    let now = Timestamp::now();
    notifier.sweep(now).await;
    notifier.sweep(now).await;
    assert_eq!(gone.lock().unwrap().len(), 1);
    let disabled = env.db.store.endpoint(&gone_endpoint.endpoint_id).await.unwrap().unwrap();
    assert!(!disabled.enabled && disabled.disabled_reason.as_deref() == Some("answered 410 Gone"), "{disabled:?}");
    let attention = env.db.store.attention().await.unwrap();
    assert!(attention.iter().any(|a| a.kind == AttentionKind::WebhookEndpointGone), "{attention:?}");
    // Rotating a stale read of it (an operator's, racing the 410) does not enable it again.
    endpoints::rotate(&env.db.store, &gone_endpoint.endpoint_id).await.unwrap();
    assert!(!env.db.store.endpoint(&gone_endpoint.endpoint_id).await.unwrap().unwrap().enabled, "a rotation leaves it disabled");

    let hits = moved.lock().unwrap().clone();
    assert_eq!(hits.iter().map(|h| h.0.as_str()).collect::<Vec<_>>(), vec!["/hooks"], "the redirect was not followed");
    let (_, headers, body) = &hits[0];
    assert!(verify(&rotated.secrets[0], headers, body) && verify(&moved_endpoint.secrets[0], headers, body), "both secrets verify during a rotation");
    let waiting = env.db.store.deliveries_to(&moved_endpoint.endpoint_id).await.unwrap();
    assert!(waiting[0].status == WorkStatus::Owed && waiting[0].error.as_deref() == Some("answered 302"), "a redirect is a failed attempt: {waiting:?}");

    // The next event goes to the enabled endpoint only.
    env.paid_booking("lou", vec![lesson("t_one", &in_days(3, "11:00"), 60)]).await;
    let later = Timestamp::now() + SignedDuration::from_secs(6);
    notifier.sweep(later).await;
    notifier.sweep(later).await;
    assert_eq!(gone.lock().unwrap().len(), 1, "a disabled endpoint receives nothing");
    assert!(moved.lock().unwrap().len() >= 3);
}

#[tokio::test]
async fn only_https_to_public_addresses_is_registered_or_delivered_in_production() {
    let env = CheckoutEnv::start().await;
    let strict = TargetPolicy::default();
    let now = Timestamp::now();
    for (url, refused) in [
        ("http://hooks.example.com/in", TargetError::NotHttps),
        ("https://10.0.0.8/in", TargetError::NotPublic("10.0.0.8".parse().unwrap())),
        ("https://169.254.169.254/latest/meta-data", TargetError::NotPublic("169.254.169.254".parse().unwrap())),
        ("https://[::1]/in", TargetError::NotPublic("::1".parse().unwrap())),
    ] {
        match endpoints::add(&env.db.store, &strict, url, &[], now).await {
            Err(endpoints::EndpointError::Target(err)) => assert_eq!(err, refused, "{url}"),
            other => panic!("{url}: {other:?}"),
        }
    }
    assert!(matches!(endpoints::add(&env.db.store, &LOOPBACK, "http://127.0.0.1:9/in", &["booking.paid".into()], now).await, Err(endpoints::EndpointError::UnknownEvent(_))));

    // Registered while loopback was allowed, then delivered by a production notify: refused, never sent.
    let (url, got) = receiver(vec![]).await;
    endpoints::add(&env.db.store, &LOOPBACK, &url, &[], now).await.unwrap();
    let ses = start_ses().await;
    let mut notifier = env.notifier(&ses);
    notifier.subscribers.policy = strict;
    env.paid_booking("max", vec![lesson("t_one", &in_days(2, "12:00"), 60)]).await;
    let now = Timestamp::now();
    notifier.sweep(now).await;
    notifier.sweep(now).await;
    assert!(got.lock().unwrap().is_empty());
    let attention = env.db.store.attention().await.unwrap();
    assert!(attention.iter().any(|a| a.kind == AttentionKind::WebhookUndelivered && a.reason.contains("only https")), "{attention:?}");
}
