//! The management API under `/api/v1` (docs/api.md): applications, client
//! secrets, users and their sessions, organizations with their members and invitations, roles and
//! API resources, as JSON, authorized by a `client_credentials` access token of a web application
//! with `management_api_access`.
//!
//! Every route is one row of [`endpoints`]: the router and the OpenAPI document are both built from
//! that table, so neither can drift from the other; the document's schemas are derived from the
//! request and response types. Operations and their rules live in the management layer,
//! `crate::manage` (shared with the CLI); handlers here extract, call it, and map its
//! `ManageError` to HTTP (`errors`).

mod apis;
mod applications;
pub(crate) use applications::refresh_cache;
mod audit;
mod auth;
mod deliveries;
pub(crate) use deliveries::DeliveryView;
mod errors;
pub(crate) mod factors;
mod invitations;
mod json;
mod members;
mod openapi;
mod organizations;
mod pagination;
mod roles;
mod secrets;
mod sessions;
mod token_hook;
mod users;

use axum::Router;
use axum::handler::Handler;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};

use crate::http::error::{ApiError, no_store};
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
    let mut routes = vec![
        endpoint(Get, "/openapi.json", openapi::get, Doc::new("getOpenApi", "This OpenAPI 3.1 document", Body(200, "OpenApi")).public()),
        endpoint(Post, apps, applications::create, Doc::new("createApplication", "Register an application; a web application's answer carries its first client_secret, shown this once", Body(201, "ApplicationCreated")).body("NewApplication")),
        endpoint(Get, apps, applications::list, Doc::new("listApplications", "List applications", List("Application"))),
        endpoint(Get, app, applications::show, Doc::new("getApplication", "Read an application", Body(200, "Application"))),
        endpoint(Patch, app, applications::update, Doc::new("updateApplication", "Change an application with a JSON merge patch (RFC 7396); null resets a field to its default", Body(200, "Application")).body("ApplicationPatch")),
        endpoint(Delete, app, applications::delete, Doc::new("deleteApplication", "Delete an application and revoke what was issued to it", NoContent)),
        endpoint(Post, secrets, secrets::create, Doc::new("createClientSecret", "Create a client secret (web applications only), shown this once", Body(201, "ClientSecretCreated")).conflict("two secrets are active already (too_many_secrets)")),
        endpoint(Get, secrets, secrets::list, Doc::new("listClientSecrets", "List the active client secrets, without their values", List("ClientSecret"))),
        endpoint(Get, "/applications/{id}/backchannel-deliveries", deliveries::list, Doc::new("listBackchannelDeliveries", "List the back-channel logout notifications sent to an application: pending, delivered and abandoned", List("BackchannelDelivery"))),
        endpoint(Post, "/applications/{id}/token-hook", token_hook::set, Doc::new("setTokenHook", "Set (or replace) the application's token hook; the answer carries its signing secret, shown this once", Body(201, "TokenHookCreated")).body("NewTokenHook")),
        endpoint(Get, "/applications/{id}/token-hook", token_hook::show, Doc::new("getTokenHook", "Read the application's token hook (never its secret)", Body(200, "TokenHook"))),
        endpoint(Delete, "/applications/{id}/token-hook", token_hook::delete, Doc::new("deleteTokenHook", "Remove the application's token hook", NoContent)),
        endpoint(Delete, "/applications/{id}/secrets/{secret_id}", secrets::delete, Doc::new("revokeClientSecret", "Revoke a client secret", NoContent)),
        endpoint(Post, users, users::create, Doc::new("createUser", "Create a user", Body(201, "User")).body("NewUser").conflict("the email (email_taken) or the external_id (external_id_taken) is taken")),
        endpoint(Post, "/users/import", users::import, Doc::new("importUsers", "Import users from JSON Lines in the body (one user per line, password hashes of other servers accepted; see docs/api.md); existing emails are skipped, failed lines reported by number", Body(200, "UserImportReport"))),
        endpoint(Get, users, users::list, Doc::new("listUsers", "List users, or find one by email or by external_id (a list of 0 or 1)", List("User")).filters(&["email", "external_id"])),
        endpoint(Get, user, users::show, Doc::new("getUser", "Read a user", Body(200, "User"))),
        endpoint(Patch, user, users::update, Doc::new("updateUser", "Change a user with a JSON merge patch (RFC 7396); `password` sets a new password", Body(200, "User")).body("UserPatch").conflict("the email (email_taken) or the external_id (external_id_taken) is taken")),
        endpoint(Delete, user, users::delete, Doc::new("deleteUser", "Delete a user, ending their sessions", NoContent)),
        endpoint(Get, sessions, sessions::list, Doc::new("listUserSessions", "List a user's active browser sessions", List("Session"))),
        endpoint(Delete, sessions, sessions::end_all, Doc::new("endUserSessions", "End all of a user's sessions", NoContent)),
        endpoint(Delete, "/users/{id}/sessions/{sid}", sessions::end_one, Doc::new("endUserSession", "End one of a user's sessions", NoContent)),
        endpoint(Get, "/users/{id}/factors", factors::list, Doc::new("listUserFactors", "List a user's second factors (never their secrets)", List("Factor"))),
        endpoint(Delete, "/users/{id}/factors/{factor_id}", factors::delete, Doc::new("deleteUserFactor", "Reset (remove) one of a user's second factors; the last one takes the recovery codes with it", NoContent)),
        endpoint(Get, "/users/{id}/organizations", members::of_user, Doc::new("listUserOrganizations", "List the organizations a user belongs to, with the user's roles in each", List("UserOrganization"))),
        endpoint(Post, "/users/{id}/verification-email", users::send_verification, Doc::new("sendVerificationEmail", "Mail the user a single-use link that verifies their email address (replacing any earlier link)", Body(202, "VerificationEmailQueued")).conflict("e-mail is not configured (email_not_configured) or the send limit for the address is reached (mail_limited)")),
        endpoint(Delete, "/users/{id}/lock", users::unlock, Doc::new("unlockUser", "Lift the lock that repeated failed sign-ins put on the user's account", NoContent)),
        endpoint(Get, "/audit-events", audit::list, Doc::new("listAuditEvents", "List audit events, oldest first; `since`/`until` take RFC 3339 or unix seconds (inclusive)", List("AuditEvent")).filters(&["user_id", "client_id", "type", "since", "until"])),
    ];
    routes.extend(organization_endpoints());
    routes
}

