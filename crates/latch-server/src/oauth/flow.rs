//! The authorization flow, in one place: it reads what `latch_core::flow::decide` needs, acts on
//! its `AuthorizeOutcome` (issue a code, park the request and ask, refuse), resumes a parked
//! request, and builds every redirect to the client (RFC 6749 §4.1.2 and §4.1.2.1, `state`,
//! RFC 9207's `iss`; `response_mode=query`, the only mode `latch_core::authorize` accepts).
//!
//! Its callers: `oauth/authorize.rs` (a new request: `advance`), `login.rs` (the password checked:
//! `parked`, then `resume`), `oauth/organization.rs` (the pick: `parked`, then `resume`) and
//! `invitation.rs` (a new member's session: `signed_in_cookies`, `found`; the invitation step of a
//! request carrying `invitation=`: accepted, then resumed through `login.rs`'s `signed_in`).
//!
//! ## Adding a step
//!
//! A second factor, consent, account recovery or an invitation to accept is one step:
//!
//! 1. a variant of `latch_core::flow::Step` and the rule that chooses it in
//!    `latch_core::flow::decide` (unit-tested there);
//! 2. its arm in `ask` below: `park` the request, bound to a cookie of this browser, and show
//!    the step's page;
//! 3. the page's handler: `parked` finds the request, the step is done, `resume` goes on.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latch_core::application::Application;
use latch_core::authorize::AuthorizationRequest;
use latch_core::flow::{self, AuthorizeOutcome, Memberships, Step};
use latch_core::organization::{ORGANIZATION_ID_PREFIX, Organization};
use latch_core::store::{AuthorizationCodeRecord, LoginRequestRecord, SessionRecord, StoreError};
use latch_core::types::{RedirectUri, State};
use latch_core::{OAuthError, Secret, SecretHash};
use std::sync::Arc;
use url::Url;

use crate::pages::{self, Picker};
use crate::signin::session;
use crate::state::AppState;

/// Authorization codes live 60 seconds (RFC 6749 §4.1.2 recommends at most 10 minutes).
pub const CODE_TTL: i64 = 60;
/// A parked request waits this long for the user.
pub const PARKED_TTL: i64 = 1800;
/// The organization picker lists at most this many organizations.
const MAX_LISTED: u32 = 100;

/// A browser with a live session, and the hash of its session cookie (what a request parked for
/// it is bound to).
pub struct SignedIn {
    pub session: SessionRecord,
    pub cookie: SecretHash,
    /// What was read about the user with the session, so that deciding is not a second read.
    pub known: Known,
}

/// What the session lookup of a new authorization request read besides the session
/// (`SessionStore::get_authorizing_session`); `None`: not read, ask the store.
#[derive(Debug, Default)]
pub struct Known {
    /// Whether the user has a confirmed second factor.
    pub factor_enrolled: Option<bool>,
    /// The user's organizations by name, at most `MAX_LISTED`.
    pub organizations: Option<Vec<Organization>>,
}

/// The hash of the browser's session cookie, if it sent a well-formed one.
fn session_cookie(state: &AppState, headers: &HeaderMap) -> Option<SecretHash> {
    session::read_cookie(headers, &session::cookie_name(state, session::SESSION))
        .and_then(Secret::parse)
        .map(|s| s.hash())
}

/// The browser's live session, if its session cookie names one.
pub async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<SignedIn>, StoreError> {
    let Some(cookie) = session_cookie(state, headers) else {
        return Ok(None);
    };
    let session = state
        .store
        .get_active_session(
            &cookie,
            state.clock.now(),
            state.settings.session_idle_timeout,
        )
        .await?;
    Ok(session.map(|session| SignedIn {
        session,
        cookie,
        known: Known::default(),
    }))
}

