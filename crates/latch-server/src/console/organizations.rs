//! Organizations: the list and creation, and one organization's page — its name and display
//! name, its members with their roles (`members`), its invitations (`members`) and its deletion
//! with a typed confirmation. The rules and their messages are the management layer's.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use latch_core::organization::{Invitation, Membership, Organization};
use latch_core::store::{PageRequest, Store, StoreError};
use serde::Deserialize;
use serde_json::json;

use super::guard::{Admin, failure};
use super::views::{self, Chrome, Shown, render};
use super::{change, refused};
use crate::manage::{self, ManageError, NewOrganization, rfc3339};
use crate::state::AppState;

const PAGE_SIZE: u32 = 50;
/// How many role names the member and invitation forms offer as a hint.
const ROLE_HINT: u32 = 50;

struct Row {
    id: String,
    name: String,
    display_name: String,
    created_at: String,
}

impl From<&Organization> for Row {
    fn from(o: &Organization) -> Self {
        Self {
            id: o.id.clone(),
            name: o.name.clone(),
            display_name: o.display_name.clone().unwrap_or_default(),
            created_at: rfc3339(o.created_at),
        }
    }
}

/// The name and display name, as stored or as typed (creation and the settings form).
#[derive(Debug, Default, Deserialize)]
pub struct OrganizationForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    display_name: String,
}

impl OrganizationForm {
    fn display_name(&self) -> Option<String> {
        let d = self.display_name.trim();
        (!d.is_empty()).then(|| d.to_owned())
    }
}

#[derive(Template)]
#[template(path = "console/organizations.html")]
struct ListPage<'a> {
    chrome: Chrome<'a>,
    title: &'a str,
    error: Option<String>,
    organizations: Vec<Row>,
    next_page: Option<String>,
    new: OrganizationForm,
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
    shown: Shown<OrganizationForm>,
) -> Response {
    let page = PageRequest {
        limit: PAGE_SIZE,
        after,
    };
    let orgs = match state.store.list_organizations(&page).await {
        Ok(p) => p,
        Err(e) => return failure(state, &e),
    };
    render(
        state,
        shown.status(),
        &ListPage {
            chrome: Chrome::new(state, admin, "organizations"),
            title: "Organizations",
            error: shown.error,
            organizations: orgs.data.iter().map(Row::from).collect(),
            next_page: orgs.next_cursor,
            new: shown.form.unwrap_or_default(),
        },
    )
}

