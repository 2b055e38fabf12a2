//! The flow's second-factor steps (`Step::SecondFactor`, `Step::EnrolFactor`): after a password
//! (or on a password-only session that a request wants stronger, `acr_values`), the user gives a
//! code from their authenticator app or a recovery code, or uses a passkey (`signin::passkey`) —
//! or, when the application requires a second factor and the user has none, enrols one first.
//!
//! The parked request is bound to the session cookie. A code accepted steps the session up: the
//! same `sid`, a new cookie (no fixation), `auth_time` now and `otp` added to its methods
//! (`SessionStore::reauthenticate_session`); then the request is resumed.
//!
//! - `GET  /login/second-factor?login_request=…`: the code form, or the enrolment page;
//! - `POST /login/second-factor`: checks a code, then resumes;
//! - `POST /login/second-factor/enrol`: confirms the enrolment, shows the recovery codes once;
//! - `POST /login/second-factor/continue`: resumes after the recovery codes.

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use latch_core::authn::{Amr, Method};
use latch_core::params::Params;
use latch_core::store::{SessionRecord, StoreError};
use latch_core::{Secret, UnixTime};

use crate::factors::{self, Check, Confirmed, Who};
use crate::http::client_ip::ClientIp;
use crate::jobs::audit::Event;
use crate::oauth::flow::{self, Parked, SignedIn};
use crate::pages::{self, Enrolment, Target};
use crate::signin::session;
use crate::state::AppState;

use crate::signin::login::EXPIRED;
const WRONG: &str = "That code is not right, or was used already. Try the next one.";

/// The step's routes (`router.rs` merges them).
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/login/second-factor", get(get_page).post(submit))
        .route("/login/second-factor/enrol", post(enrol))
        .route("/login/second-factor/continue", post(proceed))
}

/// Where `Step::SecondFactor` and `Step::EnrolFactor` send the browser.
pub fn page_url(state: &AppState, id: &Secret) -> String {
    format!(
        "{}/login/second-factor?login_request={}",
        state.settings.issuer,
        id.expose_secret()
    )
}

fn action(state: &AppState, tail: &str) -> String {
    format!("{}/login/second-factor{tail}", state.settings.issuer)
}

/// The browser's session and the request parked for it, if both are still there.
pub(crate) async fn pending(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
) -> Result<Option<(SignedIn, Parked)>, StoreError> {
    let Some(signed_in) = flow::signed_in(state, headers).await? else {
        return Ok(None);
    };
    Ok(flow::parked(state, id, &signed_in.cookie)
        .await?
        .map(|parked| (signed_in, parked)))
}

pub async fn get_page(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let id = params.get("login_request").ok().flatten().unwrap_or("");
    answer(&state, show(&state, &headers, ip, id).await)
}

async fn show(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    id: &str,
) -> Result<Response, StoreError> {
    let Some((signed_in, parked)) = pending(state, headers, id).await? else {
        return Ok(expired(state));
    };
    let user_id = signed_in.session.user_id.as_str();
    let who = Who { user_id, ip };
    if factors::enrolled(state, user_id).await? {
        return code_form(state, &who, &parked, id, None).await;
    }
    enrol_form(state, &who, id, None).await
}

/// The code form, with the user's passkeys offered where they have one.
pub(crate) async fn code_form(
    state: &AppState,
    who: &Who<'_>,
    parked: &Parked,
    id: &str,
    error: Option<&str>,
) -> Result<Response, StoreError> {
    let passkey = crate::signin::passkey::second_factor_prompt(state, who.user_id, id).await?;
    let application = parked.application(state).await?.map(|a| a.name.clone());
    let action = action(state, "");
    let fields = [("login_request", id)];
    let target = Target {
        action: &action,
        fields: &fields,
    };
    Ok(pages::factor_code(
        &state.theme,
        application.as_deref(),
        &target,
        error,
        passkey.as_ref(),
    ))
}

