//! Administration shared by the management API and the CLI: creating and changing applications,
//! secrets and users, and the rules around them. No HTTP types beyond `ApiError`.

use latch_core::application::{
    Application, ApplicationType, ClientSecretInfo, MAX_ACTIVE_SECRETS, Redirects,
};
use latch_core::secret::random_id;
use latch_core::store::{SessionSelector, Store, StoreError};
use latch_core::user::{self, User};
use latch_core::{Secret, UnixTime};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::ApiError;
use crate::password::PasswordHasher;

/// `POST /api/v1/applications` and `latch apps create`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApplication {
    pub name: String,
    #[serde(rename = "type")]
    pub application_type: ApplicationType,
    #[serde(default)]
    pub management_api_access: bool,
    #[serde(default)]
    pub enforce_pkce: Option<bool>,
    #[serde(default)]
    pub access_token_ttl_seconds: Option<i64>,
    #[serde(default)]
    pub redirects: Redirects,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub id_token_signed_response_alg: Option<String>,
    /// Namespaced claims for every token of the application (names are `http(s)://` URLs).
    #[serde(default)]
    pub custom_claims: Option<Map<String, Value>>,
}

pub fn rfc3339(t: UnixTime) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// An application as the API and CLI show it.
#[derive(Debug, Serialize)]
pub struct ApplicationView {
    pub id: String,
    pub client_id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub application_type: ApplicationType,
    pub management_api_access: bool,
    pub enforce_pkce: bool,
    pub access_token_ttl_seconds: Option<i64>,
    pub redirects: Redirects,
    pub allowed_origins: Vec<String>,
    pub id_token_signed_response_alg: String,
    pub custom_claims: Map<String, Value>,
    pub created_at: String,
    pub updated_at: String,
    /// Only in the creation response of a web application: shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl ApplicationView {
    pub fn new(app: &Application, client_secret: Option<&Secret>) -> Self {
        Self {
            id: app.id.clone(),
            client_id: app.client_id.clone(),
            name: app.name.clone(),
            application_type: app.application_type,
            management_api_access: app.management_api_access,
            enforce_pkce: app.enforce_pkce,
            access_token_ttl_seconds: app.access_token_ttl_seconds,
            redirects: app.redirects.clone(),
            allowed_origins: app.allowed_origins.clone(),
            id_token_signed_response_alg: app.id_token_signed_response_alg.clone(),
            custom_claims: app.custom_claims.clone(),
            created_at: rfc3339(app.created_at),
            updated_at: rfc3339(app.updated_at),
            client_secret: client_secret.map(|s| s.expose_secret().to_owned()),
        }
    }
}

fn new_secret(now: UnixTime) -> (Secret, ClientSecretInfo) {
    let secret = Secret::generate();
    let info = ClientSecretInfo {
        id: uuid::Uuid::now_v7().to_string(),
        hash: secret.hash(),
        created_at: now,
        last_used_at: None,
    };
    (secret, info)
}

/// What never changes once an application exists.
struct Identity {
    id: String,
    client_id: String,
    created_at: UnixTime,
}

/// An application from its editable fields; what was left out takes its default.
fn build_application(new: NewApplication, identity: Identity, now: UnixTime) -> Application {
    let public = new.application_type != ApplicationType::Web;
    Application {
        id: identity.id,
        client_id: identity.client_id,
        name: new.name,
        application_type: new.application_type,
        management_api_access: new.management_api_access,
        enforce_pkce: new.enforce_pkce.unwrap_or(public),
        access_token_ttl_seconds: new.access_token_ttl_seconds,
        redirects: new.redirects,
        allowed_origins: new.allowed_origins,
        id_token_signed_response_alg: new
            .id_token_signed_response_alg
            .unwrap_or_else(|| "RS256".to_owned()),
        custom_claims: new.custom_claims.unwrap_or_default(),
        created_at: identity.created_at,
        updated_at: now,
    }
}

