//! Did the lesson happen: hms-webhook on loopback receiving the 100ms
//! emulator's webhooks (its rooms carry our URL and secret header), the
//! sessions API as the source of truth when webhooks are lost, and the
//! outcome decided once by reconcile on dynoxide, a teacher no-show
//! refunded through the Stripe emulator.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use shared::attendance::{AttendanceConfig, HmsWebhook, HmsWebhookSecrets};
use shared::clock::Clock;
use shared::domain::BookingId;
use shared::rooms::{RoomWebhook, Rooms};
use shared::store::BookingStatus;
use shared::webhook::EventHandler;
use tests::serve::ServedFunction;
use tests::{CheckoutEnv, FunctionUrlEvent, STRIPE_KEY, cart, hms_config, json_of, lesson, token_for, tomorrow_at};

const SECRET: &str = "hms-webhook-secret-for-tests-0123456789";
const NEXT_SECRET: &str = "hms-webhook-secret-rotated-in-9876543210";

struct Lessons {
    env: CheckoutEnv,
    /// As stripe-webhook runs it (booking).
    handler: EventHandler,
    /// As reconcile runs it (deciding outcomes).
    sweeper: EventHandler,
    _webhook: ServedFunction,
}

fn webhook_app(env: &CheckoutEnv) -> Arc<hms_webhook::App> {
    Arc::new(hms_webhook::App { webhook: HmsWebhook { store: env.db.store_of("hms-webhook"), secrets: HmsWebhookSecrets::new(vec![SECRET.into(), NEXT_SECRET.into()]) } })
}

async fn lessons() -> Lessons {
    let env = CheckoutEnv::start().await;
    let app = webhook_app(&env);
    let webhook = ServedFunction::start(move |req| {
        let app = app.clone();
        async move { shared::http::into_response(hms_webhook::handle(&app, req).await) }
    })
    .await;
    let config = shared::rooms::HmsConfig { webhook: Some(RoomWebhook { url: webhook.url(), secret: SECRET.into() }), ..hms_config(&env.hms.base_url()) };
    let stripe = shared::payments::StripeConfig { secret_key: STRIPE_KEY.into(), api_base: env.stripe.base_url(), timeout: std::time::Duration::from_secs(5) };
    let as_function = |name: &str| {
        let store = env.db.store_of(name);
        EventHandler { store: store.clone(), payments: shared::payments::Payments::new(&stripe).unwrap(), rooms: Rooms::new(store, config.clone(), Clock::System).unwrap(), livemode: false }
    };
    let (handler, sweeper) = (as_function("stripe-webhook"), as_function("reconcile"));
    Lessons { env, handler, sweeper, _webhook: webhook }
}

impl Lessons {
    /// A paid lesson of t_one at `at`, its room made with our webhook.
    async fn book(&self, student: &str, at: &str) -> shared::store::Booking {
        let (status, created) = self.env.post(Some(&token_for(student)), &cart(vec![lesson("t_one", at, 60)]), None).await;
        assert_eq!(status, 201, "{created}");
        self.env.pay(created["checkout_url"].as_str().unwrap()).await;
        let id = shared::domain::CheckoutId::parse(created["checkout_id"].as_str().unwrap()).unwrap();
        let (_, bookings) = shared::reconcile::book_checkout(&self.handler, &id, Timestamp::now()).await.unwrap();
        self.env.db.store.get_booking(&bookings[0].booking_id).await.unwrap().unwrap()
    }

    async fn control(&self, path: &str, body: Value) -> Value {
        let response = reqwest::Client::new().post(format!("{}{path}", self.env.hms.control_url())).json(&body).send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap_or(Value::Null)
    }

    /// `user` is in the room from `from` until `until` (minutes after the start); the peer id.
    async fn stay(&self, booking: &shared::store::Booking, user: &str, role: &str, from: f64, until: f64) -> String {
        let joined = self.stay_as(booking, json!({"user_id": user, "role": role}), from, until).await;
        joined["peer_id"].as_str().unwrap().to_owned()
    }

    /// Someone joins as `how` says (`{"code"}`, `{"token"}`…) from `from`
    /// until `until` minutes after the start; what the emulator made of them.
    async fn stay_as(&self, booking: &shared::store::Booking, how: Value, from: f64, until: f64) -> Value {
        let at = |minutes: f64| (booking.start + SignedDuration::from_secs_f64(minutes * 60.0)).to_string();
        let mut join = how;
        join["at"] = json!(at(from));
        let joined = self.control(&format!("rooms/{}/join", booking.room_id.as_deref().unwrap()), join).await;
        self.control(&format!("peers/{}/leave", joined["peer_id"].as_str().unwrap()), json!({"at": at(until)})).await;
        joined
    }

