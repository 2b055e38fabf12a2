//! Cases: refresh tokens, purge.

use std::sync::Arc;

use latch_core::revocation::{Revocation, RevocationKind};
use latch_core::store::{
    GrantKey, LoginRequestRecord, Redemption, RefreshGrantState, SessionSelector, Store,
};

use super::{
    NOW, given_application, given_code, given_refresh, given_session, given_user, grant_state,
    new_hash, new_id, redeem, refresh,
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

/// Uses of expired codes, expired login requests and jtis go; refresh tokens a day after
/// expiry; nothing live.
pub async fn case_purge_deletes_only_what_expired(store: &dyn Store) {
    let app = given_application(store, None).await;
    let user = given_user(store).await;
    let (cookie, session) = given_session(store, &user.id).await;
    let old_code = new_hash();
    assert_eq!(
        redeem(store, &old_code, NOW - 1, None).await,
        Redemption::Redeemed(None)
    );
    let live_code = given_code(store, &app, &session).await;
    let login = |expires_at| LoginRequestRecord {
        id: new_id(),
        browser_binding: new_hash(),
        request: "{}".to_owned(),
        created_at: NOW - 700,
        expires_at,
    };
    let (old_login, live_login) = (login(NOW - 100), login(NOW + 100));
    store
        .insert_login_request(&old_login)
        .await
        .expect("insert");
    store
        .insert_login_request(&live_login)
        .await
        .expect("insert");
    let revoked = |value: &str, expires_at| Revocation {
        kind: RevocationKind::Token,
        value: value.to_owned(),
        expires_at,
    };
    store
        .insert_revocation(&revoked("old-jti", NOW - 1), NOW - 700)
        .await
        .expect("insert");
    store
        .insert_revocation(&revoked("live-jti", NOW + 1), NOW - 700)
        .await
        .expect("insert");
    let mut long_expired = refresh(&app, &session, new_hash().as_str());
    long_expired.expires_at = NOW - 86_401;
    store
        .insert_refresh_grant(&long_expired)
        .await
        .expect("insert");
    let mut just_expired = refresh(&app, &session, new_hash().as_str());
    just_expired.expires_at = NOW - 3_600;
    store
        .insert_refresh_grant(&just_expired)
        .await
        .expect("insert");

    assert_eq!(store.purge_expired(NOW).await.expect("purge"), 4);
    assert_eq!(
        redeem(store, &old_code, NOW - 1, None).await,
        Redemption::Redeemed(None),
        "the use of the expired code was forgotten (the server refuses expired codes first)"
    );
    assert_eq!(
        redeem(store, &live_code, NOW + 60, None).await,
        Redemption::Replayed,
        "the use of the live code is kept"
    );
    assert_eq!(
        store.get_login_request(&old_login.id).await.expect("get"),
        None
    );
    assert!(
        store
            .get_login_request(&live_login.id)
            .await
            .expect("get")
            .is_some()
    );
    let left: Vec<String> = store
        .list_revocations(0, NOW - 700)
        .await
        .expect("list")
        .into_iter()
        .filter(|r| r.kind == RevocationKind::Token)
        .map(|r| r.value)
        .collect();
    assert_eq!(
        left,
        ["live-jti"],
        "the expired revocation went, the live one stayed"
    );
    assert_eq!(grant_state(store, &long_expired).await, None);
    assert!(grant_state(store, &just_expired).await.is_some());
    assert!(
        store
            .get_active_session(&cookie, NOW, 600)
            .await
            .expect("get")
            .is_some()
    );
    let _ = store
        .end_sessions(SessionSelector::One { sid: &session.sid }, NOW)
        .await
        .expect("end");
    assert_eq!(
        store.purge_expired(NOW + 1).await.expect("purge again"),
        1,
        "only the expired code's use recorded again above goes: a just-ended session stays a day"
    );
}