/// Registers an application; a web application gets its first secret, returned this once.
/// `allow_private` is `LATCH_BACKCHANNEL_ALLOW_PRIVATE`.
pub async fn create_application(
    store: &dyn Store,
    new: NewApplication,
    now: UnixTime,
    allow_private: bool,
) -> Result<(Application, Option<Secret>), ApiError> {
    let public = new.application_type != ApplicationType::Web;
    let identity = Identity {
        id: uuid::Uuid::now_v7().to_string(),
        client_id: random_id(),
        created_at: now,
    };
    let app = build_application(new, identity, now);
    app.validate()?;
    app.check_outbound_addresses(allow_private)?;
    let secret = (!public).then(|| new_secret(now));
    store
        .insert_application(&app, secret.as_ref().map(|(_, info)| info))
        .await?;
    Ok((app, secret.map(|(s, _)| s)))
}

/// A new client secret for a web application (at most two active).
pub async fn create_client_secret(
    store: &dyn Store,
    app: &Application,
    now: UnixTime,
) -> Result<(Secret, ClientSecretInfo), ApiError> {
    if app.application_type != ApplicationType::Web {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_application_type",
            "only web applications have client secrets",
        ));
    }
    let (secret, info) = new_secret(now);
    match store.insert_client_secret(&app.id, &info).await {
        Ok(()) => Ok((secret, info)),
        Err(StoreError::Conflict(_)) => Err(ApiError::conflict(
            "too_many_secrets",
            format!(
                "an application has at most {MAX_ACTIVE_SECRETS} active secrets; revoke one first"
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

/// `POST /api/v1/users` and `latch users create`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub family_name: Option<String>,
}

/// A user as the API and CLI show it (never the password or its hash).
#[derive(Debug, Serialize)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub created_at: String,
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
        }
    }
}

pub fn validate_profile(u: &User) -> Result<(), ApiError> {
    user::validate_email(&u.email)?;
    user::validate_profile_field("name", &u.name)?;
    user::validate_profile_field("given_name", &u.given_name)?;
    user::validate_profile_field("family_name", &u.family_name)?;
    Ok(())
}

/// Checks the password policy, then hashes on the bounded pool.
async fn hash_password(passwords: &PasswordHasher, password: String) -> Result<String, ApiError> {
    user::validate_password(&password)?;
    passwords
        .hash(password)
        .await
        .map_err(|e| ApiError::from(StoreError::Other(e.to_string())))
}

pub async fn create_user(
    store: &dyn Store,
    passwords: &PasswordHasher,
    new: NewUser,
    now: UnixTime,
) -> Result<User, ApiError> {
    let user = User {
        id: uuid::Uuid::now_v7().to_string(),
        email: new.email.trim().to_owned(),
        email_verified: new.email_verified,
        name: new.name,
        given_name: new.given_name,
        family_name: new.family_name,
        created_at: now,
    };
    validate_profile(&user)?;
    let hash = hash_password(passwords, new.password).await?;
    match store.insert_user(&user, &hash).await {
        Ok(()) => Ok(user),
        Err(StoreError::Conflict(_)) => Err(ApiError::conflict(
            "email_taken",
            "a user with this email exists",
        )),
        Err(e) => Err(e.into()),
    }
}

/// Ends the user's sessions (notifying the applications) and deletes the user; returns the sids
/// ended, or `None` when there was no such user.
pub async fn delete_user(
    store: &dyn Store,
    id: &str,
    now: UnixTime,
) -> Result<Option<Vec<String>>, ApiError> {
    let ended = store
        .end_sessions(SessionSelector::AllOfUser { user_id: id }, now)
        .await?;
    Ok(store.delete_user(id).await?.then_some(ended))
}

/// A client secret as listed: never its value.
#[derive(Debug, Serialize)]
pub struct SecretView {
    pub id: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

impl From<&ClientSecretInfo> for SecretView {
    fn from(s: &ClientSecretInfo) -> Self {
        Self {
            id: s.id.clone(),
            created_at: rfc3339(s.created_at),
            last_used_at: s.last_used_at.map(rfc3339),
        }
    }
}

/// RFC 7396 §2: applies a JSON merge patch to `target` (`null` removes a member).
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// Deserializes a JSON value; a wrong type or an unknown field is a 422 naming the field.
pub fn parse_json<T: DeserializeOwned>(value: &Value) -> Result<T, ApiError> {
    let bytes = serde_json::to_vec(value).map_err(|e| ApiError::internal(&e))?;
    Ok(axum::Json::<T>::from_bytes(&bytes)?.0)
}

/// Splits a merge patch against the current resource's JSON form: read-only members may be
/// repeated unchanged (a client sending back what it read) but not changed. Returns the patched
/// editable fields.
pub(crate) fn patched(
    current: &impl Serialize,
    patch: &Value,
    read_only: &[&str],
) -> Result<Value, ApiError> {
    let Value::Object(mut patch) = patch.clone() else {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "the body must be a JSON object (RFC 7396 merge patch)",
        ));
    };
    let mut target = serde_json::to_value(current).map_err(|e| ApiError::internal(&e))?;
    if let Value::Object(fields) = &mut target {
        for name in read_only {
            if let Some(value) = patch.remove(*name)
                && fields.get(*name) != Some(&value)
            {
                return Err(latch_core::application::FieldError::new(*name, "is read-only").into());
            }
            fields.remove(*name);
        }
    }
    merge_patch(&mut target, &Value::Object(patch));
    Ok(target)
}

