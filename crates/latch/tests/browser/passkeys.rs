//! Passkeys in headless Chromium (issue 18), driven by `browser-tests/passkeys.mjs` with the
//! WebAuthn domain's virtual authenticator: registered on `/account`, passwordless sign-in (the
//! button reached with the keyboard), the passkey as second factor after a password for an
//! application with `mfa: required`, removed; `amr`/`acr` of each sign-in's tokens; 375 px.
//! Latch runs on `http://localhost:PORT`: a WebAuthn RP ID is a domain, never an IP address
//! (and Chromium treats localhost as a secure context).

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// Serves `GET /callback` (a page that says "ok"), where the applications land.
async fn serve_callback(listener: TcpListener) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let body = "ok";
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

#[tokio::test]
async fn passkeys_register_sign_in_as_second_factor_and_go_in_headless_chromium() {
    let root = workspace_root();
    if skip_without_prerequisites(&root) {
        return;
    }
    let port = latch_testkit::free_port();
    let issuer = format!("http://localhost:{port}");
    let server = latch_testkit::LatchServer::builder(bin())
        .port(port)
        .env("LATCH_ISSUER", &issuer)
        .start()
        .await;
    server
        .cli(&["users", "create", "--email", EMAIL, "--password", PASSWORD])
        .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let callback = format!(
        "http://127.0.0.1:{}/callback",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(serve_callback(listener));
    let optional = app(&server, "spa", &callback, &[]).await;
    let required = app(&server, "spa", &callback, &[]).await;
    let bearer = admin_token(&server).await;
    let r = latch_testkit::rp::reqwest_client()
        .patch(server.url(&format!("/api/v1/applications/{}", required.id)))
        .bearer_auth(&bearer)
        .json(&json!({ "mfa": "required" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The applications cache follows within a second.
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let verdict = run_script(
        &root,
        &server,
        "browser-tests/passkeys.mjs",
        &[
            ("CLIENT_ID", &optional.client_id),
            ("MFA_CLIENT_ID", &required.client_id),
            ("CALLBACK_URL", &callback),
            ("USER_EMAIL", EMAIL),
            ("USER_PASSWORD", PASSWORD),
        ],
    )
    .await;
    let checks = &verdict["checks"];
    for (sign_in, amr, acr) in [
        ("password", json!(["pwd"]), "urn:latch:acr:pwd"),
        (
            "passwordless",
            json!(["hwk", "user", "mfa"]),
            "urn:latch:acr:mfa",
        ),
        (
            "second_factor",
            json!(["pwd", "hwk", "user", "mfa"]),
            "urn:latch:acr:mfa",
        ),
    ] {
        for token in ["id", "access"] {
            assert_eq!(checks[format!("{sign_in}_{token}_amr")], amr, "{checks}");
            assert_eq!(checks[format!("{sign_in}_{token}_acr")], acr, "{checks}");
        }
    }
    for name in [
        "login_autofill_offers_passkeys",
        "authenticator_holds_one_resident_key",
        "account_lists_the_passkey",
        "passkey_button_reached_by_tab",
        "account_lists_no_passkey",
        "removed_passkey_refused",
        "no_page_errors",
    ] {
        assert!(
            !checks[name].is_null() && checks[name] != false,
            "check {name} missing or false: {checks}"
        );
    }
    let artifacts = root.join("target/test-artifacts/browser");
    for shot in [
        "login",
        "account",
        "register",
        "recovery-codes",
        "account-with-passkey",
        "second-factor",
        "removed",
        "refused",
    ] {
        let fits = &checks[format!("{shot}_no_horizontal_scroll")];
        assert!(
            fits["scroll"].as_u64().is_some_and(|w| w <= 375),
            "{shot}: {checks}"
        );
        let file = format!("passkey-{shot}-375px.png");
        assert!(artifacts.join(&file).exists(), "screenshot {file}");
    }
}
