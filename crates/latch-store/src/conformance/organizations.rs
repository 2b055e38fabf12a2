//! Cases: organizations, roles, API resources and memberships.

use std::future::Future;

use latch_core::organization::{ApiResource, Organization, Role};
use latch_core::store::{Page, PageRequest, Store, StoreError};

use super::{NOW, new_id};

pub(crate) fn organization(name: &str) -> Organization {
    Organization {
        id: format!("org_{}", uuid::Uuid::now_v7().simple()),
        name: name.to_owned(),
        display_name: Some(format!("{name} Inc.")),
        metadata: serde_json::json!({"tier": "gold"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        external_id: None,
        created_at: NOW,
        updated_at: NOW,
    }
}

pub(crate) fn role(name: &str, permissions: &[&str]) -> Role {
    Role {
        id: new_id(),
        name: name.to_owned(),
        description: Some(format!("the {name} role")),
        permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
        created_at: NOW,
        updated_at: NOW,
    }
}

pub(crate) fn api(identifier: &str) -> ApiResource {
    let claims = serde_json::json!({"https://example.com/env": "test"});
    ApiResource {
        id: new_id(),
        identifier: identifier.to_owned(),
        name: "Example API".to_owned(),
        permissions: vec!["read:x".to_owned(), "write:x".to_owned()],
        access_token_ttl_seconds: Some(900),
        allow_offline_access: false,
        custom_claims: claims.as_object().cloned().unwrap_or_default(),
        claim_mappings: super::claim_mappings(&["access_token"]),
        created_at: NOW,
        updated_at: NOW,
    }
}

pub(crate) async fn given_organization(store: &dyn Store, name: &str) -> Organization {
    let o = organization(name);
    store
        .insert_organization(&o)
        .await
        .expect("insert organization");
    o
}

pub(crate) async fn given_role(store: &dyn Store, name: &str, permissions: &[&str]) -> Role {
    let r = role(name, permissions);
    store.insert_role(&r).await.expect("insert role");
    r
}

/// Walks every page of `limit` and returns the rows and the page sizes.
pub(crate) async fn walk<T, F, Fut>(limit: u32, mut list: F) -> (Vec<T>, Vec<usize>)
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<T>, StoreError>>,
{
    let (mut rows, mut sizes, mut after) = (Vec::new(), Vec::new(), None);
    loop {
        let page = list(PageRequest { limit, after }).await.expect("list");
        sizes.push(page.data.len());
        rows.extend(page.data);
        after = page.next_cursor;
        if after.is_none() {
            return (rows, sizes);
        }
        assert!(sizes.len() < 20, "the cursor walk does not end");
    }
}

pub(crate) fn is_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

/// Every field round-trips; names are unique; lists page by id; delete removes.
pub async fn case_organizations_round_trip_and_names_are_unique(store: &dyn Store) {
    let acme = given_organization(store, "acme").await;
    let got = store.get_organization(&acme.id).await.expect("get");
    assert_eq!(got.as_ref(), Some(&acme));
    assert_eq!(
        store
            .get_organization_by_name("acme")
            .await
            .expect("by name"),
        got
    );
    assert_eq!(store.get_organization("org_none").await.expect("get"), None);
    assert!(is_conflict(
        store.insert_organization(&organization("acme")).await
    ));

    let globex = given_organization(store, "globex").await;
    let mut renamed = acme.clone();
    renamed.name = "acme-2".to_owned();
    renamed.display_name = None;
    renamed.metadata.clear();
    renamed.updated_at = NOW + 5;
    assert!(store.update_organization(&renamed).await.expect("update"));
    assert_eq!(
        store.get_organization(&acme.id).await.expect("get"),
        Some(renamed.clone())
    );
    renamed.name = globex.name.clone();
    assert!(
        is_conflict(store.update_organization(&renamed).await),
        "a taken name"
    );
    assert!(
        !store
            .update_organization(&organization("ghost"))
            .await
            .expect("update")
    );

    given_organization(store, "initech").await;
    let (rows, sizes) = walk(2, |p| async move { store.list_organizations(&p).await }).await;
    assert_eq!(sizes, [2, 1]);
    let mut ids: Vec<String> = rows.iter().map(|o| o.id.clone()).collect();
    let sorted = {
        let mut s = ids.clone();
        s.sort();
        s
    };
    assert_eq!(ids, sorted, "by id");
    ids.dedup();
    assert_eq!(ids.len(), 3);

    assert!(
        store
            .delete_organization(&acme.id, NOW)
            .await
            .expect("delete")
    );
    assert!(
        !store
            .delete_organization(&acme.id, NOW)
            .await
            .expect("delete again")
    );
    assert_eq!(store.get_organization(&acme.id).await.expect("get"), None);
}

/// Roles and APIs round-trip; their names and identifiers are unique; an API keeps its identifier.
pub async fn case_roles_and_apis_round_trip(store: &dyn Store) {
    let reader = given_role(store, "reader", &["read:x"]).await;
    assert_eq!(
        store.get_role(&reader.id).await.expect("get"),
        Some(reader.clone())
    );
    assert_eq!(
        store.get_role_by_name("reader").await.expect("by name"),
        Some(reader.clone())
    );
    assert!(is_conflict(store.insert_role(&role("reader", &[])).await));
    let mut changed = reader.clone();
    changed.description = None;
    changed.permissions = vec!["read:x".to_owned(), "read:y".to_owned()];
    assert!(store.update_role(&changed).await.expect("update"));
    assert_eq!(
        store.get_role(&reader.id).await.expect("get"),
        Some(changed)
    );
    let writer = given_role(store, "writer", &[]).await;
    let (roles, sizes) = walk(1, |p| async move { store.list_roles(&p).await }).await;
    assert_eq!(sizes, [1, 1]);
    assert_eq!(roles.len(), 2);
    assert!(store.delete_role(&writer.id).await.expect("delete"));
    assert_eq!(store.get_role(&writer.id).await.expect("get"), None);

    let a = api("https://api.example.com");
    store.insert_api(&a).await.expect("insert api");
    assert_eq!(store.get_api(&a.id).await.expect("get"), Some(a.clone()));
    assert_eq!(
        store
            .get_api_by_identifier("https://api.example.com")
            .await
            .expect("by identifier"),
        Some(a.clone())
    );
    assert!(is_conflict(
        store.insert_api(&api("https://api.example.com")).await
    ));
    let mut changed = a.clone();
    changed.identifier = "https://elsewhere.example.com".to_owned();
    changed.allow_offline_access = true;
    changed.access_token_ttl_seconds = None;
    changed.custom_claims.clear();
    changed.claim_mappings.truncate(1);
    assert!(store.update_api(&changed).await.expect("update"));
    let got = store.get_api(&a.id).await.expect("get").expect("api");
    assert_eq!(got.identifier, a.identifier, "the identifier is immutable");
    assert!(got.allow_offline_access && got.custom_claims.is_empty());
    assert_eq!(got.claim_mappings, changed.claim_mappings);
    store
        .insert_api(&api("urn:second"))
        .await
        .expect("insert api");
    let (apis, _) = walk(1, |p| async move { store.list_apis(&p).await }).await;
    assert_eq!(apis.len(), 2);
    assert!(store.delete_api(&a.id, NOW).await.expect("delete"));
    assert!(!store.delete_api(&a.id, NOW).await.expect("delete again"));
}
