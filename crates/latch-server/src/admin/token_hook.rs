//! `/api/v1/applications/{id}/token-hook`: set (the secret shown once), read, remove.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::applications::{find, refresh_cache};
use super::auth::Admin;
use super::json::{JsonBody, PathParams};
use crate::http::error::ApiError;
use crate::manage::{self, NewTokenHook, TokenHookCreated, TokenHookView};
use crate::state::AppState;

pub async fn set(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(new): JsonBody<NewTokenHook>,
) -> Result<(StatusCode, Json<TokenHookCreated>), ApiError> {
    let app = find(&state, &id).await?;
    let allow_private = state.settings.backchannel_allow_private;
    let (_, created) = manage::set_token_hook(
        state.store.as_ref(),
        &state.token_hooks,
        &app,
        new,
        state.clock.now(),
        allow_private,
    )
    .await?;
    refresh_cache(&state).await;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn show(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<TokenHookView>, ApiError> {
    let app = find(&state, &id).await?;
    let hook = app
        .token_hook
        .as_ref()
        .ok_or(manage::ManageError::NotFound("token hook"))?;
    Ok(Json(TokenHookView::from(hook)))
}

pub async fn delete(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    let app = find(&state, &id).await?;
    manage::delete_token_hook(state.store.as_ref(), &app, state.clock.now()).await?;
    refresh_cache(&state).await;
    Ok(StatusCode::NO_CONTENT)
}
