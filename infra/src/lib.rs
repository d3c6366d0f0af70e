//! Operations tooling: the table definition, seeding, and the local stack.

pub mod local;
pub mod seed;
pub mod stripe_emulator;
pub mod table;
