//! `/api/v1/users` and `/api/v1/users/{id}`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use latch_core::audit::ActorType;
use latch_core::user::{User, normalize_email};
use serde::Deserialize;
use serde_json::Value;

use super::auth::Admin;
use super::json::{JsonBody, PathParams};
use super::pagination::{List, ListQuery};
use crate::http::error::ApiError;
use crate::jobs::audit::Event;
use crate::manage::{self, NewUser, UserView};
use crate::state::AppState;

/// `GET /api/v1/users?email=`: the user with this address (compared case-insensitively);
/// `?external_id=`: the user with this external id (a list of 0 or 1).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserFilter {
    email: Option<String>,
    external_id: Option<String>,
}

pub async fn create(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(new): JsonBody<NewUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let user = manage::create_user(
        state.store.as_ref(),
        &state.passwords,
        new,
        state.clock.now(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(enrolled(UserView::from(&user), false)),
    ))
}

fn enrolled(view: UserView, enrolled: bool) -> UserView {
    UserView {
        mfa_enrolled: Some(enrolled),
        ..view
    }
}

/// The views of `users`, with `mfa_enrolled` read in one query.
async fn views(state: &AppState, users: &[User]) -> Result<Vec<UserView>, ApiError> {
    let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
    let with = state.store.users_with_factors(&ids).await?;
    Ok(users
        .iter()
        .map(|u| enrolled(UserView::from(u), with.contains(&u.id)))
        .collect())
}

async fn view(state: &AppState, user: &User) -> Result<UserView, ApiError> {
    let mut all = views(state, std::slice::from_ref(user)).await?;
    all.pop().ok_or_else(|| ApiError::not_found("user"))
}

/// `POST /api/v1/users/import`: JSON Lines in the body (`latch users import`'s format), within
/// the body limit; answers what was imported, skipped and refused (by line).
pub async fn import(
    admin: Admin,
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<crate::user_transfer::ImportReport>, ApiError> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("the body is not UTF-8 JSON Lines"))?;
    let now = state.clock.now();
    let mut importer = crate::user_transfer::Importer::new(state.store.as_ref(), now);
    for (i, line) in text.lines().enumerate() {
        importer.line(i as u64 + 1, line).await?;
    }
    let report = importer.finish().await?;
    let event = Event::new("users.imported")
        .actor(ActorType::Client, Some(&admin.client_id))
        .detail("imported", report.imported)
        .detail("existing", report.existing)
        .detail("failed", report.failed_count);
    state.audit.record(event, now);
    Ok(Json(report))
}

pub async fn list(
    _: Admin,
    State(state): State<AppState>,
    query: ListQuery<UserFilter>,
) -> Result<Json<List<UserView>>, ApiError> {
    let email = query.filter.email.as_deref();
    if let Some(external_id) = &query.filter.external_id {
        let found = state.store.get_user_by_external_id(external_id).await?;
        // Both filters given: the user must match both.
        let found =
            found.filter(|u| email.is_none_or(|e| normalize_email(e) == normalize_email(&u.email)));
        let found = match &found {
            Some(u) => Some(view(&state, u).await?),
            None => None,
        };
        return Ok(Json(List::of_one(found)));
    }
    let page = state.store.list_users(&query.page, email).await?;
    Ok(Json(List {
        data: views(&state, &page.data).await?,
        next_cursor: page.next_cursor,
    }))
}

pub async fn show(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(view(&state, &find(&state, &id).await?).await?))
}

/// RFC 7396 merge patch of the profile; `password` sets a new one, which ends every session of
/// the user (an administrator's change: OWASP ASVS V3.3.3).
pub async fn update(
    admin: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(patch): JsonBody<Value>,
) -> Result<Json<UserView>, ApiError> {
    let current = find(&state, &id).await?;
    let now = state.clock.now();
    let (user, ended) = manage::update_user(
        state.store.as_ref(),
        &state.passwords,
        &current,
        &patch,
        now,
    )
    .await?;
    crate::lifecycle::sessions_ended(&state, &ended, now).await;
    let event = Event::new("session.ended")
        .actor(ActorType::Admin, Some(&admin.client_id))
        .user(Some(&id))
        .because("password_changed");
    state.audit.record_sessions(event, &ended, now);
    // A new, unverified address gets a verification mail (when e-mail is configured).
    if normalize_email(&user.email) != normalize_email(&current.email) && !user.email_verified {
        let actor = (ActorType::Admin, Some(admin.client_id.as_str()));
        // The change is made: a mail that cannot be queued is logged, not the answer.
        if let Err(e) = crate::signin::verify_email::send(&state, &user, None, actor).await {
            crate::http::error::internal(&e);
        }
    }
    Ok(Json(view(&state, &user).await?))
}

/// Ends the user's sessions (notifying the applications), then deletes the user.
pub async fn delete(
    admin: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    find(&state, &id).await?;
    let now = state.clock.now();
    let ended = manage::delete_user(state.store.as_ref(), &id, now).await?;
    crate::lifecycle::sessions_ended(&state, &ended, now).await;
    let event = Event::new("session.ended")
        .actor(ActorType::Admin, Some(&admin.client_id))
        .user(Some(&id))
        .because("user_deleted");
    state.audit.record_sessions(event, &ended, now);
    Ok(StatusCode::NO_CONTENT)
}

/// The answer to `POST /api/v1/users/{id}/verification-email`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = VerificationEmailQueued)]
pub struct VerificationEmailQueued {
    /// Always true: the mail is queued (the server sends it, retrying while the SMTP server is
    /// unreachable).
    pub queued: bool,
}

/// Mails the user a new e-mail verification link (replacing any earlier one). 409
/// `email_not_configured` without SMTP, `mail_limited` over the send limits.
pub async fn send_verification(
    admin: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<(StatusCode, Json<VerificationEmailQueued>), ApiError> {
    if !state.mail_enabled() {
        return Err(not_configured());
    }
    let user = find(&state, &id).await?;
    let actor = (ActorType::Admin, Some(admin.client_id.as_str()));
    if !crate::signin::verify_email::send(&state, &user, None, actor).await? {
        return Err(ApiError::conflict(
            "mail_limited",
            "the e-mail send limit for this address is reached; try again later",
        ));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(VerificationEmailQueued { queued: true }),
    ))
}

fn not_configured() -> ApiError {
    ApiError::conflict(
        "email_not_configured",
        "e-mail is not configured: set LATCH_SMTP_URL and LATCH_SMTP_FROM",
    )
}

/// Lifts the sign-in lock on the user's account (the per-address limits stay).
pub async fn unlock(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    let user = find(&state, &id).await?;
    crate::signin::throttle::unlock_account(state.store.as_ref(), &user.email).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The user with this id, or 404.
pub async fn find(state: &AppState, id: &str) -> Result<User, ApiError> {
    Ok(manage::user(state.store.as_ref(), id).await?)
}
