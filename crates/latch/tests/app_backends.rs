//! What an application's backend does with Latch (issue 23, seeds 001 and 003), end to end: a
//! user's organizations listed with the user's roles in each, through the management API and
//! the CLI; claims from data (claim mappings of applications and APIs) in the ID token, the
//! access token and userinfo, changing at the next refresh.
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
use reqwest::Method;
use serde_json::{Value, json};
use support::EMAIL;
use world::{World, claims, decline_link, walk};

#[tokio::test]
async fn a_users_organizations_are_listed_with_their_roles_in_each_and_paged() {
    let w = World::start().await;
    w.role("editor", &["write:docs"]).await;
    w.role("viewer", &["read:docs"]).await;
    let acme = w.organization("acme").await;
    let globex = w.organization("globex").await;
    let initech = w.organization("initech").await;
    let _hooli = w.organization("hooli").await;
    w.add_member(&acme, EMAIL, &["viewer", "editor"]).await;
    w.add_member(&globex, EMAIL, &[]).await;
    w.add_member(&initech, EMAIL, &["viewer"]).await;
    // Another member of acme, with other roles: never shown as the user's.
    let bob = w
        .post(
            "/users",
            json!({"email": "bob@example.com", "password": "correct horse battery staple"}),
        )
        .await;
    let bob = bob["id"].as_str().unwrap().to_owned();
    w.post(
        &format!("/organizations/{globex}/members"),
        json!({"user_id": bob, "roles": ["editor"]}),
    )
    .await;

    let user = w.user_id(EMAIL).await;
    let path = format!("/users/{user}/organizations");
    let all = w.get(&path).await;
    assert_eq!(all["next_cursor"], Value::Null);
    let mut want = vec![
        json!({"id": acme, "name": "acme", "display_name": "ACME", "roles": ["editor", "viewer"]}),
        json!({"id": globex, "name": "globex", "display_name": "GLOBEX", "roles": []}),
        json!({"id": initech, "name": "initech", "display_name": "INITECH", "roles": ["viewer"]}),
    ];
    want.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    assert_eq!(
        all["data"],
        Value::Array(want.clone()),
        "by id, hooli left out"
    );

    let (ids, sizes) = walk(&w, &path, "id").await;
    assert_eq!(sizes, [2, 1]);
    let want_ids: Vec<&str> = want.iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids, want_ids);

    // A role change and a removal show at once.
    w.patch(
        &format!("/organizations/{initech}/members/{user}"),
        json!({"roles": ["editor"]}),
    )
    .await;
    w.delete(&format!("/organizations/{acme}/members/{user}"))
        .await;
    let after = w.get(&path).await;
    let names: Vec<(&str, &Value)> = after["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["name"].as_str().unwrap(), &o["roles"]))
        .collect();
    assert!(names.contains(&("initech", &json!(["editor"]))), "{after}");
    assert!(!names.iter().any(|(n, _)| *n == "acme"), "{after}");

    // Bob sees only globex, with his own role.
    let his = w.get(&format!("/users/{bob}/organizations")).await;
    assert_eq!(his["data"].as_array().unwrap().len(), 1, "{his}");
    assert_eq!(his["data"][0]["roles"], json!(["editor"]));

    // The CLI lists the same.
    let cli = w.server.cli(&["users", "organizations", &user]).await;
    assert_eq!(cli, after["data"]);
}

#[tokio::test]
async fn listing_the_organizations_of_no_user_or_with_a_bad_page_is_refused() {
    let w = World::start().await;
    let (status, body) = w
        .call(Method::GET, "/users/no-such-user/organizations", None)
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "not_found");

    let user = w.user_id(EMAIL).await;
    let none = w.get(&format!("/users/{user}/organizations")).await;
    assert_eq!(none, json!({"data": [], "next_cursor": null}));
    for bad in ["limit=0", "limit=201", "limit=x", "role=admin"] {
        let (status, body) = w
            .call(
                Method::GET,
                &format!("/users/{user}/organizations?{bad}"),
                None,
            )
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }

    let out = w
        .server
        .cli_output(&["users", "organizations", "no-such-user"])
        .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not_found"), "{stderr}");
}

