//! The protocol steps a relying party and a browser take, over one keep-alive HTTP client each:
//! discovery, the authorization request (PKCE S256, state, nonce), the hosted sign-in form, and
//! the token endpoint's three grants. Cookies are kept by hand so that a fresh "browser" does not
//! need a fresh connection pool.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::header::{AUTHORIZATION, COOKIE, HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use url::Url;

use crate::form;

/// Redirects followed from the authorization request to the login page, and from the form to the callback.
const MAX_REDIRECTS: usize = 10;

/// The endpoints a provider announces in its discovery document.
#[derive(Clone)]
pub struct Provider {
    pub discovery: Url,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub jwks_uri: Url,
    pub userinfo_endpoint: Option<Url>,
    pub end_session_endpoint: Option<Url>,
}

impl Provider {
    pub async fn discover(http: &reqwest::Client, issuer: &Url) -> anyhow::Result<Self> {
        let discovery = Url::parse(&format!(
            "{}/.well-known/openid-configuration",
            issuer.as_str().trim_end_matches('/')
        ))?;
        let doc: Value = http
            .get(discovery.clone())
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let endpoint = |name: &str| -> anyhow::Result<Url> {
            let s = doc[name]
                .as_str()
                .ok_or_else(|| anyhow!("discovery has no {name}"))?;
            Ok(Url::parse(s)?)
        };
        Ok(Self {
            authorization_endpoint: endpoint("authorization_endpoint")?,
            token_endpoint: endpoint("token_endpoint")?,
            jwks_uri: endpoint("jwks_uri")?,
            userinfo_endpoint: endpoint("userinfo_endpoint").ok(),
            end_session_endpoint: endpoint("end_session_endpoint").ok(),
            discovery,
        })
    }
}

/// An application as the protocol sees it.
#[derive(Clone)]
pub struct Client {
    pub id: String,
    /// Present for a confidential client, which authenticates with `client_secret_basic`.
    pub secret: Option<String>,
    pub redirect_uri: String,
}

/// A user who signs in through the hosted form.
#[derive(Clone)]
pub struct User {
    pub email: String,
    pub password: String,
}

/// A keep-alive client that never follows redirects (the driver reads each `Location`).
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(300))
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// URL-safe base64 of `n` random bytes.
pub fn random_token(n: usize) -> anyhow::Result<String> {
    let mut bytes = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| anyhow!("no randomness"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// One authorization request's secrets (RFC 7636 S256; OIDC `nonce`; `state`).
pub struct Pending {
    pub url: Url,
    pub state: String,
    pub verifier: String,
}

impl Pending {
    pub fn new(provider: &Provider, client: &Client, scope: &str) -> anyhow::Result<Self> {
        let verifier = random_token(32)?;
        let challenge = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()));
        let state = random_token(16)?;
        let mut url = provider.authorization_endpoint.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &client.id)
            .append_pair("redirect_uri", &client.redirect_uri)
            .append_pair("scope", scope)
            .append_pair("state", &state)
            .append_pair("nonce", &random_token(16)?)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(Self {
            url,
            state,
            verifier,
        })
    }

    /// The code from the callback URL, after checking `state`.
    fn code(&self, callback: &Url) -> anyhow::Result<String> {
        let param = |name: &str| {
            callback
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        if let Some(e) = param("error") {
            bail!(
                "authorization error {e}: {}",
                param("error_description").unwrap_or_default()
            );
        }
        if param("state").as_deref() != Some(self.state.as_str()) {
            bail!("state mismatch in {callback}");
        }
        param("code").ok_or_else(|| anyhow!("no code in {callback}"))
    }
}

/// A browser: an HTTP client and a cookie jar for the provider's one host.
pub struct Browser {
    pub http: reqwest::Client,
    cookies: Vec<(String, String)>,
}

enum Step {
    /// A redirect to the application's callback.
    Callback(Url),
    /// A page of the provider (the login form).
    Page(Url, String),
}

