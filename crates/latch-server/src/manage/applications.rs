//! Applications and their client secrets: what registering and changing one takes, how it is
//! shown, and the rules around it (a web application's first secret, at most two active).

use latch_core::Secret;
use latch_core::UnixTime;
use latch_core::application::{
    Algorithm, Application, ApplicationType, ClientSecretInfo, MAX_ACTIVE_SECRETS, MfaPolicy,
    Redirects, SIGNING_ALGORITHMS, parse_signing_algorithm,
};
use latch_core::claim_mapping::ClaimMapping;
use latch_core::secret::random_id;
use latch_core::store::Store;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};

use super::patch::{parse_json, patched};
use super::{ManageError, rfc3339};

/// `POST /api/v1/applications` and `latch apps create`; after a merge patch, also the editable
/// fields of one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApplication {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[serde(rename = "type")]
    pub application_type: ApplicationType,
    /// Web applications only.
    #[serde(default)]
    pub management_api_access: bool,
    /// Always true for spa and native.
    #[serde(default)]
    pub enforce_pkce: Option<bool>,
    /// Overrides the environment's default.
    #[serde(default)]
    #[schema(minimum = 60, maximum = 86400)]
    pub access_token_ttl_seconds: Option<i64>,
    #[serde(default)]
    pub redirects: Redirects,
    /// Browser origins (`scheme://host[:port]`) allowed to call the token, userinfo and
    /// revocation endpoints with CORS.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = signing_algorithm)]
    pub id_token_signed_response_alg: Option<String>,
    /// Namespaced claims for every token of the application (names are `http(s)://` URLs).
    #[serde(default)]
    #[schema(schema_with = custom_claims)]
    pub custom_claims: Option<Map<String, Value>>,
    /// Claims from the user's and organization's data (see docs/api.md "Claims from data").
    #[serde(default)]
    #[schema(schema_with = claim_mappings)]
    pub claim_mappings: Option<Vec<ClaimMapping>>,
    /// People may create an account from this application's sign-in (`prompt=create`, a link on
    /// the login page); needs e-mail (the new account's address is verified by mail).
    #[serde(default)]
    pub allow_signup: bool,
    /// Users whose e-mail is not verified are asked to verify it (a mailed link) before the
    /// application gets a code.
    #[serde(default)]
    pub require_verified_email: bool,
    /// Second factors: `off`, `optional` (the default: users who enrolled one give it) or
    /// `required` (users without one enrol during sign-in).
    #[serde(default)]
    pub mfa: Option<MfaPolicy>,
}

/// `id_token_signed_response_alg`: one of the algorithms Latch signs with.
fn signing_algorithm() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .enum_values(Some(SIGNING_ALGORITHMS))
}

/// Namespaced claims copied into tokens; `null` (in a patch) removes one, or all.
pub(crate) fn custom_claims() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::String))
                .pattern(Some("^https?://")),
        ))
        .description(Some(
            "claims added to tokens; names must be http(s) URLs (namespaced, as Auth0 requires); \
             registered claim names are refused (422)",
        ))
}

/// `claim_mappings` of applications and APIs: a list that a merge patch replaces whole.
pub(crate) fn claim_mappings() -> impl Into<RefOr<Schema>> {
    let text = |description: &str| {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .description(Some(description))
    };
    let destination = ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .enum_values(Some(["id_token", "access_token", "userinfo"]));
    let mapping = ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .property(
            "claim",
            text("a namespaced claim name: an http(s) URL, not a registered name"),
        )
        .required("claim")
        .property(
            "source",
            text(
                "user.metadata.<path>, organization.metadata.<path> (members joined by `.`, at \
                 most 5), user.external_id, organization.external_id, user.email_verified, or \
                 literal (then `value` is the claim's value)",
            ),
        )
        .required("source")
        .property(
            "value",
            ObjectBuilder::new().description(Some("the literal's value (JSON)")),
        )
        .property(
            "destinations",
            utoipa::openapi::schema::ArrayBuilder::new().items(destination),
        )
        .required("destinations");
    utoipa::openapi::schema::ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(mapping)
        .max_items(Some(latch_core::claim_mapping::MAX_CLAIM_MAPPINGS))
        .description(Some(
            "claims whose values are read when a token is issued or refreshed (and at userinfo); \
             a missing value leaves the claim out; an unknown source is refused (422)",
        ))
}

/// An application as the API and CLI show it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Application)]
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
    #[schema(schema_with = signing_algorithm)]
    pub id_token_signed_response_alg: String,
    pub custom_claims: Map<String, Value>,
    #[schema(schema_with = claim_mappings)]
    pub claim_mappings: Vec<ClaimMapping>,
    /// Set through `/applications/{id}/token-hook`; read-only here.
    pub token_hook: Option<super::TokenHookView>,
    pub allow_signup: bool,
    pub require_verified_email: bool,
    pub mfa: MfaPolicy,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&Application> for ApplicationView {
    fn from(app: &Application) -> Self {
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
            id_token_signed_response_alg: app.id_token_signed_response_alg.as_str().to_owned(),
            custom_claims: app.custom_claims.clone(),
            claim_mappings: app.claim_mappings.clone(),
            token_hook: app.token_hook.as_ref().map(super::TokenHookView::from),
            allow_signup: app.allow_signup,
            require_verified_email: app.require_verified_email,
            mfa: app.mfa,
            created_at: rfc3339(app.created_at),
            updated_at: rfc3339(app.updated_at),
        }
    }
}

