//! What the token endpoint issues, decided without I/O once the server has read the grant's
//! organization, membership and API (`latch_server::grants::resolve`):
//!
//! - `access`: the organization, roles, API, permissions and granted scope of the access token
//!   (RBAC as in Auth0: roles count only in the organization the grant is for);
//! - `issues_id_token`: whether an ID token goes with it;
//! - `code_refresh_grant`: the refresh grant a redeemed code starts (`offline_access`);
//! - `user_claims` / `requested_claims`: the user's claims an ID token or `/userinfo` carries.
//!
//! The refresh grant's rotation is decided by `token::refresh_decision`, its scope by
//! `token::narrowed_scope`, a code's checks by `token::code_live` and `token::check_code`.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::UnixTime;
use crate::application::Application;
use crate::authn::Amr;
use crate::organization::{ApiResource, Organization};
use crate::scope::{Scope, ScopeSet};
use crate::store::{AuthorizationCodeRecord, RefreshGrant};
use crate::user::User;

/// The organization and API context of one token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    pub organization: Option<Organization>,
    /// Names of the user's roles in the organization (the `roles` claim).
    pub roles: Vec<String>,
    pub api: Option<ApiResource>,
    /// What the roles grant for the API, whatever was requested (the `permissions` claim, as in
    /// Auth0's RBAC).
    pub permissions: Vec<String>,
    /// The granted scope: the OIDC scopes requested plus the permissions granted and requested.
    pub scope: ScopeSet,
}

