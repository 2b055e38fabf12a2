//! The console's organizations (members, invitations), roles and APIs, and an application's
//! back-channel deliveries: each change as the management API would make it, with its messages,
//! audited with the administrator as the actor; refused cross-site, without the CSRF token, and
//! once the administrator's access is withdrawn.

use std::time::Duration;

use latch_testkit::html::parse_forms;
use latch_testkit::{BackchannelReceiver, Browser, LatchServer};
use serde_json::Value;

use super::support::*;
use super::{ROOT_EMAIL, admin_browser, csrf, input_value, page, page_showing, post};

/// `GET /api/v1{path}` with the bearer token.
async fn api_get(server: &LatchServer, bearer: &str, path: &str) -> (u16, Value) {
    let r = latch_testkit::rp::reqwest_client()
        .get(server.url(&format!("/api/v1{path}")))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The id at the end of a `Location` (`…/organizations/{id}`).
fn id_of(location: &Option<String>) -> String {
    let l = location.as_deref().expect("a redirect");
    l.rsplit('/').next().unwrap().to_owned()
}

/// A form built from owned values, as `post` takes it.
fn refs<'a>(form: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    form.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn user_id(v: &Value) -> String {
    v[0]["id"].as_str().unwrap().to_owned()
}

/// Asserts that the `management.change` events hold each action with the administrator as actor.
async fn assert_audited(server: &LatchServer, bearer: &str, admin_id: &str, actions: &[&str]) {
    let changes = audit_events(server, bearer, "management.change", actions.len()).await;
    for action in actions {
        let found = changes.iter().any(|e| {
            e["details"]["action"] == *action
                && e["details"]["via"] == "console"
                && e["actor"]["type"] == "admin"
                && e["actor"]["id"] == admin_id
        });
        assert!(found, "{action} by {admin_id}: {changes:?}");
    }
}

