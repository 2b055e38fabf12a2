//! JSON Schemas of the organization, member, invitation, role and API bodies; the tests hold each
//! to the Rust type it describes, as `schemas` does for the others.

use latch_core::application::{MAX_ACCESS_TOKEN_TTL, MIN_ACCESS_TOKEN_TTL};
use latch_core::organization::MAX_INVITATION_TTL;
use serde_json::{Value, json};

use super::schemas::{custom_claims, keys_of, nullable_text, object, text, time};

fn names(description: &str) -> Value {
    json!({"type": "array", "items": {"type": "string"}, "description": description})
}

fn permissions() -> Value {
    json!({"type": "array", "items": {"type": "string", "pattern": ":"},
        "description": "scope tokens holding a `:` (e.g. read:messages), each once"})
}

fn stamps(p: &mut Value) {
    p["created_at"] = time(false);
    p["updated_at"] = time(false);
}

fn organization_fields(read_only: bool) -> Value {
    let mut p = json!({
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,49}$", "description": "a unique slug; `organization=` at authorize, `org_name` in tokens"},
        "display_name": nullable_text(),
        "metadata": {"type": ["object", "null"], "additionalProperties": {"type": "string"}, "maxProperties": 25},
    });
    if read_only {
        p["id"] = json!({"type": "string", "description": "org_…; `org_id` in tokens"});
        p["metadata"]["type"] = json!("object");
        stamps(&mut p);
    }
    p
}

fn role_fields(read_only: bool) -> Value {
    let mut p = json!({
        "name": {"type": "string", "description": "unique; the `roles` claim"},
        "description": nullable_text(),
        "permissions": permissions(),
    });
    if read_only {
        p["id"] = text();
        stamps(&mut p);
    }
    p
}

fn api_fields(read_only: bool) -> Value {
    let mut p = json!({
        "identifier": {"type": "string", "description": "the `audience` value; immutable"},
        "name": text(),
        "permissions": permissions(),
        "access_token_ttl_seconds": {"type": ["integer", "null"], "minimum": MIN_ACCESS_TOKEN_TTL, "maximum": MAX_ACCESS_TOKEN_TTL,
            "description": "overrides the application's for tokens of this API"},
        "allow_offline_access": {"type": "boolean", "description": "whether offline_access yields a refresh token (default false)"},
        "custom_claims": custom_claims(),
    });
    if read_only {
        p["id"] = text();
        p["custom_claims"]["type"] = json!("object");
        stamps(&mut p);
    }
    p
}

fn patch_of(mut fields: Value, description: &str) -> Value {
    if let Some(map) = fields.as_object_mut() {
        map.remove("identifier");
    }
    json!({"description": description, "type": "object", "properties": fields})
}

/// The schemas, merged into the document's components by `schemas::schemas`.
pub fn schemas() -> Value {
    let (org, role, api) = (
        organization_fields(true),
        role_fields(true),
        api_fields(true),
    );
    let member =
        json!({"user_id": text(), "roles": names("role names"), "created_at": time(false)});
    let invitation = json!({
        "id": text(), "email": text(), "roles": names("role names the new member gets"),
        "created_at": time(false), "expires_at": time(false), "accepted_at": time(true),
        "client_id": {"type": ["string", "null"], "description": "the application the new member is sent to"},
    });
    json!({
        "Organization": object(&keys_of(&org), org),
        "NewOrganization": object(&["name"], organization_fields(false)),
        "OrganizationPatch": patch_of(organization_fields(false), "JSON merge patch (RFC 7396); id, created_at and updated_at may be repeated but not changed"),
        "Member": object(&keys_of(&member), member),
        "NewMember": object(&["user_id"], json!({"user_id": text(), "roles": names("role names")})),
        "MemberPatch": patch_of(json!({"roles": names("role names; replace those held")}), "JSON merge patch (RFC 7396); user_id and created_at may be repeated but not changed"),
        "Invitation": object(&keys_of(&invitation), invitation),
        "NewInvitation": object(&["email"], json!({
            "email": {"type": "string", "format": "email", "description": "only this address can accept"},
            "roles": names("role names the new member gets"),
            "ttl_seconds": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_INVITATION_TTL, "description": "how long the link works; 7 days by default"},
            "client_id": {"type": ["string", "null"], "description": "an application with redirects.initiate_login: once accepted, the new member lands there (OpenID Connect Core 4)"},
        })),
        "InvitationCreated": object(&["id", "url", "expires_at"], json!({
            "id": text(), "url": {"type": "string", "format": "uri", "description": "the link, shown this once"}, "expires_at": time(false),
        })),
        "Role": object(&keys_of(&role), role),
        "NewRole": object(&["name"], role_fields(false)),
        "RolePatch": patch_of(role_fields(false), "JSON merge patch (RFC 7396); id, created_at and updated_at may be repeated but not changed"),
        "Api": object(&keys_of(&api), api),
        "NewApi": object(&["identifier", "name"], api_fields(false)),
        "ApiPatch": patch_of(api_fields(false), "JSON merge patch (RFC 7396); id, identifier, created_at and updated_at may be repeated but not changed"),
    })
}

