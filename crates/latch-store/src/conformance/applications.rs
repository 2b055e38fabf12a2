//! Cases: applications and client secrets.

use std::sync::Arc;

use latch_core::application::ClientSecretInfo;
use latch_core::store::{PageRequest, Store, StoreError};

use super::{
    NOW, application, given_application, given_code, given_refresh, given_session, given_user,
    grant_state, new_hash, new_id, secret,
};

/// Every field, lists and nulls included, reads back as written; updates replace them.
pub async fn case_applications_round_trip_every_field(store: &dyn Store) {
    let full = application(Some("https://app.example.com/backchannel"));
    let mut plain = application(None);
    plain.redirects.post_login.clear();
    plain.redirects.post_logout.clear();
    plain.allowed_origins.clear();
    store
        .insert_application(&full, Some(&secret(NOW)))
        .await
        .expect("insert full");
    store
        .insert_application(&plain, None)
        .await
        .expect("insert plain");
    assert_eq!(
        store.get_application(&full.id).await.expect("get"),
        Some(full.clone())
    );
    assert_eq!(
        store.get_application(&plain.id).await.expect("get"),
        Some(plain.clone())
    );
    assert_eq!(
        store
            .get_application_by_client_id(&full.client_id)
            .await
            .expect("get"),
        Some(full.clone())
    );
    assert_eq!(
        store.get_application("no-such-id").await.expect("get"),
        None
    );
    assert_eq!(
        store
            .get_application_by_client_id("no-such-client")
            .await
            .expect("get"),
        None
    );

    let mut changed = full.clone();
    changed.name = "Renamed".to_owned();
    changed.application_type = latch_core::application::ApplicationType::Spa;
    changed.management_api_access = false;
    changed.access_token_ttl_seconds = None;
    changed.redirects.initiate_login = None;
    changed.redirects.backchannel_logout = None;
    changed.redirects.post_logout = vec![
        "https://x.example.com/a".to_owned(),
        "https://x.example.com/b".to_owned(),
    ];
    changed.allowed_origins = vec![];
    changed.id_token_signed_response_alg = latch_core::algorithm::Algorithm::EdDSA;
    changed.updated_at = NOW + 10;
    changed.claim_mappings = super::claim_mappings(&["access_token"]);
    changed.claim_mappings.truncate(1);
    changed.token_hook = None;
    assert!(store.update_application(&changed).await.expect("update"));
    assert_eq!(
        store.get_application(&full.id).await.expect("get"),
        Some(changed)
    );
    assert!(
        !store
            .update_application(&application(None))
            .await
            .expect("update unknown")
    );

    let mut twin = application(None);
    twin.client_id = plain.client_id.clone();
    let err = store
        .insert_application(&twin, None)
        .await
        .expect_err("client_id is unique");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.get_application(&twin.id).await.expect("get"), None);
}

/// Caches reload on a changed counter: every application or secret write moves it.
pub async fn case_applications_version_moves_with_every_write(store: &dyn Store) {
    let mut last = store.applications_version().await.expect("version");
    let mut moved = |now: i64, what: &str| {
        assert!(now > last, "{what} must bump the version ({last} -> {now})");
        last = now;
    };
    let app = application(None);
    store.insert_application(&app, None).await.expect("insert");
    moved(
        store.applications_version().await.expect("version"),
        "insert_application",
    );
    store.update_application(&app).await.expect("update");
    moved(
        store.applications_version().await.expect("version"),
        "update_application",
    );
    let s = secret(NOW);
    store
        .insert_client_secret(&app.id, &s)
        .await
        .expect("insert secret");
    moved(
        store.applications_version().await.expect("version"),
        "insert_client_secret",
    );
    store
        .delete_client_secret(&app.id, &s.id)
        .await
        .expect("delete secret");
    moved(
        store.applications_version().await.expect("version"),
        "delete_client_secret",
    );
    store
        .delete_application(&app.id, NOW)
        .await
        .expect("delete");
    moved(
        store.applications_version().await.expect("version"),
        "delete_application",
    );
}

/// Two active secrets at most; deleting one frees a slot; use is recorded once a minute.
pub async fn case_client_secrets_are_two_at_most(store: &dyn Store) {
    let app = application(None);
    let (s1, s2, s3) = (secret(NOW), secret(NOW + 1), secret(NOW + 2));
    store
        .insert_application(&app, Some(&s1))
        .await
        .expect("insert with first secret");
    store
        .insert_client_secret(&app.id, &s2)
        .await
        .expect("second secret");
    let err = store
        .insert_client_secret(&app.id, &s3)
        .await
        .expect_err("third secret");
    assert!(
        matches!(&err, StoreError::Conflict(reason) if reason == "too_many_secrets"),
        "{err:?}"
    );
    assert_eq!(
        store.list_client_secrets(&app.id).await.expect("list"),
        vec![s1.clone(), s2.clone()]
    );

    assert!(
        !store
            .delete_client_secret("other-app", &s1.id)
            .await
            .expect("delete elsewhere")
    );
    assert!(
        store
            .delete_client_secret(&app.id, &s1.id)
            .await
            .expect("delete")
    );
    store
        .insert_client_secret(&app.id, &s3)
        .await
        .expect("slot freed");
    assert_eq!(
        store.list_client_secrets(&app.id).await.expect("list"),
        vec![s2.clone(), s3.clone()]
    );

    store
        .touch_client_secret(&s2.id, NOW + 100)
        .await
        .expect("touch");
    assert_eq!(last_used(store, &app.id, &s2.id).await, Some(NOW + 100));
    store
        .touch_client_secret(&s2.id, NOW + 130)
        .await
        .expect("touch");
    assert_eq!(
        last_used(store, &app.id, &s2.id).await,
        Some(NOW + 100),
        "no write within a minute"
    );
    store
        .touch_client_secret(&s2.id, NOW + 161)
        .await
        .expect("touch");
    assert_eq!(last_used(store, &app.id, &s2.id).await, Some(NOW + 161));
    assert_eq!(last_used(store, &app.id, &s3.id).await, None);

    let err = store
        .insert_client_secret("no-such-app", &secret(NOW))
        .await
        .expect_err("unknown application");
    assert!(!matches!(err, StoreError::Conflict(_)), "{err:?}");
}

