//! `/api/v1/organizations/{id}/members` and `/members/{user_id}`: who belongs, with which roles;
//! `/api/v1/users/{id}/organizations`: the same memberships seen from the user.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use latch_core::organization::Membership;
use serde_json::Value;

use super::auth::Admin;
use super::json::{JsonBody, PathParams};
use super::organizations::find;
use super::pagination::{List, ListQuery};
use crate::http::error::ApiError;
use crate::manage::{self, MemberView, NewMember, UserOrganizationView};
use crate::state::AppState;

pub async fn add(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(new): JsonBody<NewMember>,
) -> Result<(StatusCode, Json<MemberView>), ApiError> {
    let org = find(&state, &id).await?;
    let now = state.clock.now();
    let member = manage::add_member(state.store.as_ref(), &org, new, now).await?;
    Ok((StatusCode::CREATED, Json(MemberView::from(&member))))
}

/// By user id.
pub async fn list(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    query: ListQuery,
) -> Result<Json<List<MemberView>>, ApiError> {
    let org = find(&state, &id).await?;
    let page = state.store.list_memberships(&org.id, &query.page).await?;
    Ok(Json(List::from_page(page, |x| MemberView::from(x))))
}

/// A user's organizations with their roles in each, by organization id.
pub async fn of_user(
    _: Admin,
    State(state): State<AppState>,
    PathParams(user_id): PathParams<String>,
    query: ListQuery,
) -> Result<Json<List<UserOrganizationView>>, ApiError> {
    let page = manage::user_organizations(state.store.as_ref(), &user_id, &query.page).await?;
    Ok(Json(List::from_page(page, |x| {
        UserOrganizationView::from(x)
    })))
}

pub async fn show(
    _: Admin,
    State(state): State<AppState>,
    PathParams((id, user_id)): PathParams<(String, String)>,
) -> Result<Json<MemberView>, ApiError> {
    Ok(Json(MemberView::from(
        &member(&state, &id, &user_id).await?,
    )))
}

/// RFC 7396 merge patch of `roles` (the list replaces the roles held); shows in the member's
/// next token refresh.
pub async fn update(
    _: Admin,
    State(state): State<AppState>,
    PathParams((id, user_id)): PathParams<(String, String)>,
    JsonBody(patch): JsonBody<Value>,
) -> Result<Json<MemberView>, ApiError> {
    let current = member(&state, &id, &user_id).await?;
    let updated = manage::update_member(state.store.as_ref(), &current, &patch).await?;
    Ok(Json(MemberView::from(&updated)))
}

/// Removes the member; their refresh tokens for this organization stop working.
pub async fn remove(
    _: Admin,
    State(state): State<AppState>,
    PathParams((id, user_id)): PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let org = find(&state, &id).await?;
    let now = state.clock.now();
    manage::remove_member(state.store.as_ref(), &org, &user_id, now).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn member(state: &AppState, id: &str, user_id: &str) -> Result<Membership, ApiError> {
    Ok(manage::member(state.store.as_ref(), id, user_id).await?)
}
