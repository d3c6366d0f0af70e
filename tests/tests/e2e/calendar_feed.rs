//! calendar-feed as deployed (signing as itself) on dynoxide: the owner
//! makes and rotates their feed with a token; the feed is found only by its
//! secret, read by an independent iCalendar parser.

use jiff::Timestamp;
use serde_json::Value;
use shared::clock::Clock;
use tests::mail::{MAIL_DOMAIN, mail_config};
use tests::{CheckoutEnv, FunctionUrlEvent, in_days, json_of, lesson, token_as, token_for};

use super::changes::cancel;

async fn app(env: &CheckoutEnv) -> calendar_feed::App {
    let feeds = shared::calendar_feed::Feeds { store: env.db.store_of("calendar-feed"), mail: mail_config() };
    calendar_feed::App { auth: tests::hs256_auth().await, feeds, base_url: Some("https://feeds.test/".into()), clock: Clock::System }
}

async fn make_feed(app: &calendar_feed::App, token: &str) -> (u16, Value) {
    let event = FunctionUrlEvent::new("POST", "/").header("authorization", &format!("Bearer {token}"));
    json_of(&shared::http::into_response(calendar_feed::handle(app, event.into_request()).await))
}

/// Status, Cache-Control and body of a GET of `url`'s path.
async fn read(app: &calendar_feed::App, url: &str) -> (u16, Option<String>, String) {
    let path = url.strip_prefix("https://feeds.test").unwrap_or(url);
    let response = shared::http::into_response(calendar_feed::handle(app, FunctionUrlEvent::get(path).into_request()).await);
    let cache = response.headers().get("cache-control").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = match response.body() {
        lambda_http::Body::Text(t) => t.clone(),
        lambda_http::Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    };
    (response.status().as_u16(), cache, body)
}

/// Each event's UID, SEQUENCE, STATUS and SUMMARY, by an independent parser.
fn events(ics: &str) -> Vec<(String, u32, String, String)> {
    let calendar = ical::IcalParser::new(std::io::BufReader::new(ics.as_bytes())).next().expect("a calendar").expect("valid");
    let prop = |e: &ical::parser::ical::component::IcalEvent, name: &str| e.properties.iter().find(|p| p.name == name).and_then(|p| p.value.clone()).unwrap_or_default();
    calendar.events.iter().map(|e| (prop(e, "UID"), prop(e, "SEQUENCE").parse().unwrap_or(99), prop(e, "STATUS"), prop(e, "SUMMARY"))).collect()
}

#[tokio::test]
async fn a_feed_shows_the_owners_lessons_with_the_mails_uids_and_a_cancelled_one_as_cancelled() {
    let env = CheckoutEnv::start().await;
    let app = app(&env).await;
    let (_, bookings) = env.paid_booking("ivy", vec![lesson("t_one", &in_days(2, "10:00"), 60), lesson("t_one", &in_days(3, "10:00"), 60)]).await;
    let change = env.change_booking_at(Timestamp::now()).await;
    assert_eq!(cancel(&change, &token_for("ivy"), &bookings[0]).await.0, 200);

    let (status, feed) = make_feed(&app, &token_for("ivy")).await;
    assert_eq!(status, 201, "{feed}");
    let url = feed["url"].as_str().unwrap();
    assert!(url.starts_with("https://feeds.test/") && url.ends_with(".ics") && url.len() > 64 + 20, "{url}");
    let (status, cache, ics) = read(&app, url).await;
    assert_eq!((status, cache.as_deref()), (200, Some("private, max-age=300")));
    let mut got = events(&ics);
    got.sort();
    let uid = |i: usize| format!("{}@{MAIL_DOMAIN}", bookings[i]);
    assert_eq!(got, vec![(uid(0), 1, "CANCELLED".into(), "Lesson with Teacher t_one".into()), (uid(1), 0, "CONFIRMED".into(), "Lesson with Teacher t_one".into())]);

    // The teacher's own feed lists the same lessons, named for the student.
    let (_, teacher_feed) = make_feed(&app, &token_as("t_one", shared::auth::Role::Teacher)).await;
    let (_, _, ics) = read(&app, teacher_feed["url"].as_str().unwrap()).await;
    let summaries: Vec<String> = events(&ics).into_iter().map(|e| e.3).collect();
    assert_eq!(summaries, vec!["Lesson with Student ivy".to_owned(); 2]);
    // Another person's feed shows nothing of them.
    let (_, stranger) = make_feed(&app, &token_for("zed")).await;
    assert_eq!(events(&read(&app, stranger["url"].as_str().unwrap()).await.2), vec![]);
}

#[tokio::test]
async fn only_the_current_secret_opens_a_feed_and_only_its_owner_makes_one() {
    let env = CheckoutEnv::start().await;
    let app = app(&env).await;
    let (_, first) = make_feed(&app, &token_for("jo")).await;
    let first = first["url"].as_str().unwrap().to_owned();
    assert_eq!(read(&app, &first).await.0, 200);

    let wrong = format!("/{}.ics", "0".repeat(64));
    for path in [wrong.as_str(), "/not-a-secret.ics", &first.replace(".ics", "")] {
        let (status, _, body) = read(&app, path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body.contains("feed_not_found"), "{body}");
    }

    let (status, second) = make_feed(&app, &token_for("jo")).await;
    assert_eq!(status, 201);
    let second = second["url"].as_str().unwrap();
    assert_ne!(second, first);
    assert_eq!(read(&app, &first).await.0, 404, "the rotated secret no longer opens it");
    assert_eq!(read(&app, second).await.0, 200);

    let no_token = json_of(&shared::http::into_response(calendar_feed::handle(&app, FunctionUrlEvent::new("POST", "/").into_request()).await));
    assert_eq!(no_token.0, 401);
    // The root takes only POST; a feed only GET.
    for (method, path, allow) in [("GET", "/", "POST"), ("DELETE", "/", "POST"), ("POST", wrong.as_str(), "GET"), ("PUT", wrong.as_str(), "GET")] {
        let response = shared::http::into_response(calendar_feed::handle(&app, FunctionUrlEvent::new(method, path).into_request()).await);
        assert_eq!((response.status().as_u16(), response.headers().get("allow").and_then(|v| v.to_str().ok())), (405, Some(allow)), "{method} {path}");
    }
}
