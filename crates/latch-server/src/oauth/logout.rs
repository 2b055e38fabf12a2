//! `GET`/`POST /oidc/logout`: OpenID Connect RP-Initiated Logout 1.0.
//!
//! Every parameter is checked before anything ends: a forged `id_token_hint`, a
//! `post_logout_redirect_uri` not on the application's list or a `client_id` that disagrees with
//! the hint gets an error page and leaves the session alone. The browser's session ends at once
//! only when the hint names it; otherwise the user confirms on a page of ours.
//!
//! CSRF protection of that confirmation: the form carries `csrf_token = "{issued_at}.{mac}"`, where
//! `mac` is HMAC-SHA256, under a key derived from the master key (so every node agrees), of
//! `"{issued_at}.{SHA-256 of the session cookie}"`. It is bound to the browser's session cookie,
//! which another site can neither read nor choose, expires after `CONFIRM_TTL`, and needs no extra
//! cookie or row. A confirmation post without a valid token is refused and ends nothing.

use aws_lc_rs::hmac;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latch_core::audit::ActorType;
use latch_core::params::Params;
use latch_core::store::{SessionRecord, SessionSelector, StoreError};
use latch_core::{Secret, UnixTime};
use url::Url;

use crate::http::client_ip::ClientIp;
use crate::jobs::audit::Event;
use crate::oauth::flow::found;
use crate::state::AppState;
use crate::{pages, signin::session};

/// How long a confirmation page may wait for its answer.
const CONFIRM_TTL: i64 = 1800;
const CSRF_KEY_LABEL: &str = "latch logout csrf v1";

const BAD_HINT: &str = "The id_token_hint is not a valid ID token from this server.";
const CLIENT_MISMATCH: &str =
    "The client_id is not the application the id_token_hint was issued to.";
const NEED_CLIENT: &str = "A post_logout_redirect_uri needs an id_token_hint or a client_id.";
const UNKNOWN_CLIENT: &str = "The application is unknown.";
const UNREGISTERED: &str = "The post_logout_redirect_uri is not registered for this application.";
const CSRF_REFUSED: &str =
    "This sign-out form has expired or did not come from this browser. Nothing was changed.";

/// The request as sent; `confirm` and `csrf_token` come only from our confirmation form (POST).
struct LogoutParams {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
    confirm: bool,
    csrf_token: Option<String>,
}

/// What a verified `id_token_hint` says.
pub(crate) struct Hint {
    pub(crate) sid: Option<String>,
    pub(crate) sub: Option<String>,
    pub(crate) client_id: Option<String>,
}

/// A request whose every parameter checked out.
struct LogoutRequest {
    params: LogoutParams,
    hint: Option<Hint>,
    /// The `post_logout_redirect_uri`, once found on the application's list.
    redirect: Option<String>,
}

pub async fn get(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    respond(&state, ip, &headers, &params, false).await
}

pub async fn post(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match crate::oauth::form_params(&headers, &body) {
        Some(params) => respond(&state, ip, &headers, &params, true).await,
        None => refuse(&state, "The request must be a form post."),
    }
}

async fn respond(
    state: &AppState,
    ip: ClientIp,
    headers: &HeaderMap,
    params: &Params,
    posted: bool,
) -> Response {
    match logout(state, ip, headers, params, posted).await {
        Ok(response) => response,
        Err(e) => pages::internal_error(&state.theme, &e),
    }
}

async fn logout(
    state: &AppState,
    ClientIp(ip): ClientIp,
    headers: &HeaderMap,
    params: &Params,
    posted: bool,
) -> Result<Response, StoreError> {
    let params = match LogoutParams::parse(params, posted) {
        Ok(p) => p,
        Err(message) => return Ok(refuse(state, &message)),
    };
    let request = match validate(state, params).await? {
        Ok(r) => r,
        Err(message) => return Ok(refuse(state, message)),
    };
    let Some(session) = session::current(state, headers).await? else {
        return Ok(signed_out(state, &request));
    };
    if request.params.confirm {
        if !csrf_valid(state, headers, request.params.csrf_token.as_deref()) {
            return Ok(refuse(state, CSRF_REFUSED));
        }
    } else if !request.names(&session) {
        // RP-Initiated Logout 1.0 §2: the OP "MUST ask the End-User this question if an
        // id_token_hint was not provided or if the supplied ID Token does not belong to the current
        // OP session with the RP and/or currently logged in End-User".
        return Ok(confirmation(state, headers, &request));
    }
    let now = state.clock.now();
    let ended =
        crate::lifecycle::end_sessions(state, SessionSelector::One { sid: &session.sid }, now)
            .await?;
    tracing::info!(sid = %session.sid, user_id = %session.user_id, "signed out");
    audit_logout(state, &request, &session, ip, &ended);
    Ok(signed_out(state, &request))
}

