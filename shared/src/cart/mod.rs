//! The cart function as a use case: a student's picked lessons kept on the
//! server (so they survive reloads and devices), re-checked on every read
//! and priced by the server. What cannot be bought any more is flagged with
//! its reason, never dropped; a checkout `from_cart` buys what can.

pub mod check;
mod request;

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use self::check::{Facts, Unavailable, Verdict};
use self::request::parse_items;
use crate::auth::Principal;
use crate::availability::Busy;
use crate::domain::{CheckoutId, Currency, Interval, LessonPick, TeacherId};
use crate::error::ApiError;
use crate::checkout::{OpenSet, clashes};
use crate::store::{Backoff, BookingsOf, BusyEntry, CONTENTION_BUDGET, Checkout, CheckoutLesson, Store, StoredCart, StoredProfile};

pub use request::MAX_BODY_BYTES;

/// One page of the student's bookings around a cart: more than a cart's
/// days could hold. Beyond it, a lesson of theirs reads as `slot_taken`.
const OWN_BOOKINGS_READ: i32 = 100;

/// The cart as the student sees it.
#[derive(Debug, Serialize)]
pub struct CartView {
    pub items: Vec<ItemView>,
    /// The cart's currency (its first offered item's), `null` when empty.
    pub currency: Option<Currency>,
    /// The sum of the available items' prices, in minor units.
    pub total: u64,
    pub updated_at: Option<Timestamp>,
    /// When the cart is forgotten unless it changes before.
    pub expires_at: Option<Timestamp>,
    /// Goes up with every write; also the `ETag`, for a write's `If-Match`.
    pub version: u64,
}

