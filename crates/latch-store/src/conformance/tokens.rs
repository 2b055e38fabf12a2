//! Cases: refresh tokens, revoked access tokens, purge.

use std::sync::Arc;

use latch_core::store::{
    LoginRequestRecord, Redemption, RefreshTokenState, SessionSelector, Store,
};

use super::{
    NOW, given_application, given_code, given_refresh, given_session, given_user, new_hash, new_id,
    redeem, refresh,
};

/// A token reads back with its state; rotation marks it, stores the successor, and happens once.
pub async fn case_refresh_tokens_rotate_once(store: &dyn Store) {
    let app = given_application(store, None).await;
    let user = given_user(store).await;
    let (_, session) = given_session(store, &user.id).await;
    let family = new_id();
    let token = given_refresh(store, &app, &session, &family).await;
    let state = store
        .get_refresh_token(&token.token_hash)
        .await
        .expect("get")
        .expect("token");
    let fresh = RefreshTokenState {
        record: token.clone(),
        rotated_at: None,
        successor_hash: None,
        revoked_at: None,
        session_active: true,
    };
    assert_eq!(state, fresh, "every field round-trips");
    assert_eq!(
        store.get_refresh_token(&new_hash()).await.expect("get"),
        None
    );

    let mut successor = refresh(&app, &session, &family);
    successor.created_at = NOW + 10;
    assert!(
        store
            .rotate_refresh_token(&token.token_hash, &successor, NOW + 10)
            .await
            .expect("rotate")
    );
    let state = store
        .get_refresh_token(&token.token_hash)
        .await
        .expect("get")
        .expect("token");
    assert_eq!(
        (state.rotated_at, state.successor_hash),
        (Some(NOW + 10), Some(successor.token_hash.clone()))
    );
    let next = store
        .get_refresh_token(&successor.token_hash)
        .await
        .expect("get")
        .expect("successor");
    assert_eq!(
        next,
        RefreshTokenState {
            record: successor.clone(),
            ..fresh.clone()
        }
    );
    assert!(
        !store
            .rotate_refresh_token(&token.token_hash, &successor, NOW + 11)
            .await
            .expect("rotate again")
    );
    let state = store
        .get_refresh_token(&token.token_hash)
        .await
        .expect("get")
        .expect("token");
    assert_eq!(
        state.rotated_at,
        Some(NOW + 10),
        "the first rotation stands"
    );

    let orphan = given_refresh(
        store,
        &app,
        &super::session_record_without_row(&user.id),
        &new_id(),
    )
    .await;
    let state = store
        .get_refresh_token(&orphan.token_hash)
        .await
        .expect("get")
        .expect("token");
    assert!(
        !state.session_active,
        "a token whose session row is gone is not session-active"
    );
}

/// Fifty concurrent rotations of one token: exactly one `true`, the successor stored once.
pub async fn case_concurrent_rotations_have_one_winner(store: Arc<dyn Store>) {
    let app = given_application(&*store, None).await;
    let user = given_user(&*store).await;
    let (_, session) = given_session(&*store, &user.id).await;
    let family = new_id();
    let token = given_refresh(&*store, &app, &session, &family).await;
    let successor = refresh(&app, &session, &family);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (store, presented, successor) = (
                Arc::clone(&store),
                token.token_hash.clone(),
                successor.clone(),
            );
            tokio::spawn(async move {
                store
                    .rotate_refresh_token(&presented, &successor, NOW)
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
    let state = store
        .get_refresh_token(&token.token_hash)
        .await
        .expect("get")
        .expect("token");
    assert_eq!(state.successor_hash, Some(successor.token_hash.clone()));
    let next = store
        .get_refresh_token(&successor.token_hash)
        .await
        .expect("get")
        .expect("successor");
    assert_eq!((next.record, next.rotated_at), (successor, None));
    assert_eq!(
        store
            .revoke_refresh_family(&family, NOW)
            .await
            .expect("revoke"),
        2,
        "the family has two rows"
    );
}

/// Revoking a family revokes each of its tokens once, and a successor of a revoked token is
/// born revoked.
pub async fn case_a_family_is_revoked_whole(store: &dyn Store) {
    let app = given_application(store, None).await;
    let user = given_user(store).await;
    let (_, session) = given_session(store, &user.id).await;
    let family = new_id();
    let first = given_refresh(store, &app, &session, &family).await;
    let second = refresh(&app, &session, &family);
    assert!(
        store
            .rotate_refresh_token(&first.token_hash, &second, NOW)
            .await
            .expect("rotate")
    );
    let third = given_refresh(store, &app, &session, &family).await;
    let bystander = given_refresh(store, &app, &session, &new_id()).await;

    assert_eq!(
        store
            .revoke_refresh_family(&family, NOW + 7)
            .await
            .expect("revoke"),
        3
    );
    for t in [&first, &second, &third] {
        let state = store
            .get_refresh_token(&t.token_hash)
            .await
            .expect("get")
            .expect("token");
        assert_eq!(state.revoked_at, Some(NOW + 7));
    }
    let state = store
        .get_refresh_token(&bystander.token_hash)
        .await
        .expect("get")
        .expect("token");
    assert_eq!(state.revoked_at, None);
    assert_eq!(
        store
            .revoke_refresh_family(&family, NOW + 8)
            .await
            .expect("revoke"),
        0
    );

    let fourth = refresh(&app, &session, &family);
    assert!(
        store
            .rotate_refresh_token(&third.token_hash, &fourth, NOW + 9)
            .await
            .expect("rotate")
    );
    let state = store
        .get_refresh_token(&fourth.token_hash)
        .await
        .expect("get")
        .expect("token");
    assert_eq!(state.revoked_at, Some(NOW + 7));
}

pub async fn case_revoked_access_tokens_are_remembered(store: &dyn Store) {
    assert!(!store.is_access_token_revoked("jti-1").await.expect("check"));
    store
        .insert_revoked_access_token("jti-1", NOW + 300)
        .await
        .expect("revoke");
    store
        .insert_revoked_access_token("jti-1", NOW + 300)
        .await
        .expect("revoking twice is fine");
    assert!(store.is_access_token_revoked("jti-1").await.expect("check"));
    assert!(!store.is_access_token_revoked("jti-2").await.expect("check"));
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
        Redemption::Redeemed
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
    store
        .insert_revoked_access_token("old-jti", NOW - 1)
        .await
        .expect("insert");
    store
        .insert_revoked_access_token("live-jti", NOW + 1)
        .await
        .expect("insert");
    let mut long_expired = refresh(&app, &session, &new_id());
    long_expired.expires_at = NOW - 86_401;
    store
        .insert_refresh_token(&long_expired)
        .await
        .expect("insert");
    let mut just_expired = refresh(&app, &session, &new_id());
    just_expired.expires_at = NOW - 3_600;
    store
        .insert_refresh_token(&just_expired)
        .await
        .expect("insert");

    assert_eq!(store.purge_expired(NOW).await.expect("purge"), 4);
    assert_eq!(
        redeem(store, &old_code, NOW - 1, None).await,
        Redemption::Redeemed,
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
    assert!(
        !store
            .is_access_token_revoked("old-jti")
            .await
            .expect("check")
    );
    assert!(
        store
            .is_access_token_revoked("live-jti")
            .await
            .expect("check")
    );
    assert_eq!(
        store
            .get_refresh_token(&long_expired.token_hash)
            .await
            .expect("get"),
        None
    );
    assert!(
        store
            .get_refresh_token(&just_expired.token_hash)
            .await
            .expect("get")
            .is_some()
    );
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
