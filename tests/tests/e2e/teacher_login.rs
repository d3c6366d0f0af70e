//! Teachers are recognised by their login (the token's `sub`, mapped to a
//! profile by its `user_id`), whatever their identity provider's subjects
//! look like: real JWTs, the join-lesson handler, dynoxide, the 100ms and
//! Stripe emulators, and the admin CLI's seed loader.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use shared::auth::Role;
use shared::clock::Clock;
use shared::domain::{BookingId, TeacherId, TeacherProfile};
use shared::rooms::Joining;
use shared::store::ProfileWriteError;
use tests::{CheckoutEnv, FunctionUrlEvent, JWT_SECRET, TestDb, always_open_teacher, json_of, lesson, rooms_for, tomorrow_at};

/// Subjects as Supabase or Cognito (a UUID, here starting with a digit),
/// Auth0 and Firebase (mixed case) issue them.
const UUID_SUB: &str = "0b7e3f1a-5c2d-4e8f-9a61-2f3b4c5d6e7f";
const AUTH0_SUB: &str = "auth0|65f1c2d3e4a5b6c7d8e9f001";
const MIXED_SUB: &str = "Xk9LmQ2pRs7TuVw3YzA1bC4dE5f2";

use tests::token_as as token;

/// `always_open_teacher(id)` whose login is `user_id`.
fn teacher_with_login(id: &str, user_id: Option<&str>) -> TeacherProfile {
    let mut doc = always_open_teacher(id, "eur", 0).to_doc();
    doc.user_id = user_id.map(str::to_owned);
    TeacherProfile::try_from(doc).unwrap()
}

fn joining(env: &CheckoutEnv, clock: Clock) -> join_lesson::App {
    use shared::auth::{AuthConfig, Authenticator, KeySource};
    let config = AuthConfig { keys: KeySource::Hs256 { secret: JWT_SECRET.into() }, issuer: None, audience: None, admins: tests::local_admins() };
    let auth = tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(Authenticator::new(config, reqwest::Client::new()))).unwrap();
    join_lesson::App { auth, joining: Joining { rooms: rooms_for(&env.db.store_of("join-lesson"), &env.hms.base_url(), clock), opens_before: SignedDuration::from_mins(15), clock } }
}

async fn call(app: &join_lesson::App, event: FunctionUrlEvent) -> (u16, Value) {
    json_of(&shared::http::into_response(join_lesson::handle(app, event.into_request()).await))
}

async fn join(app: &join_lesson::App, token: &str, booking: &BookingId) -> (u16, Value) {
    call(app, FunctionUrlEvent::new("POST", "/").header("authorization", &format!("Bearer {token}")).body(&json!({"booking_id": booking}).to_string())).await
}

/// The booking ids the listing shows the caller, with the role it shows.
async fn listed(app: &join_lesson::App, token: &str) -> Vec<(String, String)> {
    let (status, body) = call(app, FunctionUrlEvent::get("/").header("authorization", &format!("Bearer {token}"))).await;
    assert_eq!(status, 200, "{body}");
    body["bookings"].as_array().unwrap().iter().map(|b| (b["booking_id"].as_str().unwrap().to_owned(), b["role"].as_str().unwrap().to_owned())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teachers_with_provider_subjects_list_and_join_their_lessons_and_nobody_else_does() {
    let env = CheckoutEnv::start().await;
    let teachers = [teacher_with_login("t_uuid", Some(UUID_SUB)), teacher_with_login("t_auth0", Some(AUTH0_SUB)), teacher_with_login("t_mixed", Some(MIXED_SUB))];
    infra::seed::load_profiles(&env.db.store, &teachers).await.unwrap();
    let starts = [tomorrow_at("08:00"), tomorrow_at("10:00"), tomorrow_at("12:00"), tomorrow_at("14:00")];
    // t_one gives no user_id: its login is its id, as before.
    let (_, bookings) = env.paid_booking("s_a", vec![lesson("t_uuid", &starts[0], 60), lesson("t_auth0", &starts[1], 60), lesson("t_mixed", &starts[2], 60), lesson("t_one", &starts[3], 60)]).await;
    let now = joining(&env, Clock::System);

    for (i, sub) in [UUID_SUB, AUTH0_SUB, MIXED_SUB, "t_one"].into_iter().enumerate() {
        let teacher = token(sub, Role::Teacher);
        assert_eq!(listed(&now, &teacher).await, [(bookings[i].to_string(), "teacher".to_owned())], "{sub} lists exactly their lesson");
        let start: Timestamp = starts[i].parse().unwrap();
        let during = joining(&env, Clock::Fixed(start + SignedDuration::from_mins(5)));
        let (status, ticket) = join(&during, &teacher, &bookings[i]).await;
        assert_eq!((status, ticket["role"].as_str()), (200, Some("teacher")), "{sub}: {ticket}");
        let stored = env.db.store.get_booking(&bookings[i]).await.unwrap().unwrap();
        assert_eq!(ticket["room_code"].as_str(), stored.teacher_room_code.as_deref());
        let claims = tests::hms_token_claims(ticket["token"].as_str().unwrap());
        assert_eq!((claims["user_id"].as_str(), claims["role"].as_str()), (Some(sub), Some("host")), "the app token carries the login");
        // Another teacher's login gets nothing of this lesson.
        let other = token([UUID_SUB, AUTH0_SUB, MIXED_SUB, "t_one"][(i + 1) % 4], Role::Teacher);
        assert_eq!(join(&during, &other, &bookings[i]).await.0, 404, "{sub}'s lesson");
        // The student still joins as the student.
        let (status, ticket) = join(&during, &token("s_a", Role::Student), &bookings[i]).await;
        assert_eq!((status, ticket["role"].as_str()), (200, Some("student")));
    }

    // Strangers: another subject, the teacher id of a profile whose login is
    // something else, and a mixed-case subject in another case.
    let during = joining(&env, Clock::Fixed(starts[0].parse::<Timestamp>().unwrap() + SignedDuration::from_mins(5)));
    for stranger in ["1c2d3e4f-0000-4000-8000-000000000000", "t_uuid", "auth0|someone-else", &MIXED_SUB.to_lowercase()] {
        let stranger = token(stranger, Role::Teacher);
        assert!(listed(&now, &stranger).await.is_empty());
        let (status, body) = join(&during, &stranger, &bookings[0]).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("booking_not_found")));
    }
}