/// The enrolment page: the pending enrolment's secret, or a new one.
async fn enrol_form(
    state: &AppState,
    who: &Who<'_>,
    id: &str,
    error: Option<&str>,
) -> Result<Response, StoreError> {
    let pending = match factors::pending_totp(state, who.user_id).await? {
        Some(p) => Some(p),
        None => factors::start_totp(state, who.user_id).await?,
    };
    let Some(pending) = pending else {
        // Enrolled meanwhile (another tab): nothing to set up.
        return Ok(expired(state));
    };
    let action = action(state, "/enrol");
    let fields = [("login_request", id)];
    let intro = "This application asks for a second step at sign-in: set up an authenticator app.";
    enrol_page(
        state,
        who.user_id,
        &pending,
        intro,
        &Target {
            action: &action,
            fields: &fields,
        },
        error,
    )
    .await
}

/// The enrolment page of `pending` (also the account page's).
pub(crate) async fn enrol_page(
    state: &AppState,
    user_id: &str,
    pending: &factors::Pending,
    intro: &str,
    target: &Target<'_>,
    error: Option<&str>,
) -> Result<Response, StoreError> {
    let email = state
        .store
        .get_user(user_id)
        .await?
        .map(|u| u.email)
        .unwrap_or_default();
    let uri = pending.secret.otpauth_uri(&state.theme.name, &email);
    let qr = factors::qr::svg(&uri, "QR code of the authenticator key").unwrap_or_default();
    let secret = pending.secret.to_base32();
    Ok(pages::factor_enrol(
        &state.theme,
        &Enrolment {
            intro,
            qr: &qr,
            secret: &secret,
            error,
        },
        target,
    ))
}

/// `POST /login/second-factor`: a code from the app, or a recovery code.
pub async fn submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(params) = crate::oauth::form_params(&headers, &body) else {
        return expired(&state);
    };
    let field = |name: &str| params.get(name).ok().flatten().unwrap_or("");
    let result = verify(&state, &headers, ip, field("login_request"), field("code")).await;
    answer(&state, result)
}

async fn verify(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    id: &str,
    code: &str,
) -> Result<Response, StoreError> {
    let Some((signed_in, parked)) = pending(state, headers, id).await? else {
        return Ok(expired(state));
    };
    let session = &signed_in.session;
    let who = Who {
        user_id: &session.user_id,
        ip,
    };
    let method = match factors::check(state, &who, code).await? {
        Check::Accepted(method) => method,
        Check::Wrong => return code_form(state, &who, &parked, id, Some(WRONG)).await,
        Check::Locked(wait) => return Ok(crate::signin::login::locked_page(state, wait)),
    };
    resume_stepped_up(state, parked, session, Amr::default().with(method), ip).await
}

/// After a second factor was accepted (a code, or a passkey): the parked request is taken (once:
/// of two steps racing on one parked request, one completes it), the session steps up with
/// `added`, and the request goes on with the new session cookie.
pub(crate) async fn resume_stepped_up(
    state: &AppState,
    parked: Parked,
    session: &SessionRecord,
    added: Amr,
    ip: Option<IpAddr>,
) -> Result<Response, StoreError> {
    let Some(app) = parked.application(state).await? else {
        return Ok(expired(state));
    };
    if !parked.take(state).await? {
        return Ok(expired(state));
    }
    let Some((cookie, session)) = step_up_with(state, session, added, ip).await? else {
        return Ok(expired(state));
    };
    let signed_in = SignedIn {
        session,
        cookie: cookie.hash(),
        known: Default::default(),
    };
    let mut response = flow::resume(state, parked, &app, &signed_in).await?;
    set_session_cookie(state, &mut response, &cookie);
    Ok(response)
}

/// `POST /login/second-factor/enrol`: the first code confirms the enrolment; the session steps
/// up and the recovery codes are shown once before the request goes on.
pub async fn enrol(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(params) = crate::oauth::form_params(&headers, &body) else {
        return expired(&state);
    };
    let field = |name: &str| params.get(name).ok().flatten().unwrap_or("");
    let result = confirm(&state, &headers, ip, field("login_request"), field("code")).await;
    answer(&state, result)
}

