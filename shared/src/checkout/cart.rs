//! The POST body of a checkout, parsed once into domain types. Every error
//! names its field, with the lesson index, as the frontend shows it.

use serde_json::{Map, Value};

pub use crate::domain::profile::MAX_LESSONS;
use crate::domain::profile::MAX_LESSON_MINUTES;
use crate::domain::time::parse_lesson_start;
use crate::domain::{LessonPick, TeacherId};
use crate::error::ApiError;
use crate::http::only_fields;

pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartRequest {
    /// Empty with `from_cart` until the saved cart's lessons are read.
    pub lessons: Vec<LessonPick>,
    pub from_cart: bool,
    /// With `from_cart`: the cart's version the student is looking at; a cart
    /// changed since (another tab) is not bought unseen.
    pub cart_version: Option<u64>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    /// The student's IANA zone (the web app sends the browser's): their
    /// notices give times in it.
    pub timezone: Option<String>,
    /// A lesson package to buy instead of lessons.
    pub package: Option<PackageRequest>,
    /// `pay_with: "credits"`: each lesson takes one of the student's credits.
    pub pay_with_credits: bool,
    /// Canonical JSON of the request, so an `Idempotency-Key` replay can be
    /// compared regardless of whitespace or key order.
    pub fingerprint: String,
}

/// `{"package": {"teacher_id", "lessons", "duration_minutes"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRequest {
    pub teacher_id: TeacherId,
    pub lessons: u32,
    pub duration_minutes: u32,
}

pub fn parse_cart(body: &[u8]) -> Result<CartRequest, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::invalid("body", format!("is not valid JSON ({e})")))?;
    let Value::Object(object) = &value else {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    };
    only_fields(object, "", &["lessons", "from_cart", "cart_version", "success_url", "cancel_url", "timezone", "package", "pay_with"])?;
    let package = object.get("package").map(parse_package).transpose()?;
    if package.is_some() && (object.contains_key("lessons") || object.contains_key("from_cart") || object.contains_key("pay_with")) {
        return Err(ApiError::invalid("package", "is bought on its own: leave out lessons, from_cart and pay_with"));
    }
    let pay_with_credits = match object.get("pay_with") {
        None => false,
        Some(Value::String(way)) if way == "credits" => true,
        Some(Value::String(way)) if way == "card" => false,
        Some(_) => return Err(ApiError::invalid("pay_with", "must be \"card\" or \"credits\", or left out")),
    };
    let from_cart = match object.get("from_cart") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::invalid("from_cart", "must be true or false, or left out")),
    };
    let cart_version = match (object.get("cart_version"), from_cart) {
        (None, _) => None,
        (Some(_), false) => return Err(ApiError::invalid("cart_version", "goes only with from_cart: true")),
        (Some(v), true) => Some(v.as_u64().ok_or_else(|| ApiError::invalid("cart_version", "must be the cart's version as read (a whole number)"))?),
    };
    let lessons = match (object.get("lessons"), from_cart) {
        (None, _) if package.is_some() => Vec::new(),
        (None, true) => Vec::new(),
        (Some(_), true) => return Err(ApiError::invalid("lessons", "must be left out with from_cart: the saved cart's lessons are checked out")),
        (Some(Value::Array(items)), false) => parse_picks("lessons", items)?,
        (Some(_), false) => return Err(ApiError::invalid("lessons", "must be an array")),
        (None, false) => return Err(ApiError::invalid("lessons", "is required (or from_cart: true)")),
    };
    Ok(CartRequest {
        lessons,
        from_cart,
        cart_version,
        success_url: optional_string(object, "success_url")?,
        cancel_url: optional_string(object, "cancel_url")?,
        timezone: optional_string(object, "timezone")?.map(|zone| parse_zone(&zone)).transpose()?,
        package,
        pay_with_credits,
        fingerprint: value.to_string(),
    })
}

/// The body's array `list` of 1 to [`MAX_LESSONS`] picked lessons.
pub(crate) fn parse_picks(list: &str, items: &[Value]) -> Result<Vec<LessonPick>, ApiError> {
    if items.is_empty() || items.len() > MAX_LESSONS {
        return Err(ApiError::invalid(list, format!("must hold 1 to {MAX_LESSONS} lessons, got {}", items.len())));
    }
    items.iter().enumerate().map(|(i, v)| parse_pick(list, i, v)).collect()
}

