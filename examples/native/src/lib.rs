//! Example: a desktop command-line application that signs in with Latch, following the native
//! application guide (seed 000, with the PKCE flow of seed 004; `examples/native/README.md` maps
//! each step to code).
//!
//! A native application is a public client: it holds no secret. `login` opens the system browser
//! (or prints the URL), listens once on `http://127.0.0.1:{random port}/callback` (RFC 8252 §7.3),
//! sends a PKCE S256 challenge (RFC 7636) and keeps the refresh token in the OS keychain
//! ([`store`]); `whoami` refreshes and calls userinfo; `logout` revokes (RFC 7009) and clears.
//!
//! It depends on no Latch crate: only on what Latch publishes.

pub mod browser;
mod callback;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreErrorResponseType, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
    CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthType, ClientId, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, HttpRequest, HttpResponse, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, ProviderMetadata, RedirectUrl, RefreshToken, RequestTokenError, Scope,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::net::TcpListener;
use url::Url;

pub use store::{StoredTokens, TokenStore};

#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    #[error("{0}")]
    Setup(String),
    #[error("not signed in: run `example-native login`")]
    NotSignedIn,
    /// RFC 6749 §5.2: the refresh token no longer works (signed out, revoked, expired).
    #[error("invalid_grant: the sign-in ended; run `example-native login` again")]
    InvalidGrant,
    #[error("sign-in failed: {0}")]
    Callback(String),
    #[error("Latch answered: {0}")]
    Provider(String),
    #[error("no answer from the browser within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// Discovery fields beyond the core: logout and revocation endpoints.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct MoreMetadata {
    pub end_session_endpoint: Option<Url>,
    pub revocation_endpoint: Option<Url>,
}

impl AdditionalProviderMetadata for MoreMetadata {}

type Metadata = ProviderMetadata<
    MoreMetadata,
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

pub(crate) type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Reqwest(#[from] reqwest::Error),
    #[error("invalid HTTP response: {0}")]
    Response(String),
}

/// The application, discovered against one Latch.
#[derive(Clone)]
pub struct Native {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    pub(crate) metadata: Metadata,
    pub(crate) http: reqwest::Client,
    pub(crate) store: TokenStore,
}

