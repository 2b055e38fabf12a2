//! Cases: the mail outbox.

use std::collections::HashSet;
use std::sync::Arc;

use latch_core::store::{MailLimits, NewMail, Store};

use super::NOW;

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
    assert_eq!(store.purge_mail(NOW + 700).await.expect("purge"), 2);
    assert_eq!(
        store.purge_mail(NOW + 10_000).await.expect("purge"),
        0,
        "pending kept"
    );
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
