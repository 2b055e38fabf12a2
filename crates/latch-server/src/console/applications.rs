//! Applications: the list (type, client ID, last secret use), creation with the type picker,
//! one application's settings, redirects, client secrets (created, shown once, revoked) and its
//! deletion with a typed confirmation. The rules and their messages are the management layer's,
//! so the console says exactly what the API would.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use latch_core::Secret;
use latch_core::application::{Application, ApplicationType, SIGNING_ALGORITHMS};
use latch_core::audit::ActorType;
use latch_core::store::PageRequest;
use serde::Deserialize;
use serde_json::{Value, json};

use super::guard::{Admin, failure};
use super::views::{self, Chrome, Shown, render};
use super::{CLIENT_ID, change, refused};
use crate::admin::DeliveryView;
use crate::jobs::audit::Event;
use crate::manage::{self, ManageError, NewApplication, rfc3339};
use crate::state::AppState;

const PAGE_SIZE: u32 = 50;
const DELIVERIES_PAGE_SIZE: u32 = 20;

/// What the seeds say of each type.
fn type_text(kind: ApplicationType) -> &'static str {
    match kind {
        ApplicationType::Web => {
            "Web application: server-side, keeps a client secret (at most two active)."
        }
        ApplicationType::Spa => {
            "Single-page application: browser-based, a public client; PKCE is enforced and there is no secret."
        }
        ApplicationType::Native => {
            "Native application: desktop or mobile, a public client; PKCE is enforced and there is no secret."
        }
    }
}

pub(super) struct Row {
    id: String,
    name: String,
    kind: &'static str,
    client_id: String,
    last_secret_use: String,
}

#[derive(Template)]
#[template(path = "console/applications.html")]
struct ListPage<'a> {
    chrome: Chrome<'a>,
    title: &'a str,
    error: Option<String>,
    applications: Vec<Row>,
    next_page: Option<String>,
    name: String,
    kind: String,
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    after: Option<String>,
}

/// `GET /admin`: the applications.
pub async fn home(State(state): State<AppState>) -> Response {
    Redirect::to(&format!("{}/applications", super::cookies::root(&state))).into_response()
}

