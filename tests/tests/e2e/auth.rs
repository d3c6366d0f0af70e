//! Bearer-token verification with real JWTs: HS256 with a shared secret,
//! and ES256 keys served as a JWKS over loopback HTTP, including how that
//! key set is refreshed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::IntoResponse;
use base64::Engine;
use http::HeaderMap;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use shared::auth::{AuthConfig, Authenticator, KeySource, Role};
use tokio::sync::oneshot;

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
    let config = AuthConfig { keys: KeySource::Hs256 { secret: SECRET.into() }, issuer: issuer.map(Into::into), audience: audience.map(Into::into), admins: tests::local_admins() };
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

/// An identity provider's `role` means its own thing (Supabase: the Postgres
/// role); only the deployment's rule makes an admin.
#[tokio::test]
async fn admins_are_who_the_deployment_says_not_whoever_claims_the_role() {
    use shared::auth::AdminRule;
    let with = |admins: AdminRule| async move { Authenticator::new(AuthConfig { keys: KeySource::Hs256 { secret: SECRET.into() }, issuer: None, audience: None, admins }, reqwest::Client::new()).await.unwrap() };
    let role = |auth: Authenticator, claims: serde_json::Value| async move {
        let mut claims = claims;
        claims["exp"] = json!(now() + 60);
        auth.authenticate(&headers(&hs(claims, SECRET))).await.unwrap().role
    };
    let claims_admin = json!({"sub": "u_1", "role": "admin"});
    assert_eq!(role(with(AdminRule::default()).await, claims_admin.clone()).await, None, "nobody is an admin by a claim nobody configured");
    let cognito = AdminRule { claim: Some(("/cognito:groups".into(), "admins".into())), subjects: Vec::new() };
    assert_eq!(role(with(cognito.clone()).await, json!({"sub": "u_1", "cognito:groups": ["staff", "admins"]})).await, Some(Role::Admin));
    assert_eq!(role(with(cognito.clone()).await, json!({"sub": "u_1", "cognito:groups": ["staff"]})).await, None);
    assert_eq!(role(with(cognito).await, claims_admin.clone()).await, None);
    let namespaced = AdminRule { claim: Some(("/https:~1~1lessons.example~1roles".into(), "admin".into())), subjects: Vec::new() };
    assert_eq!(role(with(namespaced).await, json!({"sub": "u_1", "https://lessons.example/roles": ["admin"]})).await, Some(Role::Admin));
    let supabase = AdminRule { claim: Some(("/app_metadata/role".into(), "admin".into())), subjects: Vec::new() };
    assert_eq!(role(with(supabase.clone()).await, json!({"sub": "u_1", "role": "authenticated", "app_metadata": {"role": "admin"}})).await, Some(Role::Admin));
    assert_eq!(role(with(supabase).await, json!({"sub": "u_1", "role": "admin", "user_metadata": {"role": "admin"}})).await, None, "user_metadata is the user's to write");
    let listed = AdminRule { claim: None, subjects: vec!["ops|1".into()] };
    assert_eq!(role(with(listed.clone()).await, json!({"sub": "ops|1"})).await, Some(Role::Admin));
    assert_eq!(role(with(listed).await, json!({"sub": "ops|2", "role": "teacher"})).await, Some(Role::Teacher));
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
    // A configured issuer or audience must be there: jsonwebtoken checks
    // them only when present unless they are required.
    for claim in ["iss", "aud"] {
        let mut without = good.clone();
        without.as_object_mut().unwrap().remove(claim);
        assert!(rejected(&auth, headers(&hs(without, SECRET))).await.contains("required claim"), "a token without {claim}");
    }

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

/// A JWKS endpoint on loopback whose answers the test changes as it goes.
struct JwksServer {
    url: String,
    served: Arc<Served>,
}

struct Served {
    /// The key set to answer with; `None` answers 503.
    body: Mutex<Option<String>>,
    fetches: AtomicUsize,
    held: Mutex<Option<Held>>,
}

/// The server's side of an answer the test holds back.
struct Held {
    entered: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
    answered: Arc<AtomicBool>,
}

/// The test's side: learns that the fetch arrived, lets it go, and can see whether it was answered.
struct HeldAnswer {
    entered: oneshot::Receiver<()>,
    release: oneshot::Sender<()>,
    answered: Arc<AtomicBool>,
}

impl JwksServer {
    /// Serves the test JWKS.
    async fn start() -> Self {
        let served = Arc::new(Served { body: Mutex::new(Some(fixture("es256-jwks.json"))), fetches: AtomicUsize::new(0), held: Mutex::new(None) });
        let state = served.clone();
        let app = axum::Router::new().route("/jwks.json", axum::routing::get(move || answer(state.clone())));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, served }
    }

    fn serve(&self, body: Option<String>) {
        *self.served.body.lock().unwrap() = body;
    }

    fn fetches(&self) -> usize {
        self.served.fetches.load(Ordering::SeqCst)
    }

    /// The next fetch waits until the test releases it.
    fn hold_next_answer(&self) -> HeldAnswer {
        let (entered_tx, entered) = oneshot::channel();
        let (release, release_rx) = oneshot::channel();
        let answered = Arc::new(AtomicBool::new(false));
        *self.served.held.lock().unwrap() = Some(Held { entered: entered_tx, release: release_rx, answered: answered.clone() });
        HeldAnswer { entered, release, answered }
    }
}

