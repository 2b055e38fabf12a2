//! The end-to-end browser tests: two single-page apps using `oidc-client-ts`, served on their own
//! loopback origins, signed in with Latch in headless Chromium (Debian's `/usr/bin/chromium`,
//! driven by `playwright-core` from `browser-tests/run.mjs`); and the admin console
//! (`browser-tests/console.mjs`, checked with axe-core).
//!
//! This test runs Latch, registers the apps and the user with the CLI, serves the SPA, then runs
//! the script and checks its JSON verdict. Screenshots land in `target/test-artifacts/browser/`.
//!
//! The second test, in `browser/examples.rs`, runs the three examples of `examples/` together;
//! `browser/accounts.rs` drives forgot password and sign-up (`browser-tests/accounts.mjs`);
//! `browser/account.rs` the account page without JavaScript (`browser-tests/account.mjs`).
//! `browser/passkeys.rs` passkeys with a virtual authenticator (`browser-tests/passkeys.mjs`).
//!
//! Needs `/usr/bin/chromium`, `node` and `browser-tests/node_modules` (`scripts/browser-test
//! --install`). Without them it fails under `CI=true` and skips loudly otherwise.

// Test code: a failed step panics with its context.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "browser/examples.rs"]
mod examples;

#[path = "browser/accounts.rs"]
mod accounts;

#[path = "browser/account.rs"]
mod account;
#[path = "browser/passkeys.rs"]
mod passkeys;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const CHROMIUM: &str = "/usr/bin/chromium";
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(240);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// What is missing to run the browser test, if anything.
fn missing_prerequisites(root: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    if !Path::new(CHROMIUM).exists() {
        missing.push(format!("{CHROMIUM} (Debian package chromium)"));
    }
    for package in ["playwright-core", "oidc-client-ts", "axe-core"] {
        if !root
            .join("browser-tests/node_modules")
            .join(package)
            .join("package.json")
            .exists()
        {
            missing.push(format!("browser-tests/node_modules/{package}"));
        }
    }
    let node = std::process::Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) {
        missing.push("node".into());
    }
    missing
}

/// `true` (after a loud SKIP) when Chromium, node or the npm packages are missing; under `CI=true`
/// it panics instead.
fn skip_without_prerequisites(root: &Path) -> bool {
    let missing = missing_prerequisites(root);
    if missing.is_empty() {
        return false;
    }
    let message = format!(
        "the browser test needs {}: run `scripts/browser-test --install`",
        missing.join(", ")
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message}");
    }
    eprintln!(
        "\n==================== SKIP ====================\nSKIP browser test: {message}\n==============================================\n"
    );
    true
}

/// One SPA origin: the static files of `examples/spa`, the library, and a `config.js`.
struct Spa {
    listener: TcpListener,
    origin: String,
}

impl Spa {
    async fn bind() -> Spa {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        Spa { listener, origin }
    }

    /// Serves until the test ends (the runtime drops the task).
    fn serve(self, root: &Path, config: SpaConfig) {
        let files = Arc::new(StaticFiles {
            spa: root.join("examples/spa"),
            library: root.join(
                "browser-tests/node_modules/oidc-client-ts/dist/browser/oidc-client-ts.min.js",
            ),
            config,
        });
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = self.listener.accept().await else {
                    return;
                };
                let files = files.clone();
                tokio::spawn(async move { files.answer(stream).await });
            }
        });
    }
}

struct StaticFiles {
    spa: PathBuf,
    library: PathBuf,
    config: SpaConfig,
}

/// What `/config.js` answers: known at start, or a file the test script writes once it has
/// registered the application (the console test creates it in the console).
enum SpaConfig {
    Fixed(String),
    File(PathBuf),
}

impl SpaConfig {
    async fn text(&self) -> Vec<u8> {
        match self {
            SpaConfig::Fixed(text) => text.clone().into_bytes(),
            SpaConfig::File(path) => tokio::fs::read(path).await.unwrap_or_default(),
        }
    }
}