pub async fn list(
    admin: Admin,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Response {
    list_page(&state, &admin, q.after, Attempt::default()).await
}

/// A creation that failed, shown again with its message.
#[derive(Default)]
struct Attempt {
    status: Option<StatusCode>,
    error: Option<String>,
    name: String,
    kind: String,
}

async fn list_page(
    state: &AppState,
    admin: &Admin,
    after: Option<String>,
    attempt: Attempt,
) -> Response {
    let page = PageRequest {
        limit: PAGE_SIZE,
        after,
    };
    let apps = match state.store.list_applications(&page).await {
        Ok(p) => p,
        Err(e) => return failure(state, &e),
    };
    let mut applications = Vec::with_capacity(apps.data.len());
    for app in &apps.data {
        let last_secret_use = if app.application_type == ApplicationType::Web {
            match state.store.list_client_secrets(&app.id).await {
                Ok(secrets) => secrets
                    .iter()
                    .filter_map(|s| s.last_used_at)
                    .max()
                    .map_or_else(|| "never".to_owned(), rfc3339),
                Err(e) => return failure(state, &e),
            }
        } else {
            "no secret".to_owned()
        };
        applications.push(Row {
            id: app.id.clone(),
            name: app.name.clone(),
            kind: app.application_type.as_str(),
            client_id: app.client_id.clone(),
            last_secret_use,
        });
    }
    let kind = if attempt.kind.is_empty() {
        "web".to_owned()
    } else {
        attempt.kind
    };
    render(
        state,
        attempt.status.unwrap_or(StatusCode::OK),
        &ListPage {
            chrome: Chrome::new(state, admin, "applications"),
            title: "Applications",
            error: attempt.error,
            applications,
            next_page: apps.next_cursor,
            name: attempt.name,
            kind,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// `POST /admin/applications`: a web application's first secret is shown on the answer, once.
pub async fn create(
    admin: Admin,
    State(state): State<AppState>,
    Form(f): Form<CreateForm>,
) -> Response {
    let kind = match f.kind.as_deref() {
        Some("web") => ApplicationType::Web,
        Some("spa") => ApplicationType::Spa,
        Some("native") => ApplicationType::Native,
        _ => {
            let attempt = Attempt {
                status: Some(StatusCode::UNPROCESSABLE_ENTITY),
                error: Some("type: choose web, spa or native".into()),
                name: f.name,
                kind: String::new(),
            };
            return list_page(&state, &admin, None, attempt).await;
        }
    };
    let new = NewApplication {
        name: f.name.trim().to_owned(),
        application_type: kind,
        management_api_access: false,
        enforce_pkce: None,
        access_token_ttl_seconds: None,
        redirects: Default::default(),
        allowed_origins: Vec::new(),
        id_token_signed_response_alg: None,
        custom_claims: None,
        claim_mappings: None,
        allow_signup: false,
        require_verified_email: false,
        mfa: None,
    };
    let now = state.clock.now();
    let created = manage::create_application(
        state.store.as_ref(),
        new,
        now,
        state.settings.backchannel_allow_private,
    )
    .await;
    match created {
        Ok((app, secret)) => {
            crate::admin::refresh_cache(&state).await;
            let event = change(&admin, "application.create").client(Some(&app.client_id));
            state.audit.record(event.detail("id", app.id.as_str()), now);
            match secret {
                Some(secret) => secret_page(&state, &admin, &app, &secret),
                None => to_application(&state, &app.id),
            }
        }
        Err(e) => {
            refused(&state, &e, |status, message| {
                let attempt = Attempt {
                    status: Some(status),
                    error: Some(message),
                    name: f.name,
                    kind: kind.as_str().to_owned(),
                };
                list_page(&state, &admin, None, attempt)
            })
            .await
        }
    }
}

fn to_application(state: &AppState, id: &str) -> Response {
    Redirect::to(&format!(
        "{}/applications/{id}",
        super::cookies::root(state)
    ))
    .into_response()
}

#[derive(Template)]
#[template(path = "console/secret.html")]
struct SecretPage<'a> {
    chrome: Chrome<'a>,
    title: &'a str,
    error: Option<&'a str>,
    application_id: &'a str,
    client_id: &'a str,
    secret: &'a str,
}

/// The one page that shows a secret's value (`Cache-Control: no-store`, as every page).
fn secret_page(state: &AppState, admin: &Admin, app: &Application, secret: &Secret) -> Response {
    let title = format!("New client secret for {}", app.name);
    render(
        state,
        StatusCode::OK,
        &SecretPage {
            chrome: Chrome::new(state, admin, "applications"),
            title: &title,
            error: None,
            application_id: &app.id,
            client_id: &app.client_id,
            secret: secret.expose_secret(),
        },
    )
}

struct AppView {
    id: String,
    client_id: String,
    name: String,
    enforce_pkce: bool,
    management_api_access: bool,
    allow_signup: bool,
    require_verified_email: bool,
    ttl: String,
    alg: String,
}

/// The redirect form's fields, as stored or as typed.
#[derive(Debug, Default, Deserialize)]
pub struct RedirectsForm {
    #[serde(default)]
    post_login: String,
    #[serde(default)]
    initiate_login: String,
    #[serde(default)]
    post_logout: String,
    #[serde(default)]
    backchannel_logout: String,
    #[serde(default)]
    allowed_origins: String,
}

impl RedirectsForm {
    fn of(app: &Application) -> Self {
        let r = &app.redirects;
        Self {
            post_login: r.post_login.join("\n"),
            initiate_login: r.initiate_login.clone().unwrap_or_default(),
            post_logout: r.post_logout.join("\n"),
            backchannel_logout: r.backchannel_logout.clone().unwrap_or_default(),
            allowed_origins: app.allowed_origins.join("\n"),
        }
    }

    /// The merge patch (RFC 7396) the API would take: an emptied field returns to its default.
    fn patch(&self) -> Value {
        let lines = |s: &str| -> Vec<String> {
            s.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let one = |s: &str| match s.trim() {
            "" => Value::Null,
            v => Value::String(v.to_owned()),
        };
        json!({
            "redirects": {
                "post_login": lines(&self.post_login),
                "initiate_login": one(&self.initiate_login),
                "post_logout": lines(&self.post_logout),
                "backchannel_logout": one(&self.backchannel_logout),
            },
            "allowed_origins": lines(&self.allowed_origins),
        })
    }
}

struct SecretRow {
    id: String,
    created_at: String,
    last_used_at: String,
}

#[derive(Template)]
#[template(path = "console/application.html")]
struct ApplicationPage<'a> {
    chrome: Chrome<'a>,
    title: &'a str,
    error: Option<String>,
    app: AppView,
    kind_text: &'static str,
    web: bool,
    console_app: bool,
    algorithms: &'static [&'static str],
    redirects: RedirectsForm,
    redirect_error: Option<String>,
    secrets: Vec<SecretRow>,
    deliveries: Vec<DeliveryView>,
    next_deliveries: Option<String>,
}

/// The application's page showing why a management operation was refused.
async fn refused_here(
    state: &AppState,
    admin: &Admin,
    app: &Application,
    e: &ManageError,
) -> Response {
    refused(state, e, |status, message| {
        application_page(state, admin, app, Shown::error(status, message))
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct ShowQuery {
    /// The cursor of the back-channel deliveries' next page.
    deliveries_after: Option<String>,
}

pub async fn show(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    match find(&state, &id).await {
        Ok(app) => page_at(&state, &admin, &app, Shown::default(), q.deliveries_after).await,
        Err(page) => page,
    }
}

async fn find(state: &AppState, id: &str) -> Result<Application, Response> {
    match manage::application(state.store.as_ref(), id).await {
        Ok(app) => Ok(app),
        Err(ManageError::NotFound(_)) => Err(views::problem(
            state,
            StatusCode::NOT_FOUND,
            "No such application",
            "It may have been deleted.",
        )),
        Err(e) => Err(failure(state, &e)),
    }
}

/// The application, unless it is the console's own (which Latch keeps as it is).
async fn find_changeable(state: &AppState, id: &str) -> Result<Application, Response> {
    let app = find(state, id).await?;
    if app.client_id == CLIENT_ID {
        return Err(views::problem(
            state,
            StatusCode::FORBIDDEN,
            "This application cannot be changed",
            "It is the admin console's own application.",
        ));
    }
    Ok(app)
}

async fn application_page(
    state: &AppState,
    admin: &Admin,
    app: &Application,
    shown: Shown<RedirectsForm>,
) -> Response {
    page_at(state, admin, app, shown, None).await
}

/// The application's page, its back-channel deliveries from `deliveries_after` on.
async fn page_at(
    state: &AppState,
    admin: &Admin,
    app: &Application,
    shown: Shown<RedirectsForm>,
    deliveries_after: Option<String>,
) -> Response {
    // Back-channel logout notifications and their fate: the management API's own query and view
    // (`GET /api/v1/applications/{id}/backchannel-deliveries`), oldest first.
    let page = PageRequest {
        limit: DELIVERIES_PAGE_SIZE,
        after: deliveries_after,
    };
    let deliveries = match state.store.list_deliveries(&app.id, &page).await {
        Ok(d) => d,
        Err(e) => return failure(state, &e),
    };
    let web = app.application_type == ApplicationType::Web;
    let secrets = if web {
        match state.store.list_client_secrets(&app.id).await {
            Ok(s) => s
                .iter()
                .map(|s| SecretRow {
                    id: s.id.clone(),
                    created_at: rfc3339(s.created_at),
                    last_used_at: s.last_used_at.map_or_else(|| "never".to_owned(), rfc3339),
                })
                .collect(),
            Err(e) => return failure(state, &e),
        }
    } else {
        Vec::new()
    };
    render(
        state,
        shown.status(),
        &ApplicationPage {
            chrome: Chrome::new(state, admin, "applications"),
            title: &app.name,
            error: shown.error,
            app: AppView {
                id: app.id.clone(),
                client_id: app.client_id.clone(),
                name: app.name.clone(),
                enforce_pkce: app.enforce_pkce,
                management_api_access: app.management_api_access,
                allow_signup: app.allow_signup,
                require_verified_email: app.require_verified_email,
                ttl: app
                    .access_token_ttl_seconds
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                alg: app.id_token_signed_response_alg.as_str().to_owned(),
            },
            kind_text: type_text(app.application_type),
            web,
            console_app: app.client_id == CLIENT_ID,
            algorithms: &SIGNING_ALGORITHMS,
            redirects: shown.form.unwrap_or_else(|| RedirectsForm::of(app)),
            redirect_error: shown.form_error,
            secrets,
            deliveries: deliveries.data.iter().map(DeliveryView::from).collect(),
            next_deliveries: deliveries.next_cursor,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    name: String,
    enforce_pkce: Option<String>,
    management_api_access: Option<String>,
    allow_signup: Option<String>,
    require_verified_email: Option<String>,
    #[serde(default)]
    access_token_ttl_seconds: String,
    id_token_signed_response_alg: Option<String>,
}

impl SettingsForm {
    fn patch(&self, web: bool) -> Value {
        let ttl = super::ttl_value(&self.access_token_ttl_seconds);
        let mut patch = json!({
            "name": self.name.trim(),
            "access_token_ttl_seconds": ttl,
            "allow_signup": self.allow_signup.is_some(),
            "require_verified_email": self.require_verified_email.is_some(),
        });
        if let Some(alg) = &self.id_token_signed_response_alg {
            patch["id_token_signed_response_alg"] = Value::String(alg.clone());
        }
        // Unchecked boxes are absent from a form: for a web application that means off.
        // Public applications have neither setting to change (PKCE is always on).
        if web {
            patch["enforce_pkce"] = Value::Bool(self.enforce_pkce.is_some());
            patch["management_api_access"] = Value::Bool(self.management_api_access.is_some());
        }
        patch
    }
}

pub async fn update_settings(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<SettingsForm>,
) -> Response {
    let app = match find_changeable(&state, &id).await {
        Ok(a) => a,
        Err(page) => return page,
    };
    let patch = f.patch(app.application_type == ApplicationType::Web);
    update(
        &state,
        &admin,
        &app,
        &patch,
        "application.update_settings",
        None,
    )
    .await
}

pub async fn update_redirects(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<RedirectsForm>,
) -> Response {
    let app = match find_changeable(&state, &id).await {
        Ok(a) => a,
        Err(page) => return page,
    };
    let patch = f.patch();
    update(
        &state,
        &admin,
        &app,
        &patch,
        "application.update_redirects",
        Some(f),
    )
    .await
}

/// Applies a merge patch through the management layer; a refusal is shown on the page, by the
/// form it came from, with what was typed.
async fn update(
    state: &AppState,
    admin: &Admin,
    app: &Application,
    patch: &Value,
    action: &'static str,
    redirects: Option<RedirectsForm>,
) -> Response {
    let now = state.clock.now();
    let updated = manage::update_application(
        state.store.as_ref(),
        app,
        patch,
        now,
        state.settings.backchannel_allow_private,
    )
    .await;
    match updated {
        Ok(app) => {
            crate::admin::refresh_cache(state).await;
            let event = change(admin, action).client(Some(&app.client_id));
            state.audit.record(event.detail("id", app.id.as_str()), now);
            to_application(state, &app.id)
        }
        Err(e) => {
            refused(state, &e, |status, message| {
                let shown = match redirects {
                    Some(form) => Shown::at_form(status, message, form),
                    None => Shown::error(status, message),
                };
                application_page(state, admin, app, shown)
            })
            .await
        }
    }
}

/// `POST …/secrets`: a new secret, shown once; wants a recent sign-in.
pub async fn create_secret(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Response {
    let app = match find_changeable(&state, &id).await {
        Ok(a) => a,
        Err(page) => return page,
    };
    let now = state.clock.now();
    if !admin.recently_authenticated(now) {
        let next = format!("/applications/{}", app.id);
        return views::reauth(&state, &admin, "Creating a client secret", &next);
    }
    match manage::create_client_secret(state.store.as_ref(), &app, now).await {
        Ok((secret, info)) => {
            crate::admin::refresh_cache(&state).await;
            state
                .audit
                .record(secret_event("secret.created", &admin, &app, &info.id), now);
            secret_page(&state, &admin, &app, &secret)
        }
        Err(e) => refused_here(&state, &admin, &app, &e).await,
    }
}

pub async fn revoke_secret(
    admin: Admin,
    State(state): State<AppState>,
    Path((id, secret_id)): Path<(String, String)>,
) -> Response {
    let app = match find_changeable(&state, &id).await {
        Ok(a) => a,
        Err(page) => return page,
    };
    let now = state.clock.now();
    match manage::revoke_client_secret(state.store.as_ref(), &app, &secret_id).await {
        Ok(()) => {
            crate::admin::refresh_cache(&state).await;
            state.audit.record(
                secret_event("secret.revoked", &admin, &app, &secret_id),
                now,
            );
            to_application(&state, &app.id)
        }
        Err(e) => refused_here(&state, &admin, &app, &e).await,
    }
}

/// A secret event: the secret's id, never its value or hash; the administrator as actor.
fn secret_event(kind: &'static str, admin: &Admin, app: &Application, secret_id: &str) -> Event {
    Event::new(kind)
        .actor(ActorType::Admin, Some(&admin.user.id))
        .client(Some(&app.client_id))
        .detail("secret_id", secret_id)
        .detail("via", "console")
}

/// `POST …/delete`: only with the application's name typed.
pub async fn delete(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<super::DeleteForm>,
) -> Response {
    let app = match find_changeable(&state, &id).await {
        Ok(a) => a,
        Err(page) => return page,
    };
    if f.confirm.trim() != app.name.trim() {
        let shown = Shown::error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "confirm: type the application's name exactly to delete it",
        );
        return application_page(&state, &admin, &app, shown).await;
    }
    let now = state.clock.now();
    match crate::lifecycle::delete_application(&state, &app.id, now).await {
        Ok(_) => {
            crate::admin::refresh_cache(&state).await;
            let event = change(&admin, "application.delete").client(Some(&app.client_id));
            state.audit.record(event.detail("id", app.id.as_str()), now);
            Redirect::to(&format!("{}/applications", super::cookies::root(&state))).into_response()
        }
        Err(e) => failure(&state, &e),
    }
}