/// The answer to registering an application: a web application's first client secret is shown
/// here, this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationCreated {
    #[serde(flatten)]
    pub application: ApplicationView,
    /// Web applications only; shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl ApplicationCreated {
    pub fn new(app: &Application, client_secret: Option<&Secret>) -> Self {
        Self {
            application: ApplicationView::from(app),
            client_secret: client_secret.map(|s| s.expose_secret().to_owned()),
        }
    }
}

/// A client secret as listed: never its value.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ClientSecret)]
pub struct SecretView {
    pub id: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
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

/// The one answer that carries a secret's value.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientSecretCreated {
    pub id: String,
    pub secret: String,
    #[schema(format = DateTime)]
    pub created_at: String,
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
fn build_application(
    new: NewApplication,
    identity: Identity,
    now: UnixTime,
) -> Result<Application, ManageError> {
    let id_token_signed_response_alg = match new.id_token_signed_response_alg.as_deref() {
        Some(alg) => parse_signing_algorithm(alg)?,
        None => Algorithm::RS256,
    };
    let public = new.application_type != ApplicationType::Web;
    Ok(Application {
        id: identity.id,
        client_id: identity.client_id,
        name: new.name,
        application_type: new.application_type,
        management_api_access: new.management_api_access,
        enforce_pkce: new.enforce_pkce.unwrap_or(public),
        access_token_ttl_seconds: new.access_token_ttl_seconds,
        redirects: new.redirects,
        allowed_origins: new.allowed_origins,
        id_token_signed_response_alg,
        custom_claims: new.custom_claims.unwrap_or_default(),
        claim_mappings: new.claim_mappings.unwrap_or_default(),
        token_hook: None,
        allow_signup: new.allow_signup,
        require_verified_email: new.require_verified_email,
        mfa: new.mfa.unwrap_or_default(),
        created_at: identity.created_at,
        updated_at: now,
    })
}

/// The application with this id.
pub async fn application(store: &dyn Store, id: &str) -> Result<Application, ManageError> {
    store
        .get_application(id)
        .await?
        .ok_or(ManageError::NotFound("application"))
}

/// Registers an application; a web application gets its first secret, returned this once.
/// `allow_private` is `LATCH_BACKCHANNEL_ALLOW_PRIVATE`.
pub async fn create_application(
    store: &dyn Store,
    new: NewApplication,
    now: UnixTime,
    allow_private: bool,
) -> Result<(Application, Option<Secret>), ManageError> {
    let public = new.application_type != ApplicationType::Web;
    let identity = Identity {
        id: uuid::Uuid::now_v7().to_string(),
        client_id: random_id(),
        created_at: now,
    };
    let app = build_application(new, identity, now)?;
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
) -> Result<(Secret, ClientSecretInfo), ManageError> {
    if app.application_type != ApplicationType::Web {
        return Err(ManageError::Forbidden {
            code: "invalid_application_type",
            description: "only web applications have client secrets".into(),
        });
    }
    let (secret, info) = new_secret(now);
    let too_many =
        format!("an application has at most {MAX_ACTIVE_SECRETS} active secrets; revoke one first");
    store
        .insert_client_secret(&app.id, &info)
        .await
        .map_err(ManageError::conflict_as("too_many_secrets", &too_many))?;
    Ok((secret, info))
}

/// Revokes one client secret; the application's other secret keeps working.
pub async fn revoke_client_secret(
    store: &dyn Store,
    app: &Application,
    secret_id: &str,
) -> Result<(), ManageError> {
    if !store.delete_client_secret(&app.id, secret_id).await? {
        return Err(ManageError::NotFound("client secret"));
    }
    Ok(())
}

/// `PATCH /api/v1/applications/{id}`: a JSON merge patch of the editable fields; a member set to
/// `null` returns to its default (as if left out at creation). `type` stays.
pub async fn update_application(
    store: &dyn Store,
    current: &Application,
    patch: &Value,
    now: UnixTime,
    allow_private: bool,
) -> Result<Application, ManageError> {
    let view = ApplicationView::from(current);
    let mut fields = patched(
        &view,
        patch,
        &[
            "id",
            "client_id",
            "type",
            "token_hook",
            "created_at",
            "updated_at",
        ],
    )?;
    if let Value::Object(map) = &mut fields {
        map.insert("type".into(), current.application_type.as_str().into());
    }
    let identity = Identity {
        id: current.id.clone(),
        client_id: current.client_id.clone(),
        created_at: current.created_at,
    };
    let app = Application {
        token_hook: current.token_hook.clone(),
        ..build_application(parse_json(&fields)?, identity, now)?
    };
    app.validate()?;
    app.check_outbound_addresses(allow_private)?;
    if !store.update_application(&app).await? {
        return Err(ManageError::NotFound("application"));
    }
    Ok(app)
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;

    /// The bounds the schema states are the ones `Application::validate` enforces.
    #[test]
    fn the_documented_lifetime_bounds_are_the_enforced_ones() {
        use latch_core::application::{MAX_ACCESS_TOKEN_TTL, MIN_ACCESS_TOKEN_TTL};
        let schema = serde_json::to_value(NewApplication::schema()).unwrap();
        let ttl = &schema["properties"]["access_token_ttl_seconds"];
        assert_eq!(ttl["minimum"], MIN_ACCESS_TOKEN_TTL, "{ttl}");
        assert_eq!(ttl["maximum"], MAX_ACCESS_TOKEN_TTL, "{ttl}");
    }
}