#[tokio::test]
async fn the_openapi_document_describes_a_users_organizations() {
    let w = World::start().await;
    let doc = w.get("/openapi.json").await;
    let op = &doc["paths"]["/users/{id}/organizations"]["get"];
    assert_eq!(op["operationId"], "listUserOrganizations", "{op}");
    let schema = &doc["components"]["schemas"]["UserOrganization"];
    for field in ["id", "name", "display_name", "roles"] {
        assert!(
            schema["properties"].get(field).is_some(),
            "{field}: {schema}"
        );
    }
}

const API: &str = "https://api.example.com";

/// Maps data to claims on the web application and an API; sets the user's and acme's data.
async fn claims_world() -> (World, String, String) {
    let w = World::start().await;
    let app = format!("/applications/{}", w.web.id);
    let mappings = json!([
        {"claim": "https://example.com/tier", "source": "user.metadata.plan.tier", "destinations": ["id_token", "access_token"]},
        {"claim": "https://example.com/crm", "source": "user.external_id", "destinations": ["userinfo"]},
        {"claim": "https://example.com/region", "source": "organization.metadata.region", "destinations": ["id_token", "access_token", "userinfo"]},
        {"claim": "https://example.com/verified", "source": "user.email_verified", "destinations": ["access_token"]},
        {"claim": "https://example.com/env", "source": "literal", "value": "prod", "destinations": ["access_token"]},
        {"claim": "https://example.com/missing", "source": "user.metadata.nope", "destinations": ["id_token", "access_token", "userinfo"]},
    ]);
    let patched = w.patch(&app, json!({"claim_mappings": mappings})).await;
    assert_eq!(patched["claim_mappings"], mappings);
    let api = json!({"identifier": API, "name": "API", "allow_offline_access": true, "claim_mappings": [
        {"claim": "https://example.com/org-crm", "source": "organization.external_id", "destinations": ["access_token"]},
    ]});
    w.post("/apis", api).await;
    let acme = w.organization("acme").await;
    w.patch(
        &format!("/organizations/{acme}"),
        json!({"metadata": {"region": "eu"}, "external_id": "acct-9"}),
    )
    .await;
    w.add_member(&acme, EMAIL, &[]).await;
    let user = w.user_id(EMAIL).await;
    w.patch(
        &format!("/users/{user}"),
        json!({"metadata": {"plan": {"tier": "gold"}}, "external_id": "crm-1"}),
    )
    .await;
    (w, acme, user)
}

#[tokio::test]
async fn mapped_claims_come_from_the_data_and_change_at_the_next_refresh() {
    let (w, acme, user) = claims_world().await;
    let browser = Browser::new();
    let extra = [("organization", "acme"), ("audience", API)];
    let tokens = w.tokens(&browser, &["offline_access"], &extra).await;
    let (at, id) = (claims(&tokens["access_token"]), claims(&tokens["id_token"]));
    assert_eq!(at["https://example.com/tier"], "gold", "{at}");
    assert_eq!(at["https://example.com/region"], "eu");
    assert_eq!(at["https://example.com/verified"], false);
    assert_eq!(at["https://example.com/env"], "prod");
    assert_eq!(
        at["https://example.com/org-crm"], "acct-9",
        "the API's mapping"
    );
    assert!(at.get("https://example.com/crm").is_none(), "userinfo only");
    assert!(
        at.get("https://example.com/missing").is_none(),
        "a missing value is left out"
    );
    assert_eq!(id["https://example.com/tier"], "gold", "{id}");
    assert_eq!(id["https://example.com/region"], "eu");
    for absent in ["crm", "env", "verified", "org-crm", "missing"] {
        let name = format!("https://example.com/{absent}");
        assert!(id.get(&name).is_none(), "{name} in {id}");
    }
    let access_token = tokens["access_token"].as_str().unwrap();
    let (status, info) = support::userinfo(&w.server, access_token).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["https://example.com/crm"], "crm-1", "{info}");
    assert_eq!(info["https://example.com/region"], "eu");
    assert!(info.get("https://example.com/tier").is_none());

    // The data changes; the next refresh (and userinfo at once) shows it.
    w.patch(
        &format!("/users/{user}"),
        json!({"metadata": {"plan": {"tier": "platinum"}}, "external_id": null, "email_verified": true}),
    )
    .await;
    w.patch(
        &format!("/organizations/{acme}"),
        json!({"metadata": {"region": null}}),
    )
    .await;
    let (_, info) = support::userinfo(&w.server, access_token).await;
    assert!(info.get("https://example.com/crm").is_none(), "{info}");
    assert!(info.get("https://example.com/region").is_none(), "{info}");
    let (status, refreshed) = w.refresh(tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{refreshed}");
    let (at, id) = (
        claims(&refreshed["access_token"]),
        claims(&refreshed["id_token"]),
    );
    assert_eq!(at["https://example.com/tier"], "platinum", "{at}");
    assert_eq!(at["https://example.com/verified"], true);
    assert!(at.get("https://example.com/region").is_none(), "{at}");
    assert_eq!(id["https://example.com/tier"], "platinum", "{id}");
}

