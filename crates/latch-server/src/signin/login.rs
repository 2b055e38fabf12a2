//! The hosted login page, the flow's login step: `GET /login` shows the form, `POST /login` checks
//! the password, opens the shared session and resumes the parked authorization request (`flow`);
//! the page's "Back to {application}" declines it instead (`decline`).

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use latch_core::application::Application;
use latch_core::audit::ActorType;
use latch_core::authn::Amr;
use latch_core::params::Params;
use latch_core::secret::random_id;
use latch_core::store::{SessionRecord, SessionSelector, StoreError};
use latch_core::{Secret, SecretHash};

use std::net::IpAddr;

use crate::http::client_ip::ClientIp;
use crate::jobs::audit::Event;
use crate::oauth::flow::{self, Parked, SignedIn};
use crate::pages::{self, LoginForm};
use crate::signin::password::Verified;
use crate::signin::session;
use crate::signin::throttle;
use crate::state::AppState;

const WRONG_CREDENTIALS: &str = "The email or password is incorrect.";
pub(crate) const EXPIRED: &str =
    "This sign-in page has expired. Go back to the application and sign in again.";

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let id = params.get("login_request").ok().flatten().unwrap_or("");
    let application = match pending(&state, &headers, id).await {
        Ok(Some(parked)) => parked.application(&state).await.map(Some),
        Ok(None) => Ok(None),
        Err(e) => Err(e),
    };
    match application {
        Ok(Some(application)) => {
            let hint = params.get("login_hint").ok().flatten();
            let page = Page::of(id, application.as_deref());
            form(&state, StatusCode::OK, &page, hint, None)
                .await
                .unwrap_or_else(|e| failure(&state, &e))
        }
        Ok(None) => pages::error(&state.theme, StatusCode::BAD_REQUEST, EXPIRED),
        Err(e) => failure(&state, &e),
    }
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
    let (id, email, password) = (field("login_request"), field("email"), field("password"));
    match sign_in(
        &state,
        &headers,
        ip,
        Attempt {
            id,
            email,
            password,
        },
    )
    .await
    {
        Ok(response) => response,
        Err(e) => failure(&state, &e),
    }
}

/// README "Abuse limits": 429 with `Retry-After`, as a page.
pub(crate) fn locked_page(state: &AppState, wait: i64) -> Response {
    let mut response = pages::error(
        &state.theme,
        StatusCode::TOO_MANY_REQUESTS,
        &format!(
            "Too many failed sign-ins. Try again in {} minute(s).",
            (wait + 59) / 60
        ),
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        axum::http::HeaderValue::from(wait.max(1)),
    );
    response
}

fn failure(state: &AppState, e: &StoreError) -> Response {
    pages::internal_error(&state.theme, e)
}

/// The login page's pending request, the name of the application it signs in to ("Sign in to
/// *Acme Portal*") and whether that application allows sign-up.
struct Page<'a> {
    id: &'a str,
    application: Option<&'a str>,
    signup: bool,
}

impl<'a> Page<'a> {
    fn of(id: &'a str, app: Option<&'a Application>) -> Self {
        Page {
            id,
            application: app.map(|a| a.name.as_str()),
            signup: app.is_some_and(|a| a.allow_signup),
        }
    }
}

/// The login form, with "Sign in with a passkey" (a discoverable-passkey ceremony bound to the
/// parked request) where passkeys work.
async fn form(
    state: &AppState,
    status: StatusCode,
    page: &Page<'_>,
    email: Option<&str>,
    error: Option<&str>,
) -> Result<Response, StoreError> {
    let Page {
        id,
        application,
        signup,
    } = *page;
    let action = format!("{}/login", state.settings.issuer);
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("login_request", id)
        .finish();
    let issuer = &state.settings.issuer;
    let forgot = state
        .mail_enabled()
        .then(|| format!("{issuer}/password/forgot?{query}"));
    // Sign-up mails the address: offered only with e-mail.
    let signup = (signup && state.mail_enabled()).then(|| format!("{issuer}/signup?{query}"));
    let passkey = crate::signin::passkey::sign_in_prompt(state, id).await?;
    Ok(pages::login(
        &state.theme,
        status,
        &LoginForm {
            application,
            action: &action,
            login_request: id,
            email,
            error,
            forgot: forgot.as_deref(),
            signup: signup.as_deref(),
            passkey: passkey.as_ref(),
        },
    ))
}

/// The login form again for the parked request `id`, with `error` (a passkey that failed).
pub(crate) async fn form_again(
    state: &AppState,
    parked: &Parked,
    id: &str,
    error: &str,
) -> Result<Response, StoreError> {
    let application = parked.application(state).await?;
    let page = Page::of(id, application.as_deref());
    form(state, StatusCode::OK, &page, None, Some(error)).await
}