#[derive(Debug, Serialize)]
pub struct ItemView {
    #[serde(flatten)]
    pub pick: LessonPick,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teacher_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<Timestamp>,
    /// Minor units of the cart's currency; `null` when the teacher does not
    /// offer this lesson (any more) or charges in another currency.
    pub price: Option<u64>,
    pub available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

pub async fn view(store: &Store, who: &Principal, now: Timestamp) -> Result<CartView, ApiError> {
    let cart = store.get_cart(&who.user_id, now).await?;
    let evidence = Evidence::read(store, &who.user_id, &cart.picks, now).await?;
    Ok(evidence.view(&cart, now))
}

/// Replaces the cart with the body's items. A new item that cannot be bought
/// now is refused (422, naming it); one already in the cart may stay, and
/// is flagged like on a read, so removing one item never fails for another.
/// With `expected` (the request's `If-Match`), only the cart at that version
/// is replaced: a list built from an older read would undo another tab's
/// change, so it is refused (`412`) and the client applies its change again.
pub async fn replace(store: &Store, who: &Principal, body: &[u8], expected: Option<u64>, now: Timestamp) -> Result<CartView, ApiError> {
    replace_with(store, who, &parse_items(body)?, expected, now).await
}

pub async fn clear(store: &Store, who: &Principal, expected: Option<u64>, now: Timestamp) -> Result<CartView, ApiError> {
    replace_with(store, who, &[], expected, now).await
}

async fn replace_with(store: &Store, who: &Principal, picks: &[LessonPick], expected: Option<u64>, now: Timestamp) -> Result<CartView, ApiError> {
    let mut backoff = Backoff::new(CONTENTION_BUDGET);
    loop {
        let read = store.get_cart(&who.user_id, now).await?;
        still_at(&read, expected)?;
        let evidence = Evidence::read(store, &who.user_id, picks, now).await?;
        let (verdicts, _) = evidence.judge(picks, now);
        let refused = picks.iter().zip(&verdicts).enumerate().find_map(|(i, (pick, v))| v.unavailable.as_ref().filter(|_| !read.picks.contains(pick)).map(|why| (i, why)));
        if let Some((index, why)) = refused {
            return Err(ApiError::CartItemUnavailable { index, field: format!("items[{index}].{}", why.field()), reason: why.code(), message: why.message("items") });
        }
        if store.replace_cart(&who.user_id, &read, picks, now).await? {
            tracing::info!(items = picks.len(), "cart replaced");
            return Ok(evidence.view(&store.get_cart(&who.user_id, now).await?, now));
        }
        if !backoff.wait().await {
            return Err(ApiError::Contention);
        }
    }
}

/// The lessons a checkout `from_cart` buys: the cart's available items, in
/// the cart's order. None available is a `409 cart_unavailable`; a cart no
/// longer at the `expected` version the student saw, a `412`.
pub async fn available_picks(store: &Store, student: &str, expected: Option<u64>, now: Timestamp) -> Result<Vec<LessonPick>, ApiError> {
    let cart = store.get_cart(student, now).await?;
    still_at(&cart, expected)?;
    if cart.picks.is_empty() {
        return Err(ApiError::CartUnavailable("the cart is empty"));
    }
    let evidence = Evidence::read(store, student, &cart.picks, now).await?;
    let (verdicts, _) = evidence.judge(&cart.picks, now);
    let picks: Vec<LessonPick> = cart.picks.iter().zip(&verdicts).filter(|(_, v)| v.unavailable.is_none()).map(|(p, _)| p.clone()).collect();
    if picks.is_empty() {
        return Err(ApiError::CartUnavailable("nothing in the cart can be bought now; each item of the cart says why"));
    }
    Ok(picks)
}

/// A change the client built on the cart at version `expected` applies only
/// to that version: on a later one it would undo a change it never saw.
fn still_at(cart: &StoredCart, expected: Option<u64>) -> Result<(), ApiError> {
    match expected {
        Some(expected) if expected != cart.version => {
            tracing::info!(expected, current = cart.version, "the cart changed since the client read it");
            Err(ApiError::VersionMismatch { what: "cart", current: cart.version })
        }
        _ => Ok(()),
    }
}

/// What the verdicts on a list of picks rest on: the teachers' profiles and
/// calendars, and the student's trials. The student's own checkouts that
/// buying these picks would supersede do not count against them.
struct Evidence {
    profiles: HashMap<TeacherId, StoredProfile>,
    busy: HashMap<TeacherId, Vec<Busy>>,
    own_lessons: HashMap<TeacherId, Vec<Busy>>,
    trials_used: HashSet<TeacherId>,
}

impl Evidence {
    async fn read(store: &Store, student: &str, picks: &[LessonPick], now: Timestamp) -> Result<Self, ApiError> {
        let open = OpenSet::read(store, student, now).await?;
        let mut spans: BTreeMap<&TeacherId, (Timestamp, Timestamp)> = BTreeMap::new();
        for pick in picks {
            let span = spans.entry(&pick.teacher_id).or_insert((pick.start, pick.start));
            span.0 = span.0.min(pick.start);
            span.1 = span.1.max(pick.start);
        }
        let mut evidence = Self { profiles: HashMap::new(), busy: HashMap::new(), own_lessons: HashMap::new(), trials_used: HashSet::new() };
        for &teacher in spans.keys() {
            if let Some(stored) = store.get_stored_profile(teacher).await? {
                evidence.profiles.insert(teacher.clone(), stored);
            }
        }
        // Only what a checkout of these picks would supersede: the student's
        // checkouts still open for payment whose lessons overlap a pick. A
        // payment under way (a bank debit) holds its slots, as anyone's.
        let superseded = |c: &&Checkout| c.lessons.iter().any(|l| picks.iter().any(|p| evidence.supersedes(l, p)));
        let own: Vec<&CheckoutId> = open.live.iter().filter(superseded).map(|c| &c.checkout_id).collect();
        let booked = Self::own_bookings(store, student, &spans).await?;
        let (mut busy, mut own_lessons, mut trials_used) = (HashMap::new(), HashMap::new(), HashSet::new());
        for (&teacher, &(first, last)) in &spans {
            let Some(stored) = evidence.profiles.get(teacher) else { continue };
            // Up to the end of the last pick's longest possible lesson.
            let longest = stored.profile.lessons().iter().chain(stored.profile.trial()).map(|l| l.duration_minutes).max().unwrap_or(0);
            if let Some(window) = Interval::new(first, last + SignedDuration::from_mins(i64::from(longest.max(1)))) {
                let entries = store.busy_entries_around(teacher, window).await?;
                let (mine, others): (Vec<&BusyEntry>, Vec<&BusyEntry>) = entries.iter().filter(|e| !own.iter().any(|id| id.as_str() == e.reference)).partition(|e| booked.contains(&e.reference));
                busy.insert(teacher.clone(), others.into_iter().map(BusyEntry::as_busy).collect());
                own_lessons.insert(teacher.clone(), mine.into_iter().map(BusyEntry::as_busy).collect());
            }
            if picks.iter().any(|p| p.trial && &p.teacher_id == teacher)
                && let Some(claim) = store.get_trial_claim(student, teacher).await?
                // A trial bought is spent, even while its checkout is still listed as open.
                && (claim.confirmed || claim.blocks(now, &own))
            {
                trials_used.insert(teacher.clone());
            }
        }
        evidence.busy = busy;
        evidence.own_lessons = own_lessons;
        evidence.trials_used = trials_used;
        Ok(evidence)
    }

