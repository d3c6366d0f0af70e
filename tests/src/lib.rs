//! Test harness: real parts only. A dynoxide server per test on an ephemeral
//! loopback port, the real table definition, and Lambda Function URL events
//! (payload 2.0) built as Lambda sends them and parsed by `lambda_http`.


use lambda_http::{Body, Response};
use serde_json::{Value, json};
use shared::store::Store;

pub use local_stack::dynamo::LocalDynamo;
pub use local_stack::events::FunctionUrlEvent;

pub mod dynamo_proxy;
pub mod hooked;
pub mod iam_url;
pub mod mail;
pub mod serve;
use dynamo_proxy::DynamoProxy;

/// An isolated, in-memory DynamoDB-compatible server with the table created.
/// `store` talks to it directly, or through the fault proxy when there is one.
pub struct TestDb {
    pub dynamo: LocalDynamo,
    pub store: Store,
    pub proxy: Option<DynamoProxy>,
}

impl TestDb {
    pub async fn start() -> Self {
        Self::start_with(false).await
    }

    /// With `behind_proxy`, every call of `store` passes through a [`DynamoProxy`].
    pub async fn start_with(behind_proxy: bool) -> Self {
        let db = dynoxide::Database::memory().expect("in-memory dynoxide");
        let dynamo = LocalDynamo::start(db, 0, "lessons").await.expect("dynoxide on loopback");
        let proxy = if behind_proxy { Some(DynamoProxy::start(dynamo.endpoint()).await) } else { None };
        let endpoint = proxy.as_ref().map_or_else(|| dynamo.endpoint(), DynamoProxy::endpoint);
        let store = Store::new(local_stack::dynamo::local_client(&endpoint), "lessons");
        let spec = infra::table::TableSpec::load().expect("table spec");
        infra::table::create_table(store.client(), store.table(), &spec).await.expect("create table");
        Self { dynamo, store, proxy }
    }

    /// The store function `name` (its crate under functions/) runs with: it
    /// signs as that function, so the IAM checker holds every call to the
    /// function's policy in template.yaml. `store` is the operator's.
    pub fn store_of(&self, name: &str) -> Store {
        let endpoint = self.proxy.as_ref().map_or_else(|| self.dynamo.endpoint(), DynamoProxy::endpoint);
        Store::new(local_stack::dynamo::function_client(&endpoint, name), self.store.table())
    }

    pub fn proxy(&self) -> &DynamoProxy {
        self.proxy.as_ref().expect("started behind the proxy")
    }

    /// Loads the demo teachers from `infra/seed/`.
    pub async fn seed_demo(&self) -> Vec<shared::domain::TeacherProfile> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/seed/teachers.json");
        let profiles = infra::seed::read_profiles(&path).expect("demo seed is valid");
        infra::seed::load_profiles(&self.store, &profiles).await.expect("seeding");
        profiles
    }
}


/// Status and parsed JSON body of a handler's response.
pub fn json_of(response: &Response<Body>) -> (u16, Value) {
    let bytes: &[u8] = match response.body() {
        Body::Empty => b"null",
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => panic!("unexpected body kind"),
    };
    (response.status().as_u16(), serde_json::from_slice(bytes).expect("response body is JSON"))
}

/// The development HS256 secret the tests sign tokens with.
pub const JWT_SECRET: &str = "test-secret-that-is-long-enough-for-hs256";
pub const STRIPE_KEY: &str = "sk_test_emulator";
pub const WEBHOOK_SECRET: &str = "whsec_test_emulator";
/// The Connect endpoint's secret (events of teachers' connected accounts).
pub const CONNECT_WEBHOOK_SECRET: &str = "whsec_test_connect_emulator";
pub const FRONTEND: &str = "http://localhost:3000";

pub fn token_for(sub: &str) -> String {
    let mut claims = shared::auth::Claims::new(sub, shared::auth::Role::Student, jiff::Timestamp::now(), jiff::SignedDuration::from_hours(1));
    claims.email = Some(format!("{sub}@example.com"));
    claims.name = Some(format!("Student {sub}"));
    shared::auth::mint_hs256(JWT_SECRET, &claims).expect("mint")
}

