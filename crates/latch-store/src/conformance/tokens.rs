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
