//! Throttle counters.

use std::sync::Arc;

use latch_core::retention::Purge;
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

pub async fn case_quiet_throttles_are_purged_and_live_ones_kept(store: &dyn Store) {
    let p = ThrottlePolicy::ACCOUNT;
    // Quiet for a whole window: its count and its lock no longer matter.
    store
        .record_failure("ip:192.0.2.1", NOW - 2000, &p)
        .await
        .unwrap();
    // Failing now, and locked until well after now.
    for i in 0..5 {
        store
            .record_failure("ip:192.0.2.2", NOW - 10 + i, &p)
            .await
            .unwrap();
    }
    // Its window started long ago, but it is locked for longer than a window.
    let long = ThrottlePolicy { lock: 2000, ..p };
    for i in 0..5 {
        store
            .record_failure("ip:192.0.2.3", NOW - 1000 + i, &long)
            .await
            .unwrap();
    }
    // Locked and released long ago: as good as new.
    for i in 0..5 {
        store
            .record_failure("ip:192.0.2.4", NOW - 2000 + i, &p)
            .await
            .unwrap();
    }
    // Quiet at or before `NOW - window`: window start and lock end before the cutoff after it.
    let cutoff = NOW - p.window + 1;
    assert_eq!(store.purge(Purge::Throttles, cutoff, 100).await.unwrap(), 2);
    assert_eq!(store.get_throttle("ip:192.0.2.1").await.unwrap(), None);
    assert!(store.get_throttle("ip:192.0.2.2").await.unwrap().is_some());
    assert!(store.get_throttle("ip:192.0.2.3").await.unwrap().is_some());
    assert_eq!(store.purge(Purge::Throttles, cutoff, 100).await.unwrap(), 0);
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
