//! `make bench`: every function started as Lambda starts it, against a local
//! Runtime API stand-in and the local services, next to a hello-world
//! `lambda_runtime` binary built the same way in the same run. Per function:
//! the arm64 zip's size, the time from process start to its first call to
//! `/invocation/next` (init), the first and the second request, and the peak
//! resident memory, as the median (memory: maximum) over `--runs` starts.

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use jiff::{SignedDuration, Timestamp, ToSpan};
use local_stack::events::FunctionUrlEvent;
use local_stack::runtime_api::RuntimeApi;
use local_stack::services::{LocalConfig, Ports, Services};
use serde_json::{Value, json};
use shared::auth::{self, Claims, Role};
use shared::domain::{Interval, TeacherId};
use tokio::process::Command;

const BASELINE: &str = "hello-world";
/// The memory size the template gives every function, as Lambda tells it.
const MEMORY_MB: &str = "256";
/// Functions that never call Stripe, held to the 3.0 MB zip goal.
const WITHOUT_STRIPE: [&str; 5] = ["get-slots", "get-teachers", "teacher-profile", "join-lesson", "create-room"];
/// Requests timed for the directory figures, and teachers on the page.
const DIRECTORY_REQUESTS: usize = 200;
const DIRECTORY_PAGE: usize = 20;
const ZIP_GOAL_MB: f64 = 3.0;
const RSS_GOAL_MB: f64 = 32.0;
const INIT_GOAL_RATIO: f64 = 1.3;

#[derive(Parser)]
struct Args {
    /// The functions built for this machine with the release profile (run here).
    #[arg(long, default_value = "target/release")]
    bins: PathBuf,
    /// The arm64 zips `cargo lambda build --release --arm64` made (their sizes).
    #[arg(long, default_value = "target/lambda")]
    zips: PathBuf,
    #[arg(long, default_value_t = 30)]
    runs: usize,
    #[arg(long, default_value = "infra/seed")]
    seed_dir: PathBuf,
    /// The functions to measure (default: hello-world and every one in functions/).
    names: Vec<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench failed: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    if args.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    let config = LocalConfig::from_env()?;
    let db = dynoxide::Database::memory().map_err(|e| e.to_string())?;
    let services = Services::start(&config, db, Ports { dynamo: 0, stripe: 0, hms: 0, ses: 0 }, &args.seed_dir, None).await?;
    let calls = Calls::prepare(&config, &services, 2 * args.runs).await?;
    let names = if args.names.is_empty() { all_functions()? } else { args.names.clone() };

    // Round-robin, so that whatever else the machine does falls on every function alike.
    let mut samples: Vec<Vec<Sample>> = names.iter().map(|_| Vec::new()).collect();
    for run in 0..args.runs {
        for (name, samples) in names.iter().zip(&mut samples) {
            let events = [calls.event(name, 2 * run)?, calls.event(name, 2 * run + 1)?];
            samples.push(start_once(&args.bins.join(name), name, &services, events).await.map_err(|e| format!("{name}, start {}: {e}", run + 1))?);
        }
    }
    let rows: Vec<Row> = names.iter().zip(&samples).map(|(name, samples)| Row::of(name, zip_size(&args.zips, name), file_size(&args.bins.join(name)), samples)).collect();
    print_table(&rows, args.runs);
    directory_latency(&services, &calls.teacher).await?;
    outcome_sweep(&services, &calls.teacher).await
}

/// Past bookings, already decided, that a sweep must not read.
const PAST_BOOKINGS: usize = 10_000;
const DUE_PER_SWEEP: usize = 10;
const SWEEPS: usize = 5;

