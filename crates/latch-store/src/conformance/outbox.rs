//! Cases: the back-channel logout outbox.

use std::collections::HashSet;
use std::sync::Arc;

use latch_core::store::{PageRequest, SessionSelector, Store};

use super::{NOW, given_application, given_code, given_session, given_user};

/// Claims lease rows; deliveries are retried when due, stop when delivered or abandoned.
pub async fn case_deliveries_are_leased_and_retried(store: &dyn Store) {
    let user = given_user(store).await;
    let a = given_application(store, Some("https://a.example.com/bc")).await;
    let b = given_application(store, Some("https://b.example.com/bc")).await;
    let (_, session) = given_session(store, &user.id).await;
    given_code(store, &a, &session).await;
    given_code(store, &b, &session).await;
    assert!(
        store
            .claim_deliveries(NOW, 60, 10)
            .await
            .expect("claim")
            .is_empty(),
        "nothing queued yet"
    );
    store
        .end_sessions(SessionSelector::One { sid: &session.sid }, NOW)
        .await
        .expect("end");

    assert!(
        store
            .claim_deliveries(NOW - 1, 60, 10)
            .await
            .expect("claim")
            .is_empty(),
        "not due yet"
    );
    let claimed = store.claim_deliveries(NOW, 60, 10).await.expect("claim");
    assert_eq!(claimed.len(), 2);
    assert!(
        store
            .claim_deliveries(NOW + 59, 60, 10)
            .await
            .expect("claim")
            .is_empty(),
        "leased"
    );
    let reclaimed = store
        .claim_deliveries(NOW + 60, 60, 1)
        .await
        .expect("claim");
    assert_eq!(
        reclaimed.len(),
        1,
        "an expired lease is claimable again, `limit` at a time"
    );

    let to_a = claimed
        .iter()
        .find(|d| d.application_id == a.id)
        .expect("delivery to a");
    let to_b = claimed
        .iter()
        .find(|d| d.application_id == b.id)
        .expect("delivery to b");
    store
        .mark_delivered(&to_a.id, NOW + 200)
        .await
        .expect("delivered");
    store
        .mark_failed(&to_b.id, "connection refused", Some(NOW + 2_000), NOW + 200)
        .await
        .expect("failed");
    assert!(
        store
            .claim_deliveries(NOW + 1_999, 60, 10)
            .await
            .expect("claim")
            .is_empty(),
        "backing off"
    );
    let retry = store
        .claim_deliveries(NOW + 2_000, 60, 10)
        .await
        .expect("claim");
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].id, to_b.id);
    assert_eq!(
        (retry[0].attempts, retry[0].last_error.as_deref()),
        (1, Some("connection refused"))
    );

    let long_error = "x".repeat(5_000);
    store
        .mark_failed(&to_b.id, &long_error, None, NOW + 2_100)
        .await
        .expect("abandon");
    assert!(
        store
            .claim_deliveries(NOW + 100_000, 60, 10)
            .await
            .expect("claim")
            .is_empty()
    );
    let page = PageRequest {
        limit: 10,
        after: None,
    };
    let a_rows = store
        .list_deliveries(&a.id, &page)
        .await
        .expect("list")
        .data;
    assert_eq!(
        (a_rows[0].delivered_at, a_rows[0].attempts),
        (Some(NOW + 200), 1)
    );
    let b_rows = store
        .list_deliveries(&b.id, &page)
        .await
        .expect("list")
        .data;
    assert_eq!(
        (b_rows[0].abandoned_at, b_rows[0].attempts),
        (Some(NOW + 2_100), 2)
    );
    let kept = b_rows[0].last_error.as_deref().unwrap_or("");
    assert!(
        !kept.is_empty() && kept.len() <= 1_000,
        "the error is kept, truncated ({} chars)",
        kept.len()
    );
}

/// Four claimers racing over thirty due rows, eight times: each row is claimed exactly once. Pages of the
/// listing walk every row once.
pub async fn case_concurrent_claims_never_share_a_delivery(store: Arc<dyn Store>) {
    let user = given_user(&*store).await;
    let mut apps = Vec::new();
    for i in 0..3 {
        apps.push(given_application(&*store, Some(&format!("https://{i}.example.com/bc"))).await);
    }
    apps.push(given_application(&*store, None).await);
    for _ in 0..10 {
        let (_, session) = given_session(&*store, &user.id).await;
        for app in &apps {
            given_code(&*store, app, &session).await;
        }
    }
    let ended = store
        .end_sessions(SessionSelector::AllOfUser { user_id: &user.id }, NOW)
        .await
        .expect("end");
    assert_eq!(ended.len(), 10);

    // Leases expire, so every round races over all thirty rows again, later.
    for round in 1..=8 {
        let at = NOW + round * 1_000;
        let start = Arc::new(tokio::sync::Barrier::new(4));
        let claimers: Vec<_> = (0..4)
            .map(|_| {
                let (store, start) = (Arc::clone(&store), Arc::clone(&start));
                tokio::spawn(async move {
                    let mut ids = Vec::new();
                    start.wait().await;
                    loop {
                        let batch = store.claim_deliveries(at, 300, 4).await.expect("claim");
                        if batch.is_empty() {
                            return ids;
                        }
                        ids.extend(batch.into_iter().map(|d| d.id));
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        for claimer in claimers {
            all.extend(claimer.await.expect("claimer"));
        }
        let unique: HashSet<&String> = all.iter().collect();
        assert_eq!(
            unique.len(),
            all.len(),
            "round {round}: a delivery was claimed twice"
        );
        assert_eq!(
            all.len(),
            30,
            "one delivery per ended session and application with a URL"
        );
    }

    let mut listed = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_deliveries(&apps[0].id, &PageRequest { limit: 4, after })
            .await
            .expect("list");
        listed.extend(page.data.into_iter().map(|d| d.id));
        after = page.next_cursor;
        if after.is_none() {
            break;
        }
    }
    let mut sorted = listed.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!((listed.len(), listed), (10, sorted));
}
