//! The PUT body of the cart: `{"items": [...]}`, the whole list, each item
//! a picked lesson as a checkout takes it.

use serde_json::Value;

use crate::checkout::parse_picks;
use crate::domain::LessonPick;
use crate::error::ApiError;
use crate::http::only_fields;

/// Ten items of a few hundred bytes each, with room for layout.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The items, possibly none (an empty cart).
pub fn parse_items(body: &[u8]) -> Result<Vec<LessonPick>, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::invalid("body", format!("is not valid JSON ({e})")))?;
    let Value::Object(object) = &value else {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    };
    only_fields(object, "", &["items"])?;
    match object.get("items") {
        Some(Value::Array(items)) if items.is_empty() => Ok(Vec::new()),
        Some(Value::Array(items)) => distinct(parse_picks("items", items)?),
        Some(_) => Err(ApiError::invalid("items", "must be an array")),
        None => Err(ApiError::invalid("items", "is required (an empty array clears the cart)")),
    }
}

/// One item per teacher and start: the cart keeps each under that key.
fn distinct(picks: Vec<LessonPick>) -> Result<Vec<LessonPick>, ApiError> {
    for (i, pick) in picks.iter().enumerate() {
        if let Some(j) = picks[..i].iter().position(|p| p.teacher_id == pick.teacher_id && p.start == pick.start) {
            return Err(ApiError::invalid(format!("items[{i}].start"), format!("repeats items[{j}]: one lesson per teacher and start")));
        }
    }
    Ok(picks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(body: &str) -> String {
        parse_items(body.as_bytes()).unwrap_err().field().unwrap_or("").to_owned()
    }

    #[test]
    fn parses_items_and_an_empty_list() {
        assert!(parse_items(br#"{"items":[]}"#).unwrap().is_empty());
        let items = parse_items(br#"{"items":[{"teacher_id":"t_anna","start":"2026-12-01T08:00:00Z","duration_minutes":30,"trial":true}]}"#).unwrap();
        assert!(items[0].trial);
    }

    #[test]
    fn names_the_bad_field() {
        assert_eq!(field_of("{}"), "items");
        assert_eq!(field_of(r#"{"items":{}}"#), "items");
        assert_eq!(field_of(r#"{"items":[],"lessons":[]}"#), "lessons");
        let twice = r#"{"teacher_id":"t_anna","start":"2026-12-01T08:00:00Z","duration_minutes":60}"#;
        let shorter = r#"{"teacher_id":"t_anna","start":"2026-12-01T08:00:00Z","duration_minutes":30}"#;
        assert_eq!(field_of(&format!(r#"{{"items":[{twice},{twice}]}}"#)), "items[1].start");
        assert_eq!(field_of(&format!(r#"{{"items":[{twice},{shorter}]}}"#)), "items[1].start", "the same start with another length is the same cart line");
        assert_eq!(field_of(r#"{"items":[{"teacher_id":"t_anna","start":"soon","duration_minutes":60}]}"#), "items[0].start");
        let eleven = format!(r#"{{"items":[{}]}}"#, [r#"{"teacher_id":"t_anna","start":"2026-12-01T08:00:00Z","duration_minutes":60}"#; 11].join(","));
        assert_eq!(field_of(&eleven), "items");
        assert_eq!(parse_items(&vec![b' '; MAX_BODY_BYTES + 1]).unwrap_err().code(), "payload_too_large");
    }

    #[test]
    fn takes_a_body_of_exactly_the_limit_and_one_slot_of_several_teachers() {
        // Ten items pretty-printed by a frontend run to a few KiB.
        let item = format!("\n    {{\n{:200}\"teacher_id\": \"t_anna\",\n      \"start\": \"2026-12-01T08:00:00Z\",\n      \"duration_minutes\": 60\n    }}", "");
        let pretty = format!("{{\n  \"items\": [{}\n  ]\n}}", vec![item; 10].join(","));
        assert!(pretty.len() > 2048, "{}", pretty.len());
        assert!(parse_items(pretty.as_bytes()).unwrap_err().field().is_some_and(|f| f == "items[1].start"), "parsed (and refused for the repeat), not too large");
        let mut body = br#"{"items":[]}"#.to_vec();
        body.resize(MAX_BODY_BYTES, b' ');
        assert!(parse_items(&body).unwrap().is_empty());
        let two = r#"{"items":[{"teacher_id":"t_anna","start":"2026-12-01T08:00:00Z","duration_minutes":60},{"teacher_id":"t_ben","start":"2026-12-01T08:00:00Z","duration_minutes":60},{"teacher_id":"t_anna","start":"2026-12-01T10:00:00Z","duration_minutes":60}]}"#;
        assert_eq!(parse_items(two.as_bytes()).unwrap().len(), 3);
    }
}
