//! Cases: the mail outbox and password-reset links.

use std::collections::HashSet;
use std::sync::Arc;

use latch_core::SecretHash;
use latch_core::retention::Purge;
use latch_core::store::{MailLimits, NewMail, PasswordReset, Store, StoreError};

use super::{NOW, given_user};

fn limits(per_recipient: i64, global: i64) -> MailLimits {
    MailLimits {
        since: NOW - 3_600,
        per_recipient,
        global,
    }
}

async fn enqueue(store: &dyn Store, id: &str, to: &str, limits: &MailLimits, at: i64) -> bool {
    let mail = NewMail {
        id,
        recipient: to,
        message: b"sealed message",
    };
    store
        .enqueue_mail(&mail, limits, at)
        .await
        .expect("enqueue")
}

/// Queued mail is claimed for a lease, retried when due, and stops once sent or abandoned (its
/// message erased); the sweep deletes only finished rows.
pub async fn case_mail_is_leased_retried_and_erased(store: &dyn Store) {
    let free = limits(100, 1_000);
    assert!(enqueue(store, "m1", "a@example.com", &free, NOW).await);
    assert!(enqueue(store, "m2", "b@example.com", &free, NOW + 1).await);
    assert!(
        store
            .claim_mail(NOW - 1, 60, 10)
            .await
            .expect("claim")
            .is_empty(),
        "not due yet"
    );
    let claimed = store.claim_mail(NOW + 1, 60, 10).await.expect("claim");
    assert_eq!(
        claimed.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["m1", "m2"],
        "oldest due first"
    );
    assert_eq!(claimed[0].message, b"sealed message");
    assert_eq!(
        (
            claimed[0].recipient.as_str(),
            claimed[0].attempts,
            claimed[0].created_at
        ),
        ("a@example.com", 0, NOW)
    );
    assert!(
        store
            .claim_mail(NOW + 60, 60, 10)
            .await
            .expect("claim")
            .is_empty(),
        "leased"
    );
    assert_eq!(
        store
            .claim_mail(NOW + 61, 60, 1)
            .await
            .expect("claim")
            .len(),
        1,
        "a lapsed lease is claimable again, `limit` at a time"
    );

    store.mark_mail_sent("m1", NOW + 100).await.expect("sent");
    store
        .mark_mail_failed("m2", &"x".repeat(5_000), Some(NOW + 500), NOW + 100)
        .await
        .expect("failed");
    assert!(
        store
            .claim_mail(NOW + 499, 60, 10)
            .await
            .expect("claim")
            .is_empty(),
        "backing off; the sent one is done"
    );
    let retry = store.claim_mail(NOW + 500, 60, 10).await.expect("claim");
    assert_eq!(retry.len(), 1);
    assert_eq!((retry[0].id.as_str(), retry[0].attempts), ("m2", 1));
    assert_eq!(retry[0].message, b"sealed message", "kept for the retry");
    store
        .mark_mail_failed("m2", "gave up", None, NOW + 600)
        .await
        .expect("abandon");
    assert!(
        store
            .claim_mail(NOW + 100_000, 60, 10)
            .await
            .expect("claim")
            .is_empty(),
        "abandoned"
    );

    assert!(enqueue(store, "m3", "c@example.com", &free, NOW + 700).await);
    let purge = |before| store.purge(Purge::Mail, before, 100);
    assert_eq!(purge(NOW + 700).await.expect("purge"), 2);
    assert_eq!(purge(NOW + 10_000).await.expect("purge"), 0, "pending kept");
    let left = store.claim_mail(NOW + 700, 60, 10).await.expect("claim");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, "m3");
}

/// A message is queued only while the recipient and everyone together are under their limits
/// within the window; older rows do not count.
pub async fn case_mail_limits_count_per_recipient_and_in_all(store: &dyn Store) {
    let tight = limits(2, 3);
    // One old message, outside the window: it does not count.
    assert!(enqueue(store, "old", "a@example.com", &tight, NOW - 7_200).await);
    assert!(enqueue(store, "a1", "a@example.com", &tight, NOW).await);
    assert!(enqueue(store, "a2", "a@example.com", &tight, NOW).await);
    assert!(
        !enqueue(store, "a3", "a@example.com", &tight, NOW).await,
        "the recipient's limit"
    );
    assert!(enqueue(store, "b1", "b@example.com", &tight, NOW).await);
    assert!(
        !enqueue(store, "c1", "c@example.com", &tight, NOW).await,
        "the global limit"
    );
    let queued: HashSet<String> = store
        .claim_mail(NOW, 60, 100)
        .await
        .expect("claim")
        .into_iter()
        .map(|m| m.id)
        .collect();
    let expected: HashSet<String> = ["old", "a1", "a2", "b1"].map(String::from).into();
    assert_eq!(queued, expected, "refused messages were not queued");
}

