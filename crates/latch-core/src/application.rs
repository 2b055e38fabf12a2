//! Applications (what an administrator registers; the protocol sees its `client_id`) and their rules.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::UnixTime;
pub use crate::algorithm::Algorithm;
pub use crate::authn::MfaPolicy;
use crate::claim_mapping::{ClaimMapping, Destination};
pub use crate::client_type::ApplicationType;
use crate::field::FieldError;
use crate::redirect::{self, UriError};
use crate::secret::SecretHash;
use crate::token_hook::TokenHook;

/// Environment default for `expires_in` of access tokens, unless the application overrides it.
pub const DEFAULT_ACCESS_TOKEN_TTL: i64 = 300;
pub const MIN_ACCESS_TOKEN_TTL: i64 = 60;
pub const MAX_ACCESS_TOKEN_TTL: i64 = 86_400;
/// At most this many active client secrets per application.
pub const MAX_ACTIVE_SECRETS: usize = 2;

/// Where an application's users may be sent (allow-lists, exact match) and notified.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Redirects {
    /// Allowed `redirect_uri` values (loopback ports may vary, RFC 8252 §7.3).
    #[serde(default)]
    pub post_login: Vec<String>,
    /// Where login starts when it begins outside the application (OpenID Connect Core §4).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(format = "uri"))]
    pub initiate_login: Option<String>,
    /// Allowed `post_logout_redirect_uri` values.
    #[serde(default)]
    pub post_logout: Vec<String>,
    /// The back-channel logout URL.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(format = "uri"))]
    pub backchannel_logout: Option<String>,
}

/// A registered application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
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
    /// `RS256` (default), `ES256` or `EdDSA`: signs this application's ID and access tokens.
    pub id_token_signed_response_alg: Algorithm,
    /// Namespaced claims added to every ID and access token of this application (see `claims`).
    #[serde(default)]
    pub custom_claims: Map<String, Value>,
    /// Claims from the user's and organization's data (see `claim_mapping`).
    #[serde(default)]
    pub claim_mappings: Vec<ClaimMapping>,
    /// Asked before tokens are issued (see `token_hook`); set through its own endpoint.
    #[serde(default)]
    pub token_hook: Option<TokenHook>,
    /// People may create an account from this application's sign-in (`prompt=create`, a link
    /// on the login page).
    #[serde(default)]
    pub allow_signup: bool,
    /// A user whose e-mail is not verified gets no code: the flow asks them to verify first.
    #[serde(default)]
    pub require_verified_email: bool,
    /// Second factors: `off`, `optional` (default) or `required` (see `authn::MfaPolicy`).
    #[serde(default)]
    pub mfa: MfaPolicy,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// The names of `Algorithm::ALL`, for the management API's schema.
pub const SIGNING_ALGORITHMS: [&str; 3] = ["RS256", "ES256", "EdDSA"];

/// The error of an `id_token_signed_response_alg` that names no `Algorithm`.
pub fn parse_signing_algorithm(value: &str) -> Result<Algorithm, FieldError> {
    Algorithm::parse(value).ok_or_else(|| {
        FieldError::new(
            "id_token_signed_response_alg",
            "must be one of RS256, ES256, EdDSA",
        )
    })
}

impl Application {
    /// The access token lifetime in seconds.
    pub fn access_token_ttl(&self) -> i64 {
        self.access_token_ttl_seconds
            .unwrap_or(DEFAULT_ACCESS_TOKEN_TTL)
    }

    /// Whether the token endpoint must see a PKCE verifier for this application's codes.
    pub fn requires_pkce(&self) -> bool {
        self.enforce_pkce || !self.application_type.is_confidential()
    }

