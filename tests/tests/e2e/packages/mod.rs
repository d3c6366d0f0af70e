//! Lesson packages end to end on dynoxide with the IAM checker: bought
//! through initiate-checkout and the Stripe emulator (its signed events
//! delivered to stripe-webhook on loopback), granted by every path that
//! confirms a checkout, spent by checkouts paid with credits, given back or
//! spent by cancellations, expired by reconcile's sweep, refunded through
//! the credits function, and taken back by a chargeback.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use shared::auth::Role;
use shared::clock::Clock;
use shared::domain::{BookingId, CheckoutId};
use shared::store::{Booking, Grant};
use tests::hooked::{Hooked, hooked};
use tests::{FunctionUrlEvent, STRIPE_KEY, call_app, json_of, lesson, token_as, token_for};

mod booking;
mod buying;
mod changes;
mod expiry;
mod refunds;

/// A teacher open all day in UTC: 60-minute lessons at `price`, packages
/// of 10 (10 % off) and 2 (none off), valid `valid_days`, and half of a
/// late cancel refunded.
fn package_teacher(id: &str, currency: &str, price: u64, valid_days: u32) -> shared::domain::TeacherProfile {
    let day = json!([["00:00", "24:00"]]);
    let doc = json!({
        "id": id, "name": format!("Teacher {id}"), "email": format!("{id}@teachers.test"), "timezone": "UTC",
        "weekly": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day},
        "overrides": {}, "currency": currency,
        "lessons": [{"duration_minutes": 60, "price": price}, {"duration_minutes": 30, "price": price / 2}],
        "buffer_minutes": 0, "min_notice_minutes": 0, "horizon_days": 90, "slot_step_minutes": 10,
        "cancellation": {"free_cancel_hours": 24, "late_cancel_refund_percent": 50},
        "packages": [{"lessons": 10, "duration_minutes": 60, "discount_percent": 10}, {"lessons": 2, "duration_minutes": 60}, {"lessons": 7, "duration_minutes": 60, "discount_percent": 15}],
        "package_valid_days": valid_days
    });
    shared::domain::TeacherProfile::from_json_str(&doc.to_string()).expect("valid test profile")
}

struct Shop {
    h: Hooked,
    credits: credits::App,
}

/// The stack with stripe-webhook receiving the emulator's events when
/// `deliver`, and three package teachers: `t_pack` (EUR 30.00, 180 days),
/// `t_short` (EUR 30.00, 30 days) and `t_yen` (¥1001, 180 days).
async fn shop(deliver: bool) -> Shop {
    let h = hooked(deliver, false).await;
    for profile in [package_teacher("t_pack", "eur", 3000, 180), package_teacher("t_short", "eur", 3000, 30), package_teacher("t_yen", "jpy", 1001, 180)] {
        h.env.db.store.put_profile(&profile).await.expect("seed teacher");
    }
    let stripe = shared::payments::StripeConfig { secret_key: STRIPE_KEY.into(), api_base: h.env.stripe.base_url(), timeout: Duration::from_secs(5) };
    let credits = credits::App {
        auth: tests::hs256_auth().await,
        credits: shared::credits::service::Credits { store: h.env.db.store_of("credits"), payments: shared::payments::Payments::new(&stripe).unwrap() },
        clock: Clock::System,
    };
    Shop { h, credits }
}

fn package(teacher: &str, lessons: u32) -> Value {
    json!({"package": {"teacher_id": teacher, "lessons": lessons, "duration_minutes": 60}})
}

fn with_credits(lessons: Vec<Value>) -> Value {
    json!({"lessons": lessons, "pay_with": "credits"})
}

impl Shop {
    /// Starts buying `lessons` of `teacher`'s package: the created checkout.
    async fn order(&self, student: &str, teacher: &str, lessons: u32) -> Value {
        let (status, created) = self.h.env.post(Some(&token_for(student)), &package(teacher, lessons), None).await;
        assert_eq!(status, 201, "{created}");
        created
    }

    /// Presses `button` on the order's Stripe page.
    async fn press(&self, created: &Value, button: &str) -> CheckoutId {
        let url = created["checkout_url"].as_str().expect("checkout_url");
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let pressed = client.post(format!("{url}/{button}")).send().await.unwrap();
        assert!(pressed.status().is_redirection() || pressed.status().is_success(), "{}", pressed.status());
        CheckoutId::parse(created["checkout_id"].as_str().unwrap()).unwrap()
    }

    /// Buys and pays a package, confirmed by create-booking's path: its grant.
    async fn buy(&self, student: &str, teacher: &str, lessons: u32) -> Grant {
        let created = self.order(student, teacher, lessons).await;
        let id = self.press(&created, "complete").await;
        let (checkout, _) = shared::reconcile::book_checkout(&self.h.env.event_handler(Clock::System), &id, Timestamp::now()).await.expect("confirmed");
        assert_eq!(checkout.status, shared::store::CheckoutStatus::Confirmed);
        self.grant_of(&id).await
    }