/// The outcome sweep's cost with [`PAST_BOOKINGS`] decided bookings in the
/// table and [`DUE_PER_SWEEP`] due: it reads only the due list, so its time
/// follows what is due, not the history. No rooms, no payments: the
/// decision itself (reads, one transaction) without the providers.
async fn outcome_sweep(services: &Services, teacher: &str) -> Result<(), String> {
    let store = &services.store;
    let teacher = TeacherId::parse(teacher).map_err(|e| e.to_string())?;
    let long_ago = Timestamp::now() - SignedDuration::from_hours(24 * 400);
    let booking = |n: usize, end: Timestamp, status: shared::store::BookingStatus| shared::store::Booking {
        booking_id: shared::domain::BookingId::parse(&format!("bk_sweep_{n}")).expect("an id"),
        status,
        payment_status: "paid".into(),
        room_status: shared::store::RoomStatus::Ready,
        checkout_id: shared::domain::CheckoutId::parse(&format!("co_sweep_{n}")).expect("an id"),
        teacher_id: teacher.clone(),
        student_id: format!("s_sweep_{}", n % 500),
        student_name: None,
        start: end - SignedDuration::from_hours(1),
        end,
        duration_minutes: 60,
        amount: 3000,
        currency: shared::domain::Currency::parse("eur").expect("eur"),
        trial: false,
        created_at: end,
        room_id: None,
        teacher_room_code: None,
        student_room_code: None,
        cancelled_by: None,
        cancelled_at: None,
        reschedule_count: 0,
        policy: Default::default(),
        refund_amount: None,
        history: Vec::new(),
        attendance: None,
        sequence: 0,
        credit: None,
    };
    let started = Instant::now();
    for chunk in (0..PAST_BOOKINGS).collect::<Vec<_>>().chunks(100) {
        let items = chunk.iter().map(|&n| store.new_booking_item(&booking(n, long_ago + SignedDuration::from_mins(n as i64 * 90), shared::store::BookingStatus::Completed))).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
        store.transact(items).await.map_err(|e| format!("seeding past bookings: {e:?}"))?;
    }
    let seeded = started.elapsed();
    let (stripe, hms) = shared::config::load(|env| {
        let parts = (shared::payments::StripeConfig::read(env), shared::rooms::HmsConfig::read(env));
        Some((parts.0?, parts.1?))
    })
    .map_err(|e| e.to_string())?;
    let handler = shared::webhook::EventHandler::new(store.clone(), &stripe, hms).map_err(|e| e.to_string())?;
    let config = shared::attendance::AttendanceConfig::default();
    let mut times = Vec::new();
    let now = Timestamp::from_second(Timestamp::now().as_second()).map_err(|e| e.to_string())?;
    for sweep in 0..SWEEPS {
        let first = PAST_BOOKINGS + sweep * DUE_PER_SWEEP;
        let mut items = Vec::new();
        for n in first..first + DUE_PER_SWEEP {
            let due = booking(n, now - SignedDuration::from_hours(2), shared::store::BookingStatus::Confirmed);
            items.push(store.new_booking_item(&due).map_err(|e| e.to_string())?);
            items.push(store.outcome_due_item(&due).map_err(|e| e.to_string())?);
        }
        store.transact(items).await.map_err(|e| format!("seeding due bookings: {e:?}"))?;
        let started = Instant::now();
        let decided = shared::attendance::decide_due(&handler, &config, now).await.map_err(|e| e.to_string())?;
        times.push(started.elapsed());
        if decided.outcomes.len() != DUE_PER_SWEEP {
            return Err(format!("a sweep decided {} bookings, not {DUE_PER_SWEEP}: {decided:?}", decided.outcomes.len()));
        }
    }
    let started = Instant::now();
    let idle = shared::attendance::decide_due(&handler, &config, now).await.map_err(|e| e.to_string())?;
    let nothing_due = started.elapsed();
    times.sort();
    println!("\nOutcome sweep against dynoxide, {PAST_BOOKINGS} decided bookings in the table (seeded in {:.1} s):\n", seeded.as_secs_f64());
    println!("| sweep | ms |");
    println!("|---|---:|");
    println!("| {DUE_PER_SWEEP} due (median of {SWEEPS}, each deciding all {DUE_PER_SWEEP}) | {:.2} |", times[times.len() / 2].as_secs_f64() * 1e3);
    println!("| nothing due ({} decided) | {:.2} |", idle.outcomes.len(), nothing_due.as_secs_f64() * 1e3);
    Ok(())
}

