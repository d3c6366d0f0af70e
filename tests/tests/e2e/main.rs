//! Every end-to-end test in one binary: each file under tests/ used to link its own
//! copy of the whole workspace (about 110 MB each in debug), which cost CI minutes of
//! linking and gigabytes of disk. Run one area with `cargo test -p tests --test e2e cart::`.

mod attendance;
mod auth;
mod calendar_feed;
mod cart;
mod changes;
mod checkout;
mod checkout_lifecycle;
mod contract_bodies;
mod doctor;
mod get_slots;
mod hms_sdk;
mod money_back;
mod notify;
mod packages;
mod payouts;
mod reconcile;
mod refunds;
mod rooms;
mod smoke;
mod store;
mod store_faults;
mod stripe_emulator;
mod stripe_python;
mod stripe_webhook_endpoint;
mod teacher_login;
mod teachers;
mod template;
mod webhook;
mod webhooks;
