//! GET /lambda-url/get-teachers/?cursor=&limit= : a page of the public
//! directory. GET ?teacher_id= : one teacher. No token.

use http::{HeaderValue, Method, StatusCode, header};
use lambda_http::Request;
use shared::clock::Clock;
use shared::directory::{self, DEFAULT_LIMIT, MAX_LIMIT};
use shared::domain::TeacherId;
use shared::error::ApiError;
use shared::http::{HttpResult, json, raw_param, require_method};
use shared::store::Store;

/// The directory changes slowly; a short cache absorbs bursts, and
/// `next_open_start` is at most this stale (checkout re-checks anyway).
const CACHE_CONTROL: &str = "public, max-age=30";

pub struct App {
    pub store: Store,
    pub clock: Clock,
}

pub async fn handle(app: &App, req: Request) -> HttpResult {
    require_method(&req, &Method::GET)?;
    let now = app.clock.now();
    // Present but blank is bad input here, never "absent".
    let mut response = match raw_param(&req, "teacher_id") {
        Some(raw) => {
            let id = TeacherId::parse(raw).map_err(|e| ApiError::invalid("teacher_id", e))?;
            json(StatusCode::OK, &directory::one(&app.store, &id, now).await?)?
        }
        None => json(StatusCode::OK, &directory::page(&app.store, raw_param(&req, "cursor"), parse_limit(&req)?, now).await?)?,
    };
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL));
    Ok(response)
}

fn parse_limit(req: &Request) -> Result<usize, ApiError> {
    match raw_param(req, "limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(raw) => raw.parse::<usize>().ok().filter(|l| (1..=MAX_LIMIT).contains(l)).ok_or_else(|| ApiError::invalid("limit", format!("must be a whole number from 1 to {MAX_LIMIT}"))),
    }
}
