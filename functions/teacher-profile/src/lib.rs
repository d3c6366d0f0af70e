//! GET [?teacher_id= (admins)]: the caller's profile as `make seed` takes
//! it, plus `version`, with that version as `ETag`.
//! PUT [?teacher_id= (admins)] with `If-Match: <version>` (or, an admin
//! creating one, `If-None-Match: *`): the whole profile, replaced.

use http::{Method, StatusCode, header};
use lambda_http::Request;
use shared::auth::Authenticator;
use shared::clock::Clock;
use shared::http::{HttpResult, json_versioned, query_param, require_methods};
use shared::teacher_profile::{Precondition, ProfileEditing, VersionedProfile};

pub struct App {
    pub auth: Authenticator,
    pub editing: ProfileEditing,
    pub clock: Clock,
}

pub async fn handle(app: &App, req: Request) -> HttpResult {
    require_methods(&req, &[Method::GET, Method::PUT])?;
    let who = app.auth.authenticate(req.headers()).await?;
    let teacher_id = query_param(&req, "teacher_id");
    if req.method() == Method::GET {
        return respond(StatusCode::OK, &app.editing.read(&who, teacher_id).await?);
    }
    let header = |name: header::HeaderName| req.headers().get(name).and_then(|v| v.to_str().ok());
    let precondition = Precondition::parse(header(header::IF_MATCH), header(header::IF_NONE_MATCH))?;
    let (written, created) = app.editing.write(&who, teacher_id, precondition, req.body().as_ref(), app.clock.now()).await?;
    respond(if created { StatusCode::CREATED } else { StatusCode::OK }, &written)
}

fn respond(status: StatusCode, profile: &VersionedProfile) -> HttpResult {
    json_versioned(status, profile, profile.version)
}
