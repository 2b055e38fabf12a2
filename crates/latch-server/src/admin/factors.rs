//! `/api/v1/users/{id}/factors`: a user's second factors as an administrator sees them — kind,
//! name and dates, never a secret nor a passkey's key material — and resetting one (audit-logged),
//! for a user who lost their device.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use latch_core::store::{Factor, Passkey};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Admin;
use super::json::PathParams;
use super::pagination::{List, ListQuery, page_of};
use super::users::find;
use crate::factors::RemovedBy;
use crate::http::error::ApiError;
use crate::manage::rfc3339;
use crate::state::AppState;

/// A second factor as listed (never its secret).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Factor)]
pub struct FactorView {
    pub id: String,
    /// `totp` or `passkey`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// A passkey's name, as its user gave it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// False while enrolment waits for its first code.
    pub confirmed: bool,
    /// A passkey's backup eligibility (synced: `amr` `swk`; else `hwk`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synced: Option<bool>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
}

impl From<&Factor> for FactorView {
    fn from(f: &Factor) -> Self {
        Self {
            id: f.id.clone(),
            kind: f.kind.as_str(),
            name: None,
            confirmed: f.confirmed_at.is_some(),
            synced: None,
            created_at: rfc3339(f.created_at),
            last_used_at: f.last_used_at.map(rfc3339),
        }
    }
}

impl From<&Passkey> for FactorView {
    fn from(p: &Passkey) -> Self {
        Self {
            id: p.id.clone(),
            kind: "passkey",
            name: Some(p.name.clone()),
            confirmed: true,
            synced: Some(p.backup_eligible),
            created_at: rfc3339(p.created_at),
            last_used_at: p.last_used_at.map(rfc3339),
        }
    }
}

/// The user's factors, TOTP and passkeys, in id order (ids are UUIDv7: creation order).
pub async fn list(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    query: ListQuery,
) -> Result<Json<List<FactorView>>, ApiError> {
    let user = find(&state, &id).await?;
    let mut views: Vec<FactorView> = state
        .store
        .list_factors(&user.id)
        .await?
        .iter()
        .map(FactorView::from)
        .collect();
    let passkeys = state.store.list_passkeys(&user.id).await?;
    views.extend(passkeys.iter().map(FactorView::from));
    let page = page_of(views, &query.page, |f| f.id.as_str());
    Ok(Json(List {
        data: page.data,
        next_cursor: page.next_cursor,
    }))
}

/// Removes one factor (the last one takes the recovery codes with it) and ends every session of
/// the user (what they issued with them: `lifecycle::factor_removed`); audited as
/// `factor.removed` by the administrator.
pub async fn delete(
    admin: Admin,
    State(state): State<AppState>,
    PathParams((id, factor_id)): PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let user = find(&state, &id).await?;
    let by = RemovedBy::Admin(&admin.client_id);
    if !crate::factors::remove(&state, &user.id, &factor_id, by, None).await? {
        return Err(ApiError::not_found("factor"));
    }
    Ok(StatusCode::NO_CONTENT)
}
