//! The audit log: batches, filters, pagination.

use latch_core::audit::{ActorType, AuditEvent, AuditFilter};
use latch_core::store::{PageRequest, Store};

use super::{NOW, new_id};

pub(super) fn event(kind: &str, at: i64, user: Option<&str>, client: Option<&str>) -> AuditEvent {
    AuditEvent {
        id: new_id(),
        kind: kind.to_owned(),
        at,
        actor_type: ActorType::User,
        actor_id: user.map(str::to_owned),
        user_id: user.map(str::to_owned),
        client_id: client.map(str::to_owned),
        session_id: Some("sid-1".to_owned()),
        ip: Some("192.0.2.1".to_owned()),
        success: kind != "login.failure",
        reason: (kind == "login.failure").then(|| "wrong_password".to_owned()),
        details: r#"{"grant":"refresh_token"}"#.to_owned(),
    }
}

async fn ids(store: &dyn Store, filter: AuditFilter) -> Vec<String> {
    let page = PageRequest {
        limit: 200,
        after: None,
    };
    let page = store.list_audit_events(&filter, &page).await.unwrap();
    assert!(page.next_cursor.is_none());
    page.data.into_iter().map(|e| e.id).collect()
}

pub async fn case_audit_events_are_filtered_and_paged(store: &dyn Store) {
    store.insert_audit_events(&[]).await.unwrap();
    let events = vec![
        event("login.failure", NOW, Some("u1"), None),
        event("login.success", NOW + 1, Some("u1"), Some("c1")),
        event("token.issued", NOW + 2, Some("u1"), Some("c1")),
        event("token.issued", NOW + 3, None, Some("c2")),
        event("management.change", NOW + 4, None, Some("c2")),
    ];
    store.insert_audit_events(&events).await.unwrap();
    let all: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    let read = store
        .list_audit_events(
            &AuditFilter::default(),
            &PageRequest {
                limit: 10,
                after: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(read.data, events, "every field round-trips, oldest first");

    let by = |f: AuditFilter, idx: &[usize]| {
        (f, idx.iter().map(|i| all[*i].clone()).collect::<Vec<_>>())
    };
    let cases = [
        by(
            AuditFilter {
                user_id: Some("u1".into()),
                ..Default::default()
            },
            &[0, 1, 2],
        ),
        by(
            AuditFilter {
                client_id: Some("c2".into()),
                ..Default::default()
            },
            &[3, 4],
        ),
        by(
            AuditFilter {
                kind: Some("token.issued".into()),
                ..Default::default()
            },
            &[2, 3],
        ),
        by(
            AuditFilter {
                since: Some(NOW + 3),
                ..Default::default()
            },
            &[3, 4],
        ),
        by(
            AuditFilter {
                until: Some(NOW + 1),
                ..Default::default()
            },
            &[0, 1],
        ),
        by(
            AuditFilter {
                user_id: Some("u1".into()),
                kind: Some("token.issued".into()),
                since: Some(NOW),
                until: Some(NOW + 10),
                ..Default::default()
            },
            &[2],
        ),
        by(
            AuditFilter {
                user_id: Some("nobody".into()),
                ..Default::default()
            },
            &[],
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(ids(store, filter.clone()).await, expected, "{filter:?}");
    }

    // Pages of two walk every event once, in order.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_audit_events(&AuditFilter::default(), &PageRequest { limit: 2, after })
            .await
            .unwrap();
        assert!(page.data.len() <= 2);
        seen.extend(page.data.into_iter().map(|e| e.id));
        match page.next_cursor {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, all);

    // A batch with a duplicate id is refused whole.
    let fresh = event("logout", NOW + 5, Some("u2"), None);
    let dup = events[0].clone();
    assert!(
        store
            .insert_audit_events(&[fresh.clone(), dup])
            .await
            .is_err()
    );
    let u2 = AuditFilter {
        user_id: Some("u2".into()),
        ..Default::default()
    };
    assert!(
        ids(store, u2).await.is_empty(),
        "nothing of a failed batch is kept"
    );
}

/// Batches larger than one multi-row statement round-trip whole and in order, on every backend;
/// a duplicate inside a full chunk fails the whole batch.
pub async fn case_audit_batches_of_any_size_are_stored_whole(store: &dyn Store) {
    let batch: Vec<AuditEvent> = (0..37)
        .map(|i| {
            let mut e = event("token.issued", NOW + i, Some("u9"), Some("c9"));
            if i % 3 == 0 {
                e.reason = None;
                e.ip = None;
            }
            e
        })
        .collect();
    store.insert_audit_events(&batch).await.unwrap();
    let page = store
        .list_audit_events(
            &AuditFilter {
                user_id: Some("u9".into()),
                ..Default::default()
            },
            &PageRequest {
                limit: 100,
                after: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.data, batch);

    let mut failing: Vec<AuditEvent> = (0..20)
        .map(|i| event("logout", NOW + i, Some("u10"), None))
        .collect();
    failing[9] = batch[0].clone();
    assert!(store.insert_audit_events(&failing).await.is_err());
    let u10 = AuditFilter {
        user_id: Some("u10".into()),
        ..Default::default()
    };
    assert!(ids(store, u10).await.is_empty(), "nothing of it is kept");
}

/// Newest first: the same events in the reverse order, the cursor walking back in time.
pub async fn case_audit_events_are_listed_newest_first_on_request(store: &dyn Store) {
    let user = format!("newest-{}", new_id());
    let events: Vec<AuditEvent> = (0..5)
        .map(|i| event("login.success", NOW + i, Some(&user), None))
        .collect();
    store.insert_audit_events(&events).await.expect("insert");
    let filter = AuditFilter {
        user_id: Some(user.clone()),
        newest_first: true,
        ..Default::default()
    };
    let mut page = PageRequest {
        limit: 2,
        after: None,
    };
    let mut seen = Vec::new();
    loop {
        let p = store.list_audit_events(&filter, &page).await.expect("list");
        seen.extend(p.data.iter().map(|e| e.id.clone()));
        match p.next_cursor {
            Some(c) => page.after = Some(c),
            None => break,
        }
    }
    let mut expected: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    expected.sort();
    expected.reverse();
    assert_eq!(seen, expected);
}
