//! `/api/v1/applications` and `/api/v1/applications/{id}`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use latch_core::application::Application;
use serde_json::Value;

use super::auth::Admin;
use super::json::{JsonBody, PathParams};
use super::pagination::{List, ListQuery};
use crate::http::error::ApiError;
use crate::manage::{self, ApplicationCreated, ApplicationView, NewApplication};
use crate::state::AppState;

pub async fn create(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(new): JsonBody<NewApplication>,
) -> Result<(StatusCode, Json<ApplicationCreated>), ApiError> {
    let (app, secret) = manage::create_application(
        state.store.as_ref(),
        new,
        state.clock.now(),
        state.settings.backchannel_allow_private,
    )
    .await?;
    refresh_cache(&state).await;
    Ok((
        StatusCode::CREATED,
        Json(ApplicationCreated::new(&app, secret.as_ref())),
    ))
}

pub async fn list(
    _: Admin,
    State(state): State<AppState>,
    query: ListQuery,
) -> Result<Json<List<ApplicationView>>, ApiError> {
    let page = state.store.list_applications(&query.page).await?;
    Ok(Json(List::from_page(page, |a| ApplicationView::from(a))))
}

pub async fn show(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<ApplicationView>, ApiError> {
    let app = find(&state, &id).await?;
    Ok(Json(ApplicationView::from(&app)))
}

/// RFC 7396 merge patch; the rules are `manage::update_application`'s.
pub async fn update(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(patch): JsonBody<Value>,
) -> Result<Json<ApplicationView>, ApiError> {
    let current = find(&state, &id).await?;
    let app = manage::update_application(
        state.store.as_ref(),
        &current,
        &patch,
        state.clock.now(),
        state.settings.backchannel_allow_private,
    )
    .await?;
    refresh_cache(&state).await;
    Ok(Json(ApplicationView::from(&app)))
}

/// Deletes the application and stops everything issued to it (see `lifecycle`).
pub async fn delete(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    if !crate::lifecycle::delete_application(&state, &id, state.clock.now()).await? {
        return Err(ApiError::not_found("application"));
    }
    refresh_cache(&state).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The application with this id, or 404.
pub async fn find(state: &AppState, id: &str) -> Result<Application, ApiError> {
    Ok(manage::application(state.store.as_ref(), id).await?)
}

/// Makes a write visible to this node's token endpoint at once (other nodes poll the store).
pub async fn refresh_cache(state: &AppState) {
    if let Err(e) = state.applications.refresh(state.store.as_ref(), true).await {
        tracing::warn!(error = %e, "could not refresh the application cache after a change");
    }
}