/// The applications cache loads a page of applications and then that page's secrets in one
/// query: exactly the secrets of the applications in `(after, through]`, in the order the
/// applications are listed, oldest first within one — whatever order the database sorts ids in.
pub async fn case_client_secrets_are_listed_a_page_of_applications_at_a_time(store: &dyn Store) {
    let mut inserted = Vec::new();
    for i in 0..4 {
        let app = application(None);
        let first = secret(NOW + i);
        store
            .insert_application(&app, Some(&first))
            .await
            .expect("insert with a secret");
        let mut secrets = vec![first];
        if i % 2 == 0 {
            let second = secret(NOW + 10 + i);
            store
                .insert_client_secret(&app.id, &second)
                .await
                .expect("second secret");
            secrets.push(second);
        }
        inserted.push((app.id.clone(), secrets));
    }
    let without_secrets = application(None);
    store
        .insert_application(&without_secrets, None)
        .await
        .expect("insert without a secret");

    let mut page = PageRequest {
        limit: 2,
        after: None,
    };
    let mut seen = 0;
    loop {
        let listed = store.list_applications(&page).await.expect("list");
        let last = listed.data.last().expect("a page holds applications");
        let expected: Vec<(String, ClientSecretInfo)> = listed
            .data
            .iter()
            .flat_map(|app| {
                inserted
                    .iter()
                    .filter(|(id, _)| *id == app.id)
                    .flat_map(|(id, secrets)| secrets.iter().map(|s| (id.clone(), s.clone())))
            })
            .collect();
        let got = store
            .list_client_secrets_between(page.after.as_deref(), &last.id)
            .await
            .expect("secrets of the page");
        assert_eq!(got, expected, "the page after {:?}", page.after);
        seen += got.len();
        match listed.next_cursor {
            Some(cursor) => page.after = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen, 6, "every secret once, over the pages");
}

async fn last_used(store: &dyn Store, application_id: &str, secret_id: &str) -> Option<i64> {
    let list = store
        .list_client_secrets(application_id)
        .await
        .expect("list");
    list.into_iter()
        .find(|s| s.id == secret_id)
        .expect("secret listed")
        .last_used_at
}

/// Ten concurrent inserts on an application without secrets: exactly two succeed (eight
/// rounds, each on a fresh application, to give a race the chance to show).
pub async fn case_concurrent_secrets_stop_at_two(store: Arc<dyn Store>) {
    for round in 0..8 {
        let app = given_application(&*store, None).await;
        let start = Arc::new(tokio::sync::Barrier::new(10));
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let (store, id, start) = (Arc::clone(&store), app.id.clone(), Arc::clone(&start));
                tokio::spawn(async move {
                    start.wait().await;
                    store.insert_client_secret(&id, &secret(NOW + i)).await
                })
            })
            .collect();
        let mut ok = 0;
        for task in tasks {
            match task.await.expect("task") {
                Ok(()) => ok += 1,
                Err(StoreError::Conflict(reason)) => assert_eq!(reason, "too_many_secrets"),
                Err(other) => panic!("unexpected error: {other:?}"),
            }
        }
        assert_eq!(ok, 2, "round {round}");
        assert_eq!(
            store
                .list_client_secrets(&app.id)
                .await
                .expect("list")
                .len(),
            2,
            "round {round}"
        );
    }
}

/// Deleting an application takes its secrets, refresh tokens and session participations with it,
/// and nothing of other applications.
pub async fn case_delete_application_revokes_what_was_issued(store: &dyn Store) {
    let app = application(None);
    store
        .insert_application(&app, Some(&secret(NOW)))
        .await
        .expect("insert");
    let other = given_application(store, None).await;
    let user = given_user(store).await;
    let (cookie, session) = given_session(store, &user.id).await;
    given_code(store, &app, &session).await;
    given_code(store, &other, &session).await;
    let token = given_refresh(store, &app, &session, new_hash().as_str()).await;
    let other_token = given_refresh(store, &other, &session, &new_id()).await;

    assert!(
        store
            .delete_application(&app.id, NOW)
            .await
            .expect("delete")
    );
    assert_eq!(store.get_application(&app.id).await.expect("get"), None);
    assert!(
        store
            .list_client_secrets(&app.id)
            .await
            .expect("list")
            .is_empty()
    );
    let state = grant_state(store, &token).await;
    assert!(
        state.is_none_or(|s| s.revoked_at.is_some()),
        "the application's refresh token still works"
    );
    let live = store
        .get_active_session(&cookie, NOW, 600)
        .await
        .expect("session")
        .expect("live");
    assert_eq!(live.applications, vec![other.client_id.clone()]);

    let other_state = grant_state(store, &other_token).await.expect("kept");
    assert_eq!(other_state.revoked_at, None);
    assert!(
        !store
            .delete_application(&app.id, NOW)
            .await
            .expect("delete again")
    );
    let listed = store
        .list_applications(&PageRequest {
            limit: 10,
            after: None,
        })
        .await
        .expect("list");
    assert_eq!(listed.data, vec![other]);
}
