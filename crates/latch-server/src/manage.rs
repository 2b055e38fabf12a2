//! Administration shared by the management API and the CLI: creating and changing applications,
//! secrets and users, and the rules around them. No HTTP types beyond `ApiError`.

use latch_core::application::{Application, ApplicationType, ClientSecretInfo, MAX_ACTIVE_SECRETS, Redirects};
use latch_core::secret::random_id;
use latch_core::store::{SessionSelector, Store, StoreError};
use latch_core::user::{self, User};
use latch_core::{Secret, UnixTime};

use serde::{Deserialize, Serialize};
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

/// Registers an application; a web application gets its first secret, returned this once.
pub async fn create_application(
    store: &dyn Store,
    new: NewApplication,
    now: UnixTime,
) -> Result<(Application, Option<Secret>), ApiError> {
    let public = new.application_type != ApplicationType::Web;
    let app = Application {
        id: uuid::Uuid::now_v7().to_string(),
        client_id: random_id(),
        name: new.name,
        application_type: new.application_type,
        management_api_access: new.management_api_access,
        enforce_pkce: new.enforce_pkce.unwrap_or(public),
        access_token_ttl_seconds: new.access_token_ttl_seconds,
        redirects: new.redirects,
        allowed_origins: new.allowed_origins,
        id_token_signed_response_alg: new.id_token_signed_response_alg.unwrap_or_else(|| "RS256".to_owned()),
        created_at: now,
        updated_at: now,
    };
    app.validate()?;
    let secret = (!public).then(|| new_secret(now));
    store.insert_application(&app, secret.as_ref().map(|(_, info)| info)).await?;
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
            format!("an application has at most {MAX_ACTIVE_SECRETS} active secrets; revoke one first"),
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
    user::validate_password(&new.password)?;
    let hash = passwords
        .hash(new.password)
        .await
        .map_err(|e| ApiError::from(StoreError::Other(e.to_string())))?;
    match store.insert_user(&user, &hash).await {
        Ok(()) => Ok(user),
        Err(StoreError::Conflict(_)) => Err(ApiError::conflict("email_taken", "a user with this email exists")),
        Err(e) => Err(e.into()),
    }
}

/// Ends the user's sessions (notifying the applications) and deletes the user.
pub async fn delete_user(store: &dyn Store, id: &str, now: UnixTime) -> Result<bool, ApiError> {
    store.end_sessions(SessionSelector::AllOfUser { user_id: id }, now).await?;
    Ok(store.delete_user(id).await?)
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
