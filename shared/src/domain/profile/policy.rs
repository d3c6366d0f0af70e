//! A teacher's cancellation and reschedule policy: how long before a lesson
//! a student may cancel for a full refund or move it, what a late cancel
//! refunds, and how often a lesson may move. Every field has a default, so
//! a profile without `cancellation` gets the marketplace's usual terms.

use serde::{Deserialize, Serialize};

use super::Rules;
use super::validate::{ProfileError, check_range};

/// The policy as a profile file writes it; every field may be left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancellationDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_cancel_hours: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_cancel_refund_percent: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reschedule_hours: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_reschedules: Option<u32>,
}

/// The policy in force, every field resolved and in range. Stored as it is
/// on a booking when it is paid for, so a later change of the teacher's
/// policy never changes what a student already bought.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CancellationPolicy {
    /// Until this many hours before the start, a student's cancel refunds in full.
    pub free_cancel_hours: u32,
    /// What a later cancel (before the start) refunds, in percent.
    pub late_cancel_refund_percent: u32,
    /// Until this many hours before the start, a student may move the lesson.
    pub reschedule_hours: u32,
    /// How many times one booking may be moved.
    pub max_reschedules: u32,
}

pub const MAX_NOTICE_HOURS: u32 = 168;
pub const MAX_RESCHEDULES: u32 = 10;

impl Default for CancellationPolicy {
    fn default() -> Self {
        Self { free_cancel_hours: 24, late_cancel_refund_percent: 0, reschedule_hours: 24, max_reschedules: 2 }
    }
}

impl CancellationPolicy {
    pub(super) fn parse(doc: Option<&CancellationDoc>, rules: Rules) -> Result<Self, ProfileError> {
        let default = Self::default();
        let Some(doc) = doc else { return Ok(default) };
        let field = |name: &str, given: Option<u32>, fallback: u32, max: u32| check_range(&format!("cancellation.{name}"), given.unwrap_or(fallback), 0, max, rules);
        Ok(Self {
            free_cancel_hours: field("free_cancel_hours", doc.free_cancel_hours, default.free_cancel_hours, MAX_NOTICE_HOURS)?,
            late_cancel_refund_percent: field("late_cancel_refund_percent", doc.late_cancel_refund_percent, default.late_cancel_refund_percent, 100)?,
            reschedule_hours: field("reschedule_hours", doc.reschedule_hours, default.reschedule_hours, MAX_NOTICE_HOURS)?,
            max_reschedules: field("max_reschedules", doc.max_reschedules, default.max_reschedules, MAX_RESCHEDULES)?,
        })
    }

    /// The document that says this policy: nothing for the defaults.
    pub(super) fn to_doc(self) -> Option<CancellationDoc> {
        (self != Self::default()).then_some(CancellationDoc {
            free_cancel_hours: Some(self.free_cancel_hours),
            late_cancel_refund_percent: Some(self.late_cancel_refund_percent),
            reschedule_hours: Some(self.reschedule_hours),
            max_reschedules: Some(self.max_reschedules),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(doc: serde_json::Value) -> Result<CancellationPolicy, ProfileError> {
        CancellationPolicy::parse(Some(&serde_json::from_value(doc).unwrap()), Rules::Strict)
    }

    #[test]
    fn every_field_defaults_on_its_own() {
        assert_eq!(CancellationPolicy::parse(None, Rules::Strict).unwrap(), CancellationPolicy { free_cancel_hours: 24, late_cancel_refund_percent: 0, reschedule_hours: 24, max_reschedules: 2 });
        let policy = parsed(serde_json::json!({"late_cancel_refund_percent": 50})).unwrap();
        assert_eq!(policy, CancellationPolicy { late_cancel_refund_percent: 50, ..CancellationPolicy::default() });
        assert_eq!(CancellationPolicy::parse(policy.to_doc().as_ref(), Rules::Strict).unwrap(), policy);
    }

    #[test]
    fn each_field_is_checked_against_its_own_bounds_by_name() {
        for (field, highest) in [("free_cancel_hours", 168), ("late_cancel_refund_percent", 100), ("reschedule_hours", 168), ("max_reschedules", 10)] {
            assert!(parsed(serde_json::json!({ field: highest })).is_ok(), "{field} = {highest}");
            assert!(parsed(serde_json::json!({ field: 0 })).is_ok(), "{field} = 0");
            let err = parsed(serde_json::json!({ field: highest + 1 })).unwrap_err();
            assert_eq!((err.field(), err.problem()), (format!("cancellation.{field}").as_str(), format!("must be between 0 and {highest}").as_str()));
        }
    }
}
