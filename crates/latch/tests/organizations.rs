//! Organizations, memberships, roles, invitations, API resources and custom claims, end to end:
//! the real binary, the management API, and a browser signing in with `organization=` and
//! `audience=` (issue 6).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;
#[path = "organizations/world.rs"]
mod world;

use latch_testkit::Browser;
use reqwest::Method;
use serde_json::json;
use support::{EMAIL, PASSWORD, param};
use world::{World, accept, claims, walk};

const API: &str = "https://api.example.com";

#[tokio::test]
async fn membership_gates_sign_in_with_organization() {
    let w = World::start().await;
    let acme = w.organization("acme").await;
    let globex = w.organization("globex").await;
    w.role("admin", &[]).await;
    let browser = Browser::new();

    // Not a member (and an organization that does not exist): access_denied, state kept.
    for org in ["acme", "no-such-org"] {
        let attempt = w.attempt(&[], &[("organization", org)]).await;
        let callback = w.follow(&browser, &attempt).await.expect_redirect();
        assert_eq!(
            param(&callback, "error").as_deref(),
            Some("access_denied"),
            "{callback}"
        );
        assert_eq!(param(&callback, "state"), Some(attempt.state.clone()));
        assert!(param(&callback, "code").is_none());
    }

    // A member signs in to it, by name or by id; the tokens say where, and with which roles.
    w.add_member(&acme, EMAIL, &["admin"]).await;
    for key in ["acme", acme.as_str()] {
        let tokens = w
            .tokens(&browser, &["profile"], &[("organization", key)])
            .await;
        for jwt in [&tokens["id_token"], &tokens["access_token"]] {
            let c = claims(jwt);
            assert_eq!(c["org_id"], acme.as_str(), "{c}");
            assert_eq!(c["org_name"], "acme");
            assert_eq!(c["roles"], json!(["admin"]));
        }
    }

    // A member of several organizations picks one on a hosted page.
    w.add_member(&globex, EMAIL, &[]).await;
    let attempt = w.attempt(&[], &[]).await;
    let (page, status, html) = w.follow(&browser, &attempt).await.expect_page();
    assert_eq!(status, 200);
    assert!(html.contains("ACME") && html.contains("GLOBEX"), "{html}");
    // It names the application being signed in to (the `web` app of the world).
    assert!(
        html.contains("Choose the organization to sign in to <em>web</em> with."),
        "{html}"
    );
    let mut form = latch_testkit::html::parse_forms(&html).remove(0);
    form.set("organization", &globex);
    let callback = browser
        .submit_form(&page, &form, world::REDIRECT)
        .await
        .expect_redirect();
    let tokens = w.exchange(&attempt, &callback).await;
    assert_eq!(claims(&tokens["access_token"])["org_name"], "globex");
    assert_eq!(claims(&tokens["access_token"])["roles"], json!([]));

    // prompt=none cannot show the picker.
    let attempt = w.attempt(&[], &[("prompt", "none")]).await;
    let callback = w.follow(&browser, &attempt).await.expect_redirect();
    assert_eq!(
        param(&callback, "error").as_deref(),
        Some("interaction_required")
    );
}

/// An API, two roles and a member of `acme` holding `reader`.
async fn rbac_world(allow_offline_access: bool) -> (World, String) {
    let w = World::start().await;
    let api = json!({"identifier": API, "name": "Example API", "permissions": ["read:x", "write:x", "delete:x"],
        "access_token_ttl_seconds": 900, "allow_offline_access": allow_offline_access});
    w.post("/apis", api).await;
    w.role("reader", &["read:x", "other:y"]).await;
    w.role("writer", &["read:x", "write:x"]).await;
    let acme = w.organization("acme").await;
    w.add_member(&acme, EMAIL, &["reader"]).await;
    (w, acme)
}