/// `signed_in` for a new authorization `request`, with what deciding it needs of the user (a
/// second factor; the organizations when it names none) read in the same statement.
pub async fn signed_in_for(
    state: &AppState,
    headers: &HeaderMap,
    request: &AuthorizationRequest,
) -> Result<Option<SignedIn>, StoreError> {
    let Some(cookie) = session_cookie(state, headers) else {
        return Ok(None);
    };
    let listed = request.invitation.is_none() && request.organization.is_none();
    let found = state
        .store
        .get_authorizing_session(
            &cookie,
            state.clock.now(),
            state.settings.session_idle_timeout,
            listed.then_some(MAX_LISTED),
        )
        .await?;
    Ok(found.map(|a| SignedIn {
        session: a.session,
        cookie,
        known: Known {
            factor_enrolled: Some(a.factor_enrolled),
            organizations: a.organizations,
        },
    }))
}

/// Takes `request` one step on: `signed_in` is the browser's session if it may answer the request
/// (`latch_core::flow::session_usable`, or just opened by the login step).
pub async fn advance(
    state: &AppState,
    app: &Application,
    request: &AuthorizationRequest,
    signed_in: Option<&SignedIn>,
) -> Result<Response, StoreError> {
    if let Some(s) = signed_in
        && let Some(outcome) = missing_factor(state, app, request, s).await?
    {
        return match outcome {
            AuthorizeOutcome::Ask(step) => ask(state, app, request, step, signed_in).await,
            AuthorizeOutcome::Refuse(error) => Ok(refuse(state, request, &error)),
            AuthorizeOutcome::IssueCode { .. } => {
                Ok(refuse(state, request, &OAuthError::server_error()))
            }
        };
    }
    let outcome = match (&request.invitation, signed_in) {
        (Some(ticket), _) => invited(state, request, ticket, signed_in).await?,
        (None, Some(s)) if app.require_verified_email && !email_verified(state, s).await? => {
            flow::decide_unverified(request)
        }
        (None, _) => {
            let memberships = match signed_in {
                Some(s) => Some(memberships(state, request, s).await?),
                None => None,
            };
            flow::decide(request, memberships)
        }
    };
    match (outcome, signed_in) {
        (AuthorizeOutcome::IssueCode { organization_id }, Some(s)) => {
            issue_code(state, app, request, &s.session, organization_id).await
        }
        (AuthorizeOutcome::Refuse(error), _) => Ok(refuse(state, request, &error)),
        (AuthorizeOutcome::Ask(step), _) => ask(state, app, request, step, signed_in).await,
        // `decide` issues only from a session; without one, the user signs in first.
        (AuthorizeOutcome::IssueCode { .. }, None) => {
            ask(state, app, request, Step::Login, None).await
        }
    }
}

/// `decide_invitation` for a request carrying the invitation `ticket` (its hash).
async fn invited(
    state: &AppState,
    request: &AuthorizationRequest,
    ticket: &SecretHash,
    signed_in: Option<&SignedIn>,
) -> Result<AuthorizeOutcome, StoreError> {
    let pending = crate::signin::invitation::pending(state, ticket).await?;
    let user = match signed_in {
        Some(s) => state.store.get_user(&s.session.user_id).await?,
        None => None,
    };
    let pending = pending.as_ref().map(|(i, o)| (i, o));
    let email = user.as_ref().map(|u| u.email.as_str());
    Ok(flow::decide_invitation(request, pending, email))
}

/// Whether the session's user has verified their e-mail address.
async fn email_verified(state: &AppState, signed_in: &SignedIn) -> Result<bool, StoreError> {
    let user = state.store.get_user(&signed_in.session.user_id).await?;
    Ok(user.is_some_and(|u| u.email_verified))
}

/// What the session's sign-in lacks (`latch_core::flow::missing_factor`); the user's factors
/// are read only when the session has a single factor (and were not read with it).
async fn missing_factor(
    state: &AppState,
    app: &Application,
    request: &AuthorizationRequest,
    signed_in: &SignedIn,
) -> Result<Option<AuthorizeOutcome>, StoreError> {
    let session = &signed_in.session;
    if session.amr.is_multi_factor() {
        return Ok(None);
    }
    let enrolled = match signed_in.known.factor_enrolled {
        Some(enrolled) => enrolled,
        None => crate::factors::enrolled(state, &session.user_id).await?,
    };
    let need = flow::FactorNeed {
        enrolled,
        policy: app.mfa,
    };
    Ok(flow::missing_factor(request, session.amr, need))
}

