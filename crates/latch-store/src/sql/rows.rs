//! Private row types (`FromRow`) and their conversion to latch-core types, shared by both backends.

use latch_core::application::{
    Algorithm, Application, ApplicationType, ClientSecretInfo, Redirects,
};
use latch_core::authn::{Amr, MfaPolicy};
use latch_core::claim_mapping::ClaimMapping;
use latch_core::store::{
    BackchannelDelivery, LoginRequestRecord, RefreshGrant, RefreshGrantState, SessionRecord,
    SigningKeyRecord, StoreError,
};
use latch_core::token_hook::TokenHook;
use latch_core::user::User;
use latch_core::{SecretHash, UnixTime};

use super::OrganizationRow;

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("unreadable {what} row: {detail}").into())
}

crate::sql::row_type! {
    pub(crate) struct SigningKeyRow {
        kid: String,
        alg: String,
        generation: i64,
        public_jwk: String,
        private_key_encrypted: Vec<u8>,
        created_at: i64,
        activate_at: i64,
    }
}

impl From<SigningKeyRow> for SigningKeyRecord {
    fn from(r: SigningKeyRow) -> Self {
        Self {
            kid: r.kid,
            alg: r.alg,
            generation: r.generation,
            public_jwk: r.public_jwk,
            private_key_encrypted: r.private_key_encrypted,
            created_at: r.created_at,
            activate_at: r.activate_at,
        }
    }
}

/// Lists are kept as JSON arrays of strings in TEXT columns.
pub(crate) fn json_list(list: &[String]) -> String {
    serde_json::Value::from(list.to_vec()).to_string()
}

fn parse_list(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt("application", e))
}

/// JSON objects (custom claims, metadata) are kept as JSON text too.
pub(crate) fn json_object(map: &serde_json::Map<String, serde_json::Value>) -> String {
    serde_json::Value::Object(map.clone()).to_string()
}

