//! get-slots through its real edge: Function URL events into the handler,
//! a real dynoxide table behind it.

use get_slots::App;
use jiff::Timestamp;
use serde_json::Value;
use shared::clock::Clock;
use shared::domain::TeacherId;
use shared::store::{BusyEntry, BusyKind, DayWrite, utc_day};
use tests::{FunctionUrlEvent, TestDb, json_of};

/// Monday 2026-11-23, 00:00 UTC: a week before the Monday the tests ask for.
fn monday() -> Timestamp {
    "2026-11-23T00:00:00Z".parse().unwrap()
}

async fn app() -> (TestDb, App) {
    let db = TestDb::start().await;
    db.seed_demo().await;
    let app = App { store: db.store_of("get-slots"), clock: Clock::Fixed(monday()) };
    (db, app)
}

fn slots_request() -> FunctionUrlEvent {
    FunctionUrlEvent::get("/").query("teacher_id", "t_anna").query("from", "2026-11-30").query("to", "2026-11-30").query("duration", "60")
}

async fn call(app: &App, event: FunctionUrlEvent) -> (u16, Value) {
    let response = shared::http::into_response(get_slots::handle(app, event.into_request()).await);
    json_of(&response)
}

fn starts(body: &Value) -> Vec<String> {
    body["slots"].as_array().unwrap().iter().map(|s| s["start"].as_str().unwrap().to_owned()).collect()
}

async fn add_busy(db: &TestDb, teacher: &str, start: &str, end: &str, kind: BusyKind, expires_at: Option<&str>) {
    let teacher = TeacherId::parse(teacher).unwrap();
    let entry = BusyEntry {
        start: start.parse().unwrap(),
        end: end.parse().unwrap(),
        kind,
        reference: "test".into(),
        expires_at: expires_at.map(|e| e.parse().unwrap()),
    };
    let day = utc_day(entry.start);
    let read = db.store.calendar_days(&teacher, day, day, shared::store::Read::Consistent).await.unwrap().remove(0);
    let mut busy = read.busy.clone();
    busy.push(entry);
    let item = db.store.day_write_item(&DayWrite { read, busy }).unwrap();
    db.store.transact(vec![item]).await.unwrap();
}

#[tokio::test]
async fn offers_the_working_ranges_of_a_winter_monday_in_utc() {
    let (_db, app) = app().await;
    let response = get_slots::handle(&app, slots_request().into_request()).await.unwrap();
    assert_eq!(response.headers()["cache-control"], "public, max-age=15");
    let (status, body) = json_of(&response);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["teacher_id"], "t_anna");
    assert_eq!(body["timezone"], "Europe/Berlin");
    assert_eq!(body["duration_minutes"], 60);
    assert_eq!(body["price"], serde_json::json!({"amount": 3000, "currency": "eur"}));
    // 09:00-12:00 and 13:00-17:00 Berlin (UTC+1); the 60-minute lesson must fit (its 10-minute buffer need not), 30-min grid.
    assert_eq!(
        starts(&body),
        [
            "2026-11-30T08:00:00Z", "2026-11-30T08:30:00Z", "2026-11-30T09:00:00Z", "2026-11-30T09:30:00Z",
            "2026-11-30T10:00:00Z", "2026-11-30T12:00:00Z", "2026-11-30T12:30:00Z", "2026-11-30T13:00:00Z",
            "2026-11-30T13:30:00Z", "2026-11-30T14:00:00Z", "2026-11-30T14:30:00Z", "2026-11-30T15:00:00Z",
        ]
    );
    assert_eq!(body["slots"][0]["end"], "2026-11-30T09:00:00Z");
}

#[tokio::test]
async fn bookings_and_live_holds_block_with_their_buffer_but_expired_holds_do_not() {
    let (db, app) = app().await;
    add_busy(&db, "t_anna", "2026-11-30T08:00:00Z", "2026-11-30T09:00:00Z", BusyKind::Booking, None).await;
    // A hold that expired before "now" must not block the afternoon.
    add_busy(&db, "t_anna", "2026-11-30T12:00:00Z", "2026-11-30T13:00:00Z", BusyKind::Hold, Some("2026-11-22T00:00:00Z")).await;
    // A live hold blocks 14:00Z and, through the buffers, the neighbours that would touch it.
    add_busy(&db, "t_anna", "2026-11-30T14:00:00Z", "2026-11-30T14:30:00Z", BusyKind::Hold, Some("2026-12-01T00:00:00Z")).await;
    let (status, body) = call(&app, slots_request()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        starts(&body),
        ["2026-11-30T09:30:00Z", "2026-11-30T10:00:00Z", "2026-11-30T12:00:00Z", "2026-11-30T12:30:00Z", "2026-11-30T15:00:00Z"],
        "booking 08:00-09:00 (+10) blocks until 09:10; hold 14:00-14:30 (+10) blocks starts from 12:50 to 14:30"
    );
}

