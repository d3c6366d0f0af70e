//! GET /<secret>.ics: the owner's lessons as an iCalendar feed (the secret
//! is the credential; a wrong or rotated one is 404).
//! POST /: with the caller's token, makes their feed or replaces it, and
//! answers its URL.

use http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use shared::auth::Authenticator;
use shared::calendar_feed::{Feeds, secret_of};
use shared::clock::Clock;
use shared::error::ApiError;
use shared::http::{HttpResult, json, require_methods};

pub struct App {
    pub auth: Authenticator,
    pub feeds: Feeds,
    /// Where this function answers, when not its Function URL's host (the local stack, a custom domain).
    pub base_url: Option<String>,
    pub clock: Clock,
}

/// Calendar apps poll; a few minutes of caching keeps that cheap while a
/// change still shows the same hour.
const CACHE: &str = "private, max-age=300";

pub async fn handle(app: &App, req: Request) -> HttpResult {
    // Two resources: the function's root (POST: make the feed) and a feed under it (GET).
    let at_root = req.uri().path().rsplit('/').next().is_none_or(str::is_empty);
    require_methods(&req, if at_root { &[Method::POST] } else { &[Method::GET] })?;
    let now = app.clock.now();
    if at_root {
        let who = app.auth.authenticate(req.headers()).await?;
        let base = match &app.base_url {
            Some(base) => base.clone(),
            None => format!("https://{}/", req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).ok_or_else(|| ApiError::invalid("Host", "is required"))?),
        };
        return json(StatusCode::CREATED, &app.feeds.rotate(&who, &base, now).await?);
    }
    let secret = secret_of(req.uri().path()).ok_or(ApiError::FeedNotFound)?;
    let ics = app.feeds.render(secret, now).await?;
    let mut response = Response::new(Body::Text(ics));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/calendar; charset=utf-8"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE));
    Ok(response)
}
