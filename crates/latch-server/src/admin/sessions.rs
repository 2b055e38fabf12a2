//! `/api/v1/users/{id}/sessions`: a user's browser (SSO) sessions; ending one notifies the
//! applications that took part in it (back-channel logout) and revokes its refresh tokens.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use latch_core::audit::ActorType;
use latch_core::store::{SessionRecord, SessionSelector};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Admin;
use super::json::PathParams;
use super::pagination::{List, ListQuery, page_of};
use super::users::find;
use crate::http::error::ApiError;
use crate::jobs::audit::Event;
use crate::manage::rfc3339;
use crate::state::AppState;

/// A session as listed (never its cookie or the cookie's hash).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Session)]
pub struct SessionView {
    pub sid: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub last_active_at: String,
    /// `client_id`s of the applications issued codes from this session.
    pub applications: Vec<String>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

impl From<&SessionRecord> for SessionView {
    fn from(s: &SessionRecord) -> Self {
        Self {
            sid: s.sid.clone(),
            created_at: rfc3339(s.created_at),
            last_active_at: rfc3339(s.last_active_at),
            applications: s.applications.clone(),
            user_agent: s.user_agent.clone(),
            ip: s.ip.clone(),
        }
    }
}

pub async fn list(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    query: ListQuery,
) -> Result<Json<List<SessionView>>, ApiError> {
    let user = find(&state, &id).await?;
    let sessions = state
        .store
        .list_user_sessions(&user.id, state.clock.now())
        .await?;
    let page = page_of(sessions, &query.page, |s| s.sid.as_str());
    Ok(Json(List::from_page(page, |s| SessionView::from(s))))
}

pub async fn end_all(
    admin: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    let user = find(&state, &id).await?;
    let selector = SessionSelector::AllOfUser { user_id: &user.id };
    let now = state.clock.now();
    let ended = crate::lifecycle::end_sessions(&state, selector, now).await?;
    state
        .audit
        .record_sessions(ended_by(&admin, &user.id), &ended, now);
    Ok(StatusCode::NO_CONTENT)
}

/// Ends one session, which must be this user's.
pub async fn end_one(
    admin: Admin,
    State(state): State<AppState>,
    PathParams((id, sid)): PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let user = find(&state, &id).await?;
    let selector = SessionSelector::OneOfUser {
        user_id: &user.id,
        sid: &sid,
    };
    let now = state.clock.now();
    let ended = crate::lifecycle::end_sessions(&state, selector, now).await?;
    if ended.is_empty() {
        return Err(ApiError::not_found("session"));
    }
    state
        .audit
        .record_sessions(ended_by(&admin, &user.id), &ended, now);
    Ok(StatusCode::NO_CONTENT)
}

/// A `session.ended` by an administrator (the sid is added per session).
fn ended_by(admin: &Admin, user_id: &str) -> Event {
    Event::new("session.ended")
        .actor(ActorType::Admin, Some(&admin.client_id))
        .user(Some(user_id))
        .because("admin")
}
