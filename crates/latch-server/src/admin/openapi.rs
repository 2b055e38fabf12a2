//! The OpenAPI 3.1 document of the management API, served at `GET /api/v1/openapi.json`.
//!
//! Paths and operations come from [`super::endpoints`], the table the router is built from; the
//! schemas are derived (utoipa `ToSchema`) from the very types the handlers read and write, in
//! `crate::manage` and here, so neither can drift from the other.

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::pagination::{DEFAULT_LIMIT, MAX_LIMIT};
use super::{Endpoint, Success, endpoints};
use crate::state::AppState;

pub async fn get(State(state): State<AppState>) -> Json<Value> {
    Json(document(&state.settings.issuer))
}

pub fn document(issuer: &str) -> Value {
    let mut paths = Map::new();
    for e in endpoints() {
        let item = paths.entry(e.path).or_insert_with(|| json!({}));
        item[e.verb.as_str()] = operation(&e);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Latch management API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Applications, client secrets, users and sessions, organizations with \
                their members and invitations, roles and API resources. Errors are \
                {\"error\": CODE, \"error_description\": TEXT}. Lists are {\"data\": [...], \
                \"next_cursor\": STRING|null} and take ?limit= and ?after=.",
        },
        "servers": [{"url": format!("{issuer}/api/v1")}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "An access token from the client_credentials grant of a web application with management_api_access",
            }},
            "schemas": schemas(),
        },
    })
}

fn operation(e: &Endpoint) -> Value {
    let doc = &e.doc;
    let mut op = json!({"operationId": doc.operation_id, "summary": doc.summary});
    let mut parameters: Vec<Value> = path_parameters(e.path)
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    let mut responses = Map::new();
    match doc.success {
        Success::Body(status, schema) => {
            responses.insert(
                status.to_string(),
                json_response("Success", schema_ref(schema)),
            );
        }
        Success::List(schema) => {
            parameters.push(json!({"name": "limit", "in": "query", "schema":
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}}));
            parameters.push(
                json!({"name": "after", "in": "query", "schema": {"type": "string"},
                "description": "the next_cursor of the previous page"}),
            );
            responses.insert("200".into(), json_response("A page", list_of(schema)));
            responses.insert("400".into(), error("Bad limit, cursor or filter"));
        }
        Success::NoContent => {
            responses.insert("204".into(), json!({"description": "Done"}));
        }
    }
    for filter in doc.filters {
        parameters.push(json!({"name": filter, "in": "query", "schema": {"type": "string"}}));
    }
    if let Some(schema) = doc.request {
        op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": schema_ref(schema)}}});
        responses.insert("400".into(), error("Malformed JSON, or not JSON"));
        responses.insert("413".into(), error("The body is too large"));
        responses.insert(
            "422".into(),
            error("A field is invalid: wrong type, unknown, read-only, or against a rule"),
        );
    }
    if !doc.public {
        responses.insert("401".into(), error("No valid access token"));
        responses.insert(
            "403".into(),
            error("The token is not for the management API"),
        );
    } else {
        op["security"] = json!([]);
    }
    if e.path.contains('{') {
        responses.insert("404".into(), error("Unknown id"));
    }
    if let Some(when) = doc.conflict {
        responses.insert("409".into(), error(when));
    }
    if !parameters.is_empty() {
        op["parameters"] = Value::Array(parameters);
    }
    op["responses"] = Value::Object(responses);
    op
}

