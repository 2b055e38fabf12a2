//! E-mail verification: a single-use link (a 256-bit random token, only its SHA-256 kept, one
//! live link per user, a newer one replacing it; see `EmailVerificationStore`) mailed on sign-up,
//! when an administrator changes a user's address, on demand
//! (`POST /api/v1/users/{id}/verification-email`) and from the "check your inbox" step.
//!
//! `GET /email/verify?token=…` shows a button (a mail scanner fetching the link uses nothing up);
//! `POST /email/verify` uses the link: the user's `email_verified` becomes true if the link's
//! address is still theirs, and when this browser is the user's and holds the authorization
//! request the link was sent for, that request goes on.
//!
//! The "check your inbox" step (`latch_core::flow::Step::VerifyEmail`, for an application with
//! `require_verified_email`): its page offers "continue" (`POST /email/continue`: the request is
//! decided again) and "send a new link" (`POST /email/resend`), both bound to the session cookie
//! through the parked request.

use std::net::IpAddr;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latch_core::Secret;
use latch_core::application::Application;
use latch_core::audit::ActorType;
use latch_core::params::Params;
use latch_core::store::{EmailVerification, StoreError};
use latch_core::user::User;

use crate::http::client_ip::ClientIp;
use crate::jobs::audit::Event;
use crate::mail::Mail;
use crate::oauth::flow::{self, SignedIn};
use crate::pages::{self, Theme};
use crate::signin::login::{Signer, open_session};
use crate::signin::password_reset::Issuer;
use crate::signin::session;
use crate::state::AppState;

/// Seconds a verification link works.
pub const LINK_TTL: i64 = 24 * 3600;

const USED: &str = "This link has expired, was already used, or a newer one was sent. Sign in \
    to the application again to ask for a new link.";
const MOVED: &str = "This link was sent to an address that is no longer the account's. Use the \
    link sent to the current address.";

#[derive(Template)]
#[template(path = "mail/verify.txt")]
struct VerifyText<'a> {
    name: &'a str,
    email: &'a str,
    link: &'a str,
    valid_for: &'a str,
}

#[derive(Template)]
#[template(path = "mail/verify.html")]
struct VerifyHtml<'a> {
    name: &'a str,
    email: &'a str,
    link: &'a str,
    valid_for: &'a str,
    color: &'a str,
}

#[derive(Template)]
#[template(path = "verify.html")]
struct ConfirmPage<'a> {
    theme: &'a Theme,
    title: &'a str,
    action: &'a str,
    token: &'a str,
}

#[derive(Template)]
#[template(path = "check_inbox.html")]
struct CheckInboxPage<'a> {
    theme: &'a Theme,
    title: &'a str,
    application: &'a str,
    email: &'a str,
    notice: Option<&'a str>,
    continue_action: &'a str,
    resend_action: &'a str,
    login_request: &'a str,
}

/// Stores a new link for `user`'s current address (replacing any earlier one) and queues the mail
/// carrying it, within the send limits; returns whether it was queued. `login_request` is the
/// parked request the verification lets go on. Used by the server and the CLI alike.
pub async fn issue_link(
    ctx: &Issuer<'_>,
    user: &User,
    login_request: Option<&str>,
) -> Result<bool, StoreError> {
    let token = Secret::generate();
    let link = EmailVerification {
        user_id: user.id.clone(),
        email: user.email.clone(),
        login_request: login_request.map(str::to_owned),
        expires_at: ctx.now + LINK_TTL,
    };
    ctx.store
        .insert_email_verification(&token.hash(), &link, ctx.now)
        .await?;
    let mail = verify_mail(ctx, &user.email, &token).map_err(|e| {
        StoreError::Other(format!("the verification mail did not render: {e}").into())
    })?;
    crate::mail::enqueue(ctx.store, ctx.mail_key, &mail, ctx.now).await
}

/// [`issue_link`] from a running server: wakes the sender and records
/// `email_verification.sent` (by `actor`). `false` without e-mail or over the send limits.
pub async fn send(
    state: &AppState,
    user: &User,
    login_request: Option<&str>,
    actor: (ActorType, Option<&str>),
) -> Result<bool, StoreError> {
    if !state.mail_enabled() {
        return Ok(false);
    }
    let now = state.clock.now();
    let ctx = Issuer {
        store: state.store.as_ref(),
        issuer: &state.settings.issuer,
        branding: &state.settings.branding,
        mail_key: &state.mail_key,
        now,
    };
    let queued = issue_link(&ctx, user, login_request).await?;
    if queued {
        crate::mail::worker::wake();
    } else {
        tracing::warn!("a verification mail was not queued: the e-mail send limit is reached");
        crate::http::metrics::global().mail("limited");
    }
    let event = Event::new("email_verification.sent")
        .actor(actor.0, actor.1)
        .user(Some(&user.id))
        .detail("queued", queued);
    state.audit.record(event, now);
    Ok(queued)
}

