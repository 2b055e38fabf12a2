//! Cases: memberships, and what removing members, organizations and APIs revokes.

use latch_core::organization::Membership;
use latch_core::store::Store;

use super::organizations::{api, given_organization, given_role, is_conflict, walk};
use super::{
    NOW, given_application, given_user, grant_state, new_hash, new_id, refresh,
    session_record_without_row,
};

/// A member's roles read back sorted by name, per member across pages; replacing, losing a
/// deleted role and the user's deletion all show.
pub async fn case_memberships_carry_roles_and_page_by_user(store: &dyn Store) {
    let org = given_organization(store, "acme").await;
    let other = given_organization(store, "globex").await;
    let writer = given_role(store, "writer", &["write:x"]).await;
    let reader = given_role(store, "reader", &["read:x"]).await;
    let mut users = Vec::new();
    for i in 0..3 {
        let user = given_user(store).await;
        let roles = match i {
            0 => vec![writer.clone(), reader.clone()],
            1 => vec![reader.clone()],
            _ => vec![],
        };
        let m = Membership {
            organization_id: org.id.clone(),
            user_id: user.id.clone(),
            roles,
            created_at: NOW,
        };
        store
            .insert_membership(&m)
            .await
            .expect("insert membership");
        users.push(user);
    }
    let first = &users[0].id;
    let m = store
        .get_membership(&org.id, first)
        .await
        .expect("get")
        .expect("member");
    assert_eq!(m.role_names(), ["reader", "writer"], "sorted by name");
    assert_eq!(m.roles[0], reader, "with their permissions");
    assert_eq!(
        store.get_membership(&other.id, first).await.expect("get"),
        None
    );
    let again = Membership {
        organization_id: org.id.clone(),
        user_id: first.clone(),
        roles: vec![],
        created_at: NOW,
    };
    assert!(is_conflict(store.insert_membership(&again).await));

    let org_id = org.id.clone();
    let (members, sizes) = walk(2, |p| {
        let id = org_id.clone();
        async move { store.list_memberships(&id, &p).await }
    })
    .await;
    assert_eq!(sizes, [2, 1]);
    let mut expected: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    expected.sort_unstable();
    assert_eq!(
        members
            .iter()
            .map(|m| m.user_id.as_str())
            .collect::<Vec<_>>(),
        expected
    );
    for m in &members {
        let want = store
            .get_membership(&org.id, &m.user_id)
            .await
            .expect("get")
            .expect("member");
        assert_eq!(m, &want, "each member keeps their own roles in a list");
    }

    let joined = Membership {
        organization_id: other.id.clone(),
        user_id: first.clone(),
        roles: vec![],
        created_at: NOW,
    };
    store
        .insert_membership(&joined)
        .await
        .expect("join another");
    let orgs = store
        .list_user_organizations(first, 10)
        .await
        .expect("user orgs");
    assert_eq!(
        orgs.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        ["acme", "globex"]
    );
    assert_eq!(
        store
            .list_user_organizations(first, 1)
            .await
            .expect("limited")
            .len(),
        1
    );

    assert!(
        store
            .update_membership_roles(&org.id, first, std::slice::from_ref(&writer.id))
            .await
            .expect("update")
    );
    let m = store
        .get_membership(&org.id, first)
        .await
        .expect("get")
        .expect("member");
    assert_eq!(m.role_names(), ["writer"]);
    assert!(
        !store
            .update_membership_roles(&org.id, &new_id(), &[])
            .await
            .expect("update unknown")
    );
    assert!(store.delete_role(&writer.id).await.expect("delete role"));
    let m = store
        .get_membership(&org.id, first)
        .await
        .expect("get")
        .expect("member");
    assert!(m.roles.is_empty(), "a deleted role is lost by its members");

    assert!(store.delete_user(first).await.expect("delete user"));
    assert_eq!(
        store.get_membership(&org.id, first).await.expect("get"),
        None
    );
    assert!(
        store
            .list_user_organizations(first, 10)
            .await
            .expect("user orgs")
            .is_empty()
    );
}

