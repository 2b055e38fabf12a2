//! Users: search by email, create, and one user's page — sessions with the applications in
//! each (end one or all), the sign-in lock (unlock), console access (grant or withdraw, after a
//! recent sign-in), a password-reset mail (when e-mail is configured), the second factors (reset
//! one, as `DELETE /api/v1/users/{id}/factors/{factor_id}` does) and deletion with a typed
//! confirmation.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use latch_core::audit::ActorType;
use latch_core::store::{PageRequest, SessionSelector};
use latch_core::user::User;
use serde::Deserialize;

use super::guard::{Admin, failure};
use super::views::{self, Chrome, render};
use super::{change, refused};
use crate::admin::factors::FactorView;
use crate::jobs::audit::Event;
use crate::manage::{self, ManageError, NewUser, rfc3339};
use crate::state::AppState;

const PAGE_SIZE: u32 = 50;

pub(super) struct Row {
    id: String,
    email: String,
    name: String,
    admin: bool,
    created_at: String,
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct ListPage<'a> {
    chrome: Chrome<'a>,
    title: &'a str,
    error: Option<String>,
    search: String,
    users: Vec<Row>,
    next_page: Option<String>,
    new_email: String,
    new_name: String,
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    email: Option<String>,
    after: Option<String>,
}

