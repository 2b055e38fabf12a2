//! Cases: authorization codes' single use. Codes are sealed by the server and never stored; the
//! store records their use, with what the first use grants.

use std::sync::Arc;

use latch_core::store::{Redemption, SessionSelector, Store};

use super::{
    NOW, given_application, given_session, given_user, grant, new_hash, new_id, redeem, refresh,
};

/// The first redemption inserts the refresh token; a second is a replay and revokes that token. A redemption without a grant (a request that
/// failed its checks) still uses the code up.
pub async fn case_a_code_is_redeemed_once_then_replayed(store: &dyn Store) {
    let app = given_application(store, None).await;
    let user = given_user(store).await;
    let (_, session) = given_session(store, &user.id).await;
    let hash = new_hash();
    let token = refresh(&app, &session, hash.as_str());
    let first = redeem(store, &hash, NOW + 60, Some(grant(&session, Some(&token)))).await;
    assert_eq!(first, Redemption::Redeemed);
    for _ in 0..2 {
        store
            .add_session_application(&session.sid, &app.id, &app.client_id)
            .await
            .expect("participation");
    }
    let live = store
        .get_session(&session.sid)
        .await
        .expect("get")
        .expect("session");
    assert_eq!(live.applications, vec![app.client_id.clone()], "kept once");
    let state = store
        .get_refresh_token(&token.token_hash)
        .await
        .expect("get")
        .expect("the refresh token was inserted with the code's use");
    assert_eq!(state.record, token);
    assert_eq!(state.revoked_at, None);

    let again = store
        .redeem_authorization_code(
            &latch_core::store::CodeRedemption {
                code_hash: &hash,
                expires_at: NOW + 60,
                grant: Some(grant(&session, None)),
            },
            NOW + 1,
        )
        .await
        .expect("redeem");
    assert_eq!(again, Redemption::Replayed);
    let state = store
        .get_refresh_token(&token.token_hash)
        .await
        .expect("get")
        .expect("token");
    assert_eq!(state.revoked_at, Some(NOW + 1), "the replay revoked it");

    let burnt = new_hash();
    assert_eq!(
        redeem(store, &burnt, NOW + 60, None).await,
        Redemption::Redeemed
    );
    assert_eq!(
        redeem(store, &burnt, NOW + 60, Some(grant(&session, None))).await,
        Redemption::Replayed,
        "a failed request used the code up"
    );
}

/// A replay revokes the tokens descended from the code's first use and nothing else.
pub async fn case_a_replayed_code_revokes_its_family_only(store: &dyn Store) {
    let app = given_application(store, None).await;
    let user = given_user(store).await;
    let (_, session) = given_session(store, &user.id).await;
    let hash = new_hash();
    let first = refresh(&app, &session, hash.as_str());
    let g = Some(grant(&session, Some(&first)));
    assert_eq!(
        redeem(store, &hash, NOW + 60, g).await,
        Redemption::Redeemed
    );
    // The token's successor (same family), and a token of another family.
    let successor = refresh(&app, &session, hash.as_str());
    store
        .insert_refresh_token(&successor)
        .await
        .expect("insert");
    let bystander = refresh(&app, &session, &new_id());
    store
        .insert_refresh_token(&bystander)
        .await
        .expect("insert");

    assert_eq!(
        redeem(store, &hash, NOW + 60, None).await,
        Redemption::Replayed
    );
    for t in [&first, &successor] {
        let state = store
            .get_refresh_token(&t.token_hash)
            .await
            .expect("get")
            .expect("token");
        assert_eq!(state.revoked_at, Some(NOW));
    }
    let other = store
        .get_refresh_token(&bystander.token_hash)
        .await
        .expect("get")
        .expect("token");
    assert_eq!(other.revoked_at, None);
}

/// A code whose session has ended redeems to nothing: no refresh token, and the code is not
/// used up.
pub async fn case_a_code_of_an_ended_session_records_nothing(store: &dyn Store) {
    let app = given_application(store, None).await;
    let user = given_user(store).await;
    let (_, session) = given_session(store, &user.id).await;
    store
        .end_sessions(SessionSelector::One { sid: &session.sid }, NOW)
        .await
        .expect("end");
    let hash = new_hash();
    let token = refresh(&app, &session, hash.as_str());
    for _ in 0..2 {
        let got = redeem(store, &hash, NOW + 60, Some(grant(&session, Some(&token)))).await;
        assert_eq!(got, Redemption::SessionEnded);
    }
    assert_eq!(
        store
            .get_refresh_token(&token.token_hash)
            .await
            .expect("get"),
        None
    );
    let unknown = super::session_record_without_row(&user.id);
    let got = redeem(store, &new_hash(), NOW + 60, Some(grant(&unknown, None))).await;
    assert_eq!(
        got,
        Redemption::SessionEnded,
        "a session that never existed"
    );
}

/// Fifty concurrent redemptions of one code, each with its own refresh token: exactly one
/// `Redeemed`, every other a `Replayed`; only the winner's token exists, revoked by the replays.
pub async fn case_concurrent_redemptions_of_a_code_have_one_winner(store: Arc<dyn Store>) {
    let app = given_application(&*store, None).await;
    let user = given_user(&*store).await;
    let (_, session) = given_session(&*store, &user.id).await;
    let hash = new_hash();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (store, hash, app, session) = (
                Arc::clone(&store),
                hash.clone(),
                app.clone(),
                session.clone(),
            );
            tokio::spawn(async move {
                let token = refresh(&app, &session, hash.as_str());
                let got = redeem(
                    &*store,
                    &hash,
                    NOW + 60,
                    Some(grant(&session, Some(&token))),
                )
                .await;
                (got, token)
            })
        })
        .collect();
    let (mut winners, mut replayed) = (Vec::new(), 0);
    for task in tasks {
        let (got, token) = task.await.expect("task");
        match got {
            Redemption::Redeemed => winners.push(token),
            Redemption::Replayed => {
                let state = store
                    .get_refresh_token(&token.token_hash)
                    .await
                    .expect("get");
                assert_eq!(state, None, "a replay inserted its refresh token");
                replayed += 1;
            }
            Redemption::SessionEnded => panic!("the session is live"),
        }
    }
    assert_eq!((winners.len(), replayed), (1, 49));
    let state = store
        .get_refresh_token(&winners[0].token_hash)
        .await
        .expect("get")
        .expect("the winner's token");
    assert_eq!(state.revoked_at, Some(NOW), "revoked by the replays");
}
