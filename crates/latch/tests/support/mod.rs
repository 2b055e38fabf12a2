//! Shared steps for the end-to-end tests: a running server, applications and a user made with the
//! CLI, and token requests as a client sends them.
#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

pub mod account;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use latch_testkit::{Browser, LatchServer};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, Nonce, PkceCodeChallenge, RedirectUrl, Scope,
};
use serde_json::Value;

pub const EMAIL: &str = "ada@example.com";
pub const PASSWORD: &str = "correct horse battery staple";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_latch")
}

/// Runs `latch [ARGS] serve` once with only `env` (plus a fresh SQLite database in the returned
/// directory and a free loopback port, unless `env` sets them), for start-up refusals.
pub fn run_serve(
    env: &[(&str, &str)],
    args: &[&str],
) -> (std::process::Output, latch_testkit::TempDir) {
    let dir = latch_testkit::TempDir::new();
    let mut cmd = std::process::Command::new(bin());
    cmd.args(args)
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.env(
        "LATCH_DATABASE_URL",
        format!("sqlite://{}", dir.path().join("x.db").display()),
    );
    let port = latch_testkit::free_port();
    cmd.env("LATCH_LISTEN", format!("127.0.0.1:{port}"));
    cmd.env("LATCH_ISSUER", format!("http://127.0.0.1:{port}"));
    cmd.env("LATCH_METRICS_LISTEN", "off");
    for (k, v) in env {
        cmd.env(k, v);
    }
    (cmd.output().unwrap(), dir)
}

/// The non-empty lines of a process's stderr.
pub fn stderr_lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// A server with one user.
pub async fn server() -> LatchServer {
    server_with(&[]).await
}

pub async fn server_with(env: &[(&str, &str)]) -> LatchServer {
    let mut builder = LatchServer::builder(bin());
    for (k, v) in env {
        builder = builder.env(*k, *v);
    }
    let server = builder.start().await;
    server
        .cli(&[
            "users",
            "create",
            "--email",
            EMAIL,
            "--password",
            PASSWORD,
            "--name",
            "Ada Lovelace",
        ])
        .await;
    server
}

pub struct App {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub redirect_uri: String,
    pub id: String,
}

/// Registers an application with the CLI.
pub async fn app(server: &LatchServer, kind: &str, redirect_uri: &str, extra: &[&str]) -> App {
    let mut args = vec![
        "apps",
        "create",
        "--name",
        kind,
        "--type",
        kind,
        "--redirect-uri",
        redirect_uri,
    ];
    args.extend_from_slice(extra);
    let v = server.cli(&args).await;
    App {
        client_id: v["client_id"].as_str().unwrap().to_owned(),
        client_secret: v["client_secret"].as_str().map(str::to_owned),
        redirect_uri: redirect_uri.to_owned(),
        id: v["id"].as_str().unwrap().to_owned(),
    }
}

pub type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

pub async fn metadata(server: &LatchServer) -> CoreProviderMetadata {
    latch_testkit::rp::discover(server.issuer()).await
}

/// A relying party built from discovery, as an application would.
pub async fn rp(server: &LatchServer, app: &App) -> Client {
    CoreClient::from_provider_metadata(
        metadata(server).await,
        ClientId::new(app.client_id.clone()),
        app.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(app.redirect_uri.clone()).unwrap())
}

pub struct Authorization {
    pub url: String,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: openidconnect::PkceCodeVerifier,
}

pub fn authorization(client: &Client, scopes: &[&str]) -> Authorization {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut req = client.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        CsrfToken::new_random,
        Nonce::new_random,
    );
    for s in scopes {
        req = req.add_scope(Scope::new((*s).to_owned()));
    }
    let (url, state, nonce) = req.set_pkce_challenge(challenge).url();
    Authorization {
        url: url.to_string(),
        state,
        nonce,
        verifier,
    }
}

/// The value of a query parameter of a callback URL.
pub fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Signs in through the hosted page and returns the code, checking `state` and `iss` on the way.
pub async fn sign_in_for_code(
    server: &LatchServer,
    browser: &Browser,
    auth: &Authorization,
    redirect_uri: &str,
) -> AuthorizationCode {
    let callback = browser
        .sign_in(&auth.url, redirect_uri, EMAIL, PASSWORD)
        .await;
    callback_code(server, &callback, auth)
}

pub fn callback_code(
    server: &LatchServer,
    callback: &url::Url,
    auth: &Authorization,
) -> AuthorizationCode {
    assert_eq!(
        param(callback, "state").as_deref(),
        Some(auth.state.secret().as_str()),
        "state: {callback}"
    );
    assert_eq!(
        param(callback, "iss").as_deref(),
        Some(server.issuer()),
        "RFC 9207 iss: {callback}"
    );
    AuthorizationCode::new(
        param(callback, "code").unwrap_or_else(|| panic!("no code in {callback}")),
    )
}

