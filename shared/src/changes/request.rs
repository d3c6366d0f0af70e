//! The POST body of change-booking, parsed once into domain types; every
//! error names its field.

use jiff::Timestamp;
use serde_json::Value;

use crate::domain::BookingId;
use crate::error::ApiError;
use crate::http::only_fields;

const MAX_BODY_BYTES: usize = 4 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `refund_amount` is an admin's choice (0 to what is left of the lesson).
    Cancel { refund_amount: Option<u64> },
    Reschedule { start: Timestamp },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRequest {
    pub booking_id: BookingId,
    pub action: Action,
}

pub fn parse_change(body: &[u8]) -> Result<ChangeRequest, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::invalid("body", format!("is not valid JSON ({e})")))?;
    let Value::Object(object) = &value else { return Err(ApiError::invalid("body", "must be a JSON object")) };
    let text = |name: &str| object.get(name).and_then(Value::as_str).ok_or_else(|| ApiError::invalid(name, "is required and must be a string"));
    let booking_id = BookingId::parse(text("booking_id")?).map_err(|e| ApiError::invalid("booking_id", e))?;
    let action = match text("action")? {
        "cancel" => {
            only_fields(object, "", &["booking_id", "action", "refund_amount"])?;
            let refund_amount = match object.get("refund_amount") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_u64().ok_or_else(|| ApiError::invalid("refund_amount", "must be a whole number of the currency's minor units, 0 or more"))?),
            };
            Action::Cancel { refund_amount }
        }
        "reschedule" => {
            only_fields(object, "", &["booking_id", "action", "start"])?;
            let raw = text("start")?;
            let start = crate::domain::time::parse_lesson_start(raw).map_err(|message| ApiError::invalid("start", message))?;
            Action::Reschedule { start }
        }
        other => return Err(ApiError::invalid("action", format!("{other:?} is not an action (cancel, reschedule)"))),
    };
    Ok(ChangeRequest { booking_id, action })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(body: &str) -> String {
        parse_change(body.as_bytes()).unwrap_err().field().unwrap_or("none").to_owned()
    }

    #[test]
    fn each_action_takes_its_own_fields_and_names_the_bad_one() {
        let cancel = parse_change(br#"{"booking_id":"bk_1","action":"cancel"}"#).unwrap();
        assert_eq!(cancel.action, Action::Cancel { refund_amount: None });
        let admin = parse_change(br#"{"booking_id":"bk_1","action":"cancel","refund_amount":0}"#).unwrap();
        assert_eq!(admin.action, Action::Cancel { refund_amount: Some(0) });
        let moved = parse_change(br#"{"booking_id":"bk_1","action":"reschedule","start":"2026-12-01T08:30:00+01:00"}"#).unwrap();
        assert_eq!(moved.action, Action::Reschedule { start: "2026-12-01T07:30:00Z".parse().unwrap() });
        assert_eq!(field(r#"{"action":"cancel"}"#), "booking_id");
        assert_eq!(field(r#"{"booking_id":"bk_1"}"#), "action");
        assert_eq!(field(r#"{"booking_id":"bk_1","action":"refund"}"#), "action");
        assert_eq!(field(r#"{"booking_id":"bk_1","action":"cancel","start":"2026-12-01T08:00:00Z"}"#), "start");
        assert_eq!(field(r#"{"booking_id":"bk_1","action":"cancel","refund_amount":-1}"#), "refund_amount");
        assert_eq!(field(r#"{"booking_id":"bk_1","action":"cancel","refund_amount":"5"}"#), "refund_amount");
        assert_eq!(field(r#"{"booking_id":"bk_1","action":"reschedule"}"#), "start");
        assert_eq!(field(r#"{"booking_id":"bk_1","action":"reschedule","start":"tomorrow"}"#), "start");
        assert_eq!(field(r#"{"booking_id":"bk_1","action":"reschedule","start":"2026-12-01T08:00:00.5Z"}"#), "start");
        assert_eq!(field(r#"{"booking_id":"bk_1","action":"reschedule","start":"2026-12-01T08:00:00Z","refund_amount":1}"#), "refund_amount");
        assert_eq!(field("[]"), "body");
    }

    #[test]
    fn a_body_over_four_kilobytes_is_refused_whatever_it_holds() {
        let padded = |len: usize| format!(r#"{{"booking_id":"bk_1","action":"cancel"{}}}"#, " ".repeat(len - 39));
        assert_eq!(padded(4096).len(), 4096);
        assert!(parse_change(padded(4096).as_bytes()).is_ok());
        assert!(matches!(parse_change(padded(4097).as_bytes()), Err(ApiError::PayloadTooLarge(4096))));
    }
}
