//! `/api/v1/apis` and `/api/v1/apis/{id}`: API resources, what `audience=` at authorize names.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;

use super::auth::Admin;
use super::json::{JsonBody, PathParams};
use super::pagination::{List, ListQuery};
use crate::http::error::ApiError;
use crate::manage::{self, ApiView, NewApi};
use crate::state::AppState;

pub async fn create(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(new): JsonBody<NewApi>,
) -> Result<(StatusCode, Json<ApiView>), ApiError> {
    let (store, issuer) = (state.store.as_ref(), &state.settings.issuer);
    let api = manage::create_api(store, issuer, new, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(ApiView::from(&api))))
}

pub async fn list(
    _: Admin,
    State(state): State<AppState>,
    query: ListQuery,
) -> Result<Json<List<ApiView>>, ApiError> {
    let page = state.store.list_apis(&query.page).await?;
    Ok(Json(List::from_page(page, |x| ApiView::from(x))))
}

pub async fn show(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<ApiView>, ApiError> {
    Ok(Json(ApiView::from(&find(&state, &id).await?)))
}

/// RFC 7396 merge patch; `identifier` may be repeated but not changed.
pub async fn update(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(patch): JsonBody<Value>,
) -> Result<Json<ApiView>, ApiError> {
    let current = find(&state, &id).await?;
    let now = state.clock.now();
    let api = manage::update_api(state.store.as_ref(), &current, &patch, now).await?;
    Ok(Json(ApiView::from(&api)))
}

/// Deletes the API; refresh tokens issued for it stop working.
pub async fn delete(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    manage::delete_api(state.store.as_ref(), &id, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn find(
    state: &AppState,
    id: &str,
) -> Result<latch_core::organization::ApiResource, ApiError> {
    Ok(manage::api(state.store.as_ref(), id).await?)
}
