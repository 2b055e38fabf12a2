//! `GET /api/v1/audit-events` (filtered, paged by id: time order), and the middleware that records
//! every successful management change (method, route pattern, path ids and caller; never a body).

use std::sync::{Arc, OnceLock};

use axum::Json;
use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use latch_core::UnixTime;
use latch_core::audit::{ActorType, AuditEvent, AuditFilter};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::auth::Admin;
use super::pagination::{List, ListQuery};
use crate::http::error::ApiError;
use crate::jobs::audit::Event;
use crate::manage::rfc3339;
use crate::state::AppState;

/// `?user_id=&client_id=&type=&since=&until=`; times are RFC 3339 or unix seconds, inclusive.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    user_id: Option<String>,
    client_id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// Who acted.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AuditActor)]
pub struct Actor {
    /// `user`, `client`, `admin` or `system`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    kind: &'static str,
    id: Option<String>,
}

/// An event as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AuditEvent)]
pub struct AuditEventView {
    id: String,
    /// login.success, login.failure, token.issued, token.reuse_detected,
    /// client.authentication_failure, logout, session.ended, secret.created, secret.revoked,
    /// management.change…
    #[serde(rename = "type")]
    kind: String,
    #[schema(format = DateTime)]
    at: String,
    actor: Actor,
    user_id: Option<String>,
    client_id: Option<String>,
    session_id: Option<String>,
    ip: Option<String>,
    /// `success` or `failure`.
    #[schema(value_type = String)]
    outcome: &'static str,
    reason: Option<String>,
    #[schema(value_type = Object)]
    details: Value,
}

impl From<&AuditEvent> for AuditEventView {
    fn from(e: &AuditEvent) -> Self {
        Self {
            id: e.id.clone(),
            kind: e.kind.clone(),
            at: rfc3339(e.at),
            actor: Actor {
                kind: e.actor_type.as_str(),
                id: e.actor_id.clone(),
            },
            user_id: e.user_id.clone(),
            client_id: e.client_id.clone(),
            session_id: e.session_id.clone(),
            ip: e.ip.clone(),
            outcome: if e.success { "success" } else { "failure" },
            reason: e.reason.clone(),
            details: serde_json::from_str(&e.details).unwrap_or_else(|_| json!({})),
        }
    }
}

pub async fn list(
    _: Admin,
    State(state): State<AppState>,
    query: ListQuery<AuditQuery>,
) -> Result<Json<List<AuditEventView>>, ApiError> {
    let q = query.filter;
    let filter = AuditFilter {
        since: q
            .since
            .as_deref()
            .map(|t| parse_time("since", t))
            .transpose()?,
        until: q
            .until
            .as_deref()
            .map(|t| parse_time("until", t))
            .transpose()?,
        user_id: q.user_id,
        client_id: q.client_id,
        kind: q.kind,
        newest_first: false,
    };
    let page = state.store.list_audit_events(&filter, &query.page).await?;
    Ok(Json(List::from_page(page, |e| AuditEventView::from(e))))
}

/// Unix seconds (`1700000000`) or RFC 3339 (`2026-01-02T03:04:05Z`).
fn parse_time(name: &str, value: &str) -> Result<UnixTime, ApiError> {
    if let Ok(seconds) = value.parse::<i64>() {
        return Ok(seconds);
    }
    OffsetDateTime::parse(value, &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|_| ApiError::bad_request(format!("`{name}` must be RFC 3339 or unix seconds")))
}

/// Where `Admin` leaves the caller's `client_id` for `record_changes`.
#[derive(Clone, Default)]
pub(crate) struct Caller(Arc<OnceLock<String>>);

impl Caller {
    pub(crate) fn set(&self, client_id: &str) {
        let _ = self.0.set(client_id.to_owned());
    }
}

/// Records a `management.change` after every 2xx answer to POST, PATCH or DELETE.
pub async fn record_changes(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    if !matches!(method, Method::POST | Method::PATCH | Method::DELETE) {
        return next.run(request).await;
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let (mut parts, body) = request.into_parts();
    let params: Map<String, Value> = RawPathParams::from_request_parts(&mut parts, &state)
        .await
        .map(|p| p.iter().map(|(k, v)| (k.to_owned(), v.into())).collect())
        .unwrap_or_default();
    let caller = Caller::default();
    parts.extensions.insert(caller.clone());
    let request = Request::from_parts(parts, body);
    let response = next.run(request).await;
    if response.status().is_success() {
        let caller = caller.0.get().map(String::as_str);
        let event = Event::new("management.change")
            .actor(ActorType::Admin, caller)
            .client(caller)
            .detail("method", method.as_str())
            .detail("route", route.unwrap_or_default())
            .detail("params", params);
        state.audit.record(event, state.clock.now());
    }
    response
}