    async fn grant_of(&self, checkout: &CheckoutId) -> Grant {
        self.until_grant(checkout).await.expect("a grant")
    }

    async fn until_grant(&self, checkout: &CheckoutId) -> Option<Grant> {
        for _ in 0..200 {
            if let Some(grant) = self.h.env.db.store.grant(&Grant::grant_id_of(checkout)).await.unwrap() {
                return Some(grant);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        None
    }

    async fn grant(&self, grant: &Grant) -> Grant {
        self.h.env.db.store.grant(&grant.grant_id).await.unwrap().expect("the grant")
    }

    /// Checks out `lessons` with credits as `student`, through initiate-checkout at `now`.
    async fn book_at(&self, student: &str, lessons: Vec<Value>, now: Option<Timestamp>) -> (u16, Value) {
        let body = with_credits(lessons).to_string();
        let event = FunctionUrlEvent::new("POST", "/").header("content-type", "application/json").header("authorization", &format!("Bearer {}", token_for(student))).body(&body);
        match now {
            Some(now) => call_app(&self.h.env.checkout_at(Clock::Fixed(now)).await, event).await,
            None => self.h.env.call(event).await,
        }
    }

    async fn book(&self, student: &str, lessons: Vec<Value>) -> Vec<Booking> {
        let (status, booked) = self.book_at(student, lessons, None).await;
        assert_eq!(status, 201, "{booked}");
        assert_eq!(booked["status"], "confirmed", "{booked}");
        let mut bookings = Vec::new();
        for id in booked["booking_ids"].as_array().unwrap() {
            bookings.push(self.booking(&BookingId::parse(id.as_str().unwrap()).unwrap()).await);
        }
        bookings
    }

    async fn booking(&self, id: &BookingId) -> Booking {
        self.h.env.db.store.get_booking(id).await.unwrap().expect("booking")
    }

    /// change-booking as `who` (`role`) at `now`.
    async fn cancel(&self, who: &str, role: Role, booking: &Booking, now: Timestamp) -> (u16, Value) {
        let change = self.h.env.change_booking_at(now).await;
        let body = json!({"booking_id": booking.booking_id, "action": "cancel"}).to_string();
        let event = FunctionUrlEvent::new("POST", "/").header("authorization", &format!("Bearer {}", token_as(who, role))).body(&body);
        json_of(&shared::http::into_response(change_booking::handle(&change, event.into_request()).await))
    }

    /// The credits function as `who`.
    async fn credits(&self, who: &str, role: Role, event: FunctionUrlEvent) -> (u16, Value) {
        let event = event.header("authorization", &format!("Bearer {}", token_as(who, role)));
        json_of(&shared::http::into_response(credits::handle(&self.credits, event.into_request()).await))
    }

    async fn credits_at(&self, who: &str, role: Role, event: FunctionUrlEvent, now: Timestamp) -> (u16, Value) {
        let app = credits::App { auth: tests::hs256_auth().await, credits: shared::credits::service::Credits { store: self.credits.credits.store.clone(), payments: self.payments() }, clock: Clock::Fixed(now) };
        let event = event.header("authorization", &format!("Bearer {}", token_as(who, role)));
        json_of(&shared::http::into_response(credits::handle(&app, event.into_request()).await))
    }

    fn payments(&self) -> shared::payments::Payments {
        let stripe = shared::payments::StripeConfig { secret_key: STRIPE_KEY.into(), api_base: self.h.env.stripe.base_url(), timeout: Duration::from_secs(5) };
        shared::payments::Payments::new(&stripe).unwrap()
    }

    /// The refunds the emulator made of `payment_intent`, as (amount, metadata.obligation_id).
    async fn refunds_of(&self, payment_intent: &str) -> Vec<(u64, String)> {
        self.h.refunds().await.iter().filter(|r| r["payment_intent"] == payment_intent).map(|r| (r["amount"].as_u64().unwrap(), r["metadata"]["obligation_id"].as_str().unwrap_or_default().to_owned())).collect()
    }

    async fn sessions(&self) -> usize {
        let all: Value = reqwest::get(format!("{}_emulator/sessions", self.h.env.stripe.base_url())).await.unwrap().json().await.unwrap();
        all.as_array().cloned().or_else(|| all["data"].as_array().cloned()).unwrap_or_default().len()
    }
}

/// `days` from now at `hh:mm` UTC.
fn day_at(days: i64, hh_mm: &str) -> String {
    tests::in_days(days, hh_mm)
}

fn at(raw: &str) -> Timestamp {
    raw.parse().unwrap()
}

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}
