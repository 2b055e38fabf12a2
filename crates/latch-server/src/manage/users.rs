//! Users: creating one (API, CLI, invitation sign-up), changing the profile or the password, and
//! deleting one with their sessions.

use latch_core::UnixTime;
use latch_core::field::FieldError;
use latch_core::metadata;
use latch_core::store::{SessionSelector, Store};
use latch_core::user::{self, User, normalize_email};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};

use super::patch::{parse_json, patched};
use super::{ManageError, rfc3339};
use crate::signin::password::PasswordHasher;

const EMAIL_TAKEN: (&str, &str) = ("email_taken", "a user with this email exists");

/// `POST /api/v1/users` and `latch users create`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    #[schema(format = Email)]
    pub email: String,
    #[schema(min_length = 8, write_only)]
    pub password: String,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub family_name: Option<String>,
    /// The application's own id for the user (unique among users).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 255)]
    pub external_id: Option<String>,
    #[serde(default)]
    #[schema(schema_with = metadata_schema)]
    pub metadata: Option<Map<String, Value>>,
    /// May sign in to the admin console (`/admin`).
    #[serde(default)]
    pub admin: bool,
}

/// `metadata` of users and organizations: written by the management API and the CLI only.
pub(crate) fn metadata_schema() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .description(Some(
            "the application's data: a JSON object of at most 16 KiB, nested at most 5 levels \
             (the object itself is level 1); a merge patch changes it member by member (RFC 7396: \
             a nested member set to null is removed)",
        ))
}

/// A user as the API and CLI show it (never the password or its hash).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserView {
    pub id: String,
    #[schema(format = Email)]
    pub email: String,
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The application's own id for the user, or null.
    pub external_id: Option<String>,
    #[schema(schema_with = metadata_schema)]
    pub metadata: Map<String, Value>,
    /// May sign in to the admin console (`/admin`); read-only here (`latch users grant-admin`,
    /// or an administrator in the console).
    pub admin: bool,
    /// Whether the user has a confirmed second factor (see `/users/{id}/factors`); read-only.
    /// Set by the management API, left out elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_enrolled: Option<bool>,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            email: u.email.clone(),
            email_verified: u.email_verified,
            name: u.name.clone(),
            given_name: u.given_name.clone(),
            family_name: u.family_name.clone(),
            created_at: rfc3339(u.created_at),
            external_id: u.external_id.clone(),
            metadata: u.metadata.clone(),
            admin: u.admin,
            mfa_enrolled: None,
        }
    }
}

/// The editable fields of a user, after a merge patch; `password` sets a new one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserFields {
    #[schema(format = Email)]
    pub email: String,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub family_name: Option<String>,
    /// Sets a new password (and ends every session of the user).
    #[serde(default)]
    #[schema(min_length = 8, write_only)]
    pub password: Option<String>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 255)]
    pub external_id: Option<String>,
    #[serde(default)]
    #[schema(schema_with = metadata_schema)]
    pub metadata: Option<Map<String, Value>>,
}

/// The rules of a user's fields, for the API, the CLI and `latch users import` alike.
pub fn validate_profile(u: &User) -> Result<(), FieldError> {
    user::validate_email(&u.email)?;
    user::validate_profile_field("name", &u.name)?;
    user::validate_profile_field("given_name", &u.given_name)?;
    user::validate_profile_field("family_name", &u.family_name)?;
    metadata::validate_external_id("external_id", &u.external_id)?;
    metadata::validate_metadata("metadata", &u.metadata)
}

/// Checks the password policy, then hashes on the bounded pool.
async fn hash_password(
    passwords: &PasswordHasher,
    password: String,
) -> Result<String, ManageError> {
    user::validate_password(&password)?;
    passwords
        .hash(password)
        .await
        .map_err(|e| ManageError::internal(&e))
}

/// The user with this id.
pub async fn user(store: &dyn Store, id: &str) -> Result<User, ManageError> {
    store
        .get_user(id)
        .await?
        .ok_or(ManageError::NotFound("user"))
}

