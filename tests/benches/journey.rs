//! `make bench`: what one student's journey costs in AWS, step by step: the
//! DynamoDB read and write request units each step consumes (counted by the
//! local stack's IAM checker from dynoxide's `ConsumedCapacity`, which
//! follows DynamoDB's billing rules), and the Lambda GB-seconds of each
//! function's invocation (its `MemorySize` in template.yaml times the
//! handler's run time here, release build, against the loopback emulators:
//! real Stripe and 100ms calls add their own latency to the billed time).
//! The baseline of the cost goal; no target yet.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jiff::SignedDuration;
use local_stack::iam::capacity::Units;
use serde_json::{Value, json};
use shared::clock::Clock;
use tests::{FunctionUrlEvent, in_days, json_of, lesson, token_for};

/// AWS's published us-east-1 prices (on-demand DynamoDB since the price
/// change of 2024-11-01; Lambda arm64). Not read live: check them before
/// budgeting (README, "What a journey costs").
const READ_UNIT_USD: f64 = 0.125 / 1e6;
const WRITE_UNIT_USD: f64 = 0.625 / 1e6;
const ARM64_GB_SECOND_USD: f64 = 0.000_013_333_4;
const REQUEST_USD: f64 = 0.20 / 1e6;
const RUNS: usize = 3;

struct Step {
    name: &'static str,
    function: &'static str,
    units: Units,
    elapsed: Duration,
}

#[tokio::main]
async fn main() {
    let memory = memory_sizes();
    let mut runs: Vec<Vec<Step>> = Vec::new();
    for run in 0..RUNS {
        runs.push(journey(run).await);
    }
    println!("\nOne student's journey (mean of {RUNS} runs; DynamoDB units as billed on demand, Lambda at each function's MemorySize):\n");
    println!("{:<22} {:<18} {:>8} {:>8} {:>9} {:>11}", "step", "function", "RRU", "WRU", "ms", "GB-s");
    let (mut read, mut write, mut gb_seconds) = (0.0, 0.0, 0.0);
    let steps = runs[0].len();
    for i in 0..steps {
        let (name, function) = (runs[0][i].name, runs[0][i].function);
        let mean = |f: &dyn Fn(&Step) -> f64| runs.iter().map(|r| f(&r[i])).sum::<f64>() / RUNS as f64;
        let (r, w) = (mean(&|s| s.units.read), mean(&|s| s.units.write));
        let ms = mean(&|s| s.elapsed.as_secs_f64() * 1000.0).ceil();
        let mb = memory.get(function).copied().unwrap_or(128);
        let gbs = f64::from(mb) / 1024.0 * ms / 1000.0;
        println!("{name:<22} {function:<18} {r:>8.1} {w:>8.1} {ms:>9.0} {gbs:>11.6}");
        (read, write, gb_seconds) = (read + r, write + w, gb_seconds + gbs);
    }
    let requests = steps as f64;
    let per_journey = read * READ_UNIT_USD + write * WRITE_UNIT_USD + gb_seconds * ARM64_GB_SECOND_USD + requests * REQUEST_USD;
    println!("{:<41} {read:>8.1} {write:>8.1} {:>9} {gb_seconds:>11.6}", "journey", "");
    println!("\n1,000 journeys: DynamoDB ${:.4} (reads ${:.4}, writes ${:.4}), Lambda ${:.4} (compute ${:.4}, {} requests ${:.4}): ${:.4} in all",
        1000.0 * (read * READ_UNIT_USD + write * WRITE_UNIT_USD), 1000.0 * read * READ_UNIT_USD, 1000.0 * write * WRITE_UNIT_USD,
        1000.0 * (gb_seconds * ARM64_GB_SECOND_USD + requests * REQUEST_USD), 1000.0 * gb_seconds * ARM64_GB_SECOND_USD, 1000 * steps, 1000.0 * requests * REQUEST_USD,
        1000.0 * per_journey);
    println!("prices: us-east-1, DynamoDB on-demand $0.125 per million read and $0.625 per million write request units; Lambda arm64 $0.0000133334 per GB-second and $0.20 per million requests");

    println!("\nTwo lessons booked by card and with a package's credits (the steps that book them, mean of {RUNS} runs):\n");
    println!("{:<34} {:>8} {:>8} {:>9}", "way", "RRU", "WRU", "ms");
    let mut ways: Vec<(Step, Step)> = Vec::new();
    for run in 0..RUNS {
        ways.push(card_and_credits(run).await);
    }
    for (name, pick) in [("card: checkout + webhook", 0), ("credits: one checkout, no Stripe", 1)] {
        let mean = |f: &dyn Fn(&Step) -> f64| ways.iter().map(|(card, credits)| f(if pick == 0 { card } else { credits })).sum::<f64>() / RUNS as f64;
        println!("{name:<34} {:>8.1} {:>8.1} {:>9.0}", mean(&|s| s.units.read), mean(&|s| s.units.write), mean(&|s| s.elapsed.as_secs_f64() * 1000.0).ceil());
    }

    println!("\nOne notify sweep with 10 notices due (each one mail; DynamoDB units of the sweep alone):\n");
    println!("{:<28} {:>8} {:>8} {:>9}", "history", "RRU", "WRU", "ms");
    for sent in [0, 10_000] {
        let step = sweep_cost(sent, 10).await;
        println!("{:<28} {:>8.1} {:>8.1} {:>9.0}", format!("{sent} notices sent before"), step.units.read, step.units.write, step.elapsed.as_secs_f64() * 1000.0);
    }
}