async fn confirm(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    id: &str,
    code: &str,
) -> Result<Response, StoreError> {
    let Some((signed_in, parked)) = pending(state, headers, id).await? else {
        return Ok(expired(state));
    };
    let session = &signed_in.session;
    let who = Who {
        user_id: &session.user_id,
        ip,
    };
    let codes = match factors::confirm_totp(state, &who, code).await? {
        Confirmed::Yes(codes) => codes,
        Confirmed::Wrong => return enrol_form(state, &who, id, Some(WRONG)).await,
        Confirmed::Locked(wait) => return Ok(crate::signin::login::locked_page(state, wait)),
        Confirmed::NothingPending => return Ok(expired(state)),
    };
    let Some((cookie, _)) = step_up(state, session, Method::Otp, ip).await? else {
        return Ok(expired(state));
    };
    // The request was bound to the old cookie.
    let Some(new_id) = parked.rebind(state, &cookie.hash()).await? else {
        return Ok(expired(state));
    };
    let shown: Vec<String> = codes
        .unwrap_or_default()
        .iter()
        .map(|c| c.expose_secret().to_owned())
        .collect();
    let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
    let action = action(state, "/continue");
    let fields = [("login_request", new_id.expose_secret())];
    let target = Target {
        action: &action,
        fields: &fields,
    };
    let mut response = pages::recovery_codes(&state.theme, &shown, &target, false);
    set_session_cookie(state, &mut response, &cookie);
    Ok(response)
}

/// `POST /login/second-factor/continue`: after the recovery codes, the request goes on.
pub async fn proceed(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(params) = crate::oauth::form_params(&headers, &body) else {
        return expired(&state);
    };
    let id = params.get("login_request").ok().flatten().unwrap_or("");
    let result = async {
        let Some((signed_in, parked)) = pending(&state, &headers, id).await? else {
            return Ok(expired(&state));
        };
        let Some(app) = parked.application(&state).await? else {
            return Ok(expired(&state));
        };
        if !parked.take(&state).await? {
            return Ok(expired(&state));
        }
        flow::resume(&state, parked, &app, &signed_in).await
    }
    .await;
    answer(&state, result)
}

/// Steps the session up with `method`: same `sid`, new cookie, `auth_time` now. `None` if the
/// session ended meanwhile.
pub(crate) async fn step_up(
    state: &AppState,
    session: &SessionRecord,
    method: Method,
    ip: Option<IpAddr>,
) -> Result<Option<(Secret, SessionRecord)>, StoreError> {
    step_up_with(state, session, Amr::default().with(method), ip).await
}

/// `step_up` with every method of `added` (a passkey: `hwk` or `swk`, and `user`).
pub(crate) async fn step_up_with(
    state: &AppState,
    session: &SessionRecord,
    added: Amr,
    ip: Option<IpAddr>,
) -> Result<Option<(Secret, SessionRecord)>, StoreError> {
    let now: UnixTime = state.clock.now();
    let cookie = Secret::generate();
    let amr = added.methods().fold(session.amr, Amr::with);
    if !state
        .store
        .reauthenticate_session(&session.sid, &cookie.hash(), amr, now)
        .await?
    {
        return Ok(None);
    }
    let event = Event::new("login.second_factor")
        .actor(latch_core::audit::ActorType::User, Some(&session.user_id))
        .user(Some(&session.user_id))
        .session(Some(&session.sid))
        .ip(ip)
        .detail("amr", amr.to_stored());
    state.audit.record(event, now);
    let stepped = SessionRecord {
        auth_time: now,
        amr,
        last_active_at: now,
        ..session.clone()
    };
    Ok(Some((cookie, stepped)))
}

pub(crate) fn set_session_cookie(state: &AppState, response: &mut Response, cookie: &Secret) {
    let ttl = state.settings.session_absolute_timeout;
    if let Some(c) = session::set_cookie(state, session::SESSION, cookie.expose_secret(), ttl) {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
}

fn expired(state: &AppState) -> Response {
    pages::error(&state.theme, StatusCode::BAD_REQUEST, EXPIRED)
}

fn answer(state: &AppState, result: Result<Response, StoreError>) -> Response {
    pages::or_internal_error(&state.theme, result)
}
