//! Changing a cart, abandoning a checkout, the open-checkout limit, trial
//! claims that heal, and concurrent confirmation: through initiate-checkout's
//! real edge and `shared::fulfilment`, on dynoxide and the Stripe emulator.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use shared::clock::Clock;
use shared::domain::{BookingId, CheckoutId};
use shared::store::{BusyKind, CheckoutStatus};
use tests::{CheckoutEnv, FunctionUrlEvent, call_app, cart, lesson, token_for, tomorrow_at};
use tokio::task::JoinSet;

fn trial(teacher: &str, start: &str) -> Value {
    json!({"lessons": [{"teacher_id": teacher, "start": start, "duration_minutes": 30, "trial": true}]})
}

async fn stored(env: &CheckoutEnv, id: &str) -> shared::store::Checkout {
    env.db.store.get_checkout(&CheckoutId::parse(id).unwrap()).await.unwrap().unwrap()
}

/// The student checks out one lesson, leaves the payment page, adds a second
/// lesson and checks out again: the new checkout takes over the old one.
#[tokio::test]
async fn a_student_can_change_their_cart() {
    let env = CheckoutEnv::start().await;
    let token = token_for("s_1");
    let (a, b) = (tomorrow_at("10:00"), tomorrow_at("12:00"));
    let (status, first) = env.post(Some(&token), &cart(vec![lesson("t_one", &a, 60)]), None).await;
    assert_eq!(status, 201, "{first}");
    let (status, second) = env.post(Some(&token), &cart(vec![lesson("t_one", &a, 60), lesson("t_one", &b, 60)]), None).await;
    assert_eq!(status, 201, "the student's own hold is no conflict: {second}");

    let old = stored(&env, first["checkout_id"].as_str().unwrap()).await;
    assert_eq!(old.status, CheckoutStatus::Expired);
    let old_session = env.session(old.stripe_session_id.as_deref().unwrap()).await;
    assert_eq!(old_session["status"], "expired", "expired at Stripe before release");
    let holds = env.holds("t_one", &a).await;
    assert_eq!(holds.len(), 2, "{holds:?}");
    assert!(holds.iter().all(|h| h.reference == second["checkout_id"].as_str().unwrap()), "{holds:?}");

    // Another student's overlapping checkout is never superseded: 409.
    let (status, body) = env.post(Some(&token_for("s_2")), &cart(vec![lesson("t_one", &b, 60)]), None).await;
    assert_eq!((status, body["error"]["lesson_index"].as_u64()), (409, Some(0)), "{body}");
    assert_eq!(stored(&env, second["checkout_id"].as_str().unwrap()).await.status, CheckoutStatus::AwaitingPayment);
}

/// A changed cart that cannot be placed (a lesson someone else holds, a
/// trial already claimed) is refused before the old checkout is touched:
/// its session stays open at Stripe and its holds stay, so the student can
/// still pay for what they had.
#[tokio::test]
async fn a_changed_cart_that_is_refused_leaves_the_old_checkout_payable() {
    let env = CheckoutEnv::start().await;
    let token = token_for("s_1");
    let (a, b) = (tomorrow_at("10:00"), tomorrow_at("12:00"));
    let (status, first) = env.post(Some(&token), &cart(vec![lesson("t_one", &a, 60)]), None).await;
    assert_eq!(status, 201, "{first}");
    let (status, taken) = env.post(Some(&token_for("s_2")), &cart(vec![lesson("t_one", &b, 60)]), None).await;
    assert_eq!(status, 201, "{taken}");
    let (status, trial_checkout) = env.post(Some(&token), &trial("t_two", &tomorrow_at("09:00")), None).await;
    assert_eq!(status, 201, "a paid trial, not superseded by what follows: {trial_checkout}");

    let refused_carts = [
        (cart(vec![lesson("t_one", &a, 60), lesson("t_one", &b, 60)]), "slot_unavailable"),
        (json!({"lessons": [lesson("t_one", &a, 60), {"teacher_id": "t_two", "start": tomorrow_at("14:00"), "duration_minutes": 30, "trial": true}]}), "trial_already_used"),
    ];
    for (body, code) in refused_carts {
        let (status, refused) = env.post(Some(&token), &body, None).await;
        assert_eq!((status, refused["error"]["code"].as_str()), (409, Some(code)), "{refused}");
        let old = stored(&env, first["checkout_id"].as_str().unwrap()).await;
        assert_eq!(old.status, CheckoutStatus::AwaitingPayment, "{code}");
        let session = env.session(old.stripe_session_id.as_deref().unwrap()).await;
        assert_eq!(session["status"], "open", "{code}: the old checkout can still be paid");
        let holds = env.holds("t_one", &a).await;
        assert!(holds.iter().any(|h| h.reference == old.checkout_id.as_str()), "{code}: {holds:?}");
    }
}

