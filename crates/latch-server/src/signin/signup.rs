//! Sign-up, the flow's `SignUp` step (`prompt=create`, OpenID Connect Prompt Create 1.0) or the
//! login page's "Create account" link, for an application with `allow_signup` and only with
//! e-mail configured. `GET /signup?login_request=…` shows the form (email, password, name);
//! `POST /signup` checks the password policy and answers "check your inbox" — the same page
//! whether or not the address has an account, at the same speed: the account lookup, the
//! password hashing and the mail run after the answer. A new address gets an account and a
//! verification link (`verify_email`); an address with an account gets a mail saying so, never
//! a second account. Using the link in this browser signs the new user in and continues the
//! parked authorization request, so the code goes only to whoever holds the mailbox.
//!
//! Limits: sign-ups are counted per client address (the abuse limits' address policy; never per
//! email, which would let anyone block someone else's sign-up), and the mail send limits bound
//! what reaches one mailbox.

use std::net::IpAddr;
use std::sync::LazyLock;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use latch_core::application::Application;
use latch_core::audit::ActorType;
use latch_core::params::Params;
use latch_core::store::StoreError;
use tokio::sync::Semaphore;

use crate::http::client_ip::ClientIp;
use crate::jobs::audit::Event;
use crate::mail::Mail;
use crate::manage::{self, NewUser};
use crate::oauth::flow::{self, Parked};
use crate::pages::{self, Theme};
use crate::signin::session;
use crate::state::AppState;

/// Sign-ups being registered at once on this node; more are dropped (and logged), like
/// password-reset requests: the answer is the same.
const IN_FLIGHT: usize = 16;
static WORKERS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(IN_FLIGHT));

const EXPIRED: &str = "This page has expired. Go back to the application and sign in again.";
const UNAVAILABLE: &str = "This application does not offer sign-up. Go back to the application.";

#[derive(Template)]
#[template(path = "signup.html")]
struct SignUpPage<'a> {
    theme: &'a Theme,
    title: &'a str,
    application: Option<&'a str>,
    action: &'a str,
    login: &'a str,
    login_request: &'a str,
    email: &'a str,
    name: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "mail/account_exists.txt")]
struct ExistsText<'a> {
    name: &'a str,
    email: &'a str,
}

#[derive(Template)]
#[template(path = "mail/account_exists.html")]
struct ExistsHtml<'a> {
    name: &'a str,
    email: &'a str,
}

/// What the form posted (or shows again).
struct Form<'a> {
    id: &'a str,
    email: &'a str,
    password: &'a str,
    name: &'a str,
}

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let id = params.get("login_request").ok().flatten().unwrap_or("");
    let result = match offered(&state, &headers, id).await {
        Ok(Some((_, app))) => {
            let empty = Form {
                id,
                email: "",
                password: "",
                name: "",
            };
            Ok(form(&state, &app, &empty, None))
        }
        Ok(None) => Ok(refused(&state, id)),
        Err(e) => Err(e),
    };
    handled(&state, result)
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
    let posted = Form {
        id: field("login_request"),
        email: field("email").trim(),
        password: field("password"),
        name: field("name").trim(),
    };
    handled(&state, sign_up(&state, &headers, ip, &posted).await)
}

async fn sign_up(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    posted: &Form<'_>,
) -> Result<Response, StoreError> {
    let Some((_, app)) = offered(state, headers, posted.id).await? else {
        return Ok(refused(state, posted.id));
    };
    if let Some(wait) = counted(state, ip).await? {
        return Ok(limited(state, wait));
    }
    let problem = latch_core::user::validate_email(posted.email)
        .err()
        .map(|_| "Enter a valid email address.".to_owned())
        .or_else(|| {
            latch_core::user::validate_password(posted.password)
                .err()
                .map(|e| format!("The password {}.", e.reason))
        })
        .or_else(|| {
            let name = (!posted.name.is_empty()).then(|| posted.name.to_owned());
            latch_core::user::validate_profile_field("name", &name)
                .err()
                .map(|e| format!("The name {}.", e.reason))
        });
    if let Some(problem) = problem {
        return Ok(form(state, &app, posted, Some(&problem)));
    }
    // Off the request: the answer takes the same time whether or not the address has an account.
    match WORKERS.try_acquire() {
        Ok(permit) => {
            permit.forget();
            let state = state.clone();
            let (id, email, password, name) = (
                posted.id.to_owned(),
                posted.email.to_owned(),
                posted.password.to_owned(),
                posted.name.to_owned(),
            );
            tokio::spawn(async move {
                let new = Registration {
                    id: &id,
                    email: &email,
                    password,
                    name: (!name.is_empty()).then_some(name),
                    ip,
                };
                if let Err(e) = register(&state, new).await {
                    crate::http::error::internal(&e);
                }
                WORKERS.add_permits(1);
            });
        }
        Err(_) => tracing::warn!("a sign-up was dropped: too many at once"),
    }
    Ok(pages::message(
        &state.theme,
        "Check your inbox",
        &format!(
            "We sent a message to {}. Open the link in it on this device to finish creating your \
             account; it works once, for 24 hours. Nothing arrived? Check the spam folder.",
            posted.email
        ),
    ))
}

/// A sign-up, as the background task registers it.
struct Registration<'a> {
    id: &'a str,
    email: &'a str,
    password: String,
    name: Option<String>,
    ip: Option<IpAddr>,
}

