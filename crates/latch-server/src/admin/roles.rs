//! `/api/v1/roles` and `/api/v1/roles/{id}`: roles and the permissions they grant.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;

use super::auth::Admin;
use super::json::{JsonBody, PathParams};
use super::pagination::{List, ListQuery};
use crate::http::error::ApiError;
use crate::manage::{self, NewRole, RoleView};
use crate::state::AppState;

pub async fn create(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(new): JsonBody<NewRole>,
) -> Result<(StatusCode, Json<RoleView>), ApiError> {
    let role = manage::create_role(state.store.as_ref(), new, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(RoleView::from(&role))))
}

pub async fn list(
    _: Admin,
    State(state): State<AppState>,
    query: ListQuery,
) -> Result<Json<List<RoleView>>, ApiError> {
    let page = state.store.list_roles(&query.page).await?;
    Ok(Json(List::from_page(page, |x| RoleView::from(x))))
}

pub async fn show(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<RoleView>, ApiError> {
    Ok(Json(RoleView::from(&find(&state, &id).await?)))
}

/// RFC 7396 merge patch; members holding the role see the change at their next refresh.
pub async fn update(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(patch): JsonBody<Value>,
) -> Result<Json<RoleView>, ApiError> {
    let current = find(&state, &id).await?;
    let now = state.clock.now();
    let role = manage::update_role(state.store.as_ref(), &current, &patch, now).await?;
    Ok(Json(RoleView::from(&role)))
}

/// Deletes the role; members and invitations holding it lose it.
pub async fn delete(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    manage::delete_role(state.store.as_ref(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn find(state: &AppState, id: &str) -> Result<latch_core::organization::Role, ApiError> {
    Ok(manage::role(state.store.as_ref(), id).await?)
}
