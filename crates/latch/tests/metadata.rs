//! `metadata` and `external_id` on users and organizations, end to end (issue 23): set through
//! the management API and the CLI, changed by RFC 7396 merge patches, looked up with
//! `?external_id=`, refused with the field named, and kept by `latch users import|export`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;
#[path = "organizations/world.rs"]
#[allow(dead_code, reason = "the sign-in steps of the world are not used here")]
mod world;

use reqwest::Method;
use serde_json::{Value, json};
use support::EMAIL;
use world::World;

/// `(status, error code, error_description)` of a refused call.
async fn refused(w: &World, method: Method, path: &str, body: Value) -> (u16, String, String) {
    let (status, body) = w.call(method, path, Some(body)).await;
    let text = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
    (status, text("error"), text("error_description"))
}

/// `depth` nested objects: `{"k": {"k": … 1}}`.
fn nested(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| json!({ "k": inner }))
}

/// The bad metadata values, each refused with 422 naming `metadata`, for a create and a patch.
fn bad_metadata() -> Vec<(Value, &'static str)> {
    vec![
        (json!("gold"), "not an object"),
        (json!([1, 2]), "an array"),
        (nested(6), "six levels deep"),
        (json!({ "big": "x".repeat(16 * 1024) }), "over 16 KiB"),
    ]
}

#[tokio::test]
async fn users_carry_metadata_and_an_external_id_patched_and_looked_up() {
    let w = World::start().await;
    let created = w
        .post(
            "/users",
            json!({
                "email": "meta@example.com",
                "password": "correct horse battery staple",
                "external_id": "crm-7",
                "metadata": {"plan": {"tier": "gold", "seats": 5}, "tags": ["a", "b"]},
            }),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["external_id"], "crm-7");
    assert_eq!(created["metadata"]["plan"]["tier"], "gold");
    // A user created without them shows null and an empty object.
    let ada = w.get(&format!("/users/{}", w.user_id(EMAIL).await)).await;
    assert_eq!(
        (&ada["external_id"], &ada["metadata"]),
        (&Value::Null, &json!({}))
    );

    let found = w.get("/users?external_id=crm-7").await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["data"][0]["id"], id.as_str());
    assert_eq!(found["next_cursor"], Value::Null);
    let none = w.get("/users?external_id=crm-8").await;
    assert_eq!(none, json!({"data": [], "next_cursor": null}));

    // RFC 7396: a nested member set to null is removed, the others stay, new ones are added.
    let patched = w
        .patch(
            &format!("/users/{id}"),
            json!({"metadata": {"plan": {"seats": null, "renews": "2027-01-01"}}}),
        )
        .await;
    assert_eq!(
        patched["metadata"],
        json!({"plan": {"tier": "gold", "renews": "2027-01-01"}, "tags": ["a", "b"]})
    );
    assert_eq!(
        patched["external_id"], "crm-7",
        "untouched by a patch without it"
    );
    assert_eq!(w.get(&format!("/users/{id}")).await, patched, "stored");

    // A duplicate external id is a conflict, on create and on patch, and changes nothing.
    let (status, code, _) = refused(
        &w,
        Method::POST,
        "/users",
        json!({"email": "other@example.com", "password": "correct horse battery staple", "external_id": "crm-7"}),
    )
    .await;
    assert_eq!((status, code.as_str()), (409, "external_id_taken"));
    assert!(w.get("/users?email=other@example.com").await["data"][0].is_null());
    let ada_id = ada["id"].as_str().unwrap();
    let (status, code, _) = refused(
        &w,
        Method::PATCH,
        &format!("/users/{ada_id}"),
        json!({"external_id": "crm-7", "name": "Ada"}),
    )
    .await;
    assert_eq!((status, code.as_str()), (409, "external_id_taken"));
    assert_eq!(
        w.get(&format!("/users/{ada_id}")).await,
        ada,
        "nothing changed"
    );
    // The email conflict still says email.
    let (status, code, _) = refused(
        &w,
        Method::PATCH,
        &format!("/users/{id}"),
        json!({"email": EMAIL}),
    )
    .await;
    assert_eq!((status, code.as_str()), (409, "email_taken"));

    for (bad, why) in bad_metadata() {
        let body = json!({"email": "bad@example.com", "password": "correct horse battery staple", "metadata": bad});
        let (status, code, description) = refused(&w, Method::POST, "/users", body).await;
        assert_eq!((status, code.as_str()), (422, "invalid_field"), "{why}");
        assert!(description.starts_with("metadata"), "{why}: {description}");
        let patch = json!({ "metadata": bad });
        let (status, _, description) =
            refused(&w, Method::PATCH, &format!("/users/{id}"), patch).await;
        assert_eq!(status, 422, "{why}");
        assert!(description.starts_with("metadata"), "{why}: {description}");
    }
    // Five levels (the object itself is the first) is the limit, not an error.
    let five = w
        .patch(
            &format!("/users/{id}"),
            json!({"metadata": {"deep": nested(4)}}),
        )
        .await;
    assert_eq!(five["metadata"]["deep"]["k"]["k"]["k"]["k"], 1);
    for bad in [json!(""), json!("x".repeat(256)), json!(7)] {
        let (status, _, description) = refused(
            &w,
            Method::PATCH,
            &format!("/users/{id}"),
            json!({ "external_id": bad }),
        )
        .await;
        assert_eq!(status, 422, "{bad}");
        assert!(description.starts_with("external_id"), "{description}");
    }
    assert_eq!(
        w.get(&format!("/users/{id}")).await,
        five,
        "refusals changed nothing"
    );

    // Null removes both; the external id is then free for another user.
    let cleared = w
        .patch(
            &format!("/users/{id}"),
            json!({"metadata": null, "external_id": null}),
        )
        .await;
    assert_eq!(
        (&cleared["external_id"], &cleared["metadata"]),
        (&Value::Null, &json!({}))
    );
    let taken = w
        .patch(&format!("/users/{ada_id}"), json!({"external_id": "crm-7"}))
        .await;
    assert_eq!(taken["external_id"], "crm-7");
    let found = w.get("/users?external_id=crm-7").await;
    assert_eq!(found["data"][0]["id"], ada_id);
}

