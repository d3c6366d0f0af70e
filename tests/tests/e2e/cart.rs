//! The saved cart (the cart function) on dynoxide with real JWTs, and a
//! checkout from it through initiate-checkout, the Stripe emulator and the
//! webhook's confirmation: items priced by the server, flagged (never
//! dropped) when taken or no longer offered, refused when new and not
//! offered, and gone from the cart once bought.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use shared::clock::Clock;
use shared::domain::CheckoutId;
use shared::store::CheckoutStatus;
use tests::{CheckoutEnv, FunctionUrlEvent, always_open_teacher, cart, in_days, json_of, lesson, token_for};

async fn app(env: &CheckoutEnv, clock: Clock) -> cart::App {
    cart::App { auth: tests::hs256_auth().await, store: env.db.store_of("cart"), clock }
}

async fn call(app: &cart::App, method: &str, student: &str, body: Option<Value>) -> (u16, Value) {
    let mut event = FunctionUrlEvent::new(method, "/").header("authorization", &format!("Bearer {}", token_for(student)));
    if let Some(body) = body {
        event = event.header("content-type", "application/json").body(&body.to_string());
    }
    json_of(&shared::http::into_response(cart::handle(app, event.into_request()).await))
}

async fn put(app: &cart::App, student: &str, items: Vec<Value>) -> (u16, Value) {
    call(app, "PUT", student, Some(json!({ "items": items }))).await
}