/// What `decide` needs of the user's organizations for this request.
async fn memberships(
    state: &AppState,
    request: &AuthorizationRequest,
    signed_in: &SignedIn,
) -> Result<Memberships, StoreError> {
    let store = state.store.as_ref();
    let user_id = signed_in.session.user_id.as_str();
    let Some(key) = &request.organization else {
        let orgs = match &signed_in.known.organizations {
            Some(orgs) => orgs.clone(),
            None => store.list_user_organizations(user_id, MAX_LISTED).await?,
        };
        return Ok(Memberships::Listed(orgs));
    };
    let org = if key.starts_with(ORGANIZATION_ID_PREFIX) {
        store.get_organization(key).await?
    } else {
        store.get_organization_by_name(key).await?
    };
    Ok(Memberships::Named(match org {
        Some(org) if store.get_membership(&org.id, user_id).await?.is_some() => Some(org),
        _ => None,
    }))
}

/// Parks the request and shows the page of `step`.
async fn ask(
    state: &AppState,
    app: &Application,
    request: &AuthorizationRequest,
    step: Step,
    signed_in: Option<&SignedIn>,
) -> Result<Response, StoreError> {
    match (step, signed_in) {
        // Bound to the session that will use the pick.
        (Step::PickOrganization(orgs), Some(s)) => {
            let id = park(state, request, &s.cookie).await?;
            Ok(picker(state, app, &id, &orgs))
        }
        // Bound to the session that gives (or enrols) the factor: its page is `signin::second_factor`.
        (Step::SecondFactor | Step::EnrolFactor, Some(s)) => {
            let id = park(state, request, &s.cookie).await?;
            Ok(found(&crate::signin::second_factor::page_url(state, &id)))
        }
        // Bound to the session that waits for the verification.
        (Step::VerifyEmail, Some(s)) => {
            let id = park(state, request, &s.cookie).await?;
            crate::signin::verify_email::check_inbox(state, app, &s.session.user_id, &id, None)
                .await
        }
        // Sign-up mails the address (a link to verify it, or word that it has an account):
        // without e-mail it is not offered.
        (Step::SignUp, _) if !state.mail_enabled() => {
            let error = OAuthError::new(
                latch_core::ErrorCode::InvalidRequest,
                "prompt=create: sign-up needs e-mail, which is not configured",
            );
            Ok(refuse(state, request, &error))
        }
        (step @ (Step::Login | Step::SignUp), _)
        | (
            step @ (Step::PickOrganization(_)
            | Step::VerifyEmail
            | Step::SecondFactor
            | Step::EnrolFactor),
            None,
        ) => {
            // Bound to a new login-binding cookie: a login form posted from another browser is
            // refused (login CSRF).
            let (id, cookie) = park_for_login(state, request).await?;
            let page = if step == Step::SignUp {
                "signup"
            } else {
                "login"
            };
            let mut location = format!(
                "{}/{page}?login_request={}",
                state.settings.issuer,
                id.expose_secret()
            );
            if let Some(hint) = &request.login_hint {
                location.push_str("&login_hint=");
                location.extend(url::form_urlencoded::byte_serialize(hint.as_bytes()));
            }
            let mut response = found(&location);
            response.headers_mut().extend(cookie);
            Ok(response)
        }
        (
            Step::AcceptInvitation {
                organization,
                email,
            },
            _,
        ) => {
            let (id, cookie) = park_for_login(state, request).await?;
            let id = id.expose_secret();
            let mut response =
                crate::signin::invitation::step(state, id, &app.name, &organization, &email);
            response.headers_mut().extend(cookie);
            Ok(response)
        }
        (Step::InvitationForAnotherUser { organization }, _) => {
            let label = organization
                .display_name
                .as_deref()
                .unwrap_or(&organization.name);
            let text = format!(
                "This invitation to join {label} is for another account than the one signed in. \
                 Sign out, then open the invitation link again."
            );
            Ok(pages::error(&state.theme, StatusCode::FORBIDDEN, &text))
        }
    }
}

