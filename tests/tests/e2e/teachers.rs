//! The teacher directory (get-teachers) and self-service (teacher-profile)
//! on dynoxide, with real JWTs: paging under concurrent writes, the first
//! open start against get-slots, nothing private, versions and
//! preconditions, who may do what, and that a change of profile never moves
//! what is already booked or held.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use shared::auth::Role;
use shared::clock::Clock;
use shared::domain::{ProfileDoc, TeacherId, TeacherProfile};
use shared::store::BookingStatus;
use tests::{CheckoutEnv, FunctionUrlEvent, TestDb, always_open_teacher, cart, json_of, lesson, token_as, token_for, tomorrow_at};

/// Subjects as Supabase or Cognito issue them.
const UUID_SUB: &str = "0b7e3f1a-5c2d-4e8f-9a61-2f3b4c5d6e7f";

fn directory(db: &TestDb, now: Timestamp) -> get_teachers::App {
    get_teachers::App { store: db.store_of("get-teachers"), clock: Clock::Fixed(now) }
}

async fn get(app: &get_teachers::App, query: &[(&str, &str)]) -> (u16, Value, Option<String>) {
    let mut event = FunctionUrlEvent::get("/");
    for (k, v) in query {
        event = event.query(k, v);
    }
    let response = shared::http::into_response(get_teachers::handle(app, event.into_request()).await);
    let cache = response.headers().get("cache-control").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (status, body) = json_of(&response);
    (status, body, cache)
}

async fn editing(db: &TestDb) -> teacher_profile::App {
    teacher_profile::App { auth: tests::hs256_auth().await, editing: shared::teacher_profile::ProfileEditing { store: db.store_of("teacher-profile") }, clock: Clock::System }
}

/// Status, body and ETag of a teacher-profile call.
async fn call(app: &teacher_profile::App, event: FunctionUrlEvent) -> (u16, Value, Option<String>) {
    let response = shared::http::into_response(teacher_profile::handle(app, event.into_request()).await);
    let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (status, body) = json_of(&response);
    (status, body, etag)
}

async fn read(app: &teacher_profile::App, token: &str) -> (u16, Value, Option<String>) {
    call(app, FunctionUrlEvent::get("/").header("authorization", &format!("Bearer {token}"))).await
}

async fn put(app: &teacher_profile::App, token: &str, if_match: Option<&str>, doc: &Value) -> (u16, Value, Option<String>) {
    let mut event = FunctionUrlEvent::new("PUT", "/").header("authorization", &format!("Bearer {token}")).header("content-type", "application/json").body(&doc.to_string());
    if let Some(tag) = if_match {
        event = event.header("if-match", tag);
    }
    call(app, event).await
}

