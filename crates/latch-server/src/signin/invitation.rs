//! The hosted invitation pages. `GET /invitations/accept?token=…` shows where the user is invited
//! and a form; `POST /invitations/accept` signs the invited user in (or up, when no account has
//! that email), makes them a member with the invitation's roles and opens a session, then sends
//! them to the invitation's application (its initiate-login URL, OIDC Core §4) when it has one.
//! The link works once, for its email, until it expires.
//!
//! When the invitation's application has an initiate-login URL, the link goes there instead
//! (`manage::create_invitation`) and the application forwards `invitation` and `organization` to
//! `/oauth/authorize` (Auth0's model): the same form is then the flow's invitation step
//! (`step`, posted here with `login_request` instead of `token`), and once the invitation is
//! accepted the parked request ends with a code for the organization.

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use latch_core::application::Application;
use latch_core::authn::Amr;
use latch_core::organization::{Invitation, Organization};
use latch_core::params::Params;
use latch_core::store::StoreError;
use latch_core::user::{User, normalize_email};
use latch_core::{OAuthError, Secret, SecretHash};

use crate::http::client_ip::ClientIp;
use crate::manage::{self, NewUser};
use crate::oauth::flow;
use crate::pages::{self, InvitationForm};
use crate::signin::login::{
    self, Credentials, Signer, check_credentials, locked_page, open_session,
};
use crate::signin::session;
use crate::state::AppState;

const INVALID: &str = "This invitation link is invalid, was used already, or has expired.";
/// Double-submit cookie: the form must be posted from a page this browser loaded (login CSRF).
const BINDING: &str = "latch_invitation";
const BINDING_TTL: i64 = 1800;

/// What the form posted: its hidden fields (shown again with an error), email and password;
/// on the authorization step, the parked request's id and its application's name (the way back).
struct Acceptance<'a> {
    hidden: Vec<(&'static str, &'a str)>,
    email: &'a str,
    password: &'a str,
    back: Option<(&'a str, &'a str)>,
}

pub async fn get(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let token = params.get("token").ok().flatten().unwrap_or("");
    let found = match Secret::parse(token) {
        Some(token) => pending(&state, &token.hash()).await,
        None => Ok(None),
    };
    match found {
        Ok(Some((invitation, org))) => {
            let binding = Secret::generate();
            let page = Form {
                hidden: &[("token", token), ("binding", binding.expose_secret())],
                org: &org,
                email: &invitation.email,
                error: None,
                back: None,
            };
            let mut response = form(&state, StatusCode::OK, &page);
            let cookie = session::set_cookie(&state, BINDING, binding.expose_secret(), BINDING_TTL);
            if let Some(c) = cookie {
                response.headers_mut().append(header::SET_COOKIE, c);
            }
            response
        }
        Ok(None) => invalid(&state),
        Err(e) => failure(&state, &e),
    }
}

/// The authorization flow's invitation step (`latch_core::flow::Step::AcceptInvitation`): the
/// same form, for the parked request `login_request`, with a way back to `application` (the
/// login page's decline link, `signin::decline`).
pub(crate) fn step(
    state: &AppState,
    login_request: &str,
    application: &str,
    org: &Organization,
    email: &str,
) -> Response {
    let page = Form {
        hidden: &[("login_request", login_request)],
        org,
        email,
        error: None,
        back: Some((login_request, application)),
    };
    form(state, StatusCode::OK, &page)
}

pub async fn post(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = crate::oauth::form_params(&headers, &body).unwrap_or_default();
    let field = |name: &str| params.get(name).ok().flatten().unwrap_or("");
    let (email, password) = (field("email"), field("password"));
    let result = match field("login_request") {
        "" => {
            let (token, binding) = (field("token"), field("binding"));
            let a = Acceptance {
                hidden: vec![("token", token), ("binding", binding)],
                email,
                password,
                back: None,
            };
            by_link(&state, &headers, ip, &a, token, binding).await
        }
        id => by_request(&state, &headers, ip, id, (email, password)).await,
    };
    result.unwrap_or_else(|e| failure(&state, &e))
}

/// The invitation whose ticket hashes to `ticket`, and its organization, if it is unaccepted and
/// unexpired.
pub(crate) async fn pending(
    state: &AppState,
    ticket: &SecretHash,
) -> Result<Option<(Invitation, Organization)>, StoreError> {
    let now = state.clock.now();
    let invitation = state.store.get_invitation_by_token(ticket).await?;
    let Some(invitation) = invitation.filter(|i| i.accepted_at.is_none() && i.expires_at > now)
    else {
        return Ok(None);
    };
    let org = state
        .store
        .get_organization(&invitation.organization_id)
        .await?;
    Ok(org.map(|org| (invitation, org)))
}

