//! Who may see a console page, and which forms are believed.
//!
//! - [`Admin`] extracts the signed-in administrator from the console cookie: the cookie must
//!   open, be unexpired, come from a Latch session that still lives (ended sessions end console
//!   access at once), and name a user who still has the `admin` flag. Otherwise a page request
//!   is sent to sign in, and a form post is refused.
//! - [`forms`] runs before every handler: a request that changes anything must come from this
//!   origin (`Sec-Fetch-Site`, `Origin`) and carry the session's CSRF token in its form.

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use latch_core::UnixTime;
use latch_core::store::StoreError;
use latch_core::user::User;
use subtle::ConstantTimeEq;

use super::cookies::{self, ConsoleSession};
use super::setup::CLIENT_ID;
use super::views;
use crate::state::AppState;

/// Secret creation, key rotation and admin grants want a password typed this recently.
pub(super) const REAUTH_WINDOW: i64 = 300;

/// The administrator behind a console request.
pub(super) struct Admin {
    pub user: User,
    pub session: ConsoleSession,
}

impl Admin {
    /// Whether the administrator typed their password within [`REAUTH_WINDOW`].
    pub fn recently_authenticated(&self, now: UnixTime) -> bool {
        recent(self.session.auth_time, now)
    }
}

fn recent(auth_time: UnixTime, now: UnixTime) -> bool {
    now.saturating_sub(auth_time) <= REAUTH_WINDOW
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match authenticate(state, &parts.headers).await {
            Ok(Some(admin)) => Ok(admin),
            Ok(None) if parts.method == Method::GET => Err(sign_in_redirect(
                state,
                relative_target(state, parts),
                false,
            )),
            Ok(None) => Err(views::problem(
                state,
                StatusCode::UNAUTHORIZED,
                "Your console session has ended",
                "Sign in to the console again, then repeat what you were doing.",
            )),
            Err(e) => Err(failure(state, &e)),
        }
    }
}

/// The request's target relative to the console's root (`/applications/…?…`).
fn relative_target(state: &AppState, parts: &Parts) -> String {
    let root = url::Url::parse(&cookies::root(state))
        .map(|u| u.path().to_owned())
        .unwrap_or_default();
    let target = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    target.strip_prefix(root.as_str()).unwrap_or("").to_owned()
}

/// To `/admin/login`, which starts the code flow (with `max_age` when `reauth`).
pub(super) fn sign_in_redirect(state: &AppState, next: String, reauth: bool) -> Response {
    let mut url = match url::Url::parse(&format!("{}/login", cookies::root(state))) {
        Ok(u) => u,
        Err(_) => return Redirect::to("/").into_response(),
    };
    {
        let mut q = url.query_pairs_mut();
        if !next.is_empty() {
            q.append_pair("next", &next);
        }
        if reauth {
            q.append_pair("reauth", "1");
        }
    }
    let url = url.as_str().trim_end_matches('?').to_owned();
    Redirect::to(&url).into_response()
}

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Option<Admin>, StoreError> {
    let Some(session) = cookies::open::<ConsoleSession>(state, headers, cookies::SESSION) else {
        return Ok(None);
    };
    let now = state.clock.now();
    if session.expires_at <= now {
        return Ok(None);
    }
    // The Latch session must still live: signing out of Latch, or an administrator ending the
    // session, ends console access with it.
    let revoked = state.revocations.revokes(
        &crate::lifecycle::revocations::TokenIds {
            jti: "",
            sid: Some(&session.sid),
            client_id: CLIENT_ID,
        },
        now,
    );
    if revoked {
        return Ok(None);
    }
    let live = state
        .store
        .get_session(&session.sid)
        .await?
        .is_some_and(|s| {
            s.user_id == session.user_id
                && s.expires_at > now
                && now - s.last_active_at < state.settings.session_idle_timeout
        });
    if !live {
        return Ok(None);
    }
    let user = state.store.get_user(&session.user_id).await?;
    Ok(user.filter(|u| u.admin).map(|user| Admin { user, session }))
}

pub(super) fn failure(state: &AppState, e: &dyn std::error::Error) -> Response {
    crate::http::error::internal(e);
    views::problem(
        state,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Please try again.",
    )
}

/// Every console request that is not a GET must come from this origin and carry the session's
/// CSRF token (OWASP CSRF cheat sheet: synchronizer token, plus Fetch Metadata and `Origin`
/// checks). Refused before any handler runs, so no action can skip it.
pub(super) async fn forms(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    let refused = || {
        views::problem(
            &state,
            StatusCode::FORBIDDEN,
            "This form was refused",
            "It did not come from this console, or it has expired. Go back, reload the page and try again.",
        )
    };
    if !same_origin(&state, request.headers()) {
        return refused();
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, state.settings.body_limit).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let session = cookies::open::<ConsoleSession>(&state, &parts.headers, cookies::SESSION);
    let token = crate::oauth::form_params(&parts.headers, &bytes)
        .and_then(|p| p.get("csrf").ok().flatten().map(str::to_owned));
    match (session, token) {
        (Some(s), Some(t)) if bool::from(s.csrf.as_bytes().ct_eq(t.as_bytes())) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        _ => refused(),
    }
}

/// `Sec-Fetch-Site` (when the browser sends it) must be `same-origin`, and `Origin` (when
/// present) the issuer's.
fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let fetch_site = headers
        .get("sec-fetch-site")
        .map(|v| v.as_bytes() == b"same-origin")
        .unwrap_or(true);
    let origin = match headers.get(header::ORIGIN) {
        None => true,
        Some(o) => url::Url::parse(&state.settings.issuer)
            .is_ok_and(|u| u.origin().ascii_serialization().as_bytes() == o.as_bytes()),
    };
    fetch_site && origin
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_in_is_recent_for_five_minutes_only() {
        assert!(recent(1000, 1000));
        assert!(recent(1000, 1000 + REAUTH_WINDOW));
        assert!(!recent(1000, 1001 + REAUTH_WINDOW));
        // A clock that went backwards is not "older".
        assert!(recent(2000, 1000));
    }
}
