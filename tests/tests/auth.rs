//! Bearer-token verification with real JWTs: HS256 with a shared secret,
//! and ES256 keys served as a JWKS over loopback HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use http::HeaderMap;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use shared::auth::{AuthConfig, Authenticator, KeySource, Role};

const SECRET: &str = "test-secret-that-is-long-enough-for-hs256";

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn headers(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("authorization", format!("Bearer {token}").parse().unwrap());
    h
}

fn hs(claims: serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

async fn hs_auth(issuer: Option<&str>, audience: Option<&str>) -> Authenticator {
    let config = AuthConfig { keys: KeySource::Hs256 { secret: SECRET.into() }, issuer: issuer.map(Into::into), audience: audience.map(Into::into) };
    Authenticator::new(config, reqwest::Client::new()).await.unwrap()
}

async fn rejected(auth: &Authenticator, headers: HeaderMap) -> String {
    let err = auth.authenticate(&headers).await.unwrap_err();
    assert_eq!(err.status().as_u16(), 401);
    assert_eq!(err.code(), "unauthorized");
    err.to_string()
}

#[tokio::test]
async fn accepts_a_valid_hs256_token() {
    let auth = hs_auth(None, None).await;
    let token = hs(json!({"sub": "s_1", "exp": now() + 60, "email": "s1@example.com", "role": "student"}), SECRET);
    let who = auth.authenticate(&headers(&token)).await.unwrap();
    assert_eq!(who.user_id, "s_1");
    assert_eq!(who.email.as_deref(), Some("s1@example.com"));
    assert_eq!(who.role, Some(Role::Student));
    // A provider's own role value (Supabase: "authenticated") is not ours, but the token is fine.
    let token = hs(json!({"sub": "s_2", "exp": now() + 60, "role": "authenticated", "aud": "authenticated"}), SECRET);
    assert_eq!(auth.authenticate(&headers(&token)).await.unwrap().role, None);
}

#[tokio::test]
async fn rejects_bad_hs256_tokens() {
    let auth = hs_auth(Some("https://issuer.example"), Some("lessons")).await;
    let good = json!({"sub": "s_1", "exp": now() + 60, "iss": "https://issuer.example", "aud": "lessons"});
    assert!(auth.authenticate(&headers(&hs(good.clone(), SECRET))).await.is_ok());

    let mut expired = good.clone();
    expired["exp"] = json!(now() - 120);
    assert!(rejected(&auth, headers(&hs(expired, SECRET))).await.contains("expired"));
    assert!(rejected(&auth, headers(&hs(good.clone(), "another-secret-that-is-also-long-enough"))).await.contains("signature"));
    let mut no_exp = good.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    rejected(&auth, headers(&hs(no_exp, SECRET))).await;
    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = json!("https://evil.example");
    rejected(&auth, headers(&hs(wrong_iss, SECRET))).await;
    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = json!("other");
    rejected(&auth, headers(&hs(wrong_aud, SECRET))).await;

    // alg: none, unsigned.
    let b64 = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!("{}.{}.", b64(json!({"alg": "none", "typ": "JWT"})), b64(good.clone()));
    rejected(&auth, headers(&none)).await;

    rejected(&auth, HeaderMap::new()).await;
    let mut basic = HeaderMap::new();
    basic.insert("authorization", "Basic dXNlcjpwdw==".parse().unwrap());
    rejected(&auth, basic).await;
    rejected(&auth, headers("not.a.jwt")).await;
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)).unwrap()
}

/// Serves the test JWKS on loopback and counts how often it is fetched.
async fn jwks_server() -> (String, Arc<AtomicUsize>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = fetches.clone();
    let body = fixture("es256-jwks.json");
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, fetches)
}

fn es(claims: serde_json::Value, kid: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = kid.map(Into::into);
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_pem(fixture("es256-private.pem").as_bytes()).unwrap()).unwrap()
}

#[tokio::test]
async fn verifies_es256_tokens_from_a_jwks_and_refuses_algorithm_confusion() {
    let (url, fetches) = jwks_server().await;
    let config = AuthConfig { keys: KeySource::Jwks { url, algorithm: Algorithm::ES256 }, issuer: None, audience: None };
    let auth = Authenticator::new(config, reqwest::Client::new()).await.unwrap().with_jwks_refresh_interval(Duration::ZERO);
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "fetched once at start-up");

    let claims = json!({"sub": "s_9", "exp": now() + 60});
    assert_eq!(auth.authenticate(&headers(&es(claims.clone(), Some("test-key-1")))).await.unwrap().user_id, "s_9");
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "a known kid needs no fetch");

    // HS256 signed with the public key as the HMAC secret: the classic confusion attack.
    let forged = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(fixture("es256-public.pem").as_bytes())).unwrap();
    assert!(rejected(&auth, headers(&forged)).await.contains("algorithm"));

    // An unknown kid makes the cache look again (the provider may have rotated), then fails.
    rejected(&auth, headers(&es(claims, Some("rotated-away")))).await;
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_jwks_url_that_does_not_answer_fails_start_up() {
    let config = AuthConfig { keys: KeySource::Jwks { url: "http://127.0.0.1:9/jwks.json".into(), algorithm: Algorithm::ES256 }, issuer: None, audience: None };
    assert!(Authenticator::new(config, reqwest::Client::new()).await.is_err());
}