/// `PATCH /api/v1/applications/{id}`: a JSON merge patch of the editable fields; a member set to
/// `null` returns to its default (as if left out at creation). `type` stays.
pub async fn update_application(
    store: &dyn Store,
    current: &Application,
    patch: &Value,
    now: UnixTime,
    allow_private: bool,
) -> Result<Application, ApiError> {
    let view = ApplicationView::new(current, None);
    let mut fields = patched(
        &view,
        patch,
        &["id", "client_id", "type", "created_at", "updated_at"],
    )?;
    if let Value::Object(map) = &mut fields {
        map.insert("type".into(), current.application_type.as_str().into());
    }
    let identity = Identity {
        id: current.id.clone(),
        client_id: current.client_id.clone(),
        created_at: current.created_at,
    };
    let app = build_application(parse_json(&fields)?, identity, now);
    app.validate()?;
    app.check_outbound_addresses(allow_private)?;
    if !store.update_application(&app).await? {
        return Err(ApiError::not_found("application"));
    }
    Ok(app)
}

/// The editable fields of a user, after a merge patch; `password` sets a new one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserFields {
    pub email: String,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub family_name: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
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
) -> Result<(User, Vec<String>), ApiError> {
    let fields: UserFields = parse_json(&patched(
        &UserView::from(current),
        patch,
        &["id", "created_at"],
    )?)?;
    let user = User {
        id: current.id.clone(),
        email: fields.email.trim().to_owned(),
        email_verified: fields.email_verified,
        name: fields.name,
        given_name: fields.given_name,
        family_name: fields.family_name,
        created_at: current.created_at,
    };
    validate_profile(&user)?;
    let hash = match fields.password {
        Some(password) => Some(hash_password(passwords, password).await?),
        None => None,
    };
    match store.update_user(&user, hash.as_deref()).await {
        Ok(true) if hash.is_some() => {
            let all = SessionSelector::AllOfUser { user_id: &user.id };
            let ended = store.end_sessions(all, now).await?;
            Ok((user, ended))
        }
        Ok(true) => Ok((user, Vec::new())),
        Ok(false) => Err(ApiError::not_found("user")),
        Err(StoreError::Conflict(_)) => Err(ApiError::conflict(
            "email_taken",
            "a user with this email exists",
        )),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396_appendix_a() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (mut target, patch, expected) in cases {
            merge_patch(&mut target, &patch);
            assert_eq!(target, expected, "patch {patch}");
        }
    }

    #[test]
    fn a_read_only_member_may_repeat_its_value_but_not_change_it() {
        let current = json!({"id": "a1", "name": "old"});
        let same = patched(&current, &json!({"id": "a1", "name": "new"}), &["id"]).unwrap();
        assert_eq!(same, json!({"name": "new"}));
        let err = patched(&current, &json!({"id": "a2"}), &["id"]).unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert!(err.description.starts_with("id:"), "{}", err.description);
        assert!(patched(&current, &json!(["x"]), &["id"]).is_err());
    }

    #[test]
    fn parse_json_names_the_field_of_a_wrong_type() {
        let err = parse_json::<NewApplication>(
            &json!({"name": "x", "type": "web", "enforce_pkce": "yes"}),
        )
        .unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            err.description.contains("enforce_pkce"),
            "{}",
            err.description
        );
        let err = parse_json::<NewApplication>(&json!({"name": "x", "type": "web", "colour": 1}))
            .unwrap_err();
        assert!(err.description.contains("colour"), "{}", err.description);
    }
}
