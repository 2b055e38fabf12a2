//! Cases: users and pagination.

use latch_core::store::{PageRequest, Store, StoreError};

use super::{NOW, application, given_session, given_user, user};

/// Emails are unique and looked up case-insensitively, but kept as given.
pub async fn case_users_round_trip_with_case_insensitive_email(store: &dyn Store) {
    let mut ada = user("Ada@Example.com");
    ada.email_verified = true;
    ada.name = Some("Ada Lovelace".to_owned());
    ada.given_name = Some("Ada".to_owned());
    store.insert_user(&ada, "hash-1").await.expect("insert");
    assert_eq!(
        store.get_user(&ada.id).await.expect("get"),
        Some(ada.clone())
    );
    assert_eq!(store.get_user("no-such-user").await.expect("get"), None);
    let found = store
        .get_user_by_email(" ada@EXAMPLE.COM ")
        .await
        .expect("by email");
    assert_eq!(found, Some((ada.clone(), "hash-1".to_owned())));
    assert_eq!(
        store
            .get_user_by_email("bob@example.com")
            .await
            .expect("by email"),
        None
    );

    let err = store
        .insert_user(&user("ADA@example.COM"), "hash-2")
        .await
        .expect_err("same email");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    let mut changed = ada.clone();
    changed.email = "Lovelace@Example.com".to_owned();
    changed.name = None;
    changed.family_name = Some("Lovelace".to_owned());
    assert!(
        store
            .update_user(&changed, None)
            .await
            .expect("update profile")
    );
    let found = store
        .get_user_by_email("lovelace@example.com")
        .await
        .expect("by email");
    assert_eq!(
        found,
        Some((changed.clone(), "hash-1".to_owned())),
        "no new password keeps the hash"
    );
    assert_eq!(
        store
            .get_user_by_email("ada@example.com")
            .await
            .expect("by email"),
        None
    );
    assert!(
        store
            .update_user(&changed, Some("hash-3"))
            .await
            .expect("update password")
    );
    let found = store
        .get_user_by_email("LOVELACE@example.com")
        .await
        .expect("by email");
    assert_eq!(found.map(|(_, hash)| hash), Some("hash-3".to_owned()));
    assert!(
        !store
            .update_user(&user("x@example.com"), None)
            .await
            .expect("update unknown")
    );

    let bob = given_user(store).await;
    let mut clash = bob.clone();
    clash.email = "lovelace@EXAMPLE.com".to_owned();
    let err = store
        .update_user(&clash, None)
        .await
        .expect_err("taking another's email");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    let filtered = store
        .list_users(
            &PageRequest {
                limit: 10,
                after: None,
            },
            Some("Lovelace@EXAMPLE.com"),
        )
        .await
        .expect("list");
    assert_eq!(filtered.data, vec![changed]);
    assert_eq!(filtered.next_cursor, None);
    assert!(store.delete_user(&ada.id).await.expect("delete"));
    assert_eq!(store.get_user(&ada.id).await.expect("get"), None);
    assert!(!store.delete_user(&ada.id).await.expect("delete again"));
}

/// Deleting a user deletes their sessions with them.
pub async fn case_delete_user_removes_their_sessions(store: &dyn Store) {
    let user = given_user(store).await;
    let other = given_user(store).await;
    let (cookie, session) = given_session(store, &user.id).await;
    let (other_cookie, _) = given_session(store, &other.id).await;
    assert!(store.delete_user(&user.id).await.expect("delete"));
    assert_eq!(store.get_session(&session.sid).await.expect("get"), None);
    assert_eq!(
        store
            .get_active_session(&cookie, NOW, 600)
            .await
            .expect("get"),
        None
    );
    assert!(
        store
            .list_user_sessions(&user.id, NOW)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        store
            .get_active_session(&other_cookie, NOW, 600)
            .await
            .expect("get")
            .is_some()
    );
}