// ---------------------------------------------------------------------------
// Loading profiles: one account is the teacher of at most one profile.

fn write_file(name: &str, profiles: &Value) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("login-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, profiles.to_string()).unwrap();
    file
}

fn doc_value(profile: &TeacherProfile) -> Value {
    serde_json::to_value(profile.to_doc()).unwrap()
}

fn id(raw: &str) -> TeacherId {
    TeacherId::parse(raw).unwrap()
}

#[tokio::test]
async fn a_file_claiming_one_login_twice_is_refused_naming_both_and_nothing_is_loaded() {
    let db = TestDb::start().await;
    // Explicitly twice, and once by default (t_a's id) and once explicitly.
    let explicit = [teacher_with_login("t_x", None), teacher_with_login("t_a", Some(AUTH0_SUB)), teacher_with_login("t_b", Some(AUTH0_SUB))];
    let by_default = [teacher_with_login("t_a", None), teacher_with_login("t_b", Some("t_a"))];
    for (name, profiles) in [("explicit.json", &explicit[..]), ("default.json", &by_default[..])] {
        let file = write_file(name, &Value::Array(profiles.iter().map(doc_value).collect()));
        let err = infra::seed::read_profiles(&file).unwrap_err().to_string();
        assert!(err.contains(name) && err.contains("teacher t_a") && err.contains("teacher t_b"), "{err}");
        // The loader itself refuses too (e.g. the same login in two files), before writing anything.
        let err = infra::seed::load_profiles(&db.store, profiles).await.unwrap_err().to_string();
        assert!(err.contains("teacher t_a") && err.contains("teacher t_b") && err.contains("nothing was loaded"), "{err}");
        for teacher in ["t_x", "t_a", "t_b"] {
            assert!(db.store.get_profile(&id(teacher)).await.unwrap().is_none(), "{name}: {teacher}");
        }
        assert!(db.store.teacher_of(AUTH0_SUB).await.unwrap().is_none());
        assert!(db.store.teacher_of("t_a").await.unwrap().is_none());
    }
}

