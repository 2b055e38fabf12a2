//! Cases: refresh tokens.

use std::sync::Arc;

use latch_core::store::{GrantKey, RefreshGrantState, Store};

use super::{
    NOW, given_application, given_refresh, given_session, given_user, grant_state, new_hash,
};

/// A grant reads back with its state; rotation moves its generation and expiry, once per
/// generation, and not once it is revoked.
pub async fn case_refresh_grants_rotate_once_per_generation(store: &dyn Store) {
    let app = given_application(store, None).await;
    let user = given_user(store).await;
    let (_, session) = given_session(store, &user.id).await;
    let grant = given_refresh(store, &app, &session, new_hash().as_str()).await;
    let fresh = RefreshGrantState {
        grant: grant.clone(),
        user: user.clone(),
        generation: 0,
        rotated_at: None,
        revoked_at: None,
        session_active: true,
    };
    assert_eq!(
        grant_state(store, &grant).await,
        Some(fresh.clone()),
        "every field round-trips"
    );
    assert_eq!(
        store
            .get_refresh_grant(GrantKey::Family(new_hash().as_str()))
            .await
            .expect("get"),
        None
    );
    assert!(
        store.insert_refresh_grant(&grant).await.is_err(),
        "a family id is used once"
    );

    let rotate = |generation, expires_at, now| {
        store.rotate_refresh_grant(&grant.family_id, generation, expires_at, now)
    };
    assert!(rotate(0, NOW + 5_000, NOW + 10).await.expect("rotate"));
    assert!(
        !rotate(0, NOW + 6_000, NOW + 11).await.expect("rotate"),
        "generation 0 moved already"
    );
    let state = grant_state(store, &grant).await.expect("grant");
    assert_eq!(
        (state.generation, state.rotated_at, state.grant.expires_at),
        (1, Some(NOW + 10), NOW + 5_000)
    );
    assert!(rotate(1, NOW + 7_000, NOW + 12).await.expect("rotate"));
    assert_eq!(
        grant_state(store, &grant).await.expect("grant").generation,
        2
    );
    assert_eq!(
        store
            .revoke_refresh_family(&grant.family_id, NOW + 13)
            .await
            .expect("revoke"),
        1
    );
    assert_eq!(
        store
            .revoke_refresh_family(&grant.family_id, NOW + 14)
            .await
            .expect("revoke"),
        0,
        "revoked once"
    );
    assert!(
        !rotate(2, NOW + 8_000, NOW + 15).await.expect("rotate"),
        "a revoked grant does not rotate"
    );
    let state = grant_state(store, &grant).await.expect("grant");
    assert_eq!((state.generation, state.revoked_at), (2, Some(NOW + 13)));

    let orphan = given_refresh(
        store,
        &app,
        &super::session_record_without_row(&user.id),
        new_hash().as_str(),
    )
    .await;
    let state = grant_state(store, &orphan).await.expect("grant");
    assert!(
        !state.session_active,
        "a grant whose session row is gone is not session-active"
    );
}

