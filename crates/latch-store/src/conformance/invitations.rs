//! Cases: invitations (single use, bound to an email, expiring).

use std::sync::Arc;

use latch_core::organization::{Invitation, Membership};
use latch_core::store::Store;

use super::organizations::{given_organization, given_role, walk};
use super::{NOW, given_user, new_hash, new_id};

pub(super) fn invitation(
    organization_id: &str,
    email: &str,
    roles: Vec<latch_core::organization::Role>,
) -> Invitation {
    Invitation {
        id: new_id(),
        organization_id: organization_id.to_owned(),
        email: email.to_owned(),
        roles,
        token_hash: new_hash(),
        created_at: NOW,
        expires_at: NOW + 3_600,
        accepted_at: None,
        client_id: Some("client-1".to_owned()),
    }
}

/// Read back by token; refused for another email or once expired; accepted once, which makes the
/// user a member with the invitation's roles added to those held; listed by page; deletable.
pub async fn case_an_invitation_is_accepted_once_by_its_email_before_it_expires(store: &dyn Store) {
    let org = given_organization(store, "acme").await;
    let reader = given_role(store, "reader", &["read:x"]).await;
    let writer = given_role(store, "writer", &["write:x"]).await;
    let user = given_user(store).await;
    let inv = invitation(
        &org.id,
        &user.email.to_uppercase(),
        vec![reader.clone(), writer.clone()],
    );
    store.insert_invitation(&inv).await.expect("insert");
    assert_eq!(
        store
            .get_invitation_by_token(&inv.token_hash)
            .await
            .expect("get"),
        Some(inv.clone())
    );
    assert_eq!(
        store
            .get_invitation_by_token(&new_hash())
            .await
            .expect("get"),
        None
    );

    let hash = &inv.token_hash;
    let other = "someone-else@example.com";
    assert_eq!(
        store
            .accept_invitation(hash, other, &user.id, NOW)
            .await
            .expect("accept"),
        None
    );
    assert_eq!(
        store
            .accept_invitation(hash, &user.email, &user.id, NOW + 3_600)
            .await
            .expect("accept"),
        None,
        "expired"
    );
    // Already a member with one of the roles: the invitation adds the other.
    let held = Membership {
        organization_id: org.id.clone(),
        user_id: user.id.clone(),
        roles: vec![reader.clone()],
        created_at: NOW,
    };
    store.insert_membership(&held).await.expect("member");
    let accepted = store
        .accept_invitation(hash, &user.email, &user.id, NOW + 10)
        .await
        .expect("accept");
    let accepted = accepted.expect("accepted by its email, in any letter case");
    assert_eq!(accepted.accepted_at, Some(NOW + 10));
    assert_eq!(accepted.roles, vec![reader.clone(), writer.clone()]);
    let m = store
        .get_membership(&org.id, &user.id)
        .await
        .expect("get")
        .expect("member");
    assert_eq!(m.role_names(), ["reader", "writer"]);
    assert_eq!(
        store
            .accept_invitation(hash, &user.email, &user.id, NOW + 11)
            .await
            .expect("again"),
        None,
        "single use"
    );
    let state = store
        .get_invitation_by_token(hash)
        .await
        .expect("get")
        .expect("invitation");
    assert_eq!(state.accepted_at, Some(NOW + 10));

    let newcomer = given_user(store).await;
    let plain = invitation(&org.id, &newcomer.email, vec![]);
    store.insert_invitation(&plain).await.expect("insert");
    let got = store
        .accept_invitation(&plain.token_hash, &newcomer.email, &newcomer.id, NOW)
        .await
        .expect("accept");
    assert!(got.is_some());
    let m = store
        .get_membership(&org.id, &newcomer.id)
        .await
        .expect("get")
        .expect("a new member");
    assert!(m.roles.is_empty());

    let third = invitation(&org.id, "c@example.com", vec![writer.clone()]);
    store.insert_invitation(&third).await.expect("insert");
    let org_id = org.id.clone();
    let (all, sizes) = walk(2, |p| {
        let id = org_id.clone();
        async move { store.list_invitations(&id, &p).await }
    })
    .await;
    assert_eq!(sizes, [2, 1]);
    let ids: Vec<&str> = all.iter().map(|i| i.id.as_str()).collect();
    let mut expected = [inv.id.as_str(), plain.id.as_str(), third.id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected, "by id");
    for listed in &all {
        let by_token = store
            .get_invitation_by_token(&listed.token_hash)
            .await
            .expect("get");
        assert_eq!(
            Some(listed),
            by_token.as_ref(),
            "each keeps its own roles in a list"
        );
    }
    let elsewhere = given_organization(store, "globex").await;
    assert!(
        !store
            .delete_invitation(&elsewhere.id, &third.id)
            .await
            .expect("other org")
    );
    assert!(
        store
            .delete_invitation(&org.id, &third.id)
            .await
            .expect("delete")
    );
    assert_eq!(
        store
            .get_invitation_by_token(&third.token_hash)
            .await
            .expect("get"),
        None
    );
}

/// Concurrent acceptances of one invitation: exactly one wins.
pub async fn case_concurrent_acceptances_have_one_winner(store: Arc<dyn Store>) {
    let org = given_organization(store.as_ref(), "acme").await;
    let user = given_user(store.as_ref()).await;
    let inv = invitation(&org.id, &user.email, vec![]);
    store.insert_invitation(&inv).await.expect("insert");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (store, hash, email, id) = (
            store.clone(),
            inv.token_hash.clone(),
            user.email.clone(),
            user.id.clone(),
        );
        tasks.push(tokio::spawn(async move {
            store
                .accept_invitation(&hash, &email, &id, NOW)
                .await
                .expect("accept")
                .is_some()
        }));
    }
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.expect("task"));
    }
    assert_eq!(winners, 1);
}
