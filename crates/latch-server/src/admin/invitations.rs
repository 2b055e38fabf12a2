//! `/api/v1/organizations/{id}/invitations`: single-use links that make their email's user a
//! member (accepted on the hosted pages, see `crate::signin::invitation`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::auth::Admin;
use super::json::{JsonBody, PathParams};
use super::organizations::find;
use super::pagination::{List, ListQuery};
use crate::http::error::ApiError;
use crate::manage::{self, InvitationCreated, InvitationView, NewInvitation};
use crate::state::AppState;

/// The answer carries the link, shown this once; with e-mail configured, the link is also mailed
/// to the invited address.
pub async fn create(
    admin: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(new): JsonBody<NewInvitation>,
) -> Result<(StatusCode, Json<InvitationCreated>), ApiError> {
    let org = find(&state, &id).await?;
    let (store, issuer, now) = (
        state.store.as_ref(),
        &state.settings.issuer,
        state.clock.now(),
    );
    let email = new.email.trim().to_owned();
    let created = manage::create_invitation(store, issuer, &org, new, now).await?;
    let invited = crate::mail::invitation::Invited {
        organization: &org,
        email: &email,
        url: &created.url,
        expires_at: &created.expires_at,
    };
    crate::mail::invitation::send(&state, &invited, &admin.client_id).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Pending, accepted and expired invitations, by id (never their links).
pub async fn list(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    query: ListQuery,
) -> Result<Json<List<InvitationView>>, ApiError> {
    let org = find(&state, &id).await?;
    let page = state.store.list_invitations(&org.id, &query.page).await?;
    Ok(Json(List::from_page(page, |x| InvitationView::from(x))))
}

/// Revokes an invitation: its link stops working.
pub async fn delete(
    _: Admin,
    State(state): State<AppState>,
    PathParams((id, invitation_id)): PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let org = find(&state, &id).await?;
    manage::revoke_invitation(state.store.as_ref(), &org, &invitation_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