/// Each function's `MemorySize` in MB, from the real template.
fn memory_sizes() -> BTreeMap<String, u32> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let template: serde_norway::Value = serde_norway::from_str(&std::fs::read_to_string(path).expect("template.yaml")).expect("yaml");
    let resources = template["Resources"].as_mapping().expect("Resources");
    resources
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .filter_map(|r| Some((r["Metadata"]["BuildProperties"]["Binary"].as_str()?.to_owned(), u32::try_from(r["Properties"]["MemorySize"].as_u64()?).ok()?)))
        .collect()
}

/// Runs `work` as `function` and keeps what every function consumed meanwhile.
async fn timed<T>(db: &tests::TestDb, name: &'static str, function: &'static str, work: impl std::future::Future<Output = T>) -> (Step, T) {
    let total = |all: BTreeMap<String, Units>| all.into_iter().filter(|(caller, _)| caller != "operator").fold(Units::default(), |mut sum, (_, u)| {
        sum += u;
        sum
    });
    let before = total(db.dynamo.consumed());
    let started = Instant::now();
    let out = work.await;
    let elapsed = started.elapsed();
    (Step { name, function, units: total(db.dynamo.consumed()) - before, elapsed }, out)
}

fn call_ok(status_body: (u16, Value), expect: u16, what: &str) -> Value {
    assert_eq!(status_body.0, expect, "{what}: {}", status_body.1);
    status_body.1
}

