//! `/account` (issue 18): the signed-in user's own page — their e-mail, password change, the
//! authenticator app (enrol, remove), passkeys (`passkeys`: add, rename, remove), recovery codes
//! (regenerate), and their sessions with "sign out this session". Hosted like the login pages
//! (same templates, no script but the passkey pages' own, CSRF token bound to the session), signed
//! in through the one authorization flow: a browser without a session (or a user with a second
//! factor whose session lacks it) goes through `/oauth/authorize` as Latch's own `latch-account`
//! application, and lands back here.
//!
//! Changing factors needs a recent sign-in (`max_age`-style, `REAUTH_WINDOW`): otherwise the
//! browser signs in again first (`/account/login?reauth=1`, `max_age=0`: password, then the
//! second factor the user has).

mod passkeys;
mod setup;

use std::net::IpAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use latch_core::UnixTime;
use latch_core::audit::ActorType;
use latch_core::params::Params;
use latch_core::store::{FactorKind, SessionRecord, SessionSelector, StoreError};
use latch_core::user::User;
use subtle::ConstantTimeEq;

pub use setup::ensure_application;

use crate::factors::{self, Confirmed, Who};
use crate::http::client_ip::ClientIp;
use crate::jobs::audit::Event;
use crate::oauth::flow::{self, SignedIn};
use crate::pages::{self, Account, SessionLine, Target, TotpLine};
use crate::state::AppState;

/// How recent a sign-in must be to change a factor or the password (seconds).
pub const REAUTH_WINDOW: i64 = 300;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/account", get(show))
        .route("/account/login", get(setup::start))
        .route("/account/callback", get(setup::callback))
        .route("/account/password", post(password))
        .route("/account/totp", post(totp_start))
        .route("/account/totp/confirm", post(totp_confirm))
        .route("/account/totp/remove", post(totp_remove))
        .route("/account/recovery-codes", post(recovery_codes))
        .route("/account/sessions/end", post(end_session))
        .merge(passkeys::routes())
}

/// The signed-in user of this browser.
struct Current {
    signed_in: SignedIn,
    user: User,
}

impl Current {
    fn session(&self) -> &SessionRecord {
        &self.signed_in.session
    }

    fn recent(&self, now: UnixTime) -> bool {
        now - self.session().auth_time <= REAUTH_WINDOW
    }

    fn who(&self, ip: Option<IpAddr>) -> Who<'_> {
        Who {
            user_id: &self.user.id,
            ip,
        }
    }
}

/// The browser's user; `None` when it must sign in first (no session; or a user with a second
/// factor on a session without it).
async fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<Current>, StoreError> {
    let Some(signed_in) = flow::signed_in(state, headers).await? else {
        return Ok(None);
    };
    let session = &signed_in.session;
    if !session.amr.is_multi_factor() && factors::enrolled(state, &session.user_id).await? {
        return Ok(None);
    }
    let user = state.store.get_user(&session.user_id).await?;
    Ok(user.map(|user| Current { signed_in, user }))
}

/// Where a browser that must sign in goes.
fn sign_in(state: &AppState) -> Response {
    flow::found(&format!("{}/account/login", state.settings.issuer))
}

/// The CSRF token of the account forms: bound to the session (its `sid`) and this deployment.
fn csrf_token(state: &AppState, sid: &str) -> String {
    use base64::Engine;
    let key = state.keys.master().derive("latch account csrf v1");
    let tag = latch_jose::hmac_sha256(&key, sid.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag)
}

/// A posted account form: its fields, once the CSRF token matched the session's.
struct Posted {
    params: Params,
}

impl Posted {
    fn field(&self, name: &str) -> &str {
        self.params.get(name).ok().flatten().unwrap_or("")
    }
}

fn read_form(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
    current: &Current,
) -> Option<Posted> {
    let params = crate::oauth::form_params(headers, body)?;
    let sent = params.get("csrf").ok().flatten().unwrap_or("");
    let expected = csrf_token(state, &current.session().sid);
    bool::from(sent.as_bytes().ct_eq(expected.as_bytes())).then_some(Posted { params })
}

/// Runs an account action for the signed-in browser with a valid CSRF token; `fresh` actions
/// need a recent sign-in first.
async fn act<F, Fut>(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
    fresh: bool,
    action: F,
) -> Response
where
    F: FnOnce(Current, Posted) -> Fut,
    Fut: std::future::Future<Output = Result<Response, StoreError>>,
{
    let result = async {
        let Some(current) = current(state, headers).await? else {
            return Ok(sign_in(state));
        };
        let Some(posted) = read_form(state, headers, body, &current) else {
            return Ok(pages::error(
                &state.theme,
                StatusCode::FORBIDDEN,
                "This form has expired. Open your account page again.",
            ));
        };
        if fresh && !current.recent(state.clock.now()) {
            return Ok(flow::found(&format!(
                "{}/account/login?reauth=1",
                state.settings.issuer
            )));
        }
        action(current, posted).await
    }
    .await;
    answer(state, result)
}

