//! Cases: revocations (what stops access tokens before `exp`) and re-authenticating a session.

use latch_core::authn::{Amr, Method};
use latch_core::retention::Purge;
use latch_core::revocation::{REVOCATION_TTL, Revocation, RevocationKind, grant_tag};
use latch_core::store::{Redemption, SessionSelector, Store};

use super::{
    NOW, given_application, given_code, given_refresh, given_session, given_user, new_hash, new_id,
    redeem,
};

async fn listed(store: &dyn Store, since: i64, now: i64) -> Vec<(RevocationKind, String)> {
    let mut all: Vec<_> = store
        .list_revocations(since, now)
        .await
        .expect("list revocations")
        .into_iter()
        .map(|r| (r.kind, r.value))
        .collect();
    all.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
    all
}

/// A revocation is recorded once, listed from the time it was made until it expires.
pub async fn case_revocations_are_listed_since_their_time_until_they_expire(store: &dyn Store) {
    let jti = Revocation {
        kind: RevocationKind::Token,
        value: "jti-1".to_owned(),
        expires_at: NOW + 300,
    };
    store.insert_revocation(&jti, NOW).await.expect("revoke");
    store
        .insert_revocation(&jti, NOW + 5)
        .await
        .expect("revoking twice is fine");
    let sid = Revocation::new(RevocationKind::Session, "sid-1", NOW + 10);
    assert_eq!(sid.expires_at, NOW + 10 + REVOCATION_TTL);
    store
        .insert_revocation(&sid, NOW + 10)
        .await
        .expect("revoke");

    let both = vec![
        (RevocationKind::Token, "jti-1".to_owned()),
        (RevocationKind::Session, "sid-1".to_owned()),
    ];
    assert_eq!(listed(store, 0, NOW).await, both, "each once");
    assert_eq!(
        listed(store, NOW + 1, NOW).await,
        vec![(RevocationKind::Session, "sid-1".to_owned())],
        "the second insert of jti-1 did not move its time"
    );
    assert_eq!(listed(store, NOW + 11, NOW).await, vec![]);
    assert_eq!(
        listed(store, 0, NOW + 300).await,
        vec![(RevocationKind::Session, "sid-1".to_owned())],
        "an expired revocation is not listed"
    );
    let purged = store.purge(Purge::Revocations, NOW + 301, 100).await;
    assert!(purged.expect("purge") >= 1);
    assert_eq!(listed(store, 0, NOW).await.len(), 1, "purged");
}

/// Ending a session, revoking a grant, replaying a code and deleting an application each record
/// the revocation that stops their access tokens.
pub async fn case_endings_record_revocations_for_their_access_tokens(store: &dyn Store) {
    let app = given_application(store, None).await;
    let user = given_user(store).await;
    let (_, session) = given_session(store, &user.id).await;
    let (_, other) = given_session(store, &user.id).await;
    let family = new_hash();
    given_refresh(store, &app, &other, family.as_str()).await;
    let code = given_code(store, &app, &other).await;

    store
        .end_sessions(SessionSelector::One { sid: &session.sid }, NOW)
        .await
        .expect("end");
    store
        .revoke_refresh_family(family.as_str(), NOW)
        .await
        .expect("revoke");
    assert_eq!(
        redeem(store, &code, NOW + 60, None).await,
        Redemption::Replayed
    );
    assert!(
        store
            .delete_application(&app.id, NOW)
            .await
            .expect("delete")
    );
    assert!(
        !store
            .delete_application(&new_id(), NOW)
            .await
            .expect("delete"),
        "no such application: nothing recorded"
    );

    let mut want = vec![
        (RevocationKind::Session, session.sid.clone()),
        (RevocationKind::Grant, grant_tag(family.as_str())),
        (RevocationKind::Grant, grant_tag(code.as_str())),
        (RevocationKind::Client, app.client_id.clone()),
    ];
    want.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
    assert_eq!(listed(store, NOW, NOW).await, want);
}

/// A session idle past every access token's lifetime records no revocation when it ends.
pub async fn case_a_long_idle_session_ends_without_a_revocation(store: &dyn Store) {
    let user = given_user(store).await;
    let (_, session) = given_session(store, &user.id).await;
    let later = NOW + REVOCATION_TTL + 3_600;
    let ended = store
        .end_sessions(SessionSelector::One { sid: &session.sid }, later)
        .await
        .expect("end");
    assert_eq!(ended, vec![session.sid.clone()]);
    assert_eq!(listed(store, 0, later).await, vec![]);
}

/// Re-authenticating keeps the sid, moves the cookie, `auth_time` and the methods (a step-up to
/// a second factor); not for an ended session.
pub async fn case_reauthenticating_keeps_the_sid_and_moves_the_cookie(store: &dyn Store) {
    let user = given_user(store).await;
    let (old_cookie, session) = given_session(store, &user.id).await;
    let new_cookie = new_hash();
    assert!(
        store
            .reauthenticate_session(&session.sid, &new_cookie, stepped_up(), NOW + 30)
            .await
            .expect("reauthenticate")
    );
    assert_eq!(
        store
            .get_active_session(&old_cookie, NOW + 31, 600)
            .await
            .expect("get"),
        None,
        "the old cookie no longer names it"
    );
    let again = store
        .get_active_session(&new_cookie, NOW + 31, 600)
        .await
        .expect("get")
        .expect("live under the new cookie");
    assert_eq!(
        (again.sid.as_str(), again.auth_time, again.created_at),
        (session.sid.as_str(), NOW + 30, NOW)
    );
    assert_eq!((session.amr, again.amr), (Amr::PASSWORD, stepped_up()));
    let listed = store
        .list_user_sessions(&user.id, NOW + 31)
        .await
        .expect("list");
    assert_eq!(listed.first().map(|s| s.amr), Some(stepped_up()));
    store
        .end_sessions(SessionSelector::One { sid: &session.sid }, NOW + 40)
        .await
        .expect("end");
    assert!(
        !store
            .reauthenticate_session(&session.sid, &new_hash(), Amr::PASSWORD, NOW + 50)
            .await
            .expect("reauthenticate"),
        "an ended session stays ended"
    );
}

fn stepped_up() -> Amr {
    Amr::PASSWORD.with(Method::Otp)
}
