//! A user's page in the console: a password-reset mail sent over real SMTP (`SmtpReceiver`)
//! whose link works, no button without e-mail, and the second factors listed and reset through
//! the API's path (the user then signs in with the password alone); each audited with the
//! administrator as the actor.

use std::time::Duration;

use latch_core::totp::{TotpSecret, step_at};
use latch_testkit::html::{Form, parse_forms};
use latch_testkit::{Browser, LatchServer, SmtpReceiver};
use serde_json::Value;

use super::support::*;
use super::{ROOT_EMAIL, add_admin, admin_browser, csrf, page, post};

const REDIRECT: &str = "http://127.0.0.1:7002/cb";

/// The form of `html` whose action ends with `suffix`, if any.
fn form_to(html: &str, suffix: &str) -> Option<Form> {
    parse_forms(html)
        .into_iter()
        .find(|f| f.action.as_deref().is_some_and(|a| a.ends_with(suffix)))
}

async fn user_id(server: &LatchServer, email: &str) -> String {
    let v = server.cli(&["users", "list", "--email", email]).await;
    v[0]["id"].as_str().unwrap().to_owned()
}

/// The events of `kind` by the administrator (their user id: the console's actor), about `user`.
async fn by_admin(server: &LatchServer, kind: &str, admin_id: &str, user: &str) -> Vec<Value> {
    let bearer = admin_token(server).await;
    audit_events(server, &bearer, kind, 1)
        .await
        .into_iter()
        .filter(|e| {
            e["actor"]["type"] == "admin" && e["actor"]["id"] == admin_id && e["user_id"] == user
        })
        .collect()
}

#[tokio::test]
async fn the_console_mails_a_reset_link_that_works() {
    let smtp = SmtpReceiver::start().await;
    let server = add_admin(
        server_with(&[
            ("LATCH_SMTP_URL", &smtp.url()),
            ("LATCH_SMTP_FROM", "Latch <no-reply@example.com>"),
        ])
        .await,
    )
    .await;
    let (admin, html) = admin_browser(&server).await;
    let token = csrf(&html);
    let uid = user_id(&server, EMAIL).await;
    let at = server.url(&format!("/admin/users/{uid}"));
    let (status, html) = page(&admin, &at).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Send password reset"), "{html}");
    let action = server.url(&format!("/admin/users/{uid}/password-reset"));
    assert!(form_to(&html, "/password-reset").is_some(), "{html}");

    // Without the token, or from another site: refused, nothing mailed.
    let (status, _, _) = post(&admin, &action, &[]).await;
    assert_eq!(status, 403);
    let r = admin
        .client()
        .post(&action)
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let (status, _, html) = post(&admin, &action, &[("csrf", &token)]).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(&format!("A password-reset link was sent to {EMAIL}")),
        "{html}"
    );
    let mails = smtp.wait_for(EMAIL, 1, Duration::from_secs(15)).await;
    let link = mails[0]
        .link(&server.url("/password/reset?token="))
        .expect("a reset link");
    // The refused posts mailed nothing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.messages_to(EMAIL).len(), 1);

    // The link works: a new password, then a sign-in with it.
    let browser = Browser::new();
    let r = browser.get(&link).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let form = parse_forms(&html)
        .into_iter()
        .find(|f| f.fields.iter().any(|(k, _)| k == "token"))
        .expect("the new-password form");
    let mut fields = form.fields.clone();
    fields.retain(|(k, _)| k != "password");
    fields.push((
        "password".to_owned(),
        "a brand new horse battery".to_owned(),
    ));
    let done = browser
        .post_form(
            form.action_url(&url::Url::parse(&link).unwrap()).as_str(),
            &fields,
        )
        .await;
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("Password changed"));
    let web = app(&server, "web", REDIRECT, &[]).await;
    let auth = authorization(&rp(&server, &web).await, &["openid"]);
    let callback = Browser::new()
        .sign_in(&auth.url, REDIRECT, EMAIL, "a brand new horse battery")
        .await;
    assert!(param(&callback, "code").is_some(), "{callback}");

    let admin_id = user_id(&server, ROOT_EMAIL).await;
    let events = by_admin(&server, "password_reset.requested", &admin_id, &uid).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["details"]["via"], "console", "{events:?}");
}

#[tokio::test]
async fn without_smtp_there_is_no_reset_button_and_the_post_is_refused() {
    let server = super::server_with_admin().await;
    let (admin, html) = admin_browser(&server).await;
    let token = csrf(&html);
    let uid = user_id(&server, EMAIL).await;
    let (status, html) = page(&admin, &server.url(&format!("/admin/users/{uid}"))).await;
    assert_eq!(status, 200, "{html}");
    assert!(form_to(&html, "/password-reset").is_none(), "{html}");
    assert!(!html.contains("Send password reset"), "{html}");
    let action = server.url(&format!("/admin/users/{uid}/password-reset"));
    let (status, _, html) = post(&admin, &action, &[("csrf", &token)]).await;
    assert_eq!(status, 409, "{html}");
    assert!(html.contains("email_not_configured"), "{html}");
    assert!(!html.contains("was sent"), "{html}");
}

