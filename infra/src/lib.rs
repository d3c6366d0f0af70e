//! Operations tooling: the table definition and seeding, used by the admin
//! CLI (against AWS) and by the local stack.

pub mod attention;
pub mod credits;
pub mod deployed;
pub mod doctor;
pub mod env_file;
pub mod operator;
pub mod payouts;
pub mod seed;
pub mod stripe_webhook;
pub mod table;
pub mod webhooks;