/// The hosted link: the member's session opened, then on to the application's initiate-login URL.
async fn by_link(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    a: &Acceptance<'_>,
    token: &str,
    binding: &str,
) -> Result<Response, StoreError> {
    let Some((invitation, org)) = bound_invitation(state, headers, token, binding).await? else {
        return Ok(invalid(state));
    };
    let user = match invited_user(state, headers, ip, a, &invitation, &org).await? {
        Ok(user) => user,
        Err(page) => return Ok(page),
    };
    if !accept(state, &invitation, a.email, &user, &org).await? {
        return Ok(invalid(state));
    }
    let app = application(state, &invitation).await?;
    welcome(state, headers, ip, &user, &org, app.as_deref()).await
}

/// The authorization flow's step: the invitation accepted, the parked request goes on as one for
/// its organization and ends with a code (Auth0's `invitation` at authorize).
async fn by_request(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    id: &str,
    (email, password): (&str, &str),
) -> Result<Response, StoreError> {
    let parked = login::pending(state, headers, id).await?;
    let Some((mut parked, ticket)) =
        parked.and_then(|p| p.request.invitation.clone().map(|t| (p, t)))
    else {
        return Ok(pages::error(
            &state.theme,
            StatusCode::BAD_REQUEST,
            login::EXPIRED,
        ));
    };
    let invalid_ticket = OAuthError::invalid_request(latch_core::flow::INVALID_INVITATION);
    let Some((invitation, org)) = pending(state, &ticket).await? else {
        return Ok(flow::refuse(state, &parked.request, &invalid_ticket));
    };
    let Some(app) = parked.application(state).await? else {
        return Ok(login::gone(state));
    };
    let a = Acceptance {
        hidden: vec![("login_request", id)],
        email,
        password,
        back: Some((id, &app.name)),
    };
    let user = match invited_user(state, headers, ip, &a, &invitation, &org).await? {
        Ok(user) => user,
        Err(page) => return Ok(page),
    };
    if !accept(state, &invitation, email, &user, &org).await? {
        return Ok(flow::refuse(state, &parked.request, &invalid_ticket));
    }
    // Accepted: from here the request is one for the organization, by id
    // (`latch_core::flow::decide_invitation`).
    parked.request.invitation = None;
    parked.request.organization = Some(org.id.clone());
    login::signed_in(state, headers, ip, parked, &app, &user.id).await
}

/// The take: single use, for this email, unexpired (checked again, atomically); `false` when it
/// failed.
async fn accept(
    state: &AppState,
    invitation: &Invitation,
    email: &str,
    user: &User,
    org: &Organization,
) -> Result<bool, StoreError> {
    let now = state.clock.now();
    let hash = &invitation.token_hash;
    let accepted = state
        .store
        .accept_invitation(hash, email, &user.id, now)
        .await?;
    if accepted.is_some() {
        tracing::info!(user_id = %user.id, organization_id = %org.id, "invitation accepted");
    }
    Ok(accepted.is_some())
}

/// The invitation's application (if it names one that still exists).
async fn application(
    state: &AppState,
    invitation: &Invitation,
) -> Result<Option<Arc<Application>>, StoreError> {
    match invitation.client_id.as_deref() {
        Some(client_id) => {
            let store = state.store.as_ref();
            state.applications.by_client_id(store, client_id).await
        }
        None => Ok(None),
    }
}

/// OIDC Core §4 (third-party-initiated login): the application's initiate-login URL with `iss`
/// and `login_hint`, if it registered one.
fn initiate_login_url(state: &AppState, app: &Application, email: &str) -> Option<url::Url> {
    let mut url = url::Url::parse(app.redirects.initiate_login.as_deref()?).ok()?;
    url.query_pairs_mut()
        .append_pair("iss", &state.settings.issuer)
        .append_pair("login_hint", email);
    Some(url)
}

/// The pending invitation of the posted token, if the form came from a page of this browser.
async fn bound_invitation(
    state: &AppState,
    headers: &HeaderMap,
    token: &str,
    binding: &str,
) -> Result<Option<(Invitation, Organization)>, StoreError> {
    let cookie = session::read_cookie(headers, &session::cookie_name(state, BINDING));
    let bound = cookie
        .and_then(Secret::parse)
        .zip(Secret::parse(binding))
        .is_some_and(|(cookie, posted)| cookie.hash().matches(&posted.hash()));
    let Some(token) = Secret::parse(token).filter(|_| bound) else {
        return Ok(None);
    };
    pending(state, &token.hash()).await
}