impl LogoutParams {
    /// Repeated parameters are refused (RP-Initiated Logout 1.0 §2 uses OAuth 2.0's encoding rules).
    fn parse(p: &Params, posted: bool) -> Result<Self, String> {
        let get = |name: &str| {
            p.get(name)
                .map(|v| v.map(str::to_owned))
                .map_err(|e| e.description)
        };
        // `logout_hint` and `ui_locales` are accepted and not used; still, not twice.
        get("logout_hint")?;
        get("ui_locales")?;
        Ok(Self {
            id_token_hint: get("id_token_hint")?,
            post_logout_redirect_uri: get("post_logout_redirect_uri")?,
            state: get("state")?,
            client_id: get("client_id")?,
            confirm: posted && get("confirm")?.is_some(),
            csrf_token: if posted { get("csrf_token")? } else { None },
        })
    }
}

impl LogoutRequest {
    /// Whether the hint names this very session of this user.
    fn names(&self, session: &SessionRecord) -> bool {
        self.hint.as_ref().is_some_and(|h| {
            h.sid.as_deref() == Some(session.sid.as_str())
                && h.sub.as_deref() == Some(session.user_id.as_str())
        })
    }
}

async fn validate(
    state: &AppState,
    params: LogoutParams,
) -> Result<Result<LogoutRequest, &'static str>, StoreError> {
    let hint = match params.id_token_hint.as_deref() {
        None => None,
        Some(token) => match verify_hint(state, token) {
            Some(h) => Some(h),
            None => return Ok(Err(BAD_HINT)),
        },
    };
    // RP-Initiated Logout 1.0 §2: "When both client_id and id_token_hint are present, the OP MUST
    // verify that the Client Identifier matches the one used when issuing the ID Token."
    let client_id = match (
        hint.as_ref().and_then(|h| h.client_id.as_deref()),
        params.client_id.as_deref(),
    ) {
        (Some(from_hint), Some(given)) if from_hint != given => return Ok(Err(CLIENT_MISMATCH)),
        (from_hint, given) => given.or(from_hint),
    };
    let app = match client_id {
        Some(id) => {
            state
                .applications
                .by_client_id(state.store.as_ref(), id)
                .await?
        }
        None => None,
    };
    if params.client_id.is_some() && app.is_none() {
        return Ok(Err(UNKNOWN_CLIENT));
    }
    let redirect = match (params.post_logout_redirect_uri.as_deref(), app) {
        (None, _) => None,
        (Some(_), None) if client_id.is_none() => return Ok(Err(NEED_CLIENT)),
        // RP-Initiated Logout 1.0 §3: the OP MUST NOT redirect unless the value exactly matches a
        // registered post_logout_redirect_uri.
        (Some(uri), Some(app)) if app.redirects.post_logout.iter().any(|u| u == uri) => {
            Some(uri.to_owned())
        }
        (Some(_), _) => return Ok(Err(UNREGISTERED)),
    };
    Ok(Ok(LogoutRequest {
        params,
        hint,
        redirect,
    }))
}

/// Audits a sign-out: `logout`, and `session.ended` (reason `logout`) for the session it ended.
fn audit_logout(
    state: &AppState,
    request: &LogoutRequest,
    session: &SessionRecord,
    ip: Option<std::net::IpAddr>,
    ended: &[String],
) {
    let hinted = request.hint.as_ref().and_then(|h| h.client_id.as_deref());
    let client_id = request.params.client_id.as_deref().or(hinted);
    let user = Some(session.user_id.as_str());
    let base = |kind| {
        Event::new(kind)
            .actor(ActorType::User, user)
            .user(user)
            .client(client_id)
            .ip(ip)
    };
    let now = state.clock.now();
    let logout = base("logout").session(Some(&session.sid));
    state.audit.record(logout, now);
    let ended_event = base("session.ended").because("logout");
    state.audit.record_sessions(ended_event, ended, now);
}