/// A page of 20 teachers from the directory next to one teacher's slots,
/// each as the use case the function runs (the index query, the statistics
/// and every teacher's calendar against dynoxide over loopback HTTP):
/// median and p99 over [`DIRECTORY_REQUESTS`] requests.
async fn directory_latency(services: &Services, teacher: &str) -> Result<(), String> {
    let id = TeacherId::parse(teacher).map_err(|e| e.to_string())?;
    let profile = services.store.get_profile(&id).await.map_err(|e| e.to_string())?.ok_or("the demo teacher has no profile")?;
    for i in 0..DIRECTORY_PAGE {
        let mut doc = profile.to_doc();
        doc.id = format!("t_bench_{i:02}");
        doc.user_id = Some(format!("bench-login-{i}"));
        services.store.put_profile(&shared::domain::TeacherProfile::try_from(doc).map_err(|e| e.to_string())?).await.map_err(|e| e.to_string())?;
    }
    let duration = profile.lessons().iter().map(|l| l.duration_minutes).min().ok_or("no lesson")?;
    let today = jiff::tz::TimeZone::UTC.to_datetime(Timestamp::now()).date();
    let mut page = Vec::with_capacity(DIRECTORY_REQUESTS);
    let mut slots = Vec::with_capacity(DIRECTORY_REQUESTS);
    for _ in 0..DIRECTORY_REQUESTS {
        let started = Instant::now();
        let listed = shared::directory::page(&services.store, None, DIRECTORY_PAGE, Timestamp::now()).await.map_err(|e| e.to_string())?;
        page.push(started.elapsed());
        if listed.teachers.len() != DIRECTORY_PAGE {
            return Err(format!("a page listed {} teachers, not {DIRECTORY_PAGE}", listed.teachers.len()));
        }
        let query = shared::slots::SlotsQuery { teacher_id: id.clone(), from: today, to: today.checked_add(14.days()).map_err(|e| e.to_string())?, lesson: shared::domain::LessonChoice::Minutes(duration), zone: None };
        let started = Instant::now();
        shared::slots::open_slots(&services.store, query, Timestamp::now()).await.map_err(|e| e.to_string())?;
        slots.push(started.elapsed());
    }
    let stats = |mut samples: Vec<Duration>| {
        samples.sort();
        let at = |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).saturating_sub(1).min(samples.len() - 1)].as_secs_f64() * 1e3;
        (at(0.5), at(0.99))
    };
    let ((page_median, page_p99), (slots_median, slots_p99)) = (stats(page), stats(slots));
    println!("\nDirectory, {DIRECTORY_REQUESTS} requests each against dynoxide over loopback (the use case, without HTTP parsing):\n");
    println!("| request | median ms | p99 ms |");
    println!("|---|---:|---:|");
    println!("| get-teachers, a page of {DIRECTORY_PAGE} (14 days of calendar each) | {page_median:.2} | {page_p99:.2} |");
    println!("| get-slots, one teacher, 14 days | {slots_median:.2} | {slots_p99:.2} |");
    Ok(())
}

fn all_functions() -> Result<Vec<String>, String> {
    let mut names: Vec<String> = std::fs::read_dir("functions").map_err(|e| format!("functions/: {e}"))?.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names.insert(0, BASELINE.into());
    Ok(names)
}

/// One start: init, two requests, memory.
struct Sample {
    init: Duration,
    first: Duration,
    second: Duration,
    peak_rss_kb: u64,
}

async fn start_once(binary: &Path, name: &str, services: &Services, events: [(Value, u16); 2]) -> Result<Sample, String> {
    let mut api = RuntimeApi::start().await.map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut child = Command::new(binary)
        .envs(lambda_environment(name, &api.address()))
        .envs(services.endpoints())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{}: {e} (run through `make bench`, which builds it)", binary.display()))?;
    let pid = child.id().ok_or("the process ended at once")?;
    let limit = Duration::from_secs(20);
    let init = api.next_poll(limit).await? - started;
    let mut times = Vec::new();
    for (event, expected) in events {
        let sent = Instant::now();
        api.invoke(event);
        let reply = api.reply(limit).await?;
        check(&reply, expected)?;
        times.push(reply.at - sent);
        api.next_poll(limit).await?;
    }
    // Idle in its next poll, as Lambda would freeze it.
    let peak_rss_kb = peak_rss_kb(pid)?;
    let _ = child.kill().await;
    Ok(Sample { init, first: times[0], second: times[1], peak_rss_kb })
}