#[tokio::test]
async fn a_client_credentials_token_carries_only_what_needs_no_user() {
    let (w, _, _) = claims_world().await;
    let form = [("grant_type", "client_credentials")];
    let basic = (
        w.web.client_id.as_str(),
        w.web.client_secret.as_deref().unwrap(),
    );
    let (status, body, _) = support::token(&w.server, &form, Some(basic)).await;
    assert_eq!(status, 200, "{body}");
    let at = claims(&body["access_token"]);
    assert_eq!(at["https://example.com/env"], "prod", "{at}");
    for absent in ["tier", "region", "verified", "crm"] {
        let name = format!("https://example.com/{absent}");
        assert!(at.get(&name).is_none(), "{name} in {at}");
    }
}

#[tokio::test]
async fn bad_claim_mappings_are_refused_naming_the_field_and_change_nothing() {
    let w = World::start().await;
    let app = format!("/applications/{}", w.web.id);
    let one = |source: &str, extra: Value| {
        let mut m = json!({"claim": "https://example.com/x", "source": source, "destinations": ["id_token"]});
        m.as_object_mut()
            .unwrap()
            .extend(extra.as_object().cloned().unwrap());
        json!({"claim_mappings": [m]})
    };
    let cases = [
        (
            one("user.password_hash", json!({})),
            "claim_mappings[0].source",
        ),
        (one("user.metadata", json!({})), "claim_mappings[0].source"),
        (
            one("user.external_id", json!({"claim": "sub"})),
            "claim_mappings[0].claim",
        ),
        (
            one("user.external_id", json!({"claim": "plan"})),
            "claim_mappings[0].claim",
        ),
        (one("literal", json!({})), "claim_mappings[0].value"),
        (
            one("user.external_id", json!({"destinations": ["cookie"]})),
            "claim_mappings[0].destinations[0]",
        ),
        (
            one("user.external_id", json!({"destinations": []})),
            "claim_mappings[0].destinations",
        ),
    ];
    for (body, field) in &cases {
        let (status, answer) = w.call(Method::PATCH, &app, Some(body.clone())).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(answer["error"], "invalid_field", "{answer}");
        let description = answer["error_description"].as_str().unwrap();
        assert!(
            description.starts_with(&format!("{field}: ")),
            "{field}: {description}"
        );
    }
    let created = json!({"name": "x", "type": "web", "claim_mappings": [
        {"claim": "https://example.com/x", "source": "user.nickname", "destinations": ["id_token"]},
    ]});
    let (status, answer) = w.call(Method::POST, "/applications", Some(created)).await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .contains("claim_mappings[0].source")
    );
    // An API's mappings go into its access tokens only.
    let api = json!({"identifier": API, "name": "API", "claim_mappings": [
        {"claim": "https://example.com/x", "source": "user.external_id", "destinations": ["id_token"]},
    ]});
    let (status, answer) = w.call(Method::POST, "/apis", Some(api)).await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .starts_with("claim_mappings[0].destinations[0]"),
        "{answer}"
    );
    let unchanged = w.get(&app).await;
    assert_eq!(unchanged["claim_mappings"], json!([]));
}

