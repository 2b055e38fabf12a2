//! Organizations at sign-in. `organization=` (an id or a name) must name an organization the user
//! belongs to, else the client gets `access_denied`. Without it, a member of one organization
//! signs in to it and a member of several picks one on a hosted page (`POST /login/organization`);
//! a user in none signs in without one.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latch_core::application::Application;
use latch_core::authorize::{AuthorizationRequest, Prompt};
use latch_core::organization::{ORGANIZATION_ID_PREFIX, Organization};
use latch_core::store::{LoginRequestRecord, SessionRecord, StoreError};
use latch_core::{ErrorCode, OAuthError, Secret, SecretHash};

use super::authorize::{LOGIN_REQUEST_TTL, error_redirect, issue_code};
use crate::pages::{self, Picker};
use crate::session;
use crate::state::AppState;

/// The picker lists at most this many organizations.
const MAX_LISTED: u32 = 100;
const EXPIRED: &str =
    "This sign-in page has expired. Go back to the application and sign in again.";

enum Choice {
    NoOrganization,
    Chosen(Organization),
    NotAMember,
    Pick(Vec<Organization>),
}

/// Hash of the browser's session cookie: binds a pending pick to the session that will use it.
pub fn session_cookie_hash(state: &AppState, headers: &HeaderMap) -> Option<SecretHash> {
    session::read_cookie(headers, &session::cookie_name(state, session::SESSION))
        .and_then(Secret::parse)
        .map(|s| s.hash())
}

async fn choose(
    state: &AppState,
    request: &AuthorizationRequest,
    user_id: &str,
) -> Result<Choice, StoreError> {
    let store = state.store.as_ref();
    let Some(key) = &request.organization else {
        let mut orgs = store.list_user_organizations(user_id, MAX_LISTED).await?;
        return Ok(match orgs.len() {
            0 => Choice::NoOrganization,
            1 => Choice::Chosen(orgs.remove(0)),
            _ => Choice::Pick(orgs),
        });
    };
    let org = if key.starts_with(ORGANIZATION_ID_PREFIX) {
        store.get_organization(key).await?
    } else {
        store.get_organization_by_name(key).await?
    };
    Ok(match org {
        Some(org) if store.get_membership(&org.id, user_id).await?.is_some() => Choice::Chosen(org),
        // An unknown organization gets the same answer: nothing is revealed about which exist.
        _ => Choice::NotAMember,
    })
}

/// Finishes a request for a signed-in browser: settles the organization, then issues the code,
/// asks the user to pick, or refuses.
pub async fn complete(
    state: &AppState,
    app: &Arc<Application>,
    request: &AuthorizationRequest,
    session: &SessionRecord,
    session_cookie: &SecretHash,
) -> Result<Response, StoreError> {
    let refuse = |code: ErrorCode, description: &str| {
        let error = OAuthError::new(code, description);
        error_redirect(
            state,
            &request.redirect_uri,
            request.state.as_deref(),
            &error,
        )
    };
    match choose(state, request, &session.user_id).await? {
        Choice::NoOrganization => issue_code(state, app, request, session, None).await,
        Choice::Chosen(org) => issue_code(state, app, request, session, Some(&org.id)).await,
        Choice::NotAMember => Ok(refuse(
            ErrorCode::AccessDenied,
            "the user is not a member of this organization",
        )),
        // OIDC Core §3.1.2.1: prompt=none must not show a page.
        Choice::Pick(_) if request.prompt == Prompt::None => Ok(refuse(
            ErrorCode::InteractionRequired,
            "the user must choose an organization",
        )),
        Choice::Pick(orgs) => picker(state, request, &orgs, session_cookie).await,
    }
}

/// Keeps the request server side (bound to the session cookie) and shows one button per
/// organization.
async fn picker(
    state: &AppState,
    request: &AuthorizationRequest,
    orgs: &[Organization],
    session_cookie: &SecretHash,
) -> Result<Response, StoreError> {
    let now = state.clock.now();
    let id = Secret::generate();
    let serialized =
        serde_json::to_string(request).map_err(|e| StoreError::other(e.to_string(), e))?;
    state
        .store
        .insert_login_request(&LoginRequestRecord {
            id: id.hash().as_str().to_owned(),
            browser_binding: session_cookie.clone(),
            request: serialized,
            created_at: now,
            expires_at: now + LOGIN_REQUEST_TTL,
        })
        .await?;
    let organizations: Vec<(&str, &str)> = orgs
        .iter()
        .map(|o| (o.id.as_str(), o.display_name.as_deref().unwrap_or(&o.name)))
        .collect();
    let app = state
        .applications
        .by_client_id(state.store.as_ref(), &request.client_id)
        .await?;
    Ok(pages::organization_picker(
        &state.theme,
        &Picker {
            application: app.as_deref().map(|a| a.name.as_str()),
            action: &format!("{}/login/organization", state.settings.issuer),
            login_request: id.expose_secret(),
            organizations: &organizations,
        },
    ))
}

/// `POST /login/organization`: the pick; membership is checked again by `complete`.
pub async fn pick(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let params = super::form_params(&headers, &body).unwrap_or_default();
    let field = |name: &str| params.get(name).ok().flatten().unwrap_or("").to_owned();
    match picked(
        &state,
        &headers,
        &field("login_request"),
        field("organization"),
    )
    .await
    {
        Ok(response) => response,
        Err(e) => {
            crate::error::internal(&e);
            let theme = &state.theme;
            let text = "Something went wrong; please try again.";
            pages::error(theme, StatusCode::INTERNAL_SERVER_ERROR, text)
        }
    }
}

async fn picked(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    organization: String,
) -> Result<Response, StoreError> {
    let expired = || pages::error(&state.theme, StatusCode::BAD_REQUEST, EXPIRED);
    let (Some(id), Some(cookie)) = (Secret::parse(id), session_cookie_hash(state, headers)) else {
        return Ok(expired());
    };
    let Some(session) = session::current(state, headers).await? else {
        return Ok(expired());
    };
    let record = state.store.get_login_request(id.hash().as_str()).await?;
    let now = state.clock.now();
    let Some(record) = record.filter(|r| r.expires_at > now && r.browser_binding.matches(&cookie))
    else {
        return Ok(expired());
    };
    // Resumed once: of two picks racing on one parked request, one completes it.
    if state
        .store
        .take_login_request(&record.id, now)
        .await?
        .is_none()
    {
        return Ok(expired());
    }
    let Ok(mut request) = serde_json::from_str::<AuthorizationRequest>(&record.request) else {
        return Ok(expired());
    };
    request.organization = Some(organization).filter(|o| !o.is_empty());
    let store = state.store.as_ref();
    let Some(app) = state
        .applications
        .by_client_id(store, &request.client_id)
        .await?
    else {
        return Ok(expired());
    };
    complete(state, &app, &request, &session, &cookie).await
}
