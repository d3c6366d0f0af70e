//! `make demo`: the whole money path against the local stack, over HTTP, as
//! a student and Stripe would drive it, printing each step and failing
//! loudly when one does not happen. With `--start` it starts the local stack
//! itself when nothing listens on the functions' port, and stops it after.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use shared::auth::{self, Claims, Role};
use shared::config;
use shared::domain::BookingId;
use shared::store::{BookingStatus, Store};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    stack: local_stack::process::StackArgs,
    #[arg(long, default_value = "t_anna")]
    teacher: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    local_stack::process::run_against_stack(args.stack.start, args.stack.functions_port, "DEMO", |_| run(&args)).await
}

async fn run(args: &Args) -> Result<(), String> {
    let (secret, stripe, store, hms, attendance) = config::load(|env| {
        let parts = (auth::read_signing_secret(env), shared::payments::StripeConfig::read(env), config::StoreConfig::read(env), shared::rooms::HmsConfig::read(env), shared::attendance::AttendanceConfig::read(env));
        Some((parts.0?, parts.1?, parts.2?, parts.3?, parts.4?))
    })
    .map_err(|e| e.to_string())?;
    let (mail, ses_endpoint, viewer) = config::load(|env| {
        let mail = shared::notify::MailConfig::read(env);
        let endpoint = env.required("AWS_ENDPOINT_URL_SESV2", "see .env.local", |s| Ok(s.trim_end_matches('/').to_owned()));
        let viewer = env.optional("SES_VIEWER_URL", "see .env.local", |s| Ok(s.trim_end_matches('/').to_owned()));
        Some((mail?, endpoint?, viewer))
    })
    .map_err(|e| e.to_string())?;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().build().map_err(|e| e.to_string())?;
    let now = Timestamp::now();
    let mut claims = Claims::new("s_demo", Role::Student, now, SignedDuration::from_hours(1));
    claims.email = Some(STUDENT_EMAIL.into());
    let student = auth::mint_hs256(&secret, &claims).map_err(|e| e.to_string())?;
    let base = &args.stack.functions;

    step(1, "find two open slots");
    // Three days ahead, so cancelling is free under the default policy (24 h).
    let slots_url = format!("{base}/get-slots/?teacher_id={}&from={}&to={}&duration=60", args.teacher, day(now, 3)?, day(now, 17)?);
    let offered = || async { answer(|| http.get(&slots_url), 200).await.map(|s| starts(&s)) };
    let open = offered().await?;
    let one = open.first().copied().ok_or("get-slots offered no slot in the two weeks from three days ahead")?;
    let second = open.iter().find(|s| **s >= one + SignedDuration::from_hours(3)).copied().ok_or("no second slot three hours after the first")?;
    println!("   {} offers {} slots; taking {one} and {second}", args.teacher, open.len());

    step(2, "check out");
    let key = format!("demo-{}", now.as_nanosecond());
    let body = json!({"lessons": [{"teacher_id": args.teacher, "start": one, "duration_minutes": 60}, {"teacher_id": args.teacher, "start": second, "duration_minutes": 60}], "timezone": "America/Sao_Paulo"});
    let checkout_url = format!("{base}/initiate-checkout/");
    let created = answer(|| http.post(&checkout_url).bearer_auth(&student).header("idempotency-key", &key).json(&body), 201).await?;
    let checkout_id = created["checkout_id"].as_str().ok_or("no checkout_id")?.to_owned();
    let pay_page = created["checkout_url"].as_str().ok_or("no checkout_url")?.to_owned();
    println!("   {checkout_id}: {} {} {}, pay at {pay_page}", created["status"], created["amount_total"], created["currency"]);

    step(3, "press Pay on the payment page");
    let paid = http.post(format!("{pay_page}/complete")).send().await.map_err(|e| e.to_string())?;
    if !paid.status().is_redirection() {
        return Err(format!("the payment page answered {}", paid.status()));
    }
    println!("   paid; the page sends the student to the success page");

    step(4, "the signed webhook arrives");
    let delivery = delivered(&http, &stripe.api_base, &checkout_id).await?;
    println!("   {} {} → stripe-webhook answered {}", delivery["event_id"].as_str().unwrap_or("?"), delivery["event_type"].as_str().unwrap_or("?"), delivery["status"]);

    step(5, "the checkout is confirmed");
    let status_url = format!("{base}/initiate-checkout/?checkout_id={checkout_id}");
    let checkout = answer(|| http.get(&status_url).bearer_auth(&student), 200).await?;
    if checkout["status"] != "confirmed" {
        return Err(format!("the checkout is {} after the webhook", checkout["status"]));
    }
    let booking_ids: Vec<String> = checkout["booking_ids"].as_array().into_iter().flatten().filter_map(|b| b.as_str().map(str::to_owned)).collect();
    println!("   status confirmed, payment_status {}, bookings {booking_ids:?}", checkout["payment_status"]);
    let uid = |id: &str| format!("{id}@{}", mail.domain);
    for id in &booking_ids {
        notice_arrived(&http, &ses_endpoint, "the confirmation", &uid(id), "REQUEST", 0).await?;
    }

    step(6, "each booking is confirmed and paid");
    let store = Store::from_env(&store).await.map_err(|e| e.to_string())?;
    for id in &booking_ids {
        let booking = store.get_booking(&BookingId::parse(id).map_err(|e| e.to_string())?).await.map_err(|e| e.to_string())?.ok_or(format!("booking {id} does not exist"))?;
        if booking.status != BookingStatus::Confirmed || booking.payment_status != "paid" {
            return Err(format!("booking {id} is {:?} / {}", booking.status, booking.payment_status));
        }
        println!("   {id}: {} {}–{} with {}, status confirmed, payment_status paid", booking.student_id, booking.start, booking.end, booking.teacher_id);
    }
    if booking_ids.is_empty() {
        return Err("the confirmed checkout has no bookings".into());
    }

    step(7, "each booking has its video room");
    let mut first = None;
    for id in &booking_ids {
        let booking = store.get_booking(&BookingId::parse(id).map_err(|e| e.to_string())?).await.map_err(|e| e.to_string())?.ok_or(format!("booking {id} does not exist"))?;
        let (Some(room), Some(teacher), Some(student)) = (&booking.room_id, &booking.teacher_room_code, &booking.student_room_code) else {
            return Err(format!("booking {id} has no room yet (room_status {:?})", booking.room_status));
        };
        println!("   {id}: room {room}, teacher code {teacher}, student code {student}");
        first.get_or_insert(booking);
    }
    let booking = first.ok_or("no booking")?;

    step(8, "teacher and student join");
    // The teacher signs in with their login, which a profile may set apart from its id.
    let login = store.get_profile(&booking.teacher_id).await.map_err(|e| e.to_string())?.ok_or(format!("teacher {} has no profile", booking.teacher_id))?.user_id();
    let teacher = auth::mint_hs256(&secret, &Claims::new(login.as_str(), Role::Teacher, now, SignedDuration::from_hours(1))).map_err(|e| e.to_string())?;
    let join_url = format!("{base}/join-lesson/");
    let join = json!({"booking_id": booking.booking_id});
    for (who, token, code) in [("student", &student, &booking.student_room_code), ("teacher", &teacher, &booking.teacher_room_code)] {
        let ticket = answer(|| http.post(&join_url).bearer_auth(token).json(&join), 200).await?;
        if ticket["role"] != who || ticket["room_code"].as_str() != code.as_deref() || ticket["token"].as_str().is_none_or(str::is_empty) {
            return Err(format!("the {who}'s join answer is wrong: {ticket}"));
        }
        println!("   {who}: code {}, {}", ticket["room_code"].as_str().unwrap_or("?"), ticket["join_url"].as_str().unwrap_or("?"));
    }

    step(9, "see what may change about each booking");
    let change_url = format!("{base}/change-booking/");
    let (cancelled, moved) = (booking_ids.first().ok_or("no booking")?, booking_ids.get(1).ok_or("one booking of two")?);
    for id in [cancelled, moved] {
        let options = answer(|| http.get(&change_url).query(&[("booking_id", id)]).bearer_auth(&student), 200).await?;
        println!("   {id}: cancel {} (refund {} {}, free until {}); reschedule {} ({} left, until {})", allowed(&options["cancel"]), options["cancel"]["refund_amount"], options["cancel"]["currency"], options["cancel"]["free_until"], allowed(&options["reschedule"]), options["reschedule"]["remaining"], options["reschedule"]["until"]);
    }

    step(10, "cancel the first: the money goes back and the slot is offered again");
    let answered = answer(|| http.post(&change_url).bearer_auth(&student).json(&json!({"booking_id": cancelled, "action": "cancel"})), 200).await?;
    let refunds = answer(|| http.get(format!("{}_emulator/refunds", stripe.api_base)), 200).await?;
    let refunded = refunds.as_array().into_iter().flatten().any(|r| r["amount"] == answered["refund"]["amount"] && r["metadata"]["obligation_id"] == format!("cancel-{cancelled}"));
    if answered["refund"]["status"] != "succeeded" || !refunded || !offered().await?.contains(&one) {
        return Err(format!("the cancel did not refund and free the slot: {answered}"));
    }
    println!("   {cancelled}: cancelled by the student, {} {} refunded (in the Stripe emulator); {one} is offered again", answered["refund"]["amount"], answered["refund"]["currency"]);
    notice_arrived(&http, &ses_endpoint, "the cancellation", &uid(cancelled), "CANCEL", 1).await?;

    step(11, "reschedule the second: the old slot reappears, the new one is taken, joining follows");
    let target = offered().await?.into_iter().find(|s| *s >= second + SignedDuration::from_hours(24)).ok_or("no slot a day after the second lesson")?;
    let answered = answer(|| http.post(&change_url).bearer_auth(&student).json(&json!({"booking_id": moved, "action": "reschedule", "start": target})), 200).await?;
    let open = offered().await?;
    if !open.contains(&second) || open.contains(&target) {
        return Err(format!("the reschedule did not move the calendar: {answered}"));
    }
    let ticket = answer(|| http.post(&join_url).bearer_auth(&student).json(&json!({"booking_id": moved})), 200).await?;
    if ticket["starts_at"].as_str() != Some(target.to_string().as_str()) {
        return Err(format!("joining does not follow the new time: {ticket}"));
    }
    println!("   {moved}: moved from {second} to {target} (reschedule {}); {second} is offered again, the room opens for {}", answered["reschedule_count"], ticket["starts_at"]);
    notice_arrived(&http, &ses_endpoint, "the reschedule", &uid(moved), "REQUEST", 1).await?;

    step(12, "the public directory lists the teachers with their next open start");
    let listed = answer(|| http.get(format!("{base}/get-teachers/")), 200).await?;
    for card in listed["teachers"].as_array().into_iter().flatten() {
        println!("   {} ({}, {}): next open start {}", card["teacher_id"].as_str().unwrap_or("?"), card["name"].as_str().unwrap_or("?"), card["timezone"].as_str().unwrap_or("?"), card["next_open_start"]);
    }
    if !listed["teachers"].as_array().into_iter().flatten().any(|c| c["teacher_id"] == args.teacher.as_str() && c["next_open_start"].is_string()) {
        return Err(format!("the directory does not show {} with an open start: {listed}", args.teacher));
    }

    step(13, "the teacher takes the day of the moved lesson off: its slots go, the lesson stays");
    let profile_url = format!("{base}/teacher-profile/");
    let mine = answer(|| http.get(&profile_url).bearer_auth(&teacher), 200).await?;
    let zone = jiff::tz::TimeZone::get(mine["timezone"].as_str().unwrap_or("UTC")).map_err(|e| e.to_string())?;
    let day_off = zone.to_datetime(target).date().to_string();
    let mut changed = mine.clone();
    changed["overrides"][&day_off] = json!([]);
    let version = |v: &Value| v["version"].as_u64().ok_or(format!("no version in {v}"));
    let saved = answer(|| http.put(&profile_url).bearer_auth(&teacher).header("if-match", format!("\"{}\"", mine["version"])).json(&changed), 200).await?;
    let open = offered().await?;
    let still = store.get_booking(&BookingId::parse(moved).map_err(|e| e.to_string())?).await.map_err(|e| e.to_string())?.ok_or("the moved booking is gone")?;
    if open.iter().any(|s| zone.to_datetime(*s).date().to_string() == day_off) || still.status != BookingStatus::Confirmed {
        return Err(format!("the day off did not take, or moved the lesson: {saved}"));
    }
    println!("   version {} → {}: {day_off} off, get-slots offers nothing that day, {moved} still confirmed at {}", version(&mine)?, version(&saved)?, still.start);
    // The demo teacher keeps their week for the next run.
    let restored = answer(|| http.put(&profile_url).bearer_auth(&teacher).header("if-match", format!("\"{}\"", saved["version"])).json(&mine), 200).await?;
    println!("   version {}: the day is on again", version(&restored)?);

    let hms_control = hms.api_base.trim_end_matches('/').trim_end_matches("v2").to_owned() + "_emulator/";
    // `who` is how they join: `{"code"}` as the hosted Prebuilt link does (100ms gives a
    // random user_id), or `{"user_id", "role"}` as our app token carries them.
    let attend = |room: String, who: Value, from: Timestamp, until: Timestamp| {
        let (http, hms_control) = (&http, &hms_control);
        async move {
            let mut join = who;
            join["at"] = json!(from.to_string());
            let joined = answer(|| http.post(format!("{hms_control}rooms/{room}/join")).json(&join), 200).await?;
            let peer = joined["peer_id"].as_str().ok_or("no peer_id")?.to_owned();
            let left = http.post(format!("{hms_control}peers/{peer}/leave")).json(&json!({"at": until.to_string()})).send().await.map_err(|e| e.to_string())?;
            if left.status().is_success() { Ok::<_, String>(()) } else { Err(format!("leaving answered {}", left.status())) }
        }
    };
    let handler = shared::webhook::EventHandler::new(store.clone(), &stripe, hms.clone()).map_err(|e| e.to_string())?;
    // The scheduled reconcile, as it runs once the lesson's end plus the grace has passed.
    let decide = |end: Timestamp| {
        let handler = &handler;
        async move { shared::reconcile::run_with(handler, &attendance, end + attendance.grace + SignedDuration::from_mins(1)).await }
    };

    step(14, "the moved lesson happens: both join through their links' room codes (100ms gives them random ids), and after it the outcome is completed");
    let lesson = store.get_booking(&BookingId::parse(moved).map_err(|e| e.to_string())?).await.map_err(|e| e.to_string())?.ok_or("the moved booking is gone")?;
    let room = lesson.room_id.clone().ok_or("the moved booking has no room")?;
    attend(room.clone(), json!({"code": lesson.teacher_room_code}), lesson.start - SignedDuration::from_mins(2), lesson.end).await?;
    attend(room, json!({"code": lesson.student_room_code}), lesson.start, lesson.end - SignedDuration::from_mins(5)).await?;
    // The emulator posts 100ms's webhooks to hms-webhook (the room carries its URL and secret).
    let mut stays = Vec::new();
    for _ in 0..100 {
        stays = store.stays_of(&lesson.booking_id).await.map_err(|e| e.to_string())?;
        if stays.len() >= 2 && stays.iter().all(|s| s.left_at.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("   hms-webhook stored {} stays from 100ms's events", stays.len());
    decide(lesson.end).await;
    let decided = store.get_booking(&lesson.booking_id).await.map_err(|e| e.to_string())?.ok_or("the lesson is gone")?;
    if decided.status != BookingStatus::Completed {
        return Err(format!("the lesson both attended is {:?}, not completed", decided.status));
    }
    println!("   {}: teacher and student were in the room (its stays and 100ms's sessions): completed", lesson.booking_id);

    step(15, "a lesson the teacher misses: teacher_no_show, refunded in full");
    let third = offered().await?.into_iter().find(|s| *s >= target + SignedDuration::from_hours(3)).ok_or("no slot for a third lesson")?;
    let body = json!({"lessons": [{"teacher_id": args.teacher, "start": third, "duration_minutes": 60}]});
    let created = answer(|| http.post(&checkout_url).bearer_auth(&student).header("idempotency-key", format!("{key}-no-show")).json(&body), 201).await?;
    let missed_checkout = created["checkout_id"].as_str().ok_or("no checkout_id")?.to_owned();
    let paid = http.post(format!("{}/complete", created["checkout_url"].as_str().ok_or("no checkout_url")?)).send().await.map_err(|e| e.to_string())?;
    if !paid.status().is_redirection() {
        return Err(format!("the payment page answered {}", paid.status()));
    }
    delivered(&http, &stripe.api_base, &missed_checkout).await?;
    let status_url = format!("{base}/initiate-checkout/?checkout_id={missed_checkout}");
    let booked = answer(|| http.get(&status_url).bearer_auth(&student), 200).await?;
    let missed_id = booked["booking_ids"][0].as_str().ok_or(format!("the third lesson was not booked: {booked}"))?.to_owned();
    let missed = store.get_booking(&BookingId::parse(&missed_id).map_err(|e| e.to_string())?).await.map_err(|e| e.to_string())?.ok_or("the third booking is gone")?;
    attend(missed.room_id.clone().ok_or("the third lesson has no room")?, json!({"user_id": "s_demo", "role": hms.student_role}), missed.start, missed.end).await?;
    decide(missed.end).await;
    let decided = store.get_booking(&missed.booking_id).await.map_err(|e| e.to_string())?.ok_or("the lesson is gone")?;
    let refunds = answer(|| http.get(format!("{}_emulator/refunds", stripe.api_base)), 200).await?;
    let refunded = refunds.as_array().into_iter().flatten().find(|r| r["metadata"]["obligation_id"] == format!("cancel-{missed_id}")).cloned();
    match (decided.status, refunded) {
        (BookingStatus::TeacherNoShow, Some(refund)) => println!("   {missed_id}: only the student came: teacher_no_show, {} {} refunded ({} in the Stripe emulator)", refund["amount"], refund["currency"], refund["id"].as_str().unwrap_or("?")),
        (status, refund) => return Err(format!("the missed lesson is {status:?} with refund {refund:?}")),
    }

    step(16, "the mail viewer shows the student's notices");
    if let Some(viewer) = &viewer {
        let store = answer(|| http.get(format!("{viewer}/store")), 200).await?;
        let shown = store["emails"].as_array().into_iter().flatten().filter(|m| m["destination"]["to"].to_string().contains(STUDENT_EMAIL)).count();
        if shown < 3 {
            return Err(format!("the mail viewer shows {shown} mails to {STUDENT_EMAIL}"));
        }
        println!("   the mail viewer at {viewer}/ shows them ({shown} to {STUDENT_EMAIL})");
    }

    step(17, "the teacher sets up payouts, the claim window passes and the completed lesson is transferred to them");
    let payouts = config::load(shared::payouts::PayoutConfig::read).map_err(|e| e.to_string())?;
    let teacher = auth::mint_hs256(&secret, &Claims::new(args.teacher.clone(), Role::Teacher, now, SignedDuration::from_hours(1))).map_err(|e| e.to_string())?;
    let link = answer(|| http.post(format!("{base}/teacher-payouts/onboarding")).bearer_auth(&teacher).json(&json!({})), 200).await?;
    let (account, onboarding) = (link["account_id"].as_str().ok_or("no account_id")?.to_owned(), link["url"].as_str().ok_or("no url")?.to_owned());
    // The teacher's browser: Stripe's page, then Submit, then back to the app.
    answer(|| http.get(&onboarding), 200).await?;
    let submitted = http.post(&onboarding).form(&[("outcome", "verified")]).send().await.map_err(|e| e.to_string())?;
    let back = submitted.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_owned();
    if !submitted.status().is_redirection() || !back.contains("/earnings?onboarding=done") {
        return Err(format!("Stripe's onboarding answered {} to {back:?}", submitted.status()));
    }
    let ledger_url = format!("{base}/teacher-payouts/");
    let mut ledger = Value::Null;
    for _ in 0..100 {
        ledger = answer(|| http.get(&ledger_url).bearer_auth(&teacher), 200).await?;
        if ledger["account"]["status"] == "active" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if ledger["account"]["status"] != "active" {
        return Err(format!("account.updated never made {account} active: {}", ledger["account"]));
    }
    println!("   {account}: onboarded on Stripe's page; account.updated reached stripe-webhook's Connect endpoint: active");
    let line = |ledger: &Value| ledger["earnings"].as_array().into_iter().flatten().find(|e| e["booking_id"] == lesson.booking_id.as_str()).cloned();
    let pending = line(&ledger).ok_or(format!("{} has no earning: {ledger}", lesson.booking_id))?;
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    println!("   {}: earned {} {} ({}% commission), {} until {}", lesson.booking_id, pending["amount"], text(&pending["currency"]), pending["commission_percent"], text(&pending["status"]), text(&pending["transferable_at"]));
    let payments = shared::payments::Payments::new(&stripe).map_err(|e| e.to_string())?;
    // The payout sweep, as reconcile's schedule runs it once PAYOUT_HOLD_HOURS have passed.
    let report = shared::payouts::Payouts { store: &store, payments: &payments, config: &payouts }.sweep(lesson.end + payouts.hold).await;
    if !report.errors.is_empty() {
        return Err(format!("the payout sweep failed: {:?}", report.errors));
    }
    let transfers = answer(|| http.get(format!("{}_emulator/transfers", stripe.api_base)), 200).await?;
    let transfer = transfers.as_array().into_iter().flatten().find(|t| t["metadata"]["booking_id"] == lesson.booking_id.as_str()).cloned().ok_or("no transfer in the Stripe emulator")?;
    let ledger = answer(|| http.get(&ledger_url).bearer_auth(&teacher), 200).await?;
    let paid = line(&ledger).ok_or("the earning left the teacher's ledger")?;
    if paid["status"] != "transferred" || paid["transfer_id"] != transfer["id"] || transfer["destination"] != account.as_str() {
        return Err(format!("the earning is {paid}, the transfer {transfer}"));
    }
    println!("   {} hours later: transfer {} of {} {} to {account} from {} (the Stripe emulator); the teacher's Earnings page shows it paid", payouts.hold.as_hours(), transfer["id"].as_str().unwrap_or("?"), transfer["amount"], text(&transfer["currency"]), transfer["source_transaction"].as_str().unwrap_or("?"));

    step(18, "the student buys a package of 5 lessons, then books a lesson with one of its credits: confirmed at once, no payment page");
    let order = answer(|| http.post(&checkout_url).bearer_auth(&student).json(&json!({"package": {"teacher_id": args.teacher, "lessons": 5, "duration_minutes": 60}})), 201).await?;
    let (package_id, pay_page) = (order["checkout_id"].as_str().ok_or("no checkout_id")?.to_owned(), order["checkout_url"].as_str().ok_or("no checkout_url")?.to_owned());
    println!("   {package_id}: {} × {}-min lessons, {} {} ({}% off), valid {} days; pay at {pay_page}", order["package"]["lessons"], order["package"]["duration_minutes"], order["amount_total"], text(&order["currency"]), order["package"]["discount_percent"], order["package"]["valid_days"]);
    let paid = http.post(format!("{pay_page}/complete")).send().await.map_err(|e| e.to_string())?;
    if !paid.status().is_redirection() {
        return Err(format!("the payment page answered {}", paid.status()));
    }
    delivered(&http, &stripe.api_base, &package_id).await?;
    let credits_url = format!("{base}/credits/");
    let bought = answer(|| http.get(&credits_url).bearer_auth(&student), 200).await?;
    let grant = bought["grants"].as_array().into_iter().flatten().find(|g| g["grant_id"] == format!("gr_{}", package_id.trim_start_matches("co_"))).cloned().ok_or(format!("no grant for {package_id}: {bought}"))?;
    println!("   grant {}: {} credits worth {} each, until {}", text(&grant["grant_id"]), grant["remaining"], grant["unit_values"][0], text(&grant["expires_at"]));
    let slot = offered().await?.into_iter().find(|s| *s >= target + SignedDuration::from_hours(24)).ok_or("no slot a day after the moved lesson")?;
    let booked = answer(|| http.post(&checkout_url).bearer_auth(&student).json(&json!({"lessons": [{"teacher_id": args.teacher, "start": slot, "duration_minutes": 60}], "pay_with": "credits"})), 201).await?;
    if booked["status"] != "confirmed" || booked["checkout_url"] != Value::Null {
        return Err(format!("booking with a credit answered {booked}"));
    }
    let booking_id = booked["booking_ids"][0].as_str().ok_or("no booking")?.to_owned();
    let booking = store.get_booking(&BookingId::parse(&booking_id).map_err(|e| e.to_string())?).await.map_err(|e| e.to_string())?.ok_or("the booking does not exist")?;
    let left = answer(|| http.get(&credits_url).bearer_auth(&student), 200).await?;
    let remaining = left["grants"].as_array().into_iter().flatten().find(|g| g["grant_id"] == grant["grant_id"]).map(|g| g["remaining"].clone()).unwrap_or_default();
    if remaining != grant["remaining"].as_u64().unwrap_or(0).saturating_sub(1) {
        return Err(format!("the grant has {remaining} credits left after booking"));
    }
    println!("   {booking_id} at {slot}: {:?}, payment_status {}, room {:?}; {remaining} credits left", booking.status, booking.payment_status, booking.room_status);
    Ok(())
}

/// Waits for the student's mail carrying the invite `uid` with `method` and
/// `sequence` in the SES emulator (notify runs every few seconds; its first
/// run compiles it), and says what arrived.
async fn notice_arrived(http: &reqwest::Client, ses_endpoint: &str, what: &str, uid: &str, method: &str, sequence: u32) -> Result<(), String> {
    for _ in 0..600 {
        let sent = answer(|| http.get(format!("{ses_endpoint}/_emulator/messages")), 200).await?;
        let mails = sent["messages"].as_array().into_iter().flatten().filter_map(|m| m["raw"].as_str()).map(local_stack::mail::read_mail).filter(|m| m.to == STUDENT_EMAIL);
        let matches = |i: &local_stack::mail::ReadInvite| i.uid.as_deref() == Some(uid) && i.method.as_deref() == Some(method) && i.part_method.as_deref() == Some(method) && i.sequence == Some(sequence);
        if let Some(mail) = mails.into_iter().find(|m| m.invites.iter().any(matches)) {
            println!("   {what} mail: \"{}\" to {}, {} invite(s), {method} {uid} SEQUENCE {sequence}", mail.subject, mail.to, mail.invites.len());
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("no {what} mail with a {method} invite of {uid} (SEQUENCE {sequence}) within two minutes"))
}

/// The demo student's address (the token's `email` claim).
const STUDENT_EMAIL: &str = "s_demo@students.lessons.local";

/// The UTC date `days` from `now`.
fn day(now: Timestamp, days: i64) -> Result<jiff::civil::Date, String> {
    jiff::tz::TimeZone::UTC.to_datetime(now).date().checked_add(jiff::Span::new().days(days)).map_err(|e| e.to_string())
}

fn starts(slots: &Value) -> Vec<Timestamp> {
    slots["slots"].as_array().into_iter().flatten().filter_map(|s| s["start"].as_str()?.parse().ok()).collect()
}

fn allowed(option: &Value) -> String {
    match option["reason"].as_str() {
        Some(reason) => format!("not allowed: {reason}"),
        None => "allowed".to_owned(),
    }
}

fn step(n: u32, what: &str) {
    println!("{n}. {what}");
}

/// The first real answer, which must have `expected` status.
async fn answer(request: impl Fn() -> reqwest::RequestBuilder, expected: u16) -> Result<Value, String> {
    let response = local_stack::process::first_answer(request).await?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status == expected { Ok(body) } else { Err(format!("expected {expected}, got {status}: {body}")) }
}

/// The emulator's successful delivery of this checkout's completion.
async fn delivered(http: &reqwest::Client, stripe: &str, checkout_id: &str) -> Result<Value, String> {
    for _ in 0..300 {
        let deliveries: Value = http.get(format!("{stripe}_emulator/deliveries")).send().await.map_err(|e| e.to_string())?.json().await.map_err(|e| e.to_string())?;
        let events: Value = http.get(format!("{stripe}_emulator/events")).send().await.map_err(|e| e.to_string())?.json().await.map_err(|e| e.to_string())?;
        let completed = events.as_array().into_iter().flatten().find(|e| e["type"] == "checkout.session.completed" && e["data"]["object"]["client_reference_id"] == checkout_id);
        if let Some(event) = completed {
            let found = deliveries.as_array().into_iter().flatten().find(|d| d["event_id"] == event["id"] && d["delivered"] == true);
            if let Some(found) = found {
                return Ok(found.clone());
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err("no checkout.session.completed was delivered to stripe-webhook within 5 minutes".into())
}
