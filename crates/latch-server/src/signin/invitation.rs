//! The hosted invitation pages. `GET /invitations/accept?token=…` shows where the user is invited
//! and a form; `POST /invitations/accept` signs the invited user in (or up, when no account has
//! that email), makes them a member with the invitation's roles and opens a session, then sends
//! them to the invitation's application (its initiate-login URL, OIDC Core §4) when it has one.
//! The link works once, for its email, until it expires.

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use latch_core::Secret;
use latch_core::authn::Amr;
use latch_core::organization::{Invitation, Organization};
use latch_core::params::Params;
use latch_core::store::StoreError;
use latch_core::user::{User, normalize_email};

use crate::http::client_ip::ClientIp;
use crate::manage::{self, NewUser};
use crate::oauth::flow;
use crate::pages::{self, InvitationForm};
use crate::signin::login::{Credentials, Signer, check_credentials, locked_page, open_session};
use crate::signin::session;
use crate::state::AppState;

const INVALID: &str = "This invitation link is invalid, was used already, or has expired.";
/// Double-submit cookie: the form must be posted from a page this browser loaded (login CSRF).
const BINDING: &str = "latch_invitation";
const BINDING_TTL: i64 = 1800;

/// What the form posted.
struct Acceptance<'a> {
    token: &'a str,
    binding: &'a str,
    email: &'a str,
    password: &'a str,
}

