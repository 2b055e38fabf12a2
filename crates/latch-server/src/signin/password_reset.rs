//! Forgot password, the first half: `GET /password/forgot?login_request=…` shows the e-mail form
//! (only when e-mail is configured), `POST /password/forgot` answers the same page whether or not
//! an account uses the address (no enumeration) and, off the request, stores a single-use link
//! (a 256-bit random token, only its SHA-256 kept, 30 minutes, replacing any earlier link; see
//! `PasswordResetStore`) and queues the mail carrying it (`mail::queue`, within the send limits).
//!
//! The form is bound like the login form: it names the parked authorization request, which must
//! belong to this browser (its login-binding cookie), so no other site can post it.

use std::sync::LazyLock;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latch_core::Secret;
use latch_core::UnixTime;
use latch_core::params::Params;
use latch_core::store::{PasswordReset, Store, StoreError};
use latch_jose::MasterKey;
use tokio::sync::Semaphore;

use crate::mail::Mail;
use crate::pages::{self, Theme};
use crate::settings::Branding;
use crate::signin::session;
use crate::state::AppState;

/// Seconds a reset link works.
pub const LINK_TTL: i64 = 30 * 60;
/// The longest an administrator may make a link work (`latch users send-reset --ttl-seconds`,
/// like Auth0's password-change tickets' `ttl_sec`).
pub const MAX_LINK_TTL: i64 = 7 * 24 * 3600;
/// Reset requests being looked up and queued at once on this node; more are dropped (and
/// logged): the answer is the same, and the mail limits would refuse a flood anyway.
const IN_FLIGHT: usize = 16;
static WORKERS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(IN_FLIGHT));

const EXPIRED: &str = "This page has expired. Go back to the application and sign in again.";
const SENT: &str = "If an account uses that email, we have sent it a link to choose a new \
    password. The link works once, for 30 minutes. Check your inbox (and the spam folder).";

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage<'a> {
    theme: &'a Theme,
    title: &'a str,
    action: &'a str,
    login_request: &'a str,
}

#[derive(Template)]
#[template(path = "mail/reset.txt")]
struct ResetText<'a> {
    name: &'a str,
    email: &'a str,
    link: &'a str,
    valid_for: &'a str,
}

#[derive(Template)]
#[template(path = "mail/reset.html")]
struct ResetHtml<'a> {
    name: &'a str,
    email: &'a str,
    link: &'a str,
    valid_for: &'a str,
    color: &'a str,
}

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let id = params.get("login_request").ok().flatten().unwrap_or("");
    if !state.mail_enabled() {
        return unavailable(&state);
    }
    match bound(&state, &headers, id).await {
        Ok(true) => {
            let action = format!("{}/password/forgot", state.settings.issuer);
            let page = ForgotPage {
                theme: &state.theme,
                title: "Forgot your password?",
                action: &action,
                login_request: id,
            };
            state.theme.render(StatusCode::OK, &page)
        }
        Ok(false) => pages::error(&state.theme, StatusCode::BAD_REQUEST, EXPIRED),
        Err(e) => failure(&state, &e),
    }
}

pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(params) = crate::oauth::form_params(&headers, &body) else {
        return pages::unreadable_form(&state.theme);
    };
    if !state.mail_enabled() {
        return unavailable(&state);
    }
    let field = |name: &str| params.get(name).ok().flatten().unwrap_or("");
    let (id, email) = (field("login_request"), field("email").trim());
    match bound(&state, &headers, id).await {
        Ok(true) => {}
        Ok(false) => return pages::error(&state.theme, StatusCode::BAD_REQUEST, EXPIRED),
        Err(e) => return failure(&state, &e),
    }
    if !email.is_empty() && email.len() <= 320 {
        // Off the request: the answer takes the same time whether or not the account exists.
        match WORKERS.try_acquire() {
            Ok(permit) => {
                permit.forget();
                let (state, email, id) = (state.clone(), email.to_owned(), id.to_owned());
                tokio::spawn(async move {
                    if let Err(e) = request_reset(&state, &email, Some(&id), None).await {
                        crate::http::error::internal(&e);
                    }
                    WORKERS.add_permits(1);
                });
            }
            Err(_) => tracing::warn!("password-reset request dropped: too many at once"),
        }
    }
    pages::message(&state.theme, "Check your inbox", SENT)
}

