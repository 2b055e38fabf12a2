//! Invitations through the application (issue 23, seed 003, Auth0's model), end to end: the
//! invitation link goes to the application's initiate-login URL with `invitation` and
//! `organization`; the application forwards both to `/oauth/authorize`; the invited email signs
//! in (or up) and the one code is for the organization. The ticket works once, for its email.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;
#[path = "organizations/world.rs"]
#[allow(dead_code, reason = "not every step of the world is used here")]
mod world;

use latch_testkit::Browser;
use latch_testkit::browser::AuthorizeStep;
use serde_json::{Value, json};
use support::{EMAIL, PASSWORD, param};
use world::{Attempt, REDIRECT, World, claims, decline_link};

/// The web application's initiate-login URL (OIDC Core §4).
const START: &str = "https://app.example.com/start";
const GRACE: &str = "grace@example.com";

/// A world whose web application has an initiate-login URL, an organization `acme` (its id) and a
/// role `editor`.
async fn invitation_world() -> (World, String) {
    let w = World::start().await;
    let app = format!("/applications/{}", w.web.id);
    w.patch(&app, json!({"redirects": {"initiate_login": START}}))
        .await;
    w.role("editor", &["write:docs"]).await;
    let acme = w.organization("acme").await;
    (w, acme)
}

/// Invites `email` to `org` as an editor, for the web application; the link and its ticket.
async fn invite(w: &World, org: &str, email: &str) -> (url::Url, String) {
    let body = json!({"email": email, "roles": ["editor"], "client_id": w.web.client_id});
    let created = w
        .post(&format!("/organizations/{org}/invitations"), body)
        .await;
    let link = url::Url::parse(created["url"].as_str().unwrap()).unwrap();
    let ticket = param(&link, "invitation").unwrap_or_else(|| panic!("no ticket: {link}"));
    (link, ticket)
}

