//! Video rooms for bookings: every confirmed booking gets a 100ms room with
//! a code for its teacher and one for its student. Provisioning is
//! idempotent (the room's name is the booking id and every retry sends the
//! same body), so fulfilment, the repair path, `create-room` and a join can
//! all ask for it, at once or again, and one room with one set of codes results.

pub mod hms;
mod join;

use jiff::SignedDuration;

pub use hms::{Hms, HmsConfig, HmsError, RoomSpec, RoomWebhook, WEBHOOK_SECRET_HEADER};
pub use join::{BookingSummary, BookingsPage, JoinTicket, Joining, PastLesson, PastPage, parse_booking_ref, read_opens_before};

use crate::domain::BookingId;
use crate::store::{Booking, BookingStatus, RoomStatus, Store, StoreError};

/// Room time beyond the lesson, so a late finish is not cut off.
const ROOM_MARGIN: SignedDuration = SignedDuration::from_mins(30);
/// 100ms's bounds for `max_duration_seconds`.
const MAX_ROOM_SECONDS: i64 = 43_200;
const MIN_ROOM_SECONDS: i64 = 120;

#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    #[error("no booking {0}")]
    NoBooking(String),
    #[error("booking {0} is cancelled")]
    Cancelled(String),
    #[error(transparent)]
    Hms(#[from] HmsError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RoomError {
    /// Worth a retry later (Stripe redelivery, the repair path).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Hms(err) => err.is_transient(),
            Self::Store(err) => err.is_transient(),
            Self::NoBooking(_) | Self::Cancelled(_) => false,
        }
    }
}

/// What the repair path did.
#[derive(Debug, Default)]
pub struct Repaired {
    pub ready: Vec<BookingId>,
    pub failed: Vec<(BookingId, String)>,
}

pub struct Rooms {
    pub store: Store,
    pub hms: Hms,
}

impl Rooms {
    pub fn new(store: Store, config: HmsConfig, clock: crate::clock::Clock) -> Result<Self, HmsError> {
        Ok(Self { store, hms: Hms::new(config, clock)? })
    }

    /// The booking with its room and codes, making them if needed. A room
    /// that cannot be made for a reason no retry fixes (a role missing from
    /// the template) marks the booking `room_status: failed`.
    pub async fn ensure(&self, id: &BookingId) -> Result<Booking, RoomError> {
        let booking = self.store.get_booking(id).await?.ok_or_else(|| RoomError::NoBooking(id.to_string()))?;
        // Cancelled, its outcome decided, or its attendance recorded for a
        // person to decide: the lesson is over and nobody joins any more.
        if booking.status != BookingStatus::Confirmed || booking.attendance.is_some() {
            self.disable(&booking).await?;
            return Err(RoomError::Cancelled(id.to_string()));
        }
        if booking.room_status == RoomStatus::Ready {
            self.store.room_settled(id).await?;
            return Ok(booking);
        }
        match self.make(&booking).await {
            Ok(ready) => Ok(ready),
            Err(err) => {
                // Only a configuration problem fails the room; a cancelled booking just has none.
                if matches!(&err, RoomError::Hms(hms) if !hms.is_transient()) {
                    self.store.set_room_failed(id).await?;
                }
                tracing::warn!(booking_id = %id, error = %err, "room not provisioned yet");
                Err(err)
            }
        }
    }

    async fn make(&self, booking: &Booking) -> Result<Booking, RoomError> {
        let room = self.hms.create_room(&room_spec(booking)).await?;
        let codes = self.hms.room_codes(&room.id).await?;
        if !self.store.set_booking_room(&booking.booking_id, &room.id, &codes.teacher, &codes.student).await? {
            // Cancelled while its room was being made: nobody may join it.
            self.hms.disable_room(&room.id).await?;
            self.store.room_settled(&booking.booking_id).await?;
            return Err(RoomError::Cancelled(booking.booking_id.to_string()));
        }
        tracing::info!(booking_id = %booking.booking_id, room_id = %room.id, "room ready");
        Ok(Booking {
            room_id: Some(room.id),
            teacher_room_code: Some(codes.teacher),
            student_room_code: Some(codes.student),
            room_status: RoomStatus::Ready,
            ..booking.clone()
        })
    }

    /// Ensures every room, all of them tried; the first failure is returned.
    pub async fn ensure_all(&self, ids: &[BookingId]) -> Result<(), RoomError> {
        let results = futures::future::join_all(ids.iter().map(|id| self.ensure(id))).await;
        results.into_iter().find_map(Result::err).map_or(Ok(()), Err)
    }

    /// Provisions every booking still waiting for its room (`admin repair-rooms`, reconcile).
    pub async fn repair(&self) -> Result<Repaired, StoreError> {
        let mut report = Repaired::default();
        for id in self.store.pending_rooms().await? {
            match self.ensure(&id).await {
                Ok(_) => report.ready.push(id),
                // Its room was disabled and it left the list.
                Err(RoomError::Cancelled(_)) => {}
                Err(RoomError::NoBooking(_)) => self.store.room_settled(&id).await?,
                Err(err) => report.failed.push((id, err.to_string())),
            }
        }
        Ok(report)
    }

    /// Nobody can join a cancelled lesson.
    pub async fn disable(&self, booking: &Booking) -> Result<(), RoomError> {
        if let Some(room) = &booking.room_id {
            self.hms.disable_room(room).await?;
            tracing::info!(booking_id = %booking.booking_id, room_id = %room, "room disabled");
        }
        self.store.room_settled(&booking.booking_id).await?;
        Ok(())
    }
}

/// The same body on every try for one booking: 100ms overwrites a room's
/// settings with whatever a create for its name says.
fn room_spec(booking: &Booking) -> RoomSpec {
    let seconds = (booking.end - booking.start + ROOM_MARGIN).as_secs().clamp(MIN_ROOM_SECONDS, MAX_ROOM_SECONDS);
    RoomSpec {
        name: booking.booking_id.to_string(),
        // Shown in 100ms's dashboard: the booking, never the student's identity.
        description: format!("{}-min lesson {} with {} at {}", booking.duration_minutes, booking.booking_id, booking.teacher_id, booking.start),
        max_duration_seconds: u32::try_from(seconds).unwrap_or(u32::MAX),
    }
}

impl From<RoomError> for crate::error::ApiError {
    fn from(err: RoomError) -> Self {
        match err {
            RoomError::NoBooking(id) => Self::BookingNotFound(id),
            RoomError::Cancelled(_) => Self::BookingCancelled,
            RoomError::Hms(err) => Self::VideoProvider(err.to_string()),
            RoomError::Store(err) => err.into(),
        }
    }
}
