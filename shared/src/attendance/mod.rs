//! Attendance and the outcome of a lesson: what 100ms saw (its webhooks,
//! stored as they come, and its sessions API, read when deciding) becomes
//! each party's presence, and the scheduled reconcile decides once whether
//! the lesson was `completed`, a `student_no_show` or a `teacher_no_show`
//! (refunded in full through a refund obligation).

mod no_show;
mod overrule;
mod rules;
mod sweep;
mod webhook;

pub use overrule::{OverruleError, overrule};
pub use rules::{Lesson, Outcome, Party, decide, observe};
pub use sweep::{AttendanceConfig, Decided, decide_due};
pub use webhook::{HmsWebhook, HmsWebhookSecrets, Received};