#[tokio::test]
async fn reads_the_range_in_the_requested_zone() {
    let (_db, app) = app().await;
    // 2026-11-30 in Tokyo is 2026-11-29T15:00Z .. 2026-11-30T15:00Z, which holds every start of
    // that Berlin Monday but the last, 15:00Z (already Tuesday in Tokyo).
    let (status, body) = call(&app, slots_request().query("tz", "Asia/Tokyo")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["timezone"], "Asia/Tokyo");
    assert_eq!(body["teacher_timezone"], "Europe/Berlin");
    assert_eq!(starts(&body).len(), 11);
    let (_, body) = call(&app, FunctionUrlEvent::get("/").query("teacher_id", "t_anna").query("from", "2026-12-01").query("to", "2026-12-01").query("duration", "60").query("tz", "Pacific/Kiritimati")).await;
    // Kiritimati is UTC+14: 2026-12-01 there is 2026-11-30T10:00Z .. 2026-12-01T10:00Z.
    let got = starts(&body);
    assert!(got.iter().all(|s| s.as_str() >= "2026-11-30T10:00:00Z" && s.as_str() < "2026-12-01T10:00:00Z"), "{got:?}");
    assert!(got.contains(&"2026-11-30T12:00:00Z".to_owned()) && got.contains(&"2026-12-01T08:00:00Z".to_owned()), "{got:?}");
}

#[tokio::test]
async fn offers_trial_slots_with_the_trial_price() {
    let (_db, app) = app().await;
    let (status, body) = call(&app, FunctionUrlEvent::get("/").query("teacher_id", "t_anna").query("from", "2026-11-30").query("to", "2026-11-30").query("duration", "trial")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["duration_minutes"], 30);
    assert_eq!(body["trial"], true);
    assert_eq!(body["price"]["amount"], 0);
    assert_eq!(starts(&body).first().map(String::as_str), Some("2026-11-30T08:00:00Z"));
}

#[tokio::test]
async fn a_day_off_override_offers_nothing() {
    let (_db, app) = app().await;
    // 2026-12-24 is a Thursday (normally 09-17) with an empty override.
    let (status, body) = call(&app, FunctionUrlEvent::get("/").query("teacher_id", "t_anna").query("from", "2026-12-24").query("to", "2026-12-24").query("duration", "30")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["slots"], serde_json::json!([]));
}

async fn expect_error(app: &App, event: FunctionUrlEvent, status: u16, code: &str, field: Option<&str>) {
    let (got, body) = call(app, event).await;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    if let Some(field) = field {
        assert_eq!(body["error"]["field"], field, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(field), "{body}");
    }
}

#[tokio::test]
async fn rejects_bad_input_with_clear_json_errors() {
    let (_db, app) = app().await;
    let base = || FunctionUrlEvent::get("/");
    expect_error(&app, base().query("from", "2026-11-30").query("to", "2026-11-30").query("duration", "60"), 400, "invalid_request", Some("teacher_id")).await;
    expect_error(&app, base().query("teacher_id", "T ANNA!").query("from", "2026-11-30").query("to", "2026-11-30").query("duration", "60"), 400, "invalid_request", Some("teacher_id")).await;
    expect_error(&app, slots_request().query("tz", "Mars/Olympus"), 400, "invalid_request", Some("tz")).await;
    for bad in ["2026-13-01", "30.11.2026", "2026-11-30T00:00", "tomorrow", "2026-2-1"] {
        expect_error(&app, base().query("teacher_id", "t_anna").query("from", bad).query("to", "2026-11-30").query("duration", "60"), 400, "invalid_request", Some("from")).await;
    }
    expect_error(&app, base().query("teacher_id", "t_anna").query("from", "2026-11-30").query("to", "2026-11-29").query("duration", "60"), 400, "invalid_request", Some("to")).await;
    expect_error(&app, base().query("teacher_id", "t_anna").query("from", "2026-11-30").query("to", "2027-02-01").query("duration", "60"), 400, "invalid_request", Some("to")).await;
    for bad in ["0", "-30", "sixty", "60.5", ""] {
        expect_error(&app, base().query("teacher_id", "t_anna").query("from", "2026-11-30").query("to", "2026-11-30").query("duration", bad), 400, "invalid_request", Some("duration")).await;
    }
    expect_error(&app, base().query("teacher_id", "t_anna").query("from", "2026-11-30").query("to", "2026-11-30").query("duration", "45"), 400, "duration_not_offered", None).await;
    expect_error(&app, base().query("teacher_id", "t_ben").query("from", "2026-11-30").query("to", "2026-11-30").query("duration", "trial"), 400, "duration_not_offered", None).await;
    expect_error(&app, base().query("teacher_id", "t_nobody").query("from", "2026-11-30").query("to", "2026-11-30").query("duration", "60"), 404, "teacher_not_found", None).await;
    let post = FunctionUrlEvent::new("POST", "/").query("teacher_id", "t_anna").body("{}");
    expect_error(&app, post, 405, "method_not_allowed", None).await;
}

#[tokio::test]
async fn a_62_day_range_is_accepted() {
    let (_db, app) = app().await;
    let (status, body) = call(&app, FunctionUrlEvent::get("/").query("teacher_id", "t_anna").query("from", "2026-11-23").query("to", "2027-01-24").query("duration", "30")).await;
    assert_eq!(status, 200, "{body}");
    let got = starts(&body);
    // Horizon is 60 days from now: nothing ends after 2027-01-22T00:00Z; min notice 12 h.
    assert!(got.first().is_some_and(|s| s.as_str() >= "2026-11-23T12:00:00Z"), "{:?}", got.first());
    assert!(got.last().is_some_and(|s| s.as_str() < "2027-01-22T00:00:00Z"), "{:?}", got.last());
    let mut sorted = got.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, got);
}