/// Fifty concurrent rotations of one generation: exactly one `true`.
pub async fn case_concurrent_rotations_have_one_winner(store: Arc<dyn Store>) {
    let app = given_application(&*store, None).await;
    let user = given_user(&*store).await;
    let (_, session) = given_session(&*store, &user.id).await;
    let grant = given_refresh(&*store, &app, &session, new_hash().as_str()).await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (store, family) = (Arc::clone(&store), grant.family_id.clone());
            tokio::spawn(async move {
                store
                    .rotate_refresh_grant(&family, 0, NOW + 1_000 + i, NOW)
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        if task.await.expect("task").expect("rotate") {
            won += 1;
        }
    }
    assert_eq!(won, 1);
    let state = grant_state(&*store, &grant).await.expect("grant");
    assert_eq!(state.generation, 1);
}

/// `rotate_current_refresh_grant` rotates only in the case `refresh_decision` answers `Rotate`
/// (the live generation, the grant's own client, not revoked, not expired, its session live)
/// and then returns the grant rotated with its user; in every other case it answers `None` and
/// writes nothing. The use is activity in the session, written once a minute at most.
pub async fn case_a_current_refresh_grant_rotates_in_one_step(store: &dyn Store) {
    let app = given_application(store, None).await;
    let user = given_user(store).await;
    let (_, session) = given_session(store, &user.id).await;
    let grant = given_refresh(store, &app, &session, new_hash().as_str()).await;
    let client = grant.client_id.as_str();
    let rotate = |family: &str, generation, client: &str, expires_at, now| {
        let (family, client) = (family.to_owned(), client.to_owned());
        async move {
            store
                .rotate_current_refresh_grant(&family, generation, &client, expires_at, now)
                .await
                .expect("rotate")
        }
    };
    let before = grant_state(store, &grant).await.expect("grant");

    assert_eq!(
        rotate(&grant.family_id, 0, "another-client", NOW + 5_000, NOW + 10).await,
        None,
        "another client's token"
    );
    assert_eq!(
        rotate(&grant.family_id, 1, client, NOW + 5_000, NOW + 10).await,
        None,
        "a generation ahead"
    );
    assert_eq!(
        rotate(new_hash().as_str(), 0, client, NOW + 5_000, NOW + 10).await,
        None,
        "an unknown grant"
    );
    assert_eq!(
        rotate(&grant.family_id, 0, client, NOW + 200_000, grant.expires_at).await,
        None,
        "expired"
    );
    assert_eq!(
        grant_state(store, &grant).await,
        Some(before.clone()),
        "none of those wrote anything"
    );

    let rotated = rotate(&grant.family_id, 0, client, NOW + 5_000, NOW + 10)
        .await
        .expect("the live generation rotates");
    let mut expected = before.clone();
    expected.generation = 1;
    expected.rotated_at = Some(NOW + 10);
    expected.grant.expires_at = NOW + 5_000;
    assert_eq!(rotated, expected, "the grant as rotated, with its user");
    assert_eq!(grant_state(store, &grant).await, Some(expected.clone()));
    assert_eq!(
        store
            .get_session(&session.sid)
            .await
            .expect("get")
            .expect("live")
            .last_active_at,
        NOW,
        "activity within the minute is not written"
    );
    assert_eq!(
        rotate(&grant.family_id, 0, client, NOW + 6_000, NOW + 11).await,
        None,
        "generation 0 moved already"
    );
    let again = rotate(&grant.family_id, 1, client, NOW + 7_000, NOW + 70)
        .await
        .expect("then generation 1");
    assert_eq!(again.generation, 2);
    assert_eq!(
        store
            .get_session(&session.sid)
            .await
            .expect("get")
            .expect("live")
            .last_active_at,
        NOW + 70,
        "the session's activity was written"
    );

    store
        .revoke_refresh_family(&grant.family_id, NOW + 80)
        .await
        .expect("revoke");
    assert_eq!(
        rotate(&grant.family_id, 2, client, NOW + 8_000, NOW + 81).await,
        None,
        "revoked"
    );
    let state = grant_state(store, &grant).await.expect("grant");
    assert_eq!((state.generation, state.revoked_at), (2, Some(NOW + 80)));

    // A grant whose session has ended (without the grant being revoked: a session row gone).
    let orphan = given_refresh(
        store,
        &app,
        &super::session_record_without_row(&user.id),
        new_hash().as_str(),
    )
    .await;
    assert_eq!(
        rotate(&orphan.family_id, 0, client, NOW + 5_000, NOW + 10).await,
        None,
        "its session is gone"
    );
    assert_eq!(
        grant_state(store, &orphan).await.expect("grant").generation,
        0
    );
}

/// Fifty concurrent one-step rotations of one generation: exactly one rotates.
pub async fn case_concurrent_current_rotations_have_one_winner(store: Arc<dyn Store>) {
    let app = given_application(&*store, None).await;
    let user = given_user(&*store).await;
    let (_, session) = given_session(&*store, &user.id).await;
    let grant = given_refresh(&*store, &app, &session, new_hash().as_str()).await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = Arc::clone(&store);
            let (family, client) = (grant.family_id.clone(), grant.client_id.clone());
            tokio::spawn(async move {
                store
                    .rotate_current_refresh_grant(&family, 0, &client, NOW + 1_000 + i, NOW)
                    .await
            })
        })
        .collect();
    let mut won = Vec::new();
    for task in tasks {
        if let Some(state) = task.await.expect("task").expect("rotate") {
            won.push(state);
        }
    }
    assert_eq!(won.len(), 1);
    let state = grant_state(&*store, &grant).await.expect("grant");
    assert_eq!(state, won[0], "the winner's rotation is what is stored");
}