async fn answer(served: Arc<Served>) -> axum::response::Response {
    served.fetches.fetch_add(1, Ordering::SeqCst);
    let held = served.held.lock().unwrap().take();
    if let Some(held) = held {
        held.entered.send(()).unwrap();
        // A failsafe, not a measurement: a cache that makes readers wait for
        // this fetch fails the test after it instead of hanging.
        let _ = tokio::time::timeout(Duration::from_secs(5), held.release).await;
        held.answered.store(true, Ordering::SeqCst);
    }
    let body = served.body.lock().unwrap().clone();
    match body {
        Some(body) => ([("content-type", "application/json")], body).into_response(),
        None => http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

async fn jwks_auth(server: &JwksServer) -> Authenticator {
    let config = AuthConfig { keys: KeySource::Jwks { url: server.url.clone(), algorithm: Algorithm::ES256 }, issuer: None, audience: None, admins: tests::local_admins() };
    Authenticator::new(config, reqwest::Client::new()).await.unwrap()
}

fn es(claims: serde_json::Value, kid: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = kid.map(Into::into);
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_pem(fixture("es256-private.pem").as_bytes()).unwrap()).unwrap()
}

#[tokio::test]
async fn verifies_es256_tokens_from_a_jwks_and_refuses_algorithm_confusion() {
    let server = JwksServer::start().await;
    let auth = jwks_auth(&server).await.with_jwks_refresh_interval(Duration::ZERO);
    assert_eq!(server.fetches(), 1, "fetched once at start-up");

    let claims = json!({"sub": "s_9", "exp": now() + 60});
    assert_eq!(auth.authenticate(&headers(&es(claims.clone(), Some("test-key-1")))).await.unwrap().user_id, "s_9");
    assert_eq!(server.fetches(), 1, "a known kid needs no fetch");

    // HS256 signed with the public key as the HMAC secret: the classic confusion attack.
    let forged = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(fixture("es256-public.pem").as_bytes())).unwrap();
    assert!(rejected(&auth, headers(&forged)).await.contains("algorithm"));

    // An unknown kid makes the cache look again (the provider may have rotated), then fails.
    rejected(&auth, headers(&es(claims, Some("rotated-away")))).await;
    assert_eq!(server.fetches(), 2);
}

#[tokio::test]
async fn refreshes_wait_for_the_minimum_interval() {
    let server = JwksServer::start().await;
    let auth = jwks_auth(&server).await.with_jwks_max_age(Duration::ZERO);
    let claims = json!({"sub": "s_9", "exp": now() + 60});
    rejected(&auth, headers(&es(claims.clone(), Some("rotated-away")))).await;
    assert!(auth.authenticate(&headers(&es(claims, Some("test-key-1")))).await.is_ok());
    assert_eq!(server.fetches(), 1, "neither an unknown kid nor an old set fetches again within a minute of the last fetch");
}

#[tokio::test]
async fn a_key_removed_from_the_jwks_stops_being_trusted_once_the_set_is_too_old() {
    let server = JwksServer::start().await;
    let young = jwks_auth(&server).await;
    let old = jwks_auth(&server).await.with_jwks_refresh_interval(Duration::ZERO).with_jwks_max_age(Duration::ZERO);
    // The provider rotates test-key-1 out; the same public key now goes by another kid.
    server.serve(Some(fixture("es256-jwks.json").replace("test-key-1", "test-key-2")));
    let claims = json!({"sub": "s_9", "exp": now() + 60});
    let removed = es(claims.clone(), Some("test-key-1"));

    assert!(young.authenticate(&headers(&removed)).await.is_ok(), "a set within its max age is used as fetched");
    assert_eq!(server.fetches(), 2, "only the two start-ups fetched");

    assert!(rejected(&old, headers(&removed)).await.contains("unknown"));
    assert_eq!(server.fetches(), 3);
    assert!(old.authenticate(&headers(&es(claims, Some("test-key-2")))).await.is_ok());
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_keys_it_had() {
    let server = JwksServer::start().await;
    let auth = jwks_auth(&server).await.with_jwks_refresh_interval(Duration::ZERO).with_jwks_max_age(Duration::ZERO);
    server.serve(None);
    assert!(auth.authenticate(&headers(&es(json!({"sub": "s_9", "exp": now() + 60}), Some("test-key-1")))).await.is_ok());
    assert_eq!(server.fetches(), 2, "the old set was due and a refresh was tried");
}

#[tokio::test]
async fn a_slow_jwks_refresh_does_not_hold_up_tokens_with_known_keys() {
    let server = JwksServer::start().await;
    let auth = Arc::new(jwks_auth(&server).await.with_jwks_refresh_interval(Duration::ZERO));
    let claims = json!({"sub": "s_9", "exp": now() + 60});
    let held = server.hold_next_answer();
    let refreshing = tokio::spawn({
        let (auth, token) = (auth.clone(), es(claims.clone(), Some("rotated-in")));
        async move { auth.authenticate(&headers(&token)).await }
    });
    held.entered.await.unwrap();

    assert!(auth.authenticate(&headers(&es(claims, Some("test-key-1")))).await.is_ok());
    assert!(!held.answered.load(Ordering::SeqCst), "the known key had to wait for the JWKS fetch");

    let _ = held.release.send(());
    assert!(refreshing.await.unwrap().is_err(), "rotated-in is in no served set");
    assert_eq!(server.fetches(), 2);
}

#[tokio::test]
async fn a_jwks_url_that_does_not_answer_fails_start_up() {
    let config = AuthConfig { keys: KeySource::Jwks { url: "http://127.0.0.1:9/jwks.json".into(), algorithm: Algorithm::ES256 }, issuer: None, audience: None, admins: tests::local_admins() };
    assert!(Authenticator::new(config, reqwest::Client::new()).await.is_err());
}
