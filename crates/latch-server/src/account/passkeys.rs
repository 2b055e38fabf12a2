//! The account page's passkeys (issue 18): add one (a name, then the browser's ceremony on its
//! own page), rename, remove. Adding and removing change factors, so they need a recent sign-in
//! like the authenticator app (`REAUTH_WINDOW`); every form carries the session's CSRF token, and
//! a registration ceremony is bound to the session that started it (`factors::passkeys`).
//!
//! - `POST /account/passkeys`: starts a registration, shows the "Create the passkey" page;
//! - `POST /account/passkeys/finish`: the browser's answer; the first factor's recovery codes
//!   are shown once, and this browser's session counts the passkey's methods;
//! - `POST /account/passkeys/rename`, `POST /account/passkeys/remove`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use latch_core::authn::{Amr, Method};

use super::{Current, act, csrf_token, done, page, show_codes};
use crate::factors::passkeys::{self as keys, Registered};
use crate::http::client_ip::ClientIp;
use crate::pages::{self, PasskeyPrompt};
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/account/passkeys", post(start))
        .route("/account/passkeys/finish", post(finish))
        .route("/account/passkeys/rename", post(rename))
        .route("/account/passkeys/remove", post(remove))
}

/// The account page's passkeys; `None` where passkeys do not work.
pub(super) async fn lines(
    state: &AppState,
    user_id: &str,
) -> Result<Option<Vec<pages::PasskeyLine>>, latch_core::store::StoreError> {
    if state.webauthn.is_none() {
        return Ok(None);
    }
    let listed = state.store.list_passkeys(user_id).await?;
    Ok(Some(
        listed
            .into_iter()
            .map(|p| pages::PasskeyLine {
                created: super::date(p.created_at),
                last_used: p.last_used_at.map(super::date),
                synced: p.backup_eligible,
                name: p.name,
                id: p.id,
            })
            .collect(),
    ))
}

fn script(state: &AppState) -> String {
    format!(
        "{}{}",
        state.settings.issuer,
        pages::passkey_script::ROUTE.as_str()
    )
}

/// `POST /account/passkeys`: the registration page, its ceremony bound to this session.
async fn start(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let st = &state;
    act(st, &headers, &body, true, |c, form| async move {
        let name = keys::clean_name(form.field("name"));
        let name = if name.is_empty() {
            "Passkey".to_owned()
        } else {
            name
        };
        register_page(st, &c, &name, None).await
    })
    .await
}

async fn register_page(
    state: &AppState,
    c: &Current,
    name: &str,
    error: Option<&str>,
) -> Result<Response, latch_core::store::StoreError> {
    let sid = &c.session().sid;
    let Some(started) = keys::start_registration(state, &c.user.id, &c.user.email, sid).await?
    else {
        let e = "Passkeys are not available on this server.";
        return page(state, c, StatusCode::CONFLICT, None, Some(e)).await;
    };
    let csrf = csrf_token(state, sid);
    let fields = [("csrf", csrf.as_str()), ("name", name)];
    let back = format!("{}/account", state.settings.issuer);
    let prompt = PasskeyPrompt {
        script: script(state),
        action: format!("{}/account/passkeys/finish", state.settings.issuer),
        ceremony: started.ceremony,
        options: started.options,
    };
    Ok(pages::passkey_register(
        &state.theme,
        name,
        &back,
        &fields,
        &prompt,
        error,
    ))
}

/// `POST /account/passkeys/finish`
async fn finish(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let st = &state;
    act(st, &headers, &body, true, |c, form| async move {
        let who = c.who(ip);
        let sid = c.session().sid.clone();
        let registered = keys::finish_registration(
            st,
            &who,
            &sid,
            form.field("ceremony"),
            form.field("credential"),
            form.field("name"),
        )
        .await?;
        let passkey = match registered {
            Registered::Yes(p) => p,
            Registered::Expired => {
                let e = "That passkey request has expired or was used already. Start again.";
                return page(st, &c, StatusCode::BAD_REQUEST, None, Some(e)).await;
            }
            Registered::Invalid => {
                let e = "The passkey could not be checked. Try again.";
                return register_page(st, &c, form.field("name"), Some(e)).await;
            }
            Registered::Duplicate => {
                let e = "That passkey is registered already.";
                return page(st, &c, StatusCode::CONFLICT, None, Some(e)).await;
            }
        };
        // Registering proved the key and (user verification) the user: this session counts them.
        let key = if passkey.backup_eligible {
            Method::Swk
        } else {
            Method::Hwk
        };
        let mut added = Amr::default().with(key);
        if passkey.user_verified {
            added = added.with(Method::User);
        }
        let stepped =
            crate::signin::second_factor::step_up_with(st, c.session(), added, ip).await?;
        let first = st.store.count_recovery_codes(&c.user.id).await? == 0;
        let mut response = if first {
            let codes = crate::factors::regenerate_recovery_codes(st, &c.user.id).await?;
            show_codes(st, &codes)
        } else {
            done(st, "passkey")
        };
        if let Some((cookie, _)) = stepped {
            crate::signin::second_factor::set_session_cookie(st, &mut response, &cookie);
        }
        Ok(response)
    })
    .await
}

/// `POST /account/passkeys/rename` (no recent sign-in needed: a name changes no factor).
async fn rename(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let st = &state;
    act(st, &headers, &body, false, |c, form| async move {
        let name = keys::clean_name(form.field("name"));
        if name.is_empty() {
            let e = "A passkey needs a name.";
            return page(st, &c, StatusCode::OK, None, Some(e)).await;
        }
        let id = form.field("passkey_id");
        if !st.store.rename_passkey(&c.user.id, id, &name).await? {
            let e = "No such passkey.";
            return page(st, &c, StatusCode::NOT_FOUND, None, Some(e)).await;
        }
        Ok(done(st, "passkey_renamed"))
    })
    .await
}

/// `POST /account/passkeys/remove` (audited as `factor.removed` by the user; the user's other
/// sessions end).
async fn remove(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let st = &state;
    act(st, &headers, &body, true, |c, form| async move {
        // Like turning the authenticator app off: the user's other sessions end
        // (`lifecycle::factor_removed`).
        let by = crate::factors::RemovedBy::User {
            sid: &c.session().sid,
        };
        let id = form.field("passkey_id");
        let ours = st
            .store
            .list_passkeys(&c.user.id)
            .await?
            .iter()
            .any(|p| p.id == id);
        if !ours || !crate::factors::remove(st, &c.user.id, id, by, ip).await? {
            let e = "No such passkey.";
            return page(st, &c, StatusCode::NOT_FOUND, None, Some(e)).await;
        }
        Ok(done(st, "passkey_removed"))
    })
    .await
}
