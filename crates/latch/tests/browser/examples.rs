//! The three examples share one sign-in (issue 22), in headless Chromium: the web example
//! (`examples/web`, in this process) signs in with the password; the SPA (`examples/spa`) then
//! gets a code without one; the native example (`examples/native`, in this process) signs in
//! through the same browser, which plays its system browser; signing out in the web example sends
//! a back-channel logout that ends the web example's other session, and the native example's
//! refresh then fails with `invalid_grant`. `browser-tests/examples.mjs` drives the browser.

use std::process::Stdio;
use std::time::Duration;

use example_native::{Native, NativeError, TokenStore};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::*;

const NATIVE_LOGIN_TIMEOUT: Duration = Duration::from_secs(200);

struct Running {
    web: example_web::App,
    native: Native,
    issuer: String,
    web_url: String,
    spa_url: String,
    native_login_url: String,
    native_login: tokio::task::JoinHandle<Result<Value, NativeError>>,
    _tokens: latch_testkit::TempDir,
}

/// Registers the three applications with the CLI, as `examples/run` does, and starts them.
async fn start_examples(server: &latch_testkit::LatchServer, root: &Path) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web_url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let created = server
        .cli(&[
            "apps",
            "create",
            "--name",
            "Web example",
            "--type",
            "web",
            "--redirect-uri",
            &format!("{web_url}/callback"),
            "--post-logout-uri",
            &format!("{web_url}/"),
            "--backchannel-logout-uri",
            &format!("{web_url}/backchannel-logout"),
        ])
        .await;
    let web = example_web::App::new(example_web::Config {
        issuer: server.issuer().to_owned(),
        client_id: created["client_id"].as_str().unwrap().to_owned(),
        client_secret: created["client_secret"].as_str().unwrap().to_owned(),
        base_url: web_url.parse().unwrap(),
    })
    .await
    .unwrap();
    tokio::spawn(example_web::serve(listener, web.clone()));

    let spa = Spa::bind().await;
    let spa_url = spa.origin.clone();
    let spa_client = register_spa(server, "SPA example", &spa_url).await;
    let config = config_js(server.issuer(), &spa_client, "SPA example");
    spa.serve(root, SpaConfig::Fixed(config));

    let native_app = server
        .cli(&[
            "apps",
            "create",
            "--name",
            "Native example",
            "--type",
            "native",
            "--redirect-uri",
            "http://127.0.0.1/callback",
        ])
        .await;
    // A file, not the keychain of whoever runs the tests.
    let tokens = latch_testkit::TempDir::new();
    let store = TokenStore::file_only(tokens.path().join("tokens.json"));
    let native = Native::discover(
        server.issuer(),
        native_app["client_id"].as_str().unwrap(),
        store,
    )
    .await
    .unwrap();
    let pending = native.start_login().await.unwrap();
    let native_login_url = pending.url().to_string();
    let native_login = tokio::spawn(pending.finish(NATIVE_LOGIN_TIMEOUT));

    // The server's application cache knows the SPA (its CORS preflights are answered from it).
    let http = latch_testkit::rp::reqwest_client();
    let ready = latch_testkit::wait_until(Duration::from_secs(5), || async {
        http.request(reqwest::Method::OPTIONS, server.url("/oauth/token"))
            .header("origin", spa_url.as_str())
            .header("access-control-request-method", "POST")
            .send()
            .await
            .is_ok_and(|r| r.status() == 204)
    })
    .await;
    assert!(ready, "Latch answers CORS preflights from {spa_url}");
    Running {
        web,
        native,
        issuer: server.issuer().to_owned(),
        web_url,
        spa_url,
        native_login_url,
        native_login,
        _tokens: tokens,
    }
}