#[tokio::test]
async fn audience_changes_aud_and_scope() {
    let (w, _) = rbac_world(true).await;
    let browser = Browser::new();
    let extra = [("audience", API), ("organization", "acme")];
    let tokens = w.tokens(&browser, &["offline_access"], &extra).await;
    let at = claims(&tokens["access_token"]);
    assert_eq!(at["aud"], json!([API, w.web.client_id]), "{at}");
    assert_eq!(at["scope"], "openid offline_access read:x");
    assert_eq!(
        at["permissions"],
        json!(["read:x"]),
        "the API's permissions the roles grant"
    );
    assert_eq!(tokens["scope"], "openid offline_access read:x");
    assert_eq!(tokens["expires_in"], 900, "the API's lifetime");
    assert_eq!(
        at["exp"].as_i64().unwrap() - at["iat"].as_i64().unwrap(),
        900
    );
    let id = claims(&tokens["id_token"]);
    assert_eq!(
        id["aud"],
        w.web.client_id.as_str(),
        "the ID token stays the client's"
    );
    assert!(id.get("permissions").is_none());

    // Naming permissions narrows `scope` to those granted and asked for; `permissions` stays.
    let scopes = ["read:x", "delete:x"];
    let tokens = w.tokens(&browser, &scopes, &extra).await;
    let at = claims(&tokens["access_token"]);
    assert_eq!(at["scope"], "openid read:x");
    assert_eq!(at["permissions"], json!(["read:x"]));

    // Without an audience, permissions are refused and the token is the client's alone.
    let attempt = w.attempt(&["read:x"], &[]).await;
    let callback = w.follow(&browser, &attempt).await.expect_redirect();
    assert_eq!(param(&callback, "error").as_deref(), Some("invalid_scope"));
    let tokens = w.tokens(&browser, &[], &[("organization", "acme")]).await;
    let at = claims(&tokens["access_token"]);
    assert_eq!(at["aud"], json!([w.web.client_id]));
    assert!(at.get("permissions").is_none());

    // An unknown audience is an error redirect.
    let attempt = w
        .attempt(&[], &[("audience", "https://unknown.example.com")])
        .await;
    let callback = w.follow(&browser, &attempt).await.expect_redirect();
    assert_eq!(
        param(&callback, "error").as_deref(),
        Some("invalid_request")
    );
    assert!(
        param(&callback, "error_description")
            .unwrap()
            .contains("audience")
    );
}

#[tokio::test]
async fn role_changes_appear_at_the_next_refresh_and_removal_ends_access() {
    let (w, acme) = rbac_world(true).await;
    let browser = Browser::new();
    let extra = [("audience", API), ("organization", "acme")];
    let tokens = w.tokens(&browser, &["offline_access"], &extra).await;
    assert_eq!(claims(&tokens["access_token"])["roles"], json!(["reader"]));
    let user_id = w.user_id(EMAIL).await;
    let member = format!("/organizations/{acme}/members/{user_id}");

    let changed = w.patch(&member, json!({"roles": ["writer"]})).await;
    assert_eq!(changed["roles"], json!(["writer"]));
    let (status, refreshed) = w.refresh(tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{refreshed}");
    let at = claims(&refreshed["access_token"]);
    assert_eq!(at["roles"], json!(["writer"]), "{at}");
    assert_eq!(at["permissions"], json!(["read:x", "write:x"]));
    assert_eq!(at["scope"], "openid offline_access read:x write:x");
    assert_eq!(claims(&refreshed["id_token"])["roles"], json!(["writer"]));

    w.delete(&member).await;
    let (status, body) = w
        .refresh(refreshed["refresh_token"].as_str().unwrap())
        .await;
    support::assert_oauth_error(status, &body, 400, "invalid_grant");
    // Signing in to the organization is refused from now on.
    let attempt = w.attempt(&[], &[("organization", "acme")]).await;
    let callback = w.follow(&browser, &attempt).await.expect_redirect();
    assert_eq!(param(&callback, "error").as_deref(), Some("access_denied"));
}

#[tokio::test]
async fn an_api_without_offline_access_issues_no_refresh_token() {
    let (w, _) = rbac_world(false).await;
    let browser = Browser::new();
    let extra = [("audience", API), ("organization", "acme")];
    let tokens = w.tokens(&browser, &["offline_access"], &extra).await;
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    assert_eq!(tokens["scope"], "openid read:x");
    // The same application without the API still gets one.
    let tokens = w
        .tokens(&browser, &["offline_access"], &[("organization", "acme")])
        .await;
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
}

#[tokio::test]
async fn custom_claims_appear_namespaced_and_registered_names_are_refused() {
    let w = World::start().await;
    let app = format!("/applications/{}", w.web.id);
    let plan = json!({"https://example.com/plan": {"tier": "gold"}});
    let patched = w.patch(&app, json!({"custom_claims": plan})).await;
    assert_eq!(patched["custom_claims"], plan);
    let api = json!({"identifier": API, "name": "API", "custom_claims": {"https://example.com/env": "prod"}});
    w.post("/apis", api).await;

    let browser = Browser::new();
    let tokens = w.tokens(&browser, &[], &[("audience", API)]).await;
    let (at, id) = (claims(&tokens["access_token"]), claims(&tokens["id_token"]));
    assert_eq!(
        at["https://example.com/plan"],
        json!({"tier": "gold"}),
        "{at}"
    );
    assert_eq!(at["https://example.com/env"], "prod");
    assert_eq!(
        id["https://example.com/plan"],
        json!({"tier": "gold"}),
        "{id}"
    );
    assert!(
        id.get("https://example.com/env").is_none(),
        "API claims are for its access tokens"
    );

    for name in [
        "sub",
        "aud",
        "org_id",
        "permissions",
        "plan",
        "urn:example:plan",
    ] {
        let body = json!({"custom_claims": {name: "x"}});
        let (status, err) = w.call(Method::PATCH, &app, Some(body.clone())).await;
        assert_eq!(status, 422, "{name}: {err}");
        assert_eq!(err["error"], "invalid_field");
        assert!(
            err["error_description"].as_str().unwrap().contains(name),
            "{err}"
        );
        let new = json!({"name": "x", "type": "web", "custom_claims": {name: 1}});
        assert_eq!(
            w.call(Method::POST, "/applications", Some(new)).await.0,
            422
        );
        let api = json!({"identifier": "urn:other", "name": "x", "custom_claims": {name: 1}});
        assert_eq!(w.call(Method::POST, "/apis", Some(api)).await.0, 422);
    }
    // A claim is removed with a merge patch's null.
    let removed = w
        .patch(
            &app,
            json!({"custom_claims": {"https://example.com/plan": null}}),
        )
        .await;
    assert_eq!(removed["custom_claims"], json!({}));
}

#[tokio::test]
async fn an_invitation_works_once_for_its_email_until_it_expires() {
    let w = World::start().await;
    let acme = w.organization("acme").await;
    w.role("reader", &["read:x"]).await;
    let invitations = format!("/organizations/{acme}/invitations");
    let grace = "grace@example.com";
    let created = w
        .post(&invitations, json!({"email": grace, "roles": ["reader"]}))
        .await;
    let url = created["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&w.server.url("/invitations/accept?token=")),
        "{created}"
    );
    assert!(created["id"].is_string() && created["expires_at"].is_string());

    // Another email is refused, and the link keeps working for the right one.
    let browser = Browser::new();
    let (status, html) = accept(&browser, &url, "mallory@example.com", PASSWORD).await;
    assert_eq!(status, 403, "{html}");
    assert!(html.contains("another email"), "{html}");
    let (status, html) = accept(&browser, &url, grace, PASSWORD).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("member of ACME"), "{html}");
    let grace_id = w.user_id(grace).await;
    let member = w
        .get(&format!("/organizations/{acme}/members/{grace_id}"))
        .await;
    assert_eq!(member["roles"], json!(["reader"]));
    // The new member's browser is signed in, to the organization.
    let tokens = w.tokens(&browser, &[], &[("organization", "acme")]).await;
    assert_eq!(claims(&tokens["id_token"])["sub"], grace_id.as_str());

    // Used once: the link is dead, in any browser.
    for b in [&browser, &Browser::new()] {
        let (_, status, _) = b.authorize(&url, world::REDIRECT).await.expect_page();
        assert_eq!(status, 400);
    }
    let listed = w.get(&invitations).await;
    assert!(listed["data"][0]["accepted_at"].is_string(), "{listed}");

    // An existing user signs in with their own password to accept.
    let created = w.post(&invitations, json!({"email": EMAIL})).await;
    let ada = Browser::new();
    let url = created["url"].as_str().unwrap();
    let (_, html) = accept(&ada, url, EMAIL, "wrong password!").await;
    assert!(html.contains("incorrect"), "{html}");
    assert_eq!(accept(&ada, url, EMAIL, PASSWORD).await.0, 200);

    // Expired links do not work.
    let body = json!({"email": "late@example.com", "ttl_seconds": 1});
    let created = w.post(&invitations, body).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let url = created["url"].as_str().unwrap();
    let (_, status, _) = Browser::new()
        .authorize(url, world::REDIRECT)
        .await
        .expect_page();
    assert_eq!(status, 400);
}