#[tokio::test]
async fn a_checkout_paid_first_is_not_superseded() {
    let env = CheckoutEnv::start().await;
    let token = token_for("s_1");
    let a = tomorrow_at("10:00");
    let (_, first) = env.post(Some(&token), &cart(vec![lesson("t_one", &a, 60)]), None).await;
    env.pay(first["checkout_url"].as_str().unwrap()).await;
    let (status, body) = env.post(Some(&token), &cart(vec![lesson("t_one", &tomorrow_at("08:00"), 60), lesson("t_one", &a, 60)]), None).await;
    assert_eq!((status, body["error"]["code"].as_str(), body["error"]["lesson_index"].as_u64()), (409, Some("slot_unavailable"), Some(1)), "{body}");
    let old = stored(&env, first["checkout_id"].as_str().unwrap()).await;
    assert_eq!(old.status, CheckoutStatus::AwaitingPayment, "it stands until the webhook confirms it");
    assert_eq!(env.holds("t_one", &a).await.len(), 1);
    assert!(env.holds("t_one", &tomorrow_at("08:00")).await.iter().all(|h| h.reference == old.checkout_id.as_str()));
}

#[tokio::test]
async fn delete_abandons_an_unpaid_checkout_at_once() {
    let env = CheckoutEnv::start().await;
    let token = token_for("s_1");
    let start = tomorrow_at("09:00");
    let (status, created) = env.post(Some(&token), &trial("t_two", &start), None).await;
    assert_eq!((status, created["amount_total"].as_u64()), (201, Some(500)), "a paid trial: {created}");
    let id = created["checkout_id"].as_str().unwrap();

    assert_eq!(env.delete(&token_for("s_2"), id).await.0, 404, "someone else's checkout does not exist for them");
    let (status, abandoned) = env.delete(&token, id).await;
    assert_eq!((status, abandoned["status"].as_str()), (200, Some("expired")), "{abandoned}");
    assert_eq!(abandoned["checkout_url"], Value::Null);
    let session = env.session(stored(&env, id).await.stripe_session_id.as_deref().unwrap()).await;
    assert_eq!(session["status"], "expired");
    assert!(env.holds("t_two", &start).await.is_empty());
    assert!(env.open_starts("t_two", Clock::System).await.contains(&start), "offered again at once");
    // Again: the same answer, nothing else happens.
    assert_eq!(env.delete(&token, id).await, (200, abandoned.clone()));
    // The trial claim was given back with the holds.
    let (status, again) = env.post(Some(&token), &trial("t_two", &start), None).await;
    assert_eq!(status, 201, "{again}");
}