/// A token for `sub` with `role`, signed with the development secret.
pub fn token_as(sub: &str, role: shared::auth::Role) -> String {
    shared::auth::mint_hs256(JWT_SECRET, &shared::auth::Claims::new(sub, role, jiff::Timestamp::now(), jiff::SignedDuration::from_hours(1))).expect("mint")
}

/// Who is an admin in `make dev` (`.env.local`): a `role` claim of `admin`.
pub fn local_admins() -> shared::auth::AdminRule {
    shared::auth::AdminRule { claim: Some(("/role".into(), "admin".into())), subjects: Vec::new() }
}

/// The authenticator the functions run with in `make dev` (HS256, the development secret).
pub async fn hs256_auth() -> shared::auth::Authenticator {
    use shared::auth::{AuthConfig, Authenticator, KeySource};
    let config = AuthConfig { keys: KeySource::Hs256 { secret: JWT_SECRET.into() }, issuer: None, audience: None, admins: local_admins() };
    Authenticator::new(config, reqwest::Client::new()).await.expect("authenticator")
}

/// `days` days from today (UTC) at `hh:mm`, as RFC 3339.
pub fn in_days(days: i64, hh_mm: &str) -> String {
    let d = jiff::tz::TimeZone::UTC.to_datetime(jiff::Timestamp::now()).date().checked_add(jiff::Span::new().days(days)).expect("a date");
    format!("{d}T{hh_mm}:00Z")
}

/// A teacher who works all day, every day, in UTC, with a 10-minute grid
/// and buffer: any whole-hour slot tomorrow is open, which keeps the
/// checkout tests independent of the wall clock.
pub fn always_open_teacher(id: &str, currency: &str, trial_price: u64) -> shared::domain::TeacherProfile {
    let day = json!([["00:00", "24:00"]]);
    let doc = json!({
        "id": id, "name": format!("Teacher {id}"), "email": format!("{id}@teachers.test"), "timezone": "UTC",
        "weekly": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day},
        "overrides": {}, "currency": currency,
        "lessons": [{"duration_minutes": 60, "price": 3000}, {"duration_minutes": 30, "price": 1800}],
        "trial": {"duration_minutes": 30, "price": trial_price},
        "buffer_minutes": 10, "min_notice_minutes": 0, "horizon_days": 30, "slot_step_minutes": 10
    });
    shared::domain::TeacherProfile::from_json_str(&doc.to_string()).expect("valid test profile")
}

/// Tomorrow (UTC) at `hh:mm`, as RFC 3339.
pub fn tomorrow_at(hh_mm: &str) -> String {
    in_days(1, hh_mm)
}

/// initiate-checkout and get-slots wired to a fresh table and a fresh Stripe emulator.
pub struct CheckoutEnv {
    pub db: TestDb,
    pub stripe: emulators::stripe::StripeEmulator,
    pub hms: emulators::hms::HmsEmulator,
    pub checkout: initiate_checkout::App,
    pub slots: get_slots::App,
}

pub const HMS_ACCESS_KEY: &str = "hms_access_test";
pub const HMS_SECRET: &str = "hms-app-secret-for-tests-only-0123456789";
pub const HMS_TEMPLATE: &str = "tpl_lessons";

/// The Stripe emulator with the test key and webhook secret, delivering nowhere.
pub async fn start_stripe() -> emulators::stripe::StripeEmulator {
    emulators::stripe::StripeEmulator::start(emulators::stripe::EmulatorConfig {
        port: 0,
        secret_key: STRIPE_KEY.into(),
        webhook_secret: WEBHOOK_SECRET.into(),
        webhook_url: None,
        connect_webhook_secret: Some(CONNECT_WEBHOOK_SECRET.into()),
        retry_base: std::time::Duration::from_millis(50),
        ..Default::default()
    })
    .await
    .expect("stripe emulator")
}

