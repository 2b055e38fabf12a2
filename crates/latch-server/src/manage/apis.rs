//! API resources (`/api/v1/apis`): what `audience=` at authorize names, the permissions its
//! tokens may carry, their lifetime, offline access, custom claims and claim mappings.

use latch_core::UnixTime;
use latch_core::claim_mapping::ClaimMapping;
use latch_core::field::FieldError;
use latch_core::organization::ApiResource;
use latch_core::store::Store;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::applications::{claim_mappings, custom_claims};
use super::patch::{parse_json, patched};
use super::roles::permissions;
use super::{ManageError, rfc3339};
use crate::oauth::tokens::management_audience;

/// `POST /api/v1/apis`; after a merge patch, also the editable fields of one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApi {
    /// The `audience` value; immutable.
    pub identifier: String,
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = permissions)]
    pub permissions: Vec<String>,
    /// Overrides the application's for tokens of this API.
    #[serde(default)]
    #[schema(minimum = 60, maximum = 86400)]
    pub access_token_ttl_seconds: Option<i64>,
    /// Auth0's "Allow Offline Access": whether offline_access yields a refresh token (off unless
    /// set).
    #[serde(default)]
    pub allow_offline_access: bool,
    #[serde(default)]
    #[schema(schema_with = custom_claims)]
    pub custom_claims: Option<Map<String, Value>>,
    /// Claims from the user's and organization's data, for this API's access tokens
    /// (`destinations`: `access_token` only).
    #[serde(default)]
    #[schema(schema_with = claim_mappings)]
    pub claim_mappings: Option<Vec<ClaimMapping>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Api)]
pub struct ApiView {
    pub id: String,
    /// The `audience` value; immutable.
    pub identifier: String,
    pub name: String,
    #[schema(schema_with = permissions)]
    pub permissions: Vec<String>,
    pub access_token_ttl_seconds: Option<i64>,
    pub allow_offline_access: bool,
    pub custom_claims: Map<String, Value>,
    #[schema(schema_with = claim_mappings)]
    pub claim_mappings: Vec<ClaimMapping>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&ApiResource> for ApiView {
    fn from(a: &ApiResource) -> Self {
        Self {
            id: a.id.clone(),
            identifier: a.identifier.clone(),
            name: a.name.clone(),
            permissions: a.permissions.clone(),
            access_token_ttl_seconds: a.access_token_ttl_seconds,
            allow_offline_access: a.allow_offline_access,
            custom_claims: a.custom_claims.clone(),
            claim_mappings: a.claim_mappings.clone(),
            created_at: rfc3339(a.created_at),
            updated_at: rfc3339(a.updated_at),
        }
    }
}

fn api_from(new: NewApi, id: String, created_at: UnixTime, now: UnixTime) -> ApiResource {
    ApiResource {
        id,
        identifier: new.identifier,
        name: new.name,
        permissions: new.permissions,
        access_token_ttl_seconds: new.access_token_ttl_seconds,
        allow_offline_access: new.allow_offline_access,
        custom_claims: new.custom_claims.unwrap_or_default(),
        claim_mappings: new.claim_mappings.unwrap_or_default(),
        created_at,
        updated_at: now,
    }
}

/// The API resource with this id.
pub async fn api(store: &dyn Store, id: &str) -> Result<ApiResource, ManageError> {
    store.get_api(id).await?.ok_or(ManageError::NotFound("API"))
}

pub async fn create_api(
    store: &dyn Store,
    issuer: &str,
    new: NewApi,
    now: UnixTime,
) -> Result<ApiResource, ManageError> {
    let api = api_from(new, uuid::Uuid::now_v7().to_string(), now, now);
    api.validate()?;
    // The management API's audience is Latch's own: no user token may ever carry it.
    if api.identifier == management_audience(issuer) {
        return Err(FieldError::new("identifier", "is the management API's own audience").into());
    }
    store
        .insert_api(&api)
        .await
        .map_err(ManageError::conflict_as(
            "identifier_taken",
            "an API with this identifier exists",
        ))?;
    Ok(api)
}

/// RFC 7396 merge patch; the identifier may be repeated but never changed (tokens name the API
/// by it).
pub async fn update_api(
    store: &dyn Store,
    current: &ApiResource,
    patch: &Value,
    now: UnixTime,
) -> Result<ApiResource, ManageError> {
    let mut fields = patched(
        &ApiView::from(current),
        patch,
        &["id", "identifier", "created_at", "updated_at"],
    )?;
    if let Value::Object(map) = &mut fields {
        map.insert("identifier".into(), current.identifier.clone().into());
    }
    let api = api_from(
        parse_json(&fields)?,
        current.id.clone(),
        current.created_at,
        now,
    );
    api.validate()?;
    if !store.update_api(&api).await? {
        return Err(ManageError::NotFound("API"));
    }
    Ok(api)
}

/// Deletes the API; refresh tokens issued for it stop working.
pub async fn delete_api(store: &dyn Store, id: &str, now: UnixTime) -> Result<(), ManageError> {
    if !store.delete_api(id, now).await? {
        return Err(ManageError::NotFound("API"));
    }
    Ok(())
}