/// Four claimers racing over thirty due messages: each is claimed exactly once.
pub async fn case_concurrent_mail_claims_never_share_a_message(store: Arc<dyn Store>) {
    let free = limits(1_000, 1_000);
    for i in 0..30 {
        assert!(enqueue(&*store, &format!("m{i:02}"), "a@example.com", &free, NOW).await);
    }
    let claimers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = store.claim_mail(NOW, 60, 3).await.expect("claim");
                    if batch.is_empty() {
                        break mine;
                    }
                    mine.extend(batch.into_iter().map(|m| m.id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for c in claimers {
        all.extend(c.await.expect("claimer"));
    }
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 30, "every message claimed once: {all:?}");
    assert_eq!(distinct.len(), 30);
}

fn reset(user_id: &str, login_request: Option<&str>, expires_at: i64) -> PasswordReset {
    PasswordReset {
        user_id: user_id.to_owned(),
        login_request: login_request.map(str::to_owned),
        expires_at,
    }
}

/// A reset link works once and only before it expires; a newer link replaces it; a password
/// change deletes them; a link for an unknown user is refused; deleting the user deletes it.
pub async fn case_password_resets_are_single_use_and_superseded(store: &dyn Store) {
    let user = given_user(store).await;
    let (first, second) = (SecretHash::of(b"first"), SecretHash::of(b"second"));
    store
        .insert_password_reset(&first, &reset(&user.id, Some("lr-1"), NOW + 1_800), NOW)
        .await
        .expect("insert");
    store
        .insert_password_reset(&second, &reset(&user.id, None, NOW + 1_800), NOW + 10)
        .await
        .expect("insert a newer one");
    assert_eq!(
        store
            .take_password_reset(&first, NOW + 20)
            .await
            .expect("take"),
        None,
        "superseded by the newer link"
    );
    assert_eq!(
        store
            .take_password_reset(&second, NOW + 1_800)
            .await
            .expect("take"),
        None,
        "expired at expires_at"
    );
    let third = SecretHash::of(b"third");
    store
        .insert_password_reset(&third, &reset(&user.id, Some("lr-3"), NOW + 1_800), NOW)
        .await
        .expect("insert");
    // Looking at a link leaves it in place; an expired or superseded one is not found.
    for _ in 0..2 {
        assert_eq!(
            store
                .get_password_reset(&third, NOW + 1_799)
                .await
                .expect("get"),
            Some(reset(&user.id, Some("lr-3"), NOW + 1_800))
        );
    }
    assert_eq!(
        store
            .get_password_reset(&third, NOW + 1_800)
            .await
            .expect("get"),
        None,
        "expired at expires_at"
    );
    assert_eq!(
        store.get_password_reset(&first, NOW).await.expect("get"),
        None,
        "superseded"
    );
    assert_eq!(
        store
            .take_password_reset(&third, NOW + 1_799)
            .await
            .expect("take"),
        Some(reset(&user.id, Some("lr-3"), NOW + 1_800))
    );
    assert_eq!(
        store
            .take_password_reset(&third, NOW + 1_799)
            .await
            .expect("take"),
        None,
        "used up"
    );
    assert_eq!(
        store
            .get_password_reset(&third, NOW + 1)
            .await
            .expect("get"),
        None
    );

    let fourth = SecretHash::of(b"fourth");
    store
        .insert_password_reset(&fourth, &reset(&user.id, None, NOW + 1_800), NOW)
        .await
        .expect("insert");
    assert_eq!(
        store
            .delete_password_resets(&user.id)
            .await
            .expect("delete"),
        1
    );
    assert_eq!(
        store.take_password_reset(&fourth, NOW).await.expect("take"),
        None
    );

    let err = store
        .insert_password_reset(
            &SecretHash::of(b"x"),
            &reset("no-such-user", None, NOW + 1),
            NOW,
        )
        .await
        .expect_err("unknown user");
    assert!(
        matches!(err, StoreError::Conflict(ref what) if what == "user"),
        "{err}"
    );

    let fifth = SecretHash::of(b"fifth");
    store
        .insert_password_reset(&fifth, &reset(&user.id, None, NOW + 1_800), NOW)
        .await
        .expect("insert");
    assert!(store.delete_user(&user.id).await.expect("delete user"));
    assert_eq!(
        store.take_password_reset(&fifth, NOW).await.expect("take"),
        None
    );
}

/// Eight tasks take the same link at once: exactly one gets it.
pub async fn case_concurrent_takes_of_a_reset_link_have_one_winner(store: Arc<dyn Store>) {
    let user = given_user(&*store).await;
    let hash = SecretHash::of(b"raced");
    store
        .insert_password_reset(&hash, &reset(&user.id, None, NOW + 1_800), NOW)
        .await
        .expect("insert");
    let takers: Vec<_> = (0..8)
        .map(|_| {
            let (store, hash) = (store.clone(), hash.clone());
            tokio::spawn(async move { store.take_password_reset(&hash, NOW).await.expect("take") })
        })
        .collect();
    let mut winners = 0;
    for t in takers {
        winners += usize::from(t.await.expect("taker").is_some());
    }
    assert_eq!(winners, 1);
}