async fn get(app: &cart::App, student: &str) -> Value {
    let (status, body) = call(app, "GET", student, None).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn flags(cart: &Value) -> Vec<(bool, Option<&str>)> {
    cart["items"].as_array().unwrap().iter().map(|i| (i["available"].as_bool().unwrap(), i["reason"].as_str())).collect()
}

fn trial(teacher: &str, start: &str) -> Value {
    json!({"teacher_id": teacher, "start": start, "duration_minutes": 30, "trial": true})
}

/// Checks out the student's cart and pays; the webhook's own service books it.
async fn buy_cart(env: &CheckoutEnv, student: &str) -> (CheckoutId, Value) {
    let (status, created) = env.post(Some(&token_for(student)), &json!({"from_cart": true}), None).await;
    assert_eq!(status, 201, "{created}");
    let id = CheckoutId::parse(created["checkout_id"].as_str().unwrap()).unwrap();
    if created["status"] == "awaiting_payment" {
        env.pay(created["checkout_url"].as_str().unwrap()).await;
        let (checkout, _) = shared::reconcile::book_checkout(&env.event_handler(Clock::System), &id, Timestamp::now()).await.unwrap();
        assert_eq!(checkout.status, CheckoutStatus::Confirmed);
    }
    (id, created)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_is_kept_priced_by_the_server_and_flags_what_was_taken_since() {
    let env = CheckoutEnv::start().await;
    let app = app(&env, Clock::System).await;
    let items = vec![lesson("t_one", &in_days(2, "09:00"), 60), lesson("t_two", &in_days(2, "09:00"), 30), trial("t_two", &in_days(3, "09:00"))];
    let (status, stored) = put(&app, "s_cart", items.clone()).await;
    assert_eq!(status, 200, "{stored}");
    // A reload (another request, another device) finds the same cart.
    let read = get(&app, "s_cart").await;
    assert_eq!(read, stored);
    assert_eq!(flags(&read), [(true, None), (true, None), (true, None)]);
    let prices: Vec<u64> = read["items"].as_array().unwrap().iter().map(|i| i["price"].as_u64().unwrap()).collect();
    assert_eq!(prices, [3000, 1800, 500], "from the profiles, never the client");
    assert_eq!((read["currency"].as_str(), read["total"].as_u64()), (Some("eur"), Some(5300)));
    assert_eq!(read["items"][0]["end"], in_days(2, "10:00"));
    let expires: Timestamp = read["expires_at"].as_str().unwrap().parse().unwrap();
    let updated: Timestamp = read["updated_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires.as_second() - updated.as_second(), 30 * 86_400);

    // Another student buys the first item's slot; its teacher takes a day off
    // for the trial's day.
    env.paid_booking("s_other", vec![lesson("t_one", &in_days(2, "09:00"), 60)]).await;
    let mut two = always_open_teacher("t_two", "eur", 500).to_doc();
    two.overrides.insert(in_days(3, "00:00")[..10].to_owned(), Vec::new());
    env.db.store.put_profile(&shared::domain::TeacherProfile::try_from(two).unwrap()).await.unwrap();
    let read = get(&app, "s_cart").await;
    assert_eq!(flags(&read), [(false, Some("slot_taken")), (true, None), (false, Some("slot_not_open"))], "flagged, never dropped: {read}");
    assert_eq!(read["total"], 1800, "only what can be bought counts");
    assert!(read["items"][0]["message"].as_str().unwrap().contains("no longer free"));

    // Removing one item re-sends the flagged ones: that never fails.
    let (status, body) = put(&app, "s_cart", vec![items[0].clone(), items[2].clone()]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(flags(&body), [(false, Some("slot_taken")), (false, Some("slot_not_open"))]);
    let (status, body) = call(&app, "DELETE", "s_cart", None).await;
    assert_eq!((status, body["items"].as_array().unwrap().len(), body["total"].as_u64()), (200, 0, Some(0)));
    assert_eq!(get(&app, "s_cart").await["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_item_that_is_not_offered_is_refused_naming_it() {
    let env = CheckoutEnv::start().await;
    let app = app(&env, Clock::System).await;
    let ok = lesson("t_one", &in_days(2, "09:00"), 60);
    let cases = [
        (vec![ok.clone(), lesson("t_one", &in_days(2, "09:05"), 60)], 1, "items[1].start", "slot_not_open"),
        (vec![ok.clone(), lesson("t_one", &in_days(2, "09:30"), 60)], 1, "items[1].start", "overlaps_another_item"),
        (vec![ok.clone(), lesson("t_usd", &in_days(2, "09:00"), 60)], 1, "items[1].teacher_id", "currency_mismatch"),
        (vec![lesson("t_one", &in_days(2, "09:00"), 45)], 0, "items[0].duration_minutes", "lesson_not_offered"),
        (vec![ok.clone(), lesson("t_nobody", &in_days(2, "09:00"), 60)], 1, "items[1].teacher_id", "teacher_not_found"),
        (vec![lesson("t_one", &in_days(60, "09:00"), 60)], 0, "items[0].start", "slot_not_open"),
        (vec![trial("t_two", &in_days(2, "09:00")), trial("t_two", &in_days(3, "09:00"))], 1, "items[1].trial", "second_trial"),
    ];
    for (items, index, field, reason) in cases {
        let (status, body) = put(&app, "s_refused", items).await;
        assert_eq!(status, 422, "{body}");
        let error = &body["error"];
        assert_eq!((error["code"].as_str(), error["lesson_index"].as_u64(), error["field"].as_str(), error["reason"].as_str()), (Some("cart_item_unavailable"), Some(index), Some(field), Some(reason)), "{body}");
        assert!(error["message"].as_str().unwrap().starts_with(field));
    }
    assert_eq!(get(&app, "s_refused").await["items"], json!([]), "a refused PUT changes nothing");

    // A slot someone else holds is not offered either.
    let (status, _) = env.post(Some(&token_for("s_holder")), &cart(vec![ok.clone()]), None).await;
    assert_eq!(status, 201);
    let (status, body) = put(&app, "s_refused", vec![ok.clone()]).await;
    assert_eq!((status, body["error"]["reason"].as_str()), (422, Some("slot_taken")), "{body}");

    for (body, field) in [(json!({}), "items"), (json!({"items": vec![ok.clone(); 11]}), "items"), (json!({"items": [{"teacher_id": "t_one"}]}), "items[0].start"), (json!({"items": [], "x": 1}), "x"), (json!({"items": [ok.clone(), ok.clone()]}), "items[1].start")] {
        let (status, answer) = call(&app, "PUT", "s_refused", Some(body)).await;
        assert_eq!((status, answer["error"]["field"].as_str()), (400, Some(field)), "{answer}");
    }
    let unauthenticated = json_of(&shared::http::into_response(cart::handle(&app, FunctionUrlEvent::get("/").into_request()).await));
    assert_eq!(unauthenticated.0, 401);
    let post = json_of(&shared::http::into_response(cart::handle(&app, FunctionUrlEvent::new("POST", "/").header("authorization", &format!("Bearer {}", token_for("s_refused"))).into_request()).await));
    assert_eq!(post.0, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checking_out_the_cart_buys_its_available_items_and_confirmation_takes_them_out() {
    let env = CheckoutEnv::start().await;
    let app = app(&env, Clock::System).await;
    let (status, body) = env.post(Some(&token_for("s_buyer")), &json!({"from_cart": true}), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("cart_unavailable")), "an empty cart: {body}");

    let taken_later = lesson("t_one", &in_days(2, "12:00"), 60);
    let items = vec![lesson("t_one", &in_days(2, "09:00"), 60), taken_later.clone(), lesson("t_two", &in_days(2, "09:00"), 30)];
    assert_eq!(put(&app, "s_buyer", items).await.0, 200);
    env.paid_booking("s_other", vec![taken_later]).await;

    // A tab showing the cart before its last change does not buy it unseen.
    let shown = version(&get(&app, "s_buyer").await);
    let (status, body) = env.post(Some(&token_for("s_buyer")), &json!({"from_cart": true, "cart_version": shown - 1}), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (412, Some("version_mismatch")), "{body}");
    let (status, created) = env.post(Some(&token_for("s_buyer")), &json!({"from_cart": true, "cart_version": shown, "success_url": "http://localhost:3000/paid?c={CHECKOUT_ID}"}), None).await;
    assert_eq!(status, 201, "{created}");
    let lessons: Vec<(&str, &str)> = created["lessons"].as_array().unwrap().iter().map(|l| (l["teacher_id"].as_str().unwrap(), l["start"].as_str().unwrap())).collect();
    let (nine, ten) = (in_days(2, "09:00"), in_days(2, "09:00"));
    assert_eq!(lessons, [("t_one", nine.as_str()), ("t_two", ten.as_str())], "exactly the available items");
    assert_eq!(created["amount_total"], 4800);
    // While it is being paid for, the student's own hold does not flag their cart.
    let in_checkout = get(&app, "s_buyer").await;
    assert_eq!(flags(&in_checkout), [(true, None), (false, Some("slot_taken")), (true, None)]);

    env.pay(created["checkout_url"].as_str().unwrap()).await;
    let id = CheckoutId::parse(created["checkout_id"].as_str().unwrap()).unwrap();
    let (checkout, bookings) = shared::reconcile::book_checkout(&env.event_handler(Clock::System), &id, Timestamp::now()).await.unwrap();
    assert_eq!((checkout.status, bookings.len()), (CheckoutStatus::Confirmed, 2));
    let left = get(&app, "s_buyer").await;
    assert_eq!(left["items"].as_array().unwrap().len(), 1, "bought items leave the cart: {left}");
    // A tab showing the cart from before the purchase gets a 412 on its next
    // write (not a refusal of a bought lesson it never added).
    assert!(version(&left) > version(&in_checkout), "buying moved the cart's version: {left}");
    let (status, _, stale) = write_if_match(&app, "PUT", "s_buyer", Some(vec![lesson("t_one", &in_days(2, "09:00"), 60)]), &tag(version(&in_checkout))).await;
    assert_eq!((status, stale["error"]["code"].as_str()), (412, Some("version_mismatch")), "{stale}");
    assert_eq!((left["items"][0]["start"].as_str(), left["items"][0]["reason"].as_str()), (Some(in_days(2, "12:00").as_str()), Some("slot_taken")));
    let (status, body) = env.post(Some(&token_for("s_buyer")), &json!({"from_cart": true}), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("cart_unavailable")), "nothing left to buy: {body}");
    let (status, body) = env.post(Some(&token_for("s_buyer")), &json!({"from_cart": true, "lessons": []}), None).await;
    assert_eq!((status, body["error"]["field"].as_str()), (400, Some("lessons")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_free_cart_is_confirmed_at_once_and_emptied_and_a_used_trial_is_flagged() {
    let env = CheckoutEnv::start().await;
    let app = app(&env, Clock::System).await;
    assert_eq!(put(&app, "s_free", vec![trial("t_one", &in_days(2, "09:00"))]).await.0, 200);
    let (_, created) = buy_cart(&env, "s_free").await;
    assert_eq!(created["status"], "confirmed");
    assert_eq!(get(&app, "s_free").await["items"], json!([]));
    // The trial is spent: putting it again is refused, with the reason.
    let (status, body) = put(&app, "s_free", vec![trial("t_one", &in_days(3, "09:00"))]).await;
    assert_eq!((status, body["error"]["reason"].as_str()), (422, Some("trial_used")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_replacements_leave_exactly_one_of_them() {
    let env = CheckoutEnv::start().await;
    let app = std::sync::Arc::new(app(&env, Clock::System).await);
    let lists: Vec<Vec<Value>> = (0..6).map(|i| (0..3).map(|j| lesson("t_one", &in_days(2 + i, &format!("{:02}:00", 8 + 2 * j)), 60)).collect()).collect();
    assert_eq!(put(&app, "s_race", lists[5].clone()).await.0, 200);
    let writers = lists.iter().take(5).cloned().map(|items| {
        let app = app.clone();
        tokio::spawn(async move { put(&app, "s_race", items).await.0 })
    });
    for status in futures::future::join_all(writers).await {
        assert_eq!(status.unwrap(), 200);
    }
    let starts: Vec<Value> = get(&app, "s_race").await["items"].as_array().unwrap().iter().map(|i| i["start"].clone()).collect();
    assert!(lists.iter().any(|list| list.iter().map(|l| l["start"].clone()).collect::<Vec<_>>() == starts), "a union or a mix of writers: {starts:?}");
}

/// A write with `If-Match`, answered in full (status, ETag, body).
async fn write_if_match(app: &cart::App, method: &str, student: &str, items: Option<Vec<Value>>, if_match: &str) -> (u16, Option<String>, Value) {
    let mut event = FunctionUrlEvent::new(method, "/").header("authorization", &format!("Bearer {}", token_for(student))).header("if-match", if_match);
    if let Some(items) = items {
        event = event.header("content-type", "application/json").body(&json!({ "items": items }).to_string());
    }
    let response = shared::http::into_response(cart::handle(app, event.into_request()).await);
    let etag = response.headers().get("etag").map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = json_of(&response);
    (status, etag, body)
}

fn starts(cart: &Value) -> Vec<&str> {
    cart["items"].as_array().unwrap().iter().map(|i| i["start"].as_str().unwrap()).collect()
}

fn version(cart: &Value) -> u64 {
    cart["version"].as_u64().unwrap_or_else(|| panic!("no version: {cart}"))
}

fn tag(version: u64) -> String {
    format!("\"{version}\"")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_with_if_match_applies_only_to_the_version_it_was_built_from() {
    let env = CheckoutEnv::start().await;
    let app = app(&env, Clock::System).await;
    let (a, b, c) = (lesson("t_one", &in_days(2, "09:00"), 60), lesson("t_one", &in_days(3, "09:00"), 60), lesson("t_one", &in_days(4, "09:00"), 60));
    let read = |if_match: &'static str| FunctionUrlEvent::new("GET", "/").header("authorization", &format!("Bearer {}", token_for("s_tabs"))).header("if-match", if_match).into_request();
    let response = shared::http::into_response(cart::handle(&app, read("not a version")).await);
    assert_eq!(response.status(), 200, "a read takes no condition: If-Match is ignored");
    assert_eq!(response.headers()["etag"], "\"0\"", "a cart never written is at version 0");
    assert_eq!(response.headers()["cache-control"], "no-store", "a student's cart is private");
    assert_eq!(json_of(&response).1["version"], 0);

    let before = u64::try_from(Timestamp::now().as_second()).unwrap() * 1000;
    let (status, etag, first) = write_if_match(&app, "PUT", "s_tabs", Some(vec![a.clone()]), "\"0\"").await;
    assert_eq!((status, etag), (200, Some(tag(version(&first)))), "{first}");
    let v1 = version(&first);
    assert!(v1 >= before, "a version is at least its write's time in ms ({v1} < {before}), so none repeats after a sweep");
    // Two tabs read v1; the first adds b, then the second, still showing
    // [a], removes a: that list would drop b, so it is refused.
    let (status, _, added) = write_if_match(&app, "PUT", "s_tabs", Some(vec![a.clone(), b.clone()]), &tag(v1)).await;
    assert_eq!(status, 200, "{added}");
    let v2 = version(&added);
    assert!(v2 > v1);
    let (status, etag, refused) = write_if_match(&app, "PUT", "s_tabs", Some(vec![]), &tag(v1)).await;
    assert_eq!((status, refused["error"]["code"].as_str(), etag), (412, Some("version_mismatch"), None), "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains(&format!("cart changed since it was read (it is at version {v2} now)")), "{refused}");
    assert_eq!(starts(&get(&app, "s_tabs").await), starts(&added), "nothing written");
    let (status, _, cleared) = write_if_match(&app, "DELETE", "s_tabs", None, &tag(v1)).await;
    assert_eq!((status, cleared["error"]["code"].as_str()), (412, Some("version_mismatch")), "emptying an old version is refused too");
    // Applied again to what the cart holds now, the removal keeps b.
    let (status, _, removed) = write_if_match(&app, "PUT", "s_tabs", Some(vec![b.clone()]), &format!("W/{}", tag(v2))).await;
    assert_eq!((status, starts(&removed)), (200, vec![b["start"].as_str().unwrap()]), "{removed}");
    let v3 = version(&removed);

    for bad in ["\"two\"", "-1", "+3", "\"3\", \"4\""] {
        let (status, _, invalid) = write_if_match(&app, "PUT", "s_tabs", Some(vec![c.clone()]), bad).await;
        assert_eq!((status, invalid["error"]["field"].as_str()), (400, Some("If-Match")), "{bad}: {invalid}");
    }
    // Two writers of one version at once: exactly one of them lands.
    let app = std::sync::Arc::new(app);
    let writers = [vec![c.clone()], vec![a.clone(), c.clone()]].map(|items| {
        let (app, if_match) = (app.clone(), tag(v3));
        tokio::spawn(async move { write_if_match(&app, "PUT", "s_tabs", Some(items), &if_match).await.0 })
    });
    let mut statuses: Vec<u16> = futures::future::join_all(writers).await.into_iter().map(Result::unwrap).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 412]);
    let v4 = version(&get(&app, "s_tabs").await);
    let (status, _, emptied) = write_if_match(&app, "DELETE", "s_tabs", None, &tag(v4)).await;
    assert_eq!((status, emptied["items"].as_array().map(Vec::len)), (200, Some(0)), "{emptied}");
    let v5 = version(&emptied);
    assert!(v5 > v4);

    // DynamoDB sweeps the emptied cart's head, hours later (dynoxide never
    // does: done by hand). A tab still holding an old version cannot match
    // the next cart.
    let store = &env.db.store;
    let head = std::collections::HashMap::from([("pk".to_owned(), aws_sdk_dynamodb::types::AttributeValue::S("STUDENT#s_tabs".into())), ("sk".to_owned(), aws_sdk_dynamodb::types::AttributeValue::S("CART".into()))]);
    store.client().delete_item().table_name(store.table()).set_key(Some(head)).send().await.unwrap();
    let later = cart::App { auth: tests::hs256_auth().await, store: env.db.store_of("cart"), clock: Clock::Fixed(Timestamp::now() + SignedDuration::from_hours(3)) };
    assert_eq!(version(&get(&later, "s_tabs").await), 0, "the head is gone");
    let (status, _, again) = write_if_match(&later, "PUT", "s_tabs", Some(vec![lesson("t_one", &in_days(5, "09:00"), 60)]), "\"0\"").await;
    assert_eq!(status, 200, "{again}");
    assert!(version(&again) > v5, "the version sequence goes on past the sweep: {} after {v5}", version(&again));
    for old in [v1, v2, v3, v4, v5] {
        assert_eq!(write_if_match(&later, "DELETE", "s_tabs", None, &tag(old)).await.0, 412, "version {old} of the swept cart");
    }
    // `*` (any cart) and no If-Match at all: the last write wins, as before.
    assert_eq!(write_if_match(&app, "PUT", "s_tabs", Some(vec![a.clone()]), "*").await.0, 200);
    assert_eq!(put(&app, "s_tabs", vec![b]).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lesson_the_student_booked_outside_the_cart_is_flagged_as_theirs() {
    let env = CheckoutEnv::start().await;
    let app = app(&env, Clock::System).await;
    let (mine, theirs, next) = (lesson("t_one", &in_days(2, "09:00"), 60), lesson("t_one", &in_days(2, "13:00"), 60), lesson("t_one", &in_days(2, "10:00"), 60));
    assert_eq!(put(&app, "s_mine", vec![mine.clone(), theirs.clone()]).await.0, 200);
    // Bought with a checkout of `lessons`, which leaves the cart alone; and
    // another student books the other slot.
    env.paid_booking("s_mine", vec![mine.clone()]).await;
    env.paid_booking("s_other", vec![theirs]).await;
    let cart = get(&app, "s_mine").await;
    assert_eq!(flags(&cart), [(false, Some("booked_by_you")), (false, Some("slot_taken"))], "{cart}");
    assert_eq!(cart["items"][0]["message"], "you have already booked a lesson with this teacher at this time");
    // A new item right after the student's own lesson (within its buffer) is refused as theirs too.
    let (status, refused) = put(&app, "s_mine", vec![next]).await;
    assert_eq!((status, refused["error"]["reason"].as_str(), refused["error"]["field"].as_str()), (422, Some("booked_by_you"), Some("items[0].start")), "{refused}");
    // Someone else's cart sees that slot as taken, not theirs.
    assert_eq!(put(&app, "s_third", vec![mine]).await.1["error"]["reason"], "slot_taken");
}

/// Deletes every item of a student's cart, as DynamoDB's TTL sweep does
/// (dynoxide never sweeps).
async fn sweep_cart(store: &shared::store::Store, student: &str) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let found = store.client().query().table_name(store.table()).key_condition_expression("pk = :pk AND begins_with(sk, :cart)").expression_attribute_values(":pk", AttributeValue::S(format!("STUDENT#{student}"))).expression_attribute_values(":cart", AttributeValue::S("CART".into())).send().await.unwrap();
    for item in found.items() {
        let key = item.iter().filter(|(k, _)| *k == "pk" || *k == "sk").map(|(k, v)| (k.clone(), v.clone())).collect();
        store.client().delete_item().table_name(store.table()).set_key(Some(key)).send().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_whose_cart_was_swept_meanwhile_is_confirmed_and_leaves_a_fresh_version() {
    let env = CheckoutEnv::start().await;
    let app = app(&env, Clock::System).await;
    assert_eq!(put(&app, "s_late", vec![lesson("t_one", &in_days(2, "09:00"), 60)]).await.0, 200);
    let (status, created) = env.post(Some(&token_for("s_late")), &json!({"from_cart": true}), None).await;
    assert_eq!(status, 201, "{created}");
    // A bank debit settles after the whole cart expired and was swept.
    sweep_cart(&env.db.store, "s_late").await;
    assert_eq!(version(&get(&app, "s_late").await), 0);
    env.pay(created["checkout_url"].as_str().unwrap()).await;
    let id = CheckoutId::parse(created["checkout_id"].as_str().unwrap()).unwrap();
    let (checkout, bookings) = shared::reconcile::book_checkout(&env.event_handler(Clock::System), &id, Timestamp::now()).await.unwrap();
    assert_eq!((checkout.status, bookings.len()), (CheckoutStatus::Confirmed, 1), "the cart never stands in a purchase's way");
    let after = get(&app, "s_late").await;
    assert_eq!(after["items"].as_array().map(Vec::len), Some(0), "the head the purchase wrote reads as an empty cart: {after}");
    let fresh = version(&after);
    assert!(fresh > 0, "{after}");
    let (status, _, next) = write_if_match(&app, "PUT", "s_late", Some(vec![lesson("t_one", &in_days(3, "09:00"), 60)]), &tag(fresh)).await;
    assert_eq!(status, 200, "{next}");
    assert!(version(&next) > fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_untouched_for_thirty_days_is_forgotten() {
    let env = CheckoutEnv::start().await;
    let now = Timestamp::now();
    assert_eq!(put(&app(&env, Clock::Fixed(now)).await, "s_idle", vec![lesson("t_one", &in_days(2, "09:00"), 60)]).await.0, 200);
    let later = app(&env, Clock::Fixed(now + SignedDuration::from_hours(30 * 24 - 1))).await;
    assert_eq!(get(&later, "s_idle").await["items"].as_array().unwrap().len(), 1);
    // dynoxide never sweeps TTL; the reads ignore what is past it all the same.
    let expired = app(&env, Clock::Fixed(now + SignedDuration::from_hours(30 * 24) + SignedDuration::from_secs(1))).await;
    let body = get(&expired, "s_idle").await;
    assert_eq!((body["items"].clone(), body["expires_at"].clone()), (json!([]), Value::Null));
    // And a new cart after that does not resurrect the old items.
    assert_eq!(put(&expired, "s_idle", vec![]).await.0, 200);
    assert_eq!(get(&app(&env, Clock::System).await, "s_idle").await["items"], json!([]));
}

/// The student's own checkouts count against their cart exactly as a new
/// checkout of it would treat them: an unpaid one it would supersede does
/// not, a payment under way (a bank debit) does, and so does a trial held
/// by an unpaid checkout it would not supersede.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_what_checking_out_would_supersede_is_the_students_own() {
    let h = tests::hooked::hooked(false, false).await;
    let app = app(&h.env, Clock::System).await;
    let student = "s_own";
    let held_trial = trial("t_two", &in_days(3, "09:00"));
    let (status, _) = h.env.post(Some(&token_for(student)), &cart(vec![held_trial]), None).await;
    assert_eq!(status, 201);
    let (status, body) = put(&app, student, vec![trial("t_two", &in_days(4, "09:00"))]).await;
    assert_eq!((status, body["error"]["reason"].as_str()), (422, Some("trial_used")), "the open checkout keeps its trial: {body}");

    let item = lesson("t_one", &in_days(2, "09:00"), 60);
    assert_eq!(put(&app, student, vec![item]).await.0, 200);
    let (status, created) = h.env.post(Some(&token_for(student)), &json!({"from_cart": true}), None).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(flags(&get(&app, student).await), [(true, None)], "checking out again would supersede the unpaid checkout");

    let url = created["checkout_url"].as_str().unwrap();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    assert!(client.post(format!("{url}/complete-delayed")).send().await.unwrap().status().is_redirection());
    let id = CheckoutId::parse(created["checkout_id"].as_str().unwrap()).unwrap();
    let session = h.checkout(&id).await.stripe_session_id.unwrap();
    assert_eq!(h.deliver(&h.event("checkout.session.completed", &session).await).await.0, 200);
    assert_eq!(h.checkout(&id).await.status, CheckoutStatus::PaymentPending);
    assert_eq!(flags(&get(&app, student).await), [(false, Some("slot_taken"))], "a payment under way holds its slot: buying it again would fail");
}

/// A replacement conditions every line it keeps on that line still being
/// there: a confirmation that took a bought lesson out between the read and
/// the write makes the write retry, never bring the lesson back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_read_before_a_confirmation_does_not_bring_bought_lessons_back() {
    let env = CheckoutEnv::start().await;
    let store = &env.db.store;
    let items = vec![lesson("t_one", &in_days(2, "09:00"), 60), lesson("t_one", &in_days(2, "12:00"), 60)];
    assert_eq!(put(&app(&env, Clock::System).await, "s_stale", items).await.0, 200);
    let now = Timestamp::now();
    let read = store.get_cart("s_stale", now).await.unwrap();
    let bought = &read.picks[0];
    store.transact(vec![store.cart_line_delete_item("s_stale", &bought.teacher_id, bought.start).unwrap()]).await.unwrap();
    assert!(!store.replace_cart("s_stale", &read, &read.picks[..1], now).await.unwrap(), "the stale write must not land");
    assert_eq!(store.get_cart("s_stale", now).await.unwrap().picks, read.picks[1..]);
}

/// A saved pick at the end of time overflowed its end's computation and
/// panicked: a 400 naming it, and the cart stays as it was.
#[tokio::test]
async fn a_pick_at_the_end_of_time_is_refused_naming_it() {
    let env = CheckoutEnv::start().await;
    let app = app(&env, Clock::System).await;
    let (status, body) = put(&app, "s_far", vec![lesson("t_one", &in_days(2, "10:00"), 60), lesson("t_one", "9999-12-30T21:30:00Z", 60)]).await;
    assert_eq!((status, body["error"]["code"].as_str(), body["error"]["field"].as_str()), (400, Some("invalid_request"), Some("items[1].start")), "{body}");
    assert!(get(&app, "s_far").await["items"].as_array().unwrap().is_empty());
}