/// `GET /account`
async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let params = Params::parse(q.unwrap_or_default().as_bytes());
    let notice = match params.get("done").ok().flatten() {
        Some("password") => Some("Your password is changed. Your other sessions are signed out."),
        Some("totp") => Some("The authenticator app is on."),
        Some("totp_removed") => {
            Some("The authenticator app is off. Your other sessions are signed out.")
        }
        Some("session") => Some("That session is signed out."),
        Some("passkey") => Some("The passkey is added."),
        Some("passkey_renamed") => Some("The passkey is renamed."),
        Some("passkey_removed") => Some("The passkey is removed."),
        _ => None,
    };
    let result = async {
        match current(&state, &headers).await? {
            Some(c) => page(&state, &c, StatusCode::OK, notice, None).await,
            None => Ok(sign_in(&state)),
        }
    }
    .await;
    answer(&state, result)
}

async fn page(
    state: &AppState,
    current: &Current,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Result<Response, StoreError> {
    let store = state.store.as_ref();
    let user_id = &current.user.id;
    let now = state.clock.now();
    let totp = store
        .list_factors(user_id)
        .await?
        .into_iter()
        .find(|f| f.kind == FactorKind::Totp && f.confirmed_at.is_some())
        .map(|f| TotpLine {
            since: date(f.confirmed_at.unwrap_or(f.created_at)),
            id: f.id,
        });
    let recovery_left = store.count_recovery_codes(user_id).await?;
    let sessions = store
        .list_user_sessions(user_id, now)
        .await?
        .into_iter()
        .map(|s| SessionLine {
            current: s.sid == current.session().sid,
            agent: s
                .user_agent
                .clone()
                .unwrap_or_else(|| "Unknown browser".into()),
            created: date(s.created_at),
            active: date(s.last_active_at),
            sid: s.sid,
        })
        .collect();
    let base = format!("{}/account", state.settings.issuer);
    let csrf = csrf_token(state, &current.session().sid);
    Ok(pages::account(
        &state.theme,
        status,
        &Account {
            base: &base,
            csrf: &csrf,
            email: &current.user.email,
            totp,
            recovery_left,
            sessions,
            notice,
            error,
            passkeys: passkeys::lines(state, user_id).await?,
        },
    ))
}

/// A time as the page shows it (RFC 3339, UTC).
fn date(t: UnixTime) -> String {
    crate::manage::rfc3339(t)
}

fn done(state: &AppState, what: &str) -> Response {
    flow::found(&format!("{}/account?done={what}", state.settings.issuer))
}

/// `POST /account/password`: the current password (checked under the abuse limits) and a new
/// one; every other session of the user ends (OWASP ASVS V3.3.3).
async fn password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let st = &state;
    let h = &headers;
    act(st, h, &body, false, |c, form| async move {
        let current_password = form.field("current_password");
        let new_password = form.field("new_password");
        let checked =
            crate::signin::login::check_credentials(st, h, &c.user.email, current_password, ip)
                .await?;
        match checked {
            crate::signin::login::Credentials::Valid(_) => {}
            crate::signin::login::Credentials::Wrong => {
                let e = "The current password is not right.";
                return page(st, &c, StatusCode::OK, None, Some(e)).await;
            }
            crate::signin::login::Credentials::Locked(wait) => {
                return Ok(crate::signin::login::locked_page(st, wait));
            }
        }
        if let Err(e) = latch_core::user::validate_password(new_password) {
            let text = format!("The new password {}.", e.reason);
            return page(st, &c, StatusCode::OK, None, Some(&text)).await;
        }
        let hash = st
            .passwords
            .hash(new_password.to_owned())
            .await
            .map_err(|e| StoreError::other(e.to_string(), e))?;
        st.store.update_user(&c.user, Some(&hash)).await?;
        st.store.delete_password_resets(&c.user.id).await?;
        let now = st.clock.now();
        let keep = Some(c.session().sid.as_str());
        let ended = crate::lifecycle::end_user_sessions(st, &c.user.id, keep, now).await?;
        let actor = |e: Event| {
            e.actor(ActorType::User, Some(&c.user.id))
                .user(Some(&c.user.id))
                .ip(ip)
        };
        st.audit.record_sessions(
            actor(Event::new("session.ended")).because("password_changed"),
            &ended,
            now,
        );
        st.audit.record(actor(Event::new("password.changed")), now);
        Ok(done(st, "password"))
    })
    .await
}

/// `POST /account/totp`: starts enrolment and shows the QR code and key.
async fn totp_start(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let st = &state;
    act(st, &headers, &body, true, |c, _| async move {
        let pending = factors::start_totp(st, &c.user.id).await?;
        let Some(pending) = pending else {
            let e = "The authenticator app is on already: turn it off first.";
            return page(st, &c, StatusCode::CONFLICT, None, Some(e)).await;
        };
        enrol(st, &c, &pending, None).await
    })
    .await
}