fn parse_pick(list: &str, index: usize, value: &Value) -> Result<LessonPick, ApiError> {
    let field = |name: &str| format!("{list}[{index}].{name}");
    let Value::Object(object) = value else {
        return Err(ApiError::invalid(format!("{list}[{index}]"), "must be an object"));
    };
    only_fields(object, &format!("{list}[{index}]."), &["teacher_id", "start", "duration_minutes", "trial"])?;
    let text = |name: &str| object.get(name).and_then(Value::as_str).ok_or_else(|| ApiError::invalid(field(name), "is required and must be a string"));
    let teacher_id = TeacherId::parse(text("teacher_id")?).map_err(|e| ApiError::invalid(field("teacher_id"), e))?;
    let raw_start = text("start")?;
    let start = parse_lesson_start(raw_start).map_err(|message| ApiError::invalid(field("start"), message))?;
    let duration_minutes = object
        .get("duration_minutes")
        .and_then(Value::as_u64)
        .and_then(|m| u32::try_from(m).ok())
        .filter(|m| (1..=MAX_LESSON_MINUTES).contains(m))
        .ok_or_else(|| ApiError::invalid(field("duration_minutes"), format!("is required and must be a whole number of minutes from 1 to {MAX_LESSON_MINUTES}")))?;
    let trial = match object.get("trial") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::invalid(field("trial"), "must be true or false, or left out")),
    };
    Ok(LessonPick { teacher_id, start, duration_minutes, trial })
}

fn parse_package(value: &Value) -> Result<PackageRequest, ApiError> {
    let Value::Object(object) = value else {
        return Err(ApiError::invalid("package", "must be an object"));
    };
    only_fields(object, "package.", &["teacher_id", "lessons", "duration_minutes"])?;
    let teacher = object.get("teacher_id").and_then(Value::as_str).ok_or_else(|| ApiError::invalid("package.teacher_id", "is required and must be a string"))?;
    let teacher_id = TeacherId::parse(teacher).map_err(|e| ApiError::invalid("package.teacher_id", e))?;
    let number = |name: &str, max: u32| {
        object.get(name).and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok()).filter(|n| (1..=max).contains(n)).ok_or_else(|| ApiError::invalid(format!("package.{name}"), format!("is required and must be a whole number from 1 to {max}")))
    };
    Ok(PackageRequest { teacher_id, lessons: number("lessons", crate::domain::profile::MAX_PACKAGE_LESSONS)?, duration_minutes: number("duration_minutes", MAX_LESSON_MINUTES)? })
}