/// `{id}`, `{secret_id}`… of a path, in order.
pub fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn list_of(name: &str) -> Value {
    json!({
        "type": "object",
        "required": ["data", "next_cursor"],
        "properties": {
            "data": {"type": "array", "items": schema_ref(name)},
            "next_cursor": {"type": ["string", "null"]},
        },
    })
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn error(description: &str) -> Value {
    json_response(description, schema_ref("Error"))
}

/// Every schema the document refers to, by the name the endpoint table uses.
pub fn schemas() -> Map<String, Value> {
    use crate::manage::*;
    let mut all = Map::new();
    all.insert(
        "OpenApi".into(),
        json!({"type": "object", "description": "this document"}),
    );
    add::<crate::http::error::ErrorBody<'static>>(&mut all);
    add::<NewApplication>(&mut all);
    view::<ApplicationView>(&mut all);
    add::<ApplicationCreated>(&mut all);
    view::<SecretView>(&mut all);
    view::<ClientSecretCreated>(&mut all);
    add::<NewUser>(&mut all);
    view::<UserView>(&mut all);
    view::<super::users::VerificationEmailQueued>(&mut all);
    view::<crate::user_transfer::ImportReport>(&mut all);
    view::<super::sessions::SessionView>(&mut all);
    view::<super::factors::FactorView>(&mut all);
    view::<super::audit::AuditEventView>(&mut all);
    view::<super::deliveries::DeliveryView>(&mut all);
    add::<NewOrganization>(&mut all);
    view::<OrganizationView>(&mut all);
    add::<NewMember>(&mut all);
    view::<MemberView>(&mut all);
    view::<UserOrganizationView>(&mut all);
    add::<NewTokenHook>(&mut all);
    view::<TokenHookView>(&mut all);
    view::<TokenHookCreated>(&mut all);
    add::<NewInvitation>(&mut all);
    view::<InvitationView>(&mut all);
    view::<InvitationCreated>(&mut all);
    add::<NewRole>(&mut all);
    view::<RoleView>(&mut all);
    add::<NewApi>(&mut all);
    view::<ApiView>(&mut all);
    let patches: [(&str, Value, &str, &[&str]); 6] = [
        (
            "ApplicationPatch",
            schema_of::<NewApplication>(),
            "id, client_id, type, created_at and updated_at",
            &["type"],
        ),
        (
            "UserPatch",
            schema_of::<UserFields>(),
            "id and created_at",
            &[],
        ),
        (
            "OrganizationPatch",
            schema_of::<NewOrganization>(),
            "id, created_at and updated_at",
            &[],
        ),
        (
            "MemberPatch",
            schema_of::<MemberFields>(),
            "user_id and created_at",
            &[],
        ),
        (
            "RolePatch",
            schema_of::<NewRole>(),
            "id, created_at and updated_at",
            &[],
        ),
        (
            "ApiPatch",
            schema_of::<NewApi>(),
            "id, identifier, created_at and updated_at",
            &["identifier"],
        ),
    ];
    for (name, schema, read_only, immutable) in patches {
        all.insert(name.into(), patch_of(schema, read_only, immutable));
    }
    all
}

/// Adds `T`'s schema under its name, with the schemas it refers to.
fn add<T: ToSchema>(all: &mut Map<String, Value>) {
    let mut referred = Vec::new();
    T::schemas(&mut referred);
    for (name, schema) in referred {
        all.insert(name, json_of(&schema));
    }
    all.insert(T::name().into_owned(), schema_of::<T>());
}

/// `add`, for what the server writes: every member is always there (`null` when empty), so
/// every member is required.
fn view<T: ToSchema>(all: &mut Map<String, Value>) {
    add::<T>(all);
    if let Some(Value::Object(schema)) = all.get_mut(T::name().as_ref()) {
        let members: Vec<Value> = schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().map(Value::from).collect())
            .unwrap_or_default();
        schema.insert("required".into(), Value::Array(members));
    }
}

fn schema_of<T: ToSchema>() -> Value {
    json_of(&T::schema())
}

fn json_of(schema: &impl serde::Serialize) -> Value {
    serde_json::to_value(schema).unwrap_or_default()
}