fn verify_mail(ctx: &Issuer<'_>, to: &str, token: &Secret) -> Result<Mail, askama::Error> {
    let mut link = url::Url::parse(&format!("{}/email/verify", ctx.issuer))
        .map_err(|e| askama::Error::Custom(Box::new(e)))?;
    link.query_pairs_mut()
        .append_pair("token", token.expose_secret());
    let (name, link) = (ctx.branding.name.as_str(), link.as_str());
    let valid_for = &crate::mail::duration_text(LINK_TTL);
    let text = VerifyText {
        name,
        email: to,
        link,
        valid_for,
    }
    .render()?;
    let html = VerifyHtml {
        name,
        email: to,
        link,
        valid_for,
        color: &ctx.branding.primary_color,
    }
    .render()?;
    Ok(Mail {
        to: to.to_owned(),
        subject: format!("Verify your email for {name}"),
        text,
        html,
    })
}

/// The "check your inbox" page of the parked request `id` (bound to the session of `user_id`).
pub async fn check_inbox(
    state: &AppState,
    app: &Application,
    user_id: &str,
    id: &Secret,
    notice: Option<&str>,
) -> Result<Response, StoreError> {
    let email = state
        .store
        .get_user(user_id)
        .await?
        .map(|u| u.email)
        .unwrap_or_default();
    let issuer = &state.settings.issuer;
    let page = CheckInboxPage {
        theme: &state.theme,
        title: "Check your inbox",
        application: &app.name,
        email: &email,
        notice,
        continue_action: &format!("{issuer}/email/continue"),
        resend_action: &format!("{issuer}/email/resend"),
        login_request: id.expose_secret(),
    };
    Ok(state.theme.render(StatusCode::OK, &page))
}

/// `GET /email/verify?token=…`: a button that posts the token.
pub async fn get(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let Some(token) = params.get("token").ok().flatten().and_then(Secret::parse) else {
        return refused(&state, USED);
    };
    let page = ConfirmPage {
        theme: &state.theme,
        title: "Verify your email",
        action: &format!("{}/email/verify", state.settings.issuer),
        token: token.expose_secret(),
    };
    state.theme.render(StatusCode::OK, &page)
}

/// `POST /email/verify`: uses the link up.
pub async fn post(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = form_field(&headers, &body, "token").and_then(|t| Secret::parse(&t));
    let Some(token) = token else {
        return refused(&state, USED);
    };
    handled(&state, verify(&state, &headers, ip, &token).await)
}

async fn verify(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    token: &Secret,
) -> Result<Response, StoreError> {
    let now = state.clock.now();
    let Some((link, verified)) = state
        .store
        .take_email_verification(&token.hash(), now)
        .await?
    else {
        return Ok(refused(state, USED));
    };
    if !verified {
        return Ok(refused(state, MOVED));
    }
    let event = Event::new("email_verification.completed")
        .actor(ActorType::User, Some(&link.user_id))
        .user(Some(&link.user_id));
    state.audit.record(event, now);
    // The request the link was sent for goes on, in the browser of the user's session.
    let signed_in = flow::signed_in(state, headers)
        .await?
        .filter(|s| s.session.user_id == link.user_id);
    if let (Some(id), Some(s)) = (&link.login_request, &signed_in)
        && let Some(response) = go_on(state, id, s).await?
    {
        return Ok(response);
    }
    // A sign-up: its request is bound to this browser's login-binding cookie, so only the
    // browser that signed up is signed in by the link.
    if let (Some(id), Some(binding)) = (&link.login_request, session::login_binding(state, headers))
        && let Some(parked) = flow::parked(state, id, &binding).await?
        && let Some(app) = parked.application(state).await?
    {
        let signer = Signer {
            user_id: &link.user_id,
            client_id: Some(app.client_id.as_str()),
            // This browser chose the account's password at sign-up (the request is bound to it).
            amr: latch_core::authn::Amr::PASSWORD,
        };
        if parked.take(state).await? {
            let (cookie, session) = open_session(state, headers, ip, signer).await?;
            let signed_in = SignedIn {
                session,
                cookie: cookie.hash(),
                known: Default::default(),
            };
            let mut response = flow::resume(state, parked, &app, &signed_in).await?;
            let user_id = &link.user_id;
            flow::signed_in_cookies(
                state,
                headers,
                &mut response,
                &cookie,
                user_id,
                session::LOGIN,
            );
            return Ok(response);
        }
    }
    Ok(pages::message(
        &state.theme,
        "Email verified",
        "Your email address is verified. Go back to the application to continue.",
    ))
}