fn optional_string(object: &Map<String, Value>, name: &str) -> Result<Option<String>, ApiError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid(name, "must be a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(body: &str) -> String {
        parse_cart(body.as_bytes()).unwrap_err().field().unwrap_or("").to_owned()
    }

    #[test]
    fn parses_a_cart() {
        let cart = parse_cart(br#"{"lessons":[{"teacher_id":"t_anna","start":"2026-12-01T08:00:00Z","duration_minutes":60}],"success_url":"http://localhost:3000/ok"}"#).unwrap();
        assert_eq!(cart.lessons[0].duration_minutes, 60);
        assert!(!cart.lessons[0].trial);
        assert_eq!(cart.success_url.as_deref(), Some("http://localhost:3000/ok"));
    }

    #[test]
    fn the_fingerprint_ignores_layout() {
        let a = parse_cart(br#"{"lessons":[{"teacher_id":"t_anna","start":"2026-12-01T08:00:00Z","duration_minutes":60}]}"#).unwrap();
        let b = parse_cart(br#"{ "lessons" : [ { "duration_minutes" : 60, "start":"2026-12-01T08:00:00Z", "teacher_id":"t_anna" } ] }"#).unwrap();
        assert_eq!(a.fingerprint, b.fingerprint);
    }

    #[test]
    fn names_the_bad_field() {
        assert_eq!(field_of("nope"), "body");
        assert_eq!(field_of("[]"), "body");
        assert_eq!(field_of("{}"), "lessons");
        assert_eq!(field_of(r#"{"lessons":[]}"#), "lessons");
        let eleven = format!(r#"{{"lessons":[{}]}}"#, [r#"{"teacher_id":"t_anna","start":"2026-12-01T08:00:00Z","duration_minutes":60}"#; 11].join(","));
        assert_eq!(field_of(&eleven), "lessons");
        assert_eq!(field_of(r#"{"lessons":[{"teacher_id":"t_anna","start":"2026-12-01T08:00:00Z","duration_minutes":60,"price":1}]}"#), "lessons[0].price");
        assert_eq!(field_of(r#"{"lessons":[{"teacher_id":"T!","start":"2026-12-01T08:00:00Z","duration_minutes":60}]}"#), "lessons[0].teacher_id");
        assert_eq!(field_of(r#"{"lessons":[{"teacher_id":"t_anna","start":"tomorrow","duration_minutes":60}]}"#), "lessons[0].start");
        assert_eq!(field_of(r#"{"lessons":[{"teacher_id":"t_anna","start":"2026-12-01T08:00:00.5Z","duration_minutes":60}]}"#), "lessons[0].start");
        assert_eq!(field_of(r#"{"lessons":[{"teacher_id":"t_anna","start":"2026-12-01T08:00:00Z","duration_minutes":-5}]}"#), "lessons[0].duration_minutes");
        assert_eq!(field_of(r#"{"lessons":[{"teacher_id":"t_anna","start":"2026-12-01T08:00:00Z","duration_minutes":60,"trial":"yes"}]}"#), "lessons[0].trial");
        assert_eq!(field_of(r#"{"from_cart":null,"lessons":[{"teacher_id":"t_anna","start":"2026-12-01T08:00:00Z","duration_minutes":60}]}"#), "from_cart");
        assert_eq!(field_of(r#"{"lessons":[{"teacher_id":"t_anna","start":"2026-12-01T08:00:00Z","duration_minutes":60}],"cart_version":3}"#), "cart_version");
        for bad in ["-1", "1.5", "\"3\"", "null"] {
            assert_eq!(field_of(&format!(r#"{{"from_cart":true,"cart_version":{bad}}}"#)), "cart_version", "{bad}");
        }
        assert_eq!(parse_cart(br#"{"from_cart":true,"cart_version":1796044770001}"#).unwrap().cart_version, Some(1_796_044_770_001));
        // The contract says boolean: null is not a way to leave it out.
        assert_eq!(field_of(r#"{"lessons":[{"teacher_id":"t_anna","start":"2026-12-01T08:00:00Z","duration_minutes":60,"trial":null}]}"#), "lessons[0].trial");
        assert_eq!(field_of(r#"{"lessons":[{"teacher_id":"t_anna","start":"2026-12-01T08:00:00Z","duration_minutes":60}],"success_url":5}"#), "success_url");
        assert_eq!(field_of(r#"{"lessons":[{"teacher_id":"t_anna","start":"2026-12-01T08:00:00Z","duration_minutes":60}],"extra":1}"#), "extra");
        assert_eq!(field_of(r#"{"lessons":[{"teacher_id":"t_anna","start":"2026-12-01T08:00:00Z","duration_minutes":60}],"pay_with":"cash"}"#), "pay_with");
        assert_eq!(field_of(r#"{"package":{"teacher_id":"t_anna","lessons":10,"duration_minutes":60},"from_cart":true}"#), "package");
        assert_eq!(field_of(r#"{"package":{"teacher_id":"t_anna","lessons":0,"duration_minutes":60}}"#), "package.lessons");
        assert_eq!(field_of(r#"{"package":{"teacher_id":"t_anna","lessons":10}}"#), "package.duration_minutes");
        assert_eq!(field_of(r#"{"package":{"teacher_id":"t_anna","lessons":10,"duration_minutes":60,"price":1}}"#), "package.price");
    }

    #[test]
    fn parses_a_package_and_a_credits_checkout() {
        let package = parse_cart(br#"{"package":{"teacher_id":"t_anna","lessons":10,"duration_minutes":60}}"#).unwrap();
        assert_eq!(package.package.unwrap().lessons, 10);
        assert!(package.lessons.is_empty());
        let credits = parse_cart(br#"{"from_cart":true,"pay_with":"credits"}"#).unwrap();
        assert!(credits.pay_with_credits && credits.from_cart);
    }

    #[test]
    fn rejects_an_oversized_body() {
        let body = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(parse_cart(&body).unwrap_err().code(), "payload_too_large");
    }
}

/// An IANA zone name as the tz database spells it.
fn parse_zone(zone: &str) -> Result<String, ApiError> {
    let tz = jiff::tz::TimeZone::get(zone).map_err(|_| ApiError::invalid("timezone", format!("{zone:?} is not an IANA time zone (like Europe/Berlin)")))?;
    Ok(tz.iana_name().unwrap_or(zone).to_owned())
}