/// The rules of a token's access: permissions are the roles' (`held`) ∩ the API's, and in
/// `scope` also ∩ those requested when the request named any; `offline_access` stays only if the
/// API allows it.
pub fn access(
    organization: Option<Organization>,
    roles: Option<Vec<String>>,
    api: Option<ApiResource>,
    held: &BTreeSet<String>,
    requested: &ScopeSet,
) -> Access {
    let granted: BTreeSet<String> = api
        .as_ref()
        .map(|a| {
            a.permissions
                .iter()
                .filter(|p| held.contains(*p))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let in_scope = if requested.permissions.is_empty() {
        granted.clone()
    } else {
        granted
            .intersection(&requested.permissions)
            .cloned()
            .collect()
    };
    let mut oidc = requested.oidc;
    // Auth0: a refresh token needs offline_access *and* an API that allows offline access.
    if api.as_ref().is_some_and(|a| !a.allow_offline_access) {
        oidc = oidc.without(Scope::OFFLINE_ACCESS);
    }
    Access {
        organization,
        roles: roles.unwrap_or_default(),
        api,
        permissions: granted.into_iter().collect(),
        scope: ScopeSet {
            oidc,
            permissions: in_scope,
        },
    }
}

/// OIDC Core §3.1.3.3: an ID token goes with the access token of a user's grant (`for_user`)
/// whose scope holds `openid`; never with `client_credentials`.
pub fn issues_id_token(access: &Access, for_user: bool) -> bool {
    for_user && access.scope.contains(Scope::OPENID)
}

/// The refresh grant that redeeming `code` starts, if `offline_access` was granted (RFC 6749
/// §1.5, OIDC Core §11). Its family is `family_id`, the code's hash, so that a replayed code
/// revokes it; it lives `ttl` seconds from `now`, moved on by each rotation.
pub fn code_refresh_grant(
    code: &AuthorizationCodeRecord,
    app: &Application,
    access: &Access,
    family_id: &str,
    now: UnixTime,
    ttl: i64,
) -> Option<RefreshGrant> {
    access
        .scope
        .contains(Scope::OFFLINE_ACCESS)
        .then(|| RefreshGrant {
            family_id: family_id.to_owned(),
            application_id: app.id.clone(),
            client_id: app.client_id.clone(),
            user_id: code.user_id.clone(),
            sid: code.sid.clone(),
            scope: code.scope.clone(),
            auth_time: code.auth_time,
            amr: code.amr,
            created_at: now,
            expires_at: now + ttl,
            organization_id: code.organization_id.clone(),
            audience: code.audience.clone(),
            claims: code.claims.clone(),
        })
}

/// What an ID token says, besides what the server alone knows (its signature, and `at_hash`,
/// which it adds once the access token is signed: a token hook may still add claims before).
pub struct IdToken<'a> {
    pub issuer: &'a str,
    pub user: &'a User,
    pub app: &'a Application,
    pub access: &'a Access,
    pub issued_at: UnixTime,
    /// The application's ID token lifetime.
    pub ttl: i64,
    pub auth_time: Option<UnixTime>,
    /// How the user authenticated (`amr`, and the `acr` it reaches).
    pub amr: Option<Amr>,
    pub sid: Option<&'a str>,
    pub nonce: Option<&'a str>,
    /// Claims asked for individually for the ID token (OIDC Core §5.5).
    pub requested: &'a BTreeSet<String>,
}

/// The ID token's claims (OIDC Core §2): who, for whom, when; the organization and roles of the
/// grant; the user's claims the scope allows (§5.4) and those asked for (§5.5); the
/// application's custom claims.
pub fn id_token_claims(t: IdToken<'_>) -> Map<String, Value> {
    let mut c = Map::new();
    c.insert("iss".into(), t.issuer.into());
    c.insert("sub".into(), t.user.id.as_str().into());
    c.insert("aud".into(), t.app.client_id.as_str().into());
    c.insert("azp".into(), t.app.client_id.as_str().into());
    c.insert("exp".into(), (t.issued_at + t.ttl).into());
    c.insert("iat".into(), t.issued_at.into());
    if let Some(at) = t.auth_time {
        c.insert("auth_time".into(), at.into());
    }
    if let Some(amr) = t.amr {
        c.insert("acr".into(), amr.acr().as_str().into());
        c.insert("amr".into(), amr.claim().into());
    }
    if let Some(sid) = t.sid {
        c.insert("sid".into(), sid.into());
    }
    if let Some(nonce) = t.nonce {
        c.insert("nonce".into(), nonce.into());
    }
    if let Some(o) = &t.access.organization {
        c.insert("org_id".into(), o.id.as_str().into());
        c.insert("org_name".into(), o.name.as_str().into());
        c.insert("roles".into(), t.access.roles.clone().into());
    }
    user_claims(t.user, t.access.scope.oidc, &mut c);
    requested_claims(t.user, t.requested, &mut c);
    c.extend(t.app.custom_claims.clone());
    c
}

/// The standard claims `scope` allows (OIDC Core §5.4).
pub fn user_claims(user: &User, scope: Scope, out: &mut Map<String, Value>) {
    if scope.contains(Scope::EMAIL) {
        requested_claims(user, ["email", "email_verified"], out);
    }
    if scope.contains(Scope::PROFILE) {
        requested_claims(user, ["name", "given_name", "family_name"], out);
    }
}

/// The named claims the user has (OIDC Core §5.5: asked for individually; §5.5.1: one the user
/// does not have is left out). Names Latch does not hold are ignored.
pub fn requested_claims<S: AsRef<str>>(
    user: &User,
    names: impl IntoIterator<Item = S>,
    out: &mut Map<String, Value>,
) {
    for name in names {
        let name = name.as_ref();
        let value: Option<Value> = match name {
            "email" => Some(user.email.as_str().into()),
            "email_verified" => Some(user.email_verified.into()),
            "name" => user.name.as_deref().map(Into::into),
            "given_name" => user.given_name.as_deref().map(Into::into),
            "family_name" => user.family_name.as_deref().map(Into::into),
            _ => None,
        };
        if let Some(v) = value {
            out.insert(name.to_owned(), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(offline: bool) -> ApiResource {
        ApiResource {
            id: "a".into(),
            identifier: "https://api.example.com".into(),
            name: "API".into(),
            permissions: vec!["read:x".into(), "write:x".into(), "admin:x".into()],
            access_token_ttl_seconds: None,
            allow_offline_access: offline,
            custom_claims: serde_json::Map::new(),
            claim_mappings: vec![],
            created_at: 0,
            updated_at: 0,
        }
    }

    fn held(p: &[&str]) -> BTreeSet<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    fn scope(s: &str) -> ScopeSet {
        ScopeSet::parse(s).unwrap_or_default()
    }

    #[test]
    fn scope_holds_what_the_roles_grant_within_what_was_requested() {
        let roles = held(&["read:x", "write:x", "other:y"]);
        let all = scope("openid offline_access");
        let a = access(None, None, Some(api(true)), &roles, &all);
        assert_eq!(a.scope.to_string(), "openid offline_access read:x write:x");
        assert_eq!(a.permissions, ["read:x", "write:x"]);
        let some = scope("openid read:x admin:x");
        let a = access(None, None, Some(api(true)), &roles, &some);
        assert_eq!(a.scope.to_string(), "openid read:x");
        assert_eq!(
            a.permissions,
            ["read:x", "write:x"],
            "the claim is not narrowed"
        );
    }

    #[test]
    fn an_api_without_offline_access_drops_offline_access() {
        let req = scope("openid offline_access");
        let a = access(None, None, Some(api(false)), &held(&[]), &req);
        assert_eq!(a.scope.to_string(), "openid");
        let a = access(None, None, None, &held(&[]), &req);
        assert_eq!(
            a.scope.to_string(),
            "openid offline_access",
            "no API, no rule"
        );
    }

    #[test]
    fn an_id_token_goes_only_to_a_users_grant_with_openid() {
        let with = access(None, None, None, &held(&[]), &scope("openid"));
        let without = access(None, None, None, &held(&[]), &scope("email"));
        assert!(issues_id_token(&with, true));
        assert!(!issues_id_token(&with, false), "client_credentials");
        assert!(!issues_id_token(&without, true));
    }

    fn code() -> AuthorizationCodeRecord {
        AuthorizationCodeRecord {
            application_id: "app".into(),
            client_id: "c".into(),
            user_id: "u".into(),
            sid: "s".into(),
            redirect_uri: "https://app.example.com/cb".into(),
            scope: "openid offline_access".into(),
            nonce: Some("n".into()),
            code_challenge: None,
            organization_id: Some("org_a".into()),
            audience: Some("https://api.example.com".into()),
            claims: Some(r#"{"userinfo":["name"]}"#.into()),
            auth_time: 90,
            amr: Amr::PASSWORD.with(crate::authn::Method::Otp),
            created_at: 95,
            expires_at: 155,
        }
    }

    #[test]
    fn a_code_starts_a_refresh_grant_only_with_offline_access_granted() {
        let app = crate::application::tests::app(crate::application::ApplicationType::Web);
        let granted = access(
            None,
            None,
            Some(api(true)),
            &held(&[]),
            &scope("openid offline_access"),
        );
        let grant = code_refresh_grant(&code(), &app, &granted, "f", 100, 3600);
        let grant = grant.unwrap_or_else(|| panic!("offline_access was granted"));
        assert_eq!(grant.family_id, "f");
        assert_eq!((grant.created_at, grant.expires_at), (100, 3700));
        assert_eq!(
            grant.auth_time, 90,
            "the sign-in's time, not the redemption's"
        );
        assert_eq!(grant.amr, code().amr, "the sign-in's methods");
        assert_eq!(
            grant.scope, "openid offline_access",
            "as requested at authorize"
        );
        assert_eq!(grant.organization_id.as_deref(), Some("org_a"));
        assert_eq!(grant.claims, code().claims);
        assert_eq!(
            (grant.application_id, grant.client_id),
            (app.id.clone(), app.client_id.clone())
        );
        let dropped = access(
            None,
            None,
            Some(api(false)),
            &held(&[]),
            &scope("openid offline_access"),
        );
        assert_eq!(
            code_refresh_grant(&code(), &app, &dropped, "f", 100, 3600),
            None
        );
    }

    fn user() -> User {
        User {
            admin: false,
            id: "u".into(),
            email: "u@example.com".into(),
            email_verified: true,
            name: Some("U".into()),
            given_name: None,
            family_name: None,
            created_at: 0,
            external_id: None,
            metadata: Default::default(),
        }
    }

    #[test]
    fn an_id_token_names_the_grant_its_organization_and_the_claims_allowed() {
        let mut app = crate::application::tests::app(crate::application::ApplicationType::Web);
        app.custom_claims
            .insert("https://example.com/tier".into(), "gold".into());
        let org = Organization {
            id: "org_a".into(),
            name: "acme".into(),
            display_name: None,
            metadata: Map::new(),
            external_id: None,
            created_at: 0,
            updated_at: 0,
        };
        let granted = access(
            Some(org),
            Some(vec!["admin".into()]),
            None,
            &held(&[]),
            &scope("openid email"),
        );
        let requested = held(&["name"]);
        let user = user();
        let c = id_token_claims(IdToken {
            issuer: "https://id.example.com",
            user: &user,
            app: &app,
            access: &granted,
            issued_at: 100,
            ttl: 300,
            auth_time: Some(90),
            amr: Some(Amr::PASSWORD.with(crate::authn::Method::Otp)),
            sid: Some("s"),
            nonce: Some("n"),
            requested: &requested,
        });
        assert_eq!(c["iss"], "https://id.example.com");
        assert_eq!(
            (&c["sub"], &c["aud"], &c["azp"]),
            (
                &"u".into(),
                &app.client_id.as_str().into(),
                &app.client_id.as_str().into()
            )
        );
        assert_eq!(
            (&c["iat"], &c["exp"], &c["auth_time"]),
            (&100.into(), &400.into(), &90.into())
        );
        assert_eq!((&c["sid"], &c["nonce"]), (&"s".into(), &"n".into()));
        assert_eq!(c["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
        assert_eq!(c["acr"], "urn:latch:acr:mfa");
        assert!(
            !c.contains_key("at_hash"),
            "added by the server once signed"
        );
        assert_eq!(
            (&c["org_id"], &c["org_name"]),
            (&"org_a".into(), &"acme".into())
        );
        assert_eq!(c["roles"], serde_json::json!(["admin"]));
        assert_eq!(c["email"], "u@example.com", "the scope's claims");
        assert_eq!(c["name"], "U", "asked for individually");
        assert_eq!(c["https://example.com/tier"], "gold");
        assert!(!c.contains_key("given_name"));
    }

    #[test]
    fn scope_and_request_name_the_users_claims() {
        let user = user();
        let mut out = Map::new();
        user_claims(&user, Scope::EMAIL, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out["email"], "u@example.com");
        let mut out = Map::new();
        requested_claims(&user, ["name", "given_name", "phone_number"], &mut out);
        assert_eq!(
            out.len(),
            1,
            "one the user lacks or Latch does not hold is left out"
        );
        assert_eq!(out["name"], "U");
    }
}