#[tokio::test]
async fn organizations_carry_json_metadata_and_an_external_id() {
    let w = World::start().await;
    let acme = w
        .post(
            "/organizations",
            json!({"name": "acme", "external_id": "tenant-1", "metadata": {"billing": {"plan": "pro", "limits": [10]}}}),
        )
        .await;
    let id = acme["id"].as_str().unwrap().to_owned();
    assert_eq!(acme["external_id"], "tenant-1");
    // A string map, the form organizations' metadata had before, stays valid.
    let plain = w
        .post(
            "/organizations",
            json!({"name": "plain", "metadata": {"tier": "gold"}}),
        )
        .await;
    assert_eq!(plain["metadata"], json!({"tier": "gold"}));
    assert_eq!(plain["external_id"], Value::Null);

    let found = w.get("/organizations?external_id=tenant-1").await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["data"][0]["id"], id.as_str());
    assert_eq!(found["next_cursor"], Value::Null);
    assert_eq!(
        w.get("/organizations?external_id=tenant-2").await["data"],
        json!([])
    );
    // Users and organizations are apart: a user may hold the same external id.
    let user = w
        .patch(
            &format!("/users/{}", w.user_id(EMAIL).await),
            json!({"external_id": "tenant-1"}),
        )
        .await;
    assert_eq!(user["external_id"], "tenant-1");

    let patched = w
        .patch(
            &format!("/organizations/{id}"),
            json!({"metadata": {"billing": {"plan": null, "seats": 3}}}),
        )
        .await;
    assert_eq!(
        patched["metadata"],
        json!({"billing": {"limits": [10], "seats": 3}})
    );

    let (status, code, _) = refused(
        &w,
        Method::POST,
        "/organizations",
        json!({"name": "other", "external_id": "tenant-1"}),
    )
    .await;
    assert_eq!((status, code.as_str()), (409, "external_id_taken"));
    let plain_id = plain["id"].as_str().unwrap();
    let (status, code, _) = refused(
        &w,
        Method::PATCH,
        &format!("/organizations/{plain_id}"),
        json!({"external_id": "tenant-1"}),
    )
    .await;
    assert_eq!((status, code.as_str()), (409, "external_id_taken"));
    let (status, code, _) = refused(
        &w,
        Method::PATCH,
        &format!("/organizations/{plain_id}"),
        json!({"name": "acme"}),
    )
    .await;
    assert_eq!((status, code.as_str()), (409, "name_taken"));
    for (bad, why) in bad_metadata() {
        let (status, _, description) = refused(
            &w,
            Method::POST,
            "/organizations",
            json!({"name": "bad", "metadata": bad}),
        )
        .await;
        assert_eq!(status, 422, "{why}");
        assert!(description.starts_with("metadata"), "{why}: {description}");
        let (status, _, description) = refused(
            &w,
            Method::PATCH,
            &format!("/organizations/{id}"),
            json!({ "metadata": bad }),
        )
        .await;
        assert_eq!(status, 422, "{why}");
        assert!(description.starts_with("metadata"), "{why}: {description}");
    }
    assert_eq!(
        w.get(&format!("/organizations/{id}")).await,
        patched,
        "unchanged"
    );
}