/// Five rows, pages of two: three pages, every row once, in id order; the limit is clamped.
pub async fn case_pagination_walks_every_row_once(store: &dyn Store) {
    let mut app_ids = Vec::new();
    let mut user_ids = Vec::new();
    for _ in 0..5 {
        let app = application(None);
        store
            .insert_application(&app, None)
            .await
            .expect("insert application");
        app_ids.push(app.id);
        user_ids.push(given_user(store).await.id);
    }
    app_ids.sort();
    user_ids.sort();

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_applications(&PageRequest { limit: 2, after })
            .await
            .expect("list");
        sizes.push(page.data.len());
        seen.extend(page.data.into_iter().map(|a| a.id));
        after = page.next_cursor;
        if after.is_none() {
            break;
        }
        assert!(sizes.len() < 10, "the cursor walk does not end");
    }
    assert_eq!(sizes, vec![2, 2, 1]);
    assert_eq!(seen, app_ids);

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_users(&PageRequest { limit: 2, after }, None)
            .await
            .expect("list");
        sizes.push(page.data.len());
        seen.extend(page.data.into_iter().map(|u| u.id));
        after = page.next_cursor;
        if after.is_none() {
            break;
        }
        assert!(sizes.len() < 10, "the cursor walk does not end");
    }
    assert_eq!(sizes, vec![2, 2, 1]);
    assert_eq!(seen, user_ids);

    let exact = store
        .list_applications(&PageRequest {
            limit: 5,
            after: None,
        })
        .await
        .expect("list");
    assert_eq!(
        (exact.data.len(), exact.next_cursor),
        (5, None),
        "a full last page has no cursor"
    );
    let zero = store
        .list_applications(&PageRequest {
            limit: 0,
            after: None,
        })
        .await
        .expect("list");
    assert_eq!(zero.data.len(), 1, "limit 0 is clamped to 1");
    assert_eq!(zero.next_cursor.as_deref(), Some(app_ids[0].as_str()));
    let huge = store
        .list_users(
            &PageRequest {
                limit: 100_000,
                after: None,
            },
            None,
        )
        .await
        .expect("list");
    assert_eq!(huge.data.len(), 5);
}

/// An upgraded hash replaces only the hash it was verified against.
pub async fn case_password_hash_is_replaced_only_if_unchanged(store: &dyn Store) {
    let ada = user("upgrade@example.com");
    store.insert_user(&ada, "$2b$old").await.expect("insert");
    assert!(
        !store
            .replace_password_hash(&ada.id, "$2b$other", "$argon2id$new")
            .await
            .expect("replace"),
        "a hash changed meanwhile is left alone"
    );
    assert!(
        store
            .replace_password_hash(&ada.id, "$2b$old", "$argon2id$new")
            .await
            .expect("replace")
    );
    let (_, hash) = store
        .get_user_by_email("upgrade@example.com")
        .await
        .expect("get")
        .expect("found");
    assert_eq!(hash, "$argon2id$new");
    assert!(
        !store
            .replace_password_hash("no-such-user", "$argon2id$new", "x")
            .await
            .expect("replace")
    );
}

/// `latch users import`: a batch in one transaction, taken ids and emails skipped (any case).
pub async fn case_users_are_inserted_in_batches_skipping_taken_ones(store: &dyn Store) {
    let ada = user("Batch-Ada@example.com");
    store.insert_user(&ada, "hash-a").await.expect("insert");
    let same_email = user("batch-ada@EXAMPLE.com");
    let mut same_id = user("other@example.com");
    same_id.id = ada.id.clone();
    let new = user("batch-new@example.com");
    let twice = user("Batch-New@example.com");
    let got = store
        .insert_users_if_absent(&[
            (same_email, "x".to_owned()),
            (same_id, "x".to_owned()),
            (new.clone(), "hash-n".to_owned()),
            (twice, "x".to_owned()),
        ])
        .await
        .expect("batch");
    assert_eq!(got, [false, false, true, false]);
    let (found, hash) = store
        .get_user_by_email("batch-new@example.com")
        .await
        .expect("get")
        .expect("inserted");
    assert_eq!((found, hash.as_str()), (new, "hash-n"));
    let (_, hash) = store
        .get_user_by_email("batch-ada@example.com")
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(hash, "hash-a", "a taken email keeps its user");
    assert!(
        store
            .insert_users_if_absent(&[])
            .await
            .expect("empty")
            .is_empty()
    );
}

/// The admin flag: written at insert, changed only by `set_user_admin` (a profile update keeps
/// it), read back by every lookup.
pub async fn case_the_admin_flag_is_set_apart_from_the_profile(store: &dyn Store) {
    let mut root = user(&format!("root-{}@example.com", super::new_id()));
    root.admin = true;
    store.insert_user(&root, "h").await.expect("insert admin");
    assert_eq!(
        store.get_user(&root.id).await.expect("get"),
        Some(root.clone())
    );
    let plain = given_user(store).await;
    assert!(
        !store
            .get_user(&plain.id)
            .await
            .expect("get")
            .expect("user")
            .admin
    );

    assert!(store.set_user_admin(&plain.id, true).await.expect("grant"));
    let (found, _) = store
        .get_user_by_email(&plain.email)
        .await
        .expect("by email")
        .expect("user");
    assert!(found.admin, "granted");
    let mut renamed = found.clone();
    renamed.name = Some("Renamed".to_owned());
    renamed.admin = false;
    assert!(store.update_user(&renamed, None).await.expect("update"));
    assert!(
        store
            .get_user(&plain.id)
            .await
            .expect("get")
            .expect("user")
            .admin,
        "a profile update leaves the flag alone"
    );
    assert!(
        store
            .set_user_admin(&plain.id, false)
            .await
            .expect("withdraw")
    );
    assert!(
        !store
            .get_user(&plain.id)
            .await
            .expect("get")
            .expect("user")
            .admin
    );
    assert!(
        !store
            .set_user_admin("no-such-user", true)
            .await
            .expect("missing")
    );
}
