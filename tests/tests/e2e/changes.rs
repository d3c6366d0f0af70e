//! After payment, plans change: change-booking's handler on dynoxide, with
//! real JWTs, the Stripe emulator making (or failing) the refunds and the
//! 100ms emulator disabling rooms. The clock of change-booking is fixed
//! relative to each lesson, so policy boundaries are checked to the second.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use shared::auth::Role;
use shared::clock::Clock;
use shared::domain::{BookingId, TeacherId, TeacherProfile};
use shared::store::{BookingStatus, CancelledBy};
use tests::{CheckoutEnv, FunctionUrlEvent, cart, in_days, json_of, lesson, rooms_for, token_for, tomorrow_at};

use super::money_back::{deliver_about, payment_intent_of};
use tests::token_as as token;

pub(super) fn ts(raw: &str) -> Timestamp {
    raw.parse().unwrap()
}

/// change-booking on the env's table and emulators, its clock at `now`.
pub(super) async fn app(env: &CheckoutEnv, now: Timestamp) -> change_booking::App {
    env.change_booking_at(now).await
}

async fn call(app: &change_booking::App, event: FunctionUrlEvent) -> (u16, Value) {
    json_of(&shared::http::into_response(change_booking::handle(app, event.into_request()).await))
}

pub(super) async fn quote(app: &change_booking::App, token: &str, booking: &BookingId) -> (u16, Value) {
    call(app, FunctionUrlEvent::get("/").query("booking_id", booking.as_str()).header("authorization", &format!("Bearer {token}"))).await
}

async fn post(app: &change_booking::App, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut event = FunctionUrlEvent::new("POST", "/").header("content-type", "application/json").body(&body.to_string());
    if let Some(token) = token {
        event = event.header("authorization", &format!("Bearer {token}"));
    }
    call(app, event).await
}

pub(super) async fn cancel(app: &change_booking::App, token: &str, booking: &BookingId) -> (u16, Value) {
    post(app, Some(token), json!({"booking_id": booking, "action": "cancel"})).await
}

pub(super) async fn reschedule(app: &change_booking::App, token: &str, booking: &BookingId, start: &str) -> (u16, Value) {
    post(app, Some(token), json!({"booking_id": booking, "action": "reschedule", "start": start})).await
}

/// The refunds the Stripe emulator made.
pub(super) async fn refunds(env: &CheckoutEnv) -> Vec<Value> {
    let all: Value = reqwest::get(format!("{}_emulator/refunds", env.stripe.base_url())).await.unwrap().json().await.unwrap();
    all.as_array().cloned().or_else(|| all["data"].as_array().cloned()).unwrap_or_default()
}

pub(super) async fn rooms(env: &CheckoutEnv) -> Vec<Value> {
    let all: Value = reqwest::get(format!("{}rooms", env.hms.control_url())).await.unwrap().json().await.unwrap();
    all.as_array().cloned().or_else(|| all["data"].as_array().cloned()).unwrap_or_default()
}

/// A teacher open all day in `zone`, with one 60-minute lesson at `price`,
/// a 30-minute trial at 500 and the given cancellation policy.
fn teacher(id: &str, currency: &str, price: u64, zone: &str, policy: Value) -> TeacherProfile {
    let day = json!([["00:00", "24:00"]]);
    let doc = json!({
        "id": id, "name": format!("Teacher {id}"), "timezone": zone,
        "weekly": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day},
        "overrides": {}, "currency": currency,
        "lessons": [{"duration_minutes": 60, "price": price}],
        "trial": {"duration_minutes": 30, "price": 500},
        "buffer_minutes": 10, "min_notice_minutes": 0, "horizon_days": 365, "slot_step_minutes": 10,
        "cancellation": policy
    });
    TeacherProfile::from_json_str(&doc.to_string()).unwrap()
}