async fn enrol(
    state: &AppState,
    c: &Current,
    pending: &factors::Pending,
    error: Option<&str>,
) -> Result<Response, StoreError> {
    let action = format!("{}/account/totp/confirm", state.settings.issuer);
    let csrf = csrf_token(state, &c.session().sid);
    let fields = [("csrf", csrf.as_str())];
    let intro = "Each sign-in will ask for a code from the app after your password.";
    crate::signin::second_factor::enrol_page(
        state,
        &c.user.id,
        pending,
        intro,
        &Target {
            action: &action,
            fields: &fields,
        },
        error,
    )
    .await
}

/// `POST /account/totp/confirm`: the first code turns the app on; the first factor's recovery
/// codes are shown once. This browser's session now counts both factors.
async fn totp_confirm(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let st = &state;
    let h = &headers;
    act(st, h, &body, true, |c, form| async move {
        let who = c.who(ip);
        match factors::confirm_totp(st, &who, form.field("code")).await? {
            Confirmed::Yes(codes) => {
                let stepped = crate::signin::second_factor::step_up(
                    st,
                    c.session(),
                    latch_core::authn::Method::Otp,
                    ip,
                )
                .await?;
                let mut response = match codes {
                    Some(codes) => show_codes(st, &codes),
                    None => done(st, "totp"),
                };
                if let Some((cookie, _)) = stepped {
                    crate::signin::second_factor::set_session_cookie(st, &mut response, &cookie);
                }
                Ok(response)
            }
            Confirmed::Wrong => match factors::pending_totp(st, &c.user.id).await? {
                Some(p) => {
                    enrol(
                        st,
                        &c,
                        &p,
                        Some("That code is not right. Try the next one."),
                    )
                    .await
                }
                None => page(st, &c, StatusCode::OK, None, Some("Start again.")).await,
            },
            Confirmed::Locked(wait) => Ok(crate::signin::login::locked_page(st, wait)),
            Confirmed::NothingPending => {
                page(st, &c, StatusCode::OK, None, Some("Start again.")).await
            }
        }
    })
    .await
}

fn show_codes(state: &AppState, codes: &[latch_core::totp::RecoveryCode]) -> Response {
    let shown: Vec<&str> = codes.iter().map(|c| c.expose_secret()).collect();
    let action = format!("{}/account", state.settings.issuer);
    pages::recovery_codes(
        &state.theme,
        &shown,
        &Target {
            action: &action,
            fields: &[],
        },
        true,
    )
}

/// `POST /account/totp/remove`: the app is off, and the user's other sessions end (a session
/// signed in with it elsewhere must not outlive it: `lifecycle::factor_removed`).
async fn totp_remove(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let st = &state;
    let h = &headers;
    act(st, h, &body, true, |c, form| async move {
        let by = factors::RemovedBy::User {
            sid: &c.session().sid,
        };
        factors::remove(st, &c.user.id, form.field("factor_id"), by, ip).await?;
        Ok(done(st, "totp_removed"))
    })
    .await
}

/// `POST /account/recovery-codes`: ten new codes, shown once; the old ones stop working.
async fn recovery_codes(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let st = &state;
    act(st, &headers, &body, true, |c, _| async move {
        if !factors::enrolled(st, &c.user.id).await? {
            let e = "Recovery codes come with an authenticator app or a passkey: set one up first.";
            return page(st, &c, StatusCode::CONFLICT, None, Some(e)).await;
        }
        let codes = factors::regenerate_recovery_codes(st, &c.user.id).await?;
        Ok(show_codes(st, &codes))
    })
    .await
}

/// `POST /account/sessions/end`: one of the user's own sessions ends (through `lifecycle`: its
/// tokens stop, its applications are told).
async fn end_session(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let st = &state;
    act(st, &headers, &body, false, |c, form| async move {
        let now = st.clock.now();
        let one = SessionSelector::OneOfUser {
            user_id: &c.user.id,
            sid: form.field("sid"),
        };
        let ended = crate::lifecycle::end_sessions(st, one, now).await?;
        let event = Event::new("session.ended")
            .actor(ActorType::User, Some(&c.user.id))
            .user(Some(&c.user.id))
            .ip(ip)
            .because("signed_out_from_account");
        st.audit.record_sessions(event, &ended, now);
        if ended.contains(&c.session().sid) {
            return Ok(pages::message(
                &st.theme,
                "Signed out",
                "This browser is signed out.",
            ));
        }
        Ok(done(st, "session"))
    })
    .await
}

fn answer(state: &AppState, result: Result<Response, StoreError>) -> Response {
    pages::or_internal_error(&state.theme, result)
}