/// Removing a member, deleting an organization or deleting an API revokes exactly the refresh
/// tokens issued for it.
pub async fn case_removals_revoke_the_refresh_tokens_issued_for_them(store: &dyn Store) {
    let app = given_application(store, None).await;
    let org = given_organization(store, "acme").await;
    let user = given_user(store).await;
    let session = session_record_without_row(&user.id);
    let m = Membership {
        organization_id: org.id.clone(),
        user_id: user.id.clone(),
        roles: vec![],
        created_at: NOW,
    };
    store
        .insert_membership(&m)
        .await
        .expect("insert membership");
    let issue = |org_id: Option<&str>, audience: Option<&str>| {
        let mut r = refresh(&app, &session, new_hash().as_str());
        r.organization_id = org_id.map(str::to_owned);
        r.audience = audience.map(str::to_owned);
        async move {
            store.insert_refresh_grant(&r).await.expect("insert");
            r
        }
    };
    let in_org = issue(Some(&org.id), None).await;
    let elsewhere = issue(Some("org_other"), None).await;
    let plain = issue(None, None).await;
    let revoked = |grant: latch_core::store::RefreshGrant| async move {
        let s = grant_state(store, &grant).await.expect("grant");
        s.revoked_at.is_some()
    };
    assert!(
        !store
            .delete_membership(&org.id, &new_id(), NOW)
            .await
            .expect("not a member")
    );
    assert!(
        store
            .delete_membership(&org.id, &user.id, NOW + 1)
            .await
            .expect("remove")
    );
    assert_eq!(
        store.get_membership(&org.id, &user.id).await.expect("get"),
        None
    );
    assert!(revoked(in_org).await);
    assert!(!revoked(elsewhere.clone()).await && !revoked(plain.clone()).await);

    let other = given_organization(store, "other").await;
    let for_other = issue(Some(&other.id), None).await;
    assert!(
        store
            .delete_organization(&other.id, NOW)
            .await
            .expect("delete org")
    );
    assert!(revoked(for_other).await);

    let a = api("https://api.example.com");
    store.insert_api(&a).await.expect("insert api");
    let for_api = issue(None, Some(&a.identifier)).await;
    assert!(store.delete_api(&a.id, NOW).await.expect("delete api"));
    assert!(revoked(for_api).await);
    assert!(!revoked(plain).await && !revoked(elsewhere).await);
}

/// A user's organizations page by organization id, each with the roles the user holds there (not
/// another member's), and only the organizations they belong to.
pub async fn case_a_users_organizations_page_with_their_roles(store: &dyn Store) {
    let writer = given_role(store, "writer", &["write:x"]).await;
    let reader = given_role(store, "reader", &["read:x"]).await;
    let user = given_user(store).await;
    let other = given_user(store).await;
    let mut orgs = Vec::new();
    for (i, name) in ["acme", "globex", "initech"].into_iter().enumerate() {
        let org = given_organization(store, name).await;
        let roles = match i {
            0 => vec![writer.clone(), reader.clone()],
            1 => vec![],
            _ => vec![reader.clone()],
        };
        let m = Membership {
            organization_id: org.id.clone(),
            user_id: user.id.clone(),
            roles,
            created_at: NOW,
        };
        store
            .insert_membership(&m)
            .await
            .expect("insert membership");
        let theirs = Membership {
            organization_id: org.id.clone(),
            user_id: other.id.clone(),
            roles: vec![writer.clone()],
            created_at: NOW,
        };
        store
            .insert_membership(&theirs)
            .await
            .expect("other member");
        orgs.push(org);
    }
    let elsewhere = given_organization(store, "hooli").await;

    let (rows, sizes) = walk(2, |page| {
        let id = user.id.clone();
        async move { store.list_user_memberships(&id, &page).await }
    })
    .await;
    assert_eq!(sizes, [2, 1], "three organizations in pages of two");
    let mut want = orgs.clone();
    want.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(
        rows.iter().map(|r| &r.organization).collect::<Vec<_>>(),
        want.iter().collect::<Vec<_>>(),
        "by id, never {}",
        elsewhere.name
    );
    let roles = |name: &str| {
        let row = rows
            .iter()
            .find(|r| r.organization.name == name)
            .expect("listed");
        row.roles.iter().map(|r| r.name.clone()).collect::<Vec<_>>()
    };
    assert_eq!(roles("acme"), ["reader", "writer"], "sorted by name");
    assert!(roles("globex").is_empty(), "not the other member's writer");
    assert_eq!(roles("initech"), ["reader"]);

    let nobody = store
        .list_user_memberships(
            &new_id(),
            &latch_core::store::PageRequest {
                limit: 10,
                after: None,
            },
        )
        .await
        .expect("unknown user");
    assert!(nobody.data.is_empty() && nobody.next_cursor.is_none());
}