/// What the application does with the link: an authorization request forwarding `invitation`
/// and `organization` (and any `extra`).
async fn forward(w: &World, link: &url::Url, extra: &[(&str, &str)]) -> Attempt {
    let mut pairs = vec![
        ("invitation", param(link, "invitation").unwrap()),
        ("organization", param(link, "organization").unwrap()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    w.attempt(&["profile"], &pairs).await
}

/// Fills the invitation step's form in `browser` as `email` with `password`.
async fn fill(
    browser: &Browser,
    step: AuthorizeStep,
    email: &str,
    password: &str,
) -> AuthorizeStep {
    let (page, status, html) = step.expect_page();
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Join ACME"), "{html}");
    browser
        .submit_login_form(&page, &html, email, password, REDIRECT)
        .await
}

async fn pending_invitations(w: &World, org: &str) -> usize {
    let listed = w.get(&format!("/organizations/{org}/invitations")).await;
    let data = listed["data"].as_array().unwrap();
    data.iter().filter(|i| i["accepted_at"].is_null()).count()
}

#[track_caller]
fn assert_refused(callback: &url::Url, attempt: &Attempt, error: &str) {
    assert_eq!(
        param(callback, "error").as_deref(),
        Some(error),
        "{callback}"
    );
    assert!(param(callback, "error_description").is_some(), "{callback}");
    assert_eq!(param(callback, "state"), Some(attempt.state.clone()));
    assert!(param(callback, "code").is_none(), "{callback}");
}

#[tokio::test]
async fn an_invitation_forwarded_by_the_application_signs_the_new_member_into_the_organization() {
    let (w, acme) = invitation_world().await;
    let (link, _) = invite(&w, &acme, GRACE).await;
    // The link goes to the application, with what it must forward, and who sent it.
    assert!(link.as_str().starts_with(START), "{link}");
    assert_eq!(param(&link, "organization").as_deref(), Some(acme.as_str()));
    assert_eq!(param(&link, "iss").as_deref(), Some(w.server.issuer()));

    // Grace has no account: she chooses a password on the invitation step, and the request
    // ends with one code for the organization.
    let browser = Browser::new();
    let attempt = forward(&w, &link, &[]).await;
    let step = browser.authorize(&attempt.url, REDIRECT).await;
    let callback = fill(&browser, step, GRACE, PASSWORD)
        .await
        .expect_redirect();
    assert_eq!(param(&callback, "iss").as_deref(), Some(w.server.issuer()));
    let tokens = w.exchange(&attempt, &callback).await;
    let grace = w.user_id(GRACE).await;
    for jwt in [&tokens["id_token"], &tokens["access_token"]] {
        let c = claims(jwt);
        assert_eq!(c["sub"], grace.as_str(), "{c}");
        assert_eq!(c["org_id"], acme.as_str(), "{c}");
        assert_eq!(c["org_name"], "acme", "{c}");
        assert_eq!(c["roles"], json!(["editor"]), "{c}");
    }
    let member = w
        .get(&format!("/organizations/{acme}/members/{grace}"))
        .await;
    assert_eq!(member["roles"], json!(["editor"]));
    assert_eq!(pending_invitations(&w, &acme).await, 0);

    // An existing user signs in with their own password; a wrong one is said so and changes
    // nothing.
    let (link, _) = invite(&w, &acme, EMAIL).await;
    let ada = Browser::new();
    let attempt = forward(&w, &link, &[]).await;
    let step = ada.authorize(&attempt.url, REDIRECT).await;
    let (page, _, html) = fill(&ada, step, EMAIL, "wrong password!")
        .await
        .expect_page();
    assert!(html.contains("incorrect"), "{html}");
    assert_eq!(pending_invitations(&w, &acme).await, 1);
    let callback = ada
        .submit_login_form(&page, &html, EMAIL, PASSWORD, REDIRECT)
        .await
        .expect_redirect();
    let tokens = w.exchange(&attempt, &callback).await;
    assert_eq!(claims(&tokens["id_token"])["org_id"], acme.as_str());
    assert_eq!(pending_invitations(&w, &acme).await, 0);
}

#[tokio::test]
async fn the_same_ticket_twice_or_a_bad_one_is_an_invalid_request_at_the_application() {
    let (w, acme) = invitation_world().await;
    let globex = w.organization("globex").await;
    let (link, ticket) = invite(&w, &acme, GRACE).await;
    let browser = Browser::new();
    let attempt = forward(&w, &link, &[]).await;
    let step = browser.authorize(&attempt.url, REDIRECT).await;
    let callback = fill(&browser, step, GRACE, PASSWORD)
        .await
        .expect_redirect();
    w.exchange(&attempt, &callback).await;

    // Used: refused at the redirect URI, in the member's browser (signed in) and in a fresh one.
    for b in [&browser, &Browser::new()] {
        let again = forward(&w, &link, &[]).await;
        let callback = b.authorize(&again.url, REDIRECT).await.expect_redirect();
        assert_refused(&callback, &again, "invalid_request");
    }

    // Unknown, for another organization, or without the organization.
    let (other, henrys) = invite(&w, &acme, "henry@example.com").await;
    let cases: [&[(&str, &str)]; 3] = [
        &[("invitation", "no-such-ticket"), ("organization", &acme)],
        &[("invitation", henrys.as_str()), ("organization", &globex)],
        &[("invitation", &ticket)],
    ];
    for extra in cases {
        let attempt = w.attempt(&[], extra).await;
        let callback = Browser::new()
            .authorize(&attempt.url, REDIRECT)
            .await
            .expect_redirect();
        assert_refused(&callback, &attempt, "invalid_request");
    }
    // prompt=none: accepting needs a page.
    let attempt = forward(&w, &other, &[("prompt", "none")]).await;
    let callback = Browser::new()
        .authorize(&attempt.url, REDIRECT)
        .await
        .expect_redirect();
    assert_refused(&callback, &attempt, "login_required");
    // None of this used Henry's invitation.
    assert_eq!(pending_invitations(&w, &acme).await, 1);
}

#[tokio::test]
async fn another_email_is_refused_and_uses_nothing() {
    let (w, acme) = invitation_world().await;
    let (link, _) = invite(&w, &acme, GRACE).await;

    // Another email typed on the step.
    let browser = Browser::new();
    let attempt = forward(&w, &link, &[]).await;
    let step = browser.authorize(&attempt.url, REDIRECT).await;
    let step = fill(&browser, step, "mallory@example.com", PASSWORD).await;
    let (page, status, refused) = step.expect_page();
    assert_eq!(status, 403, "{refused}");
    assert!(refused.contains("another email"), "{refused}");
    assert_eq!(
        w.get("/users?email=mallory@example.com").await["data"],
        json!([]),
        "no account was made"
    );

    // Another user signed in: a page says so; the invitation stays unused.
    let ada = Browser::new();
    w.tokens(&ada, &[], &[]).await;
    let other = forward(&w, &link, &[]).await;
    let (_, status, html) = ada.authorize(&other.url, REDIRECT).await.expect_page();
    assert_eq!(status, 403, "{html}");
    assert!(html.contains("another account"), "{html}");
    assert_eq!(pending_invitations(&w, &acme).await, 1);
    let ada_id = w.user_id(EMAIL).await;
    let (status, _) = w
        .call(
            reqwest::Method::GET,
            &format!("/organizations/{acme}/members/{ada_id}"),
            None,
        )
        .await;
    assert_eq!(status, 404, "Ada did not join");

    // The invited email, on the page that refused Mallory, still can.
    let callback = browser
        .submit_login_form(&page, &refused, GRACE, PASSWORD, REDIRECT)
        .await
        .expect_redirect();
    let tokens = w.exchange(&attempt, &callback).await;
    assert_eq!(claims(&tokens["id_token"])["org_id"], acme.as_str());
}

/// The invitation step has the login page's way back: `access_denied` with `state`, the
/// invitation unused.
#[tokio::test]
async fn back_to_the_application_from_the_invitation_step_uses_nothing() {
    let (w, acme) = invitation_world().await;
    let (link, _) = invite(&w, &acme, GRACE).await;
    let browser = Browser::new();
    let attempt = forward(&w, &link, &[]).await;
    let (page, _, html) = browser
        .authorize(&attempt.url, REDIRECT)
        .await
        .expect_page();
    assert!(html.contains(">Back to web</a>"), "{html}");
    let back = decline_link(&html);
    // Still there after a refusal on the page.
    let refused = browser
        .submit_login_form(&page, &html, "mallory@example.com", PASSWORD, REDIRECT)
        .await;
    let (_, _, refused) = refused.expect_page();
    assert_eq!(decline_link(&refused), back);
    let callback = browser.authorize(&back, REDIRECT).await.expect_redirect();
    assert_refused(&callback, &attempt, "access_denied");
    assert_eq!(pending_invitations(&w, &acme).await, 1);
}

/// Without an initiate-login URL, the link is the hosted accept page, which names the
/// application to return to.
#[tokio::test]
async fn without_an_initiate_login_url_the_hosted_page_stays() {
    let w = World::start().await;
    let acme = w.organization("acme").await;
    let body = json!({"email": GRACE, "client_id": w.web.client_id});
    let created: Value = w
        .post(&format!("/organizations/{acme}/invitations"), body)
        .await;
    let url = created["url"].as_str().unwrap();
    assert!(
        url.starts_with(&w.server.url("/invitations/accept?token=")),
        "{created}"
    );
    let (status, html) = world::accept(&Browser::new(), url, GRACE, PASSWORD).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("member of ACME"), "{html}");
    assert!(html.contains("return to web"), "{html}");
}
