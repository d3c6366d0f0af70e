//! Local stand-ins for the providers, for `make dev` and the tests: a
//! stateful Stripe (Checkout Sessions, refunds, signed webhooks) and 100ms
//! (rooms, room codes, management tokens) and SES v2 (raw mails). Kept apart
//! from `infra`, so the operator's admin CLI never builds them.

pub mod stripe;
pub mod hms;
pub mod ses;
