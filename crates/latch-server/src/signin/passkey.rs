//! Passkeys in the sign-in flow (issue 18; the ceremonies are `factors::passkeys`'):
//!
//! - `POST /login/passkey`: the login page's passwordless sign-in ("Sign in with a passkey", or a
//!   passkey picked from the e-mail field's autofill). The parked request must be this browser's
//!   (login-binding cookie, like the password form), the ceremony the one its page started. A
//!   verified passkey opens the session with `amr` `hwk`/`swk` + `user` — two factors, so the
//!   flow asks for no second one — and the request goes on.
//! - `POST /login/second-factor/passkey`: the second-factor step's passkey (after a password): the
//!   session steps up like with a code (`second_factor::resume_stepped_up`), then the request goes on.
//!
//! A failure shows its page again with a new ceremony; nothing else changes.

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latch_core::params::Params;
use latch_core::store::StoreError;

use crate::factors::Who;
use crate::factors::passkeys::{self as keys, Asserted};
use crate::http::client_ip::ClientIp;
use crate::pages::{self, PasskeyPrompt};
use crate::signin::{login, second_factor};
use crate::state::AppState;

const NOT_ACCEPTED: &str = "That passkey was not accepted. Try again, or sign in another way.";
const CLONED: &str = "That passkey cannot be used: its counter went backwards, as a copied \
                      authenticator's would. Sign in another way.";
const TRY_AGAIN: &str = "The passkey request expired. Try again.";

/// The routes (`router.rs` merges them).
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::post;
    axum::Router::new()
        .route("/login/passkey", post(sign_in))
        .route("/login/second-factor/passkey", post(second_factor))
}

fn script(state: &AppState) -> String {
    format!(
        "{}{}",
        state.settings.issuer,
        pages::passkey_script::ROUTE.as_str()
    )
}

/// The login page's passkey prompt for the parked request `login_request`; `None` where passkeys
/// do not work.
pub(crate) async fn sign_in_prompt(
    state: &AppState,
    login_request: &str,
) -> Result<Option<PasskeyPrompt>, StoreError> {
    let started = keys::start_sign_in(state, login_request).await?;
    Ok(started.map(|s| PasskeyPrompt {
        script: script(state),
        action: format!("{}/login/passkey", state.settings.issuer),
        ceremony: s.ceremony,
        options: s.options,
    }))
}

/// The second-factor page's passkey prompt; `None` when the user has no passkey.
pub(crate) async fn second_factor_prompt(
    state: &AppState,
    user_id: &str,
    login_request: &str,
) -> Result<Option<PasskeyPrompt>, StoreError> {
    let started = keys::start_second_factor(state, user_id, login_request).await?;
    Ok(started.map(|s| PasskeyPrompt {
        script: script(state),
        action: format!("{}/login/second-factor/passkey", state.settings.issuer),
        ceremony: s.ceremony,
        options: s.options,
    }))
}

/// What a passkey form posted.
struct Posted {
    params: Params,
}

impl Posted {
    fn field(&self, name: &str) -> &str {
        self.params.get(name).ok().flatten().unwrap_or("")
    }
}

fn read(headers: &HeaderMap, body: &Bytes) -> Option<Posted> {
    crate::oauth::form_params(headers, body).map(|params| Posted { params })
}

/// `POST /login/passkey`
async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(form) = read(&headers, &body) else {
        return pages::unreadable_form(&state.theme);
    };
    let result = passwordless(&state, &headers, ip, &form).await;
    pages::or_internal_error(&state.theme, result)
}

async fn passwordless(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    form: &Posted,
) -> Result<Response, StoreError> {
    let id = form.field("login_request");
    let Some(parked) = login::pending(state, headers, id).await? else {
        return Ok(expired(state));
    };
    let asserted = keys::finish_sign_in(
        state,
        ip,
        id,
        form.field("ceremony"),
        form.field("credential"),
    )
    .await?;
    let error = match asserted {
        Asserted::Yes { user_id, amr } => {
            let Some(app) = parked.application(state).await? else {
                return Ok(login::gone(state));
            };
            return login::signed_in_with(state, headers, ip, parked, &app, &user_id, amr).await;
        }
        Asserted::Locked(wait) => return Ok(login::locked_page(state, wait)),
        Asserted::Expired => TRY_AGAIN,
        Asserted::Invalid => NOT_ACCEPTED,
        Asserted::Cloned => CLONED,
    };
    login::form_again(state, &parked, id, error).await
}

/// `POST /login/second-factor/passkey`
async fn second_factor(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(form) = read(&headers, &body) else {
        return pages::unreadable_form(&state.theme);
    };
    let result = after_password(&state, &headers, ip, &form).await;
    pages::or_internal_error(&state.theme, result)
}

async fn after_password(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    form: &Posted,
) -> Result<Response, StoreError> {
    let id = form.field("login_request");
    let Some((signed_in, parked)) = second_factor::pending(state, headers, id).await? else {
        return Ok(expired(state));
    };
    let session = &signed_in.session;
    let who = Who {
        user_id: &session.user_id,
        ip,
    };
    let asserted = keys::finish_second_factor(
        state,
        &who,
        id,
        form.field("ceremony"),
        form.field("credential"),
    )
    .await?;
    let amr = match asserted {
        Asserted::Yes { amr, .. } => amr,
        Asserted::Locked(wait) => return Ok(login::locked_page(state, wait)),
        Asserted::Expired => {
            return second_factor::code_form(state, &who, &parked, id, Some(TRY_AGAIN)).await;
        }
        Asserted::Invalid => {
            return second_factor::code_form(state, &who, &parked, id, Some(NOT_ACCEPTED)).await;
        }
        Asserted::Cloned => {
            return second_factor::code_form(state, &who, &parked, id, Some(CLONED)).await;
        }
    };
    second_factor::resume_stepped_up(state, parked, session, amr, ip).await
}

fn expired(state: &AppState) -> Response {
    pages::error(&state.theme, StatusCode::BAD_REQUEST, login::EXPIRED)
}