/// Parks the request bound to a new login-binding cookie (returned to set): a form posted from
/// another browser is refused (login CSRF).
async fn park_for_login(
    state: &AppState,
    request: &AuthorizationRequest,
) -> Result<(Secret, Option<(header::HeaderName, HeaderValue)>), StoreError> {
    let binding = Secret::generate();
    let id = park(state, request, &binding.hash()).await?;
    let cookie = session::set_cookie(state, session::LOGIN, binding.expose_secret(), PARKED_TTL);
    Ok((id, cookie.map(|c| (header::SET_COOKIE, c))))
}

fn picker(state: &AppState, app: &Application, id: &Secret, orgs: &[Organization]) -> Response {
    let organizations: Vec<(&str, &str)> = orgs
        .iter()
        .map(|o| (o.id.as_str(), o.display_name.as_deref().unwrap_or(&o.name)))
        .collect();
    pages::organization_picker(
        &state.theme,
        &Picker {
            application: Some(app.name.as_str()),
            action: &format!("{}/login/organization", state.settings.issuer),
            login_request: id.expose_secret(),
            organizations: &organizations,
        },
    )
}

/// Keeps `request` server side, bound to `binding` (the hash of a cookie of this browser); the
/// returned id is what the step's page carries.
async fn park(
    state: &AppState,
    request: &AuthorizationRequest,
    binding: &SecretHash,
) -> Result<Secret, StoreError> {
    let now = state.clock.now();
    let id = Secret::generate();
    let serialized =
        serde_json::to_string(request).map_err(|e| StoreError::other(e.to_string(), e))?;
    state
        .store
        .insert_login_request(&LoginRequestRecord {
            id: id.hash().as_str().to_owned(),
            browser_binding: binding.clone(),
            request: serialized,
            created_at: now,
            expires_at: now + PARKED_TTL,
        })
        .await?;
    Ok(id)
}

/// A parked request, found by the id its page carried.
pub struct Parked {
    id: String,
    pub request: AuthorizationRequest,
}

impl Parked {
    /// Uses the request up, atomically: `false` when another step already did (of two sign-ins
    /// or picks racing on one parked request, exactly one goes on). Call it before the step's
    /// effects (opening a session), then [`resume`].
    pub async fn take(&self, state: &AppState) -> Result<bool, StoreError> {
        let taken = state
            .store
            .take_login_request(&self.id, state.clock.now())
            .await?;
        Ok(taken.is_some())
    }

    /// Binds the request to another cookie of the same browser (the session's new cookie after a
    /// step-up): taken, then parked again under a new id, which is returned (`None` if another
    /// step took it first).
    pub async fn rebind(
        self,
        state: &AppState,
        binding: &SecretHash,
    ) -> Result<Option<Secret>, StoreError> {
        if !self.take(state).await? {
            return Ok(None);
        }
        park(state, &self.request, binding).await.map(Some)
    }

    /// The application the request is for; `None` once it has been deleted.
    pub async fn application(
        &self,
        state: &AppState,
    ) -> Result<Option<Arc<Application>>, StoreError> {
        state
            .applications
            .by_client_id(state.store.as_ref(), &self.request.client_id)
            .await
    }
}

/// The parked request `id` names, if it exists, has not expired, and is bound to `binding` (the
/// hash of the cookie its step bound it to).
pub async fn parked(
    state: &AppState,
    id: &str,
    binding: &SecretHash,
) -> Result<Option<Parked>, StoreError> {
    let Some(id) = Secret::parse(id) else {
        return Ok(None);
    };
    let record = state.store.get_login_request(id.hash().as_str()).await?;
    let now = state.clock.now();
    let Some(record) = record.filter(|r| r.expires_at > now && r.browser_binding.matches(binding))
    else {
        return Ok(None);
    };
    Ok(serde_json::from_str(&record.request)
        .ok()
        .map(|request| Parked {
            id: record.id,
            request,
        }))
}

