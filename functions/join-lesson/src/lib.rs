//! GET [?cursor=]: the caller's upcoming lessons, as teacher or student;
//! with `past=true`, the lessons that are over, newest first, with their
//! outcome and presence.
//! POST {"booking_id"}: the caller's code, 100ms app token and join URL for
//! one of their lessons, within the join window.

use http::{Method, StatusCode};
use lambda_http::Request;
use shared::auth::Authenticator;
use shared::http::{HttpResult, json, query_param, raw_param, require_methods};
use shared::rooms::Joining;

pub struct App {
    pub auth: Authenticator,
    pub joining: Joining,
}

pub async fn handle(app: &App, req: Request) -> HttpResult {
    require_methods(&req, &[Method::GET, Method::POST])?;
    let who = app.auth.authenticate(req.headers()).await?;
    if req.method() == Method::GET {
        // Present but blank is bad input, never "absent".
        return match raw_param(&req, "past") {
            None | Some("false") => json(StatusCode::OK, &app.joining.list(&who, query_param(&req, "cursor")).await?),
            Some("true") => json(StatusCode::OK, &app.joining.past(&who, query_param(&req, "cursor")).await?),
            Some(_) => Err(shared::error::ApiError::invalid("past", "must be true or false")),
        };
    }
    json(StatusCode::OK, &app.joining.join(&who, req.body().as_ref()).await?)
}