#[tokio::test]
async fn a_login_already_in_the_table_is_refused_naming_both_and_nothing_from_the_file_is_loaded() {
    let db = TestDb::start().await;
    infra::seed::load_profiles(&db.store, &[teacher_with_login("t_a", Some(UUID_SUB))]).await.unwrap();
    let err = infra::seed::load_profiles(&db.store, &[teacher_with_login("t_new", None), teacher_with_login("t_b", Some(UUID_SUB))]).await.unwrap_err().to_string();
    assert!(err.contains("teacher t_b") && err.contains("teacher t_a's") && err.contains(UUID_SUB), "{err}");
    assert!(db.store.get_profile(&id("t_new")).await.unwrap().is_none(), "nothing from that file is loaded");
    assert!(db.store.get_profile(&id("t_b")).await.unwrap().is_none());
    // By default too: t_c's id is t_d's login.
    infra::seed::load_profiles(&db.store, &[teacher_with_login("t_d", Some("t_c"))]).await.unwrap();
    let err = infra::seed::load_profiles(&db.store, &[teacher_with_login("t_c", None)]).await.unwrap_err().to_string();
    assert!(err.contains("teacher t_c") && err.contains("teacher t_d's") && err.contains("by default"), "{err}");

    // The write itself is conditional: past the loader's check, the table still refuses.
    let err = db.store.put_profile(&teacher_with_login("t_b", Some(UUID_SUB))).await.unwrap_err();
    assert!(matches!(&err, ProfileWriteError::LoginTaken { teacher, holder, .. } if teacher.as_str() == "t_b" && holder.as_str() == "t_a"), "{err}");
    assert!(err.to_string().contains(UUID_SUB), "{err}");
    assert!(db.store.get_profile(&id("t_b")).await.unwrap().is_none());
    assert_eq!(db.store.teacher_of(UUID_SUB).await.unwrap(), Some(id("t_a")));
    assert_eq!(db.store.teacher_of("t_c").await.unwrap(), Some(id("t_d")));
}

#[tokio::test]
async fn loading_again_is_idempotent_and_a_changed_login_moves_its_mapping() {
    let db = TestDb::start().await;
    let demo = db.seed_demo().await;
    db.seed_demo().await;
    for profile in &demo {
        assert_eq!(db.store.teacher_of(profile.id().as_str()).await.unwrap().as_ref(), Some(profile.id()));
        assert_eq!(db.store.get_profile(profile.id()).await.unwrap().as_ref(), Some(profile));
    }
    let anna = demo.iter().find(|p| p.id().as_str() == "t_anna").unwrap();
    let mut moved = anna.to_doc();
    moved.user_id = Some(AUTH0_SUB.into());
    let moved = TeacherProfile::try_from(moved).unwrap();
    infra::seed::load_profiles(&db.store, std::slice::from_ref(&moved)).await.unwrap();
    assert_eq!(db.store.teacher_of(AUTH0_SUB).await.unwrap(), Some(id("t_anna")));
    assert_eq!(db.store.teacher_of("t_anna").await.unwrap(), None, "the old login is no longer a teacher");
    // The freed login can be claimed by another profile.
    infra::seed::load_profiles(&db.store, &[teacher_with_login("t_other", Some("t_anna"))]).await.unwrap();
    assert_eq!(db.store.teacher_of("t_anna").await.unwrap(), Some(id("t_other")));
    // Back to the demo file, seconds later: refused, as t_anna's default login is now t_other's.
    assert!(infra::seed::load_profiles(&db.store, &demo).await.is_err());
    infra::seed::load_profiles(&db.store, &[teacher_with_login("t_other", Some(MIXED_SUB))]).await.unwrap();
    db.seed_demo().await;
    assert_eq!(db.store.get_profile(&id("t_anna")).await.unwrap().as_ref(), Some(anna), "the same document again, written again");
    assert_eq!(db.store.teacher_of("t_anna").await.unwrap(), Some(id("t_anna")));
    assert_eq!(db.store.teacher_of(AUTH0_SUB).await.unwrap(), None);
}

#[tokio::test]
async fn a_profile_stored_before_logins_is_replaced_with_its_mapping() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let db = TestDb::start().await;
    let profile = teacher_with_login("t_old", None);
    // The item as the loader wrote it before logins: no user_id, no version, no mapping.
    db.store.put_profile(&profile).await.unwrap();
    let key = |pk: &str, sk: &str| Some(std::collections::HashMap::from([("pk".to_owned(), AttributeValue::S(pk.into())), ("sk".to_owned(), AttributeValue::S(sk.into()))]));
    db.store.client().update_item().table_name(db.store.table()).set_key(key("TEACHER#t_old", "PROFILE")).update_expression("REMOVE #u, #v").expression_attribute_names("#u", "user_id").expression_attribute_names("#v", "version").send().await.unwrap();
    db.store.client().delete_item().table_name(db.store.table()).set_key(key("USER#t_old", "TEACHER")).send().await.unwrap();
    assert_eq!(db.store.get_profile(profile.id()).await.unwrap().as_ref(), Some(&profile));
    assert_eq!(db.store.teacher_of("t_old").await.unwrap(), None);
    infra::seed::load_profiles(&db.store, std::slice::from_ref(&profile)).await.unwrap();
    assert_eq!(db.store.teacher_of("t_old").await.unwrap(), Some(id("t_old")));
    assert_eq!(db.store.get_profile(profile.id()).await.unwrap().as_ref(), Some(&profile));
}