    /// The ids of the student's bookings starting from a day before the
    /// first pick to a day after the last: the calendar entries that are
    /// their own lessons, so a pick one blocks reads "booked by you".
    async fn own_bookings(store: &Store, student: &str, spans: &BTreeMap<&TeacherId, (Timestamp, Timestamp)>) -> Result<HashSet<String>, ApiError> {
        let (Some(first), Some(last)) = (spans.values().map(|s| s.0).min(), spans.values().map(|s| s.1).max()) else {
            return Ok(HashSet::new());
        };
        let day = SignedDuration::from_hours(24);
        let bookings = store.bookings_of(BookingsOf::Student(student), first - day, OWN_BOOKINGS_READ).await?;
        Ok(bookings.into_iter().filter(|b| b.start <= last + day).map(|b| b.booking_id.to_string()).collect())
    }

    /// Whether checking out `pick` would supersede the open checkout `lesson`
    /// belongs to (the rule a checkout applies, with the teacher's buffer now).
    fn supersedes(&self, lesson: &CheckoutLesson, pick: &LessonPick) -> bool {
        let buffer = self.profiles.get(&pick.teacher_id).map_or(lesson.buffer_minutes, |s| s.profile.buffer_minutes());
        let end = pick.start + SignedDuration::from_mins(i64::from(pick.duration_minutes));
        clashes(lesson, &pick.teacher_id, pick.start, end, buffer)
    }

    fn judge(&self, picks: &[LessonPick], now: Timestamp) -> (Vec<Verdict<'_>>, Option<Currency>) {
        let facts = Facts {
            profiles: self.profiles.iter().map(|(id, p)| (id.clone(), p)).collect(),
            busy: self.busy.clone(),
            own_lessons: self.own_lessons.clone(),
            trials_used: self.trials_used.clone(),
        };
        check::check(picks, &facts, now)
    }

    fn view(&self, cart: &StoredCart, now: Timestamp) -> CartView {
        let (verdicts, currency) = self.judge(&cart.picks, now);
        let items: Vec<ItemView> = cart.picks.iter().zip(verdicts).map(|(pick, v)| item_view(pick, v)).collect();
        let total = items.iter().filter(|i| i.available).filter_map(|i| i.price).sum();
        CartView { items, currency, total, updated_at: cart.updated_at, expires_at: cart.expires_at, version: cart.version }
    }
}

fn item_view(pick: &LessonPick, verdict: Verdict<'_>) -> ItemView {
    let other_currency = matches!(verdict.unavailable, Some(Unavailable::OtherCurrency { .. }));
    ItemView {
        pick: pick.clone(),
        teacher_name: verdict.priced.as_ref().map(|p| p.profile.name().to_owned()),
        end: verdict.priced.as_ref().map(|p| p.end),
        price: verdict.priced.as_ref().filter(|_| !other_currency).map(|p| p.offer.price.amount),
        available: verdict.unavailable.is_none(),
        reason: verdict.unavailable.as_ref().map(Unavailable::code),
        message: verdict.unavailable.as_ref().map(|u| u.message("items")),
    }
}
