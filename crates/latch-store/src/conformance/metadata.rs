//! Cases: `metadata` and `external_id` on users and organizations.

use latch_core::store::{Store, StoreError};
use serde_json::{Map, Value, json};

use super::organizations::organization;
use super::user;

fn object(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn conflict_on(result: Result<impl std::fmt::Debug, StoreError>) -> String {
    match result {
        Err(StoreError::Conflict(what)) => what,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// Nested metadata and the external id come back as written, after insert and after update;
/// external ids are unique among users (a conflict names `external_id`), absent ones are not.
pub async fn case_user_metadata_and_external_ids_round_trip(store: &dyn Store) {
    let mut ada = user("meta-ada@example.com");
    ada.external_id = Some("crm-ada".into());
    ada.metadata =
        object(json!({"plan": {"tier": "gold", "seats": [1, 2.5, null, true]}, "é": "ü"}));
    store.insert_user(&ada, "hash").await.expect("insert");
    assert_eq!(
        store.get_user(&ada.id).await.expect("get"),
        Some(ada.clone())
    );
    let found = store
        .get_user_by_external_id("crm-ada")
        .await
        .expect("by external id");
    assert_eq!(found, Some(ada.clone()));
    assert_eq!(
        store
            .get_user_by_external_id("crm-nobody")
            .await
            .expect("none"),
        None
    );
    assert_eq!(
        store
            .get_user_by_external_id("CRM-ADA")
            .await
            .expect("case"),
        None
    );
    let (with_hash, _) = store
        .get_user_by_email("meta-ada@example.com")
        .await
        .expect("by email")
        .expect("found");
    assert_eq!(with_hash, ada);

    // Users without an external id do not collide with each other.
    let (b, c) = (user("meta-b@example.com"), user("meta-c@example.com"));
    store.insert_user(&b, "hash").await.expect("no external id");
    store
        .insert_user(&c, "hash")
        .await
        .expect("no external id either");
    let mut taken = user("meta-d@example.com");
    taken.external_id = Some("crm-ada".into());
    assert_eq!(
        conflict_on(store.insert_user(&taken, "hash").await),
        "external_id"
    );
    let mut same_email = user("META-ADA@example.com");
    same_email.external_id = Some("crm-other".into());
    assert_eq!(
        conflict_on(store.insert_user(&same_email, "hash").await),
        "email"
    );

    let mut b2 = b.clone();
    b2.external_id = Some("crm-ada".into());
    assert_eq!(
        conflict_on(store.update_user(&b2, None).await),
        "external_id"
    );
    assert_eq!(
        store.get_user(&b.id).await.expect("get"),
        Some(b.clone()),
        "unchanged"
    );

    let mut ada2 = ada.clone();
    ada2.external_id = Some("crm-ada-2".into());
    ada2.metadata = object(json!({"plan": {"tier": "silver"}}));
    assert!(store.update_user(&ada2, None).await.expect("update"));
    assert_eq!(
        store.get_user(&ada.id).await.expect("get"),
        Some(ada2.clone())
    );
    assert_eq!(
        store.get_user_by_external_id("crm-ada").await.expect("old"),
        None
    );
    // The freed external id can be taken by another user.
    assert!(store.update_user(&b2, None).await.expect("now free"));
    let mut cleared = ada2.clone();
    cleared.external_id = None;
    cleared.metadata = Map::new();
    assert!(store.update_user(&cleared, None).await.expect("clear"));
    assert_eq!(store.get_user(&ada.id).await.expect("get"), Some(cleared));

    // A batch insert skips a line whose external id is taken and keeps the others'.
    let mut e = user("meta-e@example.com");
    e.external_id = Some("crm-ada".into());
    let mut f = user("meta-f@example.com");
    f.external_id = Some("crm-f".into());
    f.metadata = object(json!({"a": {"b": {"c": {"d": {"e": 1}}}}}));
    let got = store
        .insert_users_if_absent(&[(e, "x".into()), (f.clone(), "x".into())])
        .await
        .expect("batch");
    assert_eq!(got, [false, true]);
    assert_eq!(
        store.get_user_by_external_id("crm-f").await.expect("f"),
        Some(f)
    );
}

/// Organizations' metadata is any JSON object; their external ids are unique among
/// organizations only (a user may hold the same one).
pub async fn case_organization_metadata_and_external_ids_round_trip(store: &dyn Store) {
    let mut acme = organization("meta-acme");
    acme.external_id = Some("shared-1".into());
    acme.metadata = object(json!({"billing": {"plan": "pro", "limits": [10, 20]}, "n": 3}));
    store.insert_organization(&acme).await.expect("insert");
    assert_eq!(
        store.get_organization(&acme.id).await.expect("get"),
        Some(acme.clone())
    );
    let found = store
        .get_organization_by_external_id("shared-1")
        .await
        .expect("by external id");
    assert_eq!(found, Some(acme.clone()));
    assert_eq!(
        store
            .get_organization_by_external_id("shared-2")
            .await
            .expect("none"),
        None
    );

    let mut u = user("meta-org-user@example.com");
    u.external_id = Some("shared-1".into());
    store
        .insert_user(&u, "hash")
        .await
        .expect("users are apart from organizations");

    let mut other = organization("meta-other");
    other.external_id = Some("shared-1".into());
    assert_eq!(
        conflict_on(store.insert_organization(&other).await),
        "external_id"
    );
    other.external_id = None;
    store
        .insert_organization(&other)
        .await
        .expect("no external id");
    let mut none_too = organization("meta-none");
    none_too.external_id = None;
    store
        .insert_organization(&none_too)
        .await
        .expect("nulls do not collide");
    let mut renamed = other.clone();
    renamed.name = "meta-acme".into();
    assert_eq!(
        conflict_on(store.update_organization(&renamed).await),
        "organization name"
    );
    other.external_id = Some("shared-1".into());
    assert_eq!(
        conflict_on(store.update_organization(&other).await),
        "external_id"
    );

    let mut acme2 = acme.clone();
    acme2.metadata = object(json!({"billing": {"plan": "free"}}));
    acme2.external_id = None;
    assert!(store.update_organization(&acme2).await.expect("update"));
    assert_eq!(
        store.get_organization(&acme.id).await.expect("get"),
        Some(acme2)
    );
    assert!(store.update_organization(&other).await.expect("freed"));
    let page = latch_core::store::PageRequest {
        limit: 200,
        after: None,
    };
    let listed = store.list_organizations(&page).await.expect("list");
    let again = listed
        .data
        .iter()
        .find(|o| o.id == other.id)
        .expect("listed");
    assert_eq!(again.external_id.as_deref(), Some("shared-1"));
}