/// The 100ms emulator with a template whose roles are `host` and `guest`.
pub async fn start_hms() -> emulators::hms::HmsEmulator {
    emulators::hms::HmsEmulator::start(emulators::hms::HmsEmulatorConfig {
        port: 0,
        access_key: HMS_ACCESS_KEY.into(),
        secret: HMS_SECRET.into(),
        template_id: HMS_TEMPLATE.into(),
        roles: vec!["host".into(), "guest".into()],
    })
    .await
    .expect("100ms emulator")
}

/// The claims of a 100ms app token signed with the test app secret (its
/// signature checked; its expiry not, so old tokens can be read).
pub fn hms_token_claims(token: &str) -> Value {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(token, &jsonwebtoken::DecodingKey::from_secret(HMS_SECRET.as_bytes()), &validation).expect("a 100ms token signed with the app secret").claims
}

/// A 100ms client for the emulator at `base`.
pub fn hms_config(base: &str) -> shared::rooms::HmsConfig {
    shared::rooms::HmsConfig {
        access_key: HMS_ACCESS_KEY.into(),
        secret: HMS_SECRET.into(),
        template_id: HMS_TEMPLATE.into(),
        api_base: base.to_owned(),
        teacher_role: "host".into(),
        student_role: "guest".into(),
        subdomain: "lessons-test".into(),
        management_token: None,
        timeout: std::time::Duration::from_secs(2),
        webhook: None,
    }
}

pub fn rooms_for(store: &Store, hms_base: &str, clock: shared::clock::Clock) -> shared::rooms::Rooms {
    shared::rooms::Rooms::new(store.clone(), hms_config(hms_base), clock).expect("rooms")
}

/// How a [`CheckoutEnv`] is set up.
pub struct EnvOptions {
    pub stripe_timeout: std::time::Duration,
    pub behind_proxy: bool,
}

impl Default for EnvOptions {
    fn default() -> Self {
        Self { stripe_timeout: std::time::Duration::from_secs(5), behind_proxy: false }
    }
}

impl CheckoutEnv {
    pub async fn start() -> Self {
        Self::start_with(EnvOptions::default()).await
    }

    pub async fn start_with_timeout(stripe_timeout: std::time::Duration) -> Self {
        Self::start_with(EnvOptions { stripe_timeout, ..EnvOptions::default() }).await
    }

    pub async fn start_with(options: EnvOptions) -> Self {
        let EnvOptions { stripe_timeout, behind_proxy } = options;
        let db = TestDb::start_with(behind_proxy).await;
        for teacher in [always_open_teacher("t_one", "eur", 0), always_open_teacher("t_two", "eur", 500), always_open_teacher("t_usd", "usd", 0)] {
            db.store.put_profile(&teacher).await.expect("seed teacher");
        }
        let stripe = start_stripe().await;
        let hms = start_hms().await;
        let checkout = checkout_app(&db.store_of("initiate-checkout"), &stripe.base_url(), &hms.base_url(), stripe_timeout, shared::clock::Clock::System).await;
        let slots = get_slots::App { store: db.store_of("get-slots"), clock: shared::clock::Clock::System };
        Self { db, stripe, hms, checkout, slots }
    }

    /// The event handler stripe-webhook runs on, wired to this table and both emulators.
    pub fn event_handler(&self, clock: shared::clock::Clock) -> shared::webhook::EventHandler {
        self.event_handler_of("stripe-webhook", clock)
    }

    /// The event handler as `function` (stripe-webhook, reconcile or create-booking) runs it.
    pub fn event_handler_of(&self, function: &str, clock: shared::clock::Clock) -> shared::webhook::EventHandler {
        let store = self.db.store_of(function);
        let config = shared::payments::StripeConfig { secret_key: STRIPE_KEY.into(), api_base: self.stripe.base_url(), timeout: std::time::Duration::from_secs(5) };
        shared::webhook::EventHandler {
            payments: shared::payments::Payments::new(&config).expect("stripe client"),
            rooms: rooms_for(&store, &self.hms.base_url(), clock),
            store,
            livemode: false,
        }
    }

