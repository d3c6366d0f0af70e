//! The one error type every function answers with, and its mapping to HTTP.
//!
//! Variants say what went wrong in domain terms; `status` and `code` are the
//! only place where they become HTTP. 5xx messages are generic on purpose: the
//! detail goes to the log, never to the client.

use http::StatusCode;

use crate::domain::{LessonChoice, TeacherId};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{field}: {message}")]
    InvalidRequest { field: String, message: String },
    #[error("teacher {0} does not offer {lesson}", lesson = lesson_name(*.1))]
    DurationNotOffered(TeacherId, LessonChoice),
    #[error("no teacher with id {0}")]
    TeacherNotFound(TeacherId),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("the Stripe signature is not valid: {0}")]
    BadSignature(String),
    #[error("no checkout {0} for this user")]
    CheckoutNotFound(String),
    #[error("no booking {0} for this user")]
    BookingNotFound(String),
    #[error("no such calendar feed (its owner may have made a new one)")]
    FeedNotFound,
    #[error("this lesson was cancelled")]
    BookingCancelled,
    /// Not allowed now under the booking's policy: `code` is the refusal's.
    #[error("{message}")]
    ChangeRefused { code: &'static str, message: &'static str },
    #[error("the room opens at {0}")]
    TooEarly(jiff::Timestamp),
    #[error("this lesson is over")]
    LessonOver,
    #[error("the video room is not ready yet; please retry")]
    RoomNotReady,
    #[error("this needs an admin token")]
    Forbidden,
    #[error("no teacher profile belongs to this login")]
    NoProfile,
    #[error("the {what} changed since it was read (it is at version {current} now); read it again")]
    VersionMismatch { what: &'static str, current: u64 },
    #[error("a profile is replaced only with If-Match: <the version it was read at>")]
    PreconditionRequired,
    #[error("teacher {0} exists already")]
    TeacherExists(TeacherId),
    #[error("teacher {0} cannot be booked until an operator corrects their prices")]
    TeacherUnavailable(TeacherId),
    #[error("checkout {0} is not paid")]
    CheckoutNotPaid(String),
    #[error("lesson {lesson_index} is no longer available")]
    SlotUnavailable { lesson_index: usize },
    #[error("{field}: {message}")]
    CartItemUnavailable { index: usize, field: String, reason: &'static str, message: String },
    #[error("{0}")]
    CartUnavailable(&'static str),
    #[error("not enough credits for these lessons: {}", missing_text(.0))]
    InsufficientCredits(Vec<MissingCredits>),
    #[error("no credit grant {0} for this user")]
    GrantNotFound(String),
    #[error("{0}")]
    CreditsNotRefundable(&'static str),
    #[error("the trial lesson with teacher {0} has already been used")]
    TrialAlreadyUsed(TeacherId),
    #[error("at most {0} unpaid checkouts may be open at once; pay for or cancel one first")]
    TooManyOpenCheckouts(usize),
    #[error("this checkout is {0}; only an unpaid checkout can be abandoned")]
    CheckoutNotOpen(&'static str),
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// Stripe failed before a session existed: the holds were released.
    #[error("the payment provider is unavailable, nothing was charged; please retry")]
    PaymentNotTaken(String),
    /// Stripe failed about a payment that may exist: say nothing about money.
    #[error("the payment provider is unavailable; please retry")]
    PaymentProvider(String),
    #[error("the video provider is unavailable; please retry")]
    VideoProvider(String),
    #[error("too many concurrent changes to this calendar, please retry")]
    Contention,
    #[error("method {method} is not allowed here (allowed: {allow})")]
    MethodNotAllowed { method: String, allow: String },
    #[error("the service is temporarily unavailable, please retry")]
    Unavailable(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self::InvalidRequest { field: field.into(), message: message.to_string() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest { .. } | Self::DurationNotOffered(..) | Self::BadSignature(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::TeacherNotFound(_) | Self::CheckoutNotFound(_) | Self::BookingNotFound(_) | Self::FeedNotFound => StatusCode::NOT_FOUND,
            Self::BookingCancelled | Self::ChangeRefused { .. } | Self::TooEarly(_) | Self::LessonOver | Self::CheckoutNotPaid(_) => StatusCode::CONFLICT,
            Self::RoomNotReady => StatusCode::SERVICE_UNAVAILABLE,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NoProfile => StatusCode::NOT_FOUND,
            Self::VersionMismatch { .. } => StatusCode::PRECONDITION_FAILED,
            Self::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            Self::TeacherExists(_) | Self::TeacherUnavailable(_) => StatusCode::CONFLICT,
            Self::SlotUnavailable { .. } | Self::TrialAlreadyUsed(_) | Self::CheckoutNotOpen(_) => StatusCode::CONFLICT,
            Self::InsufficientCredits(_) | Self::CreditsNotRefundable(_) => StatusCode::CONFLICT,
            Self::GrantNotFound(_) => StatusCode::NOT_FOUND,
            Self::TooManyOpenCheckouts(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::IdempotencyKeyReused | Self::CartItemUnavailable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::CartUnavailable(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::PaymentNotTaken(_) | Self::PaymentProvider(_) | Self::VideoProvider(_) => StatusCode::BAD_GATEWAY,
            Self::Contention => StatusCode::SERVICE_UNAVAILABLE,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest { .. } => "invalid_request",
            Self::DurationNotOffered(..) => "duration_not_offered",
            Self::TeacherNotFound(_) => "teacher_not_found",
            Self::Unauthorized(_) => "unauthorized",
            Self::BadSignature(_) => "invalid_signature",
            Self::CheckoutNotFound(_) => "checkout_not_found",
            Self::BookingNotFound(_) => "booking_not_found",
            Self::FeedNotFound => "feed_not_found",
            Self::BookingCancelled => "booking_cancelled",
            Self::ChangeRefused { code, .. } => code,
            Self::TooEarly(_) => "too_early",
            Self::LessonOver => "lesson_over",
            Self::RoomNotReady => "room_not_ready",
            Self::Forbidden => "forbidden",
            Self::NoProfile => "teacher_not_found",
            Self::VersionMismatch { .. } => "version_mismatch",
            Self::PreconditionRequired => "precondition_required",
            Self::TeacherExists(_) => "teacher_exists",
            Self::TeacherUnavailable(_) => "teacher_unavailable",
            Self::CheckoutNotPaid(_) => "checkout_not_paid",
            Self::SlotUnavailable { .. } => "slot_unavailable",
            Self::TrialAlreadyUsed(_) => "trial_already_used",
            Self::InsufficientCredits(_) => "insufficient_credits",
            Self::GrantNotFound(_) => "grant_not_found",
            Self::CreditsNotRefundable(_) => "credits_not_refundable",
            Self::TooManyOpenCheckouts(_) => "too_many_open_checkouts",
            Self::CheckoutNotOpen(_) => "checkout_not_open",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::CartItemUnavailable { .. } => "cart_item_unavailable",
            Self::CartUnavailable(_) => "cart_unavailable",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::PaymentNotTaken(_) | Self::PaymentProvider(_) => "payment_provider_error",
            Self::VideoProvider(_) => "video_provider_error",
            Self::Contention => "service_unavailable",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Unavailable(_) => "service_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The cart position a `slot_unavailable` refers to.
    pub fn lesson_index(&self) -> Option<usize> {
        match self {
            Self::SlotUnavailable { lesson_index } | Self::CartItemUnavailable { index: lesson_index, .. } => Some(*lesson_index),
            _ => None,
        }
    }

    /// Why a cart item cannot be bought (`cart_item_unavailable`).
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Self::CartItemUnavailable { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// What an `insufficient_credits` lacks.
    pub fn missing_credits(&self) -> Option<&[MissingCredits]> {
        match self {
            Self::InsufficientCredits(missing) => Some(missing),
            _ => None,
        }
    }

    /// The `field` of an `invalid_request`, so clients can point at the input.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidRequest { field, .. } | Self::CartItemUnavailable { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Credits a checkout with credits lacks: of one teacher and duration,
/// `needed` for its lessons, `available` usable for them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MissingCredits {
    pub teacher_id: TeacherId,
    pub duration_minutes: u32,
    pub needed: u32,
    pub available: u32,
}

fn missing_text(missing: &[MissingCredits]) -> String {
    missing.iter().map(|m| format!("{} of {} min with {} ({} usable)", m.needed, m.duration_minutes, m.teacher_id, m.available)).collect::<Vec<_>>().join(", ")
}

fn lesson_name(choice: LessonChoice) -> String {
    match choice {
        LessonChoice::Minutes(m) => format!("{m}-minute lessons"),
        LessonChoice::Trial => "trial lessons".to_owned(),
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        // A refused grant is the deployment's fault, logged and counted where it was classified.
        if err.is_transient() || err.is_denied() { Self::Unavailable(err) } else { Self::Internal(Box::new(err)) }
    }
}