#[tokio::test]
async fn the_openapi_document_shows_metadata_and_external_id() {
    let w = World::start().await;
    let doc = w.get("/openapi.json").await;
    for schema in [
        "User",
        "NewUser",
        "UserPatch",
        "Organization",
        "NewOrganization",
        "OrganizationPatch",
    ] {
        let properties = &doc["components"]["schemas"][schema]["properties"];
        assert!(properties["metadata"].is_object(), "{schema}: {properties}");
        assert!(
            properties["external_id"].is_object(),
            "{schema}: {properties}"
        );
    }
    let params = |path: &str| -> Vec<String> {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(params("/users").contains(&"external_id".to_owned()));
    assert!(params("/organizations").contains(&"external_id".to_owned()));
}

#[tokio::test]
async fn the_cli_creates_users_with_metadata_and_an_external_id() {
    let w = World::start().await;
    let user = w
        .server
        .cli(&[
            "users",
            "create",
            "--email",
            "cli@example.com",
            "--password",
            "correct horse battery staple",
            "--external-id",
            "crm-cli",
            "--metadata",
            r#"{"source": {"system": "crm"}}"#,
        ])
        .await;
    assert_eq!(user["external_id"], "crm-cli");
    assert_eq!(user["metadata"]["source"]["system"], "crm");
    let found = w.get("/users?external_id=crm-cli").await;
    assert_eq!(found["data"][0]["id"], user["id"]);
    for metadata in ["[1]", "not json", &nested(6).to_string()] {
        let out = w
            .server
            .cli_output(&[
                "users",
                "create",
                "--email",
                "cli2@example.com",
                "--password",
                "correct horse battery staple",
                "--metadata",
                metadata,
            ])
            .await;
        assert!(!out.status.success(), "{metadata}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("metadata"), "{metadata}: {stderr}");
    }
    assert!(w.get("/users?email=cli2@example.com").await["data"][0].is_null());
}

/// `latch users update`: the API's merge patch, its validation, and never a password.
#[tokio::test]
async fn the_cli_merge_patches_metadata_and_the_external_id() {
    let w = World::start().await;
    let id = w.user_id(EMAIL).await;
    let patch = json!({"metadata": {"plan": {"tier": "gold"}, "seats": 3}, "external_id": "crm-7"});
    let user = w
        .server
        .cli(&["users", "update", &id, &patch.to_string()])
        .await;
    assert_eq!(
        user["metadata"],
        json!({"plan": {"tier": "gold"}, "seats": 3})
    );
    let second = json!({"metadata": {"seats": null, "plan": {"trial": true}}, "external_id": null});
    let user = w
        .server
        .cli(&["users", "update", &id, &second.to_string()])
        .await;
    assert_eq!(
        user["metadata"],
        json!({"plan": {"tier": "gold", "trial": true}}),
        "RFC 7396: members merged, null removes"
    );
    assert_eq!(user["external_id"], Value::Null);
    assert_eq!(
        w.get(&format!("/users/{id}")).await["metadata"],
        user["metadata"]
    );

    let deep = json!({ "metadata": nested(6) }).to_string();
    let refusals = [
        (deep.as_str(), "metadata"),
        ("not json", "not JSON"),
        (r#"{"password": "another horse battery"}"#, "password"),
        (r#"{"admin": true}"#, "admin"),
    ];
    for (arg, named) in refusals {
        let out = w.server.cli_output(&["users", "update", &id, arg]).await;
        assert!(!out.status.success(), "{arg}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "{arg}: {stderr}");
    }
    assert_eq!(
        w.get(&format!("/users/{id}")).await["metadata"],
        user["metadata"]
    );
    let out = w
        .server
        .cli_output(&["users", "update", "no-such-user", "{}"])
        .await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("not_found"));
}

#[tokio::test]
async fn import_and_export_keep_metadata_and_external_ids() {
    let w = World::start().await;
    let file = [
        r#"{"email":"one@example.com","external_id":"crm-1","metadata":{"plan":{"tier":"gold"},"n":[1,2]}}"#,
        r#"{"email":"two@example.com","external_id":"crm-1"}"#,
        r#"{"email":"three@example.com","metadata":"gold"}"#,
        r#"{"email":"four@example.com","metadata":{"a":{"b":{"c":{"d":{"e":{}}}}}}}"#,
        r#"{"email":"five@example.com","external_id":""}"#,
        r#"{"email":"six@example.com","external_id":null,"metadata":null}"#,
    ]
    .join("\n");
    let path = w.server.data_dir().join("meta.jsonl");
    std::fs::write(&path, &file).unwrap();
    let out = w
        .server
        .cli_output(&["users", "import", path.to_str().unwrap()])
        .await;
    assert!(!out.status.success(), "failed lines make the command fail");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["imported"], 2, "{report}");
    let failed: Vec<(u64, String)> = report["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["line"].as_u64().unwrap(),
                f["error"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let lines: Vec<u64> = failed.iter().map(|(n, _)| *n).collect();
    assert_eq!(lines, [2, 3, 4, 5], "{report}");
    for ((_, error), field) in
        failed
            .iter()
            .zip(["external_id", "metadata", "metadata", "external_id"])
    {
        assert!(error.contains(field), "{error}");
    }
    assert!(w.get("/users?email=two@example.com").await["data"][0].is_null());
    let one = &w.get("/users?external_id=crm-1").await["data"][0];
    assert_eq!(one["email"], "one@example.com");
    assert_eq!(
        one["metadata"],
        json!({"plan": {"tier": "gold"}, "n": [1, 2]})
    );

    // Through the management API too, and again (idempotent on email).
    let body = r#"{"email":"api@example.com","external_id":"crm-api","metadata":{"k":{"v":true}}}"#;
    for (imported, existing) in [(1, 0), (0, 1)] {
        let resp = latch_testkit::rp::reqwest_client()
            .post(w.server.url("/api/v1/users/import"))
            .bearer_auth(w.token())
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let report: Value = resp.json().await.unwrap();
        assert_eq!(
            (report["imported"].as_u64(), report["existing"].as_u64()),
            (Some(imported), Some(existing)),
            "{report}"
        );
    }
    assert_eq!(
        w.get("/users?external_id=crm-api").await["data"][0]["metadata"],
        json!({"k": {"v": true}})
    );

    // Export writes both; importing the export elsewhere gives the same lines back.
    let export = |server: &latch_testkit::LatchServer, name: &str| {
        let path = server.data_dir().join(name);
        (path.clone(), path.to_str().unwrap().to_owned())
    };
    let (a_path, a_arg) = export(&w.server, "a.jsonl");
    w.server
        .cli(&["users", "export", &a_arg, "--include-password-hashes"])
        .await;
    let a_text = std::fs::read_to_string(&a_path).unwrap();
    let a_lines: Vec<Value> = a_text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let one = a_lines
        .iter()
        .find(|l| l["email"] == "one@example.com")
        .unwrap();
    assert_eq!(one["external_id"], "crm-1");
    assert_eq!(one["metadata"]["plan"]["tier"], "gold");
    let six = a_lines
        .iter()
        .find(|l| l["email"] == "six@example.com")
        .unwrap();
    assert_eq!(
        (&six["external_id"], &six["metadata"]),
        (&Value::Null, &json!({}))
    );

    let b = latch_testkit::LatchServer::start(support::bin()).await;
    let (b_in, b_in_arg) = export(&b, "in.jsonl");
    std::fs::write(&b_in, &a_text).unwrap();
    let report = b.cli(&["users", "import", &b_in_arg]).await;
    assert_eq!(report["failed_count"], 0, "{report}");
    let (b_path, b_arg) = export(&b, "b.jsonl");
    b.cli(&["users", "export", &b_arg, "--include-password-hashes"])
        .await;
    let b_lines: Vec<Value> = std::fs::read_to_string(&b_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(b_lines, a_lines, "the round trip keeps every field");
}
