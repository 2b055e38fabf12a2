//! The OpenAPI 3.1 document of the management API, served at `GET /api/v1/openapi.json`.
//!
//! Paths and operations come from [`super::endpoints`], the table the router is built from; the
//! schemas below are checked against the types they describe by the tests at the end.

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

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
            "schemas": super::schemas::schemas(),
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
}
