//! The management API under `/api/v1` (CONTRACT.md "Management API"): applications, client
//! secrets, users and their sessions, as JSON, authorized by a `client_credentials` access token of
//! a web application with `management_api_access`.
//!
//! Every route is one row of [`endpoints`]: the router and the OpenAPI document are both built from
//! that table, so neither can drift from the other. Creation and update rules live in
//! `crate::manage` (shared with the CLI); handlers here extract, call, and map.

mod applications;
mod auth;
mod json;
mod openapi;
mod pagination;
mod schemas;
mod secrets;
mod sessions;
mod users;

use axum::Router;
use axum::handler::Handler;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};

use crate::error::{ApiError, no_store};
use crate::state::AppState;

/// The HTTP methods the management API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Get,
    Post,
    Patch,
    Delete,
}

impl Verb {
    fn filter(self) -> MethodFilter {
        match self {
            Self::Get => MethodFilter::GET,
            Self::Post => MethodFilter::POST,
            Self::Patch => MethodFilter::PATCH,
            Self::Delete => MethodFilter::DELETE,
        }
    }

    /// The name OpenAPI uses for the operation.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Post => "post",
            Self::Patch => "patch",
            Self::Delete => "delete",
        }
    }
}

/// What an endpoint answers on success.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Success {
    /// A status and the schema of its body.
    Body(u16, &'static str),
    /// 200 with `{"data": [schema…], "next_cursor": …}`; takes `limit` and `after`.
    List(&'static str),
    /// 204, no body.
    NoContent,
}

/// An endpoint's documentation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Doc {
    pub operation_id: &'static str,
    pub summary: &'static str,
    pub request: Option<&'static str>,
    pub success: Success,
    /// Query parameters besides `limit` and `after`.
    pub filters: &'static [&'static str],
    /// When the endpoint may answer 409.
    pub conflict: Option<&'static str>,
    /// Served without a token.
    pub public: bool,
}

impl Doc {
    const fn new(operation_id: &'static str, summary: &'static str, success: Success) -> Self {
        Self {
            operation_id,
            summary,
            request: None,
            success,
            filters: &[],
            conflict: None,
            public: false,
        }
    }

    const fn body(mut self, schema: &'static str) -> Self {
        self.request = Some(schema);
        self
    }

    const fn filters(mut self, filters: &'static [&'static str]) -> Self {
        self.filters = filters;
        self
    }

    const fn conflict(mut self, when: &'static str) -> Self {
        self.conflict = Some(when);
        self
    }

    const fn public(mut self) -> Self {
        self.public = true;
        self
    }
}

/// One route: method, path (relative to `/api/v1`), handler and documentation.
pub(crate) struct Endpoint {
    pub verb: Verb,
    pub path: &'static str,
    pub doc: Doc,
    route: MethodRouter<AppState>,
}

fn endpoint<H, T>(verb: Verb, path: &'static str, handler: H, doc: Doc) -> Endpoint
where
    H: Handler<T, AppState>,
    T: 'static,
{
    Endpoint {
        verb,
        path,
        doc,
        route: on(verb.filter(), handler),
    }
}

/// Every route of the management API.
pub(crate) fn endpoints() -> Vec<Endpoint> {
    use Success::{Body, List, NoContent};
    use Verb::{Delete, Get, Patch, Post};
    let (apps, app, secrets) = (
        "/applications",
        "/applications/{id}",
        "/applications/{id}/secrets",
    );
    let (users, user, sessions) = ("/users", "/users/{id}", "/users/{id}/sessions");
    vec![
        endpoint(Get, "/openapi.json", openapi::get, Doc::new("getOpenApi", "This OpenAPI 3.1 document", Body(200, "OpenApi")).public()),
        endpoint(Post, apps, applications::create, Doc::new("createApplication", "Register an application; a web application's answer carries its first client_secret, shown this once", Body(201, "ApplicationCreated")).body("NewApplication")),
        endpoint(Get, apps, applications::list, Doc::new("listApplications", "List applications", List("Application"))),
        endpoint(Get, app, applications::show, Doc::new("getApplication", "Read an application", Body(200, "Application"))),
        endpoint(Patch, app, applications::update, Doc::new("updateApplication", "Change an application with a JSON merge patch (RFC 7396); null resets a field to its default", Body(200, "Application")).body("ApplicationPatch")),
        endpoint(Delete, app, applications::delete, Doc::new("deleteApplication", "Delete an application and revoke what was issued to it", NoContent)),
        endpoint(Post, secrets, secrets::create, Doc::new("createClientSecret", "Create a client secret (web applications only), shown this once", Body(201, "ClientSecretCreated")).conflict("two secrets are active already (too_many_secrets)")),
        endpoint(Get, secrets, secrets::list, Doc::new("listClientSecrets", "List the active client secrets, without their values", List("ClientSecret"))),
        endpoint(Delete, "/applications/{id}/secrets/{secret_id}", secrets::delete, Doc::new("revokeClientSecret", "Revoke a client secret", NoContent)),
        endpoint(Post, users, users::create, Doc::new("createUser", "Create a user", Body(201, "User")).body("NewUser").conflict("the email is taken (email_taken)")),
        endpoint(Get, users, users::list, Doc::new("listUsers", "List users, or find one by email", List("User")).filters(&["email"])),
        endpoint(Get, user, users::show, Doc::new("getUser", "Read a user", Body(200, "User"))),
        endpoint(Patch, user, users::update, Doc::new("updateUser", "Change a user with a JSON merge patch (RFC 7396); `password` sets a new password", Body(200, "User")).body("UserPatch").conflict("the email is taken (email_taken)")),
        endpoint(Delete, user, users::delete, Doc::new("deleteUser", "Delete a user, ending their sessions", NoContent)),
        endpoint(Get, sessions, sessions::list, Doc::new("listUserSessions", "List a user's active browser sessions", List("Session"))),
        endpoint(Delete, sessions, sessions::end_all, Doc::new("endUserSessions", "End all of a user's sessions", NoContent)),
        endpoint(Delete, "/users/{id}/sessions/{sid}", sessions::end_one, Doc::new("endUserSession", "End one of a user's sessions", NoContent)),
        endpoint(Delete, "/users/{id}/lock", users::unlock, Doc::new("unlockUser", "Lift the lock that repeated failed sign-ins put on the user's account", NoContent)),
    ]
}

/// The management API's router, to be nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    endpoints()
        .into_iter()
        .fold(Router::new(), |router, e| router.route(e.path, e.route))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(unknown_endpoint)
        .layer(axum::middleware::map_response(not_cached))
}

async fn unknown_endpoint() -> ApiError {
    ApiError::not_found("endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        "this endpoint does not take that method",
    )
}

/// Management answers may carry secrets and are never cached.
async fn not_cached(response: Response) -> Response {
    no_store(response.into_response())
}