async fn journey(run: usize) -> Vec<Step> {
    let h = tests::hooked::hooked(false, false).await;
    let env = &h.env;
    let db = &env.db;
    let student = format!("s_journey_{run}");
    let bearer = format!("Bearer {}", token_for(&student));
    let day = i64::try_from(run).unwrap_or(0) + 2;
    let (first, second) = (in_days(day, "10:00"), in_days(day, "13:00"));
    let mut steps = Vec::new();

    let directory = get_teachers::App { store: db.store_of("get-teachers"), clock: Clock::System };
    let (step, answer) = timed(db, "directory page", "get-teachers", get_teachers::handle(&directory, FunctionUrlEvent::get("/").into_request())).await;
    call_ok(json_of(&shared::http::into_response(answer)), 200, "directory");
    steps.push(step);

    let slots = get_slots::App { store: db.store_of("get-slots"), clock: Clock::System };
    let week = FunctionUrlEvent::get("/").query("teacher_id", "t_one").query("from", &in_days(1, "00:00")[..10]).query("to", &in_days(7, "00:00")[..10]).query("duration", "60");
    let (step, answer) = timed(db, "a week of slots", "get-slots", get_slots::handle(&slots, week.into_request())).await;
    call_ok(json_of(&shared::http::into_response(answer)), 200, "slots");
    steps.push(step);

    let cart = cart::App { auth: tests::hs256_auth().await, store: db.store_of("cart"), clock: Clock::System };
    let put = FunctionUrlEvent::new("PUT", "/").header("authorization", &bearer).header("content-type", "application/json").body(&json!({"items": [lesson("t_one", &first, 60), lesson("t_one", &second, 60)]}).to_string());
    let (step, answer) = timed(db, "cart write", "cart", cart::handle(&cart, put.into_request())).await;
    call_ok(json_of(&shared::http::into_response(answer)), 200, "cart");
    steps.push(step);

    let checkout = FunctionUrlEvent::new("POST", "/").header("authorization", &bearer).header("content-type", "application/json").body(&json!({"from_cart": true}).to_string());
    let (step, answer) = timed(db, "checkout", "initiate-checkout", tests::call_app(&env.checkout, checkout)).await;
    let created = call_ok(answer, 201, "checkout");
    steps.push(step);

    env.pay(created["checkout_url"].as_str().expect("checkout_url")).await;
    let session = env.db.store.get_checkout(&shared::domain::CheckoutId::parse(created["checkout_id"].as_str().expect("id")).expect("id")).await.expect("read").expect("checkout").stripe_session_id.expect("session");
    let completed = h.event("checkout.session.completed", &session).await;
    let (step, answer) = timed(db, "webhook confirmation", "stripe-webhook", h.deliver(&completed)).await;
    call_ok(answer, 200, "webhook");
    steps.push(step);
    let bookings = env.db.store.get_checkout(&shared::domain::CheckoutId::parse(created["checkout_id"].as_str().expect("id")).expect("id")).await.expect("read").expect("checkout").booking_ids;
    let ses = tests::mail::start_ses().await;
    let notifier = env.notifier(&ses);
    let (step, report) = timed(db, "confirmation mails", "notify", notifier.sweep(jiff::Timestamp::now())).await;
    assert_eq!((report.sent, report.errors.len()), (2, 0), "{report:?}");
    steps.push(step);
    let attended = env.db.store.get_booking(&bookings[1]).await.expect("read").expect("booking");

    let at_start = Clock::Fixed(attended.start);
    let joining = join_lesson::App { auth: tests::hs256_auth().await, joining: shared::rooms::Joining { rooms: tests::rooms_for(&db.store_of("join-lesson"), &env.hms.base_url(), at_start), opens_before: SignedDuration::from_mins(15), clock: at_start } };
    let join = FunctionUrlEvent::new("POST", "/").header("authorization", &bearer).body(&json!({"booking_id": attended.booking_id}).to_string());
    let (step, answer) = timed(db, "join", "join-lesson", join_lesson::handle(&joining, join.into_request())).await;
    call_ok(json_of(&shared::http::into_response(answer)), 200, "join");
    steps.push(step);

    let changes = env.change_booking_at(attended.start - SignedDuration::from_hours(30)).await;
    let cancel = FunctionUrlEvent::new("POST", "/").header("authorization", &bearer).body(&json!({"booking_id": bookings[0], "action": "cancel"}).to_string());
    let (step, answer) = timed(db, "cancel with refund", "change-booking", change_booking::handle(&changes, cancel.into_request())).await;
    let cancelled = call_ok(json_of(&shared::http::into_response(answer)), 200, "cancel");
    assert_eq!(cancelled["refund"]["status"], "succeeded", "{cancelled}");
    steps.push(step);
    let (step, report) = timed(db, "cancellation mails", "notify", notifier.sweep(attended.start - SignedDuration::from_hours(30))).await;
    assert_eq!((report.sent, report.errors.len()), (2, 0), "{report:?}");
    steps.push(step);

    // Both were there (100ms's sessions say so); the next reconcile run decides.
    let room = attended.room_id.clone().expect("room");
    for (code, until) in [(&attended.teacher_room_code, 60), (&attended.student_room_code, 55)] {
        let control = |path: String, body: Value| reqwest::Client::new().post(format!("{}{path}", env.hms.control_url())).json(&body).send();
        let joined: Value = control(format!("rooms/{room}/join"), json!({"code": code, "at": attended.start.to_string()})).await.expect("join").json().await.expect("json");
        control(format!("peers/{}/leave", joined["peer_id"].as_str().expect("peer")), json!({"at": (attended.start + SignedDuration::from_mins(until)).to_string()})).await.expect("leave");
    }
    let sweeper = env.event_handler_of("reconcile", Clock::System);
    let after = attended.end + SignedDuration::from_mins(16);
    let (step, report) = timed(db, "attendance decision", "reconcile", shared::reconcile::run_with(&sweeper, &shared::attendance::AttendanceConfig::default(), after)).await;
    assert_eq!(report.outcomes.settled, 1, "{report:?}");
    steps.push(step);
    steps
}