impl Native {
    /// Reads discovery (its issuer must be `issuer`) and the keys.
    pub async fn discover(
        issuer: &str,
        client_id: &str,
        store: TokenStore,
    ) -> Result<Native, NativeError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| NativeError::Setup(e.to_string()))?;
        let issuer_url = IssuerUrl::new(issuer.to_owned())
            .map_err(|e| NativeError::Setup(format!("issuer: {e}")))?;
        let metadata = Metadata::discover_async(issuer_url, &|r| send(http.clone(), r))
            .await
            .map_err(|e| NativeError::Setup(format!("discovery of {issuer}: {e}")))?;
        Ok(Native {
            inner: Arc::new(Inner {
                issuer: issuer.trim_end_matches('/').to_owned(),
                client_id: client_id.to_owned(),
                metadata,
                http,
                store,
            }),
        })
    }

    pub(crate) fn client(&self, redirect: Option<RedirectUrl>) -> Client {
        let client = CoreClient::from_provider_metadata(
            self.inner.metadata.clone(),
            ClientId::new(self.inner.client_id.clone()),
            None,
        )
        // A public client sends its client_id in the body (RFC 6749 §2.3, no secret).
        .set_auth_type(AuthType::RequestBody);
        match redirect {
            Some(r) => client.set_redirect_uri(r),
            None => client,
        }
    }

    /// Seed 000 step 1 / seed 004 step 1: binds the loopback callback on a random port and builds
    /// the authorization URL (PKCE S256, `state`, `nonce`). Open [`PendingLogin::url`] in the
    /// system browser, then await [`PendingLogin::finish`].
    pub async fn start_login(&self) -> Result<PendingLogin, NativeError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| NativeError::Setup(format!("loopback listener: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| NativeError::Setup(e.to_string()))?
            .port();
        // RFC 8252 §7.3: the loopback IP literal, not `localhost`; the port is ours to choose.
        let redirect = RedirectUrl::new(format!("http://127.0.0.1:{port}/callback"))
            .map_err(|e| NativeError::Setup(e.to_string()))?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self.client(Some(redirect));
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in ["profile", "email", "offline_access"] {
            request = request.add_scope(Scope::new(scope.to_owned()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok(PendingLogin {
            native: self.clone(),
            listener,
            url,
            expected: callback::Expected {
                state,
                nonce,
                verifier,
            },
        })
    }

    /// Seed 000 step 3: a fresh access token from the stored refresh token (which rotates; the
    /// new one is stored), then `/userinfo` with it. Returns the user's claims.
    pub async fn whoami(&self) -> Result<Value, NativeError> {
        let stored = self.load().await?.ok_or(NativeError::NotSignedIn)?;
        let result = self
            .client(None)
            .exchange_refresh_token(&RefreshToken::new(stored.refresh_token.clone()))
            .map_err(|e| NativeError::Setup(e.to_string()))?
            .request_async(&|r| send(self.inner.http.clone(), r))
            .await;
        let response = match result {
            Ok(r) => r,
            Err(RequestTokenError::ServerResponse(e))
                if *e.error() == CoreErrorResponseType::InvalidGrant =>
            {
                self.clear().await?;
                return Err(NativeError::InvalidGrant);
            }
            Err(e) => return Err(NativeError::Provider(describe(&e))),
        };
        let rotated = StoredTokens {
            refresh_token: response
                .refresh_token()
                .map_or(stored.refresh_token, |t| t.secret().clone()),
            id_token: stored.id_token,
        };
        self.save(rotated).await?;
        let userinfo = self
            .inner
            .metadata
            .userinfo_endpoint()
            .ok_or_else(|| NativeError::Setup("discovery names no userinfo_endpoint".into()))?;
        let answer = self
            .inner
            .http
            .get(userinfo.url().as_str())
            .bearer_auth(response.access_token().secret())
            .send()
            .await
            .map_err(|e| NativeError::Provider(e.to_string()))?;
        if !answer.status().is_success() {
            return Err(NativeError::Provider(format!(
                "userinfo answered {}",
                answer.status()
            )));
        }
        answer
            .json()
            .await
            .map_err(|e| NativeError::Provider(e.to_string()))
    }

    /// Seed 000 step 4: revokes the refresh token (RFC 7009; this ends the grant), clears the
    /// store, and returns Latch's logout URL with the ID token as hint, to open in the browser.
    pub async fn logout(&self) -> Result<Option<Url>, NativeError> {
        let Some(stored) = self.load().await? else {
            return Ok(None);
        };
        if let Some(endpoint) = &self
            .inner
            .metadata
            .additional_metadata()
            .revocation_endpoint
        {
            let form = [
                ("token", stored.refresh_token.as_str()),
                ("token_type_hint", "refresh_token"),
                ("client_id", self.inner.client_id.as_str()),
            ];
            let revoked = self
                .inner
                .http
                .post(endpoint.as_str())
                .form(&form)
                .send()
                .await;
            match revoked {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => eprintln!("warning: revocation answered {}", r.status()),
                Err(e) => eprintln!("warning: revocation failed: {e}"),
            }
        }
        self.clear().await?;
        let url = self
            .inner
            .metadata
            .additional_metadata()
            .end_session_endpoint
            .clone()
            .map(|mut url| {
                if let Some(hint) = &stored.id_token {
                    url.query_pairs_mut().append_pair("id_token_hint", hint);
                }
                url.query_pairs_mut()
                    .append_pair("client_id", &self.inner.client_id);
                url
            });
        Ok(url)
    }

    /// The stored tokens, if signed in.
    pub async fn load(&self) -> Result<Option<StoredTokens>, NativeError> {
        let store = self.inner.store.clone();
        blocking(move || store.load()).await
    }

    pub(crate) async fn save(&self, tokens: StoredTokens) -> Result<(), NativeError> {
        let store = self.inner.store.clone();
        blocking(move || store.save(&tokens)).await
    }

    async fn clear(&self) -> Result<(), NativeError> {
        let store = self.inner.store.clone();
        blocking(move || store.clear()).await
    }
}

/// Keychain calls block (D-Bus, Keychain Services): off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, store::StoreError> + Send + 'static,
) -> Result<T, NativeError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| NativeError::Setup(e.to_string()))?
        .map_err(NativeError::from)
}

/// A sign-in waiting for the browser to come back.
pub struct PendingLogin {
    native: Native,
    listener: TcpListener,
    url: Url,
    expected: callback::Expected,
}

impl PendingLogin {
    /// The authorization URL to open in the system browser.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Seed 000 step 2 / seed 004 steps 2–4: waits for the browser on the loopback callback,
    /// checks it, redeems the code with the PKCE verifier, verifies the ID token and stores the
    /// tokens. Returns the ID token's claims.
    pub async fn finish(self, timeout: Duration) -> Result<Value, NativeError> {
        callback::wait(self.native, self.listener, self.expected, timeout).await
    }
}

/// What `openidconnect` calls to send a request.
pub(crate) async fn send(
    http: reqwest::Client,
    request: HttpRequest,
) -> Result<HttpResponse, HttpError> {
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

/// A token-endpoint failure in words (the error code and description, never a token).
pub(crate) fn describe<E: std::error::Error>(
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
