//! The admin console at `/admin`, end to end: signing in through the hosted login (admins in,
//! others refused), forms refused from other sites or without their CSRF token, an application's
//! secrets and redirects managed as the API would, a user's session ended, and
//! `LATCH_ADMIN_CONSOLE=off`. Organizations, roles, APIs and back-channel deliveries:
//! `console/organizations.rs`. (The same tasks in Chromium: `browser.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "console/organizations.rs"]
mod organizations;
#[path = "console/users.rs"]
mod users;

use latch_testkit::html::parse_forms;
use latch_testkit::{AuthorizeStep, Browser, LatchServer};
use reqwest::StatusCode;
use support::*;

const ROOT_EMAIL: &str = "root@example.com";
const ROOT_PASSWORD: &str = "a long admin passphrase";

async fn server_with_admin() -> LatchServer {
    add_admin(server().await).await
}

/// `server` with its administrator, `ROOT_EMAIL`.
async fn add_admin(server: LatchServer) -> LatchServer {
    let v = server
        .cli(&[
            "users",
            "create",
            "--email",
            ROOT_EMAIL,
            "--password",
            ROOT_PASSWORD,
            "--admin",
        ])
        .await;
    assert_eq!(v["admin"], true, "{v}");
    server
}

/// Opens the console in a fresh browser and signs in through the hosted login; returns where
/// the sign-in ended (a console page, or the refusal).
async fn sign_in(
    server: &LatchServer,
    browser: &Browser,
    email: &str,
    password: &str,
) -> AuthorizeStep {
    let console = server.url("/admin/applications");
    let (url, status, html) = browser
        .authorize(&console, "http://never.example")
        .await
        .expect_page();
    assert_eq!(status, 200, "{url}: {html}");
    assert!(url.path().ends_with("/login"), "the hosted login: {url}");
    browser
        .submit_login_form(&url, &html, email, password, "http://never.example")
        .await
}

/// Signs in as the admin; returns the applications page's HTML.
async fn admin_browser(server: &LatchServer) -> (Browser, String) {
    let browser = Browser::new();
    let (url, status, html) = sign_in(server, &browser, ROOT_EMAIL, ROOT_PASSWORD)
        .await
        .expect_page();
    assert_eq!(status, 200, "{url}: {html}");
    assert_eq!(url.as_str(), server.url("/admin/applications"));
    (browser, html)
}

/// The CSRF token of the page's forms.
fn csrf(html: &str) -> String {
    parse_forms(html)
        .iter()
        .find_map(|f| f.get("csrf").map(str::to_owned))
        .expect("a form with a csrf field")
}

async fn page(browser: &Browser, url: &str) -> (StatusCode, String) {
    let r = browser.get(url).await;
    (r.status(), r.text().await.unwrap())
}

async fn post(
    browser: &Browser,
    url: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Option<String>, String) {
    let r = browser.post_form(url, form).await;
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    (r.status(), location, r.text().await.unwrap())
}

