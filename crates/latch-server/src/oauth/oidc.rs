//! Discovery (OpenID Connect Discovery 1.0, RFC 8414), the JWKS, and readiness.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

/// The discovery document, rendered once at start-up; see [`discovery_with_signup`].
pub fn discovery_document(issuer: &str) -> String {
    discovery_json(issuer, &["none", "login"])
}

/// The discovery document while some application allows sign-up (and e-mail is configured):
/// Prompt Create 1.0 §4.2 lists `create` in `prompt_values_supported`.
pub fn discovery_with_signup(issuer: &str) -> String {
    discovery_json(issuer, &["none", "login", "create"])
}

fn discovery_json(issuer: &str, prompts: &[&str]) -> String {
    let url = |path: &str| format!("{issuer}{path}");
    json!({
        "issuer": issuer,
        "authorization_endpoint": url("/oauth/authorize"),
        "token_endpoint": url("/oauth/token"),
        "userinfo_endpoint": url("/userinfo"),
        "jwks_uri": url("/keys"),
        "end_session_endpoint": url("/oidc/logout"),
        "revocation_endpoint": url("/oauth/revoke"),
        "introspection_endpoint": url("/oauth/introspect"),
        "scopes_supported": latch_core::scope::SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "userinfo_signing_alg_values_supported": ["none"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid", "azp", "at_hash",
            "acr", "amr",
            "email", "email_verified", "name", "given_name", "family_name"
        ],
        "acr_values_supported": latch_core::authn::ACR_VALUES_SUPPORTED,
        "claims_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "require_request_uri_registration": true,
        "prompt_values_supported": prompts,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": false,
        "authorization_response_iss_parameter_supported": true,
    })
    .to_string()
}

fn cached_json(body: String, max_age: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(max_age));
    response
}

/// `GET /.well-known/openid-configuration`
pub async fn discovery(State(state): State<AppState>) -> Response {
    if state.mail_enabled() && state.applications.any_allows_signup() {
        let document = discovery_with_signup(&state.settings.issuer);
        return cached_json(document, "public, max-age=3600");
    }
    cached_json(state.discovery.clone(), "public, max-age=3600")
}

/// `GET /keys`: short max-age so that rotated keys are seen well before they sign.
pub async fn jwks(State(state): State<AppState>) -> Response {
    cached_json(
        state.keys.current().jwks_json().to_owned(),
        "public, max-age=300",
    )
}

/// `GET /healthz`: liveness: 200 while the process serves (a database outage is `/readyz`'s
/// business: restarting the process would not cure it).
pub async fn healthz() -> Response {
    (StatusCode::OK, "ok").into_response()
}

/// `GET /readyz`: readiness: 200 when the database answers and a signing key for RS256 (the
/// default algorithm) is loaded; 503 with the reason otherwise.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if let Err(e) = state.store.ping().await {
        tracing::warn!(error = %e, "readiness check: database unavailable");
        return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response();
    }
    if state
        .keys
        .current()
        .signer(latch_jose::Algorithm::RS256)
        .is_none()
    {
        return (StatusCode::SERVICE_UNAVAILABLE, "no signing key loaded").into_response();
    }
    (StatusCode::OK, "ready").into_response()
}
