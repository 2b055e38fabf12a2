//! Forgot password over real SMTP (`SmtpReceiver`): the form mails a single-use link, answers the
//! same for unknown addresses, mail waits in the outbox while the SMTP server is down (and Latch
//! restarts meanwhile), and without SMTP the page is not offered.
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
    let mut server = server_sending_to(&receiver).await;
    drop(receiver);
    let (browser, id) = at_login_page(&server).await;
    assert_eq!(forgot(&server, &browser, &id, EMAIL).await.0, 200);
    // Attempts fail meanwhile (2 s, then 4 s later…); the message stays queued.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Latch stops while the message waits: it is in the outbox, not in the process.
    server.stop().await;
    let back = SmtpReceiver::start_on(port).await;
    server.restart().await;
    let mails = back.wait_for(EMAIL, 1, Duration::from_secs(30)).await;
    assert!(
        mails[0]
            .link(&server.url("/password/reset?token="))
            .is_some()
    );
}

/// The reset form cannot be turned into a mail bomb: an address gets at most
/// `PER_RECIPIENT` (5) messages an hour, and the page answers the same whether or not a mail
/// went out (no enumeration through the limit either).
#[tokio::test]
async fn the_form_mails_an_address_at_most_five_times_an_hour() {
    let receiver = SmtpReceiver::start().await;
    let server = server_sending_to(&receiver).await;
    let (browser, id) = at_login_page(&server).await;
    let first = forgot(&server, &browser, &id, EMAIL).await;
    assert_eq!(first.0, 200);
    for _ in 0..6 {
        assert_eq!(forgot(&server, &browser, &id, EMAIL).await, first);
    }
    receiver.wait_for(EMAIL, 5, Duration::from_secs(30)).await;
    // The lookups and queueing run after each answer: give the last ones time to be refused.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        receiver.messages_to(EMAIL).len(),
        5,
        "the sixth and seventh are held back"
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
    let login = browser
        .get(&server.url(&format!("/login?login_request={id}")))
        .await;
    assert_eq!(login.status(), 200);
    let html = login.text().await.unwrap();
    assert!(html.contains(r#"name="password""#), "{html}");
    assert!(
        !html.contains("Forgot password?"),
        "never offered without SMTP: {html}"
    );
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

async fn tokens_by_password(
    server: &LatchServer,
    browser: &Browser,
    app: &App,
) -> serde_json::Value {
    let auth = authorization(&rp(server, app).await, &["openid", "offline_access"]);
    let callback = browser
        .sign_in(&auth.url, &app.redirect_uri, EMAIL, PASSWORD)
        .await;
    let code = callback_code(server, &callback, &auth);
    exchange(server, app, code.secret(), auth).await
}

async fn refresh_status(server: &LatchServer, app: &App, refresh_token: &str) -> (u16, String) {
    let secret = app.client_secret.clone().unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    let (status, body, _) = token(server, &form, Some((&app.client_id, &secret))).await;
    (status, body["error"].as_str().unwrap_or("").to_owned())
}

/// Asks for a link from `browser`'s parked request and returns the link mailed (the `n`th mail).
async fn mailed_link(
    server: &LatchServer,
    receiver: &SmtpReceiver,
    browser: &Browser,
    id: &str,
    n: usize,
) -> String {
    assert_eq!(forgot(server, browser, id, EMAIL).await.0, 200);
    let mails = receiver.wait_for(EMAIL, n, Duration::from_secs(15)).await;
    mails[n - 1]
        .link(&server.url("/password/reset?token="))
        .expect("a reset link")
}

/// Opens a mailed link: status and page.
async fn open_link(browser: &Browser, link: &str) -> (u16, String) {
    let page = browser.get(link).await;
    let status = page.status().as_u16();
    (status, page.text().await.unwrap())
}

/// A link refused with a clear page that offers no form.
async fn assert_link_refused(browser: &Browser, link: &str, why: &str) {
    let (status, html) = open_link(browser, link).await;
    assert_eq!(status, 400, "{why}: {html}");
    assert!(html.contains("This link no longer works"), "{why}: {html}");
    assert!(html.contains("already used"), "{why}: {html}");
    assert!(
        !html.contains(r#"name="password""#),
        "{why}: no form: {html}"
    );
}

/// Posts the new-password form of `link`.
async fn set_password(browser: &Browser, link: &str, password: &str) -> reqwest::Response {
    let (status, html) = open_link(browser, link).await;
    assert_eq!(status, 200, "{html}");
    let form = latch_testkit::html::parse_forms(&html)
        .into_iter()
        .find(|f| f.fields.iter().any(|(k, _)| k == "token"))
        .expect("the new-password form");
    let mut fields = form.fields.clone();
    fields.retain(|(k, _)| k != "password");
    fields.push(("password".to_owned(), password.to_owned()));
    let action = form.action_url(&url::Url::parse(link).unwrap());
    browser.post_form(action.as_str(), &fields).await
}

#[tokio::test]
async fn a_reset_ends_every_session_signs_in_here_and_continues_the_authorization() {
    let smtp = SmtpReceiver::start().await;
    let backchannel = latch_testkit::BackchannelReceiver::start().await;
    let server = server_sending_to(&smtp).await;
    let web = app(
        &server,
        "web",
        "http://127.0.0.1:7001/cb",
        &["--backchannel-logout-uri", &backchannel.url("/bc")],
    )
    .await;
    let elsewhere = tokens_by_password(&server, &Browser::new(), &web).await;

    let browser = Browser::new();
    let auth = authorization(&rp(&server, &web).await, &["openid"]);
    let (login_url, _, html) = browser
        .authorize(&auth.url, &web.redirect_uri)
        .await
        .expect_page();
    assert!(
        html.contains("Forgot password?"),
        "the login page links to it: {html}"
    );
    let id = param(&login_url, "login_request").unwrap();
    let link = mailed_link(&server, &smtp, &browser, &id, 1).await;

    let weak = set_password(&browser, &link, "short").await;
    assert_eq!(weak.status(), 200);
    assert!(
        weak.text().await.unwrap().contains("at least 8"),
        "the password policy"
    );

    let done = set_password(&browser, &link, "a brand new horse battery").await;
    let callback = browser
        .follow(done, &web.redirect_uri)
        .await
        .expect_redirect();
    let code = callback_code(&server, &callback, &auth);
    let tokens = exchange(&server, &web, code.secret(), auth).await;
    assert!(
        tokens["id_token"].is_string(),
        "signed in, the authorization continued: {tokens}"
    );

    let rt = elsewhere["refresh_token"].as_str().unwrap();
    assert_eq!(
        refresh_status(&server, &web, rt).await,
        (400, "invalid_grant".to_owned())
    );
    assert_eq!(
        backchannel.wait_for(1, Duration::from_secs(10)).await.len(),
        1
    );

    // The link worked once.
    assert_link_refused(&browser, &link, "used").await;
    // The new password signs in; the old one does not.
    let auth = authorization(&rp(&server, &web).await, &["openid"]);
    let other = Browser::new();
    let (url, _, html) = other
        .authorize(&auth.url, &web.redirect_uri)
        .await
        .expect_page();
    let step = other
        .submit_login_form(&url, &html, EMAIL, PASSWORD, &web.redirect_uri)
        .await;
    assert!(step.is_login_page(), "the old password is refused");
}

#[tokio::test]
async fn a_newer_link_supersedes_the_older_one() {
    let smtp = SmtpReceiver::start().await;
    let server = server_sending_to(&smtp).await;
    let (browser, id) = at_login_page(&server).await;
    let first = mailed_link(&server, &smtp, &browser, &id, 1).await;
    let second = mailed_link(&server, &smtp, &browser, &id, 2).await;
    assert_link_refused(&browser, &first, "superseded").await;
    // Posting the superseded link's token anyway changes nothing.
    let token = first.split("token=").nth(1).unwrap();
    let posted = browser
        .post_form(
            &server.url("/password/reset"),
            &[("token", token), ("password", "a brand new horse battery")],
        )
        .await;
    assert_eq!(posted.status(), 400);
    assert!(posted.text().await.unwrap().contains("newer one"));
    let used = set_password(&browser, &second, "a brand new horse battery").await;
    assert!(used.status().is_success() || used.status().is_redirection());
}

#[tokio::test]
async fn the_cli_queues_a_reset_that_the_running_server_sends() {
    let smtp = SmtpReceiver::start().await;
    let server = server_sending_to(&smtp).await;
    let out = server.cli(&["users", "send-reset", EMAIL]).await;
    assert_eq!(out["queued"], true, "{out}");
    let mails = smtp.wait_for(EMAIL, 1, Duration::from_secs(15)).await;
    let link = mails[0]
        .link(&server.url("/password/reset?token="))
        .unwrap();
    let browser = Browser::new();
    let done = set_password(&browser, &link, "a brand new horse battery").await;
    assert_eq!(
        done.status(),
        200,
        "no parked request: a page says it is done"
    );
    assert!(done.text().await.unwrap().contains("Password changed"));
}

#[tokio::test]
async fn an_expired_link_shows_a_clear_page_and_no_form() {
    let smtp = SmtpReceiver::start().await;
    let server = server_sending_to(&smtp).await;
    let out = server
        .cli(&["users", "send-reset", EMAIL, "--ttl-seconds", "1"])
        .await;
    assert_eq!(out["queued"], true, "{out}");
    let mail = smtp.wait_for(EMAIL, 1, Duration::from_secs(15)).await;
    assert!(
        mail[0].text().contains("1 second"),
        "the mail says how long"
    );
    let link = mail[0].link(&server.url("/password/reset?token=")).unwrap();
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let browser = Browser::new();
    assert_link_refused(&browser, &link, "expired").await;
    let token = link.split("token=").nth(1).unwrap();
    let posted = browser
        .post_form(
            &server.url("/password/reset"),
            &[("token", token), ("password", "a brand new horse battery")],
        )
        .await;
    assert_eq!(posted.status(), 400, "the form's post is refused too");
    // Nothing changed: the old password still signs in.
    let app = app(&server, "web", REDIRECT, &[]).await;
    let auth = authorization(&rp(&server, &app).await, &["openid"]);
    Browser::new()
        .sign_in(&auth.url, REDIRECT, EMAIL, PASSWORD)
        .await;
    // A made-up token and none at all get the same page.
    assert_link_refused(
        &browser,
        &server.url("/password/reset?token=AAAA"),
        "made up",
    )
    .await;
    assert_link_refused(&browser, &server.url("/password/reset"), "none").await;
    let out = server
        .cli_output(&["users", "send-reset", EMAIL, "--ttl-seconds", "0"])
        .await;
    assert!(!out.status.success(), "a lifetime of 0 is refused");
}

/// An SMTP server that accepts connections and never answers: whoever waits on it hangs.
async fn stalled_smtp() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (port, task)
}

#[tokio::test]
async fn the_answer_for_a_known_address_waits_for_neither_the_lookup_nor_smtp() {
    let (port, _stalled) = stalled_smtp().await;
    let url = format!("smtp://127.0.0.1:{port}");
    let server = server_with(&[
        ("LATCH_SMTP_URL", &url),
        ("LATCH_SMTP_FROM", "no-reply@example.com"),
    ])
    .await;
    let (browser, id) = at_login_page(&server).await;
    // The mail worker is stuck on the stalled server while the form keeps answering. The bound
    // is loose (a loaded machine) and far below what waiting on SMTP would take (it never
    // answers): the work that tells the two apart runs after the response.
    let bound = Duration::from_secs(3);
    let mut answers = Vec::new();
    for email in [EMAIL, "nobody@example.com", EMAIL, "nobody@example.com"] {
        let started = std::time::Instant::now();
        let answer = forgot(&server, &browser, &id, email).await;
        let took = started.elapsed();
        assert!(took < bound, "{email}: {took:?}");
        answers.push(answer);
    }
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "same status and body: {answers:?}"
    );
    assert_eq!(answers[0].0, 200);
}
