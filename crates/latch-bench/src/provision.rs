//! Provisioning with the `latch` CLI (same `LATCH_*` environment, hence the same database as the
//! server): a web application, an SPA and a user, then a wait until the server sees them.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use serde_json::Value;

use crate::oidc::{self, Client, Provider, User};

/// What the workloads use.
pub struct Fixture {
    /// Confidential (`client_secret_basic`): client_credentials and refresh.
    pub web: Client,
    /// Public with PKCE, as a browser application: sso_code_flow and login. The web client when
    /// only client credentials were given.
    pub spa: Client,
    pub user: Option<User>,
}

async fn cli(latch: &Path, args: &[&str]) -> anyhow::Result<Value> {
    let out = tokio::process::Command::new(latch)
        .args(args)
        .output()
        .await
        .with_context(|| format!("running {}", latch.display()))?;
    if !out.status.success() {
        bail!(
            "`latch {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout)
        .with_context(|| format!("`latch {}` printed no JSON", args.join(" ")))
}

async fn app(latch: &Path, kind: &str, redirect_uri: &str, alg: &str) -> anyhow::Result<Client> {
    let name = format!("bench-{kind}-{alg}");
    let args = [
        "apps",
        "create",
        "--name",
        &name,
        "--type",
        kind,
        "--redirect-uri",
        redirect_uri,
        "--signing-alg",
        alg,
    ];
    let v = cli(latch, &args).await?;
    Ok(Client {
        id: v["client_id"]
            .as_str()
            .ok_or_else(|| anyhow!("no client_id in {v}"))?
            .to_owned(),
        secret: v["client_secret"].as_str().map(str::to_owned),
        redirect_uri: redirect_uri.to_owned(),
    })
}

/// Creates the applications (signing with `alg`) and a user with a random password.
pub async fn provision(latch: &Path, alg: &str, redirect_uri: &str) -> anyhow::Result<Fixture> {
    let web = app(latch, "web", redirect_uri, alg).await?;
    if web.secret.is_none() {
        bail!("the web application was created without a client_secret");
    }
    let spa = app(latch, "spa", redirect_uri, alg).await?;
    let user = User {
        email: format!(
            "bench-{}@example.com",
            oidc::random_token(6)?
                .to_ascii_lowercase()
                .replace(['-', '_'], "x")
        ),
        password: oidc::random_token(18)?,
    };
    // `--password=…` in one argument: a random password may start with `-`.
    let password = format!("--password={}", user.password);
    cli(
        latch,
        &["users", "create", "--email", &user.email, &password],
    )
    .await?;
    Ok(Fixture {
        web,
        spa,
        user: Some(user),
    })
}

/// Waits until the token endpoint accepts the web client (the CLI's changes reach a running
/// server within a second).
pub async fn await_client(
    http: &reqwest::Client,
    provider: &Provider,
    client: &Client,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match oidc::client_credentials(http, provider, client).await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                return Err(e.context("the provisioned client was never accepted"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