/// A raw token request: form fields, optional Basic credentials; returns status and JSON body.
pub async fn token(
    server: &LatchServer,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    post_form(server, "/oauth/token", form, basic).await
}

/// A token request as if from `from` (`X-Forwarded-For`; the server must trust the loopback proxy).
pub async fn token_from(
    server: &LatchServer,
    from: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    post_form_with(
        server,
        "/oauth/token",
        form,
        basic,
        &[("x-forwarded-for", from)],
    )
    .await
}

pub async fn post_form(
    server: &LatchServer,
    path: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    post_form_with(server, path, form, basic, &[]).await
}

/// `post_form` with extra header lines (a name may repeat: each is sent as its own line).
pub async fn post_form_with(
    server: &LatchServer,
    path: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
    headers: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = latch_testkit::rp::reqwest_client()
        .post(server.url(path))
        .form(form);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some((id, secret)) = basic {
        req = req.header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))),
        );
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body, headers)
}

/// Decodes a JWT's header and claims without verifying (the tests verify separately).
pub fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.split('.');
    let mut next = || {
        serde_json::from_slice::<Value>(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap())
            .unwrap()
    };
    (next(), next())
}

pub fn assert_oauth_error(status: u16, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    assert!(body.get("access_token").is_none(), "{body}");
}

/// Sends `n` refresh requests for `refresh_token` at once, spread over `urls` (token endpoints),
/// with `app`'s Basic credentials; each result is the new refresh token, or `None` if refused.
pub async fn refresh_concurrently(
    urls: &[String],
    app: &App,
    refresh_token: &str,
    n: usize,
) -> Vec<Option<String>> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let url = urls[i % urls.len()].clone();
        let (id, secret, rt) = (
            app.client_id.clone(),
            app.client_secret.clone().unwrap(),
            refresh_token.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            let resp = latch_testkit::rp::reqwest_client()
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", rt.as_str()),
                ])
                .send()
                .await
                .unwrap();
            let ok = resp.status() == 200;
            let body: Value = resp.json().await.unwrap();
            ok.then(|| body["refresh_token"].as_str().unwrap().to_owned())
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    results
}

/// A management API access token for `admin` (a web application made with `--management-api`).
pub async fn management_token(server: &LatchServer, admin: &App) -> String {
    let secret = admin.client_secret.clone().unwrap();
    let form = [("grant_type", "client_credentials")];
    let (status, body, _) = token(server, &form, Some((&admin.client_id, &secret))).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// A bearer token for the management API from a new web application with `--management-api`.
pub async fn admin_token(server: &LatchServer) -> String {
    let admin = app(
        server,
        "web",
        "http://127.0.0.1:7999/cb",
        &["--management-api"],
    )
    .await;
    management_token(server, &admin).await
}

/// `GET /userinfo` with the access token; status and JSON body.
pub async fn userinfo(server: &LatchServer, access_token: &str) -> (u16, Value) {
    let resp = latch_testkit::rp::reqwest_client()
        .get(server.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// `POST /oauth/introspect` as `app` (its secret if it has one, else its client_id alone).
pub async fn introspect(server: &LatchServer, app: &App, token: &str) -> Value {
    let (status, body, _) = match &app.client_secret {
        Some(secret) => {
            let basic = Some((app.client_id.as_str(), secret.as_str()));
            post_form(server, "/oauth/introspect", &[("token", token)], basic).await
        }
        None => {
            let form = [("token", token), ("client_id", app.client_id.as_str())];
            post_form(server, "/oauth/introspect", &form, None).await
        }
    };
    assert_eq!(status, 200, "{body}");
    body
}

/// Exchanges a code for tokens as `app` (with the PKCE verifier); the JSON body.
pub async fn exchange(server: &LatchServer, app: &App, code: &str, auth: Authorization) -> Value {
    let verifier = auth.verifier.secret().clone();
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", app.redirect_uri.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    if app.client_secret.is_none() {
        form.push(("client_id", app.client_id.as_str()));
    }
    let basic = app
        .client_secret
        .as_deref()
        .map(|s| (app.client_id.as_str(), s));
    let (status, body, _) = token(server, &form, basic).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The audit events of `type` (newest first) once at least `min` of them are stored (they are
/// written in batches); panics after 10 s.
pub async fn audit_events(
    server: &LatchServer,
    bearer: &str,
    kind: &str,
    min: usize,
) -> Vec<Value> {
    let url = server.url(&format!("/api/v1/audit-events?type={kind}&limit=200"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let v: Value = latch_testkit::rp::reqwest_client()
            .get(&url)
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let data = v["data"].as_array().cloned().unwrap_or_default();
        if data.len() >= min {
            return data;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "fewer than {min} `{kind}` events: {v}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// `GET path` on the management API with an administrator's bearer token: the JSON body.
pub async fn admin_get_json(server: &LatchServer, bearer: &str, path: &str) -> Value {
    latch_testkit::rp::reqwest_client()
        .get(server.url(path))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