pub async fn get(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let token = params.get("token").ok().flatten().unwrap_or("");
    match pending(&state, token).await {
        Ok(Some((invitation, org))) => {
            let binding = Secret::generate();
            let page = Form {
                token,
                binding: binding.expose_secret(),
                org: &org,
                email: &invitation.email,
                error: None,
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

pub async fn post(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = crate::oauth::form_params(&headers, &body).unwrap_or_default();
    let field = |name: &str| params.get(name).ok().flatten().unwrap_or("");
    let acceptance = Acceptance {
        token: field("token"),
        binding: field("binding"),
        email: field("email"),
        password: field("password"),
    };
    match accept(&state, &headers, ip, &acceptance).await {
        Ok(response) => response,
        Err(e) => failure(&state, &e),
    }
}

/// The invitation of `token` and its organization, if it is unaccepted and unexpired.
async fn pending(
    state: &AppState,
    token: &str,
) -> Result<Option<(Invitation, Organization)>, StoreError> {
    let Some(token) = Secret::parse(token) else {
        return Ok(None);
    };
    let now = state.clock.now();
    let invitation = state.store.get_invitation_by_token(&token.hash()).await?;
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

async fn accept(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    a: &Acceptance<'_>,
) -> Result<Response, StoreError> {
    let Some((invitation, org)) = bound_invitation(state, headers, a).await? else {
        return Ok(invalid(state));
    };
    let again = |status, error: &str| {
        let page = Form {
            token: a.token,
            binding: a.binding,
            org: &org,
            email: a.email,
            error: Some(error),
        };
        Ok(form(state, status, &page))
    };
    if normalize_email(a.email) != normalize_email(&invitation.email) {
        return again(
            StatusCode::FORBIDDEN,
            "This invitation is for another email address.",
        );
    }
    let user = match invited_user(state, headers, ip, a).await? {
        Ok(user) => user,
        Err(Refusal::Retry(reason)) => return again(StatusCode::OK, &reason),
        Err(Refusal::Locked(wait)) => return Ok(locked_page(state, wait)),
    };
    let now = state.clock.now();
    let hash = invitation.token_hash.clone();
    // The take: single use, for this email, unexpired (checked again, atomically).
    if state
        .store
        .accept_invitation(&hash, a.email, &user.id, now)
        .await?
        .is_none()
    {
        return Ok(invalid(state));
    }
    tracing::info!(user_id = %user.id, organization_id = %org.id, "invitation accepted");
    let landing = initiate_login_url(state, &invitation).await?;
    welcome(state, headers, ip, &user.id, &org, landing).await
}

/// OIDC Core §4 (third-party-initiated login): the invitation's application's initiate-login URL
/// with `iss` and `login_hint`, if it names an application that registered one.
async fn initiate_login_url(
    state: &AppState,
    invitation: &Invitation,
) -> Result<Option<url::Url>, StoreError> {
    let Some(client_id) = invitation.client_id.as_deref() else {
        return Ok(None);
    };
    let app = state
        .applications
        .by_client_id(state.store.as_ref(), client_id)
        .await?;
    let Some(mut url) = app
        .and_then(|a| a.redirects.initiate_login.clone())
        .and_then(|u| url::Url::parse(&u).ok())
    else {
        return Ok(None);
    };
    url.query_pairs_mut()
        .append_pair("iss", &state.settings.issuer)
        .append_pair("login_hint", &invitation.email);
    Ok(Some(url))
}

/// The pending invitation of the posted token, if the form came from a page of this browser.
async fn bound_invitation(
    state: &AppState,
    headers: &HeaderMap,
    a: &Acceptance<'_>,
) -> Result<Option<(Invitation, Organization)>, StoreError> {
    let cookie = session::read_cookie(headers, &session::cookie_name(state, BINDING));
    let bound = cookie
        .and_then(Secret::parse)
        .zip(Secret::parse(a.binding))
        .is_some_and(|(cookie, posted)| cookie.hash().matches(&posted.hash()));
    if !bound {
        return Ok(None);
    }
    pending(state, a.token).await
}

enum Refusal {
    /// Show the form again with this reason.
    Retry(String),
    Locked(i64),
}

/// The account of the invited email, signed in with its password, or created with it.
async fn invited_user(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    a: &Acceptance<'_>,
) -> Result<Result<User, Refusal>, StoreError> {
    if state.store.get_user_by_email(a.email).await?.is_none() {
        return Ok(sign_up(state, a).await.map_err(Refusal::Retry));
    }
    Ok(
        match check_credentials(state, headers, a.email, a.password, ip).await? {
            Credentials::Valid(user) => Ok(user),
            Credentials::Wrong => Err(Refusal::Retry("The password is incorrect.".to_owned())),
            Credentials::Locked(wait) => Err(Refusal::Locked(wait)),
        },
    )
}

/// Opens the member's session, then sends them to the application's initiate-login URL (`landing`)
/// or, without one, says where they now belong.
async fn welcome(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    user_id: &str,
    org: &Organization,
    landing: Option<url::Url>,
) -> Result<Response, StoreError> {
    let signer = Signer {
        user_id,
        client_id: None,
        amr: Amr::PASSWORD,
    };
    let (cookie, _) = open_session(state, headers, ip, signer).await?;
    let label = org.display_name.as_deref().unwrap_or(&org.name);
    let text = format!("You are now a member of {label}. You can return to the application.");
    let theme = &state.theme;
    let mut response = match landing {
        Some(url) => flow::found(url.as_str()),
        None => pages::message(theme, "Invitation accepted", &text),
    };
    flow::signed_in_cookies(state, headers, &mut response, &cookie, user_id, BINDING);
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
    token: &'a str,
    binding: &'a str,
    org: &'a Organization,
    email: &'a str,
    error: Option<&'a str>,
}

fn form(state: &AppState, status: StatusCode, f: &Form<'_>) -> Response {
    pages::invitation(
        &state.theme,
        status,
        &InvitationForm {
            organization: f.org.display_name.as_deref().unwrap_or(&f.org.name),
            action: &format!("{}/invitations/accept", state.settings.issuer),
            token: f.token,
            binding: f.binding,
            email: f.email,
            error: f.error,
        },
    )
}

fn invalid(state: &AppState) -> Response {
    pages::error(&state.theme, StatusCode::BAD_REQUEST, INVALID)
}

fn failure(state: &AppState, e: &StoreError) -> Response {
    crate::http::error::internal(e);
    let theme = &state.theme;
    pages::error(
        theme,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong; please try again.",
    )
}