    /// Waits until the emulator has delivered `count` webhooks with a 2xx.
    async fn delivered(&self, count: usize) {
        for _ in 0..200 {
            let all: Value = reqwest::get(format!("{}webhooks", self.env.hms.control_url())).await.unwrap().json().await.unwrap();
            if all.as_array().unwrap().iter().filter(|d| d["outcome"].as_u64().is_some_and(|s| (200..300).contains(&s))).count() >= count {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("fewer than {count} webhooks delivered");
    }

    /// Reconcile at `minutes` after the booking's end.
    async fn reconcile(&self, booking: &shared::store::Booking, minutes: i64) -> shared::reconcile::Report {
        shared::reconcile::run_with(&self.sweeper, &AttendanceConfig::default(), booking.end + SignedDuration::from_mins(minutes)).await
    }

    async fn status(&self, id: &BookingId) -> BookingStatus {
        self.env.db.store.get_booking(id).await.unwrap().unwrap().status
    }

    async fn refunds(&self) -> Vec<Value> {
        let all: Value = reqwest::get(format!("{}_emulator/refunds", self.env.stripe.base_url())).await.unwrap().json().await.unwrap();
        all.as_array().cloned().unwrap_or_default()
    }

    async fn room(&self, booking: &shared::store::Booking) -> Value {
        let rooms: Value = reqwest::get(format!("{}rooms", self.env.hms.control_url())).await.unwrap().json().await.unwrap();
        rooms.as_array().unwrap().iter().find(|r| r["id"] == booking.room_id.as_deref().unwrap()).cloned().unwrap()
    }
}

async fn post(app: &hms_webhook::App, secret: Option<&str>, body: &Value) -> (u16, Value) {
    let mut event = FunctionUrlEvent::new("POST", "/").header("content-type", "application/json").body(&body.to_string());
    if let Some(secret) = secret {
        event = event.header("x-webhook-secret", secret);
    }
    json_of(&shared::http::into_response(hms_webhook::handle(app, event.into_request()).await))
}

fn peer_event(kind: &str, booking: &shared::store::Booking, peer: &str, user: &str, joined: Timestamp, left: Option<Timestamp>) -> Value {
    let role = if user.starts_with("t_") { "host" } else if user.starts_with("s_") { "guest" } else { "observer" };
    let mut data = json!({"room_id": booking.room_id, "room_name": booking.booking_id, "session_id": "s1", "peer_id": peer, "user_id": user, "role": role, "joined_at": joined.to_string()});
    if let Some(left) = left {
        data["left_at"] = json!(left.to_string());
    }
    json!({"version": "2.0", "id": format!("{kind}-{peer}"), "type": kind, "timestamp": joined.to_string(), "data": data})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_takes_only_its_secret_and_a_rotated_one() {
    let env = CheckoutEnv::start().await;
    let app = webhook_app(&env);
    let body = json!({"id": "e1", "type": "room.end.success", "data": {}});
    assert_eq!(post(&app, Some(SECRET), &body).await, (200, json!({"received": true, "outcome": "ignored_type"})));
    assert_eq!(post(&app, Some(NEXT_SECRET), &body).await.0, 200, "the rotated secret too");
    for wrong in [None, Some("wrong"), Some(&SECRET[..SECRET.len() - 1])] {
        let (status, refused) = post(&app, wrong, &body).await;
        assert_eq!((status, refused["error"]["code"].as_str()), (401, Some("unauthorized")), "{wrong:?}");
    }
    assert_eq!(post(&app, Some(SECRET), &json!("not an event")).await.0, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_shuffled_and_rejoined_events_make_one_set_of_stays_and_strangers_do_not_count() {
    let l = lessons().await;
    let booking = l.book("s_1", &tomorrow_at("10:00")).await;
    let app = webhook_app(&l.env);
    let m = |minutes: i64| booking.start + SignedDuration::from_mins(minutes);
    let events = [
        peer_event("peer.join.success", &booking, "p1", "s_1", m(0), None),
        peer_event("peer.leave.success", &booking, "p1", "s_1", m(0), Some(m(20))),
        // Dropped and came back: a new peer id.
        peer_event("peer.join.success", &booking, "p2", "s_1", m(22), None),
        peer_event("peer.leave.success", &booking, "p2", "s_1", m(22), Some(m(60))),
        peer_event("peer.join.success", &booking, "p3", "t_one", m(-2), None),
        peer_event("peer.leave.success", &booking, "p3", "t_one", m(-2), Some(m(61))),
    ];
    // Each twice, the leaves before the joins.
    for event in events.iter().rev().chain(events.iter()) {
        assert_eq!(post(&app, Some(SECRET), event).await, (200, json!({"received": true, "outcome": "recorded"})));
    }
    // Kept with its role (a room-code peer's user_id is random, so who it is
    // is decided later), but a role that is neither party's counts for nobody.
    let stranger = peer_event("peer.join.success", &booking, "p9", "x_other", m(1), None);
    assert_eq!(post(&app, Some(SECRET), &stranger).await.1["outcome"], "recorded");
    let mut stays = l.env.db.store.stays_of(&booking.booking_id).await.unwrap();
    stays.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
    let got: Vec<(&str, &str, Option<&str>, Timestamp, Option<Timestamp>)> = stays.iter().map(|s| (s.peer_id.as_str(), s.user_id.as_str(), s.role.as_deref(), s.joined_at, s.left_at)).collect();
    assert_eq!(got, [
        ("p1", "s_1", Some("guest"), m(0), Some(m(20))),
        ("p2", "s_1", Some("guest"), m(22), Some(m(60))),
        ("p3", "t_one", Some("host"), m(-2), Some(m(61))),
        ("p9", "x_other", Some("observer"), m(1), None),
    ]);

    let report = l.reconcile(&booking, 16).await;
    assert_eq!(report.outcomes.settled, 1, "{report:?}");
    let decided = l.env.db.store.get_booking(&booking.booking_id).await.unwrap().unwrap();
    assert_eq!(decided.status, BookingStatus::Completed);
    // The teacher earns it, written with the decision (paid out after the hold).
    let pi = l.env.db.store.get_checkout(&booking.checkout_id).await.unwrap().unwrap().payment_intent.unwrap();
    let earning = l.env.db.store.earning(&shared::store::earning_key(&pi, &booking.booking_id)).await.unwrap().expect("an earning");
    assert_eq!((earning.basis, earning.teacher_id.as_str(), earning.lesson_end), (shared::store::Basis::Completed, "t_one", booking.end));
    let attendance = decided.attendance.unwrap();
    assert_eq!((attendance.teacher.identities, attendance.student.identities), (vec!["t_one (host)".to_owned()], vec!["s_1 (guest)".to_owned()]));
    assert_eq!((attendance.teacher.seconds_present, attendance.student.seconds_present, attendance.together_seconds), (3600, 58 * 60, 58 * 60), "inside the lesson only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_webhook_lost_the_sessions_api_decides() {
    let l = lessons().await;
    l.control("webhooks/lose", json!({"all": true})).await;
    let booking = l.book("s_1", &tomorrow_at("10:00")).await;
    l.stay(&booking, "t_one", "host", -1.0, 60.0).await;
    l.stay(&booking, "s_1", "guest", 2.0, 30.0).await;
    assert!(l.env.db.store.stays_of(&booking.booking_id).await.unwrap().is_empty(), "nothing reached us");
    assert_eq!(l.reconcile(&booking, 16).await.outcomes.settled, 1);
    assert_eq!(l.status(&booking.booking_id).await, BookingStatus::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_teacher_a_second_short_of_the_minimum_is_a_no_show_refunded_once_however_many_runs() {
    let l = lessons().await;
    let booking = l.book("s_1", &tomorrow_at("10:00")).await;
    l.stay(&booking, "s_1", "guest", 0.0, 60.0).await;
    l.stay(&booking, "t_one", "host", 10.0, 10.0 + 299.0 / 60.0).await;
    l.delivered(5).await;
    // A minute apart, so their transactions differ: the condition, not
    // DynamoDB's idempotency token, decides which one wins.
    let (a, b) = tokio::join!(l.reconcile(&booking, 16), l.reconcile(&booking, 17));
    assert_eq!(a.outcomes.settled + b.outcomes.settled, 1, "decided once: {a:?} {b:?}");
    let pi = l.env.db.store.get_checkout(&booking.checkout_id).await.unwrap().unwrap().payment_intent.unwrap();
    assert_eq!(l.env.db.store.ledger(&pi).await.unwrap().obligations.len(), 1, "one obligation");
    let decided = l.env.db.store.get_booking(&booking.booking_id).await.unwrap().unwrap();
    assert_eq!(decided.status, BookingStatus::TeacherNoShow);
    let refunds = l.refunds().await;
    assert_eq!((refunds.len(), refunds[0]["amount"].as_u64()), (1, Some(3000)), "{refunds:?}");
    l.reconcile(&booking, 60).await;
    assert_eq!(l.refunds().await.len(), 1, "and never again");
    let stats = l.env.db.store.teacher_stats(&booking.teacher_id).await.unwrap();
    assert_eq!((stats.teacher_no_shows, stats.teacher_cancellations), (1, 0));
    assert_eq!(l.room(&booking).await["enabled"], false, "the room closes with the decision");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_minutes_exactly_counts_and_a_student_short_of_it_is_a_student_no_show() {
    let l = lessons().await;
    let both = l.book("s_1", &tomorrow_at("10:00")).await;
    l.stay(&both, "t_one", "host", 0.0, 5.0).await;
    l.stay(&both, "s_1", "guest", 0.0, 5.0).await;
    let student_short = l.book("s_2", &tomorrow_at("13:00")).await;
    l.stay(&student_short, "t_one", "host", 0.0, 60.0).await;
    l.stay(&student_short, "s_2", "guest", 0.0, 299.0 / 60.0).await;
    l.reconcile(&student_short, 16).await;
    assert_eq!(l.status(&both.booking_id).await, BookingStatus::Completed);
    assert_eq!(l.status(&student_short.booking_id).await, BookingStatus::StudentNoShow);
    assert!(l.refunds().await.is_empty(), "no refund when the student did not come");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_decided_or_closed_before_the_end_plus_grace_nor_while_100ms_is_down() {
    let l = lessons().await;
    let booking = l.book("s_1", &tomorrow_at("10:00")).await;
    l.stay(&booking, "t_one", "host", 0.0, 60.0).await;
    l.stay(&booking, "s_1", "guest", 0.0, 60.0).await;
    for minutes in [-30, 0, 14] {
        assert_eq!(l.reconcile(&booking, minutes).await.outcomes, Default::default(), "{minutes} minutes after the end");
        assert_eq!(l.status(&booking.booking_id).await, BookingStatus::Confirmed);
        assert_eq!(l.room(&booking).await["enabled"], true, "the room stays open until the grace has passed");
    }
    let faults = format!("{}faults", l.env.hms.control_url());
    reqwest::Client::new().post(&faults).json(&json!({"status": 500})).send().await.unwrap();
    let down = l.reconcile(&booking, 16).await;
    assert_eq!((down.outcomes.still_failing, down.failed()), (1, true), "{down:?}");
    assert_eq!(l.status(&booking.booking_id).await, BookingStatus::Confirmed, "undecided, retried next run");
    let day_later = l.reconcile(&booking, 16 + 24 * 60).await;
    assert_eq!(day_later.outcomes.needs_attention, 1, "undecided for a day: a person is asked");
    reqwest::Client::new().delete(&faults).send().await.unwrap();
    assert_eq!(l.reconcile(&booking, 17 + 24 * 60).await.outcomes.settled, 1);
    assert_eq!(l.status(&booking.booking_id).await, BookingStatus::Completed);
    assert_eq!(l.room(&booking).await["enabled"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_booking_is_not_decided_and_its_events_are_ignored() {
    let l = lessons().await;
    let booking = l.book("s_1", &tomorrow_at("10:00")).await;
    let app = webhook_app(&l.env);
    let how = shared::store::Cancelling { by: shared::store::CancelledBy::Admin, at: Timestamp::now(), refund_amount: 0 };
    let cancellation = shared::changes::Cancellation::read(&l.env.db.store_of("change-booking"), booking.clone(), how, None).await.unwrap();
    shared::changes::commit(&l.env.db.store_of("change-booking"), &[cancellation], Vec::new(), Timestamp::now()).await.unwrap();
    let join = peer_event("peer.join.success", &booking, "p1", "s_1", booking.start, None);
    assert_eq!(post(&app, Some(SECRET), &join).await.1["outcome"], "ignored_cancelled");
    assert_eq!(l.reconcile(&booking, 16).await.outcomes, Default::default());
    assert_eq!(l.status(&booking.booking_id).await, BookingStatus::Cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_lessons_show_their_outcome_and_presence_to_their_two_parties_only() {
    let l = lessons().await;
    let booking = l.book("s_1", &tomorrow_at("10:00")).await;
    l.stay(&booking, "t_one", "host", 0.0, 60.0).await;
    l.stay(&booking, "s_1", "guest", 10.0, 40.0).await;
    l.reconcile(&booking, 16).await;
    let later = booking.end + SignedDuration::from_hours(2);
    let app = join_lesson::App {
        auth: tests::hs256_auth().await,
        joining: shared::rooms::Joining { rooms: tests::rooms_for(&l.env.db.store_of("join-lesson"), &l.env.hms.base_url(), Clock::Fixed(later)), opens_before: SignedDuration::from_mins(15), clock: Clock::Fixed(later) },
    };
    let past = |token: String, query: &'static str| {
        let app = &app;
        async move {
            let event = FunctionUrlEvent::get("/").query("past", query).header("authorization", &format!("Bearer {token}"));
            json_of(&shared::http::into_response(join_lesson::handle(app, event.into_request()).await))
        }
    };
    let (status, mine) = past(token_for("s_1"), "true").await;
    assert_eq!(status, 200, "{mine}");
    let lesson = &mine["lessons"][0];
    assert_eq!((lesson["booking_id"].as_str(), lesson["role"].as_str(), lesson["outcome"].as_str()), (Some(booking.booking_id.as_str()), Some("student"), Some("completed")));
    assert_eq!((lesson["my_presence"]["seconds_present"].as_i64(), lesson["their_presence"]["seconds_present"].as_i64()), (Some(30 * 60), Some(60 * 60)));
    let (_, theirs) = past(tests::token_as("t_one", shared::auth::Role::Teacher), "true").await;
    assert_eq!((theirs["lessons"][0]["role"].as_str(), theirs["lessons"][0]["my_presence"]["seconds_present"].as_i64()), (Some("teacher"), Some(60 * 60)));
    let (_, stranger) = past(token_for("s_2"), "true").await;
    assert_eq!(stranger["lessons"], json!([]), "another student sees nothing");
    assert_eq!(past(token_for("s_1"), "maybe").await.0, 400);
    let (_, upcoming) = past(token_for("s_1"), "false").await;
    assert_eq!(upcoming["bookings"], json!([]), "over, so not upcoming");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_overrules_an_outcome_through_the_same_refund_and_the_history_keeps_both() {
    let l = lessons().await;
    let booking = l.book("s_1", &tomorrow_at("10:00")).await;
    let early = shared::attendance::overrule(&l.handler, &booking.booking_id, "completed", "operator:test", booking.start).await;
    assert!(matches!(early, Err(shared::attendance::OverruleError::NotOver(_))), "{early:?}");
    l.stay(&booking, "t_one", "host", 0.0, 60.0).await;
    l.stay(&booking, "s_1", "guest", 0.0, 60.0).await;
    l.reconcile(&booking, 16).await;
    assert_eq!(l.status(&booking.booking_id).await, BookingStatus::Completed);

    let after = booking.end + SignedDuration::from_hours(1);
    let was = shared::attendance::overrule(&l.handler, &booking.booking_id, "teacher_no_show", "operator:test", after).await.unwrap();
    assert_eq!((was, l.status(&booking.booking_id).await), (BookingStatus::Completed, BookingStatus::TeacherNoShow));
    let pi = l.env.db.store.get_checkout(&booking.checkout_id).await.unwrap().unwrap().payment_intent.unwrap();
    let earning = shared::store::earning_key(&pi, &booking.booking_id);
    assert_eq!(l.env.db.store.earning(&earning).await.unwrap().unwrap().basis, shared::store::Basis::TeacherNoShow, "the overrule takes the earning away");
    assert_eq!(l.refunds().await.len(), 1, "refunded as a decided no-show is");
    shared::attendance::overrule(&l.handler, &booking.booking_id, "teacher_no_show", "operator:test", after).await.unwrap();
    shared::attendance::overrule(&l.handler, &booking.booking_id, "completed", "operator:test", after).await.unwrap();
    shared::attendance::overrule(&l.handler, &booking.booking_id, "teacher_no_show", "operator:test", after).await.unwrap();
    assert_eq!(l.refunds().await.len(), 1, "never twice");
    let stats = l.env.db.store.teacher_stats(&booking.teacher_id).await.unwrap();
    assert_eq!(stats.teacher_no_shows, 1, "counted while it is the outcome, not per change");
    let stored = l.env.db.store.booking_as_stored(&booking.booking_id).await.unwrap().unwrap();
    let history: Vec<(&str, &str)> = stored["outcome_history"].as_array().unwrap().iter().map(|c| (c["from"].as_str().unwrap(), c["to"].as_str().unwrap())).collect();
    assert_eq!(history, [("completed", "teacher_no_show"), ("teacher_no_show", "completed"), ("completed", "teacher_no_show")]);
    assert!(stored["attendance"]["teacher"]["seconds_present"].as_i64().is_some(), "the decision's attendance stays beside it");
    let wrong = shared::attendance::overrule(&l.handler, &booking.booking_id, "cancelled", "operator:test", after).await;
    assert!(matches!(wrong, Err(shared::attendance::OverruleError::NotAnOutcome(_))));

    // Each overrule is told: the parties of a no-show, the webhooks of every outcome; only the latest no-show mail goes out.
    let notices = l.env.db.store.notices_of(booking.booking_id.as_str()).await.unwrap();
    let outcomes = |r: shared::store::Recipient| notices.iter().filter(|n| n.topic == shared::store::Topic::Outcome && n.recipient == r).count();
    assert_eq!((outcomes(shared::store::Recipient::Student), outcomes(shared::store::Recipient::Webhooks)), (2, 4), "{notices:?}");
    let ses = tests::mail::start_ses().await;
    l.env.notifier(&ses).sweep(after + SignedDuration::from_mins(1)).await;
    let mails = tests::mail::received(&ses).await;
    let to_student: Vec<_> = mails.iter().filter(|m| m.to == "s_1@example.com" && m.subject.contains("did not attend")).collect();
    assert_eq!(to_student.len(), 1, "{:?}", mails.iter().map(|m| (&m.to, &m.subject)).collect::<Vec<_>>());
    assert!(to_student[0].subject.ends_with("teacher did not attend"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rescheduled_lesson_is_decided_at_its_new_end_and_not_at_its_old_one() {
    let l = lessons().await;
    let booking = l.book("s_1", &tomorrow_at("10:00")).await;
    let changes = l.env.change_booking_at(booking.start - SignedDuration::from_hours(48)).await;
    let moved = FunctionUrlEvent::new("POST", "/").header("authorization", &format!("Bearer {}", token_for("s_1"))).body(&json!({"booking_id": booking.booking_id, "action": "reschedule", "start": tomorrow_at("15:00")}).to_string());
    assert_eq!(json_of(&shared::http::into_response(change_booking::handle(&changes, moved.into_request()).await)).0, 200);
    let now_at = l.env.db.store.get_booking(&booking.booking_id).await.unwrap().unwrap();
    assert_eq!(l.reconcile(&booking, 16).await.outcomes, Default::default(), "nothing at the old end");
    l.stay(&now_at, "t_one", "host", 0.0, 60.0).await;
    l.stay(&now_at, "s_1", "guest", 0.0, 60.0).await;
    assert_eq!(l.reconcile(&now_at, 16).await.outcomes.settled, 1, "decided at the new one");
    assert_eq!(l.status(&booking.booking_id).await, BookingStatus::Completed);
}

/// The hosted Prebuilt link exchanges its room code for a token with a
/// random user_id: neither party's login ever reaches 100ms, and every such
/// lesson used to be decided teacher_no_show and refunded in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lesson_joined_through_the_room_codes_is_completed() {
    let l = lessons().await;
    let booking = l.book("s_1", &tomorrow_at("10:00")).await;
    let teacher = l.stay_as(&booking, json!({"code": booking.teacher_room_code}), -3.0, 58.0).await;
    let student = l.stay_as(&booking, json!({"code": booking.student_room_code}), 1.0, 55.0).await;
    assert!(teacher["user_id"] != "t_one" && student["user_id"] != "s_1", "random ids, as 100ms gives: {teacher} {student}");
    assert_eq!((teacher["role"].as_str(), student["role"].as_str()), (Some("host"), Some("guest")));
    l.delivered(5).await;
    assert_eq!(l.reconcile(&booking, 16).await.outcomes.settled, 1);
    let decided = l.env.db.store.get_booking(&booking.booking_id).await.unwrap().unwrap();
    assert_eq!(decided.status, BookingStatus::Completed);
    let attendance = decided.attendance.unwrap();
    assert_eq!((attendance.teacher.seconds_present, attendance.student.seconds_present, attendance.together_seconds), (58 * 60, 54 * 60, 54 * 60));
    assert_eq!(attendance.student.identities, vec![format!("{} (guest)", student["user_id"].as_str().unwrap())], "who counted, for make booking");
    assert!(l.refunds().await.is_empty());
}

/// Our own app token (join-lesson's `token`) carries the login: the same lesson, the other path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lesson_joined_with_our_tokens_and_a_code_at_once_is_completed() {
    let l = lessons().await;
    let booking = l.book("s_1", &tomorrow_at("10:00")).await;
    // Minted as join-lesson mints it for the teacher.
    let rooms = tests::rooms_for(&l.env.db.store_of("join-lesson"), &l.env.hms.base_url(), Clock::System);
    let token = rooms.hms.app_token(booking.room_id.as_deref().unwrap(), "t_one", "host", booking.end).unwrap();
    let teacher = l.stay_as(&booking, json!({"token": token}), 0.0, 60.0).await;
    assert_eq!(teacher["user_id"], "t_one");
    l.stay_as(&booking, json!({"code": booking.student_room_code}), 0.0, 60.0).await;
    l.delivered(4).await;
    l.reconcile(&booking, 16).await;
    assert_eq!(l.status(&booking.booking_id).await, BookingStatus::Completed);
}

/// Presence counts only inside the lesson: a teacher who sat in the room
/// from 15 to 10 minutes before the start and came back after the end did
/// not teach it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teacher_who_came_only_before_the_start_and_after_the_end_is_a_no_show_and_refunded() {
    let l = lessons().await;
    let booking = l.book("s_1", &tomorrow_at("10:00")).await;
    l.stay(&booking, "t_one", "host", -15.0, -10.0).await;
    l.stay(&booking, "s_1", "guest", 0.0, 60.0).await;
    l.stay(&booking, "t_one", "host", 60.0, 65.0).await;
    l.delivered(6).await;
    l.reconcile(&booking, 16).await;
    assert_eq!(l.status(&booking.booking_id).await, BookingStatus::TeacherNoShow);
    let refunds = l.refunds().await;
    assert_eq!((refunds.len(), refunds[0]["amount"].as_u64()), (1, Some(3000)), "{refunds:?}");
}

/// Both came, one after the other: nothing is refunded on a guess; a person decides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_present_but_never_together_long_enough_is_listed_for_a_person_and_refunds_nothing() {
    let l = lessons().await;
    let booking = l.book("s_1", &tomorrow_at("10:00")).await;
    l.stay(&booking, "t_one", "host", 0.0, 20.0).await;
    l.stay(&booking, "s_1", "guest", 17.0, 60.0).await;
    l.delivered(5).await;
    let report = l.reconcile(&booking, 16).await;
    assert_eq!(report.outcomes.settled, 0, "{report:?}");
    let kept = l.env.db.store.get_booking(&booking.booking_id).await.unwrap().unwrap();
    assert_eq!((kept.status, kept.attendance.map(|a| a.together_seconds)), (BookingStatus::Confirmed, Some(180)));
    let attention = l.env.db.store.attention().await.unwrap();
    assert_eq!(attention.iter().map(|a| (a.kind, a.subject.as_str())).collect::<Vec<_>>(), vec![(shared::store::AttentionKind::AttendanceUnclear, booking.booking_id.as_str())]);
    assert!(l.refunds().await.is_empty());
    assert_eq!(l.room(&booking).await["enabled"], false, "the lesson is over: its room closes");
    l.reconcile(&booking, 60).await;
    assert_eq!(l.env.db.store.attention().await.unwrap().len(), 1, "listed once");
    let now = booking.end + SignedDuration::from_hours(2);
    shared::attendance::overrule(&l.sweeper, &booking.booking_id, "completed", "ops", now).await.unwrap();
    assert_eq!(l.status(&booking.booking_id).await, BookingStatus::Completed, "a person decides it");
}

/// A lesson already decided is no longer a booking to cancel: the answer
/// is the quote's 409, and 100ms is not called (it used to answer as if
/// cancelled and ask 100ms about the room again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_decided_lesson_is_refused_and_calls_100ms_no_more() {
    let l = lessons().await;
    let booking = l.book("s_1", &tomorrow_at("10:00")).await;
    l.stay(&booking, "t_one", "host", 0.0, 60.0).await;
    l.stay(&booking, "s_1", "guest", 0.0, 60.0).await;
    l.reconcile(&booking, 16).await;
    assert_eq!(l.status(&booking.booking_id).await, BookingStatus::Completed);
    let later = booking.end + SignedDuration::from_hours(2);
    let changes = l.env.change_booking_at(later).await;
    let calls_before = reqwest::get(format!("{}requests", l.env.hms.control_url())).await.unwrap().json::<Value>().await.unwrap().as_array().unwrap().len();
    for who in [token_for("s_1"), tests::token_as("ops", shared::auth::Role::Admin)] {
        let cancel = FunctionUrlEvent::new("POST", "/").header("authorization", &format!("Bearer {who}")).body(&json!({"booking_id": booking.booking_id, "action": "cancel"}).to_string());
        let (status, body) = json_of(&shared::http::into_response(change_booking::handle(&changes, cancel.into_request()).await));
        assert_eq!((status, body["error"]["code"].as_str()), (409, Some("booking_not_active")), "{body}");
    }
    let calls_after = reqwest::get(format!("{}requests", l.env.hms.control_url())).await.unwrap().json::<Value>().await.unwrap().as_array().unwrap().len();
    assert_eq!(calls_after, calls_before, "100ms is not asked");
    assert_eq!(l.status(&booking.booking_id).await, BookingStatus::Completed);
    assert!(l.refunds().await.is_empty());
}

/// Lessons decided by a version whose decision left their room open are
/// listed for the room repair once, so no old room stays enabled for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_of_lessons_decided_before_deciding_closed_them_are_closed_once() {
    let l = lessons().await;
    let booking = l.book("s_1", &tomorrow_at("10:00")).await;
    // As the old decision wrote it: the status only, the room left enabled and unlisted.
    let store = &l.env.db.store;
    store.client().update_item().table_name(store.table())
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("BOOKING#{}", booking.booking_id)))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("BOOKING".into()))
        .update_expression("SET #status = :completed").expression_attribute_names("#status", "status")
        .expression_attribute_values(":completed", aws_sdk_dynamodb::types::AttributeValue::S("completed".into()))
        .send().await.unwrap();
    store.transact(vec![store.outcome_undue_item(&booking).unwrap()]).await.unwrap();
    assert_eq!(l.room(&booking).await["enabled"], true);
    let report = l.reconcile(&booking, 16).await;
    assert!(!report.failed(), "{report:?}");
    assert_eq!(l.room(&booking).await["enabled"], false, "closed by the run that listed it");
    assert!(store.pending_rooms().await.unwrap().is_empty());
    assert!(store.migration_done("decided-bookings-rooms-listed").await.unwrap(), "and never looked for again");
}

/// A lesson left `confirmed` for a person (attendance unclear) is over all
/// the same: the room repair closes its room instead of calling it ready,
/// so a decision whose room could not be closed at once is finished later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_repair_closes_the_room_of_a_lesson_left_for_a_person() {
    let l = lessons().await;
    let booking = l.book("s_1", &tomorrow_at("10:00")).await;
    let store = l.env.db.store_of("reconcile");
    store.transact(vec![store.booking_outcome_item(&booking, BookingStatus::Confirmed, &shared::domain::Attendance::default()).unwrap()]).await.unwrap();
    assert_eq!(l.room(&booking).await["enabled"], true);
    let ensured = tests::rooms_for(&store, &l.env.hms.base_url(), Clock::System).ensure(&booking.booking_id).await;
    assert!(ensured.is_err(), "no room to join: {ensured:?}");
    assert_eq!(l.room(&booking).await["enabled"], false);
}

/// A no-show is told to both parties with the refund, and the webhooks'
/// notices of the outcome and the refund are written with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teacher_no_show_is_told_to_both_with_the_refund() {
    let l = lessons().await;
    let booking = l.book("s_nomail", &tomorrow_at("15:00")).await;
    l.stay(&booking, "s_nomail", "guest", 0.0, 60.0).await;
    let ses = tests::mail::start_ses().await;
    let notifier = l.env.notifier(&ses);
    notifier.sweep(Timestamp::now()).await;
    let report = l.reconcile(&booking, 16).await;
    assert_eq!(report.outcomes.settled, 1, "{report:?}");
    let after = booking.end + SignedDuration::from_mins(17);
    let swept = notifier.sweep(after).await;
    assert_eq!((swept.sent, swept.errors.len()), (2, 0), "{swept:?}");
    let mails = tests::mail::received(&ses).await;
    let outcome: Vec<_> = mails.iter().filter(|m| m.subject.ends_with("teacher did not attend")).collect();
    assert_eq!(outcome.len(), 2, "{:?}", mails.iter().map(|m| &m.subject).collect::<Vec<_>>());
    let student = outcome.iter().find(|m| m.to == "s_nomail@example.com").expect("the student's");
    assert!(student.text.contains("Your teacher did not join the lesson. EUR 30.00 is refunded"), "{}", student.text);
    let teacher = outcome.iter().find(|m| m.to == "t_one@teachers.test").expect("the teacher's");
    assert!(teacher.text.contains("You did not join the lesson") && teacher.text.contains("The student is refunded EUR 30.00"), "{}", teacher.text);
    let told: Vec<_> = l.env.db.store.notices_of(booking.booking_id.as_str()).await.unwrap().into_iter().map(|n| (n.topic, n.recipient)).collect();
    assert!(told.contains(&(shared::store::Topic::Outcome, shared::store::Recipient::Webhooks)), "{told:?}");
}
