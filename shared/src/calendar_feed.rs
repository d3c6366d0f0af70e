//! A person's lessons as an iCalendar feed a calendar app subscribes to:
//! `GET calendar-feed/<secret>.ics`, the secret being the only credential
//! (244 random bits from the system's generator, stored as its SHA-256). The owner makes or rotates
//! it with their token (`POST calendar-feed/`); the old URL then stops
//! working. The events carry the same UIDs and SEQUENCEs as the mails'
//! invites, so a subscribed calendar and a mailed invite agree; cancelled
//! lessons stay as `STATUS:CANCELLED`. Calendar apps refresh subscriptions
//! on their own schedule (Google every 8 to 24 hours): the mails are what
//! tell people in time, the feed keeps a calendar complete.

use std::collections::BTreeMap;

use icalendar::Calendar;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::auth::Principal;
use crate::domain::TeacherId;
use crate::error::ApiError;
use crate::notify::facts::Lesson;
use crate::notify::{MailConfig, invite, text};
use crate::store::{Booking, BookingsOf, Store};

/// How far back a feed shows lessons.
const PAST: SignedDuration = SignedDuration::from_hours(24 * 30);
/// The most lessons of each role a feed reads (upcoming and recent).
const MOST: i32 = 500;
/// Rotations racing each other: the loser reads again, a few times.
const ROTATE_TRIES: usize = 3;

/// What a created feed is, for its owner.
#[derive(Debug, Serialize)]
pub struct FeedUrl {
    /// Subscribe to it; keep it private (it is the only key to the feed).
    pub url: String,
    pub created_at: Timestamp,
}

pub struct Feeds {
    pub store: Store,
    pub mail: MailConfig,
}

/// A new secret: two v4 UUIDs from the operating system's generator, 244
/// random bits, as 64 hex digits.
fn new_secret() -> String {
    let bytes: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()].iter().flat_map(|u| *u.as_bytes()).collect();
    hex::encode(bytes)
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The secret a path's last segment names (`<64 hex>.ics`), or none.
pub fn secret_of(path: &str) -> Option<&str> {
    let secret = path.rsplit('/').next()?.strip_suffix(".ics")?;
    (secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit())).then_some(secret)
}

impl Feeds {
    /// Makes the caller's feed, or replaces it (the old URL stops working).
    /// `base` is where the function answers (`https://<id>.lambda-url…/`).
    pub async fn rotate(&self, who: &Principal, base: &str, now: Timestamp) -> Result<FeedUrl, ApiError> {
        for _ in 0..ROTATE_TRIES {
            let old = self.store.current_feed(&who.user_id).await?;
            let secret = new_secret();
            if self.store.rotate_feed(&who.user_id, old.as_deref(), &hash(&secret), now).await? {
                tracing::info!(user_id = %who.user_id, rotated = old.is_some(), "calendar feed made");
                return Ok(FeedUrl { url: format!("{}/{secret}.ics", base.trim_end_matches('/')), created_at: now });
            }
        }
        Err(ApiError::Contention)
    }

    /// The feed of `secret`, or `FeedNotFound` (unknown, or rotated away).
    pub async fn render(&self, secret: &str, now: Timestamp) -> Result<String, ApiError> {
        let owner = self.store.feed_owner(&hash(secret)).await?.ok_or(ApiError::FeedNotFound)?;
        let from = now - PAST;
        let mut bookings: Vec<(Booking, bool)> = self.store.bookings_of(BookingsOf::Student(&owner.user_id), from, MOST).await?.into_iter().map(|b| (b, false)).collect();
        if let Some(teacher) = self.store.teacher_of(&owner.user_id).await? {
            bookings.extend(self.store.bookings_of(BookingsOf::Teacher(&teacher), from, MOST).await?.into_iter().map(|b| (b, true)));
        }
        let names = self.teacher_names(bookings.iter().filter(|(_, teaches)| !teaches).map(|(b, _)| &b.teacher_id)).await?;
        let mut calendar = Calendar::new();
        calendar.name(text::FEED_NAME).append_property(("METHOD", "PUBLISH"));
        for (booking, teaches) in &bookings {
            let lesson = Lesson::of(booking, names.get(&booking.teacher_id).map_or("your teacher", String::as_str));
            calendar.push(invite::event(&lesson, &text::feed_summary(&lesson, *teaches), None, self.mail.from.as_str(), &self.mail.domain, &self.mail.join_url(), now));
        }
        Ok(calendar.done().to_string())
    }

    async fn teacher_names(&self, ids: impl Iterator<Item = &TeacherId>) -> Result<BTreeMap<TeacherId, String>, ApiError> {
        let mut names = BTreeMap::new();
        for id in ids {
            if !names.contains_key(id)
                && let Some(profile) = self.store.get_profile(id).await?
            {
                names.insert(id.clone(), profile.name().to_owned());
            }
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_64_hex_digits_and_only_they_name_a_feed() {
        let (a, b) = (new_secret(), new_secret());
        assert_eq!((a.len(), a == b), (64, false));
        assert_eq!(secret_of(&format!("/{a}.ics")), Some(a.as_str()));
        assert_eq!(secret_of(&format!("/lambda-url/calendar-feed/{a}.ics")), Some(a.as_str()));
        for bad in [format!("/{a}"), format!("/{}.ics", &a[1..]), format!("/{}z.ics", &a[1..]), "/.ics".to_owned(), "/".to_owned()] {
            assert_eq!(secret_of(&bad), None, "{bad}");
        }
        assert_ne!(hash(&a), a, "stored hashed");
    }
}