pub(crate) fn parse_object(
    what: &str,
    text: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

/// Claim mappings as stored: their JSON form (`latch_core::claim_mapping`).
pub(crate) fn claim_mappings_json(mappings: &[ClaimMapping]) -> String {
    serde_json::to_string(mappings).unwrap_or_else(|_| "[]".to_owned())
}

/// A token hook as stored (JSON), or NULL.
pub(crate) fn token_hook_json(hook: Option<&TokenHook>) -> Option<String> {
    hook.and_then(|h| serde_json::to_string(h).ok())
}

/// The claim mappings of a `what` row.
pub(crate) fn parse_claim_mappings(
    what: &str,
    text: &str,
) -> Result<Vec<ClaimMapping>, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

/// A JSON list of strings of a `what` row.
pub(crate) fn parse_strings(what: &str, text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

crate::sql::row_type! {
    pub(crate) struct ApplicationRow {
        id: String,
        client_id: String,
        name: String,
        application_type: String,
        management_api_access: bool,
        enforce_pkce: bool,
        access_token_ttl_seconds: Option<i64>,
        post_login_redirect_uris: String,
        initiate_login_uri: Option<String>,
        post_logout_redirect_uris: String,
        backchannel_logout_uri: Option<String>,
        allowed_origins: String,
        id_token_signed_response_alg: String,
        created_at: i64,
        updated_at: i64,
        custom_claims: String,
        claim_mappings: String,
        token_hook: Option<String>,
        allow_signup: bool,
        require_verified_email: bool,
        mfa: String,
    }
}

impl TryFrom<ApplicationRow> for Application {
    type Error = StoreError;

    fn try_from(r: ApplicationRow) -> Result<Self, StoreError> {
        let application_type = ApplicationType::parse(&r.application_type)
            .ok_or_else(|| corrupt("application", format!("type `{}`", r.application_type)))?;
        let alg = &r.id_token_signed_response_alg;
        let id_token_signed_response_alg = Algorithm::parse(alg)
            .ok_or_else(|| corrupt("application", format!("signing algorithm `{alg}`")))?;
        Ok(Self {
            id: r.id,
            client_id: r.client_id,
            name: r.name,
            application_type,
            management_api_access: r.management_api_access,
            enforce_pkce: r.enforce_pkce,
            access_token_ttl_seconds: r.access_token_ttl_seconds,
            redirects: Redirects {
                post_login: parse_list(&r.post_login_redirect_uris)?,
                initiate_login: r.initiate_login_uri,
                post_logout: parse_list(&r.post_logout_redirect_uris)?,
                backchannel_logout: r.backchannel_logout_uri,
            },
            allowed_origins: parse_list(&r.allowed_origins)?,
            id_token_signed_response_alg,
            custom_claims: parse_object("application", &r.custom_claims)?,
            claim_mappings: parse_claim_mappings("application", &r.claim_mappings)?,
            token_hook: r
                .token_hook
                .map(|t| serde_json::from_str(&t).map_err(|e| corrupt("application", e)))
                .transpose()?,
            allow_signup: r.allow_signup,
            require_verified_email: r.require_verified_email,
            mfa: MfaPolicy::parse(&r.mfa)
                .ok_or_else(|| corrupt("application", format!("mfa `{}`", r.mfa)))?,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

crate::sql::row_type! {
    pub(crate) struct ClientSecretRow {
        id: String,
        hash: String,
        created_at: i64,
        last_used_at: Option<i64>,
    }
}

crate::sql::row_type! {
    /// A client secret with its application's id.
    pub(crate) struct AppClientSecretRow {
        application_id: String,
        #[flatten] secret: ClientSecretRow,
    }
}

impl From<ClientSecretRow> for ClientSecretInfo {
    fn from(r: ClientSecretRow) -> Self {
        Self {
            id: r.id,
            hash: SecretHash::from_stored(r.hash),
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

crate::sql::row_type! {
    pub(crate) struct UserRow {
        id: String,
        email: String,
        email_verified: bool,
        name: Option<String>,
        given_name: Option<String>,
        family_name: Option<String>,
        created_at: i64,
        external_id: Option<String>,
        metadata: String,
        admin: bool,
    }
}

impl From<UserRow> for User {
    /// Metadata is written validated by Latch; a row whose JSON was damaged outside Latch reads
    /// as empty metadata (logged) rather than making the user unusable.
    fn from(r: UserRow) -> Self {
        let metadata = parse_object("user", &r.metadata).unwrap_or_else(|e| {
            tracing::warn!(user_id = %r.id, "user metadata unreadable: {e}");
            serde_json::Map::new()
        });
        Self {
            id: r.id,
            email: r.email,
            email_verified: r.email_verified,
            name: r.name,
            given_name: r.given_name,
            family_name: r.family_name,
            created_at: r.created_at,
            external_id: r.external_id,
            metadata,
            admin: r.admin,
        }
    }
}

crate::sql::row_type! {
    pub(crate) struct UserWithPasswordRow {
        password_hash: String,
        #[flatten] user: UserRow,
    }
}

impl From<UserWithPasswordRow> for (User, String) {
    fn from(r: UserWithPasswordRow) -> Self {
        (r.user.into(), r.password_hash)
    }
}

crate::sql::row_type! {
    pub(crate) struct SessionRow {
        sid: String,
        user_id: String,
        auth_time: i64,
        created_at: i64,
        last_active_at: i64,
        expires_at: i64,
        user_agent: Option<String>,
        ip: Option<String>,
        amr: String,
    }
}

impl SessionRow {
    pub(crate) fn sid(&self) -> &str {
        &self.sid
    }

    pub(crate) fn last_active_at(&self) -> UnixTime {
        self.last_active_at
    }

    pub(crate) fn into_record(self, applications: Vec<String>) -> SessionRecord {
        SessionRecord {
            sid: self.sid,
            user_id: self.user_id,
            auth_time: self.auth_time,
            amr: Amr::from_stored(&self.amr),
            created_at: self.created_at,
            last_active_at: self.last_active_at,
            expires_at: self.expires_at,
            user_agent: self.user_agent,
            ip: self.ip,
            applications,
        }
    }
}

crate::sql::row_type! {
    /// A session joined with one application that took part in it (`None`: it has none yet).
    pub(crate) struct SessionParticipationRow {
        participant: Option<String>,
        #[flatten] session: SessionRow,
    }
}

crate::sql::row_type! {
    /// A row of `get_authorizing_session`: the session with one application that took part in it
    /// or one organization of its user (or neither), and whether the user has a second factor.
    pub(crate) struct AuthorizingRow {
        factor_enrolled: bool,
        participant: Option<String>,
        org_id: Option<String>,
        org_name: Option<String>,
        org_display_name: Option<String>,
        org_metadata: Option<String>,
        org_created_at: Option<i64>,
        org_updated_at: Option<i64>,
        org_external_id: Option<String>,
        #[flatten] session: SessionRow,
    }
}

impl AuthorizingRow {
    /// The session, and the row's application or organization.
    pub(crate) fn split(self) -> (SessionRow, (Option<String>, Option<OrganizationRow>)) {
        let org = match (
            self.org_id,
            self.org_name,
            self.org_metadata,
            self.org_created_at,
            self.org_updated_at,
        ) {
            (Some(id), Some(name), Some(metadata), Some(created_at), Some(updated_at)) => {
                Some(OrganizationRow {
                    id,
                    name,
                    display_name: self.org_display_name,
                    metadata,
                    created_at,
                    updated_at,
                    external_id: self.org_external_id,
                })
            }
            _ => None,
        };
        (self.session, (self.participant, org))
    }
}

crate::sql::row_type! {
    /// One (session, participating application) pair.
    pub(crate) struct SessionApplicationRow {
        sid: String,
        client_id: String,
    }
}

crate::sql::row_type! {
    pub(crate) struct LoginRequestRow {
        id: String,
        browser_binding: String,
        request: String,
        created_at: i64,
        expires_at: i64,
    }
}

impl From<LoginRequestRow> for LoginRequestRecord {
    fn from(r: LoginRequestRow) -> Self {
        Self {
            id: r.id,
            browser_binding: SecretHash::from_stored(r.browser_binding),
            request: r.request,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }
    }
}

crate::sql::row_type! {
    pub(crate) struct RefreshGrantRow {
        family_id: String,
        application_id: String,
        client_id: String,
        user_id: String,
        sid: String,
        scope: String,
        auth_time: i64,
        grant_created_at: i64,
        expires_at: i64,
        organization_id: Option<String>,
        audience: Option<String>,
        claims: Option<String>,
        amr: String,
        generation: i64,
        rotated_at: Option<i64>,
        revoked_at: Option<i64>,
        session_active: bool,
        #[flatten] user: UserRow,
    }
}

impl From<RefreshGrantRow> for RefreshGrantState {
    fn from(r: RefreshGrantRow) -> Self {
        Self {
            grant: RefreshGrant {
                family_id: r.family_id,
                application_id: r.application_id,
                client_id: r.client_id,
                user_id: r.user_id,
                sid: r.sid,
                scope: r.scope,
                auth_time: r.auth_time,
                amr: Amr::from_stored(&r.amr),
                created_at: r.grant_created_at,
                expires_at: r.expires_at,
                organization_id: r.organization_id,
                audience: r.audience,
                claims: r.claims,
            },
            user: r.user.into(),
            generation: r.generation,
            rotated_at: r.rotated_at,
            revoked_at: r.revoked_at,
            session_active: r.session_active,
        }
    }
}

crate::sql::row_type! {
    /// An application to notify about an ended session (input to an outbox row).
    pub(crate) struct LogoutTargetRow {
        application_id: String,
        client_id: String,
        url: String,
    }
}

crate::sql::row_type! {
    pub(crate) struct DeliveryRow {
        id: String,
        application_id: String,
        client_id: String,
        url: String,
        sid: String,
        sub: String,
        attempts: i64,
        created_at: i64,
        next_attempt_at: i64,
        delivered_at: Option<i64>,
        abandoned_at: Option<i64>,
        last_error: Option<String>,
    }
}

impl From<DeliveryRow> for BackchannelDelivery {
    fn from(r: DeliveryRow) -> Self {
        Self {
            id: r.id,
            application_id: r.application_id,
            client_id: r.client_id,
            url: r.url,
            sid: r.sid,
            sub: r.sub,
            attempts: r.attempts,
            created_at: r.created_at,
            next_attempt_at: r.next_attempt_at,
            delivered_at: r.delivered_at,
            abandoned_at: r.abandoned_at,
            last_error: r.last_error,
        }
    }
}

impl DeliveryRow {
    /// The order deliveries are due in.
    pub(crate) fn due_order(&self) -> (i64, &str) {
        (self.next_attempt_at, &self.id)
    }
}