impl Browser {
    pub fn new(http: reqwest::Client) -> Self {
        Self {
            http,
            cookies: Vec::new(),
        }
    }

    /// Forgets every cookie (a fresh browser on the same connections).
    pub fn clear(&mut self) {
        self.cookies.clear();
    }

    fn absorb(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let mut attrs = text.split(';');
            let Some((name, value)) = attrs.next().and_then(|p| p.trim().split_once('=')) else {
                continue;
            };
            let expired = attrs.any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
            self.cookies.retain(|(n, _)| n != name);
            if !expired && !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    fn with_cookies(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if self.cookies.is_empty() {
            return req;
        }
        let header = self
            .cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        req.header(COOKIE, header)
    }

    /// Follows redirects from `response` until the callback or a page of the provider.
    async fn follow(&mut self, mut response: Response, client: &Client) -> anyhow::Result<Step> {
        for _ in 0..MAX_REDIRECTS {
            self.absorb(response.headers());
            let url = response.url().clone();
            if !response.status().is_redirection() {
                let status = response.status();
                let body = response.text().await?;
                if status != StatusCode::OK {
                    bail!(
                        "{url} answered {status}: {}",
                        body.chars().take(200).collect::<String>()
                    );
                }
                return Ok(Step::Page(url, body));
            }
            let location = response
                .headers()
                .get(LOCATION)
                .ok_or_else(|| anyhow!("redirect without Location"))?;
            let next = url.join(location.to_str()?)?;
            if next.as_str().starts_with(&client.redirect_uri) {
                return Ok(Step::Callback(next));
            }
            response = self.with_cookies(self.http.get(next)).send().await?;
        }
        bail!("more than {MAX_REDIRECTS} redirects")
    }

    /// A full password sign-in: authorize, the login page, the form posted with its hidden inputs
    /// and the cookies received; returns the code.
    pub async fn sign_in(
        &mut self,
        client: &Client,
        user: &User,
        pending: &Pending,
    ) -> anyhow::Result<String> {
        let first = self
            .with_cookies(self.http.get(pending.url.clone()))
            .send()
            .await?;
        let (page_url, html) = match self.follow(first, client).await? {
            Step::Page(url, html) => (url, html),
            Step::Callback(url) => bail!("expected the login page, was sent to {url}"),
        };
        let login = form::LoginForm::parse(&page_url, &html).context("login page")?;
        let fields = login.fill(&user.email, &user.password);
        let posted = self
            .with_cookies(self.http.post(login.action.clone()).form(&fields))
            .send()
            .await?;
        match self.follow(posted, client).await? {
            Step::Callback(url) => pending.code(&url),
            Step::Page(url, html) => bail!(
                "sign-in did not finish at {url}: {}",
                form::visible_error(&html)
            ),
        }
    }

    /// Authorization with the session cookie: the provider must redirect straight back with a code.
    pub async fn authorize_with_session(
        &mut self,
        client: &Client,
        pending: &Pending,
    ) -> anyhow::Result<String> {
        let response = self
            .with_cookies(self.http.get(pending.url.clone()))
            .send()
            .await?;
        match self.follow(response, client).await? {
            Step::Callback(url) => pending.code(&url),
            Step::Page(url, _) => bail!("expected a code, got the page {url} (session lost?)"),
        }
    }

    /// RP-initiated logout with an ID token naming this browser's session: the provider ends it at
    /// once (no confirmation page) and answers with its signed-out page or a redirect.
    pub async fn logout(&mut self, provider: &Provider, id_token: &str) -> anyhow::Result<()> {
        let mut url = provider
            .end_session_endpoint
            .clone()
            .ok_or_else(|| anyhow!("discovery has no end_session_endpoint"))?;
        url.query_pairs_mut().append_pair("id_token_hint", id_token);
        let response = self.with_cookies(self.http.get(url)).send().await?;
        self.absorb(response.headers());
        let status = response.status();
        response.bytes().await?;
        if !(status.is_success() || status.is_redirection()) {
            bail!("logout answered {status}");
        }
        Ok(())
    }

    /// Signs in once and returns the code, for setting up a session.
    pub async fn open_session(
        &mut self,
        provider: &Provider,
        client: &Client,
        user: &User,
        scope: &str,
    ) -> anyhow::Result<(String, Pending)> {
        let pending = Pending::new(provider, client, scope)?;
        let code = self.sign_in(client, user, &pending).await?;
        Ok((code, pending))
    }
}

/// A token request with the client's authentication: Basic for a confidential client, `client_id`
/// in the body for a public one.
async fn token_request(
    http: &reqwest::Client,
    provider: &Provider,
    client: &Client,
    mut form: Vec<(&str, &str)>,
) -> anyhow::Result<Value> {
    let mut req = http.post(provider.token_endpoint.clone());
    match &client.secret {
        Some(secret) => {
            let basic = STANDARD.encode(format!("{}:{secret}", client.id));
            req = req.header(AUTHORIZATION, format!("Basic {basic}"));
        }
        None => form.push(("client_id", &client.id)),
    }
    let response = req.form(&form).send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    if status != StatusCode::OK {
        bail!(
            "token endpoint answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let v: Value = serde_json::from_slice(&body)?;
    if !v["access_token"].is_string() {
        bail!("token response without access_token");
    }
    Ok(v)
}

pub async fn client_credentials(
    http: &reqwest::Client,
    provider: &Provider,
    client: &Client,
) -> anyhow::Result<()> {
    token_request(
        http,
        provider,
        client,
        vec![("grant_type", "client_credentials")],
    )
    .await?;
    Ok(())
}

/// Exchanges a code; returns the refresh token if one was issued.
pub async fn exchange_code(
    http: &reqwest::Client,
    provider: &Provider,
    client: &Client,
    code: &str,
    pending: &Pending,
) -> anyhow::Result<Option<String>> {
    let form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &client.redirect_uri),
        ("code_verifier", &pending.verifier),
    ];
    let v = token_request(http, provider, client, form).await?;
    if !v["id_token"].is_string() {
        bail!("code exchange without id_token");
    }
    Ok(v["refresh_token"].as_str().map(str::to_owned))
}

/// Exchanges a code; returns the whole token response.
pub async fn exchange_code_tokens(
    http: &reqwest::Client,
    provider: &Provider,
    client: &Client,
    code: &str,
    pending: &Pending,
) -> anyhow::Result<Value> {
    let form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &client.redirect_uri),
        ("code_verifier", &pending.verifier),
    ];
    token_request(http, provider, client, form).await
}

/// Exchanges a code; returns the access token.
pub async fn exchange_code_for_access_token(
    http: &reqwest::Client,
    provider: &Provider,
    client: &Client,
    code: &str,
    pending: &Pending,
) -> anyhow::Result<String> {
    let form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &client.redirect_uri),
        ("code_verifier", &pending.verifier),
    ];
    let v = token_request(http, provider, client, form).await?;
    v["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("code exchange without access_token"))
}

/// One refresh grant; returns the rotated refresh token.
pub async fn refresh(
    http: &reqwest::Client,
    provider: &Provider,
    client: &Client,
    token: &str,
) -> anyhow::Result<String> {
    let v = token_request(
        http,
        provider,
        client,
        vec![("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await?;
    v["refresh_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("refresh response without a rotated refresh_token"))
}

/// A GET that must answer 200; the body is read and dropped.
pub async fn get_ok(http: &reqwest::Client, url: &Url) -> anyhow::Result<()> {
    let response = http.get(url.clone()).send().await?;
    let status = response.status();
    response.bytes().await?;
    if status != StatusCode::OK {
        bail!("{url} answered {status}");
    }
    Ok(())
}
