//! Forgot password, the second half: the link mailed by `password_reset`. `GET /password/reset`
//! shows the new-password form (the token travels on as a hidden field: a mail scanner fetching
//! the link uses nothing up); `POST` checks the password policy, then uses the link up
//! (`take_password_reset`: single use, before expiry, only the newest), sets the password, ends
//! every session of the user — their refresh tokens with them — through `lifecycle` (back-channel
//! logouts go out), signs the user in on this browser and continues the authorization request the
//! reset started from, when this browser still holds it.

use std::net::IpAddr;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latch_core::Secret;
use latch_core::audit::ActorType;
use latch_core::authn::Amr;
use latch_core::params::Params;
use latch_core::store::{SessionSelector, StoreError};

use crate::http::client_ip::ClientIp;
use crate::jobs::audit::Event;
use crate::oauth::flow::{self, SignedIn};
use crate::pages::{self, Theme};
use crate::signin::login::{Signer, open_session};
use crate::signin::session;
use crate::state::AppState;

const USED: &str = "This link has expired, was already used, or a newer one was sent. Ask for a \
    new link from the sign-in page (\"Forgot password?\").";

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage<'a> {
    theme: &'a Theme,
    title: &'a str,
    action: &'a str,
    token: &'a str,
    error: Option<&'a str>,
}

fn form(state: &AppState, status: StatusCode, token: &str, error: Option<&str>) -> Response {
    let action = format!("{}/password/reset", state.settings.issuer);
    let page = ResetPage {
        theme: &state.theme,
        title: "Choose a new password",
        action: &action,
        token,
        error,
    };
    state.theme.render(status, &page)
}

/// Shows the form only for a link that still works (looked at, not used up: a mail scanner
/// fetching the link uses nothing); an expired, used or superseded one gets a page saying so.
pub async fn get(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let Some(token) = params.get("token").ok().flatten().and_then(Secret::parse) else {
        return refused(&state);
    };
    let now = state.clock.now();
    match state.store.get_password_reset(&token.hash(), now).await {
        Ok(Some(_)) => form(&state, StatusCode::OK, token.expose_secret(), None),
        Ok(None) => refused(&state),
        Err(e) => pages::internal_error(&state.theme, &e),
    }
}

/// The page of a link that no longer works: no form.
fn refused(state: &AppState) -> Response {
    pages::error_titled(
        &state.theme,
        StatusCode::BAD_REQUEST,
        "This link no longer works",
        USED,
    )
}

pub async fn post(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(params) = crate::oauth::form_params(&headers, &body) else {
        return pages::unreadable_form(&state.theme);
    };
    let field = |name: &str| params.get(name).ok().flatten().unwrap_or("");
    let Some(token) = Secret::parse(field("token")) else {
        return refused(&state);
    };
    let password = field("password");
    if let Err(e) = latch_core::user::validate_password(password) {
        let message = format!("The password {}.", e.reason);
        return form(
            &state,
            StatusCode::OK,
            token.expose_secret(),
            Some(&message),
        );
    }
    match complete(&state, &headers, ip, &token, password).await {
        Ok(response) => response,
        Err(e) => pages::internal_error(&state.theme, &e),
    }
}

async fn complete(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    token: &Secret,
    password: &str,
) -> Result<Response, StoreError> {
    let now = state.clock.now();
    let theme = &state.theme;
    let Some(reset) = state.store.take_password_reset(&token.hash(), now).await? else {
        return Ok(refused(state));
    };
    let Some(user) = state.store.get_user(&reset.user_id).await? else {
        return Ok(refused(state));
    };
    let hash = state
        .passwords
        .hash(password.to_owned())
        .await
        .map_err(|e| StoreError::other(e.to_string(), e))?;
    state.store.update_user(&user, Some(&hash)).await?;
    state.store.delete_password_resets(&user.id).await?;
    // OWASP ASVS V3.3.3: a new password ends every session (and refresh token) of the user.
    let all = SessionSelector::AllOfUser { user_id: &user.id };
    let ended = crate::lifecycle::end_sessions(state, all, now).await?;
    let actor = |e: Event| {
        e.actor(ActorType::User, Some(&user.id))
            .user(Some(&user.id))
            .ip(ip)
    };
    state.audit.record_sessions(
        actor(Event::new("session.ended")).because("password_reset"),
        &ended,
        now,
    );
    state
        .audit
        .record(actor(Event::new("password_reset.completed")), now);

    // Signed in on this browser; the parked request continues if this browser still holds it.
    let parked = match (&reset.login_request, session::login_binding(state, headers)) {
        (Some(id), Some(binding)) => flow::parked(state, id, &binding).await?,
        _ => None,
    };
    let app = match &parked {
        Some(p) => p.application(state).await?,
        None => None,
    };
    let signer = Signer {
        user_id: &user.id,
        client_id: app.as_ref().map(|a| a.client_id.as_str()),
        amr: Amr::PASSWORD,
    };
    let (cookie, session) = open_session(state, headers, ip, signer).await?;
    let mut response = match (parked, app) {
        (Some(parked), Some(app)) if parked.take(state).await? => {
            let signed_in = SignedIn {
                session,
                cookie: cookie.hash(),
                known: Default::default(),
            };
            flow::resume(state, parked, &app, &signed_in).await?
        }
        _ => pages::message(
            theme,
            "Password changed",
            "Your new password is set and you are signed in. Go back to the application to continue.",
        ),
    };
    flow::signed_in_cookies(
        state,
        headers,
        &mut response,
        &cookie,
        &user.id,
        session::LOGIN,
    );
    Ok(response)
}
