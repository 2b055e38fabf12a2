//! Cases: authorization codes.

use std::sync::Arc;

use latch_core::store::{CodeTake, Store};

use super::{
    NOW, code, given_application, given_code, given_refresh, given_session, given_user, new_hash,
    new_id,
};

/// First take returns the code (even expired: the caller checks); the second is a replay.
pub async fn case_a_code_is_taken_once_then_replayed(store: &dyn Store) {
    let app = given_application(store, None).await;
    let user = given_user(store).await;
    let (_, session) = given_session(store, &user.id).await;
    let mut expired = code(&app, &session);
    expired.nonce = None;
    expired.code_challenge = Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned());
    expired.expires_at = NOW - 1;
    store
        .insert_authorization_code(&expired)
        .await
        .expect("insert");
    let fresh = given_code(store, &app, &session).await;

    let take = store
        .take_authorization_code(&fresh.code_hash, NOW)
        .await
        .expect("take");
    assert_eq!(
        take,
        CodeTake::Taken(fresh.clone()),
        "every field round-trips"
    );
    let again = store
        .take_authorization_code(&fresh.code_hash, NOW + 1)
        .await
        .expect("take");
    assert_eq!(again, CodeTake::Replayed);
    let take = store
        .take_authorization_code(&expired.code_hash, NOW)
        .await
        .expect("take");
    assert_eq!(
        take,
        CodeTake::Taken(expired),
        "expiry is the caller's check"
    );
    let unknown = store
        .take_authorization_code(&new_hash(), NOW)
        .await
        .expect("take");
    assert_eq!(unknown, CodeTake::NotFound);
}

/// A replay revokes the tokens issued from the code's first use, including one inserted after
/// the replay (the first exchange finishing late); other families are untouched.
pub async fn case_a_replayed_code_revokes_its_family(store: &dyn Store) {
    let app = given_application(store, None).await;
    let user = given_user(store).await;
    let (_, session) = given_session(store, &user.id).await;
    let c = given_code(store, &app, &session).await;
    let late = given_code(store, &app, &session).await;
    assert!(matches!(
        store
            .take_authorization_code(&c.code_hash, NOW)
            .await
            .expect("take"),
        CodeTake::Taken(_)
    ));
    assert!(matches!(
        store
            .take_authorization_code(&late.code_hash, NOW)
            .await
            .expect("take"),
        CodeTake::Taken(_)
    ));
    let issued = given_refresh(store, &app, &session, c.code_hash.as_str()).await;
    let bystander = given_refresh(store, &app, &session, &new_id()).await;

    assert_eq!(
        store
            .take_authorization_code(&c.code_hash, NOW + 3)
            .await
            .expect("take"),
        CodeTake::Replayed
    );
    let state = store
        .get_refresh_token(&issued.token_hash)
        .await
        .expect("get")
        .expect("token");
    assert_eq!(state.revoked_at, Some(NOW + 3));
    let other = store
        .get_refresh_token(&bystander.token_hash)
        .await
        .expect("get")
        .expect("token");
    assert_eq!(other.revoked_at, None);

    assert_eq!(
        store
            .take_authorization_code(&late.code_hash, NOW + 4)
            .await
            .expect("take"),
        CodeTake::Replayed
    );
    let after = given_refresh(store, &app, &session, late.code_hash.as_str()).await;
    let state = store
        .get_refresh_token(&after.token_hash)
        .await
        .expect("get")
        .expect("token");
    assert_eq!(
        state.revoked_at,
        Some(NOW + 4),
        "a token issued from a replayed code is born revoked"
    );
}

/// Fifty concurrent takes of one code: exactly one `Taken`, every other a `Replayed`.
pub async fn case_concurrent_takes_of_a_code_have_one_winner(store: Arc<dyn Store>) {
    let app = given_application(&*store, None).await;
    let user = given_user(&*store).await;
    let (_, session) = given_session(&*store, &user.id).await;
    let c = given_code(&*store, &app, &session).await;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (store, hash) = (Arc::clone(&store), c.code_hash.clone());
            tokio::spawn(async move { store.take_authorization_code(&hash, NOW).await })
        })
        .collect();
    let (mut taken, mut replayed) = (0, 0);
    for task in tasks {
        match task.await.expect("task").expect("take") {
            CodeTake::Taken(record) => {
                assert_eq!(record, c);
                taken += 1;
            }
            CodeTake::Replayed => replayed += 1,
            CodeTake::NotFound => panic!("a stored code was not found"),
        }
    }
    assert_eq!((taken, replayed), (1, 49));
}
