//! The relying party: discovery, the authorization request, the code exchange (with the client
//! secret) and the refresh, on the `openidconnect` crate with `reqwest` plugged in.

use std::time::Duration;

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreErrorResponseType, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
    CoreResponseType, CoreSubjectIdentifierType, CoreTokenResponse,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest, HttpResponse, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, ProviderMetadata, RedirectUrl,
    RefreshToken, RequestTokenError, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::Error;

/// What discovery says beyond the core fields: RP-Initiated Logout's `end_session_endpoint`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct LogoutMetadata {
    pub end_session_endpoint: Option<Url>,
}

impl AdditionalProviderMetadata for LogoutMetadata {}

pub type Metadata = ProviderMetadata<
    LogoutMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// An HTTP failure talking to Latch.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Reqwest(#[from] reqwest::Error),
    #[error("invalid HTTP response: {0}")]
    Response(String),
}

/// The HTTP client: no redirects followed (RFC 6749 §3.2), a timeout, no cookies.
pub fn reqwest_client() -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| Error::Setup(format!("HTTP client: {e}")))
}

/// What `openidconnect` calls to send a request (it is built without an HTTP client of its own).
pub async fn send(http: reqwest::Client, request: HttpRequest) -> Result<HttpResponse, HttpError> {
    let (parts, body) = request.into_parts();
    let response = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut builder = openidconnect::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let body = response.bytes().await?.to_vec();
    builder
        .body(body)
        .map_err(|e| HttpError::Response(e.to_string()))
}

/// The tokens of one sign-in, as the token endpoint returned them.
#[derive(Clone)]
pub struct Tokens {
    pub access_token: String,
    /// When the access token expires (`expires_in` after it was issued), Unix seconds.
    pub access_expires_at: u64,
    pub refresh_token: Option<String>,
    pub id_token: String,
}

/// A parked authorization request: what the callback needs to finish it.
pub struct PendingLogin {
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
    pub created: std::time::Instant,
}

/// Latch as this application sees it.
pub struct Provider {
    pub issuer: String,
    pub metadata: Metadata,
    client: Client,
    http: reqwest::Client,
}

/// How a refresh went.
pub enum Refreshed {
    Tokens(Tokens),
    /// `invalid_grant` (RFC 6749 §5.2): the grant ended (sign-out, revocation); sign in again.
    GrantEnded,
}