#[tokio::test]
async fn a_paid_or_confirmed_checkout_cannot_be_abandoned() {
    let env = CheckoutEnv::start().await;
    let token = token_for("s_1");
    let (_, free) = env.post(Some(&token), &trial("t_one", &tomorrow_at("08:00")), None).await;
    assert_eq!(free["status"], "confirmed");
    let (status, body) = env.delete(&token, free["checkout_id"].as_str().unwrap()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("checkout_not_open")), "{body}");

    let (_, paid) = env.post(Some(&token), &cart(vec![lesson("t_one", &tomorrow_at("15:00"), 60)]), None).await;
    env.pay(paid["checkout_url"].as_str().unwrap()).await;
    let (status, body) = env.delete(&token, paid["checkout_id"].as_str().unwrap()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("checkout_not_open")), "{body}");
    assert_eq!(env.holds("t_one", &tomorrow_at("15:00")).await.len(), 1, "the paid lesson keeps its slot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn at_most_five_open_checkouts_per_student_even_at_once() {
    let env = Arc::new(CheckoutEnv::start().await);
    let token = token_for("s_many");
    let mut tasks = JoinSet::new();
    for hour in 8..16 {
        let (env, token) = (env.clone(), token.clone());
        tasks.spawn(async move { env.post(Some(&token), &cart(vec![lesson("t_one", &tomorrow_at(&format!("{hour:02}:00")), 30)]), None).await });
    }
    let mut answers = Vec::new();
    while let Some(result) = tasks.join_next().await {
        answers.push(result.unwrap());
    }
    let created: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 201).map(|(_, b)| b).collect();
    assert_eq!(created.len(), 5, "{answers:?}");
    assert!(answers.iter().filter(|(s, _)| *s != 201).all(|(s, b)| *s == 429 && b["error"]["code"] == "too_many_open_checkouts"), "{answers:?}");
    // Another student is not affected; abandoning one frees a place.
    assert_eq!(env.post(Some(&token_for("s_other")), &cart(vec![lesson("t_one", &tomorrow_at("20:00"), 30)]), None).await.0, 201);
    assert_eq!(env.delete(&token, created[0]["checkout_id"].as_str().unwrap()).await.0, 200);
    assert_eq!(env.post(Some(&token), &cart(vec![lesson("t_one", &tomorrow_at("21:00"), 30)]), None).await.0, 201);
    assert_eq!(env.post(Some(&token), &cart(vec![lesson("t_one", &tomorrow_at("22:00"), 30)]), None).await.0, 429);
}