    /// A paid checkout of `lessons` for `student`, booked through the
    /// webhook's own service; its id and its bookings.
    pub async fn paid_booking(&self, student: &str, lessons: Vec<Value>) -> (shared::domain::CheckoutId, Vec<shared::domain::BookingId>) {
        self.paid_checkout(student, &cart(lessons)).await
    }

    /// The same for any checkout body (a `timezone`, say).
    pub async fn paid_checkout(&self, student: &str, body: &Value) -> (shared::domain::CheckoutId, Vec<shared::domain::BookingId>) {
        let (status, created) = self.post(Some(&token_for(student)), body, None).await;
        assert_eq!(status, 201, "{created}");
        self.pay(created["checkout_url"].as_str().expect("checkout_url")).await;
        let id = shared::domain::CheckoutId::parse(created["checkout_id"].as_str().expect("checkout_id")).expect("checkout id");
        let (checkout, bookings) = shared::reconcile::book_checkout(&self.event_handler(shared::clock::Clock::System), &id, jiff::Timestamp::now()).await.expect("booked");
        assert_eq!(checkout.status, shared::store::CheckoutStatus::Confirmed);
        (id, bookings.into_iter().map(|b| b.booking_id).collect())
    }

    /// change-booking as deployed, deciding at `now`. Its rooms client mints
    /// 100ms tokens on the real clock: a token minted two days back would be
    /// expired whenever the lesson is early tomorrow.
    pub async fn change_booking_at(&self, now: jiff::Timestamp) -> change_booking::App {
        let store = self.db.store_of("change-booking");
        let stripe = shared::payments::StripeConfig { secret_key: STRIPE_KEY.into(), api_base: self.stripe.base_url(), timeout: std::time::Duration::from_secs(5) };
        let payments = shared::payments::Payments::new(&stripe).expect("stripe client");
        let changes = shared::changes::BookingChanges { rooms: rooms_for(&store, &self.hms.base_url(), shared::clock::Clock::System), store, payments, clock: shared::clock::Clock::Fixed(now) };
        change_booking::App { auth: hs256_auth().await, changes }
    }

    /// initiate-checkout on the same table and Stripe, at another instant.
    pub async fn checkout_at(&self, clock: shared::clock::Clock) -> initiate_checkout::App {
        checkout_app(&self.db.store_of("initiate-checkout"), &self.stripe.base_url(), &self.hms.base_url(), std::time::Duration::from_secs(5), clock).await
    }

    pub async fn delete(&self, token: &str, checkout_id: &str) -> (u16, Value) {
        self.call(FunctionUrlEvent::new("DELETE", "/").query("checkout_id", checkout_id).header("authorization", &format!("Bearer {token}"))).await
    }

    /// Presses Pay on the emulator's hosted page of a checkout's session.
    pub async fn pay(&self, checkout_url: &str) {
        // The page redirects to the frontend's success page, which is not running here.
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        let response = client.post(format!("{checkout_url}/complete")).send().await.expect("pay page");
        assert!(response.status().is_success() || response.status().is_redirection(), "pay: {}", response.status());
    }

    /// The emulator's stored session with this id.
    pub async fn session(&self, session_id: &str) -> Value {
        let all: Value = reqwest::get(format!("{}_emulator/sessions", self.stripe.base_url())).await.expect("sessions").json().await.expect("json");
        let list = all.as_array().cloned().or_else(|| all["data"].as_array().cloned()).unwrap_or_default();
        list.into_iter().find(|s| s["id"] == session_id).unwrap_or(Value::Null)
    }

    pub async fn post(&self, token: Option<&str>, body: &Value, idempotency_key: Option<&str>) -> (u16, Value) {
        let mut event = FunctionUrlEvent::new("POST", "/").header("content-type", "application/json").body(&body.to_string());
        if let Some(token) = token {
            event = event.header("authorization", &format!("Bearer {token}"));
        }
        if let Some(key) = idempotency_key {
            event = event.header("idempotency-key", key);
        }
        self.call(event).await
    }