/// The schema of a JSON merge patch (RFC 7396) of the editable fields `fields` describes: every
/// member optional (`null` resets one to its default), read-only members allowed if unchanged.
fn patch_of(mut fields: Value, read_only: &str, immutable: &[&str]) -> Value {
    if let Some(properties) = fields["properties"].as_object_mut() {
        for name in immutable {
            properties.remove(*name);
        }
    }
    if let Some(map) = fields.as_object_mut() {
        map.remove("required");
        map.remove("additionalProperties");
        map.insert(
            "description".into(),
            format!("JSON merge patch (RFC 7396); {read_only} may be repeated but not changed")
                .into(),
        );
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_of_the_router_is_in_the_document() {
        let doc = document("https://id.example.com");
        // Building the router panics on a duplicate or malformed route.
        let _router = super::super::routes();
        let routes = endpoints();
        assert!(routes.len() >= 17);
        for e in &routes {
            let op = &doc["paths"][e.path][e.verb.as_str()];
            assert_eq!(
                op["operationId"], e.doc.operation_id,
                "{:?} {}",
                e.verb, e.path
            );
            let params: Vec<&str> = op["parameters"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|p| p["in"] == "path")
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(
                params,
                path_parameters(e.path).collect::<Vec<_>>(),
                "{}",
                e.path
            );
        }
        let documented: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|p| p.as_object().unwrap().len())
            .sum();
        assert_eq!(documented, routes.len());
    }

    #[test]
    fn every_reference_resolves_and_operation_ids_are_unique() {
        let doc = document("https://id.example.com");
        let text = doc.to_string();
        for piece in text.split("#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap();
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "missing schema {name}"
            );
        }
        let mut ids: Vec<_> = endpoints().iter().map(|e| e.doc.operation_id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), endpoints().len());
    }

    #[test]
    fn operations_document_their_errors_and_the_public_one_needs_no_token() {
        let doc = document("https://id.example.com");
        let create = &doc["paths"]["/applications"]["post"];
        for status in ["201", "400", "401", "403", "413", "422"] {
            assert!(create["responses"].get(status).is_some(), "{status}");
        }
        assert!(
            doc["paths"]["/users/{id}"]["get"]["responses"]
                .get("404")
                .is_some()
        );
        assert!(
            doc["paths"]["/applications/{id}/secrets"]["post"]["responses"]
                .get("409")
                .is_some()
        );
        assert_eq!(doc["paths"]["/openapi.json"]["get"]["security"], json!([]));
        assert_eq!(doc["servers"][0]["url"], "https://id.example.com/api/v1");
    }

    fn properties(name: &str) -> Vec<String> {
        let mut keys: Vec<String> = schemas()[name]["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }

    /// The derivation honours serde's renames and skips: a view's schema names exactly the
    /// members the view writes, a patch's the members its type reads.
    #[test]
    fn derived_schemas_name_the_members_the_types_write_and_read() {
        use crate::manage::ApplicationView;
        use latch_core::application::{Application, ApplicationType, Redirects};
        let app = Application {
            id: "a".into(),
            client_id: "c".into(),
            name: "n".into(),
            application_type: ApplicationType::Web,
            management_api_access: false,
            enforce_pkce: false,
            access_token_ttl_seconds: None,
            redirects: Redirects::default(),
            allowed_origins: vec![],
            id_token_signed_response_alg: latch_core::algorithm::Algorithm::RS256,
            custom_claims: Map::new(),
            claim_mappings: vec![],
            token_hook: None,
            allow_signup: false,
            require_verified_email: false,
            mfa: Default::default(),
            created_at: 0,
            updated_at: 0,
        };
        let written = serde_json::to_value(ApplicationView::from(&app)).unwrap();
        let mut keys: Vec<String> = written.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(properties("Application"), keys);
        assert!(properties("Application").contains(&"type".to_owned()));
        let patch = properties("ApplicationPatch");
        assert!(!patch.contains(&"type".to_owned()), "{patch:?}");
        assert!(patch.contains(&"redirects".to_owned()), "{patch:?}");
        assert_eq!(schemas()["NewApplication"]["additionalProperties"], false);
        assert_eq!(
            schemas()["NewApplication"]["required"],
            json!(["name", "type"])
        );
        assert!(schemas()["ApplicationPatch"].get("required").is_none());
        assert_eq!(
            schemas()["NewUser"]["properties"]["password"]["writeOnly"],
            true
        );
        assert!(properties("User").contains(&"email_verified".to_owned()));
        // A view writes every member, `null` included.
        assert_eq!(
            schemas()["User"]["required"].as_array().map(Vec::len),
            Some(properties("User").len())
        );
        assert!(!properties("User").contains(&"password".to_owned()));
    }
}