/// The page once it shows `needle` (audit events are written in batches); panics after 5 s.
async fn page_showing(browser: &Browser, url: &str, needle: &str) -> String {
    for _ in 0..50 {
        let (status, html) = page(browser, url).await;
        assert_eq!(status, 200, "{html}");
        if html.contains(needle) {
            return html;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{url} never showed {needle}");
}

/// The value of `<input id="{id}" … value="…">`.
fn input_value(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}:\n{html}"));
    let rest = &html[at..];
    let start = rest.find("value=\"").unwrap() + 7;
    let end = start + rest[start..].find('"').unwrap();
    latch_testkit::html::decode_entities(&rest[start..end])
}

#[tokio::test]
async fn only_admins_get_in_and_the_console_session_needs_the_latch_session() {
    let server = server_with_admin().await;

    // No console session: a page sends the browser to sign in; a post is refused.
    let anonymous = Browser::new();
    let r = anonymous.get(&server.url("/admin/users")).await;
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&server.url("/admin/login")),
        "{location}"
    );
    let (status, _, _) = post(
        &anonymous,
        &server.url("/admin/applications"),
        &[("name", "x"), ("type", "web")],
    )
    .await;
    assert_eq!(status, 403);

    // A user without the flag signs in to Latch but not to the console.
    let refused = Browser::new();
    let (url, status, html) = sign_in(&server, &refused, EMAIL, PASSWORD)
        .await
        .expect_page();
    assert_eq!(status, 403, "{url}: {html}");
    assert!(html.contains("not an administrator"), "{html}");
    let r = refused.get(&server.url("/admin/applications")).await;
    assert_eq!(r.status(), 303, "still no console session");

    // The admin gets in; the cookie is scoped to the console and HttpOnly.
    let (admin, html) = admin_browser(&server).await;
    // No token reaches the browser: no JWT in the page; one script, from the console's file.
    assert!(
        !html.contains("eyJ") && !html.contains("access_token"),
        "{html}"
    );
    let r = admin.get(&server.url("/admin/applications")).await;
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.starts_with("default-src 'none';"), "{csp}");
    assert!(
        csp.contains(&format!("script-src {}/assets/console-", server.issuer())),
        "{csp}"
    );
    assert!(!csp.contains("unsafe"), "{csp}");
    let script = csp.rsplit("script-src ").next().unwrap();
    let r = admin.get(script).await;
    assert_eq!(r.status(), 200, "{script}");
    assert!(
        html.contains(ROOT_EMAIL) && html.contains("Latch admin console"),
        "{html}"
    );
    let names: Vec<String> = admin
        .cookies_for(&server.url("/admin/"))
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(names.contains(&"latch_console".to_owned()), "{names:?}");
    assert!(
        !admin
            .cookies_for(&server.url("/"))
            .iter()
            .any(|(k, _)| k == "latch_console"),
        "the console cookie stays under /admin"
    );

    // Ending the admin's Latch sessions ends console access (CLI → management layer).
    let user = server.cli(&["users", "list", "--email", ROOT_EMAIL]).await;
    let id = user[0]["id"].as_str().unwrap();
    let token = admin_token(&server).await;
    let r = latch_testkit::rp::reqwest_client()
        .delete(server.url(&format!("/api/v1/users/{id}/sessions")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = admin.get(&server.url("/admin/applications")).await;
    assert_eq!(
        r.status(),
        303,
        "the console session ended with the Latch session"
    );

    // Sign-ins are audited: the refusal as a failure.
    let events = audit_events(&server, &token, "console.sign_in", 2).await;
    assert!(
        events
            .iter()
            .any(|e| e["outcome"] == "failure" && e["reason"] == "not_admin"),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["outcome"] == "success" && e["user_id"] == id),
        "{events:?}"
    );
}