#[tokio::test]
async fn an_organization_gets_members_with_roles_and_an_invitation() {
    let server = super::server_with_admin().await;
    let (admin, html) = admin_browser(&server).await;
    let token = csrf(&html);
    let bearer = admin_token(&server).await;
    let roles = server.url("/admin/roles");
    let (status, _, _) = post(
        &admin,
        &roles,
        &[("csrf", &token), ("name", "billing admin")],
    )
    .await;
    assert_eq!(status, 303);

    // A name that is not a slug: the API's message, what was typed kept.
    let orgs = server.url("/admin/organizations");
    let (status, _, html) = post(
        &admin,
        &orgs,
        &[
            ("csrf", &token),
            ("name", "Acme Inc"),
            ("display_name", "Acme"),
        ],
    )
    .await;
    assert_eq!(status, 422, "{html}");
    assert!(
        html.contains(
            "name: must be 1 to 50 lowercase letters, digits or hyphens, not starting with a hyphen"
        ),
        "{html}"
    );
    assert!(html.contains("value=\"Acme Inc\""), "{html}");
    let (status, location, _) = post(
        &admin,
        &orgs,
        &[("csrf", &token), ("name", "acme"), ("display_name", "Acme")],
    )
    .await;
    assert_eq!(status, 303);
    let org = id_of(&location);
    let (status, v) = api_get(&server, &bearer, &format!("/organizations/{org}")).await;
    assert_eq!((status, v["display_name"].as_str()), (200, Some("Acme")));
    let org_url = server.url(&format!("/admin/organizations/{org}"));
    let (status, html) = page(&admin, &org_url).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("billing admin"), "roles offered: {html}");

    // A member by e-mail: an unknown role is refused as the API names it, then added.
    let members = format!("{org_url}/members");
    let add = |roles: &'static str| {
        [
            ("csrf", token.clone()),
            ("email", EMAIL.to_owned()),
            ("roles", roles.to_owned()),
        ]
    };
    let (status, _, html) = post(&admin, &members, &refs(&add("billing admin, ghost"))).await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("roles[1]: no role has this name"), "{html}");
    assert!(html.contains("id=\"member-error\""), "{html}");
    let (status, _, html) = post(
        &admin,
        &members,
        &[("csrf", token.as_str()), ("email", "nobody@example.com")],
    )
    .await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("email: no user has this email"), "{html}");
    let (status, location, _) = post(&admin, &members, &refs(&add("billing admin"))).await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some(org_url.as_str()));
    let (status, _, html) = post(&admin, &members, &refs(&add(""))).await;
    assert_eq!(status, 409, "a member already: {html}");
    assert!(html.contains("the user is a member already"), "{html}");
    let ada = user_id(&server.cli(&["users", "list", "--email", EMAIL]).await);
    let member = format!("/organizations/{org}/members/{ada}");
    let (_, v) = api_get(&server, &bearer, &member).await;
    assert_eq!(v["roles"], serde_json::json!(["billing admin"]), "{v}");

    // Roles changed (emptied), then the member removed.
    let (status, _, _) = post(
        &admin,
        &server.url(&format!("/admin{member}")),
        &[("csrf", token.as_str()), ("roles", "")],
    )
    .await;
    assert_eq!(status, 303);
    let (_, v) = api_get(&server, &bearer, &member).await;
    assert_eq!(v["roles"], serde_json::json!([]), "{v}");
    let (status, _, _) = post(
        &admin,
        &server.url(&format!("/admin{member}/remove")),
        &[("csrf", token.as_str())],
    )
    .await;
    assert_eq!(status, 303);
    let (status, _) = api_get(&server, &bearer, &member).await;
    assert_eq!(status, 404);

    // An invitation: its link shown once; listed pending (never with its link); revoked.
    let invitations = format!("{org_url}/invitations");
    let (status, _, html) = post(
        &admin,
        &invitations,
        &[("csrf", token.as_str()), ("email", "not an email")],
    )
    .await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("id=\"invitation-error\""), "{html}");
    let (status, _, html) = post(
        &admin,
        &invitations,
        &[
            ("csrf", token.as_str()),
            ("email", "grace@example.com"),
            ("roles", "billing admin"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("you won't see it again"), "{html}");
    let link = input_value(&html, "invitation-url");
    assert!(
        link.starts_with(&server.url("/invitations/accept?token=")),
        "{link}"
    );
    let invalid = "This invitation link is invalid";
    let (status, html) = page(&Browser::new(), &link).await;
    assert_eq!(
        status, 200,
        "the link opens the hosted invitation page: {html}"
    );
    assert!(
        html.contains("Join Acme") && !html.contains(invalid),
        "{html}"
    );
    let (_, html) = page(&admin, &org_url).await;
    assert!(
        html.contains("grace@example.com") && html.contains(">pending<"),
        "{html}"
    );
    let secret = link.rsplit('=').next().unwrap();
    assert!(!html.contains(secret), "the link is shown once");
    let revoke: Vec<String> = parse_forms(&html)
        .into_iter()
        .filter_map(|f| f.action.filter(|a| a.ends_with("/revoke")))
        .collect();
    assert_eq!(revoke.len(), 1, "{html}");
    let (status, _, _) = post(&admin, &revoke[0], &[("csrf", &token)]).await;
    assert_eq!(status, 303);
    let (_, v) = api_get(
        &server,
        &bearer,
        &format!("/organizations/{org}/invitations"),
    )
    .await;
    assert_eq!(v["data"], serde_json::json!([]), "{v}");
    let (_, html) = page(&Browser::new(), &link).await;
    assert!(
        html.contains(invalid),
        "a revoked link no longer works: {html}"
    );

    // Renamed; a wrong confirmation keeps it; the right one deletes it.
    let (status, _, _) = post(
        &admin,
        &format!("{org_url}/settings"),
        &[
            ("csrf", token.as_str()),
            ("name", "acme-corp"),
            ("display_name", ""),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let (_, v) = api_get(&server, &bearer, &format!("/organizations/{org}")).await;
    assert_eq!(
        (v["name"].as_str(), &v["display_name"]),
        (Some("acme-corp"), &Value::Null)
    );
    let delete = format!("{org_url}/delete");
    let (status, _, _) = post(
        &admin,
        &delete,
        &[("csrf", token.as_str()), ("confirm", "acme")],
    )
    .await;
    assert_eq!(status, 422);
    let (status, _, _) = post(
        &admin,
        &delete,
        &[("csrf", token.as_str()), ("confirm", "acme-corp")],
    )
    .await;
    assert_eq!(status, 303);
    let (status, _) = api_get(&server, &bearer, &format!("/organizations/{org}")).await;
    assert_eq!(status, 404);

    let root = user_id(&server.cli(&["users", "list", "--email", ROOT_EMAIL]).await);
    let actions = [
        "organization.create",
        "organization.add_member",
        "organization.update_member",
        "organization.remove_member",
        "organization.invite",
        "organization.revoke_invitation",
        "organization.update",
        "organization.delete",
    ];
    assert_audited(&server, &bearer, &root, &actions).await;
    let changes = audit_events(&server, &bearer, "management.change", actions.len()).await;
    assert!(
        !changes.iter().any(|e| e.to_string().contains(secret)),
        "the invitation link is never logged"
    );
}

#[tokio::test]
async fn roles_and_apis_are_created_edited_and_deleted_with_the_apis_messages() {
    let server = super::server_with_admin().await;
    let (admin, html) = admin_browser(&server).await;
    let token = csrf(&html);
    let bearer = admin_token(&server).await;

    // A role: a permission without `:` refused with the API's message, then created and edited.
    let roles = server.url("/admin/roles");
    let (status, _, html) = post(
        &admin,
        &roles,
        &[
            ("csrf", token.as_str()),
            ("name", "viewer"),
            ("permissions", "read:invoices\nreadall"),
        ],
    )
    .await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("permissions[1]: must be up to"), "{html}");
    assert!(html.contains("readall"), "what was typed is kept: {html}");
    let (status, location, _) = post(
        &admin,
        &roles,
        &[
            ("csrf", token.as_str()),
            ("name", "viewer"),
            ("description", "Reads invoices"),
            ("permissions", "read:invoices\nread:customers"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let role = id_of(&location);
    let (_, v) = api_get(&server, &bearer, &format!("/roles/{role}")).await;
    assert_eq!(
        v["permissions"],
        serde_json::json!(["read:invoices", "read:customers"])
    );
    let (status, _, html) = post(
        &admin,
        &roles,
        &[("csrf", token.as_str()), ("name", "viewer")],
    )
    .await;
    assert_eq!(status, 409, "{html}");
    assert!(html.contains("a role with this name exists"), "{html}");
    let role_url = server.url(&format!("/admin/roles/{role}"));
    let (status, _, _) = post(
        &admin,
        &role_url,
        &[
            ("csrf", token.as_str()),
            ("name", "reader"),
            ("permissions", "read:invoices"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let (_, v) = api_get(&server, &bearer, &format!("/roles/{role}")).await;
    assert_eq!(
        (v["name"].as_str(), &v["description"]),
        (Some("reader"), &Value::Null)
    );
    assert_eq!(v["permissions"], serde_json::json!(["read:invoices"]));

    // An API: a lifetime out of bounds refused with the API's message, then created and edited.
    let apis = server.url("/admin/apis");
    let api_form = |ttl: &'static str| {
        [
            ("csrf", token.clone()),
            ("identifier", "https://billing.example/api".to_owned()),
            ("name", "Billing API".to_owned()),
            ("permissions", "read:invoices write:invoices".to_owned()),
            ("access_token_ttl_seconds", ttl.to_owned()),
            ("allow_offline_access", "on".to_owned()),
        ]
    };
    let (status, _, html) = post(&admin, &apis, &refs(&api_form("30"))).await;
    assert_eq!(status, 422, "{html}");
    assert!(
        html.contains("access_token_ttl_seconds: must be between 60 and 86400"),
        "{html}"
    );
    let (status, _, html) = post(&admin, &apis, &refs(&api_form("soon"))).await;
    assert_eq!(status, 422, "{html}");
    assert!(
        html.contains("access_token_ttl_seconds: invalid type"),
        "{html}"
    );
    let (status, location, _) = post(&admin, &apis, &refs(&api_form("600"))).await;
    assert_eq!(status, 303);
    let api = id_of(&location);
    let (_, v) = api_get(&server, &bearer, &format!("/apis/{api}")).await;
    assert_eq!(v["identifier"], "https://billing.example/api");
    assert_eq!(v["access_token_ttl_seconds"], 600);
    assert_eq!(v["allow_offline_access"], true);
    assert_eq!(
        v["permissions"],
        serde_json::json!(["read:invoices", "write:invoices"])
    );
    let api_url = server.url(&format!("/admin/apis/{api}"));
    let (status, html) = page(&admin, &api_url).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("https://billing.example/api") && html.contains(" checked"),
        "{html}"
    );
    // Unchecked is off; empty lifetime is the default; the identifier cannot change.
    let (status, _, _) = post(
        &admin,
        &api_url,
        &[
            ("csrf", token.as_str()),
            ("identifier", "https://other.example"),
            ("name", "Billing"),
            ("permissions", "read:invoices"),
            ("access_token_ttl_seconds", ""),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let (_, v) = api_get(&server, &bearer, &format!("/apis/{api}")).await;
    assert_eq!(v["identifier"], "https://billing.example/api");
    assert_eq!(
        (v["name"].as_str(), &v["access_token_ttl_seconds"]),
        (Some("Billing"), &Value::Null)
    );
    assert_eq!(v["allow_offline_access"], false);

    // Deleted with the name (role) and the identifier (API) typed.
    let (status, _, _) = post(
        &admin,
        &format!("{role_url}/delete"),
        &[("csrf", token.as_str()), ("confirm", "viewer")],
    )
    .await;
    assert_eq!(status, 422);
    let (status, _, _) = post(
        &admin,
        &format!("{role_url}/delete"),
        &[("csrf", token.as_str()), ("confirm", "reader")],
    )
    .await;
    assert_eq!(status, 303);
    let (status, _, _) = post(
        &admin,
        &format!("{api_url}/delete"),
        &[("csrf", token.as_str()), ("confirm", "Billing")],
    )
    .await;
    assert_eq!(status, 422);
    let (status, _, _) = post(
        &admin,
        &format!("{api_url}/delete"),
        &[
            ("csrf", token.as_str()),
            ("confirm", "https://billing.example/api"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(
        api_get(&server, &bearer, &format!("/roles/{role}")).await.0,
        404
    );
    assert_eq!(
        api_get(&server, &bearer, &format!("/apis/{api}")).await.0,
        404
    );

    let root = user_id(&server.cli(&["users", "list", "--email", ROOT_EMAIL]).await);
    let actions = [
        "role.create",
        "role.update",
        "role.delete",
        "api.create",
        "api.update",
        "api.delete",
    ];
    assert_audited(&server, &bearer, &root, &actions).await;
}

#[tokio::test]
async fn the_new_console_actions_refuse_forged_posts_and_withdrawn_admins() {
    let server = super::server_with_admin().await;
    let (root, html) = admin_browser(&server).await;
    let token = csrf(&html);
    let bearer = admin_token(&server).await;
    let (_, location, _) = post(
        &root,
        &server.url("/admin/organizations"),
        &[("csrf", token.as_str()), ("name", "acme")],
    )
    .await;
    let org = id_of(&location);
    let (_, location, _) = post(
        &root,
        &server.url("/admin/roles"),
        &[("csrf", token.as_str()), ("name", "viewer")],
    )
    .await;
    let role = id_of(&location);
    let (_, location, _) = post(
        &root,
        &server.url("/admin/apis"),
        &[
            ("csrf", token.as_str()),
            ("identifier", "https://a.example"),
            ("name", "A"),
        ],
    )
    .await;
    let api = id_of(&location);
    let ada = user_id(&server.cli(&["users", "list", "--email", EMAIL]).await);
    let actions = [
        "/admin/organizations".to_owned(),
        format!("/admin/organizations/{org}/settings"),
        format!("/admin/organizations/{org}/members"),
        format!("/admin/organizations/{org}/members/{ada}"),
        format!("/admin/organizations/{org}/members/{ada}/remove"),
        format!("/admin/organizations/{org}/invitations"),
        format!("/admin/organizations/{org}/invitations/x/revoke"),
        format!("/admin/organizations/{org}/delete"),
        "/admin/roles".to_owned(),
        format!("/admin/roles/{role}"),
        format!("/admin/roles/{role}/delete"),
        "/admin/apis".to_owned(),
        format!("/admin/apis/{api}"),
        format!("/admin/apis/{api}/delete"),
    ];
    let form = |csrf: &str, confirm: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("confirm", confirm.to_owned()),
            ("name", "forged".to_owned()),
            ("email", EMAIL.to_owned()),
            ("identifier", "https://forged.example".to_owned()),
        ]
    };
    for path in &actions {
        // Cross-site with a valid token, and same-site without one: refused before any handler.
        let r = root
            .client()
            .post(server.url(path))
            .header("origin", "https://evil.example")
            .header("sec-fetch-site", "cross-site")
            .form(&refs(&form(&token, "acme")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "cross-site {path}");
        let (status, _, _) = post(&root, &server.url(path), &refs(&form("", "acme")[1..])).await;
        assert_eq!(status, 403, "tokenless {path}");
    }
    // Nothing changed.
    let (status, v) = api_get(&server, &bearer, &format!("/organizations/{org}")).await;
    assert_eq!((status, v["name"].as_str()), (200, Some("acme")));
    assert_eq!(
        api_get(&server, &bearer, &format!("/organizations/{org}/members"))
            .await
            .1["data"],
        serde_json::json!([])
    );
    assert_eq!(
        api_get(&server, &bearer, &format!("/roles/{role}")).await.1["name"],
        "viewer"
    );
    assert_eq!(
        api_get(&server, &bearer, &format!("/apis/{api}")).await.1["name"],
        "A"
    );
    let (_, v) = api_get(&server, &bearer, "/organizations").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1, "{v}");

    // Ada is made an administrator, signs in, and loses the flag: her next page and form are
    // refused although her console cookie is still sealed and unexpired.
    let (status, _, _) = post(
        &root,
        &server.url(&format!("/admin/users/{ada}/admin")),
        &[("csrf", token.as_str()), ("admin", "on")],
    )
    .await;
    assert_eq!(status, 303);
    let ada_browser = Browser::new();
    let (_, status, html) = super::sign_in(&server, &ada_browser, EMAIL, PASSWORD)
        .await
        .expect_page();
    assert_eq!(status, 200, "{html}");
    let ada_token = csrf(&html);
    let (status, _) = page(
        &ada_browser,
        &server.url(&format!("/admin/organizations/{org}")),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = post(
        &root,
        &server.url(&format!("/admin/users/{ada}/admin")),
        &[("csrf", token.as_str()), ("admin", "off")],
    )
    .await;
    assert_eq!(status, 303);
    for path in ["/admin/organizations", "/admin/roles", "/admin/apis"] {
        let r = ada_browser.get(&server.url(path)).await;
        assert_eq!(r.status(), 303, "{path}: sent to sign in");
    }
    let (status, _, _) = post(
        &ada_browser,
        &server.url(&format!("/admin/organizations/{org}/delete")),
        &[("csrf", ada_token.as_str()), ("confirm", "acme")],
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        api_get(&server, &bearer, &format!("/organizations/{org}"))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn an_applications_page_shows_its_back_channel_deliveries() {
    let server = super::server_with_admin().await;
    let receiver = BackchannelReceiver::start().await;
    receiver.fail_first(3);
    let bc = receiver.url("/bc");
    let web = app(
        &server,
        "web",
        "http://127.0.0.1:7001/cb",
        &["--backchannel-logout-uri", &bc],
    )
    .await;
    let user = Browser::new();
    let client = rp(&server, &web).await;
    let auth = authorization(&client, &[]);
    sign_in_for_code(&server, &user, &auth, &web.redirect_uri).await;

    let (admin, html) = admin_browser(&server).await;
    let token = csrf(&html);
    let app_url = server.url(&format!("/admin/applications/{}", web.id));
    let (_, html) = page(&admin, &app_url).await;
    assert!(html.contains("No back-channel logout sent yet."), "{html}");
    let ada = user_id(&server.cli(&["users", "list", "--email", EMAIL]).await);
    let (status, _, _) = post(
        &admin,
        &server.url(&format!("/admin/users/{ada}/sessions/end")),
        &[("csrf", token.as_str())],
    )
    .await;
    assert_eq!(status, 303);
    // The receiver answers 500 three times: pending, with the generic reason; then delivered.
    let html = page_showing(&admin, &app_url, "HTTP 500").await;
    assert!(html.contains("class=\"delivery-status\">pending"), "{html}");
    receiver.wait_for(1, Duration::from_secs(20)).await;
    let mut delivered = String::new();
    for _ in 0..50 {
        delivered = page(&admin, &app_url).await.1;
        if delivered.contains("class=\"delivery-status\">delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        delivered.contains("class=\"delivery-status\">delivered"),
        "{delivered}"
    );
    assert!(delivered.contains(&bc), "{delivered}");
}
