//! Forgot password over real SMTP (`SmtpReceiver`): the form mails a single-use link, answers the
//! same for unknown addresses, mail waits in the outbox while the SMTP server is down, and without
//! SMTP the page is not offered.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;

use std::time::Duration;

use latch_testkit::{Browser, LatchServer, SmtpReceiver};
use support::*;

const REDIRECT: &str = "http://127.0.0.1:9/callback";

async fn server_sending_to(receiver: &SmtpReceiver) -> LatchServer {
    server_with(&[
        ("LATCH_SMTP_URL", &receiver.url()),
        ("LATCH_SMTP_FROM", "Latch <no-reply@example.com>"),
    ])
    .await
}

/// A browser with a parked authorization request: returns the browser and the request's id.
async fn at_login_page(server: &LatchServer) -> (Browser, String) {
    let app = app(server, "web", REDIRECT, &[]).await;
    let client = rp(server, &app).await;
    let auth = authorization(&client, &["openid"]);
    let browser = Browser::new();
    let (url, status, _) = browser.authorize(&auth.url, REDIRECT).await.expect_page();
    assert_eq!(status, 200);
    let id = param(&url, "login_request").expect("login_request in the login page's URL");
    (browser, id)
}

/// Posts the forgot-password form for `email`; returns status and body.
async fn forgot(server: &LatchServer, browser: &Browser, id: &str, email: &str) -> (u16, String) {
    let response = browser
        .post_form(
            &server.url("/password/forgot"),
            &[("login_request", id), ("email", email)],
        )
        .await;
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn the_form_mails_a_single_use_link_and_answers_the_same_for_unknown_addresses() {
    let receiver = SmtpReceiver::start().await;
    let server = server_sending_to(&receiver).await;
    let (browser, id) = at_login_page(&server).await;

    let page = browser
        .get(&server.url(&format!("/password/forgot?login_request={id}")))
        .await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"name="email""#) && html.contains(&id),
        "{html}"
    );

    let known = forgot(&server, &browser, &id, EMAIL).await;
    let unknown = forgot(&server, &browser, &id, "nobody@example.com").await;
    assert_eq!(known.0, 200);
    assert_eq!(known, unknown, "no enumeration: same status and body");

    let mail = receiver
        .wait_for(EMAIL, 1, Duration::from_secs(15))
        .await
        .remove(0);
    assert_eq!(mail.from, "no-reply@example.com");
    assert!(
        mail.subject().unwrap().contains("Reset your"),
        "{:?}",
        mail.subject()
    );
    let prefix = server.url("/password/reset?token=");
    let link = mail.link(&prefix).expect("an absolute link on the issuer");
    let token = link.strip_prefix(&prefix).unwrap();
    assert!(token.len() >= 43, "a 256-bit token: {token}");
    let text = mail.text();
    assert!(
        text.contains("30 minutes") && text.contains("<a href="),
        "text and HTML: {text}"
    );

    // A second request replaces the link with a new one.
    forgot(&server, &browser, &id, EMAIL).await;
    let mails = receiver.wait_for(EMAIL, 2, Duration::from_secs(15)).await;
    assert_ne!(mails[1].link(&prefix).unwrap(), link);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        receiver.messages_to("nobody@example.com").is_empty(),
        "nothing goes to an address without an account"
    );
}

#[tokio::test]
async fn the_form_is_refused_without_this_browser_s_login_request() {
    let receiver = SmtpReceiver::start().await;
    let server = server_sending_to(&receiver).await;
    let (_, id) = at_login_page(&server).await;
    let stranger = Browser::new();
    let (status, _) = forgot(&server, &stranger, &id, EMAIL).await;
    assert_eq!(status, 400, "another browser cannot post it (CSRF)");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(receiver.messages().is_empty());
}

#[tokio::test]
async fn mail_waits_while_the_smtp_server_is_down_and_goes_once_it_is_back() {
    let receiver = SmtpReceiver::start().await;
    let port = receiver.port();
    let server = server_sending_to(&receiver).await;
    drop(receiver);
    let (browser, id) = at_login_page(&server).await;
    assert_eq!(forgot(&server, &browser, &id, EMAIL).await.0, 200);
    // Attempts fail meanwhile (2 s, then 4 s later…); the message stays queued.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let back = SmtpReceiver::start_on(port).await;
    let mails = back.wait_for(EMAIL, 1, Duration::from_secs(30)).await;
    assert!(
        mails[0]
            .link(&server.url("/password/reset?token="))
            .is_some()
    );
}

#[tokio::test]
async fn without_smtp_the_page_is_not_offered() {
    let server = server().await;
    let (browser, id) = at_login_page(&server).await;
    let page = browser
        .get(&server.url(&format!("/password/forgot?login_request={id}")))
        .await;
    assert_eq!(page.status(), 404);
    assert_eq!(forgot(&server, &browser, &id, EMAIL).await.0, 404);
}

#[tokio::test]
async fn a_bad_smtp_url_stops_start_up_without_showing_the_password() {
    let (out, _dir) = run_serve(
        &[
            (
                "LATCH_SMTP_URL",
                "smtp://me:hunter2@mail.example.com?tls=maybe",
            ),
            ("LATCH_SMTP_FROM", "no-reply@example.com"),
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = stderr_lines(&out).join("\n");
    assert!(err.contains("LATCH_SMTP_URL"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let (out, _dir) = run_serve(&[("LATCH_SMTP_URL", "smtp://127.0.0.1:2525")], &[]);
    assert!(!out.status.success());
    assert!(stderr_lines(&out).join("\n").contains("LATCH_SMTP_FROM"));
}
