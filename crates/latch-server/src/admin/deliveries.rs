//! `GET /api/v1/applications/{id}/backchannel-deliveries`: the back-channel logout notifications
//! sent to an application — pending, delivered, failing and abandoned — so failures are visible.

use axum::Json;
use axum::extract::State;
use latch_core::store::BackchannelDelivery;
use serde::Serialize;
use utoipa::ToSchema;

use super::applications::find;
use super::auth::Admin;
use super::json::PathParams;
use super::pagination::{List, ListQuery};
use crate::http::error::ApiError;
use crate::manage::rfc3339;
use crate::state::AppState;

/// A back-channel logout notification (OpenID Connect Back-Channel Logout 1.0 §2.5) and its fate.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BackchannelDelivery)]
pub struct DeliveryView {
    pub id: String,
    pub url: String,
    pub sid: String,
    /// `pending`, `delivered` or `abandoned`.
    #[schema(value_type = String)]
    pub status: &'static str,
    pub attempts: i64,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    #[schema(format = DateTime)]
    pub delivered_at: Option<String>,
    #[schema(format = DateTime)]
    pub abandoned_at: Option<String>,
    /// A generic reason (`connection refused`, `timeout`, `HTTP 503`, `address not allowed`…),
    /// never the connector's own message.
    pub last_error: Option<String>,
}

impl From<&BackchannelDelivery> for DeliveryView {
    fn from(d: &BackchannelDelivery) -> Self {
        let status = match (d.delivered_at, d.abandoned_at) {
            (Some(_), _) => "delivered",
            (None, Some(_)) => "abandoned",
            (None, None) => "pending",
        };
        Self {
            id: d.id.clone(),
            url: d.url.clone(),
            sid: d.sid.clone(),
            status,
            attempts: d.attempts,
            created_at: rfc3339(d.created_at),
            next_attempt_at: (status == "pending").then(|| rfc3339(d.next_attempt_at)),
            delivered_at: d.delivered_at.map(rfc3339),
            abandoned_at: d.abandoned_at.map(rfc3339),
            last_error: d.last_error.clone(),
        }
    }
}

pub async fn list(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    query: ListQuery,
) -> Result<Json<List<DeliveryView>>, ApiError> {
    let app = find(&state, &id).await?;
    let page = state.store.list_deliveries(&app.id, &query.page).await?;
    Ok(Json(List::from_page(page, |d| DeliveryView::from(d))))
}
