//! Accounts people run themselves, over real SMTP (`SmtpReceiver`): sign-up with `prompt=create`
//! (and its limits, and its answer for an address that has an account), e-mail verification
//! (required by an application, sent on demand and on an address change), and invitations by
//! mail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;

use std::time::Duration;

use latch_testkit::{AuthorizeStep, Browser, LatchServer, ReceivedMail, SmtpReceiver};
use serde_json::{Value, json};
use support::*;

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const NEW: &str = "grace@example.com";
const NEW_PASSWORD: &str = "a brand new horse battery";

async fn server_sending_to(receiver: &SmtpReceiver) -> LatchServer {
    server_with(&[
        ("LATCH_SMTP_URL", &receiver.url()),
        ("LATCH_SMTP_FROM", "Latch <no-reply@example.com>"),
    ])
    .await
}

/// The authorization URL of `auth` with `prompt=create`.
fn create(auth: &Authorization) -> String {
    format!("{}&prompt=create", auth.url)
}

/// Fills and posts the sign-up page (`url`, `html`); status and body of the answer.
async fn submit_sign_up(
    browser: &Browser,
    url: &url::Url,
    html: &str,
    email: &str,
    password: &str,
) -> (u16, String) {
    let mut form = latch_testkit::html::parse_forms(html)
        .into_iter()
        .find(|f| f.has_field("name") && f.has_field("password"))
        .unwrap_or_else(|| panic!("the sign-up form: {html}"));
    form.set("email", email);
    form.set("password", password);
    form.set("name", "Grace Hopper");
    let response = browser
        .post_form(form.action_url(url).as_str(), &form.fields)
        .await;
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Opens a mailed verification link, presses its button, follows redirects.
async fn use_link(browser: &Browser, link: &str, redirect_prefix: &str) -> AuthorizeStep {
    let page = browser.get(link).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let form = latch_testkit::html::parse_forms(&html)
        .into_iter()
        .find(|f| f.has_field("token"))
        .unwrap_or_else(|| panic!("the verify button: {html}"));
    browser
        .submit_form(&url::Url::parse(link).unwrap(), &form, redirect_prefix)
        .await
}

fn verify_link(server: &LatchServer, mail: &ReceivedMail) -> String {
    mail.link(&server.url("/email/verify?token="))
        .expect("a verification link")
}

async fn api(
    server: &LatchServer,
    bearer: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = latch_testkit::rp::reqwest_client()
        .request(method, server.url(&format!("/api/v1{path}")))
        .bearer_auth(bearer);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn user_id(server: &LatchServer, bearer: &str, email: &str) -> String {
    let (_, list) = api(
        server,
        bearer,
        reqwest::Method::GET,
        &format!("/users?email={email}"),
        None,
    )
    .await;
    list["data"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{list}"))
        .to_owned()
}

#[tokio::test]
async fn sign_up_with_prompt_create_verifies_the_address_then_the_code_flow_continues() {
    let smtp = SmtpReceiver::start().await;
    let server = server_sending_to(&smtp).await;
    let discovery: Value = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["prompt_values_supported"],
        json!(["none", "login"])
    );
    let web = app(&server, "web", REDIRECT, &["--allow-signup"]).await;
    // What the CLI creates is in effect within a second (the applications cache).
    let listed = latch_testkit::wait_until(Duration::from_secs(5), || async {
        let discovery: Value = reqwest::get(server.url("/.well-known/openid-configuration"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        discovery["prompt_values_supported"] == json!(["none", "login", "create"])
    })
    .await;
    assert!(listed, "Prompt Create 1.0 §4.2: create listed");

    let auth = authorization(&rp(&server, &web).await, &["openid", "email"]);
    let browser = Browser::new();
    let (url, status, html) = browser
        .authorize(&create(&auth), REDIRECT)
        .await
        .expect_page();
    assert_eq!(status, 200);
    assert_eq!(url.path(), "/signup", "{url}");
    assert!(html.contains("Create your account"), "{html}");

    let (status, html) = submit_sign_up(&browser, &url, &html, NEW, "short").await;
    assert_eq!(status, 200);
    assert!(html.contains("at least 8"), "the password policy: {html}");
    let (status, html) = submit_sign_up(&browser, &url, &html, NEW, NEW_PASSWORD).await;
    assert_eq!(status, 200);
    assert!(html.contains("Check your inbox"), "{html}");

    let mail = smtp
        .wait_for(NEW, 1, Duration::from_secs(15))
        .await
        .remove(0);
    assert!(
        mail.subject().unwrap().contains("Verify your email"),
        "{:?}",
        mail.subject()
    );
    let link = verify_link(&server, &mail);
    // Opening the link uses nothing up (a mail scanner); its button does.
    assert_eq!(browser.get(&link).await.status(), 200);
    let callback = use_link(&browser, &link, REDIRECT).await.expect_redirect();
    let code = callback_code(&server, &callback, &auth);
    let tokens = exchange(&server, &web, code.secret(), auth).await;
    let (_, claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["email"], NEW);
    assert_eq!(claims["email_verified"], true, "{claims}");

    // Used once; and the new account signs in with its password.
    let page = browser.get(&link).await.text().await.unwrap();
    let refused = Browser::new()
        .post_form(
            &server.url("/email/verify"),
            &[("token", link.split("token=").nth(1).unwrap())],
        )
        .await;
    assert_eq!(refused.status(), 400, "{page}");
    let auth = authorization(&rp(&server, &web).await, &["openid"]);
    Browser::new()
        .sign_in(&auth.url, REDIRECT, NEW, NEW_PASSWORD)
        .await;
}

#[tokio::test]
async fn the_link_opened_in_another_browser_verifies_but_signs_no_one_in() {
    let smtp = SmtpReceiver::start().await;
    let server = server_sending_to(&smtp).await;
    let web = app(&server, "web", REDIRECT, &["--allow-signup"]).await;
    let auth = authorization(&rp(&server, &web).await, &["openid"]);
    let browser = Browser::new();
    let (url, _, html) = browser
        .authorize(&create(&auth), REDIRECT)
        .await
        .expect_page();
    submit_sign_up(&browser, &url, &html, NEW, NEW_PASSWORD).await;
    let mail = smtp
        .wait_for(NEW, 1, Duration::from_secs(15))
        .await
        .remove(0);
    let (_, status, html) = use_link(&Browser::new(), &verify_link(&server, &mail), REDIRECT)
        .await
        .expect_page();
    assert_eq!(status, 200);
    assert!(html.contains("Email verified"), "{html}");
}

#[tokio::test]
async fn sign_up_with_an_address_that_has_an_account_answers_the_same_and_mails_it_instead() {
    let smtp = SmtpReceiver::start().await;
    let server = server_sending_to(&smtp).await;
    let web = app(&server, "web", REDIRECT, &["--allow-signup"]).await;
    let mut answers = Vec::new();
    for email in [EMAIL, NEW] {
        let auth = authorization(&rp(&server, &web).await, &["openid"]);
        let browser = Browser::new();
        let (url, _, html) = browser
            .authorize(&create(&auth), REDIRECT)
            .await
            .expect_page();
        let (status, body) = submit_sign_up(&browser, &url, &html, email, NEW_PASSWORD).await;
        answers.push((status, body.replace(email, "EMAIL")));
    }
    assert_eq!(
        answers[0], answers[1],
        "no enumeration: same status and page"
    );

    let mail = smtp
        .wait_for(EMAIL, 1, Duration::from_secs(15))
        .await
        .remove(0);
    assert!(
        mail.subject().unwrap().contains("already have"),
        "{:?}",
        mail.subject()
    );
    assert!(
        mail.link(&server.url("/email/verify")).is_none(),
        "no link: {}",
        mail.text()
    );
    smtp.wait_for(NEW, 1, Duration::from_secs(15)).await;
    // No second account: the old password still signs in, the new one does not.
    let auth = authorization(&rp(&server, &web).await, &["openid"]);
    Browser::new()
        .sign_in(&auth.url, REDIRECT, EMAIL, PASSWORD)
        .await;
    let bearer = admin_token(&server).await;
    let (_, list) = api(
        &server,
        &bearer,
        reqwest::Method::GET,
        &format!("/users?email={EMAIL}"),
        None,
    )
    .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test]
async fn prompt_create_is_refused_where_sign_up_is_not_offered() {
    let smtp = SmtpReceiver::start().await;
    let server = server_sending_to(&smtp).await;
    let closed = app(&server, "web", REDIRECT, &[]).await;
    let auth = authorization(&rp(&server, &closed).await, &["openid"]);
    let callback = Browser::new()
        .authorize(&create(&auth), REDIRECT)
        .await
        .expect_redirect();
    assert_eq!(
        param(&callback, "error").as_deref(),
        Some("invalid_request"),
        "{callback}"
    );
    assert_eq!(
        param(&callback, "state").as_deref(),
        Some(auth.state.secret().as_str())
    );
    // Its login page has no "Create account" link; an open application's has.
    let (url, _, html) = Browser::new()
        .authorize(&auth.url, REDIRECT)
        .await
        .expect_page();
    assert!(!html.contains("Create account"), "{html}");
    let id = param(&url, "login_request").unwrap();
    let page = Browser::new()
        .get(&server.url(&format!("/signup?login_request={id}")))
        .await;
    assert_eq!(
        page.status(),
        400,
        "another browser, and an app without sign-up"
    );
    let open = app(&server, "web", REDIRECT, &["--allow-signup"]).await;
    let auth = authorization(&rp(&server, &open).await, &["openid"]);
    let browser = Browser::new();
    let (_, _, html) = browser.authorize(&auth.url, REDIRECT).await.expect_page();
    assert!(html.contains("Create account"), "{html}");

    // Without e-mail, sign-up is not offered at all.
    let plain = server_with(&[]).await;
    let open = app(&plain, "web", REDIRECT, &["--allow-signup"]).await;
    let auth = authorization(&rp(&plain, &open).await, &["openid"]);
    let callback = Browser::new()
        .authorize(&create(&auth), REDIRECT)
        .await
        .expect_redirect();
    assert_eq!(
        param(&callback, "error").as_deref(),
        Some("invalid_request")
    );
    let (_, _, html) = Browser::new()
        .authorize(&auth.url, REDIRECT)
        .await
        .expect_page();
    assert!(!html.contains("Create account"), "{html}");
}

#[tokio::test]
async fn sign_ups_from_one_address_are_limited() {
    let smtp = SmtpReceiver::start().await;
    let server = server_with(&[
        ("LATCH_SMTP_URL", &smtp.url()),
        ("LATCH_SMTP_FROM", "no-reply@example.com"),
        ("LATCH_TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let web = app(&server, "web", REDIRECT, &["--allow-signup"]).await;
    let auth = authorization(&rp(&server, &web).await, &["openid"]);
    let browser = Browser::forwarded_for("203.0.113.7");
    let (url, _, html) = browser
        .authorize(&create(&auth), REDIRECT)
        .await
        .expect_page();
    let mut statuses = Vec::new();
    for i in 0..21 {
        let email = format!("user{i}@example.com");
        statuses.push(
            submit_sign_up(&browser, &url, &html, &email, "short")
                .await
                .0,
        );
    }
    assert!(statuses[..20].iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(statuses[20], 429, "{statuses:?}");
    // Another address is not refused.
    let other = Browser::forwarded_for("203.0.113.8");
    let (url, _, html) = other
        .authorize(&create(&auth), REDIRECT)
        .await
        .expect_page();
    assert_eq!(
        submit_sign_up(&other, &url, &html, NEW, "short").await.0,
        200
    );
}

#[tokio::test]
async fn an_application_requiring_a_verified_email_asks_first_then_continues() {
    let smtp = SmtpReceiver::start().await;
    let server = server_sending_to(&smtp).await;
    let web = app(&server, "web", REDIRECT, &["--require-verified-email"]).await;
    let lax = app(&server, "web", "http://127.0.0.1:9/lax", &[]).await;
    let auth = authorization(&rp(&server, &web).await, &["openid", "email"]);
    let browser = Browser::new();
    let (url, _, html) = browser.authorize(&auth.url, REDIRECT).await.expect_page();
    let step = browser
        .submit_login_form(&url, &html, EMAIL, PASSWORD, REDIRECT)
        .await;
    // No code before the address is verified.
    let (url, status, html) = step.expect_page();
    assert_eq!(status, 200);
    assert!(
        html.contains("Check your inbox") && html.contains(EMAIL),
        "{html}"
    );
    let forms = latch_testkit::html::parse_forms(&html);
    assert_eq!(forms.len(), 2, "continue and resend: {html}");

    // "Continue" before verifying: the same page again, no code.
    let again = browser.submit_form(&url, &forms[0], REDIRECT).await;
    let (_, _, html) = again.expect_page();
    assert!(html.contains("Check your inbox"), "{html}");
    // prompt=none cannot ask: interaction_required.
    let silent = authorization(&rp(&server, &web).await, &["openid"]);
    let callback = browser
        .authorize(&format!("{}&prompt=none", silent.url), REDIRECT)
        .await
        .expect_redirect();
    assert_eq!(
        param(&callback, "error").as_deref(),
        Some("interaction_required")
    );
    // An application that does not require it gets its code from the same session.
    let other = authorization(&rp(&server, &lax).await, &["openid", "email"]);
    let callback = browser
        .authorize(&other.url, "http://127.0.0.1:9/lax")
        .await
        .expect_redirect();
    let code = callback_code(&server, &callback, &other);
    let tokens = exchange(&server, &lax, code.secret(), other).await;
    assert_eq!(
        jwt_parts(tokens["id_token"].as_str().unwrap()).1["email_verified"],
        false
    );

    // "Send a new link", then the link in this browser continues the request.
    let forms = latch_testkit::html::parse_forms(&html);
    let url = url::Url::parse(&server.url("/email/continue")).unwrap();
    let resent = browser.submit_form(&url, &forms[1], REDIRECT).await;
    let (_, _, html) = resent.expect_page();
    assert!(html.contains("We sent a new link"), "{html}");
    let mail = smtp
        .wait_for(EMAIL, 1, Duration::from_secs(15))
        .await
        .remove(0);
    let callback = use_link(&browser, &verify_link(&server, &mail), REDIRECT)
        .await
        .expect_redirect();
    let code = callback_code(&server, &callback, &auth);
    let tokens = exchange(&server, &web, code.secret(), auth).await;
    assert_eq!(
        jwt_parts(tokens["id_token"].as_str().unwrap()).1["email_verified"],
        true
    );

    let bearer = admin_token(&server).await;
    audit_events(&server, &bearer, "email_verification.sent", 1).await;
    audit_events(&server, &bearer, "email_verification.completed", 1).await;
}

#[tokio::test]
async fn the_api_mails_a_verification_link_and_an_address_change_unverifies() {
    let smtp = SmtpReceiver::start().await;
    let server = server_sending_to(&smtp).await;
    let bearer = admin_token(&server).await;
    let id = user_id(&server, &bearer, EMAIL).await;
    let path = format!("/users/{id}/verification-email");
    let (status, body) = api(&server, &bearer, reqwest::Method::POST, &path, None).await;
    assert_eq!((status, &body), (202, &json!({"queued": true})));
    let mail = smtp
        .wait_for(EMAIL, 1, Duration::from_secs(15))
        .await
        .remove(0);
    let (_, _, html) = use_link(&Browser::new(), &verify_link(&server, &mail), REDIRECT)
        .await
        .expect_page();
    assert!(html.contains("Email verified"), "{html}");
    let (_, user) = api(
        &server,
        &bearer,
        reqwest::Method::GET,
        &format!("/users/{id}"),
        None,
    )
    .await;
    assert_eq!(user["email_verified"], true, "{user}");

    // A new address is unverified and gets its own link; the old address's links are dead.
    let patch = json!({"email": NEW});
    let (status, user) = api(
        &server,
        &bearer,
        reqwest::Method::PATCH,
        &format!("/users/{id}"),
        Some(patch),
    )
    .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["email_verified"], false, "{user}");
    let mail = smtp
        .wait_for(NEW, 1, Duration::from_secs(15))
        .await
        .remove(0);
    assert!(verify_link(&server, &mail).len() > 40);
    // An administrator may state that the new address is verified: no mail then.
    let patch = json!({"email": "ada@example.org", "email_verified": true});
    let (_, user) = api(
        &server,
        &bearer,
        reqwest::Method::PATCH,
        &format!("/users/{id}"),
        Some(patch),
    )
    .await;
    assert_eq!(user["email_verified"], true, "{user}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(smtp.messages_to("ada@example.org").is_empty());
    // The link sent to the previous address no longer verifies anything.
    let (_, _, html) = use_link(&Browser::new(), &verify_link(&server, &mail), REDIRECT)
        .await
        .expect_page();
    assert!(html.contains("no longer"), "{html}");

    let (status, body) = api(
        &server,
        &bearer,
        reqwest::Method::POST,
        "/users/nope/verification-email",
        None,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let plain = server_with(&[]).await;
    let bearer = admin_token(&plain).await;
    let id = user_id(&plain, &bearer, EMAIL).await;
    let (status, body) = api(
        &plain,
        &bearer,
        reqwest::Method::POST,
        &format!("/users/{id}/verification-email"),
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "email_not_configured");
}

#[tokio::test]
async fn creating_an_invitation_mails_its_link() {
    let smtp = SmtpReceiver::start().await;
    let server = server_sending_to(&smtp).await;
    let bearer = admin_token(&server).await;
    let (_, org) = api(
        &server,
        &bearer,
        reqwest::Method::POST,
        "/organizations",
        Some(json!({"name": "acme", "display_name": "ACME"})),
    )
    .await;
    let path = format!("/organizations/{}/invitations", org["id"].as_str().unwrap());
    let (status, created) = api(
        &server,
        &bearer,
        reqwest::Method::POST,
        &path,
        Some(json!({"email": NEW})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let url = created["url"].as_str().unwrap();
    let mail = smtp
        .wait_for(NEW, 1, Duration::from_secs(15))
        .await
        .remove(0);
    assert!(
        mail.subject().unwrap().contains("ACME"),
        "{:?}",
        mail.subject()
    );
    assert_eq!(mail.link(url).as_deref(), Some(url), "{}", mail.text());
    audit_events(&server, &bearer, "invitation.sent", 1).await;
}
