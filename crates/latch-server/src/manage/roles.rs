//! Roles: named sets of permissions that members of organizations (and invitations) hold.

use latch_core::UnixTime;
use latch_core::field::FieldError;
use latch_core::organization::{Role, validate_role_names};
use latch_core::store::Store;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::patch::{parse_json, patched};
use super::{ManageError, rfc3339};

const NAME_TAKEN: &str = "a role with this name exists";

/// `POST /api/v1/roles`; after a merge patch, also the editable fields of one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRole {
    /// Unique; the `roles` claim.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Scope tokens holding a `:` (e.g. read:messages), each once.
    #[serde(default)]
    #[schema(schema_with = permissions)]
    pub permissions: Vec<String>,
}

/// Permission names: scope tokens holding a `:`.
pub(crate) fn permissions() -> impl Into<utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>> {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::String))
                .pattern(Some(":")),
        )
        .description(Some(
            "scope tokens holding a `:` (e.g. read:messages), each once",
        ))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Role)]
pub struct RoleView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    #[schema(schema_with = permissions)]
    pub permissions: Vec<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&Role> for RoleView {
    fn from(r: &Role) -> Self {
        Self {
            id: r.id.clone(),
            name: r.name.clone(),
            description: r.description.clone(),
            permissions: r.permissions.clone(),
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

fn role_from(new: NewRole, id: String, created_at: UnixTime, now: UnixTime) -> Role {
    Role {
        id,
        name: new.name,
        description: new.description,
        permissions: new.permissions,
        created_at,
        updated_at: now,
    }
}

/// The role with this id.
pub async fn role(store: &dyn Store, id: &str) -> Result<Role, ManageError> {
    store
        .get_role(id)
        .await?
        .ok_or(ManageError::NotFound("role"))
}

pub async fn create_role(
    store: &dyn Store,
    new: NewRole,
    now: UnixTime,
) -> Result<Role, ManageError> {
    let role = role_from(new, uuid::Uuid::now_v7().to_string(), now, now);
    role.validate()?;
    store
        .insert_role(&role)
        .await
        .map_err(ManageError::conflict_as("name_taken", NAME_TAKEN))?;
    Ok(role)
}

pub async fn update_role(
    store: &dyn Store,
    current: &Role,
    patch: &Value,
    now: UnixTime,
) -> Result<Role, ManageError> {
    let fields = patched(
        &RoleView::from(current),
        patch,
        &["id", "created_at", "updated_at"],
    )?;
    let role = role_from(
        parse_json(&fields)?,
        current.id.clone(),
        current.created_at,
        now,
    );
    role.validate()?;
    let updated = store
        .update_role(&role)
        .await
        .map_err(ManageError::conflict_as("name_taken", NAME_TAKEN))?;
    if !updated {
        return Err(ManageError::NotFound("role"));
    }
    Ok(role)
}

/// Deletes the role; members and invitations lose it.
pub async fn delete_role(store: &dyn Store, id: &str) -> Result<(), ManageError> {
    if !store.delete_role(id).await? {
        return Err(ManageError::NotFound("role"));
    }
    Ok(())
}

/// The roles named, each of which must exist (an invalid field naming the first that does not).
pub async fn resolve_roles(
    store: &dyn Store,
    field: &str,
    names: &[String],
) -> Result<Vec<Role>, ManageError> {
    validate_role_names(field, names)?;
    let mut roles = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        match store.get_role_by_name(name).await? {
            Some(role) => roles.push(role),
            None => {
                return Err(
                    FieldError::new(format!("{field}[{i}]"), "no role has this name").into(),
                );
            }
        }
    }
    Ok(roles)
}