pub(super) async fn booking(env: &CheckoutEnv, id: &BookingId) -> shared::store::Booking {
    env.db.store.get_booking(id).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_student_sees_the_quote_cancels_in_time_and_gets_everything_back_once() {
    let env = CheckoutEnv::start().await;
    let (first, second) = (tomorrow_at("10:00"), tomorrow_at("13:00"));
    let (_, bookings) = env.paid_booking("s_1", vec![lesson("t_one", &first, 60), lesson("t_one", &second, 60)]).await;
    let start = ts(&first);
    let early = app(&env, start - SignedDuration::from_hours(48)).await;
    let student = token_for("s_1");

    let (status, options) = quote(&early, &student, &bookings[0]).await;
    assert_eq!(status, 200, "{options}");
    let free_until = (start - SignedDuration::from_hours(24)).to_string();
    assert_eq!(options["cancel"], json!({"allowed": true, "refund_amount": 3000, "credit_back": false, "currency": "eur", "free_until": free_until}));
    assert_eq!(options["reschedule"], json!({"allowed": true, "until": free_until, "remaining": 2}));
    assert!(!env.open_starts_on("t_one", &first).await.contains(&first), "booked");
    let room = booking(&env, &bookings[0]).await.room_id.expect("a paid lesson has its room");

    let (status, cancelled) = cancel(&early, &student, &bookings[0]).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled, json!({"booking_id": bookings[0], "status": "cancelled", "cancelled_by": "student", "refund": {"amount": 3000, "currency": "eur", "status": "succeeded"}}));
    let made = refunds(&env).await;
    assert_eq!((made.len(), made[0]["amount"].as_u64()), (1, Some(3000)), "{made:?}");
    assert!(env.open_starts_on("t_one", &first).await.contains(&first), "the slot is offered again");
    assert!(rooms(&env).await.iter().any(|r| r["id"] == room.as_str() && r["enabled"] == false), "nobody can join a cancelled lesson");
    let stored = booking(&env, &bookings[0]).await;
    assert_eq!((stored.status, stored.cancelled_by, stored.refund_amount), (BookingStatus::Cancelled, Some(CancelledBy::Student), Some(3000)));

    assert_eq!(cancel(&early, &student, &bookings[0]).await, (200, cancelled), "cancelling again answers the same");
    assert_eq!(refunds(&env).await.len(), 1, "and refunds nothing more");
    let (_, after) = quote(&early, &student, &bookings[0]).await;
    assert_eq!((after["status"].as_str(), after["cancel"]["reason"].as_str(), after["reschedule"]["reason"].as_str()), (Some("cancelled"), Some("booking_not_active"), Some("booking_not_active")));
    assert_eq!(reschedule(&early, &student, &bookings[0], &tomorrow_at("15:00")).await.1["error"]["code"], "booking_not_active");
    assert_eq!(booking(&env, &bookings[1]).await.status, BookingStatus::Confirmed, "the other lesson of the payment stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_holds_to_the_second_and_rounds_down_in_cents_and_in_yen() {
    let env = CheckoutEnv::start().await;
    let late_half = json!({"free_cancel_hours": 24, "late_cancel_refund_percent": 50});
    env.db.store.put_profile(&teacher("t_eur", "eur", 1999, "UTC", late_half.clone())).await.unwrap();
    env.db.store.put_profile(&teacher("t_yen", "jpy", 999, "UTC", late_half)).await.unwrap();
    let at = tomorrow_at("10:00");
    let (_, eur) = env.paid_booking("s_1", vec![lesson("t_eur", &at, 60)]).await;
    let (_, yen) = env.paid_booking("s_1", vec![lesson("t_yen", &at, 60)]).await;
    let (start, student) = (ts(&at), token_for("s_1"));
    let notice = start - SignedDuration::from_hours(24);

    let amount = |v: &Value| v["cancel"]["refund_amount"].as_u64();
    assert_eq!(amount(&quote(&app(&env, notice).await, &student, &eur[0]).await.1), Some(1999), "exactly the notice before is free");
    assert_eq!(amount(&quote(&app(&env, notice + SignedDuration::from_secs(1)).await, &student, &eur[0]).await.1), Some(999), "a second later is late: 999.5 cents round down");
    let (status, refused) = quote(&app(&env, start).await, &student, &eur[0]).await;
    assert_eq!((status, refused["cancel"]["allowed"].as_bool(), refused["cancel"]["reason"].as_str()), (200, Some(false), Some("too_late_to_cancel")));
    assert_eq!(cancel(&app(&env, start).await, &student, &eur[0]).await.1["error"]["code"], "too_late_to_cancel");

    let (status, late) = cancel(&app(&env, notice + SignedDuration::from_secs(1)).await, &student, &eur[0]).await;
    assert_eq!((status, late["refund"]["amount"].as_u64()), (200, Some(999)), "{late}");
    let (status, yen_late) = cancel(&app(&env, start - SignedDuration::from_secs(1)).await, &student, &yen[0]).await;
    assert_eq!((status, yen_late["refund"].clone()), (200, json!({"amount": 499, "currency": "jpy", "status": "succeeded"})), "{yen_late}");
    let mut amounts: Vec<u64> = refunds(&env).await.iter().map(|r| r["amount"].as_u64().unwrap()).collect();
    amounts.sort();
    assert_eq!(amounts, [499, 999]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_keeps_the_policy_it_was_paid_under_when_the_teacher_changes_it() {
    let env = CheckoutEnv::start().await;
    env.db.store.put_profile(&teacher("t_strict", "eur", 3000, "UTC", json!({"free_cancel_hours": 48, "late_cancel_refund_percent": 0}))).await.unwrap();
    let at = tomorrow_at("10:00");
    let (_, bookings) = env.paid_booking("s_1", vec![lesson("t_strict", &at, 60)]).await;
    env.db.store.put_profile(&teacher("t_strict", "eur", 3000, "UTC", json!({"free_cancel_hours": 1, "late_cancel_refund_percent": 100}))).await.unwrap();
    let (status, cancelled) = cancel(&app(&env, ts(&at) - SignedDuration::from_hours(12)).await, &token_for("s_1"), &bookings[0]).await;
    assert_eq!((status, cancelled["refund"].clone()), (200, json!({"amount": 0, "currency": "eur", "status": "none"})), "{cancelled}");
    assert!(refunds(&env).await.is_empty());
    assert!(env.open_starts_on("t_strict", &at).await.contains(&at), "a late cancel frees the slot all the same");
}

/// A move made after the free window closed must not open a new one: the
/// student inside the late window moved the lesson a week out and then
/// cancelled for a full refund.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_reschedule_keeps_the_free_cancellation_deadline_it_had() {
    let env = CheckoutEnv::start().await;
    let strict = json!({"free_cancel_hours": 48, "late_cancel_refund_percent": 0, "reschedule_hours": 12});
    env.db.store.put_profile(&teacher("t_late", "eur", 3000, "UTC", strict)).await.unwrap();
    let at = in_days(2, "10:00");
    let (_, bookings) = env.paid_booking("s_1", vec![lesson("t_late", &at, 60)]).await;
    let student = token_for("s_1");
    let deadline = ts(&at) - SignedDuration::from_hours(48);
    let late = app(&env, ts(&at) - SignedDuration::from_hours(24)).await;
    assert_eq!(quote(&late, &student, &bookings[0]).await.1["cancel"]["refund_amount"], 0, "inside the late window");
    let (status, moved) = reschedule(&late, &student, &bookings[0], &in_days(9, "10:00")).await;
    assert_eq!(status, 200, "{moved}");
    let (_, options) = quote(&late, &student, &bookings[0]).await;
    assert_eq!(options["cancel"], json!({"allowed": true, "refund_amount": 0, "credit_back": false, "currency": "eur", "free_until": deadline.to_string()}), "the quote keeps the old deadline");
    let (status, cancelled) = cancel(&late, &student, &bookings[0]).await;
    assert_eq!((status, cancelled["refund"]["amount"].as_u64()), (200, Some(0)), "{cancelled}");
    assert!(refunds(&env).await.is_empty());

    // A move made while the cancel was still free gets the new start's window.
    let (_, early_one) = env.paid_booking("s_2", vec![lesson("t_late", &in_days(5, "10:00"), 60)]).await;
    let early = app(&env, ts(&in_days(5, "10:00")) - SignedDuration::from_hours(72)).await;
    assert_eq!(reschedule(&early, &token_for("s_2"), &early_one[0], &in_days(9, "14:00")).await.0, 200);
    let (_, options) = quote(&early, &token_for("s_2"), &early_one[0]).await;
    assert_eq!(options["cancel"]["free_until"], (ts(&in_days(9, "14:00")) - SignedDuration::from_hours(48)).to_string());
}

/// The policy a booking keeps is the one the student saw at checkout, not
/// the one in force when a slow payment (a bank debit) settles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_keeps_the_policy_shown_at_checkout_however_late_the_payment_settles() {
    let env = CheckoutEnv::start().await;
    let lenient = json!({"free_cancel_hours": 1, "late_cancel_refund_percent": 100});
    env.db.store.put_profile(&teacher("t_slow", "eur", 3000, "UTC", lenient)).await.unwrap();
    let at = tomorrow_at("10:00");
    let (status, created) = env.post(Some(&token_for("s_1")), &cart(vec![lesson("t_slow", &at, 60)]), None).await;
    assert_eq!(status, 201, "{created}");
    // The teacher tightens the policy before the payment settles.
    env.db.store.put_profile(&teacher("t_slow", "eur", 3000, "UTC", json!({"free_cancel_hours": 48, "late_cancel_refund_percent": 0}))).await.unwrap();
    env.pay(created["checkout_url"].as_str().unwrap()).await;
    let id = shared::domain::CheckoutId::parse(created["checkout_id"].as_str().unwrap()).unwrap();
    let (_, bookings) = shared::reconcile::book_checkout(&env.event_handler(Clock::System), &id, Timestamp::now()).await.unwrap();
    let kept = booking(&env, &bookings[0].booking_id).await;
    assert_eq!((kept.policy.free_cancel_hours, kept.policy.late_cancel_refund_percent), (1, 100), "what the student saw");
    let (_, cancelled) = cancel(&app(&env, ts(&at) - SignedDuration::from_hours(12)).await, &token_for("s_1"), &kept.booking_id).await;
    assert_eq!(cancelled["refund"]["amount"], 3000, "{cancelled}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_cancels_of_one_booking_make_one_refund() {
    let env = CheckoutEnv::start().await;
    let at = tomorrow_at("10:00");
    let (_, bookings) = env.paid_booking("s_1", vec![lesson("t_one", &at, 60)]).await;
    let early = app(&env, ts(&at) - SignedDuration::from_hours(48)).await;
    let student = token_for("s_1");
    let answers = futures::future::join_all((0..10).map(|_| cancel(&early, &student, &bookings[0]))).await;
    for (status, body) in &answers {
        assert_eq!((*status, body["status"].as_str(), body["refund"]["amount"].as_u64()), (200, Some("cancelled"), Some(3000)), "{body}");
    }
    assert_eq!(refunds(&env).await.len(), 1, "one refund however many cancels raced");
    let obligations = env.db.store.ledger(&refunds(&env).await[0]["payment_intent"].as_str().unwrap()).await.unwrap().obligations;
    assert_eq!(obligations.len(), 1, "one obligation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_while_stripe_fails_answers_pending_and_reconcile_refunds_once() {
    let env = CheckoutEnv::start().await;
    let at = tomorrow_at("10:00");
    let (_, bookings) = env.paid_booking("s_1", vec![lesson("t_one", &at, 60)]).await;
    let early = app(&env, ts(&at) - SignedDuration::from_hours(48)).await;
    let faults = format!("{}_emulator/faults", env.stripe.base_url());
    reqwest::Client::new().post(&faults).json(&json!({"status": 500, "method": "POST", "path": "/v1/refunds"})).send().await.unwrap();

    let (status, cancelled) = cancel(&early, &token_for("s_1"), &bookings[0]).await;
    assert_eq!((status, cancelled["status"].as_str(), cancelled["refund"].clone()), (200, Some("cancelled"), json!({"amount": 3000, "currency": "eur", "status": "pending"})), "{cancelled}");
    assert!(refunds(&env).await.is_empty());
    assert!(env.open_starts_on("t_one", &at).await.contains(&at), "the slot is free even before the money is back");

    reqwest::Client::new().delete(&faults).send().await.unwrap();
    let report = shared::reconcile::run(&env.event_handler_of("reconcile", Clock::System), Timestamp::now()).await;
    assert!(!report.failed(), "{report:?}");
    assert_eq!(report.refunds.settled, 1, "{report:?}");
    shared::reconcile::run(&env.event_handler_of("reconcile", Clock::System), Timestamp::now()).await;
    assert_eq!(refunds(&env).await.len(), 1, "refunded once");
    assert_eq!(cancel(&early, &token_for("s_1"), &bookings[0]).await.1["refund"]["status"], "succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_trial_gives_the_trial_back_and_the_student_buys_it_again() {
    let env = CheckoutEnv::start().await;
    let at = tomorrow_at("10:00");
    let trial = |start: &str| json!({"teacher_id": "t_two", "start": start, "duration_minutes": 30, "trial": true});
    let (_, bookings) = env.paid_booking("s_1", vec![trial(&at)]).await;
    let (status, refused) = env.post(Some(&token_for("s_1")), &cart(vec![trial(&tomorrow_at("14:00"))]), None).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("trial_already_used")));

    let (status, cancelled) = cancel(&app(&env, ts(&at) - SignedDuration::from_hours(48)).await, &token_for("s_1"), &bookings[0]).await;
    assert_eq!((status, cancelled["refund"]["amount"].as_u64()), (200, Some(500)), "{cancelled}");
    assert!(env.db.store.get_trial_claim("s_1", &TeacherId::parse("t_two").unwrap()).await.unwrap().is_none());
    let (_, again) = env.paid_booking("s_1", vec![trial(&tomorrow_at("14:00"))]).await;
    assert_eq!(booking(&env, &again[0]).await.status, BookingStatus::Confirmed, "the trial is the student's again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teacher_cancels_until_the_end_with_a_full_refund_and_never_reschedules() {
    let env = CheckoutEnv::start().await;
    let at = tomorrow_at("10:00");
    let (_, bookings) = env.paid_booking("s_1", vec![lesson("t_one", &at, 60)]).await;
    // t_one's profile names no login: the login is its id.
    let teacher = token("t_one", Role::Teacher);
    let running = app(&env, ts(&at) + SignedDuration::from_mins(30)).await;
    assert_eq!(reschedule(&running, &teacher, &bookings[0], &tomorrow_at("15:00")).await.1["error"]["code"], "not_the_student");
    let (status, options) = quote(&running, &teacher, &bookings[0]).await;
    assert_eq!((status, options["cancel"]["refund_amount"].as_u64(), options["reschedule"]["reason"].as_str()), (200, Some(3000), Some("not_the_student")));
    let (status, cancelled) = cancel(&running, &teacher, &bookings[0]).await;
    assert_eq!((status, cancelled["cancelled_by"].as_str(), cancelled["refund"]["amount"].as_u64()), (200, Some("teacher"), Some(3000)), "{cancelled}");
    let stats = env.db.store.teacher_stats(&TeacherId::parse("t_one").unwrap()).await.unwrap();
    assert_eq!(stats.teacher_cancellations, 1);
    assert_eq!(env.db.store.get_profile(&TeacherId::parse("t_one").unwrap()).await.unwrap().unwrap().to_doc(), tests::always_open_teacher("t_one", "eur", 0).to_doc(), "the profile document is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_student_the_teacher_or_an_admin_may_see_or_change_a_booking() {
    let env = CheckoutEnv::start().await;
    let at = tomorrow_at("10:00");
    let (_, bookings) = env.paid_booking("s_1", vec![lesson("t_one", &at, 60)]).await;
    let after = app(&env, ts(&at) + SignedDuration::from_hours(2)).await;
    for stranger in [token_for("s_2"), token("t_two", Role::Teacher)] {
        assert_eq!(quote(&after, &stranger, &bookings[0]).await.1["error"]["code"], "booking_not_found");
        assert_eq!(cancel(&after, &stranger, &bookings[0]).await.1["error"]["code"], "booking_not_found");
    }
    assert_eq!(post(&after, None, json!({"booking_id": bookings[0], "action": "cancel"})).await.0, 401);
    assert_eq!(call(&after, FunctionUrlEvent::get("/").query("booking_id", bookings[0].as_str())).await.0, 401);
    assert_eq!(quote(&after, &token_for("s_1"), &BookingId::parse("bk_nothing").unwrap()).await.0, 404);
    let (status, bad) = call(&after, FunctionUrlEvent::get("/").header("authorization", &format!("Bearer {}", token_for("s_1")))).await;
    assert_eq!((status, bad["error"]["field"].as_str()), (400, Some("booking_id")));
    let (status, chosen) = post(&after, Some(&token_for("s_1")), json!({"booking_id": bookings[0], "action": "cancel", "refund_amount": 10})).await;
    assert_eq!((status, chosen["error"]["field"].as_str()), (400, Some("refund_amount")), "students do not choose their refund");
    assert_eq!(call(&after, FunctionUrlEvent::new("DELETE", "/")).await.0, 405);

    let admin = token("ops_1", Role::Admin);
    let (status, too_much) = post(&after, Some(&admin), json!({"booking_id": bookings[0], "action": "cancel", "refund_amount": 3001})).await;
    assert_eq!((status, too_much["error"]["field"].as_str()), (400, Some("refund_amount")));
    let (status, cancelled) = post(&after, Some(&admin), json!({"booking_id": bookings[0], "action": "cancel", "refund_amount": 1200})).await;
    assert_eq!((status, cancelled["cancelled_by"].as_str(), cancelled["refund"]["amount"].as_u64()), (200, Some("admin"), Some(1200)), "after the lesson, any refund up to its amount: {cancelled}");
    assert_eq!(refunds(&env).await[0]["amount"], 1200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_student_moves_a_lesson_within_its_own_slot_and_joining_follows_it() {
    let env = CheckoutEnv::start().await;
    let at = tomorrow_at("10:00");
    let (_, bookings) = env.paid_booking("s_1", vec![lesson("t_one", &at, 60)]).await;
    let student = token_for("s_1");
    let early = app(&env, ts(&at) - SignedDuration::from_hours(48)).await;
    let before = env.open_starts_on("t_one", &at).await;
    assert!(!before.contains(&tomorrow_at("09:00")) && before.contains(&tomorrow_at("11:10")), "{before:?}");

    let (status, moved) = reschedule(&early, &student, &bookings[0], &tomorrow_at("10:30")).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!((moved["start"].as_str(), moved["end"].as_str(), moved["reschedule_count"].as_u64()), (Some(tomorrow_at("10:30").as_str()), Some(tomorrow_at("11:30").as_str()), Some(1)));
    let after = env.open_starts_on("t_one", &at).await;
    assert!(after.contains(&tomorrow_at("09:00")) && !after.contains(&tomorrow_at("11:10")), "the old time is offered again, the new one is not: {after:?}");
    let stored = booking(&env, &bookings[0]).await;
    assert_eq!((stored.history.len(), stored.history[0].start), (1, ts(&at)));
    assert!(stored.room_id.is_some(), "same booking, same room");
    assert_eq!(reschedule(&early, &student, &bookings[0], &tomorrow_at("10:30")).await.1["reschedule_count"], 1, "moving to where it is changes nothing");
    let listed = env.db.store.bookings_of(shared::store::BookingsOf::Student("s_1"), ts(&at), 10).await.unwrap();
    assert_eq!(listed[0].start, ts(&tomorrow_at("10:30")), "the student's index follows");

    let join = |now: Timestamp| {
        let auth = tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(tests::hs256_auth()));
        join_lesson::App { auth, joining: shared::rooms::Joining { rooms: rooms_for(&env.db.store_of("join-lesson"), &env.hms.base_url(), Clock::Fixed(now)), opens_before: SignedDuration::from_mins(15), clock: Clock::Fixed(now) } }
    };
    let ask = || FunctionUrlEvent::new("POST", "/").header("authorization", &format!("Bearer {student}")).body(&json!({"booking_id": bookings[0]}).to_string()).into_request();
    let (status, early_join) = json_of(&shared::http::into_response(join_lesson::handle(&join(ts(&at) + SignedDuration::from_mins(5)), ask()).await));
    assert_eq!((status, early_join["error"]["code"].as_str()), (409, Some("too_early")), "the old start no longer opens the room");
    assert_eq!(json_of(&shared::http::into_response(join_lesson::handle(&join(ts(&at) + SignedDuration::from_mins(20)), ask()).await)).0, 200);

    assert_eq!(reschedule(&early, &student, &bookings[0], &tomorrow_at("14:00")).await.0, 200);
    let (status, spent) = reschedule(&early, &student, &bookings[0], &tomorrow_at("16:00")).await;
    assert_eq!((status, spent["error"]["code"].as_str()), (409, Some("no_reschedules_left")));
    let late = app(&env, ts(&tomorrow_at("14:00")) - SignedDuration::from_hours(23)).await;
    let (_, options) = quote(&late, &student, &bookings[0]).await;
    assert_eq!((options["reschedule"]["reason"].as_str(), options["reschedule"]["remaining"].as_u64()), (Some("too_late_to_reschedule"), Some(0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reschedule_never_takes_a_slot_someone_holds_and_one_racing_a_checkout_ends_with_one_winner() {
    let env = CheckoutEnv::start().await;
    let at = tomorrow_at("10:00");
    let (_, bookings) = env.paid_booking("s_1", vec![lesson("t_one", &at, 60)]).await;
    let student = token_for("s_1");
    let early = app(&env, ts(&at) - SignedDuration::from_hours(48)).await;
    assert_eq!(env.post(Some(&token_for("s_2")), &cart(vec![lesson("t_one", &tomorrow_at("14:00"), 60)]), None).await.0, 201);
    let (status, taken) = reschedule(&early, &student, &bookings[0], &tomorrow_at("14:30")).await;
    assert_eq!((status, taken["error"]["code"].as_str()), (409, Some("slot_unavailable")), "a hold placed a moment earlier blocks the move");
    assert_eq!(reschedule(&early, &student, &bookings[0], &tomorrow_at("10:05")).await.1["error"]["code"], "slot_unavailable", "off the teacher's grid");
    let (status, far) = reschedule(&early, &student, &bookings[0], "9999-12-30T21:30:00Z").await;
    assert_eq!((status, far["error"]["field"].as_str()), (400, Some("start")), "the end of time is beyond any horizon, refused as a checkout refuses it: {far}");

    for (round, hour) in ["16:00", "18:00", "20:00"].into_iter().enumerate() {
        let target = tomorrow_at(hour);
        let rival = token_for(&format!("s_rival{round}"));
        let rival_cart = cart(vec![lesson("t_one", &target, 60)]);
        let (moved, held) = tokio::join!(reschedule(&early, &student, &bookings[0], &target), env.post(Some(&rival), &rival_cart, None));
        let winners = usize::from(moved.0 == 200) + usize::from(held.0 == 201);
        assert_eq!(winners, 1, "exactly one of the two gets {target}: {moved:?} {held:?}");
        assert!(moved.0 == 200 || moved.1["error"]["code"] == "slot_unavailable", "{moved:?}");
        // The calendar agrees with the winner: one entry at the target, the booking's or the hold's.
        let stored = booking(&env, &bookings[0]).await;
        let holds: Vec<_> = env.holds("t_one", &target).await.into_iter().filter(|h| h.start == ts(&target)).collect();
        let at_target = env.db.store.busy_around(&TeacherId::parse("t_one").unwrap(), shared::domain::Interval::new(ts(&target), ts(&target) + SignedDuration::from_hours(1)).unwrap()).await.unwrap();
        assert_eq!(at_target.iter().filter(|b| b.start == ts(&target)).count(), 1, "{at_target:?}");
        if moved.0 == 200 {
            assert_eq!((stored.start, holds.len()), (ts(&target), 0));
            assert!(env.open_starts_on("t_one", &at).await.contains(&at), "the old time is free");
            break;
        }
        assert_eq!((stored.start, holds.len()), (ts(&at), 1), "the booking stayed where it was");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reschedule_across_a_clock_change_keeps_the_teachers_local_time() {
    use jiff::tz::TimeZone;
    let env = CheckoutEnv::start().await;
    let zone = TimeZone::get("Europe/Berlin").unwrap();
    env.db.store.put_profile(&teacher("t_berlin", "eur", 3000, "Europe/Berlin", json!({}))).await.unwrap();
    // The next change of Berlin's clocks at least two days away.
    let change = zone.following(Timestamp::now() + SignedDuration::from_hours(48)).next().unwrap().timestamp();
    let day_after = zone.to_datetime(change).date().tomorrow().unwrap();
    let day_before = day_after.checked_sub(jiff::Span::new().days(2)).unwrap();
    let at_ten = |date: jiff::civil::Date| date.at(10, 0, 0, 0).to_zoned_datetime(zone.clone()).unwrap().timestamp();
    let (before, after) = (at_ten(day_before), at_ten(day_after));
    assert_ne!(after - before, SignedDuration::from_hours(48), "10:00 local moves in UTC across the change");

    let (_, bookings) = env.paid_booking("s_1", vec![lesson("t_berlin", &before.to_string(), 60)]).await;
    let (status, moved) = reschedule(&app(&env, before - SignedDuration::from_hours(48)).await, &token_for("s_1"), &bookings[0], &after.to_string()).await;
    assert_eq!((status, moved["start"].as_str()), (200, Some(after.to_string().as_str())), "{moved}");
    let stored = booking(&env, &bookings[0]).await;
    assert_eq!(stored.end - stored.start, SignedDuration::from_hours(1), "an hour long on either side of the change");
    assert!(env.open_starts_on("t_berlin", &before.to_string()).await.contains(&before.to_string()));
    assert!(!env.open_starts_on("t_berlin", &after.to_string()).await.contains(&after.to_string()));
}

/// A cancellation decided on a booking that was moved meanwhile must not
/// commit: it would clear the old days and leave the new time held forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_read_before_a_reschedule_is_decided_again() {
    let env = CheckoutEnv::start().await;
    let at = tomorrow_at("10:00");
    let (_, bookings) = env.paid_booking("s_1", vec![lesson("t_one", &at, 60)]).await;
    let stale = booking(&env, &bookings[0]).await;
    let early = app(&env, ts(&at) - SignedDuration::from_hours(48)).await;
    assert_eq!(reschedule(&early, &token_for("s_1"), &bookings[0], &tomorrow_at("15:00")).await.0, 200);

    let how = shared::store::Cancelling { by: CancelledBy::Student, at: Timestamp::now(), refund_amount: 0 };
    let cancellation = shared::changes::Cancellation::read(&env.db.store_of("change-booking"), stale, how, None).await.unwrap();
    let result = shared::changes::commit(&env.db.store_of("change-booking"), &[cancellation], Vec::new(), Timestamp::now()).await;
    assert!(matches!(result, Err(shared::changes::CancelError::Changed)), "{result:?}");
    assert_eq!(booking(&env, &bookings[0]).await.status, BookingStatus::Confirmed);

    // Decided again on the booking as it is, the new time is freed.
    assert_eq!(cancel(&early, &token_for("s_1"), &bookings[0]).await.0, 200);
    assert!(env.open_starts_on("t_one", &at).await.contains(&tomorrow_at("15:00")), "the moved lesson's slot is free again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_while_100ms_is_down_answers_and_reconcile_disables_the_room() {
    let env = CheckoutEnv::start().await;
    let at = tomorrow_at("10:00");
    let (_, bookings) = env.paid_booking("s_1", vec![lesson("t_one", &at, 60)]).await;
    let room = booking(&env, &bookings[0]).await.room_id.unwrap();
    let faults = format!("{}faults", env.hms.control_url());
    reqwest::Client::new().post(&faults).json(&json!({"status": 500})).send().await.unwrap();
    let (status, cancelled) = cancel(&app(&env, ts(&at) - SignedDuration::from_hours(48)).await, &token_for("s_1"), &bookings[0]).await;
    assert_eq!((status, cancelled["refund"]["status"].as_str()), (200, Some("succeeded")), "{cancelled}");
    assert!(env.db.store.pending_rooms().await.unwrap().contains(&bookings[0]), "listed for its room to be disabled");

    reqwest::Client::new().delete(&faults).send().await.unwrap();
    let report = shared::reconcile::run(&env.event_handler_of("reconcile", Clock::System), Timestamp::now()).await;
    assert!(!report.failed(), "{report:?}");
    assert!(rooms(&env).await.iter().any(|r| r["id"] == room.as_str() && r["enabled"] == false), "reconcile disabled it");
    assert!(env.db.store.pending_rooms().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancel_a_reschedule_and_a_full_refund_at_once_end_in_one_state() {
    for round in 0..3 {
        let env = CheckoutEnv::start().await;
        let (at, to) = (tomorrow_at("10:00"), tomorrow_at("15:00"));
        let (checkout, bookings) = env.paid_booking("s_1", vec![lesson("t_one", &at, 60)]).await;
        let intent = payment_intent_of(&env, &checkout).await;
        let early = app(&env, ts(&at) - SignedDuration::from_hours(48)).await;
        let student = token_for("s_1");
        let dashboard = async {
            let refunded = reqwest::Client::new().post(format!("{}_emulator/payment_intents/{intent}/refund", env.stripe.base_url())).send().await.unwrap();
            if refunded.status().is_success() {
                deliver_about(&env, &intent, &["refund.created"]).await;
            }
        };
        let (cancelled, moved, ()) = tokio::join!(cancel(&early, &student, &bookings[0]), reschedule(&early, &student, &bookings[0], &to), dashboard);
        assert_eq!(cancelled.0, 200, "round {round}: {cancelled:?}");
        assert!(moved.0 == 200 || moved.1["error"]["code"] == "booking_not_active", "round {round}: {moved:?}");

        let stored = booking(&env, &bookings[0]).await;
        assert_eq!(stored.status, BookingStatus::Cancelled, "round {round}");
        for day in [&at, &to] {
            let busy = env.db.store.busy_around(&TeacherId::parse("t_one").unwrap(), shared::domain::Interval::new(ts(day), ts(day) + SignedDuration::from_hours(1)).unwrap()).await.unwrap();
            assert!(busy.is_empty(), "round {round}: no slot held for a cancelled booking: {busy:?}");
        }
        let made: Vec<u64> = refunds(&env).await.iter().map(|r| r["amount"].as_u64().unwrap()).collect();
        assert_eq!(made, [3000], "round {round}: one refund of what was paid");
        assert!(env.db.store.ledger(&intent).await.unwrap().obligations.len() <= 1, "round {round}");
    }
}

/// Two lessons of one payment on different days (so no calendar item is
/// shared) cancelled at once, with less left on the payment than either
/// costs: what was left is owed once, not twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_cancels_of_one_payment_at_once_never_both_spend_what_was_left() {
    let env = CheckoutEnv::start().await;
    let (first, second) = (tomorrow_at("10:00"), tests::in_days(2, "10:00"));
    let (checkout, bookings) = env.paid_booking("s_1", vec![lesson("t_one", &first, 60), lesson("t_one", &second, 60)]).await;
    let intent = payment_intent_of(&env, &checkout).await;
    let dashboard = reqwest::Client::new().post(format!("{}_emulator/payment_intents/{intent}/refund", env.stripe.base_url())).json(&json!({"amount": 4000})).send().await.unwrap();
    assert!(dashboard.status().is_success());
    deliver_about(&env, &intent, &["refund.created"]).await;

    let early = app(&env, ts(&first) - SignedDuration::from_hours(48)).await;
    let student = token_for("s_1");
    let (a, b) = tokio::join!(cancel(&early, &student, &bookings[0]), cancel(&early, &student, &bookings[1]));
    assert_eq!((a.0, b.0), (200, 200), "{a:?} {b:?}");
    let mut owed = vec![booking(&env, &bookings[0]).await.refund_amount.unwrap(), booking(&env, &bookings[1]).await.refund_amount.unwrap()];
    owed.sort();
    assert_eq!(owed, [0, 2000], "the 2000 left is owed by one cancellation only");
    let answered: u64 = [&a.1, &b.1].iter().map(|v| v["refund"]["amount"].as_u64().unwrap()).sum();
    assert_eq!(answered, 2000, "{a:?} {b:?}");
}