#[cfg(test)]
mod tests {
    use latch_core::SecretHash;
    use latch_core::organization::{ApiResource, Invitation, Membership, Organization, Role};

    use super::super::schemas::tests::{accepted, keys, properties};
    use crate::manage_apis::{ApiView, NewApi};
    use crate::manage_orgs::{
        InvitationCreated, InvitationView, MemberFields, MemberView, NewInvitation, NewMember,
        NewOrganization, NewRole, OrganizationView, RoleView,
    };

    fn role() -> Role {
        Role {
            id: "r".into(),
            name: "reader".into(),
            description: None,
            permissions: vec![],
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn output_schemas_name_exactly_the_fields_the_views_write() {
        let org = Organization {
            id: "org_1".into(),
            name: "acme".into(),
            display_name: None,
            metadata: Default::default(),
            created_at: 0,
            updated_at: 0,
        };
        assert_eq!(
            properties("Organization"),
            keys(&OrganizationView::from(&org))
        );
        assert_eq!(properties("Role"), keys(&RoleView::from(&role())));
        let m = Membership {
            organization_id: "o".into(),
            user_id: "u".into(),
            roles: vec![role()],
            created_at: 0,
        };
        assert_eq!(properties("Member"), keys(&MemberView::from(&m)));
        let i = Invitation {
            id: "i".into(),
            organization_id: "o".into(),
            email: "a@b.co".into(),
            roles: vec![],
            token_hash: SecretHash::of(b"t"),
            created_at: 0,
            expires_at: 0,
            accepted_at: None,
            client_id: None,
        };
        assert_eq!(properties("Invitation"), keys(&InvitationView::from(&i)));
        let created = InvitationCreated {
            id: "i".into(),
            url: "u".into(),
            expires_at: "t".into(),
        };
        assert_eq!(properties("InvitationCreated"), keys(&created));
        let api = ApiResource {
            id: "a".into(),
            identifier: "urn:a".into(),
            name: "A".into(),
            permissions: vec![],
            access_token_ttl_seconds: None,
            allow_offline_access: false,
            custom_claims: Default::default(),
            created_at: 0,
            updated_at: 0,
        };
        assert_eq!(properties("Api"), keys(&ApiView::from(&api)));
    }

    #[test]
    fn input_schemas_name_exactly_the_fields_the_types_accept() {
        assert_eq!(properties("NewOrganization"), accepted::<NewOrganization>());
        assert_eq!(
            properties("OrganizationPatch"),
            accepted::<NewOrganization>()
        );
        assert_eq!(properties("NewRole"), accepted::<NewRole>());
        assert_eq!(properties("RolePatch"), accepted::<NewRole>());
        assert_eq!(properties("NewMember"), accepted::<NewMember>());
        assert_eq!(properties("MemberPatch"), accepted::<MemberFields>());
        assert_eq!(properties("NewInvitation"), accepted::<NewInvitation>());
        assert_eq!(properties("NewApi"), accepted::<NewApi>());
        let mut patchable = accepted::<NewApi>();
        patchable.remove("identifier");
        assert_eq!(properties("ApiPatch"), patchable);
    }
}