/// Goes on with a parked request once its step is done (and the request [taken](Parked::take)):
/// it is decided again for the browser's session.
pub async fn resume(
    state: &AppState,
    parked: Parked,
    app: &Application,
    signed_in: &SignedIn,
) -> Result<Response, StoreError> {
    advance(state, app, &parked.request, Some(signed_in)).await
}

/// Issues a code for `request` from `session` (signed in to `organization_id`, if any) and
/// redirects to the client (RFC 6749 §4.1.2).
async fn issue_code(
    state: &AppState,
    app: &Application,
    request: &AuthorizationRequest,
    session: &SessionRecord,
    organization_id: Option<String>,
) -> Result<Response, StoreError> {
    let now = state.clock.now();
    // The session's apps are notified when it ends (back-channel logout): written the first time
    // only, so that signing in to an app again writes nothing.
    if !session.applications.contains(&app.client_id) {
        state
            .store
            .add_session_application(&session.sid, &app.id, &app.client_id)
            .await?;
    }
    // Sealed, not stored: the token endpoint records its single use (see `oauth::code`).
    let code = crate::oauth::code::seal(
        &state.code_key,
        &AuthorizationCodeRecord {
            application_id: app.id.clone(),
            client_id: app.client_id.clone(),
            user_id: session.user_id.clone(),
            sid: session.sid.clone(),
            redirect_uri: request.redirect_uri.as_str().to_owned(),
            scope: request.scope.clone(),
            nonce: request.nonce.as_ref().map(|n| n.as_str().to_owned()),
            code_challenge: request.code_challenge.clone(),
            auth_time: session.auth_time,
            amr: session.amr,
            created_at: now,
            expires_at: now + CODE_TTL,
            organization_id,
            audience: request.audience.clone(),
            claims: request.claims.as_ref().and_then(|c| c.to_stored()),
        },
    );
    Ok(redirect_to_client(
        state,
        &request.redirect_uri,
        &[
            ("code", code.secret()),
            ("state", request.state.as_deref().unwrap_or("")),
        ],
    ))
}

/// Refuses `request` at its redirect URI.
pub fn refuse(state: &AppState, request: &AuthorizationRequest, error: &OAuthError) -> Response {
    error_redirect(state, &request.redirect_uri, request.state.as_ref(), error)
}

/// RFC 6749 §4.1.2.1 with RFC 9207's `iss`.
pub fn error_redirect(
    state: &AppState,
    redirect_uri: &RedirectUri,
    st: Option<&State>,
    error: &OAuthError,
) -> Response {
    redirect_to_client(
        state,
        redirect_uri,
        &[
            ("error", error.code.as_str()),
            ("error_description", &error.description),
            ("state", st.map_or("", State::as_str)),
        ],
    )
}

/// Appends `pairs` (empty values left out) and `iss` to the redirect URI's query.
fn redirect_to_client(state: &AppState, redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return pages::error(
            &state.theme,
            StatusCode::BAD_REQUEST,
            "invalid redirect_uri",
        );
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
            q.append_pair(k, v);
        }
        q.append_pair("iss", &state.settings.issuer);
    }
    found(url.as_str())
}

/// `302 Found` to `location`, not cached.
pub fn found(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The cookies of a browser whose user just signed in (login form, invitation): the new session
/// cookie (`session_cookie`), the device cookie, and the step's binding cookie (`binding`)
/// cleared.
pub fn signed_in_cookies(
    state: &AppState,
    headers: &HeaderMap,
    response: &mut Response,
    session_cookie: &Secret,
    user_id: &str,
    binding: &str,
) {
    let ttl = state.settings.session_absolute_timeout;
    let cookies = [
        session::set_cookie(state, session::SESSION, session_cookie.expose_secret(), ttl),
        session::set_cookie(state, binding, "", 0),
        session::device_cookie(state, headers, user_id),
    ];
    for c in cookies.into_iter().flatten() {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
}