    /// Origins allowed to call the token, userinfo and revocation endpoints from a browser.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| o == origin)
            || (self.application_type == ApplicationType::Spa
                && self
                    .redirects
                    .post_login
                    .iter()
                    .any(|r| redirect::origin_of(r).as_deref() == Some(origin)))
    }

    /// Refuses a back-channel logout URL whose host is a literal address Latch must not call
    /// (private, link-local, cloud metadata: `address::outbound_allowed`). Names given by DNS are
    /// checked again at each delivery, on the address actually connected to.
    pub fn check_outbound_addresses(&self, allow_private: bool) -> Result<(), FieldError> {
        let Some(uri) = &self.redirects.backchannel_logout else {
            return Ok(());
        };
        let host = url::Url::parse(uri)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned));
        match host.as_deref().and_then(crate::address::literal_host) {
            Some(ip) if !crate::address::outbound_allowed(ip, allow_private) => {
                Err(FieldError::new(
                    "redirects.backchannel_logout",
                    format!(
                        "`{}` is a private, link-local or metadata address, which Latch does not call (LATCH_BACKCHANNEL_ALLOW_PRIVATE)",
                        shorten(uri)
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Checks every rule of a (new or patched) application; the first failure names its field.
    pub fn validate(&self) -> Result<(), FieldError> {
        let kind = self.application_type;
        let name = self.name.trim();
        if name.is_empty() || self.name.chars().count() > 200 {
            return Err(FieldError::new("name", "must be 1 to 200 characters"));
        }
        if self.management_api_access && kind != ApplicationType::Web {
            return Err(FieldError::new(
                "management_api_access",
                "only web applications can access the management API",
            ));
        }
        if !self.enforce_pkce && kind != ApplicationType::Web {
            return Err(FieldError::new(
                "enforce_pkce",
                "is always true for spa and native applications",
            ));
        }
        if let Some(ttl) = self.access_token_ttl_seconds
            && !(MIN_ACCESS_TOKEN_TTL..=MAX_ACCESS_TOKEN_TTL).contains(&ttl)
        {
            return Err(FieldError::new(
                "access_token_ttl_seconds",
                format!("must be between {MIN_ACCESS_TOKEN_TTL} and {MAX_ACCESS_TOKEN_TTL}"),
            ));
        }
        let r = &self.redirects;
        check_list("redirects.post_login", &r.post_login, |u| {
            redirect::validate_redirect_uri(u, kind)
        })?;
        check_list("redirects.post_logout", &r.post_logout, |u| {
            redirect::validate_redirect_uri(u, kind)
        })?;
        if let Some(u) = &r.initiate_login {
            check_one(
                "redirects.initiate_login",
                u,
                redirect::validate_initiate_login_uri,
            )?;
        }
        if let Some(u) = &r.backchannel_logout {
            check_one(
                "redirects.backchannel_logout",
                u,
                redirect::validate_backchannel_uri,
            )?;
        }
        check_list(
            "allowed_origins",
            &self.allowed_origins,
            redirect::validate_origin,
        )?;
        crate::claims::validate_custom_claims("custom_claims", &self.custom_claims)?;
        crate::claim_mapping::validate_claim_mappings(
            "claim_mappings",
            &self.claim_mappings,
            &self.custom_claims,
            &[
                Destination::IdToken,
                Destination::AccessToken,
                Destination::Userinfo,
            ],
        )
    }
}

fn check_one(
    field: &str,
    uri: &str,
    rule: impl Fn(&str) -> Result<(), UriError>,
) -> Result<(), FieldError> {
    rule(uri)
        .map_err(|UriError(reason)| FieldError::new(field, format!("`{}` {reason}", shorten(uri))))
}

fn check_list(
    field: &str,
    uris: &[String],
    rule: impl Fn(&str) -> Result<(), UriError>,
) -> Result<(), FieldError> {
    if uris.len() > 100 {
        return Err(FieldError::new(field, "at most 100 entries"));
    }
    for (i, uri) in uris.iter().enumerate() {
        check_one(&format!("{field}[{i}]"), uri, &rule)?;
        if uris[..i].contains(uri) {
            return Err(FieldError::new(format!("{field}[{i}]"), "is listed twice"));
        }
    }
    Ok(())
}

fn shorten(s: &str) -> String {
    s.chars().take(100).collect()
}

/// A client secret as stored: never the value itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSecretInfo {
    pub id: String,
    pub hash: SecretHash,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A valid application of `kind` (for the tests of other modules too).
    pub(crate) fn app(kind: ApplicationType) -> Application {
        Application {
            id: "id".into(),
            client_id: "cid".into(),
            name: "Example".into(),
            application_type: kind,
            management_api_access: false,
            enforce_pkce: kind != ApplicationType::Web,
            access_token_ttl_seconds: None,
            redirects: Redirects {
                post_login: vec!["https://app.example.com/cb".into()],
                ..Redirects::default()
            },
            allowed_origins: vec![],
            id_token_signed_response_alg: Algorithm::RS256,
            custom_claims: Map::new(),
            claim_mappings: Vec::new(),
            token_hook: None,
            allow_signup: false,
            require_verified_email: false,
            mfa: Default::default(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_plain_application_of_each_type_is_valid() {
        for kind in [
            ApplicationType::Web,
            ApplicationType::Spa,
            ApplicationType::Native,
        ] {
            assert_eq!(app(kind).validate(), Ok(()));
        }
    }

    #[test]
    fn pkce_cannot_be_switched_off_for_public_clients() {
        let mut a = app(ApplicationType::Spa);
        a.enforce_pkce = false;
        assert_eq!(a.validate().unwrap_err().field, "enforce_pkce");
        assert!(app(ApplicationType::Native).requires_pkce());
        assert!(!app(ApplicationType::Web).requires_pkce());
    }

    #[test]
    fn management_access_is_for_web_applications_only() {
        let mut a = app(ApplicationType::Native);
        a.management_api_access = true;
        assert_eq!(a.validate().unwrap_err().field, "management_api_access");
    }

    #[test]
    fn ttl_is_bounded() {
        let mut a = app(ApplicationType::Web);
        a.access_token_ttl_seconds = Some(59);
        assert_eq!(a.validate().unwrap_err().field, "access_token_ttl_seconds");
        a.access_token_ttl_seconds = Some(86_400);
        assert_eq!(a.validate(), Ok(()));
        assert_eq!(a.access_token_ttl(), 86_400);
    }

    #[test]
    fn a_bad_redirect_names_its_field_and_index() {
        let mut a = app(ApplicationType::Web);
        a.redirects.post_login.push("http://evil.example/cb".into());
        let e = a.validate().unwrap_err();
        assert_eq!(e.field, "redirects.post_login[1]");
        assert!(e.reason.contains("https"));
    }

    #[test]
    fn custom_claims_need_namespaced_names() {
        let mut a = app(ApplicationType::Web);
        a.custom_claims
            .insert("https://example.com/plan".into(), "gold".into());
        assert_eq!(a.validate(), Ok(()));
        a.custom_claims.insert("sub".into(), "x".into());
        assert_eq!(a.validate().unwrap_err().field, "custom_claims.sub");
    }

    #[test]
    fn spa_redirect_origins_are_allowed_without_being_listed() {
        let a = app(ApplicationType::Spa);
        assert!(a.allows_origin("https://app.example.com"));
        assert!(!a.allows_origin("https://evil.example.com"));
        assert!(!app(ApplicationType::Web).allows_origin("https://app.example.com"));
    }
}