impl StaticFiles {
    /// A tiny HTTP/1.1 file server: GET only, one request per connection.
    async fn answer(&self, mut stream: tokio::net::TcpStream) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let head = String::from_utf8_lossy(&buf);
        let mut parts = head.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
        let path = target.split(['?', '#']).next().unwrap_or("/");
        let (status, content_type, body) = match (method, path) {
            ("GET", "/" | "/index.html") => {
                self.file("index.html", "text/html; charset=utf-8").await
            }
            ("GET", "/callback.html") => {
                self.file("callback.html", "text/html; charset=utf-8").await
            }
            ("GET", "/logo.svg") => self.file("logo.svg", "image/svg+xml").await,
            ("GET", "/app.js") => self.file("app.js", "text/javascript; charset=utf-8").await,
            ("GET", "/oidc-client-ts.min.js") => match tokio::fs::read(&self.library).await {
                Ok(b) => ("200 OK", "text/javascript; charset=utf-8", b),
                Err(_) => ("404 Not Found", "text/plain", b"not found".to_vec()),
            },
            ("GET", "/config.js") => (
                "200 OK",
                "text/javascript; charset=utf-8",
                self.config.text().await,
            ),
            ("GET", _) => ("404 Not Found", "text/plain", b"not found".to_vec()),
            _ => ("405 Method Not Allowed", "text/plain", b"GET only".to_vec()),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(&body).await;
        let _ = stream.shutdown().await;
    }

    async fn file(
        &self,
        name: &str,
        content_type: &'static str,
    ) -> (&'static str, &'static str, Vec<u8>) {
        match tokio::fs::read(self.spa.join(name)).await {
            Ok(b) => ("200 OK", content_type, b),
            Err(_) => ("404 Not Found", "text/plain", b"not found".to_vec()),
        }
    }
}

/// Registers a spa application for `origin` with the CLI, as the README tells a developer to.
async fn register_spa(server: &latch_testkit::LatchServer, name: &str, origin: &str) -> String {
    let v = server
        .cli(&[
            "apps",
            "create",
            "--name",
            name,
            "--type",
            "spa",
            "--redirect-uri",
            &format!("{origin}/callback.html"),
            "--post-logout-uri",
            &format!("{origin}/index.html"),
        ])
        .await;
    assert_eq!(v["type"], "spa");
    v["client_id"].as_str().unwrap().to_owned()
}

fn config_js(issuer: &str, client_id: &str, name: &str) -> String {
    let config = serde_json::json!({ "authority": issuer, "clientId": client_id, "name": name });
    format!("window.LATCH_SPA = {config};\n")
}

/// Runs a Playwright script against `server` with `env` (plus `LATCH_ISSUER`, `ARTIFACTS_DIR`,
/// `CHROMIUM`); returns its JSON verdict, panicking with the logs if it failed.
async fn run_script(
    root: &Path,
    server: &latch_testkit::LatchServer,
    script: &str,
    env: &[(&str, &str)],
) -> Value {
    let artifacts = root.join("target/test-artifacts/browser");
    std::fs::create_dir_all(&artifacts).unwrap();
    let mut command = tokio::process::Command::new("node");
    command
        .arg(script)
        .current_dir(root)
        .env("LATCH_ISSUER", server.issuer())
        .env("ARTIFACTS_DIR", &artifacts)
        .env("CHROMIUM", CHROMIUM);
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("start node {script}: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    let outcome = tokio::time::timeout(SCRIPT_TIMEOUT, async {
        let (a, b, status) = tokio::join!(
            stdout.read_to_string(&mut out),
            stderr.read_to_string(&mut err),
            child.wait()
        );
        a.unwrap();
        b.unwrap();
        status.unwrap()
    })
    .await;
    let status = outcome
        .unwrap_or_else(|_| panic!("{script} did not finish within {SCRIPT_TIMEOUT:?}\n{err}"));
    let verdict: Value = out
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!("no JSON verdict from {script} ({status})\nstdout: {out}\nstderr: {err}")
        });
    assert!(
        status.success() && verdict["ok"] == true,
        "{script} failed ({status}) at step {}:\n{}\nchecks so far: {}\nscreenshots: {}\nscript log:\n{err}\nserver log:\n{}",
        verdict["step"],
        verdict["error"].as_str().unwrap_or(""),
        verdict["checks"],
        artifacts.display(),
        server.logs(),
    );
    eprintln!(
        "{script} checks: {}\nscreenshots: {}",
        verdict["checks"],
        artifacts.display()
    );
    verdict
}