/// A student who opens a paid trial checkout and closes the tab gets the
/// trial back once the checkout can no longer be paid.
#[tokio::test]
async fn a_lapsed_trial_claim_heals_and_a_confirmed_one_stays() {
    let env = CheckoutEnv::start().await;
    let token = token_for("s_1");
    let (status, first) = env.post(Some(&token), &trial("t_two", &tomorrow_at("09:00")), None).await;
    assert_eq!(status, 201, "{first}");
    let (status, body) = env.post(Some(&token), &trial("t_two", &tomorrow_at("14:00")), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("trial_already_used")), "the claim counts while payable");

    let hold_until = stored(&env, first["checkout_id"].as_str().unwrap()).await.hold_until;
    let later = env.checkout_at(Clock::Fixed(hold_until)).await;
    let post = |body: &Value| FunctionUrlEvent::new("POST", "/").header("authorization", &format!("Bearer {token}")).body(&body.to_string());
    let (status, second) = call_app(&later, post(&trial("t_two", &tomorrow_at("14:00")))).await;
    assert_eq!(status, 201, "the lapsed claim is taken over: {second}");

    // A confirmed (free) trial stays used, however late.
    let (_, free) = env.post(Some(&token), &trial("t_one", &tomorrow_at("09:00")), None).await;
    assert_eq!(free["status"], "confirmed");
    let much_later = env.checkout_at(Clock::Fixed(hold_until + SignedDuration::from_hours(2))).await;
    let (status, body) = call_app(&much_later, post(&trial("t_one", &tomorrow_at("16:00")))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("trial_already_used")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_confirmations_agree() {
    let env = Arc::new(CheckoutEnv::start().await);
    let body = cart(vec![lesson("t_one", &tomorrow_at("10:00"), 60), lesson("t_one", &tomorrow_at("13:00"), 30), lesson("t_two", &tomorrow_at("10:00"), 60)]);
    let (status, created) = env.post(Some(&token_for("s_1")), &body, None).await;
    assert_eq!(status, 201, "{created}");
    let id = CheckoutId::parse(created["checkout_id"].as_str().unwrap()).unwrap();
    let mut tasks = JoinSet::new();
    for _ in 0..10 {
        let (env, id) = (env.clone(), id.clone());
        tasks.spawn(async move { shared::fulfilment::confirm(&env.db.store_of("stripe-webhook"), &id, "paid", Timestamp::now()).await });
    }
    let mut results = Vec::new();
    while let Some(result) = tasks.join_next().await {
        results.push(result.unwrap().map(|c| (c.status, c.booking_ids)).map_err(|e| e.to_string()));
    }
    let first = results[0].clone().expect("confirmed");
    assert_eq!(first.0, CheckoutStatus::Confirmed);
    assert_eq!(first.1.len(), 3);
    assert!(results.iter().all(|r| r.as_ref() == Ok(&first)), "{results:?}");

    // Exactly one booking entry per lesson, and no hold left.
    for (teacher, at) in [("t_one", tomorrow_at("10:00")), ("t_two", tomorrow_at("10:00"))] {
        let day = shared::store::utc_day(at.parse().unwrap());
        let teacher = shared::domain::TeacherId::parse(teacher).unwrap();
        let days = env.db.store.calendar_days(&teacher, day, day, shared::store::Read::Consistent).await.unwrap();
        let entries: Vec<_> = days.iter().flat_map(|d| d.busy.clone()).collect();
        assert!(entries.iter().all(|e| e.kind == BusyKind::Booking), "{entries:?}");
        let mut refs: Vec<_> = entries.iter().map(|e| e.reference.clone()).collect();
        refs.sort();
        refs.dedup();
        assert_eq!(refs.len(), entries.len(), "one entry per booking: {entries:?}");
    }
    for booking in &first.1 {
        assert!(env.db.store.get_booking(&BookingId::parse(booking.as_str()).unwrap()).await.unwrap().is_some());
    }
}

/// Between the session's expiry and the end of the holds' grace the checkout
/// still awaits its webhook, but its payment page is gone.
#[tokio::test]
async fn an_expired_session_no_longer_shows_its_url() {
    let env = CheckoutEnv::start().await;
    let token = token_for("s_1");
    let (_, created) = env.post(Some(&token), &cart(vec![lesson("t_one", &tomorrow_at("10:00"), 60)]), None).await;
    let expires_at: Timestamp = created["expires_at"].as_str().unwrap().parse().unwrap();
    let get = || FunctionUrlEvent::get("/").query("checkout_id", created["checkout_id"].as_str().unwrap()).header("authorization", &format!("Bearer {token}"));
    let before = call_app(&env.checkout_at(Clock::Fixed(expires_at - SignedDuration::from_secs(1))).await, get()).await.1;
    assert_eq!(before["checkout_url"], created["checkout_url"]);
    let after = call_app(&env.checkout_at(Clock::Fixed(expires_at)).await, get()).await.1;
    assert_eq!((after["status"].as_str(), &after["checkout_url"]), (Some("awaiting_payment"), &Value::Null), "{after}");
}

/// A transition writes only the fields that change: releasing a checkout
/// read before its session was recorded keeps the session id and URL.
#[tokio::test]
async fn a_status_change_never_wipes_a_concurrently_written_session() {
    let env = CheckoutEnv::start().await;
    let (_, created) = env.post(Some(&token_for("s_1")), &cart(vec![lesson("t_one", &tomorrow_at("10:00"), 60)]), None).await;
    let current = stored(&env, created["checkout_id"].as_str().unwrap()).await;
    let read_before_the_session = shared::store::Checkout { stripe_session_id: None, checkout_url: None, ..current.clone() };
    let released = shared::fulfilment::release(&env.db.store_of("stripe-webhook"), &read_before_the_session, CheckoutStatus::Failed, Timestamp::now()).await.unwrap();
    assert_eq!(released.status, CheckoutStatus::Failed);
    let after = stored(&env, created["checkout_id"].as_str().unwrap()).await;
    assert_eq!(after.status, CheckoutStatus::Failed);
    assert_eq!((after.stripe_session_id, after.checkout_url), (current.stripe_session_id, current.checkout_url));
    assert!(env.holds("t_one", &tomorrow_at("10:00")).await.is_empty());
}
