//! GET /lambda-url/get-slots/?teacher_id=&from=&to=&duration=&tz=
//!
//! Parses the query into domain types, asks `shared::slots`, answers JSON.

use http::{HeaderValue, Method, header};
use jiff::civil::Date;
use lambda_http::Request;
use shared::clock::Clock;
use shared::domain::{LessonChoice, TeacherId};
use shared::error::ApiError;
use shared::http::{HttpResult, json, query_param, require_method, required_param};
use shared::slots::{self, NamedZone, SlotsQuery};
use shared::store::Store;

/// Slots change as holds come and go; a short cache only absorbs bursts.
const CACHE_CONTROL: &str = "public, max-age=15";

pub struct App {
    pub store: Store,
    pub clock: Clock,
}

pub async fn handle(app: &App, req: Request) -> HttpResult {
    require_method(&req, &Method::GET)?;
    let query = parse_query(&req)?;
    let page = slots::open_slots(&app.store, query, app.clock.now()).await?;
    let mut response = json(http::StatusCode::OK, &page)?;
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL));
    Ok(response)
}

fn parse_query(req: &Request) -> Result<SlotsQuery, ApiError> {
    let teacher_id = TeacherId::parse(required_param(req, "teacher_id")?).map_err(|e| ApiError::invalid("teacher_id", e))?;
    let from = parse_date(req, "from")?;
    let to = parse_date(req, "to")?;
    let lesson = LessonChoice::parse(required_param(req, "duration")?).map_err(|e| ApiError::invalid("duration", e))?;
    let zone = query_param(req, "tz").map(NamedZone::parse).transpose().map_err(|e| ApiError::invalid("tz", e))?;
    Ok(SlotsQuery { teacher_id, from, to, lesson, zone })
}

fn parse_date(req: &Request, name: &str) -> Result<Date, ApiError> {
    let raw = required_param(req, name)?;
    let strict = raw.len() == 10 && raw.as_bytes().get(4) == Some(&b'-');
    raw.parse::<Date>().ok().filter(|_| strict).ok_or_else(|| ApiError::invalid(name, format!("{raw:?} is not a date of the form YYYY-MM-DD")))
}