pub async fn list(
    admin: Admin,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Response {
    let search = q.email.unwrap_or_default().trim().to_owned();
    list_page(&state, &admin, search, q.after, Attempt::default()).await
}

#[derive(Default)]
struct Attempt {
    status: Option<StatusCode>,
    error: Option<String>,
    email: String,
    name: String,
}

async fn list_page(
    state: &AppState,
    admin: &Admin,
    search: String,
    after: Option<String>,
    attempt: Attempt,
) -> Response {
    let page = PageRequest {
        limit: PAGE_SIZE,
        after,
    };
    let email = (!search.is_empty()).then_some(search.as_str());
    let users = match state.store.list_users(&page, email).await {
        Ok(p) => p,
        Err(e) => return failure(state, &e),
    };
    let rows = users
        .data
        .iter()
        .map(|u| Row {
            id: u.id.clone(),
            email: u.email.clone(),
            name: u.name.clone().unwrap_or_default(),
            admin: u.admin,
            created_at: rfc3339(u.created_at),
        })
        .collect();
    render(
        state,
        attempt.status.unwrap_or(StatusCode::OK),
        &ListPage {
            chrome: Chrome::new(state, admin, "users"),
            title: "Users",
            error: attempt.error,
            search,
            users: rows,
            next_page: users.next_cursor,
            new_email: attempt.email,
            new_name: attempt.name,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

pub async fn create(
    admin: Admin,
    State(state): State<AppState>,
    Form(f): Form<CreateForm>,
) -> Response {
    let name = f.name.trim();
    let new = NewUser {
        email: f.email.clone(),
        password: f.password,
        email_verified: false,
        name: (!name.is_empty()).then(|| name.to_owned()),
        given_name: None,
        family_name: None,
        external_id: None,
        metadata: None,
        admin: false,
    };
    let now = state.clock.now();
    match manage::create_user(state.store.as_ref(), &state.passwords, new, now).await {
        Ok(user) => {
            let event = change(&admin, "user.create").user(Some(&user.id));
            state.audit.record(event, now);
            to_user(&state, &user.id)
        }
        Err(e) => {
            refused(&state, &e, |status, message| {
                let attempt = Attempt {
                    status: Some(status),
                    error: Some(message),
                    email: f.email,
                    name: f.name,
                };
                list_page(&state, &admin, String::new(), None, attempt)
            })
            .await
        }
    }
}

fn to_user(state: &AppState, id: &str) -> Response {
    Redirect::to(&format!("{}/users/{id}", super::cookies::root(state))).into_response()
}

struct SessionRow {
    sid: String,
    created_at: String,
    last_active_at: String,
    applications: String,
}

#[derive(Template)]
#[template(path = "console/user.html")]
struct UserPage<'a> {
    chrome: Chrome<'a>,
    title: &'a str,
    error: Option<String>,
    /// What the last action did (the reset link sent).
    notice: Option<String>,
    user: UserRow,
    lock: String,
    /// E-mail is configured: the password-reset button is shown.
    mail: bool,
    mfa_enrolled: bool,
    factors: Vec<FactorView>,
    locked: bool,
    /// The administrator's own account: no withdrawing their own access or deleting themselves.
    own: bool,
    sessions: Vec<SessionRow>,
}

struct UserRow {
    id: String,
    email: String,
    email_verified: bool,
    name: String,
    created_at: String,
    admin: bool,
}

async fn find(state: &AppState, id: &str) -> Result<User, Response> {
    match manage::user(state.store.as_ref(), id).await {
        Ok(u) => Ok(u),
        Err(ManageError::NotFound(_)) => Err(views::problem(
            state,
            StatusCode::NOT_FOUND,
            "No such user",
            "They may have been deleted.",
        )),
        Err(e) => Err(failure(state, &e)),
    }
}

pub async fn show(admin: Admin, State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let user = match find(&state, &id).await {
        Ok(u) => u,
        Err(page) => return page,
    };
    user_page(&state, &admin, &user, None, None).await
}

async fn user_page(
    state: &AppState,
    admin: &Admin,
    user: &User,
    error: Option<(StatusCode, String)>,
    notice: Option<String>,
) -> Response {
    let now = state.clock.now();
    let key = crate::signin::throttle::account_key(&user.email);
    let wait = match state.store.get_throttle(&key).await {
        Ok(t) => t.and_then(|t| t.retry_after(now)),
        Err(e) => return failure(state, &e),
    };
    let lock = wait.map_or_else(
        || "not locked".to_owned(),
        |w| format!("locked for another {w} s (failed sign-ins)"),
    );
    let records = match state.store.list_user_sessions(&user.id, now).await {
        Ok(s) => s,
        Err(e) => return failure(state, &e),
    };
    let mut sessions = Vec::with_capacity(records.len());
    for s in &records {
        let mut names = Vec::with_capacity(s.applications.len());
        for client_id in &s.applications {
            let name = match state
                .applications
                .by_client_id(state.store.as_ref(), client_id)
                .await
            {
                Ok(Some(app)) => app.name.clone(),
                Ok(None) => format!("{client_id} (deleted)"),
                Err(e) => return failure(state, &e),
            };
            names.push(name);
        }
        sessions.push(SessionRow {
            sid: s.sid.clone(),
            created_at: rfc3339(s.created_at),
            last_active_at: rfc3339(s.last_active_at),
            applications: if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            },
        });
    }
    let listed = match state.store.list_factors(&user.id).await {
        Ok(f) => f,
        Err(e) => return failure(state, &e),
    };
    let passkeys = match state.store.list_passkeys(&user.id).await {
        Ok(p) => p,
        Err(e) => return failure(state, &e),
    };
    // As the API's `mfa_enrolled` (a confirmed factor or a passkey), from the factors just read.
    let mfa_enrolled = listed.iter().any(|f| f.confirmed_at.is_some()) || !passkeys.is_empty();
    let mut factors: Vec<FactorView> = listed.iter().map(FactorView::from).collect();
    factors.extend(passkeys.iter().map(FactorView::from));
    factors.sort_by(|a, b| a.id.cmp(&b.id));
    let (status, error) = match error {
        Some((s, e)) => (s, Some(e)),
        None => (StatusCode::OK, None),
    };
    render(
        state,
        status,
        &UserPage {
            chrome: Chrome::new(state, admin, "users"),
            title: &user.email,
            error,
            notice,
            user: UserRow {
                id: user.id.clone(),
                email: user.email.clone(),
                email_verified: user.email_verified,
                name: user.name.clone().unwrap_or_default(),
                created_at: rfc3339(user.created_at),
                admin: user.admin,
            },
            lock,
            locked: wait.is_some(),
            mail: state.mail_enabled(),
            mfa_enrolled,
            factors,
            own: user.id == admin.user.id,
            sessions,
        },
    )
}

/// A `session.ended` by an administrator in the console (the sid is added per session).
fn ended_by(admin: &Admin, user_id: &str, because: &str) -> Event {
    Event::new("session.ended")
        .actor(ActorType::Admin, Some(&admin.user.id))
        .user(Some(user_id))
        .because(because)
        .detail("via", "console")
}

async fn end(
    state: &AppState,
    admin: &Admin,
    user: &User,
    selector: SessionSelector<'_>,
) -> Response {
    let now = state.clock.now();
    match crate::lifecycle::end_sessions(state, selector, now).await {
        Ok(ended) => {
            state
                .audit
                .record_sessions(ended_by(admin, &user.id, "admin"), &ended, now);
            to_user(state, &user.id)
        }
        Err(e) => failure(state, &e),
    }
}

pub async fn end_session(
    admin: Admin,
    State(state): State<AppState>,
    Path((id, sid)): Path<(String, String)>,
) -> Response {
    let user = match find(&state, &id).await {
        Ok(u) => u,
        Err(page) => return page,
    };
    let selector = SessionSelector::OneOfUser {
        user_id: &user.id,
        sid: &sid,
    };
    end(&state, &admin, &user, selector).await
}

pub async fn end_all_sessions(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Response {
    let user = match find(&state, &id).await {
        Ok(u) => u,
        Err(page) => return page,
    };
    let selector = SessionSelector::AllOfUser { user_id: &user.id };
    end(&state, &admin, &user, selector).await
}

pub async fn unlock(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Response {
    let user = match find(&state, &id).await {
        Ok(u) => u,
        Err(page) => return page,
    };
    match crate::signin::throttle::unlock_account(state.store.as_ref(), &user.email).await {
        Ok(_) => {
            let event = change(&admin, "user.unlock").user(Some(&user.id));
            state.audit.record(event, state.clock.now());
            to_user(&state, &user.id)
        }
        Err(e) => failure(&state, &e),
    }
}

/// Mails the user a password-reset link, as `latch users send-reset` does (30 minutes, once),
/// audited as `password_reset.requested` by the administrator.
pub async fn send_reset(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Response {
    let user = match find(&state, &id).await {
        Ok(u) => u,
        Err(page) => return page,
    };
    let admin_id = admin.user.id.as_str();
    let refused = if !state.mail_enabled() {
        "email_not_configured: set LATCH_SMTP_URL and LATCH_SMTP_FROM to send e-mail"
    } else {
        match crate::signin::password_reset::request_reset(
            &state,
            &user.email,
            None,
            Some(admin_id),
        )
        .await
        {
            Ok(true) => {
                let notice = format!(
                    "A password-reset link was sent to {}. It works once, for 30 minutes.",
                    user.email
                );
                return user_page(&state, &admin, &user, None, Some(notice)).await;
            }
            Ok(false) => {
                "mail_limited: the e-mail send limit for this address is reached; try again later"
            }
            Err(e) => return failure(&state, &e),
        }
    };
    let error = (StatusCode::CONFLICT, refused.to_owned());
    user_page(&state, &admin, &user, Some(error), None).await
}

/// Resets (removes) one second factor through the API's path (`factors::remove`: the last one
/// takes the recovery codes with it, every session of the user ends), audited as
/// `factor.removed` by the administrator.
pub async fn reset_factor(
    admin: Admin,
    State(state): State<AppState>,
    Path((id, factor_id)): Path<(String, String)>,
) -> Response {
    let user = match find(&state, &id).await {
        Ok(u) => u,
        Err(page) => return page,
    };
    let by = crate::factors::RemovedBy::Admin(&admin.user.id);
    match crate::factors::remove(&state, &user.id, &factor_id, by, None).await {
        Ok(true) => to_user(&state, &user.id),
        Ok(false) => {
            let error = (StatusCode::NOT_FOUND, "factor: not found".to_owned());
            user_page(&state, &admin, &user, Some(error), None).await
        }
        Err(e) => failure(&state, &e),
    }
}

#[derive(Debug, Deserialize)]
pub struct AdminForm {
    #[serde(default)]
    admin: String,
}

/// Grants or withdraws console access: after a recent sign-in, never one's own.
pub async fn set_admin(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<AdminForm>,
) -> Response {
    let user = match find(&state, &id).await {
        Ok(u) => u,
        Err(page) => return page,
    };
    let grant = f.admin == "on";
    if user.id == admin.user.id {
        let refused = (
            StatusCode::UNPROCESSABLE_ENTITY,
            "admin: you cannot change your own console access".to_owned(),
        );
        return user_page(&state, &admin, &user, Some(refused), None).await;
    }
    let now = state.clock.now();
    if !admin.recently_authenticated(now) {
        let what = if grant {
            "Granting console access"
        } else {
            "Withdrawing console access"
        };
        return views::reauth(&state, &admin, what, &format!("/users/{}", user.id));
    }
    match manage::set_admin(state.store.as_ref(), &user.id, grant).await {
        Ok(()) => {
            let action = if grant {
                "user.grant_admin"
            } else {
                "user.withdraw_admin"
            };
            state
                .audit
                .record(change(&admin, action).user(Some(&user.id)), now);
            to_user(&state, &user.id)
        }
        Err(e) => failure(&state, &e),
    }
}

/// Ends the user's sessions (the applications are told), then deletes them; only with their
/// email typed, never one's own account.
pub async fn delete(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<super::DeleteForm>,
) -> Response {
    let user = match find(&state, &id).await {
        Ok(u) => u,
        Err(page) => return page,
    };
    let refused = if user.id == admin.user.id {
        Some("confirm: you cannot delete your own account here")
    } else if !f.confirm.trim().eq_ignore_ascii_case(user.email.trim()) {
        Some("confirm: type the user's email exactly to delete them")
    } else {
        None
    };
    if let Some(message) = refused {
        let error = (StatusCode::UNPROCESSABLE_ENTITY, message.to_owned());
        return user_page(&state, &admin, &user, Some(error), None).await;
    }
    let now = state.clock.now();
    match manage::delete_user(state.store.as_ref(), &user.id, now).await {
        Ok(ended) => {
            crate::lifecycle::sessions_ended(&state, &ended, now).await;
            state
                .audit
                .record_sessions(ended_by(&admin, &user.id, "user_deleted"), &ended, now);
            state
                .audit
                .record(change(&admin, "user.delete").user(Some(&user.id)), now);
            Redirect::to(&format!("{}/users", super::cookies::root(&state))).into_response()
        }
        Err(e) => failure(&state, &e),
    }
}
