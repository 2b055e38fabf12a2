//! Throttle counters.

use std::sync::Arc;

use latch_core::store::Store;
use latch_core::throttle::ThrottlePolicy;

use super::NOW;

pub async fn case_throttles_count_lock_and_clear(store: &dyn Store) {
    let p = ThrottlePolicy::ACCOUNT;
    assert_eq!(
        store.get_throttle("account:a@example.com").await.unwrap(),
        None
    );
    for i in 0..4 {
        let s = store
            .record_failure("account:a@example.com", NOW + i, &p)
            .await
            .unwrap();
        assert_eq!(s.failures, i + 1);
        assert_eq!(s.retry_after(NOW + i), None);
    }
    let locked = store
        .record_failure("account:a@example.com", NOW + 4, &p)
        .await
        .unwrap();
    assert_eq!(locked.retry_after(NOW + 4), Some(60));
    assert_eq!(
        store.get_throttle("account:a@example.com").await.unwrap(),
        Some(locked)
    );
    // Other keys are independent.
    assert_eq!(store.get_throttle("ip:127.0.0.1").await.unwrap(), None);
    assert!(store.clear_throttle("account:a@example.com").await.unwrap());
    assert_eq!(
        store.get_throttle("account:a@example.com").await.unwrap(),
        None
    );
    assert!(!store.clear_throttle("account:a@example.com").await.unwrap());
}

pub async fn case_concurrent_failures_are_all_counted(store: Arc<dyn Store>) {
    let p = ThrottlePolicy {
        max_failures: 1000,
        window: 900,
        lock: 60,
        max_lock: 60,
    };
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.record_failure("ip:10.0.0.1", NOW, &p).await.unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let s = store.get_throttle("ip:10.0.0.1").await.unwrap().unwrap();
    assert_eq!(s.failures, 20, "no failure lost to a race");
}
