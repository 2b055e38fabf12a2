//! The admin console at `/admin` (issue 19): server-rendered pages for the people who run Latch —
//! applications and their secrets, redirects and back-channel deliveries, users and their
//! sessions, organizations, roles, APIs, signing keys and the audit log. Off with
//! `LATCH_ADMIN_CONSOLE=off`.
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
//! - Organizations with their members and invitations, roles and API resources are managed the
//!   same way (`organizations`, `members`, `roles`, `apis`), with the API's messages.
//! - Pages are askama templates (`templates/console/`) on the hosted pages' stylesheet, under
//!   their CSP, which allows one script, `script` (copy buttons): every form works without it.

mod apis;
mod applications;
mod audit;
mod cookies;
mod guard;
mod keys;
mod members;
mod organizations;
mod roles;
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
        .route("/users/{id}/password-reset", post(users::send_reset))
        .route(
            "/users/{id}/factors/{factor_id}/reset",
            post(users::reset_factor),
        )
        .route("/users/{id}/admin", post(users::set_admin))
        .route("/users/{id}/delete", post(users::delete))
        .merge(organization_routes())
        .route("/roles", get(roles::list).post(roles::create))
        .route("/roles/{id}", get(roles::show).post(roles::update))
        .route("/roles/{id}/delete", post(roles::delete))
        .route("/apis", get(apis::list).post(apis::create))
        .route("/apis/{id}", get(apis::show).post(apis::update))
        .route("/apis/{id}/delete", post(apis::delete))
        .route("/keys", get(keys::list))
        .route("/keys/rotate", post(keys::rotate))
        .route("/audit", get(audit::list))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::forms,
        ))
}

/// Organizations, their members and invitations.
fn organization_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/organizations",
            get(organizations::list).post(organizations::create),
        )
        .route("/organizations/{id}", get(organizations::show))
        .route(
            "/organizations/{id}/settings",
            post(organizations::update_settings),
        )
        .route("/organizations/{id}/delete", post(organizations::delete))
        .route("/organizations/{id}/members", post(members::add))
        .route(
            "/organizations/{id}/members/{user_id}",
            post(members::update_roles),
        )
        .route(
            "/organizations/{id}/members/{user_id}/remove",
            post(members::remove),
        )
        .route("/organizations/{id}/invitations", post(members::invite))
        .route(
            "/organizations/{id}/invitations/{invitation_id}/revoke",
            post(members::revoke_invitation),
        )
}

/// A `management.change` made in the console: the administrator (their user id) as the actor,
/// the action named (the API's records name the route instead).
fn change(admin: &guard::Admin, action: &'static str) -> crate::jobs::audit::Event {
    crate::jobs::audit::Event::new("management.change")
        .actor(latch_core::audit::ActorType::Admin, Some(&admin.user.id))
        .detail("via", "console")
        .detail("action", action)
}

/// A delete form: the deletion happens only with the thing's name (or e-mail) typed in `confirm`.
#[derive(Debug, serde::Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

/// A refused management operation shown by `page`, given the status and the management layer's
/// own message (what the API says in `error_description`); a store failure is logged and
/// answered with the failure page instead.
async fn refused<Fut>(
    state: &AppState,
    e: &crate::manage::ManageError,
    page: impl FnOnce(axum::http::StatusCode, String) -> Fut,
) -> axum::response::Response
where
    Fut: std::future::Future<Output = axum::response::Response>,
{
    use crate::manage::ManageError;
    use axum::http::StatusCode;
    let status = match e {
        ManageError::NotFound(_) => StatusCode::NOT_FOUND,
        ManageError::Conflict { .. } => StatusCode::CONFLICT,
        ManageError::InvalidField(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ManageError::Forbidden { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        ManageError::Store(latch_core::store::StoreError::Conflict(_)) => StatusCode::CONFLICT,
        ManageError::Store(_) => return guard::failure(state, e),
    };
    page(status, e.to_string()).await
}

/// A list typed one per line or separated by spaces (permissions, which hold no space).
fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

/// A list typed one per line or separated by commas (role names, which may hold spaces).
fn names(s: &str) -> Vec<String> {
    s.split([',', '\n'])
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

/// An access-token lifetime as typed: empty is null (the default); not a number is left a string
/// so that the management layer's own type error names the field.
fn ttl_value(typed: &str) -> serde_json::Value {
    use serde_json::Value;
    match typed.trim() {
        "" => Value::Null,
        t => t
            .parse::<i64>()
            .map_or_else(|_| Value::String(t.to_owned()), Value::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_read_as_typed() {
        assert_eq!(
            words(" read:a\nwrite:b  x:y "),
            ["read:a", "write:b", "x:y"]
        );
        assert_eq!(
            names("Billing admin, viewer\n,\nowner"),
            ["Billing admin", "viewer", "owner"]
        );
        assert!(names(" , ").is_empty());
        assert_eq!(ttl_value(""), serde_json::Value::Null);
        assert_eq!(ttl_value(" 600 "), serde_json::json!(600));
        assert_eq!(ttl_value("soon"), serde_json::json!("soon"));
    }
}