/// The admin console (issue 19) in Chromium: a non-admin refused; the admin creates a web
/// application and copies its secret, sees a redirect refused with the API's message, rotates the
/// secret (the old one then fails at the token endpoint, the new one works); creates an SPA whose
/// back-channel URL is a receiver here, and the user signs in to it through the hosted login; the
/// admin ends the user's sessions (the SPA's refresh then fails, the receiver gets the logout
/// token, the SPA's page shows the delivery as delivered); creates a role, an API, an
/// organization with the user as a member holding the role, and an invitation; rotates a key and
/// finds the events in the audit log; keyboard, 375 px, axe-core on every page.
#[tokio::test]
async fn the_admin_console_in_headless_chromium() {
    let root = workspace_root();
    if skip_without_prerequisites(&root) {
        return;
    }
    let server = server().await;
    let admin = server
        .cli(&[
            "users",
            "create",
            "--email",
            "root@example.com",
            "--password",
            "a long admin passphrase",
            "--admin",
        ])
        .await;
    assert_eq!(admin["admin"], true);
    let receiver = latch_testkit::BackchannelReceiver::start().await;
    let spa = Spa::bind().await;
    let spa_origin = spa.origin.clone();
    let dir = latch_testkit::TempDir::new();
    let config = dir.path().join("config.js");
    std::fs::write(&config, "window.LATCH_SPA = null;\n").unwrap();
    spa.serve(&root, SpaConfig::File(config.clone()));
    let verdict = run_script(
        &root,
        &server,
        "browser-tests/console.mjs",
        &[
            ("ADMIN_EMAIL", "root@example.com"),
            ("ADMIN_PASSWORD", "a long admin passphrase"),
            ("USER_EMAIL", EMAIL),
            ("USER_PASSWORD", PASSWORD),
            ("SPA_URL", &spa_origin),
            ("SPA_CONFIG_FILE", config.to_str().unwrap()),
            ("BACKCHANNEL_URL", &receiver.url("/bc")),
        ],
    )
    .await;
    // The receiver got the logout token for the SPA's session (OpenID Connect Back-Channel
    // Logout 1.0 §2.4: `aud` is the client_id).
    let received = receiver.wait_for(1, Duration::from_secs(10)).await;
    let spa_client_id = verdict["checks"]["spa_client_id"].as_str().unwrap();
    let token = received[0].logout_token.as_deref().expect("a logout_token");
    let (_, claims) = jwt_parts(token);
    assert_eq!(claims["aud"], spa_client_id, "{claims}");
    assert!(claims["sid"].is_string(), "{claims}");
    let checks = &verdict["checks"];
    for name in [
        "non_admin_refused",
        "admin_signed_in",
        "keyboard_skip_link",
        "keyboard_nav",
        "secret_shown_once",
        "first_secret_works",
        "redirect_error_shown",
        "redirect_saved",
        "revoked_secret_refused",
        "new_secret_works",
        "session_ended",
        "user_must_sign_in_again",
        "key_rotated",
        "audit_events_visible",
        "audit_filtered",
        "phone_no_horizontal_scroll",
        "secret_copied_to_clipboard",
        "script_runs_under_csp",
        "keyboard_nav_new_sections",
        "spa_created",
        "spa_signed_in",
        "spa_refresh_fails_after_end",
        "delivery_delivered",
        "role_created",
        "api_created",
        "organization_created",
        "member_added_with_role",
        "member_added_by_keyboard",
        "invitation_url_shown",
        "invitation_copied_to_clipboard",
        "invitation_listed",
    ] {
        assert!(
            !checks[name].is_null() && checks[name] != false,
            "check {name} missing or false: {checks}"
        );
    }
    for page in [
        "applications",
        "secret",
        "application",
        "user",
        "users",
        "keys",
        "audit",
        "spa",
        "roles",
        "role",
        "apis",
        "api",
        "organizations",
        "organization",
        "invitation",
    ] {
        assert_eq!(
            checks["axe"][page],
            serde_json::json!([]),
            "axe-core on {page}: {checks}"
        );
    }
    let artifacts = root.join("target/test-artifacts/browser");
    for shot in [
        "console-refused.png",
        "console-applications.png",
        "console-secret.png",
        "console-application.png",
        "console-user.png",
        "console-keys.png",
        "console-audit.png",
        "console-applications-375px.png",
        "console-spa-deliveries.png",
        "console-roles.png",
        "console-apis.png",
        "console-organizations.png",
        "console-organization.png",
        "console-invitation.png",
        "console-organizations-375px.png",
        "console-organization-375px.png",
        "console-roles-375px.png",
        "console-apis-375px.png",
    ] {
        assert!(artifacts.join(shot).exists(), "screenshot {shot}");
    }
}