/// The account of the invited email, signed in with its password or created with it; else the
/// page to show (the form again with the reason, or the abuse limits' lock).
async fn invited_user(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    a: &Acceptance<'_>,
    invitation: &Invitation,
    org: &Organization,
) -> Result<Result<User, Response>, StoreError> {
    let again = |status, error: &str| {
        let page = Form {
            hidden: &a.hidden,
            org,
            email: a.email,
            error: Some(error),
            back: a.back,
        };
        form(state, status, &page)
    };
    if normalize_email(a.email) != normalize_email(&invitation.email) {
        let error = "This invitation is for another email address.";
        return Ok(Err(again(StatusCode::FORBIDDEN, error)));
    }
    if state.store.get_user_by_email(a.email).await?.is_none() {
        return Ok(sign_up(state, a)
            .await
            .map_err(|reason| again(StatusCode::OK, &reason)));
    }
    Ok(
        match check_credentials(state, headers, a.email, a.password, ip).await? {
            Credentials::Valid(user) => Ok(user),
            Credentials::Wrong => Err(again(StatusCode::OK, "The password is incorrect.")),
            Credentials::Locked(wait) => Err(locked_page(state, wait)),
        },
    )
}

/// Opens the member's session, then sends them to the application's initiate-login URL or,
/// without one, says where they now belong and which application to go back to.
async fn welcome(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    user: &User,
    org: &Organization,
    app: Option<&Application>,
) -> Result<Response, StoreError> {
    let signer = Signer {
        user_id: &user.id,
        client_id: None,
        amr: Amr::PASSWORD,
    };
    let (cookie, _) = open_session(state, headers, ip, signer).await?;
    let landing = app.and_then(|a| initiate_login_url(state, a, &user.email));
    let label = org.display_name.as_deref().unwrap_or(&org.name);
    let back = app.map_or("the application", |a| a.name.as_str());
    let text = format!("You are now a member of {label}. You can return to {back}.");
    let theme = &state.theme;
    let mut response = match landing {
        Some(url) => flow::found(url.as_str()),
        None => pages::message(theme, "Invitation accepted", &text),
    };
    flow::signed_in_cookies(state, headers, &mut response, &cookie, &user.id, BINDING);
    Ok(response)
}

/// Creates the invited user with the password chosen; the reason of a refusal is shown.
async fn sign_up(state: &AppState, a: &Acceptance<'_>) -> Result<User, String> {
    let new = NewUser {
        email: a.email.trim().to_owned(),
        password: a.password.to_owned(),
        email_verified: false,
        name: None,
        given_name: None,
        family_name: None,
        external_id: None,
        metadata: None,
        admin: false,
    };
    manage::create_user(
        state.store.as_ref(),
        &state.passwords,
        new,
        state.clock.now(),
    )
    .await
    .map_err(|e| match e {
        // The store's own words stay in the log.
        manage::ManageError::Store(e) => {
            crate::http::error::internal(&e);
            "internal error".to_owned()
        }
        refused => refused.to_string(),
    })
}

struct Form<'a> {
    hidden: &'a [(&'a str, &'a str)],
    org: &'a Organization,
    email: &'a str,
    error: Option<&'a str>,
    /// The parked request's id and its application's name.
    back: Option<(&'a str, &'a str)>,
}

fn form(state: &AppState, status: StatusCode, f: &Form<'_>) -> Response {
    let issuer = &state.settings.issuer;
    let decline = f.back.map(|(id, application)| {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("login_request", id)
            .finish();
        (format!("{issuer}/login/decline?{query}"), application)
    });
    pages::invitation(
        &state.theme,
        status,
        &InvitationForm {
            organization: f.org.display_name.as_deref().unwrap_or(&f.org.name),
            action: &format!("{}/invitations/accept", state.settings.issuer),
            hidden: f.hidden,
            email: f.email,
            error: f.error,
            decline: decline.as_ref().map(|(href, app)| (href.as_str(), *app)),
        },
    )
}

fn invalid(state: &AppState) -> Response {
    pages::error(&state.theme, StatusCode::BAD_REQUEST, INVALID)
}

fn failure(state: &AppState, e: &StoreError) -> Response {
    pages::internal_error(&state.theme, e)
}