/// The parked request, if it exists, has not expired, and belongs to this browser (the binding
/// cookie set when it was parked: a login form posted from another browser is refused).
pub(crate) async fn pending(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
) -> Result<Option<Parked>, StoreError> {
    let Some(binding) = session::login_binding(state, headers) else {
        return Ok(None);
    };
    flow::parked(state, id, &binding).await
}

/// What the login form posted.
struct Attempt<'a> {
    id: &'a str,
    email: &'a str,
    password: &'a str,
}

async fn sign_in(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    attempt: Attempt<'_>,
) -> Result<Response, StoreError> {
    let Attempt {
        id,
        email,
        password,
    } = attempt;
    let theme = &state.theme;
    let Some(parked) = pending(state, headers, id).await? else {
        return Ok(pages::error(theme, StatusCode::BAD_REQUEST, EXPIRED));
    };
    let user = match check_credentials(state, headers, email, password, ip).await? {
        Credentials::Valid(user) => user,
        Credentials::Wrong => {
            let application = parked.application(state).await?;
            let page = Page::of(id, application.as_deref());
            let status = StatusCode::OK;
            return form(state, status, &page, Some(email), Some(WRONG_CREDENTIALS)).await;
        }
        Credentials::Locked(wait) => return Ok(locked_page(state, wait)),
    };
    let Some(app) = parked.application(state).await? else {
        return Ok(gone(state));
    };
    signed_in(state, headers, ip, parked, &app, &user.id).await
}

pub(crate) fn gone(state: &AppState) -> Response {
    pages::error(
        &state.theme,
        StatusCode::BAD_REQUEST,
        "The application no longer exists.",
    )
}

/// The login step done (the login form, or an invitation accepted on the way) for `user_id`:
/// uses the parked request up, opens the session and resumes the request.
pub(crate) async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    parked: Parked,
    app: &Application,
    user_id: &str,
) -> Result<Response, StoreError> {
    signed_in_with(state, headers, ip, parked, app, user_id, Amr::PASSWORD).await
}

/// `signed_in` by `amr` (a passkey: `hwk`/`swk` and `user`).
pub(crate) async fn signed_in_with(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    parked: Parked,
    app: &Application,
    user_id: &str,
    amr: Amr,
) -> Result<Response, StoreError> {
    let signer = Signer {
        user_id,
        client_id: Some(parked.request.client_id.as_str()),
        amr,
    };
    // Resumed once: of two sign-ins racing on one parked request, one completes it.
    if !parked.take(state).await? {
        return Ok(pages::error(&state.theme, StatusCode::BAD_REQUEST, EXPIRED));
    }
    let (cookie, session) = open_session(state, headers, ip, signer).await?;
    // The sign-in's one log line is its `login.success` audit event (`open_session`).
    crate::http::metrics::global().login("success");
    let signed_in = SignedIn {
        session,
        cookie: cookie.hash(),
        known: Default::default(),
    };
    let mut response = flow::resume(state, parked, app, &signed_in).await?;
    flow::signed_in_cookies(
        state,
        headers,
        &mut response,
        &cookie,
        user_id,
        session::LOGIN,
    );
    Ok(response)
}

/// The outcome of checking an email and password.
pub(crate) enum Credentials {
    Valid(latch_core::user::User),
    Wrong,
    /// Refused by the abuse limits for this many seconds.
    Locked(i64),
}