    pub async fn call(&self, event: FunctionUrlEvent) -> (u16, Value) {
        call_app(&self.checkout, event).await
    }

    pub async fn status(&self, token: &str, checkout_id: &str) -> (u16, Value) {
        self.call(FunctionUrlEvent::get("/").query("checkout_id", checkout_id).header("authorization", &format!("Bearer {token}"))).await
    }

    /// Start times get-slots offers for `teacher` tomorrow (60-minute lessons).
    pub async fn open_starts(&self, teacher: &str, clock: shared::clock::Clock) -> Vec<String> {
        self.open_starts_at(teacher, &tomorrow_at("00:00"), clock).await
    }

    /// Start times get-slots offers for `teacher` on the UTC day of `at`, now.
    pub async fn open_starts_on(&self, teacher: &str, at: &str) -> Vec<String> {
        self.open_starts_at(teacher, at, shared::clock::Clock::System).await
    }

    async fn open_starts_at(&self, teacher: &str, at: &str, clock: shared::clock::Clock) -> Vec<String> {
        let day = at[..10].to_owned();
        let app = get_slots::App { store: self.db.store_of("get-slots"), clock };
        let event = FunctionUrlEvent::get("/").query("teacher_id", teacher).query("from", &day).query("to", &day).query("duration", "60");
        let (status, body) = json_of(&shared::http::into_response(get_slots::handle(&app, event.into_request()).await));
        assert_eq!(status, 200, "{body}");
        body["slots"].as_array().expect("slots").iter().map(|s| s["start"].as_str().expect("start").to_owned()).collect()
    }

    /// Every hold stored for `teacher` on the UTC day of `at` (RFC 3339).
    pub async fn holds(&self, teacher: &str, at: &str) -> Vec<shared::store::BusyEntry> {
        let teacher = shared::domain::TeacherId::parse(teacher).expect("teacher id");
        let day = shared::store::utc_day(at.parse().expect("timestamp"));
        let days = self.db.store.calendar_days(&teacher, day, day, shared::store::Read::Consistent).await.expect("calendar");
        days.into_iter().flat_map(|d| d.busy).filter(|b| b.kind == shared::store::BusyKind::Hold).collect()
    }
}

async fn checkout_app(store: &Store, stripe_base: &str, hms_base: &str, stripe_timeout: std::time::Duration, clock: shared::clock::Clock) -> initiate_checkout::App {
    let auth = hs256_auth().await;
    let stripe_config = shared::payments::StripeConfig { secret_key: STRIPE_KEY.into(), api_base: stripe_base.to_owned(), timeout: stripe_timeout };
    let checkout = shared::checkout::CheckoutService {
        store: store.clone(),
        payments: shared::payments::Payments::new(&stripe_config).expect("stripe client"),
        rooms: rooms_for(store, hms_base, clock),
        redirects: shared::checkout::RedirectPolicy::new(vec![FRONTEND.into()]).expect("origins"),
        clock,
    };
    initiate_checkout::App { auth, checkout }
}

/// Calls an initiate-checkout app with one event, keeping the headers.
pub async fn call_app_raw(app: &initiate_checkout::App, event: FunctionUrlEvent) -> Response<Body> {
    shared::http::into_response(initiate_checkout::handle(app, event.into_request()).await)
}

/// Calls an initiate-checkout app with one event.
pub async fn call_app(app: &initiate_checkout::App, event: FunctionUrlEvent) -> (u16, Value) {
    json_of(&shared::http::into_response(initiate_checkout::handle(app, event.into_request()).await))
}

pub fn lesson(teacher: &str, start: &str, minutes: u32) -> Value {
    json!({"teacher_id": teacher, "start": start, "duration_minutes": minutes})
}

pub fn cart(lessons: Vec<Value>) -> Value {
    json!({"lessons": lessons})
}
