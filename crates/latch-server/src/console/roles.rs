//! Roles: the list and creation, and one role's page — its name, description and permissions
//! edited, its deletion (members and invitations holding it lose it) with a typed confirmation.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use latch_core::organization::Role;
use latch_core::store::PageRequest;
use serde::Deserialize;
use serde_json::{Value, json};

use super::guard::{Admin, failure};
use super::views::{self, Chrome, Shown, render};
use super::{change, refused, words};
use crate::manage::{self, ManageError, NewRole};
use crate::state::AppState;

const PAGE_SIZE: u32 = 50;

/// A role's fields, as stored or as typed; permissions one per line or separated by spaces.
#[derive(Debug, Default, Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    permissions: String,
}

impl RoleForm {
    fn of(role: &Role) -> Self {
        Self {
            name: role.name.clone(),
            description: role.description.clone().unwrap_or_default(),
            permissions: role.permissions.join("\n"),
        }
    }

    /// The fields as the API takes them (`NewRole`, or a merge patch of all of them).
    fn json(&self) -> Value {
        let description = match self.description.trim() {
            "" => Value::Null,
            d => Value::String(d.to_owned()),
        };
        json!({
            "name": self.name.trim(),
            "description": description,
            "permissions": words(&self.permissions),
        })
    }
}

struct Row {
    id: String,
    name: String,
    description: String,
    permissions: String,
}

#[derive(Template)]
#[template(path = "console/roles.html")]
struct ListPage<'a> {
    chrome: Chrome<'a>,
    title: &'a str,
    error: Option<String>,
    roles: Vec<Row>,
    next_page: Option<String>,
    form: RoleForm,
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
    shown: Shown<RoleForm>,
) -> Response {
    let page = PageRequest {
        limit: PAGE_SIZE,
        after,
    };
    let roles = match state.store.list_roles(&page).await {
        Ok(p) => p,
        Err(e) => return failure(state, &e),
    };
    let rows = roles
        .data
        .iter()
        .map(|r| Row {
            id: r.id.clone(),
            name: r.name.clone(),
            description: r.description.clone().unwrap_or_default(),
            permissions: r.permissions.join(" "),
        })
        .collect();
    render(
        state,
        shown.status(),
        &ListPage {
            chrome: Chrome::new(state, admin, "roles"),
            title: "Roles",
            error: shown.error,
            roles: rows,
            next_page: roles.next_cursor,
            form: shown.form.unwrap_or_default(),
        },
    )
}

pub async fn create(
    admin: Admin,
    State(state): State<AppState>,
    Form(f): Form<RoleForm>,
) -> Response {
    let now = state.clock.now();
    let created = match manage::patch::parse_json::<NewRole>(&f.json()) {
        Ok(new) => manage::create_role(state.store.as_ref(), new, now).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(role) => {
            let event = change(&admin, "role.create").detail("id", role.id.as_str());
            state.audit.record(event, now);
            to_role(&state, &role.id)
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

fn to_role(state: &AppState, id: &str) -> Response {
    Redirect::to(&format!("{}/roles/{id}", super::cookies::root(state))).into_response()
}

async fn find(state: &AppState, id: &str) -> Result<Role, Response> {
    match manage::role(state.store.as_ref(), id).await {
        Ok(role) => Ok(role),
        Err(ManageError::NotFound(_)) => Err(views::problem(
            state,
            StatusCode::NOT_FOUND,
            "No such role",
            "It may have been deleted.",
        )),
        Err(e) => Err(failure(state, &e)),
    }
}

#[derive(Template)]
#[template(path = "console/role.html")]
struct RolePage<'a> {
    chrome: Chrome<'a>,
    title: &'a str,
    error: Option<String>,
    id: &'a str,
    name: &'a str,
    form: RoleForm,
}

pub async fn show(admin: Admin, State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match find(&state, &id).await {
        Ok(role) => role_page(&state, &admin, &role, Shown::default()),
        Err(page) => page,
    }
}

fn role_page(state: &AppState, admin: &Admin, role: &Role, shown: Shown<RoleForm>) -> Response {
    render(
        state,
        shown.status(),
        &RolePage {
            chrome: Chrome::new(state, admin, "roles"),
            title: &role.name,
            error: shown.error,
            id: &role.id,
            name: &role.name,
            form: shown.form.unwrap_or_else(|| RoleForm::of(role)),
        },
    )
}

/// `POST /admin/roles/{id}`: members holding the role see the change at their next refresh.
pub async fn update(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<RoleForm>,
) -> Response {
    let role = match find(&state, &id).await {
        Ok(r) => r,
        Err(page) => return page,
    };
    let now = state.clock.now();
    match manage::update_role(state.store.as_ref(), &role, &f.json(), now).await {
        Ok(role) => {
            let event = change(&admin, "role.update").detail("id", role.id.as_str());
            state.audit.record(event, now);
            to_role(&state, &role.id)
        }
        Err(e) => {
            refused(&state, &e, |status, message| {
                let shown = Shown {
                    form: Some(f),
                    ..Shown::error(status, message)
                };
                std::future::ready(role_page(&state, &admin, &role, shown))
            })
            .await
        }
    }
}

/// `POST …/delete`: only with the role's name typed.
pub async fn delete(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<super::DeleteForm>,
) -> Response {
    let role = match find(&state, &id).await {
        Ok(r) => r,
        Err(page) => return page,
    };
    if f.confirm.trim() != role.name.trim() {
        let shown = Shown::error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "confirm: type the role's name exactly to delete it",
        );
        return role_page(&state, &admin, &role, shown);
    }
    match manage::delete_role(state.store.as_ref(), &role.id).await {
        Ok(()) => {
            let event = change(&admin, "role.delete").detail("id", role.id.as_str());
            state.audit.record(event, state.clock.now());
            Redirect::to(&format!("{}/roles", super::cookies::root(&state))).into_response()
        }
        Err(e) => {
            refused(&state, &e, |status, message| {
                std::future::ready(role_page(
                    &state,
                    &admin,
                    &role,
                    Shown::error(status, message),
                ))
            })
            .await
        }
    }
}
