//! API resources: the list and creation, and one API's page — its name, permissions, token
//! lifetime and offline access edited (the identifier, the `audience` value, never changes), and
//! its deletion (refresh tokens issued for it stop working) with the identifier typed.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use latch_core::organization::ApiResource;
use latch_core::store::PageRequest;
use serde::Deserialize;
use serde_json::{Value, json};

use super::guard::{Admin, failure};
use super::views::{self, Chrome, Shown, render};
use super::{change, refused, ttl_value, words};
use crate::manage::{self, ManageError, NewApi};
use crate::state::AppState;

const PAGE_SIZE: u32 = 50;

/// An API's fields, as stored or as typed; permissions one per line or separated by spaces.
#[derive(Debug, Default, Deserialize)]
pub struct ApiForm {
    /// Only when creating: the identifier never changes.
    #[serde(default)]
    identifier: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    permissions: String,
    #[serde(default)]
    access_token_ttl_seconds: String,
    /// A checkbox: absent when unchecked.
    allow_offline_access: Option<String>,
}

impl ApiForm {
    fn of(api: &ApiResource) -> Self {
        Self {
            identifier: api.identifier.clone(),
            name: api.name.clone(),
            permissions: api.permissions.join("\n"),
            access_token_ttl_seconds: api
                .access_token_ttl_seconds
                .map(|t| t.to_string())
                .unwrap_or_default(),
            allow_offline_access: api.allow_offline_access.then(|| "on".to_owned()),
        }
    }

    /// The editable fields as the API takes them (a merge patch; with the identifier, `NewApi`).
    fn json(&self) -> Value {
        json!({
            "name": self.name.trim(),
            "permissions": words(&self.permissions),
            "access_token_ttl_seconds": ttl_value(&self.access_token_ttl_seconds),
            "allow_offline_access": self.allow_offline_access.is_some(),
        })
    }

    fn offline(&self) -> bool {
        self.allow_offline_access.is_some()
    }
}

struct Row {
    id: String,
    identifier: String,
    name: String,
    permissions: String,
}

#[derive(Template)]
#[template(path = "console/apis.html")]
struct ListPage<'a> {
    chrome: Chrome<'a>,
    title: &'a str,
    error: Option<String>,
    apis: Vec<Row>,
    next_page: Option<String>,
    form: ApiForm,
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    after: Option<String>,
}

pub async fn list(
    admin: Admin,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Response {
    list_page(&state, &admin, q.after, Shown::default()).await
}

async fn list_page(
    state: &AppState,
    admin: &Admin,
    after: Option<String>,
    shown: Shown<ApiForm>,
) -> Response {
    let page = PageRequest {
        limit: PAGE_SIZE,
        after,
    };
    let apis = match state.store.list_apis(&page).await {
        Ok(p) => p,
        Err(e) => return failure(state, &e),
    };
    let rows = apis
        .data
        .iter()
        .map(|a| Row {
            id: a.id.clone(),
            identifier: a.identifier.clone(),
            name: a.name.clone(),
            permissions: a.permissions.join(" "),
        })
        .collect();
    render(
        state,
        shown.status(),
        &ListPage {
            chrome: Chrome::new(state, admin, "apis"),
            title: "APIs",
            error: shown.error,
            apis: rows,
            next_page: apis.next_cursor,
            form: shown.form.unwrap_or_default(),
        },
    )
}

pub async fn create(
    admin: Admin,
    State(state): State<AppState>,
    Form(f): Form<ApiForm>,
) -> Response {
    let mut fields = f.json();
    fields["identifier"] = Value::String(f.identifier.trim().to_owned());
    let (store, issuer, now) = (
        state.store.as_ref(),
        &state.settings.issuer,
        state.clock.now(),
    );
    let created = match manage::patch::parse_json::<NewApi>(&fields) {
        Ok(new) => manage::create_api(store, issuer, new, now).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(api) => {
            let event = change(&admin, "api.create")
                .detail("id", api.id.as_str())
                .detail("identifier", api.identifier.as_str());
            state.audit.record(event, now);
            to_api(&state, &api.id)
        }
        Err(e) => {
            refused(&state, &e, |status, message| {
                let shown = Shown {
                    form: Some(f),
                    ..Shown::error(status, message)
                };
                list_page(&state, &admin, None, shown)
            })
            .await
        }
    }
}

fn to_api(state: &AppState, id: &str) -> Response {
    Redirect::to(&format!("{}/apis/{id}", super::cookies::root(state))).into_response()
}

async fn find(state: &AppState, id: &str) -> Result<ApiResource, Response> {
    match manage::api(state.store.as_ref(), id).await {
        Ok(api) => Ok(api),
        Err(ManageError::NotFound(_)) => Err(views::problem(
            state,
            StatusCode::NOT_FOUND,
            "No such API",
            "It may have been deleted.",
        )),
        Err(e) => Err(failure(state, &e)),
    }
}

#[derive(Template)]
#[template(path = "console/api.html")]
struct ApiPage<'a> {
    chrome: Chrome<'a>,
    title: &'a str,
    error: Option<String>,
    id: &'a str,
    identifier: &'a str,
    form: ApiForm,
}

pub async fn show(admin: Admin, State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match find(&state, &id).await {
        Ok(api) => api_page(&state, &admin, &api, Shown::default()),
        Err(page) => page,
    }
}

fn api_page(state: &AppState, admin: &Admin, api: &ApiResource, shown: Shown<ApiForm>) -> Response {
    render(
        state,
        shown.status(),
        &ApiPage {
            chrome: Chrome::new(state, admin, "apis"),
            title: &api.name,
            error: shown.error,
            id: &api.id,
            identifier: &api.identifier,
            form: shown.form.unwrap_or_else(|| ApiForm::of(api)),
        },
    )
}

/// `POST /admin/apis/{id}`: a merge patch (RFC 7396) of the editable fields, as the API takes.
pub async fn update(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<ApiForm>,
) -> Response {
    let api = match find(&state, &id).await {
        Ok(a) => a,
        Err(page) => return page,
    };
    let now = state.clock.now();
    match manage::update_api(state.store.as_ref(), &api, &f.json(), now).await {
        Ok(api) => {
            let event = change(&admin, "api.update").detail("id", api.id.as_str());
            state.audit.record(event, now);
            to_api(&state, &api.id)
        }
        Err(e) => {
            refused(&state, &e, |status, message| {
                let shown = Shown {
                    form: Some(f),
                    ..Shown::error(status, message)
                };
                std::future::ready(api_page(&state, &admin, &api, shown))
            })
            .await
        }
    }
}

/// `POST …/delete`: only with the identifier typed.
pub async fn delete(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<super::DeleteForm>,
) -> Response {
    let api = match find(&state, &id).await {
        Ok(a) => a,
        Err(page) => return page,
    };
    if f.confirm.trim() != api.identifier {
        let shown = Shown::error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "confirm: type the API's identifier exactly to delete it",
        );
        return api_page(&state, &admin, &api, shown);
    }
    let now = state.clock.now();
    match manage::delete_api(state.store.as_ref(), &api.id, now).await {
        Ok(()) => {
            let event = change(&admin, "api.delete").detail("id", api.id.as_str());
            state.audit.record(event, now);
            Redirect::to(&format!("{}/apis", super::cookies::root(&state))).into_response()
        }
        Err(e) => {
            refused(&state, &e, |status, message| {
                std::future::ready(api_page(
                    &state,
                    &admin,
                    &api,
                    Shown::error(status, message),
                ))
            })
            .await
        }
    }
}