/// Organizations, members, invitations, roles and API resources.
fn organization_endpoints() -> Vec<Endpoint> {
    use Success::{Body, List, NoContent};
    use Verb::{Delete, Get, Patch, Post};
    let (orgs, org) = ("/organizations", "/organizations/{id}");
    let (members, member) = (
        "/organizations/{id}/members",
        "/organizations/{id}/members/{user_id}",
    );
    let invitations = "/organizations/{id}/invitations";
    let (roles, role, apis, api) = ("/roles", "/roles/{id}", "/apis", "/apis/{id}");
    vec![
        endpoint(Post, orgs, organizations::create, Doc::new("createOrganization", "Create an organization", Body(201, "Organization")).body("NewOrganization").conflict("the name (name_taken) or the external_id (external_id_taken) is taken")),
        endpoint(Get, orgs, organizations::list, Doc::new("listOrganizations", "List organizations, or find one by external_id (a list of 0 or 1)", List("Organization")).filters(&["external_id"])),
        endpoint(Get, org, organizations::show, Doc::new("getOrganization", "Read an organization", Body(200, "Organization"))),
        endpoint(Patch, org, organizations::update, Doc::new("updateOrganization", "Change an organization with a JSON merge patch (RFC 7396)", Body(200, "Organization")).body("OrganizationPatch").conflict("the name (name_taken) or the external_id (external_id_taken) is taken")),
        endpoint(Delete, org, organizations::delete, Doc::new("deleteOrganization", "Delete an organization with its memberships and invitations; refresh tokens issued for it stop working", NoContent)),
        endpoint(Post, members, members::add, Doc::new("addMember", "Make a user a member, with roles (by name)", Body(201, "Member")).body("NewMember").conflict("the user is a member already (already_member)")),
        endpoint(Get, members, members::list, Doc::new("listMembers", "List an organization's members, by user id", List("Member"))),
        endpoint(Get, member, members::show, Doc::new("getMember", "Read a membership", Body(200, "Member"))),
        endpoint(Patch, member, members::update, Doc::new("updateMember", "Replace a member's roles (JSON merge patch); shows at their next token refresh", Body(200, "Member")).body("MemberPatch")),
        endpoint(Delete, member, members::remove, Doc::new("removeMember", "Remove a member; their refresh tokens for the organization stop working", NoContent)),
        endpoint(Post, invitations, invitations::create, Doc::new("createInvitation", "Invite an email address; the link (shown this once) works once, for that email, until it expires", Body(201, "InvitationCreated")).body("NewInvitation")),
        endpoint(Get, invitations, invitations::list, Doc::new("listInvitations", "List an organization's invitations, without their links", List("Invitation"))),
        endpoint(Delete, "/organizations/{id}/invitations/{invitation_id}", invitations::delete, Doc::new("revokeInvitation", "Revoke an invitation", NoContent)),
        endpoint(Post, roles, roles::create, Doc::new("createRole", "Create a role", Body(201, "Role")).body("NewRole").conflict("the name is taken (name_taken)")),
        endpoint(Get, roles, roles::list, Doc::new("listRoles", "List roles", List("Role"))),
        endpoint(Get, role, roles::show, Doc::new("getRole", "Read a role", Body(200, "Role"))),
        endpoint(Patch, role, roles::update, Doc::new("updateRole", "Change a role with a JSON merge patch (RFC 7396)", Body(200, "Role")).body("RolePatch").conflict("the name is taken (name_taken)")),
        endpoint(Delete, role, roles::delete, Doc::new("deleteRole", "Delete a role; members and invitations lose it", NoContent)),
        endpoint(Post, apis, apis::create, Doc::new("createApi", "Register an API resource (an audience)", Body(201, "Api")).body("NewApi").conflict("the identifier is taken (identifier_taken)")),
        endpoint(Get, apis, apis::list, Doc::new("listApis", "List API resources", List("Api"))),
        endpoint(Get, api, apis::show, Doc::new("getApi", "Read an API resource", Body(200, "Api"))),
        endpoint(Patch, api, apis::update, Doc::new("updateApi", "Change an API resource with a JSON merge patch (RFC 7396); the identifier stays", Body(200, "Api")).body("ApiPatch")),
        endpoint(Delete, api, apis::delete, Doc::new("deleteApi", "Delete an API resource; refresh tokens issued for it stop working", NoContent)),
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

/// `routes`, with every successful change recorded in the audit log.
pub fn audited_routes(state: &AppState) -> Router<AppState> {
    routes().route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        audit::record_changes,
    ))
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