/// Two lessons of a teacher with packages, booked by card (the checkout,
/// then the webhook that confirms it) and by a student holding a package
/// (one checkout with credits): the units and time of the booking steps.
async fn card_and_credits(run: usize) -> (Step, Step) {
    let h = tests::hooked::hooked(false, false).await;
    let env = &h.env;
    let day = json!([["00:00", "24:00"]]);
    let doc = json!({
        "id": "t_pack", "name": "Teacher Pack", "timezone": "UTC", "currency": "eur",
        "weekly": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day},
        "lessons": [{"duration_minutes": 60, "price": 3000}], "packages": [{"lessons": 10, "duration_minutes": 60, "discount_percent": 10}],
        "buffer_minutes": 10, "min_notice_minutes": 0, "horizon_days": 30, "slot_step_minutes": 10
    });
    env.db.store.put_profile(&shared::domain::TeacherProfile::from_json_str(&doc.to_string()).expect("profile")).await.expect("seed");
    let day = i64::try_from(run).unwrap_or(0) + 2;
    let post = |student: &str, body: Value| FunctionUrlEvent::new("POST", "/").header("authorization", &format!("Bearer {}", token_for(student))).header("content-type", "application/json").body(&body.to_string());
    let two = |hours: [&str; 2]| hours.iter().map(|h| lesson("t_pack", &in_days(day, h), 60)).collect::<Vec<_>>();

    let (checkout, answer) = timed(&env.db, "card checkout", "initiate-checkout", tests::call_app(&env.checkout, post("s_card", json!({"lessons": two(["08:00", "10:00"])})))).await;
    let created = call_ok(answer, 201, "card checkout");
    env.pay(created["checkout_url"].as_str().expect("checkout_url")).await;
    let id = shared::domain::CheckoutId::parse(created["checkout_id"].as_str().expect("id")).expect("id");
    let session = env.db.store.get_checkout(&id).await.expect("read").expect("checkout").stripe_session_id.expect("session");
    let completed = h.event("checkout.session.completed", &session).await;
    let (webhook, answer) = timed(&env.db, "webhook", "stripe-webhook", h.deliver(&completed)).await;
    call_ok(answer, 200, "webhook");
    let mut units = checkout.units;
    units += webhook.units;
    let card = Step { name: "card", function: "initiate-checkout", units, elapsed: checkout.elapsed + webhook.elapsed };

    let (_, answer) = json_of_call(env, post("s_credits", json!({"package": {"teacher_id": "t_pack", "lessons": 10, "duration_minutes": 60}}))).await;
    env.pay(answer["checkout_url"].as_str().expect("checkout_url")).await;
    let package = shared::domain::CheckoutId::parse(answer["checkout_id"].as_str().expect("id")).expect("id");
    shared::reconcile::book_checkout(&env.event_handler(Clock::System), &package, jiff::Timestamp::now()).await.expect("the package is paid");
    let (credits, answer) = timed(&env.db, "credits checkout", "initiate-checkout", tests::call_app(&env.checkout, post("s_credits", json!({"lessons": two(["12:00", "14:00"]), "pay_with": "credits"})))).await;
    assert_eq!(call_ok(answer, 201, "credits checkout")["status"], "confirmed");
    (card, credits)
}

async fn json_of_call(env: &tests::CheckoutEnv, event: FunctionUrlEvent) -> (u16, Value) {
    let answer = tests::call_app(&env.checkout, event).await;
    assert_eq!(answer.0, 201, "{}", answer.1);
    answer
}

/// One notify sweep with `due` notices due, over a history of `sent`
/// notices already sent: the sparse due index makes its cost independent of
/// the history.
async fn sweep_cost(sent: usize, due: usize) -> Step {
    use shared::store::{Notice, Recipient, Topic};
    let env = tests::CheckoutEnv::start().await;
    let ses = tests::mail::start_ses().await;
    let notifier = env.notifier(&ses);
    // The bookings the due notices are about, their own notices sent first.
    let lessons: Vec<Value> = (0..due.div_ceil(2)).map(|i| lesson("t_one", &in_days(2 + i64::try_from(i).unwrap_or(0), "10:00"), 60)).collect();
    let (_, bookings) = env.paid_booking("s_sweep", lessons).await;
    notifier.sweep(jiff::Timestamp::now()).await;
    // The history: notices as a sent one is stored (done, off the due index), written by the operator.
    let history: Vec<_> = (0..sent)
        .map(|i| {
            let notice = Notice { status: shared::store::WorkStatus::Done, provider_id: Some(format!("ses-{i}")), ..Notice::event(format!("bk_history_{i}"), Topic::Cancelled, 1, jiff::Timestamp::now()) };
            let key = notice.key();
            let mut item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> = serde_dynamo::to_item(&notice).expect("item");
            item.insert("pk".into(), aws_sdk_dynamodb::types::AttributeValue::S(key.pk));
            item.insert("sk".into(), aws_sdk_dynamodb::types::AttributeValue::S(key.sk));
            aws_sdk_dynamodb::types::WriteRequest::builder().put_request(aws_sdk_dynamodb::types::PutRequest::builder().set_item(Some(item)).build().expect("put")).build()
        })
        .collect();
    for batch in history.chunks(25) {
        env.db.store.client().batch_write_item().request_items(env.db.store.table(), batch.to_vec()).send().await.expect("history");
    }
    // The due ones: a change of each booking told to each party.
    let now = jiff::Timestamp::now();
    for (i, booking) in bookings.iter().flat_map(|b| [b, b]).enumerate().take(due) {
        let reader = if i % 2 == 0 { Recipient::Student } else { Recipient::Teacher(shared::domain::TeacherId::parse("t_one").expect("id")) };
        let notice = Notice { recipient: reader, ..Notice::event(booking.to_string(), Topic::Rescheduled, 0, now) };
        env.db.store.transact(vec![env.db.store.notice_item(&notice, now).expect("item")]).await.expect("a due notice");
    }
    let (step, report) = timed(&env.db, "sweep", "notify", notifier.sweep(jiff::Timestamp::now())).await;
    assert_eq!((report.due, report.sent, report.errors.len()), (due, due, 0), "{report:?}");
    step
}