#[tokio::test]
async fn the_three_examples_share_one_sign_in_in_headless_chromium() {
    let root = workspace_root();
    if skip_without_prerequisites(&root) {
        return;
    }
    let server = server().await;
    let mut running = start_examples(&server, &root).await;

    let artifacts = root.join("target/test-artifacts/browser");
    std::fs::create_dir_all(&artifacts).unwrap();
    let mut child = tokio::process::Command::new("node")
        .arg("browser-tests/examples.mjs")
        .current_dir(&root)
        .env("LATCH_ISSUER", &running.issuer)
        .env("WEB_URL", &running.web_url)
        .env("SPA_URL", &running.spa_url)
        .env("NATIVE_LOGIN_URL", &running.native_login_url)
        .env("USER_EMAIL", EMAIL)
        .env("USER_PASSWORD", PASSWORD)
        .env("ARTIFACTS_DIR", &artifacts)
        .env("CHROMIUM", CHROMIUM)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start node browser-tests/examples.mjs");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = child.stderr.take().unwrap();
    let err_task = tokio::spawn(async move {
        let mut err = String::new();
        let _ = stderr.read_to_string(&mut err).await;
        err
    });

    // The script's lines: events to act on, then the verdict.
    let mut whoami_before = None;
    let verdict = tokio::time::timeout(SCRIPT_TIMEOUT, async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if message["event"] == "native-signed-in" {
                let claims = (&mut running.native_login).await.unwrap();
                assert_eq!(claims.as_ref().unwrap()["email"], EMAIL, "{claims:?}");
                // The refresh works while the sign-in lasts (and rotates the stored token).
                let before = running.native.load().await.unwrap().unwrap();
                whoami_before = Some(running.native.whoami().await.unwrap());
                let after = running.native.load().await.unwrap().unwrap();
                assert_ne!(before.refresh_token, after.refresh_token, "rotated");
                stdin.write_all(b"continue\n").await.unwrap();
                stdin.flush().await.unwrap();
            } else if message.get("ok").is_some() {
                return Some(message);
            }
        }
        None
    })
    .await;
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    let err = tokio::time::timeout(Duration::from_secs(5), err_task)
        .await
        .map(|r| r.unwrap_or_default())
        .unwrap_or_default();
    let verdict = verdict
        .unwrap_or_else(|_| panic!("examples.mjs did not finish within {SCRIPT_TIMEOUT:?}\n{err}"))
        .unwrap_or_else(|| panic!("no JSON verdict from examples.mjs ({status:?})\nstderr: {err}"));
    assert!(
        verdict["ok"] == true,
        "examples test failed at step {}:\n{}\nchecks so far: {}\nscreenshots: {}\nscript log:\n{err}\nserver log:\n{}",
        verdict["step"],
        verdict["error"].as_str().unwrap_or(""),
        verdict["checks"],
        artifacts.display(),
        server.logs(),
    );
    let checks = &verdict["checks"];
    eprintln!("examples test checks: {checks}");
    for name in [
        "web_signed_in",
        "web_api_accepts_the_access_token",
        "web_cookie_flags",
        "web_cookie_holds_no_token",
        "web_refreshed",
        "spa_code_issued",
        "spa_without_password",
        "native_signed_in",
        "native_without_password",
        "native_pkce_s256_loopback",
        "web_sso_without_password",
        "web_session_a_alive",
        "web_fits_375px",
        "web_logout_hint_and_redirect",
        "web_backchannel_ended_session_a",
        "web_asks_to_sign_in",
        "password_asked_again",
        "no_page_errors",
    ] {
        assert!(
            !checks[name].is_null() && checks[name] != false,
            "check {name} missing or false: {checks}"
        );
    }
    assert_eq!(whoami_before.unwrap()["email"], EMAIL);

    // The back channel, seen from the web example: the session it did not end itself.
    assert!(
        running.web.sessions_ended_by_backchannel() >= 1,
        "no session ended by back-channel logout"
    );
    assert_eq!(running.web.session_count(), 0);
    // The Latch session ended: the native example's refresh token died with it.
    match running.native.whoami().await {
        Err(NativeError::InvalidGrant) => {}
        other => panic!("expected invalid_grant, got {other:?}"),
    }
    assert!(
        running.native.load().await.unwrap().is_none(),
        "the native example cleared its tokens"
    );
}
