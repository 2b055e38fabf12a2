//! `/api/v1/applications/{id}/secrets`: create (shown once), list (never values), revoke.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use latch_core::audit::ActorType;

use super::applications::{find, refresh_cache};
use super::auth::Admin;
use super::json::PathParams;
use super::pagination::{List, ListQuery, page_of};
use crate::http::error::ApiError;
use crate::jobs::audit::Event;
use crate::manage::{self, ClientSecretCreated, SecretView, rfc3339};
use crate::state::AppState;

pub async fn create(
    admin: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<(StatusCode, Json<ClientSecretCreated>), ApiError> {
    let app = find(&state, &id).await?;
    let (secret, info) =
        manage::create_client_secret(state.store.as_ref(), &app, state.clock.now()).await?;
    refresh_cache(&state).await;
    let event = secret_event("secret.created", &admin, &app.client_id, &info.id);
    state.audit.record(event, state.clock.now());
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
    admin: Admin,
    State(state): State<AppState>,
    PathParams((id, secret_id)): PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let app = find(&state, &id).await?;
    manage::revoke_client_secret(state.store.as_ref(), &app, &secret_id).await?;
    refresh_cache(&state).await;
    let event = secret_event("secret.revoked", &admin, &app.client_id, &secret_id);
    state.audit.record(event, state.clock.now());
    Ok(StatusCode::NO_CONTENT)
}

/// A secret event: the secret's id, never its value or hash.
fn secret_event(kind: &'static str, admin: &Admin, client_id: &str, secret_id: &str) -> Event {
    Event::new(kind)
        .actor(ActorType::Admin, Some(&admin.client_id))
        .client(Some(client_id))
        .detail("secret_id", secret_id)
}