pub async fn create(
    admin: Admin,
    State(state): State<AppState>,
    Form(f): Form<OrganizationForm>,
) -> Response {
    let new = NewOrganization {
        name: f.name.trim().to_owned(),
        display_name: f.display_name(),
        metadata: None,
        external_id: None,
    };
    let now = state.clock.now();
    match manage::create_organization(state.store.as_ref(), new, now).await {
        Ok(org) => {
            let event = change(&admin, "organization.create").detail("id", org.id.as_str());
            state.audit.record(event, now);
            to_organization(&state, &org.id)
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

pub(super) fn to_organization(state: &AppState, id: &str) -> Response {
    Redirect::to(&format!(
        "{}/organizations/{id}",
        super::cookies::root(state)
    ))
    .into_response()
}

pub(super) async fn find(state: &AppState, id: &str) -> Result<Organization, Response> {
    match manage::organization(state.store.as_ref(), id).await {
        Ok(org) => Ok(org),
        Err(ManageError::NotFound(_)) => Err(views::problem(
            state,
            StatusCode::NOT_FOUND,
            "No such organization",
            "It may have been deleted.",
        )),
        Err(e) => Err(failure(state, &e)),
    }
}

/// Which form of the organization's page a refusal belongs to, with what was typed in it.
pub(super) enum Typed {
    Settings(OrganizationForm),
    Member(super::members::MemberForm),
    Invitation(super::members::MemberForm),
}

struct MemberRow {
    user_id: String,
    email: String,
    roles: String,
}

struct InvitationRow {
    id: String,
    email: String,
    roles: String,
    expires_at: String,
    state: &'static str,
}

impl InvitationRow {
    fn of(i: &Invitation, now: latch_core::UnixTime) -> Self {
        let roles: Vec<&str> = i.roles.iter().map(|r| r.name.as_str()).collect();
        Self {
            id: i.id.clone(),
            email: i.email.clone(),
            roles: roles.join(", "),
            expires_at: rfc3339(i.expires_at),
            state: match i.accepted_at {
                Some(_) => "accepted",
                None if i.expires_at <= now => "expired",
                None => "pending",
            },
        }
    }
}

/// The members with their e-mails (a deleted user's id stands in) and roles.
async fn member_rows(
    store: &dyn Store,
    members: &[Membership],
) -> Result<Vec<MemberRow>, StoreError> {
    let mut rows = Vec::with_capacity(members.len());
    for m in members {
        let email = store.get_user(&m.user_id).await?.map(|u| u.email);
        rows.push(MemberRow {
            user_id: m.user_id.clone(),
            email: email.unwrap_or_else(|| m.user_id.clone()),
            roles: m.role_names().join(", "),
        });
    }
    Ok(rows)
}

#[derive(Template)]
#[template(path = "console/organization.html")]
struct OrganizationPage<'a> {
    chrome: Chrome<'a>,
    title: &'a str,
    error: Option<String>,
    org: Row,
    settings: OrganizationForm,
    settings_error: Option<String>,
    members: Vec<MemberRow>,
    next_members: Option<String>,
    member: super::members::MemberForm,
    member_error: Option<String>,
    invitations: Vec<InvitationRow>,
    next_invitations: Option<String>,
    invitation: super::members::MemberForm,
    invitation_error: Option<String>,
    role_names: String,
}

/// Where the organization page's two lists start.
#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    members_after: Option<String>,
    invitations_after: Option<String>,
}

pub async fn show(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    match find(&state, &id).await {
        Ok(org) => organization_page(&state, &admin, &org, Shown::default(), q).await,
        Err(page) => page,
    }
}

/// The organization's page (`Shown` says which form a refusal belongs to).
pub(super) async fn organization_page(
    state: &AppState,
    admin: &Admin,
    org: &Organization,
    shown: Shown<Typed>,
    at: ShowQuery,
) -> Response {
    let store = state.store.as_ref();
    let now = state.clock.now();
    let page = |after| PageRequest {
        limit: PAGE_SIZE,
        after,
    };
    let listed = async {
        let members = store
            .list_memberships(&org.id, &page(at.members_after))
            .await?;
        let invitations = store
            .list_invitations(&org.id, &page(at.invitations_after))
            .await?;
        let roles = store
            .list_roles(&PageRequest {
                limit: ROLE_HINT,
                after: None,
            })
            .await?;
        let rows = member_rows(store, &members.data).await?;
        Ok::<_, StoreError>((rows, members.next_cursor, invitations, roles))
    };
    let (members, next_members, invitations, roles) = match listed.await {
        Ok(l) => l,
        Err(e) => return failure(state, &e),
    };
    let invitations_rows = invitations
        .data
        .iter()
        .map(|i| InvitationRow::of(i, now))
        .collect();
    let status = shown.status();
    let (mut settings, mut member, mut invitation) = (None, None, None);
    let (mut settings_error, mut member_error, mut invitation_error) = (None, None, None);
    match shown.form {
        Some(Typed::Settings(f)) => (settings, settings_error) = (Some(f), shown.form_error),
        Some(Typed::Member(f)) => (member, member_error) = (Some(f), shown.form_error),
        Some(Typed::Invitation(f)) => (invitation, invitation_error) = (Some(f), shown.form_error),
        None => {}
    }
    render(
        state,
        status,
        &OrganizationPage {
            chrome: Chrome::new(state, admin, "organizations"),
            title: org.display_name.as_deref().unwrap_or(&org.name),
            error: shown.error,
            org: Row::from(org),
            settings: settings.unwrap_or_else(|| OrganizationForm {
                name: org.name.clone(),
                display_name: org.display_name.clone().unwrap_or_default(),
            }),
            settings_error,
            members,
            next_members,
            member: member.unwrap_or_default(),
            member_error,
            invitations: invitations_rows,
            next_invitations: invitations.next_cursor,
            invitation: invitation.unwrap_or_default(),
            invitation_error,
            role_names: roles
                .data
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        },
    )
}

/// The organization's page showing why a management operation was refused.
pub(super) async fn refused_here(
    state: &AppState,
    admin: &Admin,
    org: &Organization,
    e: &ManageError,
) -> Response {
    refused(state, e, |status, message| {
        let shown = Shown::error(status, message);
        organization_page(state, admin, org, shown, ShowQuery::default())
    })
    .await
}

/// `POST …/settings`: a merge patch (RFC 7396) of the name and display name, as the API takes.
pub async fn update_settings(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<OrganizationForm>,
) -> Response {
    let org = match find(&state, &id).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let patch = json!({ "name": f.name.trim(), "display_name": f.display_name() });
    let now = state.clock.now();
    match manage::update_organization(state.store.as_ref(), &org, &patch, now).await {
        Ok(org) => {
            let event = change(&admin, "organization.update").detail("id", org.id.as_str());
            state.audit.record(event, now);
            to_organization(&state, &org.id)
        }
        Err(e) => {
            refused(&state, &e, |status, message| {
                let shown = Shown::at_form(status, message, Typed::Settings(f));
                organization_page(&state, &admin, &org, shown, ShowQuery::default())
            })
            .await
        }
    }
}

/// `POST …/delete`: only with the organization's name typed; its memberships and invitations go
/// with it and refresh tokens issued for it stop working.
pub async fn delete(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<super::DeleteForm>,
) -> Response {
    let org = match find(&state, &id).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    if f.confirm.trim() != org.name {
        let shown = Shown::error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "confirm: type the organization's name exactly to delete it",
        );
        return organization_page(&state, &admin, &org, shown, ShowQuery::default()).await;
    }
    let now = state.clock.now();
    match manage::delete_organization(state.store.as_ref(), &org.id, now).await {
        Ok(()) => {
            let event = change(&admin, "organization.delete").detail("id", org.id.as_str());
            state.audit.record(event, now);
            Redirect::to(&format!("{}/organizations", super::cookies::root(&state))).into_response()
        }
        Err(e) => refused_here(&state, &admin, &org, &e).await,
    }
}