#[tokio::test]
async fn back_to_the_application_returns_access_denied_with_state_and_iss() {
    let w = World::start().await;
    let browser = Browser::new();
    let attempt = w.attempt(&[], &[]).await;
    let (page, status, html) = browser
        .authorize(&attempt.url, world::REDIRECT)
        .await
        .expect_page();
    assert_eq!(status, 200);
    assert!(html.contains(">Back to web</a>"), "{html}");
    let login = latch_testkit::html::find_login_form(&html).unwrap();
    let link = decline_link(&html);
    let login_request = login.get("login_request").unwrap();
    assert!(
        link.ends_with(&format!("/login/decline?login_request={login_request}")),
        "{link}"
    );

    // From another browser (no binding cookie), the same link changes nothing.
    let stranger = Browser::new();
    let (_, status, _) = stranger
        .authorize(&link, world::REDIRECT)
        .await
        .expect_page();
    assert_eq!(status, 400);

    let callback = browser
        .authorize(&link, world::REDIRECT)
        .await
        .expect_redirect();
    assert!(callback.as_str().starts_with(world::REDIRECT), "{callback}");
    assert_eq!(
        support::param(&callback, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(
        support::param(&callback, "state").as_deref(),
        Some(attempt.state.as_str())
    );
    assert_eq!(
        support::param(&callback, "iss").as_deref(),
        Some(w.server.issuer())
    );
    assert_eq!(support::param(&callback, "code"), None);

    // The request is used up: neither signing in nor declining again works.
    let (_, status, _) = browser
        .submit_login_form(&page, &html, EMAIL, support::PASSWORD, world::REDIRECT)
        .await
        .expect_page();
    assert_eq!(status, 400);
    let (_, status, _) = browser
        .authorize(&link, world::REDIRECT)
        .await
        .expect_page();
    assert_eq!(status, 400);
}

/// `latch apps claim-mappings` replaces an application's mappings as the API's merge patch does,
/// with the same validation.
#[tokio::test]
async fn the_cli_sets_claim_mappings_with_the_apis_rules() {
    let w = World::start().await;
    let id = w.web.client_id.as_str();
    let mappings = json!([
        {"claim": "https://example.com/plan", "source": "user.metadata.plan", "destinations": ["id_token"]},
    ]);
    let shown = w
        .server
        .cli(&["apps", "claim-mappings", id, &mappings.to_string()])
        .await;
    assert_eq!(shown["claim_mappings"], mappings, "{shown}");
    let app = format!("/applications/{}", w.web.id);
    assert_eq!(w.get(&app).await["claim_mappings"], mappings);

    let bad = json!([{"claim": "https://example.com/x", "source": "user.password", "destinations": ["id_token"]}]);
    for arg in [bad.to_string(), "not json".to_owned()] {
        let out = w
            .server
            .cli_output(&["apps", "claim-mappings", id, &arg])
            .await;
        assert!(!out.status.success(), "{arg}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("claim_mappings") || stderr.contains("not JSON"),
            "{stderr}"
        );
    }
    assert_eq!(w.get(&app).await["claim_mappings"], mappings, "unchanged");

    // The mapping is in effect: the user's data in the ID token.
    let user = w.user_id(EMAIL).await;
    w.patch(
        &format!("/users/{user}"),
        json!({"metadata": {"plan": "gold"}}),
    )
    .await;
    // In effect within a second (the application cache polls the store).
    let browser = Browser::new();
    let mut plan = Value::Null;
    for _ in 0..30 {
        let tokens = w.tokens(&browser, &[], &[]).await;
        plan = claims(&tokens["id_token"])["https://example.com/plan"].clone();
        if plan != Value::Null {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(plan, "gold");

    let cleared = w.server.cli(&["apps", "claim-mappings", id, "[]"]).await;
    assert_eq!(cleared["claim_mappings"], json!([]));
}