#[tokio::test]
async fn spas_sign_in_refresh_and_sign_out_in_headless_chromium() {
    let root = workspace_root();
    if skip_without_prerequisites(&root) {
        return;
    }

    let (spa_a, spa_b) = (Spa::bind().await, Spa::bind().await);
    let (origin_a, origin_b) = (spa_a.origin.clone(), spa_b.origin.clone());
    // Branded, so that the run sees the stylesheet (with the colour) and the logo (another
    // origin: SPA A's) load under the pages' CSP.
    let logo = format!("{origin_a}/logo.svg");
    let server = server_with(&[
        ("LATCH_BRANDING_NAME", "Acme Staging"),
        ("LATCH_BRANDING_PRIMARY_COLOR", "#0b6e4f"),
        ("LATCH_BRANDING_LOGO_URL", &logo),
    ])
    .await;
    let client_a = register_spa(&server, "SPA A", &origin_a).await;
    let client_b = register_spa(&server, "SPA B", &origin_b).await;
    spa_a.serve(
        &root,
        SpaConfig::Fixed(config_js(server.issuer(), &client_a, "SPA A")),
    );
    spa_b.serve(
        &root,
        SpaConfig::Fixed(config_js(server.issuer(), &client_b, "SPA B")),
    );

    // The server's application cache has both apps (CORS preflights are answered from it).
    let http = latch_testkit::rp::reqwest_client();
    for origin in [&origin_a, &origin_b] {
        let ready = latch_testkit::wait_until(Duration::from_secs(5), || async {
            http.request(reqwest::Method::OPTIONS, server.url("/userinfo"))
                .header("origin", origin.as_str())
                .header("access-control-request-method", "GET")
                .send()
                .await
                .is_ok_and(|r| r.status() == 204)
        })
        .await;
        assert!(ready, "Latch answers CORS preflights from {origin}");
    }

    let artifacts = root.join("target/test-artifacts/browser");
    let verdict = run_script(
        &root,
        &server,
        "browser-tests/run.mjs",
        &[
            ("SPA_A_URL", &origin_a),
            ("SPA_A_CLIENT_ID", &client_a),
            ("SPA_B_URL", &origin_b),
            ("USER_EMAIL", EMAIL),
            ("USER_PASSWORD", PASSWORD),
        ],
    )
    .await;
    let checks = &verdict["checks"];
    for name in [
        "pkce_s256",
        "signed_in",
        "userinfo_email",
        "refresh_rotated",
        "sso_signed_in",
        "sso_without_password",
        "logout_endpoint_used",
        "signed_out",
        "logout_state_sent",
        "refresh_token_dead_after_sign_out",
        "password_asked_again",
        "signed_in_again",
        "nojs_code",
        "nojs_code_redeemed",
        "login_hint_shown_as_text",
        "inline_script_blocked",
        "no_dialog",
        "phone_no_horizontal_scroll",
        "phone_decline_visible",
        "decline_access_denied",
        "decline_state",
        "decline_iss",
        "decline_no_code",
    ] {
        assert!(
            !checks[name].is_null() && checks[name] != false,
            "check {name} missing or false: {checks}"
        );
    }
    assert!(
        checks["phone_no_horizontal_scroll"]["scroll"]
            .as_u64()
            .unwrap()
            <= 375,
        "{checks}"
    );
    for shot in [
        "login-page.png",
        "spa-signed-in.png",
        "login-page-375px.png",
    ] {
        assert!(
            artifacts.join(shot).exists(),
            "screenshot {shot} saved under {}",
            artifacts.display()
        );
    }
}