/// Checks a password under the abuse limits (README "Abuse limits", `throttle`): a browser with a valid
/// device cookie for the account is judged by its own failures, any other by the account's and
/// the address's. A locked attempt is refused before the password is checked, a failure is
/// counted and slowed, a success clears the counts of its device or account.
pub(crate) async fn check_credentials(
    state: &AppState,
    headers: &HeaderMap,
    email: &str,
    password: &str,
    ip: Option<IpAddr>,
) -> Result<Credentials, StoreError> {
    if email.is_empty()
        || password.is_empty()
        || password.len() > latch_core::user::MAX_PASSWORD_BYTES
    {
        return Ok(Credentials::Wrong);
    }
    let now = state.clock.now();
    let found = state.store.get_user_by_email(email).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let device = session::device(state, headers)
        .filter(|d| user.as_ref().is_some_and(|u| u.id == d.user_id));
    let device_id = device.as_ref().map(|d| d.device_id.as_str());
    let judged = match device_id {
        Some(id) => throttle::Judged::Device(id),
        None => throttle::Judged::Anonymous { email, ip },
    };
    let policies = throttle::policies(&state.settings);
    let store = state.store.as_ref();
    if let Some(wait) = throttle::login_locked(store, policies, judged, now).await? {
        crate::http::metrics::global().login("locked");
        let event = Event::new("login.failure").ip(ip).failure("locked");
        state.audit.record(event, now);
        return Ok(Credentials::Locked(wait));
    }
    // The dummy hash is verified when the user does not exist: same answer, same time.
    let verified = state
        .passwords
        .verify(password.to_owned(), hash.clone())
        .await
        .map_err(|e| StoreError::other(e.to_string(), e))?;
    let known = user.as_ref().map(|u| u.id.clone());
    let Some(user) = user.filter(|_| verified != Verified::No) else {
        let reason = if known.is_some() {
            "wrong_password"
        } else {
            "unknown_email"
        };
        // Logged once, as the audit event's line (with the reason; never the password, nor the
        // email: it may be a mistyped password).
        crate::http::metrics::global().login("failure");
        let user_id = known.as_deref();
        let event = Event::new("login.failure")
            .actor(ActorType::User, user_id)
            .user(user_id)
            .ip(ip)
            .failure(reason);
        state.audit.record(event, now);
        let delay = throttle::login_failed(store, policies, judged, now).await?;
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        return Ok(Credentials::Wrong);
    };
    throttle::login_succeeded(store, email, device_id).await?;
    if let (Verified::YesUpgrade, Some(old)) = (verified, hash) {
        upgrade_hash(state, &user.id, &old, password).await;
    }
    Ok(Credentials::Valid(user))
}

/// Replaces an imported (or older-cost) hash by Latch's argon2id after a successful sign-in. A
/// failure is logged and the sign-in goes on: the old hash still works next time.
async fn upgrade_hash(state: &AppState, user_id: &str, old: &str, password: &str) {
    let new = match state.passwords.hash(password.to_owned()).await {
        Ok(new) => new,
        Err(e) => {
            tracing::warn!(error = %e, user_id, "password hash not upgraded");
            return;
        }
    };
    match state.store.replace_password_hash(user_id, old, &new).await {
        Ok(true) => tracing::info!(user_id, "password hash upgraded to argon2id"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, user_id, "password hash not upgraded"),
    }
}

/// Who signed in, and for which application (if any).
pub(crate) struct Signer<'a> {
    pub user_id: &'a str,
    pub client_id: Option<&'a str>,
    /// How they authenticated.
    pub amr: Amr,
}

/// Opens a browser session for a user who just signed in (audited as `login.success`); returns its
/// cookie value (sent once) and its record. Over a live session of the same user (`prompt=login`,
/// `max_age`) it re-authenticates that session instead: same `sid`, new `auth_time`, a new cookie
/// (no fixation). Over another user's session it ends that one first (see `lifecycle`).
pub(crate) async fn open_session(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    signer: Signer<'_>,
) -> Result<(Secret, SessionRecord), StoreError> {
    let user_id = signer.user_id;
    let now = state.clock.now();
    let cookie = Secret::generate();
    if let Some(over) = session::current(state, headers).await? {
        if over.user_id == user_id {
            if state
                .store
                .reauthenticate_session(&over.sid, &cookie.hash(), signer.amr, now)
                .await?
            {
                audit_sign_in(state, &signer, &over.sid, ip, now);
                let session = SessionRecord {
                    auth_time: now,
                    amr: signer.amr,
                    last_active_at: now,
                    ..over
                };
                return Ok((cookie, session));
            }
        } else {
            let one = SessionSelector::One { sid: &over.sid };
            let ended = crate::lifecycle::end_sessions(state, one, now).await?;
            let event = Event::new("session.ended")
                .actor(ActorType::User, Some(&over.user_id))
                .user(Some(&over.user_id))
                .ip(ip)
                .because("signed_in_over");
            state.audit.record_sessions(event, &ended, now);
        }
    }
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect::<String>())
    };
    let session = SessionRecord {
        sid: random_id(),
        user_id: user_id.to_owned(),
        auth_time: now,
        amr: signer.amr,
        created_at: now,
        last_active_at: now,
        expires_at: now + state.settings.session_absolute_timeout,
        user_agent: text(header::USER_AGENT),
        ip: ip.map(|ip| ip.to_string()),
        applications: Vec::new(),
    };
    let hash: SecretHash = cookie.hash();
    state.store.insert_session(&hash, &session).await?;
    audit_sign_in(state, &signer, &session.sid, ip, now);
    Ok((cookie, session))
}

fn audit_sign_in(
    state: &AppState,
    signer: &Signer<'_>,
    sid: &str,
    ip: Option<IpAddr>,
    now: latch_core::UnixTime,
) {
    let event = Event::new("login.success")
        .actor(ActorType::User, Some(signer.user_id))
        .user(Some(signer.user_id))
        .client(signer.client_id)
        .session(Some(sid))
        .ip(ip);
    state.audit.record(event, now);
}
