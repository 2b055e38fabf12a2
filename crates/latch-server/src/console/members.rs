//! An organization's members and invitations: a member added by e-mail with roles, their roles
//! changed, their removal; an invitation created (its link shown once) and revoked. Roles are
//! typed by name, separated by commas, and resolved by the management layer, which names the
//! first that does not exist as the API would (`roles[1]: no role has this name`).

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use latch_core::organization::Organization;
use serde::Deserialize;
use serde_json::json;

use super::guard::{Admin, failure};
use super::organizations::{
    ShowQuery, Typed, find, organization_page, refused_here, to_organization,
};
use super::views::{Chrome, Shown, render};
use super::{change, names, refused};
use crate::manage::{self, NewInvitation, NewMember};
use crate::state::AppState;

/// A member to add or a person to invite: their e-mail and the roles' names.
#[derive(Debug, Default, Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub roles: String,
}

/// The organization's page with a refusal by the form it came from.
async fn shown_at(
    state: &AppState,
    admin: &Admin,
    org: &Organization,
    status: StatusCode,
    message: String,
    typed: Typed,
) -> Response {
    let shown = Shown::at_form(status, message, typed);
    organization_page(state, admin, org, shown, ShowQuery::default()).await
}

/// `POST …/members`: the user with this e-mail becomes a member with these roles.
pub async fn add(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<MemberForm>,
) -> Response {
    let org = match find(&state, &id).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let user = match state.store.get_user_by_email(f.email.trim()).await {
        Ok(found) => found.map(|(user, _)| user),
        Err(e) => return failure(&state, &e),
    };
    let Some(user) = user else {
        let message = "email: no user has this email".to_owned();
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return shown_at(&state, &admin, &org, status, message, Typed::Member(f)).await;
    };
    let new = NewMember {
        user_id: user.id.clone(),
        roles: names(&f.roles),
    };
    let now = state.clock.now();
    match manage::add_member(state.store.as_ref(), &org, new, now).await {
        Ok(_) => {
            let event = change(&admin, "organization.add_member")
                .user(Some(&user.id))
                .detail("organization_id", org.id.as_str());
            state.audit.record(event, now);
            to_organization(&state, &org.id)
        }
        Err(e) => {
            refused(&state, &e, |status, message| {
                shown_at(&state, &admin, &org, status, message, Typed::Member(f))
            })
            .await
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct RolesForm {
    #[serde(default)]
    roles: String,
}

/// `POST …/members/{user_id}`: the roles typed replace those held (the API's merge patch of
/// `roles`); they show in the member's next token refresh.
pub async fn update_roles(
    admin: Admin,
    State(state): State<AppState>,
    Path((id, user_id)): Path<(String, String)>,
    Form(f): Form<RolesForm>,
) -> Response {
    let org = match find(&state, &id).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let store = state.store.as_ref();
    let patch = json!({ "roles": names(&f.roles) });
    let updated = match manage::member(store, &org.id, &user_id).await {
        Ok(current) => manage::update_member(store, &current, &patch).await,
        Err(e) => Err(e),
    };
    member_changed(
        &state,
        &admin,
        &org,
        &user_id,
        "organization.update_member",
        updated,
    )
    .await
}

/// `POST …/members/{user_id}/remove`: their refresh tokens for this organization stop working.
pub async fn remove(
    admin: Admin,
    State(state): State<AppState>,
    Path((id, user_id)): Path<(String, String)>,
) -> Response {
    let org = match find(&state, &id).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let now = state.clock.now();
    let removed = manage::remove_member(state.store.as_ref(), &org, &user_id, now).await;
    member_changed(
        &state,
        &admin,
        &org,
        &user_id,
        "organization.remove_member",
        removed,
    )
    .await
}

/// Audits a change of a member and returns to the organization, or shows why it was refused.
async fn member_changed<T>(
    state: &AppState,
    admin: &Admin,
    org: &Organization,
    user_id: &str,
    action: &'static str,
    outcome: Result<T, manage::ManageError>,
) -> Response {
    match outcome {
        Ok(_) => {
            let event = change(admin, action)
                .user(Some(user_id))
                .detail("organization_id", org.id.as_str());
            state.audit.record(event, state.clock.now());
            to_organization(state, &org.id)
        }
        Err(e) => refused_here(state, admin, org, &e).await,
    }
}

#[derive(Template)]
#[template(path = "console/invitation.html")]
struct InvitationPage<'a> {
    chrome: Chrome<'a>,
    title: &'a str,
    error: Option<&'a str>,
    organization_id: &'a str,
    email: &'a str,
    url: &'a str,
    expires_at: &'a str,
}

/// `POST …/invitations`: the link is shown on the answer, once (only its hash is kept).
pub async fn invite(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<MemberForm>,
) -> Response {
    let org = match find(&state, &id).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let new = NewInvitation {
        email: f.email.trim().to_owned(),
        roles: names(&f.roles),
        ttl_seconds: None,
        client_id: None,
    };
    let (store, issuer, now) = (
        state.store.as_ref(),
        &state.settings.issuer,
        state.clock.now(),
    );
    match manage::create_invitation(store, issuer, &org, new, now).await {
        Ok(created) => {
            // The invitation's id, never its link: the link is a bearer credential.
            let event = change(&admin, "organization.invite")
                .detail("organization_id", org.id.as_str())
                .detail("invitation_id", created.id.as_str());
            state.audit.record(event, now);
            let title = format!("Invitation to {}", org.name);
            let page = InvitationPage {
                chrome: Chrome::new(&state, &admin, "organizations"),
                title: &title,
                error: None,
                organization_id: &org.id,
                email: f.email.trim(),
                url: &created.url,
                expires_at: &created.expires_at,
            };
            render(&state, StatusCode::OK, &page)
        }
        Err(e) => {
            refused(&state, &e, |status, message| {
                shown_at(&state, &admin, &org, status, message, Typed::Invitation(f))
            })
            .await
        }
    }
}

/// `POST …/invitations/{invitation_id}/revoke`: its link stops working.
pub async fn revoke_invitation(
    admin: Admin,
    State(state): State<AppState>,
    Path((id, invitation_id)): Path<(String, String)>,
) -> Response {
    let org = match find(&state, &id).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    match manage::revoke_invitation(state.store.as_ref(), &org, &invitation_id).await {
        Ok(()) => {
            let event = change(&admin, "organization.revoke_invitation")
                .detail("organization_id", org.id.as_str())
                .detail("invitation_id", invitation_id.as_str());
            state.audit.record(event, state.clock.now());
            to_organization(&state, &org.id)
        }
        Err(e) => refused_here(&state, &admin, &org, &e).await,
    }
}
