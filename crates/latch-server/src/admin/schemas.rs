//! JSON Schemas (OpenAPI 3.1 dialect) of the management API's bodies. The tests hold each one to
//! the Rust type it describes: same field names, and a value built from the schema deserializes.

use serde_json::{Value, json};

use latch_core::application::{MAX_ACCESS_TOKEN_TTL, MIN_ACCESS_TOKEN_TTL, SIGNING_ALGORITHMS};

pub(crate) fn object<S: AsRef<str>>(required: &[S], properties: Value) -> Value {
    let required: Vec<&str> = required.iter().map(AsRef::as_ref).collect();
    json!({"type": "object", "required": required, "properties": properties, "additionalProperties": false})
}

pub(crate) fn text() -> Value {
    json!({"type": "string"})
}

pub(crate) fn nullable_text() -> Value {
    json!({"type": ["string", "null"]})
}

pub(crate) fn time(nullable: bool) -> Value {
    let kind = if nullable {
        json!(["string", "null"])
    } else {
        json!("string")
    };
    json!({"type": kind, "format": "date-time"})
}

fn uris() -> Value {
    json!({"type": "array", "items": {"type": "string", "format": "uri"}})
}

fn application_fields(read_only: bool) -> Value {
    let mut p = json!({
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "type": {"type": "string", "enum": ["web", "spa", "native"]},
        "management_api_access": {"type": "boolean", "description": "web applications only"},
        "enforce_pkce": {"type": "boolean", "description": "always true for spa and native"},
        "access_token_ttl_seconds": {"type": ["integer", "null"], "minimum": MIN_ACCESS_TOKEN_TTL, "maximum": MAX_ACCESS_TOKEN_TTL},
        "redirects": {"$ref": "#/components/schemas/Redirects"},
        "allowed_origins": {"type": "array", "items": text()},
        "id_token_signed_response_alg": {"type": "string", "enum": SIGNING_ALGORITHMS},
        "custom_claims": custom_claims(),
    });
    if read_only {
        p["id"] = text();
        p["client_id"] = text();
        p["created_at"] = time(false);
        p["updated_at"] = time(false);
    }
    p
}

/// Namespaced claims copied into tokens; `null` (in a patch) removes one, or all.
pub(crate) fn custom_claims() -> Value {
    json!({"type": ["object", "null"], "propertyNames": {"pattern": "^https?://"},
        "description": "claims added to tokens; names must be http(s) URLs (namespaced, as Auth0 requires); registered claim names are refused (422)"})
}

fn user_fields(read_only: bool) -> Value {
    let mut p = json!({
        "email": {"type": "string", "format": "email"},
        "email_verified": {"type": "boolean"},
        "name": nullable_text(),
        "given_name": nullable_text(),
        "family_name": nullable_text(),
    });
    if read_only {
        p["id"] = text();
        p["created_at"] = time(false);
    }
    p
}

