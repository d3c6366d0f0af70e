//! Everything behind the lesson-marketplace functions: domain types, the
//! booking rules, the store and the HTTP edge they share. Each function crate
//! is a thin adapter over this library.

pub mod auth;
pub mod calendar_feed;
pub mod attendance;
pub mod availability;
pub mod cart;
pub mod changes;
pub mod checkout;
pub mod clock;
pub mod config;
pub mod credits;
pub mod directory;
pub mod domain;
pub mod error;
pub mod fulfilment;
pub mod http;
pub mod metrics;
pub mod net;
pub mod notify;
pub mod outbound;
pub mod payments;
pub mod payouts;
pub mod reconcile;
pub mod refunds;
pub mod rooms;
pub mod slots;
pub mod store;
pub mod teacher_profile;
pub mod telemetry;
pub mod webhook;
