//! Accounts people run themselves in headless Chromium (issue 17), driven by
//! `browser-tests/accounts.mjs`: forgot password and sign-up with `prompt=create`, each ending at
//! the application with a code, at 375 px with JavaScript on and off. Latch sends its mail to an
//! `SmtpReceiver`; this test serves the application's callback and a mailbox endpoint from which
//! the script takes the links of the mail received.

use latch_testkit::SmtpReceiver;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// Serves `GET /callback` (a page that says "ok") and `GET /mailbox?to=&n=&prefix=` (the link
/// starting with `prefix` in the `n`th mail to `to`, or 404 until it has arrived).
async fn serve_callback_and_mailbox(listener: TcpListener, smtp: Arc<SmtpReceiver>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let smtp = smtp.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let head = String::from_utf8_lossy(&buf);
            let target = head.split_whitespace().nth(1).unwrap_or("/");
            let url = url::Url::parse(&format!("http://localhost{target}")).unwrap();
            let query = |name: &str| {
                url.query_pairs()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            let (status, body) = match url.path() {
                "/callback" => ("200 OK", "ok".to_owned()),
                "/mailbox" => {
                    let n: usize = query("n").parse().unwrap_or(1);
                    let mails = smtp.messages_to(&query("to"));
                    match mails
                        .get(n.saturating_sub(1))
                        .and_then(|m| m.link(&query("prefix")))
                    {
                        Some(link) => ("200 OK", link),
                        None => ("404 Not Found", String::new()),
                    }
                }
                _ => ("404 Not Found", String::new()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

#[tokio::test]
async fn forgot_password_and_sign_up_in_headless_chromium() {
    let root = workspace_root();
    if skip_without_prerequisites(&root) {
        return;
    }
    let smtp = Arc::new(SmtpReceiver::start().await);
    let server = server_with(&[
        ("LATCH_SMTP_URL", &smtp.url()),
        ("LATCH_SMTP_FROM", "Latch <no-reply@example.com>"),
    ])
    .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(serve_callback_and_mailbox(listener, smtp.clone()));
    let callback = format!("{base}/callback");
    let app = app(&server, "web", &callback, &["--allow-signup"]).await;

    let verdict = run_script(
        &root,
        &server,
        "browser-tests/accounts.mjs",
        &[
            ("CLIENT_ID", &app.client_id),
            ("CALLBACK_URL", &callback),
            ("MAILBOX_URL", &format!("{base}/mailbox")),
            ("USER_EMAIL", EMAIL),
        ],
    )
    .await;
    let checks = &verdict["checks"];
    for js in ["js", "nojs"] {
        for name in [
            format!("forgot-{js}_no_horizontal_scroll"),
            format!("reset-{js}_no_horizontal_scroll"),
            format!("reset_{js}_code"),
            format!("reset_{js}_state"),
            format!("signup-{js}_no_horizontal_scroll"),
            format!("verify-{js}_no_horizontal_scroll"),
            format!("signup_{js}_code"),
            format!("signup_{js}_state"),
        ] {
            assert!(
                !checks[&name].is_null() && checks[&name] != false,
                "check {name} missing or false: {checks}"
            );
        }
        let artifacts = root.join("target/test-artifacts/browser");
        for shot in ["forgot", "reset", "signup", "verify"] {
            let file = format!("{shot}-{js}-375px.png");
            assert!(artifacts.join(&file).exists(), "screenshot {file}");
        }
    }
}