/// Signs the user in with the password in a new browser: the redirect back to the application,
/// or the page asking for a code.
async fn password_sign_in(server: &LatchServer, auth_url: &str) -> (Browser, Option<url::Url>) {
    let browser = Browser::new();
    let (login, _, html) = browser.authorize(auth_url, REDIRECT).await.expect_page();
    let step = browser
        .submit_login_form(&login, &html, EMAIL, PASSWORD, REDIRECT)
        .await;
    match step {
        latch_testkit::AuthorizeStep::Redirected(to) => (browser, Some(to)),
        other => {
            let (at, status, html) = other.expect_page();
            assert_eq!(status, 200, "{html}");
            assert!(
                at.as_str().starts_with(&server.url("/login/second-factor")),
                "{at}: {html}"
            );
            (browser, None)
        }
    }
}

/// Turns the authenticator app on from `/account` (the key read from the page, the code of the
/// step before now, as `second_factors.rs` does).
async fn enrol_totp(server: &LatchServer, browser: &Browser) {
    let account = url::Url::parse(&server.url("/account")).unwrap();
    let (_, html) = page(browser, account.as_str()).await;
    let form = form_to(&html, "/account/totp").expect("the enrol form");
    let (at, status, html) = browser
        .submit_form(&account, &form, REDIRECT)
        .await
        .expect_page();
    assert_eq!(status, 200, "{html}");
    let start = html.find("id=\"totp-secret\">").expect("the key") + 17;
    let key = &html[start..start + html[start..].find('<').unwrap()];
    let secret = TotpSecret::from_base32(key).expect("a base32 key");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut confirm = form_to(&html, "/account/totp/confirm").expect("the confirm form");
    confirm.set("code", &format!("{:06}", secret.code_at(step_at(now) - 1)));
    let (_, status, html) = browser
        .submit_form(&at, &confirm, REDIRECT)
        .await
        .expect_page();
    assert_eq!(status, 200, "{html}");
}

#[tokio::test]
async fn a_factor_is_listed_and_its_reset_lets_the_password_alone_sign_in() {
    let server = super::server_with_admin().await;
    let web = app(&server, "web", REDIRECT, &[]).await;
    let auth = authorization(&rp(&server, &web).await, &["openid"]);
    let (user, signed_in) = password_sign_in(&server, &auth.url).await;
    assert!(signed_in.is_some(), "no factor yet");
    enrol_totp(&server, &user).await;
    let (_, signed_in) = password_sign_in(&server, &auth.url).await;
    assert!(signed_in.is_none(), "the code is now asked");

    let (admin, html) = admin_browser(&server).await;
    let token = csrf(&html);
    let uid = user_id(&server, EMAIL).await;
    let at = server.url(&format!("/admin/users/{uid}"));
    let (_, html) = page(&admin, &at).await;
    assert!(html.contains("id=\"mfa-status\">enrolled<"), "{html}");
    let bearer = admin_token(&server).await;
    let listed: Value = latch_testkit::rp::reqwest_client()
        .get(server.url(&format!("/api/v1/users/{uid}/factors")))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let factor = listed["data"][0]["id"].as_str().unwrap().to_owned();
    let reset = format!("/users/{uid}/factors/{factor}/reset");
    assert!(form_to(&html, &reset).is_some(), "{html}");
    assert!(html.contains("<td>totp</td>"), "{html}");
    assert!(
        !html.contains("otpauth") && !html.contains("totp-secret"),
        "{html}"
    );

    // Cross-site: refused, the factor stays.
    let r = admin
        .client()
        .post(server.url(&format!("/admin{reset}")))
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let (_, html) = page(&admin, &at).await;
    assert!(html.contains("id=\"mfa-status\">enrolled<"), "{html}");

    let (status, location, _) = post(
        &admin,
        &server.url(&format!("/admin{reset}")),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some(at.as_str()));
    let (_, html) = page(&admin, &at).await;
    assert!(html.contains("id=\"mfa-status\">none<"), "{html}");
    assert!(html.contains("No second factor."), "{html}");
    // Again: no such factor any more.
    let (status, _, html) = post(
        &admin,
        &server.url(&format!("/admin{reset}")),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(status, 404, "{html}");
    assert!(html.contains("factor: not found"), "{html}");

    let (_, signed_in) = password_sign_in(&server, &auth.url).await;
    assert!(signed_in.is_some(), "the password alone signs in again");
    let admin_id = user_id(&server, ROOT_EMAIL).await;
    let events = by_admin(&server, "factor.removed", &admin_id, &uid).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["details"]["factor_id"], factor.as_str());
}