#[tokio::test]
async fn cross_site_and_tokenless_posts_to_console_actions_are_refused() {
    let server = server_with_admin().await;
    let (admin, html) = admin_browser(&server).await;
    let token = csrf(&html);
    let create = server.url("/admin/applications");
    let good = [
        ("csrf", token.as_str()),
        ("name", "Forged"),
        ("type", "web"),
    ];
    let apps_before = server
        .cli(&["apps", "list"])
        .await
        .as_array()
        .unwrap()
        .len();

    // Without the token, with another session's token, or from another site: refused.
    let (status, _, _) = post(&admin, &create, &[("name", "Forged"), ("type", "web")]).await;
    assert_eq!(status, 403);
    let (status, _, _) = post(
        &admin,
        &create,
        &[
            ("csrf", "not-the-token"),
            ("name", "Forged"),
            ("type", "web"),
        ],
    )
    .await;
    assert_eq!(status, 403);
    for (header, value) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let r = admin
            .client()
            .post(&create)
            .header(header, value)
            .form(&good)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{header}: {value}");
    }
    // Each console action, posted cross-site with a valid token, is refused before it runs.
    let user = server.cli(&["users", "list", "--email", EMAIL]).await;
    let uid = user[0]["id"].as_str().unwrap();
    for path in [
        "/admin/applications".to_owned(),
        format!("/admin/users/{uid}/sessions/end"),
        format!("/admin/users/{uid}/delete"),
        format!("/admin/users/{uid}/admin"),
        format!("/admin/users/{uid}/password-reset"),
        format!("/admin/users/{uid}/factors/any/reset"),
        "/admin/keys/rotate".to_owned(),
        "/admin/users".to_owned(),
        "/admin/logout".to_owned(),
    ] {
        let r = admin
            .client()
            .post(server.url(&path))
            .header("origin", "https://evil.example")
            .header("sec-fetch-site", "cross-site")
            .form(&[
                ("csrf", token.as_str()),
                ("confirm", EMAIL),
                ("admin", "on"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
    }
    assert_eq!(
        server
            .cli(&["apps", "list"])
            .await
            .as_array()
            .unwrap()
            .len(),
        apps_before
    );
    assert!(server.cli(&["users", "list", "--email", EMAIL]).await[0]["admin"] == false);

    // The same form from the console itself works.
    let r = admin
        .client()
        .post(&create)
        .header("origin", server.issuer().trim_end_matches('/'))
        .header("sec-fetch-site", "same-origin")
        .form(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        server
            .cli(&["apps", "list"])
            .await
            .as_array()
            .unwrap()
            .len(),
        apps_before + 1
    );
}

#[tokio::test]
async fn an_application_is_created_its_redirects_checked_and_its_secrets_rotated() {
    let server = server_with_admin().await;
    let (admin, html) = admin_browser(&server).await;
    let token = csrf(&html);

    // A web application: its first secret is shown once, and works at the token endpoint.
    let (status, _, html) = post(
        &admin,
        &server.url("/admin/applications"),
        &[("csrf", &token), ("name", "Billing"), ("type", "web")],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("you won't see it again"), "{html}");
    let client_id = input_value(&html, "client-id");
    let first = input_value(&html, "client-secret");
    let form = [("grant_type", "client_credentials")];
    let (status, body, _) = support::token(&server, &form, Some((&client_id, &first))).await;
    assert_eq!(status, 200, "{body}");
    let app = server
        .cli(&["apps", "list"])
        .await
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["client_id"] == client_id.as_str())
        .cloned()
        .unwrap();
    let id = app["id"].as_str().unwrap().to_owned();
    let page_url = server.url(&format!("/admin/applications/{id}"));

    // A redirect the API refuses is refused with the API's message, what was typed kept.
    let redirects = server.url(&format!("/admin/applications/{id}/redirects"));
    let (status, _, html) = post(
        &admin,
        &redirects,
        &[
            ("csrf", &token),
            ("post_login", "http://billing.example/callback"),
        ],
    )
    .await;
    assert_eq!(status, 422, "{html}");
    assert!(
        html.contains(
            "redirects.post_login[0]: `http://billing.example/callback` must use https (http is allowed only for loopback hosts)"
        ),
        "{html}"
    );
    assert!(html.contains("http://billing.example/callback"), "{html}");
    let (status, location, _) = post(
        &admin,
        &redirects,
        &[
            ("csrf", &token),
            (
                "post_login",
                "https://billing.example/callback\r\nhttps://billing.example/cb2",
            ),
            ("post_logout", "https://billing.example/"),
            ("backchannel_logout", ""),
        ],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some(page_url.as_str()));
    let v = server.cli(&["apps", "list"]).await;
    let app = v
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id.as_str())
        .unwrap();
    assert_eq!(
        app["redirects"]["post_login"],
        serde_json::json!([
            "https://billing.example/callback",
            "https://billing.example/cb2"
        ])
    );

    // A second secret; then the first revoked: the old one fails, the new one works.
    let (status, _, html) = post(
        &admin,
        &server.url(&format!("/admin/applications/{id}/secrets")),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    let second = input_value(&html, "client-secret");
    assert_ne!(first, second);
    let (_, html) = page(&admin, &page_url).await;
    let revoke: Vec<String> = parse_forms(&html)
        .into_iter()
        .filter_map(|f| f.action.filter(|a| a.ends_with("/revoke")))
        .collect();
    assert_eq!(revoke.len(), 2, "{html}");
    // Listed oldest first: the first form revokes the first secret.
    let (status, _, _) = post(&admin, &revoke[0], &[("csrf", &token)]).await;
    assert_eq!(status, 303);
    let (status, body, _) = support::token(&server, &form, Some((&client_id, &first))).await;
    assert_eq!(status, 401, "the revoked secret: {body}");
    let (status, body, _) = support::token(&server, &form, Some((&client_id, &second))).await;
    assert_eq!(status, 200, "the new secret: {body}");

    // Deleting takes the name typed.
    let delete = server.url(&format!("/admin/applications/{id}/delete"));
    let (status, _, html) = post(&admin, &delete, &[("csrf", &token), ("confirm", "Bill")]).await;
    assert_eq!(status, 422, "{html}");
    let (status, _, _) = post(&admin, &delete, &[("csrf", &token), ("confirm", "Billing")]).await;
    assert_eq!(status, 303);
    let (status, body, _) = support::token(&server, &form, Some((&client_id, &second))).await;
    assert_eq!(status, 401, "{body}");

    // The changes are audited with the admin as the actor.
    let bearer = admin_token(&server).await;
    let root = server.cli(&["users", "list", "--email", ROOT_EMAIL]).await;
    let root_id = root[0]["id"].as_str().unwrap();
    let revoked = audit_events(&server, &bearer, "secret.revoked", 1).await;
    assert_eq!(revoked[0]["actor"]["id"], root_id);
    assert_eq!(revoked[0]["actor"]["type"], "admin");
    let changes = audit_events(&server, &bearer, "management.change", 3).await;
    for action in [
        "application.create",
        "application.update_redirects",
        "application.delete",
    ] {
        assert!(
            changes
                .iter()
                .any(|e| e["details"]["action"] == action && e["actor"]["id"] == root_id),
            "{action}: {changes:?}"
        );
    }
}

#[tokio::test]
async fn an_admin_ends_a_users_session_and_their_refresh_token_stops_working() {
    let server = server_with_admin().await;
    let web = app(&server, "web", "http://127.0.0.1:7999/cb", &[]).await;
    let client = rp(&server, &web).await;
    let auth = authorization(&client, &["openid", "offline_access"]);
    let user_browser = Browser::new();
    let code = sign_in_for_code(&server, &user_browser, &auth, &web.redirect_uri).await;
    let tokens = exchange(&server, &web, code.secret(), auth).await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    let (admin, _) = admin_browser(&server).await;
    let (status, html) = page(
        &admin,
        &server.url(&format!("/admin/users?email={}", "ADA@example.com")),
    )
    .await;
    assert_eq!(status, 200);
    let user = server.cli(&["users", "list", "--email", EMAIL]).await;
    let uid = user[0]["id"].as_str().unwrap();
    assert!(
        html.contains(&format!("/admin/users/{uid}")),
        "found by email: {html}"
    );
    let (status, html) = page(&admin, &server.url(&format!("/admin/users/{uid}"))).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("web"),
        "the session names its application: {html}"
    );
    let token = csrf(&html);
    let (status, _, _) = post(
        &admin,
        &server.url(&format!("/admin/users/{uid}/sessions/end")),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(status, 303);
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    let secret = web.client_secret.clone().unwrap();
    let (status, body, _) = support::token(&server, &form, Some((&web.client_id, &secret))).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");

    // Console access granted (a recent sign-in: this one), but not to oneself.
    let (status, _, _) = post(
        &admin,
        &server.url(&format!("/admin/users/{uid}/admin")),
        &[("csrf", &token), ("admin", "on")],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(
        server.cli(&["users", "list", "--email", EMAIL]).await[0]["admin"],
        true
    );
    let root = server.cli(&["users", "list", "--email", ROOT_EMAIL]).await;
    let root_id = root[0]["id"].as_str().unwrap();
    let (status, _, _) = post(
        &admin,
        &server.url(&format!("/admin/users/{root_id}/admin")),
        &[("csrf", &token), ("admin", "off")],
    )
    .await;
    assert_eq!(status, 422);

    // A key rotation shows the new key as next.
    let (_, html) = page(&admin, &server.url("/admin/keys")).await;
    assert!(html.contains(">active<"), "{html}");
    let (status, _, _) = post(
        &admin,
        &server.url("/admin/keys/rotate"),
        &[("csrf", &token), ("alg", "RS256")],
    )
    .await;
    assert_eq!(status, 303);
    let (_, html) = page(&admin, &server.url("/admin/keys")).await;
    assert!(html.contains(">next<"), "{html}");

    // The audit log shows it, newest first (events are written in batches: wait for them).
    let html = page_showing(&admin, &server.url("/admin/audit?type=session.ended"), uid).await;
    assert!(html.contains("session.ended"), "{html}");
    let html = page_showing(&admin, &server.url("/admin/audit"), "key.rotate").await;
    let first = html.find("key.rotate").expect("the rotation in the log");
    let older = html
        .find("console.sign_in")
        .expect("the sign-in in the log");
    assert!(first < older, "newest first");
}

#[tokio::test]
async fn the_console_can_be_turned_off() {
    let server = server_with(&[("LATCH_ADMIN_CONSOLE", "off")]).await;
    let r = Browser::new().get(&server.url("/admin")).await;
    assert_eq!(r.status(), 404);
    let apps = server.cli(&["apps", "list"]).await;
    assert!(
        !apps
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["client_id"] == "latch-console"),
        "{apps}"
    );
    // `grant-admin` works either way.
    let v = server
        .cli(&["users", "grant-admin", "ADA@example.com"])
        .await;
    assert_eq!(v["admin"], true, "{v}");
}
