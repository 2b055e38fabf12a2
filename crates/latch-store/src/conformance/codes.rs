//! Cases: authorization codes' single use. Codes are sealed by the server and never stored; the
//! store records their use, with what the first use grants.

use std::sync::Arc;

use latch_core::store::{Redemption, SessionSelector, Store};

use super::{
    NOW, given_application, given_session, given_user, grant, grant_state, new_hash, redeem,
    refresh,
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
    assert_eq!(first, Redemption::Redeemed(Some(user.clone())));
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
    let state = grant_state(store, &token)
        .await
        .expect("the refresh token was inserted with the code's use");
    assert_eq!(state.grant, token);
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
    let state = grant_state(store, &token).await.expect("token");
    assert_eq!(state.revoked_at, Some(NOW + 1), "the replay revoked it");

    let burnt = new_hash();
    assert_eq!(
        redeem(store, &burnt, NOW + 60, None).await,
        Redemption::Redeemed(None)
    );
    assert_eq!(
        redeem(store, &burnt, NOW + 60, Some(grant(&session, None))).await,
        Redemption::Replayed,
        "a failed request used the code up"
    );
}

/// A replay revokes the grant of the code's first use (whatever its generation) and nothing
/// else.
pub async fn case_a_replayed_code_revokes_its_family_only(store: &dyn Store) {
    let app = given_application(store, None).await;
    let user = given_user(store).await;
    let (_, session) = given_session(store, &user.id).await;
    let hash = new_hash();
    let first = refresh(&app, &session, hash.as_str());
    let g = Some(grant(&session, Some(&first)));
    assert_eq!(
        redeem(store, &hash, NOW + 60, g).await,
        Redemption::Redeemed(Some(user.clone()))
    );
    // The grant rotated on, and a grant of another family.
    assert!(
        store
            .rotate_refresh_grant(&first.family_id, 0, NOW + 100, NOW)
            .await
            .expect("rotate")
    );
    let bystander = refresh(&app, &session, new_hash().as_str());
    store
        .insert_refresh_grant(&bystander)
        .await
        .expect("insert");

    assert_eq!(
        redeem(store, &hash, NOW + 60, None).await,
        Redemption::Replayed
    );
    let state = grant_state(store, &first).await.expect("grant");
    assert_eq!(state.revoked_at, Some(NOW));
    let other = grant_state(store, &bystander).await.expect("token");
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
    assert_eq!(grant_state(store, &token).await, None);
    let unknown = super::session_record_without_row(&user.id);
    let got = redeem(store, &new_hash(), NOW + 60, Some(grant(&unknown, None))).await;
    assert_eq!(
        got,
        Redemption::SessionEnded,
        "a session that never existed"
    );
}

/// Fifty concurrent redemptions of one code, each with its own refresh token: exactly one
/// `Redeemed`, every other a `Replayed`; only the winner's grant is stored, revoked by the
/// replays.
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
                let mut token = refresh(&app, &session, hash.as_str());
                token.scope = format!("openid offline_access {}", super::new_id());
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
            Redemption::Redeemed(_) => winners.push(token),
            Redemption::Replayed => replayed += 1,
            Redemption::SessionEnded => panic!("the session is live"),
        }
    }
    assert_eq!((winners.len(), replayed), (1, 49));
    let state = grant_state(&*store, &winners[0])
        .await
        .expect("the winner's grant");
    assert_eq!(
        state.grant, winners[0],
        "only the winner's grant was stored"
    );
    assert_eq!(state.revoked_at, Some(NOW), "revoked by the replays");
}