/// Stores a new reset link for the account using `email`, if there is one, and queues the mail
/// carrying it (audited); returns whether a mail was queued. `login_request` is the parked
/// request to continue afterwards; `admin` the administrator (user id) who sent it from the
/// console, `None` when the user asked for it.
pub async fn request_reset(
    state: &AppState,
    email: &str,
    login_request: Option<&str>,
    admin: Option<&str>,
) -> Result<bool, StoreError> {
    if state.mail.is_none() {
        return Ok(false);
    }
    let issuer = Issuer {
        store: state.store.as_ref(),
        issuer: &state.settings.issuer,
        branding: &state.settings.branding,
        mail_key: &state.mail_key,
        now: state.clock.now(),
    };
    let Some((user_id, queued)) = issue_link(&issuer, email, login_request, LINK_TTL).await? else {
        return Ok(false);
    };
    if queued {
        crate::mail::worker::wake();
    } else {
        tracing::warn!("a password-reset mail was not queued: the e-mail send limit is reached");
        crate::http::metrics::global().mail("limited");
    }
    let event = crate::jobs::audit::Event::new("password_reset.requested").user(Some(&user_id));
    let event = match admin {
        Some(admin) => event
            .actor(latch_core::audit::ActorType::Admin, Some(admin))
            .detail("via", "console"),
        None => event.actor(latch_core::audit::ActorType::User, Some(&user_id)),
    };
    state.audit.record(event, issuer.now);
    Ok(queued)
}

/// What issuing a reset link needs (the server's state, or the CLI's settings and store).
pub struct Issuer<'a> {
    pub store: &'a dyn Store,
    pub issuer: &'a str,
    pub branding: &'a Branding,
    /// `mail::key` of the master key.
    pub mail_key: &'a MasterKey,
    pub now: UnixTime,
}

/// Stores a new link for the account using `email` (replacing any earlier one) and queues its
/// mail within the send limits. `None` when no account uses the address; otherwise the user's id
/// and whether the mail was queued. The link works `ttl` seconds (the form: [`LINK_TTL`]). Used by
/// the form and by `latch users send-reset`.
pub async fn issue_link(
    ctx: &Issuer<'_>,
    email: &str,
    login_request: Option<&str>,
    ttl: i64,
) -> Result<Option<(String, bool)>, StoreError> {
    let token = Secret::generate();
    let Some((user, _)) = ctx.store.get_user_by_email(email).await? else {
        return Ok(None);
    };
    let reset = PasswordReset {
        user_id: user.id.clone(),
        login_request: login_request.map(str::to_owned),
        expires_at: ctx.now + ttl,
    };
    ctx.store
        .insert_password_reset(&token.hash(), &reset, ctx.now)
        .await?;
    let mail = reset_mail(ctx, &user.email, &token, ttl)
        .map_err(|e| StoreError::Other(format!("the reset mail did not render: {e}").into()))?;
    let queued = crate::mail::enqueue(ctx.store, ctx.mail_key, &mail, ctx.now).await?;
    Ok(Some((user.id, queued)))
}

/// The reset mail: text and HTML, branded like the hosted pages, the link absolute on the issuer.
fn reset_mail(ctx: &Issuer<'_>, to: &str, token: &Secret, ttl: i64) -> Result<Mail, askama::Error> {
    let mut link = url::Url::parse(&format!("{}/password/reset", ctx.issuer))
        .map_err(|e| askama::Error::Custom(Box::new(e)))?;
    link.query_pairs_mut()
        .append_pair("token", token.expose_secret());
    let (name, link) = (ctx.branding.name.as_str(), link.as_str());
    let valid_for = &crate::mail::duration_text(ttl);
    let text = ResetText {
        name,
        email: to,
        link,
        valid_for,
    }
    .render()?;
    let html = ResetHtml {
        name,
        email: to,
        link,
        valid_for,
        color: &ctx.branding.primary_color,
    }
    .render()?;
    Ok(Mail {
        to: to.to_owned(),
        subject: format!("Reset your {name} password"),
        text,
        html,
    })
}

/// Whether `id` names a parked request of this browser.
async fn bound(state: &AppState, headers: &HeaderMap, id: &str) -> Result<bool, StoreError> {
    let Some(binding) = session::login_binding(state, headers) else {
        return Ok(false);
    };
    Ok(crate::oauth::flow::parked(state, id, &binding)
        .await?
        .is_some())
}

fn unavailable(state: &AppState) -> Response {
    pages::error(
        &state.theme,
        StatusCode::NOT_FOUND,
        "Password reset by e-mail is not available here. Ask your administrator.",
    )
}

fn failure(state: &AppState, e: &StoreError) -> Response {
    pages::internal_error(&state.theme, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "<script>alert(\"x\")</script>' onmouseover='y' & \"z";

    #[test]
    fn the_reset_mail_escapes_its_html_and_keeps_its_text_plain() {
        let (name, email, link) = (
            HOSTILE,
            HOSTILE,
            "https://id.example.com/password/reset?token=a&b",
        );
        let valid_for = "30 minutes";
        let html = ResetHtml {
            name,
            email,
            link,
            valid_for,
            color: "#3466d6",
        }
        .render()
        .unwrap();
        assert!(
            !html.contains("<script") && !html.contains("' onmouseover"),
            "{html}"
        );
        assert!(
            html.contains("token=a&#38;b"),
            "the link, escaped in the attribute: {html}"
        );
        let text = ResetText {
            name,
            email,
            link,
            valid_for,
        }
        .render()
        .unwrap();
        assert!(
            text.contains(link) && text.contains(HOSTILE),
            "plain text is not escaped: {text}"
        );
        assert!(text.contains("30 minutes"));
    }
}