/// Creates the account and mails its verification link — or, when the address has an account,
/// mails it word of the attempt instead. Audited either way.
async fn register(state: &AppState, new: Registration<'_>) -> Result<(), StoreError> {
    let now = state.clock.now();
    if let Some((existing, _)) = state.store.get_user_by_email(new.email).await? {
        let queued = mail_exists(state, &existing.email).await?;
        let event = Event::new("signup.existing_address")
            .actor(ActorType::User, None)
            .user(Some(&existing.id))
            .ip(new.ip)
            .detail("queued", queued);
        state.audit.record(event, now);
        return Ok(());
    }
    let user = NewUser {
        email: new.email.to_owned(),
        password: new.password,
        email_verified: false,
        name: new.name,
        given_name: None,
        family_name: None,
        external_id: None,
        metadata: None,
        admin: false,
    };
    let store = state.store.as_ref();
    let user = match manage::create_user(store, &state.passwords, user, now).await {
        Ok(user) => user,
        // Created meanwhile by a racing sign-up of the same address: that one mails it.
        Err(manage::ManageError::Conflict { .. }) => return Ok(()),
        Err(e) => return Err(StoreError::Other(e.to_string().into())),
    };
    let event = Event::new("signup.completed")
        .actor(ActorType::User, Some(&user.id))
        .user(Some(&user.id))
        .ip(new.ip);
    state.audit.record(event, now);
    let actor = (ActorType::User, Some(user.id.as_str()));
    crate::signin::verify_email::send(state, &user, Some(new.id), actor).await?;
    Ok(())
}

/// Queues "you already have an account" to `to`, within the send limits.
async fn mail_exists(state: &AppState, to: &str) -> Result<bool, StoreError> {
    let name = state.settings.branding.name.as_str();
    let render = || -> Result<Mail, askama::Error> {
        Ok(Mail {
            to: to.to_owned(),
            subject: format!("You already have a {name} account"),
            text: ExistsText { name, email: to }.render()?,
            html: ExistsHtml { name, email: to }.render()?,
        })
    };
    let mail = render()
        .map_err(|e| StoreError::Other(format!("a sign-up mail did not render: {e}").into()))?;
    let now = state.clock.now();
    let queued = crate::mail::enqueue(state.store.as_ref(), &state.mail_key, &mail, now).await?;
    if queued {
        crate::mail::worker::wake();
    }
    Ok(queued)
}

/// The parked request `id` of this browser and its application, when that application allows
/// sign-up and e-mail is configured.
async fn offered(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
) -> Result<Option<(Parked, std::sync::Arc<Application>)>, StoreError> {
    let Some(binding) = session::login_binding(state, headers) else {
        return Ok(None);
    };
    let Some(parked) = flow::parked(state, id, &binding).await? else {
        return Ok(None);
    };
    let Some(app) = parked.application(state).await? else {
        return Ok(None);
    };
    Ok((app.allow_signup && state.mail_enabled()).then_some((parked, app)))
}

/// Counts this sign-up against the client address; the seconds to wait if the address is over
/// its limit.
async fn counted(state: &AppState, ip: Option<IpAddr>) -> Result<Option<i64>, StoreError> {
    let Some(ip) = ip else {
        return Ok(None);
    };
    let key = format!("signup:{}", crate::signin::throttle::counted_address(ip));
    let now = state.clock.now();
    if let Some(wait) = state
        .store
        .get_throttle(&key)
        .await?
        .and_then(|s| s.retry_after(now))
    {
        return Ok(Some(wait));
    }
    let policy = &state.settings.address_policy;
    state.store.record_failure(&key, now, policy).await?;
    Ok(None)
}

fn form(state: &AppState, app: &Application, posted: &Form<'_>, error: Option<&str>) -> Response {
    let issuer = &state.settings.issuer;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("login_request", posted.id)
        .finish();
    let page = SignUpPage {
        theme: &state.theme,
        title: "Create your account",
        application: Some(&app.name),
        action: &format!("{issuer}/signup"),
        login: &format!("{issuer}/login?{query}"),
        login_request: posted.id,
        email: posted.email,
        name: posted.name,
        error,
    };
    state.theme.render(StatusCode::OK, &page)
}

fn refused(state: &AppState, id: &str) -> Response {
    let message = if id.is_empty() { EXPIRED } else { UNAVAILABLE };
    pages::error(&state.theme, StatusCode::BAD_REQUEST, message)
}

/// README "Abuse limits": 429 with `Retry-After`, as a page.
fn limited(state: &AppState, wait: i64) -> Response {
    let mut response = pages::error(
        &state.theme,
        StatusCode::TOO_MANY_REQUESTS,
        &format!(
            "Too many sign-ups from your network. Try again in {} minute(s).",
            (wait + 59) / 60
        ),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait.max(1)));
    response
}

fn handled(state: &AppState, result: Result<Response, StoreError>) -> Response {
    pages::or_internal_error(&state.theme, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "<script>alert(\"x\")</script>' onmouseover='y' & \"z";

    #[test]
    fn the_account_exists_mail_escapes_its_html() {
        let html = ExistsHtml {
            name: HOSTILE,
            email: HOSTILE,
        }
        .render()
        .unwrap();
        assert!(
            !html.contains("<script") && !html.contains("' onmouseover"),
            "{html}"
        );
        let text = ExistsText {
            name: HOSTILE,
            email: HOSTILE,
        }
        .render()
        .unwrap();
        assert!(text.contains(HOSTILE), "plain text is not escaped: {text}");
    }
}