impl Provider {
    /// Discovery (`/.well-known/openid-configuration`, the issuer checked) and the keys.
    pub async fn discover(
        issuer: &str,
        client_id: &str,
        client_secret: &str,
        redirect_uri: &str,
    ) -> Result<Provider, Error> {
        let http = reqwest_client()?;
        let issuer_url =
            IssuerUrl::new(issuer.to_owned()).map_err(|e| Error::Setup(format!("issuer: {e}")))?;
        let metadata = Metadata::discover_async(issuer_url, &|r| send(http.clone(), r))
            .await
            .map_err(|e| Error::Setup(format!("discovery of {issuer}: {e}")))?;
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| Error::Setup(format!("redirect URI: {e}")))?;
        let client = CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(client_id.to_owned()),
            Some(ClientSecret::new(client_secret.to_owned())),
        )
        .set_redirect_uri(redirect);
        Ok(Provider {
            issuer: issuer.to_owned(),
            metadata,
            client,
            http,
        })
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Seed 001 step 1: the authorization URL, with `state`, `nonce` and PKCE (S256; RFC 9700
    /// §2.1.1 recommends it for confidential clients too).
    pub fn authorization(&self) -> (Url, CsrfToken, PendingLogin) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self.client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in ["profile", "email", "offline_access"] {
            request = request.add_scope(Scope::new(scope.to_owned()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let pending = PendingLogin {
            nonce,
            verifier,
            created: std::time::Instant::now(),
        };
        (url, state, pending)
    }

    /// Seed 001 step 2: exchanges the code (client secret + PKCE verifier) and verifies the ID
    /// token (signature, `iss`, `aud`, `exp`, and the `nonce` we sent). Returns the tokens and the
    /// ID token's claims.
    pub async fn exchange(
        &self,
        code: String,
        pending: PendingLogin,
    ) -> Result<(Tokens, serde_json::Value), Error> {
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| Error::Setup(format!("token endpoint: {e}")))?
            .set_pkce_verifier(pending.verifier)
            .request_async(&|r| send(self.http.clone(), r))
            .await
            .map_err(|e| Error::Provider(describe(&e)))?;
        let id_token = response
            .id_token()
            .ok_or_else(|| Error::Provider("no ID token in the token response".into()))?;
        id_token
            .claims(&self.client.id_token_verifier(), &pending.nonce)
            .map_err(|e| Error::Provider(format!("ID token: {e}")))?;
        // Verified above: read every claim (`sid` too, which the typed claims do not carry).
        let claims = crate::jwt::payload(&id_token.to_string())
            .map_err(|e| Error::Provider(format!("ID token: {e}")))?;
        let tokens = tokens(&response, id_token.to_string());
        Ok((tokens, claims))
    }

    /// Seed 001 step 3: a new access token from the refresh token (which rotates).
    pub async fn refresh(&self, current: &Tokens) -> Result<Refreshed, Error> {
        let Some(refresh_token) = &current.refresh_token else {
            return Ok(Refreshed::GrantEnded);
        };
        let result = self
            .client
            .exchange_refresh_token(&RefreshToken::new(refresh_token.clone()))
            .map_err(|e| Error::Setup(format!("token endpoint: {e}")))?
            .request_async(&|r| send(self.http.clone(), r))
            .await;
        let response = match result {
            Ok(response) => response,
            Err(RequestTokenError::ServerResponse(e))
                if *e.error() == CoreErrorResponseType::InvalidGrant =>
            {
                return Ok(Refreshed::GrantEnded);
            }
            Err(e) => return Err(Error::Provider(describe(&e))),
        };
        // A refresh may carry a new ID token; keep the first one's claims either way.
        let id_token = response
            .id_token()
            .map_or_else(|| current.id_token.clone(), ToString::to_string);
        let mut next = tokens(&response, id_token);
        if next.refresh_token.is_none() {
            next.refresh_token = current.refresh_token.clone();
        }
        Ok(Refreshed::Tokens(next))
    }

    /// Seed 001 step 4: where to send the browser to end the shared session.
    pub fn end_session_url(&self, id_token: &str, post_logout_redirect_uri: &str) -> Option<Url> {
        let mut url = self
            .metadata
            .additional_metadata()
            .end_session_endpoint
            .clone()?;
        url.query_pairs_mut()
            .append_pair("id_token_hint", id_token)
            .append_pair("post_logout_redirect_uri", post_logout_redirect_uri);
        Some(url)
    }
}

fn tokens(response: &CoreTokenResponse, id_token: String) -> Tokens {
    let expires_in = response.expires_in().unwrap_or(Duration::from_secs(60));
    Tokens {
        access_token: response.access_token().secret().clone(),
        access_expires_at: crate::now() + expires_in.as_secs(),
        refresh_token: response.refresh_token().map(|t| t.secret().clone()),
        id_token,
    }
}

/// A token-endpoint failure in words: the error code and description, never a token.
fn describe<E: std::error::Error>(
    error: &RequestTokenError<E, openidconnect::StandardErrorResponse<CoreErrorResponseType>>,
) -> String {
    match error {
        RequestTokenError::ServerResponse(e) => format!(
            "{}{}",
            e.error().as_ref(),
            e.error_description()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        ),
        RequestTokenError::Request(e) => format!("request failed: {e}"),
        RequestTokenError::Parse(e, _) => format!("unreadable response: {e}"),
        RequestTokenError::Other(e) => e.clone(),
    }
}