/// What Lambda sets for a `provided.al2023` function, as the runtime reads it.
fn lambda_environment(name: &str, runtime_api: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", MEMORY_MB.to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench".to_owned()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
        // As template.yaml sets it for every function.
        ("AWS_LC_SYS_NO_JITTER_ENTROPY", "1".to_owned()),
    ]
}

/// A Function URL answer must carry the expected status; anything else
/// (hello-world, reconcile) must simply have succeeded.
fn check(reply: &local_stack::runtime_api::Reply, expected: u16) -> Result<(), String> {
    if !reply.ok {
        return Err(format!("the function failed: {}", reply.body));
    }
    match reply.body.get("statusCode").and_then(Value::as_u64) {
        Some(status) if status != u64::from(expected) => Err(format!("expected {expected}, got {status}: {}", reply.body)),
        _ => Ok(()),
    }
}

fn peak_rss_kb(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmHWM in /proc/<pid>/status".into())
}

fn zip_size(zips: &Path, name: &str) -> Option<u64> {
    file_size(&zips.join(name).join("bootstrap.zip"))
}

fn file_size(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

/// The requests each function gets: a real one where the local data allows
/// (slots of a demo teacher, a checkout of a fresh slot per request), else
/// one that reads the table and finds nothing.
struct Calls {
    teacher: String,
    slots: Vec<(String, i64)>,
    jwt_secret: String,
    webhook_secret: String,
    /// hms-webhook's secret header (`HMS_WEBHOOK_SECRET`), when configured.
    hms_webhook_secret: Option<String>,
    from: String,
    to: String,
}

impl Calls {
    async fn prepare(config: &LocalConfig, services: &Services, requests: usize) -> Result<Self, String> {
        let teacher = services.teachers.first().ok_or("no demo teacher in the seed")?.clone();
        let slots = open_slots(services, &teacher, requests).await?;
        let today = jiff::tz::TimeZone::UTC.to_datetime(Timestamp::now()).date();
        let day = |n: i64| today.checked_add(n.days()).map(|d| d.to_string()).map_err(|e| e.to_string());
        let hms_webhook_secret = config.hms.webhook.as_ref().map(|w| w.secret.clone());
        Ok(Self { teacher, slots, jwt_secret: config.jwt_secret.clone(), webhook_secret: config.webhook_secret.clone(), hms_webhook_secret, from: day(1)?, to: day(7)? })
    }

    fn token(&self, sub: &str, role: Role) -> Result<String, String> {
        auth::mint_hs256(&self.jwt_secret, &Claims::new(sub, role, Timestamp::now(), SignedDuration::from_hours(1))).map_err(|e| e.to_string())
    }

    /// The event for request `n` of function `name`, and the status it must get.
    fn event(&self, name: &str, n: usize) -> Result<(Value, u16), String> {
        let bearer = |sub: &str, role| self.token(sub, role).map(|t| format!("Bearer {t}"));
        let post = |body: Value| FunctionUrlEvent::new("POST", "/").header("content-type", "application/json").body(&body.to_string());
        Ok(match name {
            "get-slots" => (FunctionUrlEvent::get("/").query("teacher_id", &self.teacher).query("from", &self.from).query("to", &self.to).query("duration", "60").to_json(), 200),
            "initiate-checkout" => {
                let (start, minutes) = self.slots.get(n).ok_or("too few open slots for the runs")?;
                let cart = json!({"lessons": [{"teacher_id": self.teacher, "start": start, "duration_minutes": minutes}]});
                // One student per request: at most five open checkouts each.
                (post(cart).header("authorization", &bearer(&format!("s_bench_{n}"), Role::Student)?).header("idempotency-key", &format!("bench-{n}")).to_json(), 201)
            }
            "stripe-webhook" => {
                let body = json!({"id": format!("evt_bench_{n}"), "object": "event", "type": "checkout.session.expired", "livemode": false, "created": Timestamp::now().as_second(),
                    "data": {"object": {"id": format!("cs_bench_{n}"), "object": "checkout.session", "client_reference_id": format!("co_bench_{n}"), "status": "expired", "payment_status": "unpaid"}}})
                .to_string();
                let signature = emulators::stripe::signature_header(&self.webhook_secret, Timestamp::now().as_second(), body.as_bytes());
                (FunctionUrlEvent::new("POST", "/").header("content-type", "application/json").header("stripe-signature", &signature).body(&body).to_json(), 200)
            }
            "hms-webhook" => {
                let secret = self.hms_webhook_secret.as_deref().ok_or("HMS_WEBHOOK_SECRET is not set (.env.local sets it)")?;
                let event = json!({"version": "2.0", "id": format!("evt_bench_{n}"), "type": "session.open.success", "timestamp": Timestamp::now().to_string(), "data": {"room_id": format!("room_bench_{n}"), "session_id": format!("sess_bench_{n}")}});
                (post(event).header(shared::rooms::WEBHOOK_SECRET_HEADER, secret).to_json(), 200)
            }
            "join-lesson" => (post(json!({"booking_id": format!("b_bench_{n}")})).header("authorization", &bearer(&format!("s_bench_{n}"), Role::Student)?).to_json(), 404),
            "change-booking" => (FunctionUrlEvent::get("/").query("booking_id", &format!("b_bench_{n}")).header("authorization", &bearer(&format!("s_bench_{n}"), Role::Student)?).to_json(), 404),
            "get-teachers" => (FunctionUrlEvent::get("/").to_json(), 200),
            "cart" => (FunctionUrlEvent::get("/").header("authorization", &bearer(&format!("s_bench_{n}"), Role::Student)?).to_json(), 200),
            "teacher-profile" => (FunctionUrlEvent::get("/").header("authorization", &bearer(&format!("s_bench_{n}"), Role::Student)?).to_json(), 403),
            "create-booking" => (post(json!({"checkout_id": format!("co_bench_{n}")})).header("authorization", &bearer("admin", Role::Admin)?).to_json(), 404),
            "create-room" => (post(json!({"booking_id": format!("b_bench_{n}")})).header("authorization", &bearer("admin", Role::Admin)?).to_json(), 404),
            "calendar-feed" => (FunctionUrlEvent::get(&format!("/{}.ics", "0".repeat(64))).to_json(), 404),
            "teacher-payouts" => (FunctionUrlEvent::get("/").header("authorization", &bearer(&self.teacher, Role::Teacher)?).to_json(), 200),
            "credits" => (FunctionUrlEvent::get("/").header("authorization", &bearer(&format!("s_bench_{n}"), Role::Student)?).to_json(), 200),
            // The scheduled event of EventBridge Scheduler carries nothing we read (notify: one sweep).
            "reconcile" | "notify" | BASELINE => (json!({"bench": n}), 0),
            other => return Err(format!("no request is defined for {other}")),
        })
    }
}

/// `count` open slots of the teacher's longest lesson, far enough apart that
/// no checkout's hold touches another's.
async fn open_slots(services: &Services, teacher: &str, count: usize) -> Result<Vec<(String, i64)>, String> {
    let id = TeacherId::parse(teacher).map_err(|e| e.to_string())?;
    let profile = services.store.get_profile(&id).await.map_err(|e| e.to_string())?.ok_or("the demo teacher has no profile")?;
    let offer = profile.lessons().iter().max_by_key(|l| l.duration_minutes).ok_or("the demo teacher offers no lesson")?;
    let now = Timestamp::from_second(Timestamp::now().as_second()).map_err(|e| e.to_string())?;
    let window = Interval::new(now, now + SignedDuration::from_hours(24 * 120)).ok_or("empty window")?;
    let busy = services.store.busy_around(&id, window).await.map_err(|e| e.to_string())?;
    // Three hours apart: no lesson with its buffers is that long.
    let mut next_free = now;
    let slots: Vec<(String, i64)> = shared::availability::slots(&profile, offer.duration_minutes, window, &busy, now)
        .into_iter()
        .filter(|slot| {
            let apart = slot.start() >= next_free;
            if apart {
                next_free = slot.start() + SignedDuration::from_hours(3);
            }
            apart
        })
        .map(|slot| (slot.start().to_string(), i64::from(offer.duration_minutes)))
        .take(count)
        .collect();
    if slots.len() < count {
        return Err(format!("only {} open slots in 120 days; fewer --runs", slots.len()));
    }
    Ok(slots)
}

struct Row {
    name: String,
    zip: Option<u64>,
    binary: Option<u64>,
    init: Duration,
    first: Duration,
    second: Duration,
    peak_rss_kb: u64,
}

impl Row {
    fn of(name: &str, zip: Option<u64>, binary: Option<u64>, samples: &[Sample]) -> Self {
        let median = |f: fn(&Sample) -> Duration| {
            let mut values: Vec<Duration> = samples.iter().map(f).collect();
            values.sort();
            values[values.len() / 2]
        };
        Self {
            name: name.into(),
            zip,
            binary,
            init: median(|s| s.init),
            first: median(|s| s.first),
            second: median(|s| s.second),
            peak_rss_kb: samples.iter().map(|s| s.peak_rss_kb).max().unwrap_or(0),
        }
    }
}

fn print_table(rows: &[Row], runs: usize) {
    let mb = |bytes: Option<u64>| bytes.map_or("-".to_owned(), |b| format!("{:.2}", b as f64 / 1e6));
    let ms = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1e3);
    let baseline = rows.iter().find(|r| r.name == BASELINE).map(|r| r.init);
    println!("\nCold start, {runs} starts each (median; memory: the highest peak). Zip: arm64 as deployed; times and memory: this machine's build, same profile.\n");
    println!("| function | zip arm64 MB | binary MB | init ms | init × hello-world | first request ms | second request ms | peak RSS MiB | goals |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for row in rows {
        let ratio = baseline.map(|b| row.init.as_secs_f64() / b.as_secs_f64());
        let rss_mb = row.peak_rss_kb as f64 / 1024.0;
        let mut missed = Vec::new();
        if ratio.is_some_and(|r| r > INIT_GOAL_RATIO) {
            missed.push(format!("init > {INIT_GOAL_RATIO}×"));
        }
        if rss_mb > RSS_GOAL_MB {
            missed.push(format!("RSS > {RSS_GOAL_MB} MB"));
        }
        if WITHOUT_STRIPE.contains(&row.name.as_str()) && row.zip.is_some_and(|z| z as f64 / 1e6 > ZIP_GOAL_MB) {
            missed.push(format!("zip > {ZIP_GOAL_MB} MB"));
        }
        let goals = if missed.is_empty() { "met".to_owned() } else { missed.join(", ") };
        let ratio = ratio.map_or("-".to_owned(), |r| format!("{r:.2}"));
        println!("| {} | {} | {} | {} | {ratio} | {} | {} | {rss_mb:.1} | {goals} |", row.name, mb(row.zip), mb(row.binary), ms(row.init), ms(row.first), ms(row.second));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `make bench` failed on a fresh clone after building everything when a
    /// function had no request here.
    #[test]
    fn every_function_crate_has_a_request() {
        let calls = Calls {
            teacher: "t_anna".into(),
            slots: vec![("2026-12-01T08:00:00Z".into(), 60)],
            jwt_secret: "a-development-secret-of-thirty-two-bytes".into(),
            webhook_secret: "whsec_bench".into(),
            hms_webhook_secret: Some("hms-secret".into()),
            from: "2026-12-01".into(),
            to: "2026-12-07".into(),
        };
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../functions")).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(calls.event(&name, 0).is_ok(), "{name}: {:?}", calls.event(&name, 0).err());
        }
    }
}