/// `always_open_teacher(id)` with `zone`, whose login is `user_id`.
fn teacher(id: &str, user_id: Option<&str>, zone: &str) -> TeacherProfile {
    let mut doc = always_open_teacher(id, "eur", 500).to_doc();
    doc.user_id = user_id.map(str::to_owned);
    doc.timezone = zone.to_owned();
    TeacherProfile::try_from(doc).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_teacher_is_listed_exactly_once_across_pages_while_profiles_change() {
    let db = TestDb::start().await;
    let ids: Vec<String> = (0..23).map(|i| format!("t_{i:02}")).collect();
    for id in &ids {
        db.store.put_profile(&teacher(id, None, "UTC")).await.unwrap();
    }
    let app = directory(&db, Timestamp::now());
    let writer = {
        let store = db.store.clone();
        let ids = ids.clone();
        tokio::spawn(async move {
            for round in 0..3 {
                for id in &ids {
                    let mut doc = teacher(id, None, "UTC").to_doc();
                    doc.name = format!("Teacher {id}, round {round}");
                    store.put_profile(&TeacherProfile::try_from(doc).unwrap()).await.unwrap();
                }
            }
        })
    };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit", "5")];
        if let Some(c) = &cursor {
            query.push(("cursor", c.as_str()));
        }
        let (status, page, cache) = get(&app, &query).await;
        assert_eq!((status, cache.as_deref()), (200, Some("public, max-age=30")), "{page}");
        let teachers = page["teachers"].as_array().unwrap();
        assert!(teachers.len() <= 5);
        seen.extend(teachers.iter().map(|t| t["teacher_id"].as_str().unwrap().to_owned()));
        assert!(teachers.iter().all(|t| t["next_open_start"].is_string()), "every always-open teacher has an open start: {page}");
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    writer.await.unwrap();
    assert_eq!(seen, ids, "each exactly once, in order");

    let (status, bad, cache) = get(&app, &[("limit", "51")]).await;
    assert_eq!((status, bad["error"]["field"].as_str(), cache), (400, Some("limit"), None), "errors are not cached");
    assert_eq!(get(&app, &[("limit", "0")]).await.0, 400);
    assert_eq!(get(&app, &[("cursor", "Not An Id")]).await.1["error"]["field"], "cursor");
    assert_eq!(get(&app, &[("teacher_id", "")]).await.1["error"]["field"], "teacher_id", "blank is not absent");
    assert_eq!(get(&app, &[("limit", "")]).await.0, 400);
    let (status, missing, _) = get(&app, &[("teacher_id", "t_nobody")]).await;
    assert_eq!((status, missing["error"]["code"].as_str()), (404, Some("teacher_not_found")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_shows_what_a_student_needs_and_nothing_private() {
    let env = CheckoutEnv::start().await;
    env.db.store.put_profile(&teacher("t_login", Some(UUID_SUB), "Europe/Berlin")).await.unwrap();
    let at = tomorrow_at("10:00");
    env.paid_booking("s_1", vec![lesson("t_login", &at, 60)]).await;
    // As a teacher's cancellation counts it (a transaction of its own here).
    env.db.store.transact(vec![env.db.store.teacher_count_item(&TeacherId::parse("t_login").unwrap(), shared::store::TeacherCount::Cancellations, 1).unwrap()]).await.unwrap();
    let (status, card, _) = get(&directory(&env.db, Timestamp::now()), &[("teacher_id", "t_login")]).await;
    assert_eq!(status, 200, "{card}");
    assert_eq!(card["teacher_cancellations"], 1);
    let (_, page, _) = get(&directory(&env.db, Timestamp::now()), &[]).await;
    let counts: Vec<(&str, u64)> = page["teachers"].as_array().unwrap().iter().map(|c| (c["teacher_id"].as_str().unwrap(), c["teacher_cancellations"].as_u64().unwrap())).collect();
    assert_eq!(counts, [("t_login", 1), ("t_one", 0), ("t_two", 0), ("t_usd", 0)], "the page's batch of statistics");
    assert!(page["teachers"].as_array().unwrap().iter().all(|c| c["next_open_start"].is_string()));
    let keys: Vec<&str> = card.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["cancellation", "currency", "lessons", "name", "next_open_start", "package_valid_days", "packages", "teacher_cancellations", "teacher_id", "timezone", "trial"]);
    assert_eq!((card["packages"].clone(), card["package_valid_days"].as_u64()), (json!([]), Some(180)), "no packages offered; the default validity");
    assert_eq!(card["lessons"], json!([{"duration_minutes": 60, "price": 3000}, {"duration_minutes": 30, "price": 1800}]));
    assert_eq!(card["trial"], json!({"duration_minutes": 30, "price": 500}));
    assert_eq!(card["cancellation"], json!({"free_cancel_hours": 24, "late_cancel_refund_percent": 0, "reschedule_hours": 24, "max_reschedules": 2}));
    let text = card.to_string();
    assert!(!text.contains(UUID_SUB) && !text.contains("s_1") && !text.contains("bk_"), "no login, no student, no booking: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_open_start_is_get_slots_first_slot_across_a_clock_change() {
    use jiff::tz::TimeZone;
    let env = CheckoutEnv::start().await;
    let zone = TimeZone::get("Europe/Berlin").unwrap();
    // A teacher who works only Sundays, 09:00-12:00 Berlin time; clocks change on Sundays.
    let mut doc = teacher("t_sunday", None, "Europe/Berlin").to_doc();
    doc.weekly = [("sun".to_owned(), vec![["09:00".to_owned(), "12:00".to_owned()]])].into_iter().collect();
    doc.horizon_days = 365;
    env.db.store.put_profile(&TeacherProfile::try_from(doc).unwrap()).await.unwrap();
    // Four days before Berlin's next clock change (at least a week away).
    let change = zone.following(Timestamp::now() + SignedDuration::from_hours(7 * 24)).next().unwrap().timestamp();
    let now = change - SignedDuration::from_hours(4 * 24);

    let (_, card, _) = get(&directory(&env.db, now), &[("teacher_id", "t_sunday")]).await;
    let from = zone.to_datetime(now).date();
    let to = from.checked_add(jiff::Span::new().days(14)).unwrap();
    let slots = get_slots::App { store: env.db.store_of("get-slots"), clock: Clock::Fixed(now) };
    let event = FunctionUrlEvent::get("/").query("teacher_id", "t_sunday").query("from", &from.to_string()).query("to", &to.to_string()).query("duration", "30");
    let (status, page) = json_of(&shared::http::into_response(get_slots::handle(&slots, event.into_request()).await));
    assert_eq!(status, 200, "{page}");
    let first = page["slots"][0]["start"].as_str().unwrap();
    assert_eq!(card["next_open_start"].as_str(), Some(first), "the shortest lesson (30) on the first Sunday");
    let first: Timestamp = first.parse().unwrap();
    assert!(first > change, "the first Sunday is the one the clocks change on");
    assert_eq!(zone.to_datetime(first).time(), jiff::civil::time(9, 0, 0, 0), "09:00 local after the change");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teacher_adds_a_day_off_with_the_version_they_read_and_what_is_booked_stays() {
    let env = CheckoutEnv::start().await;
    env.db.store.put_profile(&teacher("t_uuid", Some(UUID_SUB), "UTC")).await.unwrap();
    let (booked, held, free) = (tomorrow_at("10:00"), tomorrow_at("14:00"), tomorrow_at("16:00"));
    let (_, bookings) = env.paid_booking("s_1", vec![lesson("t_uuid", &booked, 60)]).await;
    assert_eq!(env.post(Some(&token_for("s_2")), &cart(vec![lesson("t_uuid", &held, 60)]), None).await.0, 201);
    let app = editing(&env.db).await;
    let me = token_as(UUID_SUB, Role::Teacher);

    let (status, mine, etag) = read(&app, &me).await;
    assert_eq!(status, 200, "{mine}");
    let version = mine["version"].as_u64().unwrap();
    assert_eq!(etag, Some(format!("\"{version}\"")));
    assert_eq!(mine["user_id"], UUID_SUB);

    let mut day_off = mine.clone();
    day_off["overrides"] = json!({ &booked[..10]: [] });
    let (status, saved, etag) = put(&app, &me, Some(&format!("\"{version}\"")), &day_off).await;
    assert_eq!((status, saved["version"].as_u64()), (200, Some(version + 1)), "{saved}");
    assert_eq!(etag, Some(format!("\"{}\"", version + 1)));

    assert!(!env.open_starts_on("t_uuid", &free).await.contains(&free), "get-slots stops offering the day at once");
    assert_eq!(env.db.store.get_booking(&bookings[0]).await.unwrap().unwrap().status, BookingStatus::Confirmed, "the booking on it still happens");
    assert_eq!(env.holds("t_uuid", &held).await.len(), 1, "the hold in flight stays");

    let (status, stale, _) = put(&app, &me, Some(&format!("\"{version}\"")), &day_off).await;
    assert_eq!((status, stale["error"]["code"].as_str()), (412, Some("version_mismatch")));
    let (status, missing, _) = put(&app, &me, None, &day_off).await;
    assert_eq!((status, missing["error"]["code"].as_str()), (428, Some("precondition_required")));
    let history = env.db.store.profile_history(&TeacherId::parse("t_uuid").unwrap()).await.unwrap();
    assert_eq!(history.last().map(|c| (c.version, c.by.as_str())), Some((version + 1, UUID_SUB)), "{history:?}");
    let written = history.last().and_then(|c| c.profile.as_ref()).unwrap();
    assert!(written.overrides.get(&booked[..10]).is_some_and(Vec::is_empty), "the history keeps what was written, so a change can be seen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_writers_of_one_version_one_wins() {
    let db = TestDb::start().await;
    db.store.put_profile(&teacher("t_uuid", Some(UUID_SUB), "UTC")).await.unwrap();
    let app = editing(&db).await;
    let me = token_as(UUID_SUB, Role::Teacher);
    let (_, mine, etag) = read(&app, &me).await;
    let (mut a, mut b) = (mine.clone(), mine.clone());
    a["name"] = json!("Written by A");
    b["name"] = json!("Written by B");
    let (ra, rb) = tokio::join!(put(&app, &me, etag.as_deref(), &a), put(&app, &me, etag.as_deref(), &b));
    let mut statuses = [ra.0, rb.0];
    statuses.sort();
    assert_eq!(statuses, [200, 412], "{ra:?} {rb:?}");
    let winner = if ra.0 == 200 { "Written by A" } else { "Written by B" };
    assert_eq!(read(&app, &me).await.1["name"], winner);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_teacher_or_an_admin_reads_or_writes_a_profile() {
    let db = TestDb::start().await;
    db.store.put_profile(&teacher("t_uuid", Some(UUID_SUB), "UTC")).await.unwrap();
    db.store.put_profile(&teacher("t_other", Some("other-login"), "UTC")).await.unwrap();
    let app = editing(&db).await;
    let me = token_as(UUID_SUB, Role::Teacher);
    let (_, mine, etag) = read(&app, &me).await;

    assert_eq!(read(&app, &token_for("s_1")).await.0, 403, "a student");
    assert_eq!(put(&app, &token_for("s_1"), etag.as_deref(), &mine).await.0, 403, "a student writes nothing");
    let named = FunctionUrlEvent::new("PUT", "/").query("teacher_id", "t_uuid").header("authorization", &format!("Bearer {me}")).header("if-match", etag.as_deref().unwrap()).body(&mine.to_string());
    assert_eq!(call(&app, named).await.0, 403, "naming a profile is for admins, even one's own");
    assert_eq!(call(&app, FunctionUrlEvent::get("/").query("teacher_id", "t_other").header("authorization", &format!("Bearer {me}"))).await.0, 403, "naming a teacher is for admins");
    assert_eq!(read(&app, &token_as("nobody", Role::Teacher)).await.1["error"]["code"], "teacher_not_found", "a login with no profile");
    assert_eq!(call(&app, FunctionUrlEvent::get("/")).await.0, 401);

    let (_, theirs, their_tag) = call(&app, FunctionUrlEvent::get("/").query("teacher_id", "t_other").header("authorization", &format!("Bearer {}", token_as("ops", Role::Admin)))).await;
    let mut hijack = theirs.clone();
    hijack["name"] = json!("Mine now");
    let (status, refused, _) = put(&app, &me, their_tag.as_deref(), &hijack).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (404, Some("teacher_not_found")), "another teacher's profile is not found");
    let mut moved_login = mine.clone();
    moved_login["user_id"] = json!("someone-else");
    assert_eq!(put(&app, &me, etag.as_deref(), &moved_login).await.1["error"]["field"], "user_id", "a teacher keeps their login");
    let mut no_login = mine.clone();
    no_login.as_object_mut().unwrap().remove("user_id");
    let (status, kept, _) = put(&app, &me, etag.as_deref(), &no_login).await;
    assert_eq!((status, kept["user_id"].as_str()), (200, Some(UUID_SUB)), "leaving it out keeps it");

    let admin = token_as("ops", Role::Admin);
    let mut new = teacher("t_new", Some("new-login"), "UTC").to_doc();
    new.name = "Created by an operator".into();
    new.email = None;
    let without_email = FunctionUrlEvent::new("PUT", "/").query("teacher_id", "t_new").header("authorization", &format!("Bearer {admin}")).header("if-none-match", "*").body(&serde_json::to_string(&new).unwrap());
    let (status, refused, _) = call(&app, without_email).await;
    assert_eq!((status, refused["error"]["field"].as_str()), (400, Some("email")), "a new profile says where its notices go: {refused}");
    new.email = Some("new.teacher@example.com".into());
    let create = |tag: &'static str| FunctionUrlEvent::new("PUT", "/").query("teacher_id", "t_new").header("authorization", &format!("Bearer {admin}")).header("if-none-match", tag).body(&serde_json::to_string(&new).unwrap());
    let (status, created, etag) = call(&app, create("*")).await;
    assert_eq!((status, created["version"].as_u64(), etag.as_deref()), (201, Some(1), Some("\"1\"")), "{created}");
    assert_eq!(call(&app, create("*")).await.1["error"]["code"], "teacher_exists");
    assert_eq!(db.store.teacher_of("new-login").await.unwrap(), Some(TeacherId::parse("t_new").unwrap()), "its login maps to it");
    assert_eq!(db.store.profile_history(&TeacherId::parse("t_new").unwrap()).await.unwrap()[0].by, "admin:ops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_zone_change_keeps_every_booking_at_its_instant() {
    let env = CheckoutEnv::start().await;
    env.db.store.put_profile(&teacher("t_uuid", Some(UUID_SUB), "UTC")).await.unwrap();
    let at = tomorrow_at("10:00");
    let (_, bookings) = env.paid_booking("s_1", vec![lesson("t_uuid", &at, 60)]).await;
    let app = editing(&env.db).await;
    let me = token_as(UUID_SUB, Role::Teacher);
    let (_, mut mine, etag) = read(&app, &me).await;
    mine["timezone"] = json!("America/New_York");
    mine["weekly"] = json!({"mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]], "wed": [["09:00", "17:00"]], "thu": [["09:00", "17:00"]], "fri": [["09:00", "17:00"]], "sat": [["09:00", "17:00"]], "sun": [["09:00", "17:00"]]});
    assert_eq!(put(&app, &me, etag.as_deref(), &mine).await.0, 200);
    let booking = env.db.store.get_booking(&bookings[0]).await.unwrap().unwrap();
    assert_eq!((booking.start, booking.status), (at.parse().unwrap(), BookingStatus::Confirmed), "the booking stays at its instant");
    let open = env.open_starts_on("t_uuid", &at).await;
    // 09:00-17:00 in New York is 14:00-22:00 UTC (or 13:00-21:00 in summer).
    assert!(!open.is_empty() && open.iter().all(|s| &s[11..13] >= "13"), "slots follow New York's hours at once: {open:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_is_refused_with_the_errors_admin_check_gives_for_the_same_file() {
    let db = TestDb::start().await;
    db.store.put_profile(&teacher("t_uuid", Some(UUID_SUB), "UTC")).await.unwrap();
    let app = editing(&db).await;
    let me = token_as(UUID_SUB, Role::Teacher);
    let (_, mine, etag) = read(&app, &me).await;
    let dir = std::env::temp_dir().join(format!("teachers-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (field, broken) in [("weekly.mon[1]", json!({"mon": [["09:00", "12:00"], ["11:00", "13:00"]]})), ("weekly.funday", json!({"funday": []}))] {
        let mut doc = mine.clone();
        doc.as_object_mut().unwrap().remove("version");
        doc["weekly"] = broken;
        let path = dir.join("profile.json");
        std::fs::write(&path, doc.to_string()).unwrap();
        let checked = infra::seed::read_profiles(&path).unwrap_err().to_string();
        let (status, refused, _) = put(&app, &me, etag.as_deref(), &doc).await;
        assert_eq!((status, refused["error"]["field"].as_str()), (400, Some(field)), "{refused}");
        let message = format!("{}: {}", field, refused["error"]["message"].as_str().unwrap().trim_start_matches(&format!("{field}: ")));
        assert!(checked.ends_with(&message), "admin check says {checked:?}, the endpoint {message:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_profile_a_stricter_rule_refuses_is_still_served_and_flagged_not_a_500() {
    let env = CheckoutEnv::start().await;
    // Written under rules that allowed a 300-minute buffer (the limit is 240 now).
    let mut doc: ProfileDoc = teacher("t_old", Some(UUID_SUB), "UTC").to_doc();
    doc.buffer_minutes = 300;
    let lenient = shared::domain::profile::validate(doc.clone(), shared::domain::Rules::AsStored).unwrap();
    env.db.store.put_profile(&lenient).await.unwrap();

    assert!(!env.open_starts_on("t_old", &tomorrow_at("10:00")).await.is_empty(), "get-slots serves it as stored");
    let (status, card, _) = get(&directory(&env.db, Timestamp::now()), &[("teacher_id", "t_old")]).await;
    assert_eq!((status, card["teacher_id"].as_str()), (200, Some("t_old")));
    let report = shared::reconcile::run(&env.event_handler_of("reconcile", Clock::System), Timestamp::now()).await;
    assert_eq!(report.profiles.needs_attention, 1, "{report:?}");
    let flagged = env.db.store.attention().await.unwrap();
    assert_eq!((flagged.len(), flagged[0].kind, flagged[0].code.as_deref()), (1, shared::store::AttentionKind::ProfileInvalid, Some("buffer_minutes")));
    assert_eq!(shared::reconcile::run(&env.event_handler_of("reconcile", Clock::System), Timestamp::now()).await.profiles.needs_attention, 0, "flagged once");
    let (status, refused) = env.post(Some(&token_for("s_9")), &cart(vec![lesson("t_old", &tomorrow_at("10:00"), 60)]), None).await;
    assert_eq!(status, 201, "a buffer over the limit charges nothing wrong: {refused}");
    // A price below Stripe's minimum is never charged, though its slots are shown.
    let mut cheap = teacher("t_cheap", None, "UTC").to_doc();
    cheap.lessons[0].price = 10;
    env.db.store.put_profile(&shared::domain::profile::validate(cheap, shared::domain::Rules::AsStored).unwrap()).await.unwrap();
    assert!(!env.open_starts_on("t_cheap", &tomorrow_at("10:00")).await.is_empty());
    let (status, refused) = env.post(Some(&token_for("s_9")), &cart(vec![lesson("t_cheap", &tomorrow_at("12:00"), 60)]), None).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("teacher_unavailable")), "{refused}");

    // Hand-edited into something no reader knows: left out, never a 500, and flagged too.
    env.db.store.put_profile(&teacher("t_broken", None, "UTC")).await.unwrap();
    let key = std::collections::HashMap::from([("pk".to_owned(), aws_sdk_dynamodb::types::AttributeValue::S("TEACHER#t_broken".into())), ("sk".to_owned(), aws_sdk_dynamodb::types::AttributeValue::S("PROFILE".into()))]);
    env.db.store.client().update_item().table_name(env.db.store.table()).set_key(Some(key)).update_expression("SET #p.#x = :x").expression_attribute_names("#p", "profile").expression_attribute_names("#x", "shoe_size").expression_attribute_values(":x", aws_sdk_dynamodb::types::AttributeValue::N("42".into())).send().await.unwrap();
    let (status, page, _) = get(&directory(&env.db, Timestamp::now()), &[]).await;
    assert_eq!(status, 200, "{page}");
    assert!(page["teachers"].as_array().unwrap().iter().all(|c| c["teacher_id"] != "t_broken") && page["teachers"].as_array().unwrap().iter().any(|c| c["teacher_id"] == "t_old"));
    let report = shared::reconcile::run(&env.event_handler_of("reconcile", Clock::System), Timestamp::now()).await;
    assert!(report.changes.contains(&"t_broken profile needs attention".to_owned()), "the unreadable one is flagged as well: {report:?}");

    let app = editing(&env.db).await;
    let me = token_as(UUID_SUB, Role::Teacher);
    let (status, mine, etag) = read(&app, &me).await;
    assert_eq!((status, mine["buffer_minutes"].as_u64()), (200, Some(300)), "read as stored");
    assert_eq!(put(&app, &me, etag.as_deref(), &mine).await.1["error"]["field"], "buffer_minutes", "writes refused until fixed");
    let mut fixed = mine.clone();
    fixed["buffer_minutes"] = json!(30);
    assert_eq!(put(&app, &me, etag.as_deref(), &fixed).await.0, 200);
}