pub(crate) fn keys_of(properties: &Value) -> Vec<String> {
    properties
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Every schema the document refers to.
pub fn schemas() -> Value {
    let application = application_fields(true);
    let all_application = keys_of(&application);
    let mut created = application.clone();
    created["client_secret"] =
        json!({"type": "string", "description": "web applications only; shown this once"});
    let mut patch = application_fields(false);
    if let Some(map) = patch.as_object_mut() {
        map.remove("type");
    }
    let mut new_user = user_fields(false);
    new_user["password"] = json!({"type": "string", "minLength": 8, "writeOnly": true});
    let mut user_patch = new_user.clone();
    user_patch["password"]["description"] = json!("sets a new password");
    let user = user_fields(true);
    let all_user = keys_of(&user);
    let mut all = json!({
        "Error": object(&["error", "error_description"], json!({"error": text(), "error_description": text()})),
        "OpenApi": {"type": "object", "description": "this document"},
        "Redirects": object::<&str>(&[], json!({
            "post_login": uris(),
            "initiate_login": {"type": ["string", "null"], "format": "uri"},
            "post_logout": uris(),
            "backchannel_logout": {"type": ["string", "null"], "format": "uri"},
        })),
        "Application": object(&all_application, application),
        "ApplicationCreated": object(&all_application, created),
        "NewApplication": object(&["name", "type"], application_fields(false)),
        "ApplicationPatch": {"description": "JSON merge patch (RFC 7396); id, client_id, type, created_at and updated_at may be repeated but not changed",
            "type": "object", "properties": patch},
        "ClientSecret": object(&["id", "created_at", "last_used_at"], json!({"id": text(), "created_at": time(false), "last_used_at": time(true)})),
        "ClientSecretCreated": object(&["id", "secret", "created_at"], json!({"id": text(), "secret": text(), "created_at": time(false)})),
        "User": object(&all_user, user),
        "NewUser": object(&["email", "password"], new_user),
        "UserPatch": {"description": "JSON merge patch (RFC 7396); id and created_at may be repeated but not changed",
            "type": "object", "properties": user_patch},
        "UserImportReport": object(&["imported", "existing", "failed_count", "failed"], json!({
            "imported": {"type": "integer"}, "existing": {"type": "integer", "description": "lines whose email or id was taken: left as they are"},
            "failed_count": {"type": "integer"},
            "failed": {"type": "array", "description": "the first 1000 failed lines", "items": object(&["line", "error"], json!({"line": {"type": "integer"}, "error": text()}))},
        })),
        "Session": object(&["sid", "created_at", "last_active_at", "applications", "user_agent", "ip"], json!({
            "sid": text(), "created_at": time(false), "last_active_at": time(false),
            "applications": {"type": "array", "items": text(), "description": "client_ids"},
            "user_agent": nullable_text(), "ip": nullable_text(),
        })),
    });
    for extra in [
        super::org_schemas::schemas(),
        super::audit::schemas(),
        super::deliveries::schemas(),
    ] {
        if let (Some(all), Value::Object(more)) = (all.as_object_mut(), extra) {
            all.extend(more);
        }
    }
    all
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeSet;

    use latch_core::application::{Application, ApplicationType, ClientSecretInfo, Redirects};
    use latch_core::store::SessionRecord;
    use latch_core::user::User;
    use latch_core::{Secret, SecretHash};
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use super::*;
    use crate::admin::secrets::ClientSecretCreated;
    use crate::admin::sessions::SessionView;
    use crate::manage::{
        ApplicationView, NewApplication, NewUser, SecretView, UserFields, UserView,
    };

    pub(crate) fn properties(name: &str) -> BTreeSet<String> {
        schemas()[name]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    pub(crate) fn keys(value: &impl Serialize) -> BTreeSet<String> {
        serde_json::to_value(value)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    /// The fields a `deny_unknown_fields` type accepts, read from serde's "expected one of" message.
    pub(crate) fn accepted<T: DeserializeOwned>() -> BTreeSet<String> {
        let err = serde_json::from_value::<T>(json!({"\u{1}probe": 0}))
            .err()
            .unwrap()
            .to_string();
        let expected = err.split_once("expected").unwrap().1;
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    fn app() -> Application {
        Application {
            id: "a".into(),
            client_id: "c".into(),
            name: "n".into(),
            application_type: ApplicationType::Web,
            management_api_access: false,
            enforce_pkce: false,
            access_token_ttl_seconds: None,
            redirects: Redirects::default(),
            allowed_origins: vec![],
            id_token_signed_response_alg: "RS256".into(),
            custom_claims: serde_json::Map::new(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn output_schemas_name_exactly_the_fields_the_views_write() {
        let secret = Secret::generate();
        assert_eq!(
            properties("Application"),
            keys(&ApplicationView::new(&app(), None))
        );
        assert_eq!(
            properties("ApplicationCreated"),
            keys(&ApplicationView::new(&app(), Some(&secret)))
        );
        assert_eq!(properties("Redirects"), keys(&Redirects::default()));
        let info = ClientSecretInfo {
            id: "s".into(),
            hash: SecretHash::of(b"x"),
            created_at: 0,
            last_used_at: None,
        };
        assert_eq!(properties("ClientSecret"), keys(&SecretView::from(&info)));
        let created = ClientSecretCreated {
            id: "s".into(),
            secret: "v".into(),
            created_at: "t".into(),
        };
        assert_eq!(properties("ClientSecretCreated"), keys(&created));
        let user = User {
            id: "u".into(),
            email: "a@b.co".into(),
            email_verified: false,
            name: None,
            given_name: None,
            family_name: None,
            created_at: 0,
        };
        assert_eq!(properties("User"), keys(&UserView::from(&user)));
        let session = SessionRecord {
            sid: "s".into(),
            user_id: "u".into(),
            auth_time: 0,
            created_at: 0,
            last_active_at: 0,
            expires_at: 0,
            user_agent: None,
            ip: None,
            applications: vec![],
        };
        assert_eq!(properties("Session"), keys(&SessionView::from(&session)));
    }

    #[test]
    fn input_schemas_name_exactly_the_fields_the_types_accept() {
        assert_eq!(properties("NewApplication"), accepted::<NewApplication>());
        let mut patchable = accepted::<NewApplication>();
        patchable.remove("type");
        assert_eq!(properties("ApplicationPatch"), patchable);
        assert_eq!(properties("NewUser"), accepted::<NewUser>());
        assert_eq!(properties("UserPatch"), accepted::<UserFields>());
        assert_eq!(properties("Redirects"), accepted::<Redirects>());
    }

    #[test]
    fn a_value_built_from_an_input_schema_is_accepted() {
        let new_app = json!({"name": "n", "type": "web", "management_api_access": true, "enforce_pkce": true,
            "access_token_ttl_seconds": null, "redirects": {"post_login": [], "initiate_login": null, "post_logout": [],
            "backchannel_logout": null}, "allowed_origins": [], "id_token_signed_response_alg": "ES256"});
        for (name, value) in properties("NewApplication")
            .iter()
            .map(|p| (p, &new_app[p]))
        {
            assert!(
                !value.is_null()
                    || schemas()["NewApplication"]["properties"][name]["type"]
                        .to_string()
                        .contains("null"),
                "{name}"
            );
        }
        serde_json::from_value::<NewApplication>(new_app).unwrap();
        serde_json::from_value::<NewUser>(
            json!({"email": "a@b.co", "password": "p", "email_verified": true,
            "name": null, "given_name": "g", "family_name": null}),
        )
        .unwrap();
    }
}