pub async fn create_user(
    store: &dyn Store,
    passwords: &PasswordHasher,
    new: NewUser,
    now: UnixTime,
) -> Result<User, ManageError> {
    let user = User {
        id: uuid::Uuid::now_v7().to_string(),
        email: new.email.trim().to_owned(),
        email_verified: new.email_verified,
        name: new.name,
        given_name: new.given_name,
        family_name: new.family_name,
        created_at: now,
        external_id: new.external_id,
        metadata: new.metadata.unwrap_or_default(),
        admin: new.admin,
    };
    validate_profile(&user)?;
    let hash = hash_password(passwords, new.password).await?;
    let (code, description) = EMAIL_TAKEN;
    store
        .insert_user(&user, &hash)
        .await
        .map_err(ManageError::conflict_as(code, description))?;
    Ok(user)
}

/// Grants (or withdraws) the admin console to the user with this id.
pub async fn set_admin(store: &dyn Store, id: &str, admin: bool) -> Result<(), ManageError> {
    if !store.set_user_admin(id, admin).await? {
        return Err(ManageError::NotFound("user"));
    }
    Ok(())
}

/// Ends the user's sessions (notifying the applications is the caller's: see
/// `lifecycle::sessions_ended`) and deletes the user; returns the sids ended.
pub async fn delete_user(
    store: &dyn Store,
    id: &str,
    now: UnixTime,
) -> Result<Vec<String>, ManageError> {
    let ended = store
        .end_sessions(SessionSelector::AllOfUser { user_id: id }, now)
        .await?;
    if !store.delete_user(id).await? {
        return Err(ManageError::NotFound("user"));
    }
    Ok(ended)
}

/// `PATCH /api/v1/users/{id}`: a JSON merge patch of the profile, and optionally a new password.
/// A new password set by an administrator ends every session of the user (their refresh tokens
/// and access tokens with them; OWASP ASVS V3.3.3): returns the sids ended, for the caller to
/// pass on (see `lifecycle::sessions_ended`).
pub async fn update_user(
    store: &dyn Store,
    passwords: &PasswordHasher,
    current: &User,
    patch: &Value,
    now: UnixTime,
) -> Result<(User, Vec<String>), ManageError> {
    let fields: UserFields = parse_json(&patched(
        &UserView::from(current),
        patch,
        &["id", "created_at", "admin", "mfa_enrolled"],
    )?)?;
    let email = fields.email.trim().to_owned();
    // A new address is not verified, unless the patch says it is.
    let moved = normalize_email(&email) != normalize_email(&current.email);
    let email_verified = if moved && patch.get("email_verified").is_none() {
        false
    } else {
        fields.email_verified
    };
    let user = User {
        id: current.id.clone(),
        email,
        email_verified,
        name: fields.name,
        given_name: fields.given_name,
        family_name: fields.family_name,
        created_at: current.created_at,
        external_id: fields.external_id,
        metadata: fields.metadata.unwrap_or_default(),
        admin: current.admin,
    };
    validate_profile(&user)?;
    let hash = match fields.password {
        Some(password) => Some(hash_password(passwords, password).await?),
        None => None,
    };
    let (code, description) = EMAIL_TAKEN;
    let updated = store
        .update_user(&user, hash.as_deref())
        .await
        .map_err(ManageError::conflict_as(code, description))?;
    if !updated {
        return Err(ManageError::NotFound("user"));
    }
    if moved {
        // Links mailed to the old address no longer act on the account.
        store.delete_password_resets(&user.id).await?;
    }
    let ended = if hash.is_some() {
        // A password change invalidates every password-reset link of the user.
        store.delete_password_resets(&user.id).await?;
        let all = SessionSelector::AllOfUser { user_id: &user.id };
        store.end_sessions(all, now).await?
    } else {
        Vec::new()
    };
    Ok((user, ended))
}