/// Resumes the parked request `id` of the session `s` (it is decided again); `None` when this
/// browser no longer holds it.
async fn go_on(state: &AppState, id: &str, s: &SignedIn) -> Result<Option<Response>, StoreError> {
    let Some(parked) = flow::parked(state, id, &s.cookie).await? else {
        return Ok(None);
    };
    let Some(app) = parked.application(state).await? else {
        return Ok(None);
    };
    if !parked.take(state).await? {
        return Ok(None);
    }
    Ok(Some(flow::resume(state, parked, &app, s).await?))
}

/// `POST /email/continue`: the request is decided again (a code once the e-mail is verified,
/// this page again if not).
pub async fn continue_(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let id = form_field(&headers, &body, "login_request").unwrap_or_default();
    handled(&state, continued(&state, &headers, &id).await)
}

async fn continued(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
) -> Result<Response, StoreError> {
    let Some(s) = flow::signed_in(state, headers).await? else {
        return Ok(expired(state));
    };
    Ok(go_on(state, id, &s)
        .await?
        .unwrap_or_else(|| expired(state)))
}

/// `POST /email/resend`: a new link (within the send limits), for the parked request.
pub async fn resend(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let id = form_field(&headers, &body, "login_request").unwrap_or_default();
    handled(&state, resent(&state, &headers, &id).await)
}

async fn resent(state: &AppState, headers: &HeaderMap, id: &str) -> Result<Response, StoreError> {
    let Some(s) = flow::signed_in(state, headers).await? else {
        return Ok(expired(state));
    };
    let Some(parked) = flow::parked(state, id, &s.cookie).await? else {
        return Ok(expired(state));
    };
    let (Some(app), Some(user), Some(secret)) = (
        parked.application(state).await?,
        state.store.get_user(&s.session.user_id).await?,
        Secret::parse(id),
    ) else {
        return Ok(expired(state));
    };
    let actor = (ActorType::User, Some(user.id.as_str()));
    let notice = if send(state, &user, Some(id), actor).await? {
        "We sent a new link. It works once, for 24 hours."
    } else {
        "No more links can be sent to this address for now. Use the last one, or try again later."
    };
    check_inbox(state, &app, &user.id, &secret, Some(notice)).await
}

/// The pages' routes (relative to the issuer).
pub(crate) fn routes() -> axum::Router<AppState> {
    use axum::routing::{get as on_get, post as on_post};
    axum::Router::new()
        .route("/email/verify", on_get(get).post(post))
        .route("/email/continue", on_post(continue_))
        .route("/email/resend", on_post(resend))
}

fn form_field(headers: &HeaderMap, body: &Bytes, name: &str) -> Option<String> {
    let params = crate::oauth::form_params(headers, body)?;
    params.get(name).ok().flatten().map(str::to_owned)
}

fn refused(state: &AppState, message: &str) -> Response {
    pages::error_titled(
        &state.theme,
        StatusCode::BAD_REQUEST,
        "This link no longer works",
        message,
    )
}

fn expired(state: &AppState) -> Response {
    pages::error(
        &state.theme,
        StatusCode::BAD_REQUEST,
        "This page has expired. Go back to the application and sign in again.",
    )
}

fn handled(state: &AppState, result: Result<Response, StoreError>) -> Response {
    pages::or_internal_error(&state.theme, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "<script>alert(\"x\")</script>' onmouseover='y' & \"z";

    #[test]
    fn the_verification_mail_escapes_its_html_and_keeps_its_text_plain() {
        let link = "https://id.example.com/email/verify?token=a&b";
        let html = VerifyHtml {
            name: HOSTILE,
            email: HOSTILE,
            link,
            valid_for: "24 hours",
            color: "#3466d6",
        }
        .render()
        .unwrap();
        assert!(
            !html.contains("<script") && !html.contains("' onmouseover"),
            "{html}"
        );
        assert!(html.contains("token=a&#38;b"), "{html}");
        let text = VerifyText {
            name: HOSTILE,
            email: HOSTILE,
            link,
            valid_for: "24 hours",
        }
        .render()
        .unwrap();
        assert!(text.contains(link) && text.contains(HOSTILE), "{text}");
        assert!(text.contains("24 hours"), "{text}");
    }
}
