//! `/api/v1/applications/{id}/secrets`: create (shown once), list (never values), revoke.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::applications::{find, refresh_cache};
use super::auth::Admin;
use super::json::PathParams;
use super::pagination::{List, ListQuery, page_of};
use crate::error::ApiError;
use crate::manage::{self, SecretView, rfc3339};
use crate::state::AppState;

/// The one answer that carries a secret's value.
#[derive(Debug, Serialize)]
pub struct ClientSecretCreated {
    pub id: String,
    pub secret: String,
    pub created_at: String,
}

pub async fn create(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<(StatusCode, Json<ClientSecretCreated>), ApiError> {
    let app = find(&state, &id).await?;
    let (secret, info) =
        manage::create_client_secret(state.store.as_ref(), &app, state.clock.now()).await?;
    refresh_cache(&state).await;
    let created = ClientSecretCreated {
        id: info.id,
        secret: secret.expose_secret().to_owned(),
        created_at: rfc3339(info.created_at),
    };
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn list(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    query: ListQuery,
) -> Result<Json<List<SecretView>>, ApiError> {
    let app = find(&state, &id).await?;
    let secrets = state.store.list_client_secrets(&app.id).await?;
    let page = page_of(secrets, &query.page, |s| s.id.as_str());
    Ok(Json(List::from_page(page, |s| SecretView::from(s))))
}

/// Revokes one secret; the application's other secret keeps working.
pub async fn delete(
    _: Admin,
    State(state): State<AppState>,
    PathParams((id, secret_id)): PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let app = find(&state, &id).await?;
    if !state
        .store
        .delete_client_secret(&app.id, &secret_id)
        .await?
    {
        return Err(ApiError::not_found("client secret"));
    }
    refresh_cache(&state).await;
    Ok(StatusCode::NO_CONTENT)
}
