//! The admin console at `/admin` (issue 19): server-rendered pages for the people who run Latch —
//! applications and their secrets and redirects, users and their sessions, signing keys and the
//! audit log. Off with `LATCH_ADMIN_CONSOLE=off`.
//!
//! - Sign-in is Latch's own: the console is an application of the environment (`setup`, created
//!   at start-up) that signs in through the hosted login with the code flow and PKCE, exchanging
//!   the code at the token endpoint like any relying party (`signin`). Only users with the
//!   `admin` flag get in.
//! - The console session is a sealed cookie scoped to the console's path (`cookies`), valid only
//!   while the Latch session it came from lives; every form carries a CSRF token, checked with
//!   the request's origin before any handler runs (`guard`). Secret creation, key rotation and
//!   admin grants ask for a recent sign-in (`max_age`).
//! - Every action goes through the management layer (`crate::manage`, `crate::lifecycle`) and
//!   is audited with the administrator (their user id) as the actor. No management-API token
//!   exists here: the browser holds only the sealed cookie.
//! - Pages are askama templates (`templates/console/`) on the hosted pages' stylesheet, under
//!   their CSP, which allows one script, `script` (copy buttons): every form works without it.

mod applications;
mod audit;
mod cookies;
mod guard;
mod keys;
mod script;
mod setup;
mod signin;
mod users;
mod views;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

pub use setup::{CLIENT_ID, ensure_application, ensure_internal_application};

/// The console at `/admin`, or nothing with `LATCH_ADMIN_CONSOLE=off` (`router.rs` merges it).
pub fn mounted(state: &AppState) -> Router<AppState> {
    if state.settings.admin_console {
        Router::new()
            .nest("/admin", routes(state))
            .route(script::ROUTE.as_str(), get(script::get))
    } else {
        Router::new()
    }
}

fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(applications::home))
        .route("/login", get(signin::start))
        .route("/callback", get(signin::callback))
        .route("/logout", post(signin::logout))
        .route(
            "/applications",
            get(applications::list).post(applications::create),
        )
        .route("/applications/{id}", get(applications::show))
        .route(
            "/applications/{id}/settings",
            post(applications::update_settings),
        )
        .route(
            "/applications/{id}/redirects",
            post(applications::update_redirects),
        )
        .route(
            "/applications/{id}/secrets",
            post(applications::create_secret),
        )
        .route(
            "/applications/{id}/secrets/{secret_id}/revoke",
            post(applications::revoke_secret),
        )
        .route("/applications/{id}/delete", post(applications::delete))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{id}", get(users::show))
        .route("/users/{id}/sessions/end", post(users::end_all_sessions))
        .route("/users/{id}/sessions/{sid}/end", post(users::end_session))
        .route("/users/{id}/unlock", post(users::unlock))
        .route("/users/{id}/admin", post(users::set_admin))
        .route("/users/{id}/delete", post(users::delete))
        .route("/keys", get(keys::list))
        .route("/keys/rotate", post(keys::rotate))
        .route("/audit", get(audit::list))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::forms,
        ))
}

/// A `management.change` made in the console: the administrator (their user id) as the actor,
/// the action named (the API's records name the route instead).
fn change(admin: &guard::Admin, action: &'static str) -> crate::jobs::audit::Event {
    crate::jobs::audit::Event::new("management.change")
        .actor(latch_core::audit::ActorType::Admin, Some(&admin.user.id))
        .detail("via", "console")
        .detail("action", action)
}

/// A refused operation as a status and the management layer's own message (what the API says
/// in `error_description`); a store failure is logged and answered with a failure page.
/// A delete form: the deletion happens only with the thing's name (or e-mail) typed in `confirm`.
#[derive(Debug, serde::Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

fn manage_failure(
    state: &AppState,
    e: &crate::manage::ManageError,
) -> Result<(axum::http::StatusCode, String), Box<axum::response::Response>> {
    use crate::manage::ManageError;
    use axum::http::StatusCode;
    let status = match e {
        ManageError::NotFound(_) => StatusCode::NOT_FOUND,
        ManageError::Conflict { .. } => StatusCode::CONFLICT,
        ManageError::InvalidField(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ManageError::Forbidden { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        ManageError::Store(latch_core::store::StoreError::Conflict(_)) => StatusCode::CONFLICT,
        ManageError::Store(_) => return Err(Box::new(guard::failure(state, e))),
    };
    Ok((status, e.to_string()))
}
