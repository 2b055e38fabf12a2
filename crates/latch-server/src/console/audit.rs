//! The audit log, newest first, filtered by user, client, type and time, 50 events a page.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use latch_core::UnixTime;
use latch_core::audit::AuditFilter;
use latch_core::store::PageRequest;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::guard::{Admin, failure};
use super::views::{Chrome, render};
use crate::manage::rfc3339;
use crate::state::AppState;

const PAGE_SIZE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    after: Option<String>,
}

struct EventRow {
    at: String,
    kind: String,
    outcome: &'static str,
    actor: String,
    user_id: String,
    client_id: String,
    details: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage<'a> {
    chrome: Chrome<'a>,
    title: &'a str,
    error: Option<String>,
    filter: AuditQuery,
    events: Vec<EventRow>,
    next_page: Option<String>,
}

/// RFC 3339 or unix seconds; empty is no bound.
fn parse_time(name: &str, value: &str) -> Result<Option<UnixTime>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if let Ok(seconds) = value.parse::<i64>() {
        return Ok(Some(seconds));
    }
    OffsetDateTime::parse(value, &Rfc3339)
        .map(|t| Some(t.unix_timestamp()))
        .map_err(|_| format!("{name}: must be RFC 3339 (2026-12-06T10:00:00Z) or unix seconds"))
}

fn text(value: &str) -> Option<String> {
    let v = value.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

pub async fn list(
    admin: Admin,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Response {
    let times = parse_time("since", &q.since).and_then(|s| Ok((s, parse_time("until", &q.until)?)));
    let (since, until) = match times {
        Ok(t) => t,
        Err(message) => return page(&state, &admin, q, Vec::new(), None, Some(message)),
    };
    let filter = AuditFilter {
        user_id: text(&q.user_id),
        client_id: text(&q.client_id),
        kind: text(&q.kind),
        since,
        until,
        newest_first: true,
    };
    let request = PageRequest {
        limit: PAGE_SIZE,
        after: q.after.clone(),
    };
    let found = match state.store.list_audit_events(&filter, &request).await {
        Ok(p) => p,
        Err(e) => return failure(&state, &e),
    };
    let events = found
        .data
        .iter()
        .map(|e| EventRow {
            at: rfc3339(e.at),
            kind: e.kind.clone(),
            outcome: if e.success { "success" } else { "failure" },
            actor: match &e.actor_id {
                Some(id) => format!("{} {id}", e.actor_type.as_str()),
                None => e.actor_type.as_str().to_owned(),
            },
            user_id: e.user_id.clone().unwrap_or_default(),
            client_id: e.client_id.clone().unwrap_or_default(),
            details: match &e.reason {
                Some(r) => format!("{r} {}", e.details),
                None => e.details.clone(),
            },
        })
        .collect();
    let next_page = found.next_cursor.and_then(|cursor| {
        let mut url = url::Url::parse(&format!("{}/audit", super::cookies::root(&state))).ok()?;
        {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in [
                ("type", &q.kind),
                ("user_id", &q.user_id),
                ("client_id", &q.client_id),
                ("since", &q.since),
                ("until", &q.until),
            ] {
                if !v.trim().is_empty() {
                    pairs.append_pair(k, v.trim());
                }
            }
            pairs.append_pair("after", &cursor);
        }
        Some(url.into())
    });
    page(&state, &admin, q, events, next_page, None)
}

fn page(
    state: &AppState,
    admin: &Admin,
    filter: AuditQuery,
    events: Vec<EventRow>,
    next_page: Option<String>,
    error: Option<String>,
) -> Response {
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    render(
        state,
        status,
        &AuditPage {
            chrome: Chrome::new(state, admin, "audit"),
            title: "Audit log",
            error,
            filter,
            events,
            next_page,
        },
    )
}
