//! `/api/v1/organizations` and `/api/v1/organizations/{id}`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use latch_core::organization::Organization;
use serde_json::Value;

use super::auth::Admin;
use super::json::{JsonBody, PathParams};
use super::pagination::{List, ListQuery};
use crate::http::error::ApiError;
use crate::manage::{self, NewOrganization, OrganizationView};
use crate::state::AppState;

/// `GET /api/v1/organizations?external_id=`: the organization with this external id (a list of
/// 0 or 1).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationFilter {
    external_id: Option<String>,
}

pub async fn create(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(new): JsonBody<NewOrganization>,
) -> Result<(StatusCode, Json<OrganizationView>), ApiError> {
    let org = manage::create_organization(state.store.as_ref(), new, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(OrganizationView::from(&org))))
}

pub async fn list(
    _: Admin,
    State(state): State<AppState>,
    query: ListQuery<OrganizationFilter>,
) -> Result<Json<List<OrganizationView>>, ApiError> {
    if let Some(external_id) = &query.filter.external_id {
        let found = state
            .store
            .get_organization_by_external_id(external_id)
            .await?;
        return Ok(Json(List::of_one(
            found.as_ref().map(OrganizationView::from),
        )));
    }
    let page = state.store.list_organizations(&query.page).await?;
    Ok(Json(List::from_page(page, |x| OrganizationView::from(x))))
}

pub async fn show(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<OrganizationView>, ApiError> {
    Ok(Json(OrganizationView::from(&find(&state, &id).await?)))
}

/// RFC 7396 merge patch of `name`, `display_name`, `metadata` and `external_id`.
pub async fn update(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(patch): JsonBody<Value>,
) -> Result<Json<OrganizationView>, ApiError> {
    let current = find(&state, &id).await?;
    let now = state.clock.now();
    let org = manage::update_organization(state.store.as_ref(), &current, &patch, now).await?;
    Ok(Json(OrganizationView::from(&org)))
}

/// Deletes the organization with its memberships and invitations; refresh tokens issued for it
/// stop working.
pub async fn delete(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    manage::delete_organization(state.store.as_ref(), &id, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The organization with this id, or 404.
pub async fn find(state: &AppState, id: &str) -> Result<Organization, ApiError> {
    Ok(manage::organization(state.store.as_ref(), id).await?)
}
