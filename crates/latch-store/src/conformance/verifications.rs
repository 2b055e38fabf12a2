//! Cases: e-mail verification links.

use std::sync::Arc;

use latch_core::SecretHash;
use latch_core::store::{EmailVerification, Store, StoreError};

use super::{NOW, given_user};

fn link(user_id: &str, email: &str, login_request: Option<&str>) -> EmailVerification {
    EmailVerification {
        user_id: user_id.to_owned(),
        email: email.to_owned(),
        login_request: login_request.map(str::to_owned),
        expires_at: NOW + 86_400,
    }
}

async fn verified(store: &dyn Store, user_id: &str) -> bool {
    store
        .get_user(user_id)
        .await
        .expect("get user")
        .expect("the user")
        .email_verified
}

/// A link verifies its user's address once, before it expires, and only while the address is
/// still the user's (compared case-insensitively); a newer link replaces it.
pub async fn case_a_verification_link_verifies_its_address_once(store: &dyn Store) {
    let user = given_user(store).await;
    let (first, second) = (SecretHash::of(b"v-first"), SecretHash::of(b"v-second"));
    store
        .insert_email_verification(&first, &link(&user.id, &user.email, None), NOW)
        .await
        .expect("insert");
    let shouted = user.email.to_uppercase();
    let newer = link(&user.id, &shouted, Some("lr-2"));
    store
        .insert_email_verification(&second, &newer, NOW + 10)
        .await
        .expect("insert a newer one");
    assert_eq!(
        store
            .take_email_verification(&first, NOW + 20)
            .await
            .expect("take"),
        None,
        "superseded"
    );
    assert!(!verified(store, &user.id).await);
    assert_eq!(
        store
            .take_email_verification(&second, NOW + 86_400)
            .await
            .expect("take"),
        None,
        "expired at expires_at"
    );
    assert!(!verified(store, &user.id).await);

    let third = SecretHash::of(b"v-third");
    store
        .insert_email_verification(&third, &newer, NOW)
        .await
        .expect("insert");
    assert_eq!(
        store
            .take_email_verification(&third, NOW + 1)
            .await
            .expect("take"),
        Some((newer, true)),
        "the same address in other case"
    );
    assert!(verified(store, &user.id).await);
    assert_eq!(
        store
            .take_email_verification(&third, NOW + 1)
            .await
            .expect("take"),
        None,
        "used up"
    );

    // The address changed since the link was sent: the link is used up but verifies nothing.
    let other = given_user(store).await;
    let stale = SecretHash::of(b"v-stale");
    let old = link(&other.id, "old@example.com", None);
    store
        .insert_email_verification(&stale, &old, NOW)
        .await
        .expect("insert");
    assert_eq!(
        store
            .take_email_verification(&stale, NOW)
            .await
            .expect("take"),
        Some((old, false))
    );
    assert!(!verified(store, &other.id).await);

    let err = store
        .insert_email_verification(
            &SecretHash::of(b"v-x"),
            &link("no-such-user", "x@example.com", None),
            NOW,
        )
        .await
        .expect_err("unknown user");
    assert!(
        matches!(err, StoreError::Conflict(ref what) if what == "user"),
        "{err}"
    );

    let last = SecretHash::of(b"v-last");
    store
        .insert_email_verification(&last, &link(&other.id, &other.email, None), NOW)
        .await
        .expect("insert");
    assert!(store.delete_user(&other.id).await.expect("delete user"));
    assert_eq!(
        store
            .take_email_verification(&last, NOW)
            .await
            .expect("take"),
        None,
        "deleted with its user"
    );
}

/// Eight tasks take the same link at once: exactly one gets it.
pub async fn case_concurrent_takes_of_a_verification_link_have_one_winner(store: Arc<dyn Store>) {
    let user = given_user(&*store).await;
    let hash = SecretHash::of(b"v-raced");
    store
        .insert_email_verification(&hash, &link(&user.id, &user.email, None), NOW)
        .await
        .expect("insert");
    let takers: Vec<_> = (0..8)
        .map(|_| {
            let (store, hash) = (store.clone(), hash.clone());
            tokio::spawn(async move {
                store
                    .take_email_verification(&hash, NOW)
                    .await
                    .expect("take")
            })
        })
        .collect();
    let mut winners = 0;
    for t in takers {
        winners += usize::from(t.await.expect("taker").is_some());
    }
    assert_eq!(winners, 1);
}