/// RP-Initiated Logout 1.0 §2: "the OP MUST validate that it was the issuer of the ID Token". The
/// signature must verify under one of our published keys; an expired token is still a good hint
/// (also at the authorization endpoint, OIDC Core §3.1.2.1), but not one issued to a deleted
/// application.
pub(crate) fn verify_hint(state: &AppState, token: &str) -> Option<Hint> {
    let jwt = state.keys.current().verify(token).ok()?;
    // Only ID tokens (`typ: JWT`): not access tokens (`at+jwt`) nor logout tokens.
    if jwt.iss() != Some(state.settings.issuer.as_str()) || !jwt.typ_is("JWT") {
        return None;
    }
    let text = |name: &str| jwt.str_claim(name).map(str::to_owned);
    let hint = Hint {
        sid: text("sid"),
        sub: text("sub"),
        client_id: text("azp").or_else(|| text("aud")),
    };
    let now = state.clock.now();
    let deleted = hint
        .client_id
        .as_deref()
        .is_some_and(|c| state.revocations.revokes_client(c, now));
    (!deleted).then_some(hint)
}

/// Clears the session cookie, then redirects to the validated URI (with `state`) or says so.
fn signed_out(state: &AppState, request: &LogoutRequest) -> Response {
    let mut response = match request.redirect.as_deref().map(Url::parse) {
        Some(Ok(mut url)) => {
            if let Some(st) = request.params.state.as_deref() {
                url.query_pairs_mut().append_pair("state", st);
            }
            found(url.as_str())
        }
        _ => pages::message(&state.theme, "Signed out", "You are signed out."),
    };
    if let Some(cookie) = session::set_cookie(state, session::SESSION, "", 0) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

fn refuse(state: &AppState, message: &str) -> Response {
    pages::error(&state.theme, StatusCode::BAD_REQUEST, message)
}

/// The page asking the user to confirm, with the checked parameters and a CSRF token.
fn confirmation(state: &AppState, headers: &HeaderMap, request: &LogoutRequest) -> Response {
    let token =
        session_cookie_hash(state, headers).map(|h| csrf_token(state, &h, state.clock.now()));
    let p = &request.params;
    let fields = [
        ("confirm", Some("yes")),
        ("csrf_token", token.as_deref()),
        ("id_token_hint", p.id_token_hint.as_deref()),
        ("post_logout_redirect_uri", request.redirect.as_deref()),
        ("state", p.state.as_deref()),
        ("client_id", p.client_id.as_deref()),
    ];
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .filter_map(|(name, value)| value.map(|v| (*name, v)))
        .collect();
    let action = format!("{}/oidc/logout", state.settings.issuer);
    pages::logout_confirmation(&state.theme, &action, &fields)
}

fn session_cookie_hash(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let value = session::read_cookie(headers, &session::cookie_name(state, session::SESSION))?;
    Some(Secret::parse(value)?.hash().as_str().to_owned())
}

fn csrf_key(state: &AppState) -> hmac::Key {
    hmac::Key::new(
        hmac::HMAC_SHA256,
        &state.keys.master().derive(CSRF_KEY_LABEL),
    )
}

fn csrf_token(state: &AppState, cookie_hash: &str, issued_at: UnixTime) -> String {
    let tag = hmac::sign(
        &csrf_key(state),
        format!("{issued_at}.{cookie_hash}").as_bytes(),
    );
    format!("{issued_at}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// The token must be ours, for this browser's session cookie, and recent (compared in constant time).
fn csrf_valid(state: &AppState, headers: &HeaderMap, token: Option<&str>) -> bool {
    let (Some(token), Some(cookie_hash)) = (token, session_cookie_hash(state, headers)) else {
        return false;
    };
    let Some((issued_at, mac)) = token.split_once('.') else {
        return false;
    };
    let (Ok(issued_at), Ok(mac)) = (issued_at.parse::<UnixTime>(), URL_SAFE_NO_PAD.decode(mac))
    else {
        return false;
    };
    let age = state.clock.now() - issued_at;
    let message = format!("{issued_at}.{cookie_hash}");
    (-60..=CONFIRM_TTL).contains(&age)
        && hmac::verify(&csrf_key(state), message.as_bytes(), &mac).is_ok()
}