#[tokio::test]
async fn all_lists_paginate() {
    let w = World::start().await;
    let acme = w.organization("acme").await;
    for i in 0..3 {
        w.organization(&format!("org-{i}")).await;
        w.role(&format!("role-{i}"), &[]).await;
        w.post(
            "/apis",
            json!({"identifier": format!("urn:api:{i}"), "name": "API"}),
        )
        .await;
        let email = format!("user{i}@example.com");
        let user = w
            .post("/users", json!({"email": email, "password": PASSWORD}))
            .await;
        let member = json!({"user_id": user["id"], "roles": [format!("role-{i}")]});
        w.post(&format!("/organizations/{acme}/members"), member)
            .await;
        w.post(
            &format!("/organizations/{acme}/invitations"),
            json!({"email": email}),
        )
        .await;
    }
    let cases = [
        ("/organizations".to_owned(), "id", 4),
        ("/roles".to_owned(), "id", 3),
        ("/apis".to_owned(), "id", 3),
        (format!("/organizations/{acme}/members"), "user_id", 3),
        (format!("/organizations/{acme}/invitations"), "id", 3),
    ];
    for (path, key, total) in cases {
        let (ids, sizes) = walk(&w, &path, key).await;
        assert_eq!(ids.len(), total, "{path}");
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(ids, sorted, "{path}: in order, each once");
        assert!(sizes.iter().all(|n| *n <= 2), "{path}: {sizes:?}");
    }
    let members = w.get(&format!("/organizations/{acme}/members")).await;
    let mut roles: Vec<String> = members["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["roles"].to_string())
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        [r#"["role-0"]"#, r#"["role-1"]"#, r#"["role-2"]"#],
        "each member's own roles"
    );
    let (status, body) = w.call(Method::GET, "/roles?limit=0", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}
