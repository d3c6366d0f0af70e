//! The reference web app (infra/web) at http://localhost:3000/, the origin
//! the functions allow: its built files, and `/config.json` with the
//! function URLs and the demo accounts' tokens a sign-in screen offers.
//! A real frontend gets its tokens from its identity provider instead.

use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use shared::auth::{self, Claims, Role};
use shared::store::Store;
use tower_http::services::{ServeDir, ServeFile};

/// The demo students the sign-in screen offers, besides every seeded teacher and an operator.
const STUDENTS: [(&str, &str); 2] = [("s_demo", "Sam"), ("s_lee", "Lee")];

/// The app's configuration: where the functions answer, and who may sign in.
pub async fn config(store: &Store, teachers: &[String], jwt_secret: &str, functions_base: &str) -> Result<Value, String> {
    let now = Timestamp::now();
    let mint = |sub: &str, role: Role, email: Option<String>, name: Option<&str>| {
        let mut claims = Claims::new(sub, role, now, SignedDuration::from_hours(24 * 7));
        claims.email = email;
        claims.name = name.map(str::to_owned);
        auth::mint_hs256(jwt_secret, &claims).map_err(|e| e.to_string())
    };
    let mut users = Vec::new();
    for (sub, name) in STUDENTS {
        users.push(json!({"name": name, "sub": sub, "role": "student", "token": mint(sub, Role::Student, Some(format!("{sub}@example.com")), Some(name))?}));
    }
    for id in teachers {
        let teacher = shared::domain::TeacherId::parse(id).map_err(|e| e.to_string())?;
        let Some(profile) = store.get_profile(&teacher).await.map_err(|e| e.to_string())? else { continue };
        let login = profile.user_id().to_string();
        users.push(json!({"name": profile.name(), "sub": login, "role": "teacher", "token": mint(&login, Role::Teacher, None, Some(profile.name()))?}));
    }
    users.push(json!({"name": "Operator", "sub": "admin", "role": "admin", "token": mint("admin", Role::Admin, None, Some("Operator"))?}));
    Ok(json!({"functions_base": functions_base, "demo_users": users}))
}

/// Serves `web_dir`'s `public/` and built `dist/` on 127.0.0.1:`port`; any
/// other path is the app's own route, answered with its index page.
pub async fn serve(port: u16, web_dir: &Path, config: Value) -> Result<tokio::task::JoinHandle<()>, String> {
    let public = web_dir.join("public");
    if !web_dir.join("dist/app/main.js").is_file() {
        return Err(format!("{} is not built: make dev builds it (npm ci && npm run build there)", web_dir.display()));
    }
    let app = axum::Router::new()
        .route("/config.json", axum::routing::get(move || async move { axum::Json(config.clone()) }))
        .nest_service("/dist", ServeDir::new(web_dir.join("dist")))
        .fallback_service(ServeDir::new(&public).fallback(ServeFile::new(public.join("index.html"))));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| format!("web app port {port}: {e}"))?;
    Ok(tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            eprintln!("the web app server stopped: {err}");
        }
    }))
}
