//! Cases: pending logins, browser sessions and ending them.

use std::sync::Arc;

use latch_core::store::{LoginRequestRecord, PageRequest, SessionSelector, Store};

use super::{
    NOW, given_application, given_code, given_refresh, given_session, given_user, grant_state,
    new_hash, new_id,
};

pub async fn case_login_requests_round_trip(store: &dyn Store) {
    let request = LoginRequestRecord {
        id: new_id(),
        browser_binding: new_hash(),
        request: r#"{"client_id":"c","scope":"openid"}"#.to_owned(),
        created_at: NOW,
        expires_at: NOW + 600,
    };
    store.insert_login_request(&request).await.expect("insert");
    assert_eq!(
        store.get_login_request(&request.id).await.expect("get"),
        Some(request.clone())
    );
    assert_eq!(
        store
            .get_login_request("no-such-request")
            .await
            .expect("get"),
        None
    );
    store
        .delete_login_request(&request.id)
        .await
        .expect("delete");
    assert_eq!(
        store.get_login_request(&request.id).await.expect("get"),
        None
    );
    store
        .delete_login_request(&request.id)
        .await
        .expect("deleting twice is fine");
}

fn login_request(expires_at: i64) -> LoginRequestRecord {
    LoginRequestRecord {
        id: new_id(),
        browser_binding: new_hash(),
        request: r#"{"client_id":"c","scope":"openid"}"#.to_owned(),
        created_at: NOW,
        expires_at,
    }
}

/// Taking a parked request returns it and deletes it; an expired one is not taken.
pub async fn case_a_login_request_is_taken_once_before_it_expires(store: &dyn Store) {
    let request = login_request(NOW + 600);
    store.insert_login_request(&request).await.expect("insert");
    assert_eq!(
        store
            .take_login_request(&request.id, NOW + 599)
            .await
            .expect("take"),
        Some(request.clone())
    );
    assert_eq!(
        store.get_login_request(&request.id).await.expect("get"),
        None,
        "taking deletes it"
    );
    assert_eq!(
        store
            .take_login_request(&request.id, NOW + 1)
            .await
            .expect("take"),
        None,
        "taken once"
    );
    assert_eq!(
        store
            .take_login_request("no-such-request", NOW)
            .await
            .expect("take"),
        None
    );
    let expired = login_request(NOW + 600);
    store.insert_login_request(&expired).await.expect("insert");
    assert_eq!(
        store
            .take_login_request(&expired.id, NOW + 600)
            .await
            .expect("take"),
        None,
        "not at or after expires_at"
    );
    assert_eq!(
        store.get_login_request(&expired.id).await.expect("get"),
        Some(expired),
        "an expired request is left to the purge"
    );
}

/// Of concurrent takes of one parked request, exactly one gets it.
pub async fn case_concurrent_takes_of_a_login_request_have_one_winner(store: Arc<dyn Store>) {
    let request = login_request(NOW + 600);
    store.insert_login_request(&request).await.expect("insert");
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, id) = (Arc::clone(&store), request.id.clone());
            tokio::spawn(async move { store.take_login_request(&id, NOW + 1).await })
        })
        .collect();
    let mut taken = Vec::new();
    for task in tasks {
        if let Some(r) = task.await.expect("task").expect("take") {
            taken.push(r);
        }
    }
    assert_eq!(taken, vec![request]);
}

/// A session is live until it ends, passes `expires_at`, or stays idle for `idle_timeout`.
pub async fn case_sessions_expire_when_idle_or_old(store: &dyn Store) {
    let user = given_user(store).await;
    let (cookie, session) = given_session(store, &user.id).await;
    let live = store
        .get_active_session(&cookie, NOW + 10, 600)
        .await
        .expect("get")
        .expect("live");
    assert_eq!(live, session, "every field round-trips");
    assert_eq!(
        store
            .get_active_session(&new_hash(), NOW, 600)
            .await
            .expect("get"),
        None
    );
    assert_eq!(
        store
            .get_active_session(&cookie, NOW + 600, 600)
            .await
            .expect("get"),
        None,
        "idle"
    );
    assert!(
        store
            .get_active_session(&cookie, NOW + 599, 600)
            .await
            .expect("get")
            .is_some()
    );
    assert_eq!(
        store
            .get_active_session(&cookie, NOW + 3_600, 100_000)
            .await
            .expect("get"),
        None,
        "past the absolute end"
    );
    assert_eq!(
        store
            .get_session(&session.sid)
            .await
            .expect("get")
            .map(|s| s.sid),
        Some(session.sid.clone())
    );

    let ended = store
        .end_sessions(SessionSelector::One { sid: &session.sid }, NOW + 700)
        .await
        .expect("end");
    assert_eq!(ended, vec![session.sid.clone()]);
    assert_eq!(
        store
            .get_active_session(&cookie, NOW + 701, 100_000)
            .await
            .expect("get"),
        None,
        "ended"
    );
    assert_eq!(store.get_session(&session.sid).await.expect("get"), None);
}

/// `last_active_at` moves only when over a minute old, and that keeps the session alive.
pub async fn case_session_activity_is_written_once_a_minute(store: &dyn Store) {
    let user = given_user(store).await;
    let (cookie, session) = given_session(store, &user.id).await;
    let seen = store
        .get_active_session(&cookie, NOW + 30, 600)
        .await
        .expect("get")
        .expect("live");
    assert_eq!(seen.last_active_at, NOW);
    let seen = store
        .get_active_session(&cookie, NOW + 61, 600)
        .await
        .expect("get")
        .expect("live");
    assert_eq!(seen.last_active_at, NOW + 61);
    let stored = store
        .get_session(&session.sid)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(stored.last_active_at, NOW + 61, "the touch was written");
    assert!(
        store
            .get_active_session(&cookie, NOW + 650, 600)
            .await
            .expect("get")
            .is_some(),
        "idle time counts from the last recorded activity"
    );
}

pub async fn case_user_sessions_are_listed_with_their_applications(store: &dyn Store) {
    let user = given_user(store).await;
    let (a, b) = (
        given_application(store, None).await,
        given_application(store, None).await,
    );
    let (first_cookie, first) = given_session(store, &user.id).await;
    let (second_cookie, second) = given_session(store, &user.id).await;
    let (_, ended) = given_session(store, &user.id).await;
    let (_, foreign) = given_session(store, &given_user(store).await.id).await;
    for (app, session) in [
        (&a, &first),
        (&b, &first),
        (&a, &first),
        (&b, &second),
        (&a, &foreign),
    ] {
        given_code(store, app, session).await;
    }
    store
        .end_sessions(SessionSelector::One { sid: &ended.sid }, NOW)
        .await
        .expect("end");

    let mut listed = store
        .list_user_sessions(&user.id, NOW + 1)
        .await
        .expect("list");
    listed.sort_by(|x, y| x.sid.cmp(&y.sid));
    let mut both = vec![a.client_id.clone(), b.client_id.clone()];
    both.sort();
    let mut expected = vec![
        (first.sid.clone(), both.clone()),
        (second.sid.clone(), vec![b.client_id.clone()]),
    ];
    expected.sort();
    let got: Vec<(String, Vec<String>)> = listed
        .into_iter()
        .map(|s| (s.sid, s.applications))
        .collect();
    assert_eq!(got, expected, "live sessions only, each application once");

    // The browser's session, found by its cookie, names the same applications.
    for (cookie, applications) in [
        (&first_cookie, both.clone()),
        (&second_cookie, vec![b.client_id.clone()]),
    ] {
        let live = store
            .get_active_session(cookie, NOW + 1, 600)
            .await
            .expect("get")
            .expect("live");
        assert_eq!(live.applications, applications);
    }
    assert!(
        store
            .list_user_sessions(&user.id, NOW + 3_600)
            .await
            .expect("list")
            .is_empty(),
        "expired"
    );
    let one = store
        .get_session(&first.sid)
        .await
        .expect("get")
        .expect("live");
    assert_eq!(one.applications, both);
}

/// Ending a session revokes its refresh tokens and enqueues one delivery per participating
/// application that has a back-channel URL; ending it again does nothing.
pub async fn case_ending_a_session_revokes_and_notifies(store: &dyn Store) {
    let user = given_user(store).await;
    let with_url = given_application(store, Some("https://a.example.com/bc")).await;
    let also_url = given_application(store, Some("https://b.example.com/bc")).await;
    let without_url = given_application(store, None).await;
    let bystander = given_application(store, Some("https://c.example.com/bc")).await;
    let (cookie, session) = given_session(store, &user.id).await;
    let (_, other_session) = given_session(store, &user.id).await;
    for app in [&with_url, &with_url, &also_url, &without_url] {
        given_code(store, app, &session).await;
    }
    given_code(store, &bystander, &other_session).await;
    let token = given_refresh(store, &with_url, &session, &new_id()).await;
    let other_token = given_refresh(store, &bystander, &other_session, &new_id()).await;
    assert!(
        grant_state(store, &token)
            .await
            .expect("token")
            .session_active
    );

    let ended = store
        .end_sessions(SessionSelector::One { sid: &session.sid }, NOW + 5)
        .await
        .expect("end");
    assert_eq!(ended, vec![session.sid.clone()]);
    assert_eq!(
        store
            .get_active_session(&cookie, NOW + 6, 600)
            .await
            .expect("get"),
        None
    );
    let state = grant_state(store, &token).await.expect("token");
    assert_eq!(state.revoked_at, Some(NOW + 5));
    assert!(!state.session_active);
    let other_state = grant_state(store, &other_token).await.expect("token");
    assert_eq!(
        (other_state.revoked_at, other_state.session_active),
        (None, true)
    );

    let page = PageRequest {
        limit: 50,
        after: None,
    };
    let queued = store
        .list_deliveries(&with_url.id, &page)
        .await
        .expect("list")
        .data;
    assert_eq!(
        queued.len(),
        1,
        "one delivery per application, however many codes"
    );
    let d = &queued[0];
    assert_eq!(
        (
            d.client_id.as_str(),
            d.url.as_str(),
            d.sid.as_str(),
            d.sub.as_str()
        ),
        (
            with_url.client_id.as_str(),
            "https://a.example.com/bc",
            session.sid.as_str(),
            user.id.as_str()
        )
    );
    assert_eq!(
        (d.attempts, d.created_at, d.next_attempt_at),
        (0, NOW + 5, NOW + 5)
    );
    assert_eq!(
        (d.delivered_at, d.abandoned_at, d.last_error.as_deref()),
        (None, None, None)
    );
    assert_eq!(
        store
            .list_deliveries(&also_url.id, &page)
            .await
            .expect("list")
            .data
            .len(),
        1
    );
    assert!(
        store
            .list_deliveries(&without_url.id, &page)
            .await
            .expect("list")
            .data
            .is_empty()
    );
    assert!(
        store
            .list_deliveries(&bystander.id, &page)
            .await
            .expect("list")
            .data
            .is_empty()
    );

    let again = store
        .end_sessions(SessionSelector::One { sid: &session.sid }, NOW + 9)
        .await
        .expect("end");
    assert!(again.is_empty());
    assert_eq!(
        store
            .list_deliveries(&with_url.id, &page)
            .await
            .expect("list")
            .data
            .len(),
        1
    );
}

/// `OneOfUser` ends a sid only if it is that user's; `AllOfUser` ends all of theirs and no other.
pub async fn case_sessions_end_only_for_their_user(store: &dyn Store) {
    let (ada, bob) = (given_user(store).await, given_user(store).await);
    let (_, ada1) = given_session(store, &ada.id).await;
    let (_, ada2) = given_session(store, &ada.id).await;
    let (_, bob1) = given_session(store, &bob.id).await;

    let foreign = SessionSelector::OneOfUser {
        user_id: &ada.id,
        sid: &bob1.sid,
    };
    assert!(
        store
            .end_sessions(foreign, NOW)
            .await
            .expect("end")
            .is_empty()
    );
    assert!(store.get_session(&bob1.sid).await.expect("get").is_some());
    let own = SessionSelector::OneOfUser {
        user_id: &ada.id,
        sid: &ada1.sid,
    };
    assert_eq!(
        store.end_sessions(own, NOW).await.expect("end"),
        vec![ada1.sid.clone()]
    );

    let all = store
        .end_sessions(SessionSelector::AllOfUser { user_id: &ada.id }, NOW)
        .await
        .expect("end");
    assert_eq!(
        all,
        vec![ada2.sid.clone()],
        "already ended sessions are not ended twice"
    );
    assert!(
        store
            .list_user_sessions(&ada.id, NOW)
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        store
            .list_user_sessions(&bob.id, NOW)
            .await
            .expect("list")
            .len(),
        1
    );
}

/// "Sign out my other sessions" (a password change, a factor removed on `/account`): one
/// statement ends every live session of the user but the kept one — never another user's, never
/// one twice — and each ended one is revoked like any other ending.
pub async fn case_a_users_other_sessions_end_together_and_the_kept_one_stays(store: &dyn Store) {
    let (ada, bob) = (given_user(store).await, given_user(store).await);
    let (_, ada1) = given_session(store, &ada.id).await;
    let (_, ada2) = given_session(store, &ada.id).await;
    let (_, ada3) = given_session(store, &ada.id).await;
    let (_, bob1) = given_session(store, &bob.id).await;

    let others = SessionSelector::OthersOfUser {
        user_id: &ada.id,
        keep: &ada2.sid,
    };
    let mut ended = store.end_sessions(others, NOW).await.expect("end");
    ended.sort();
    let mut expected = vec![ada1.sid.clone(), ada3.sid.clone()];
    expected.sort();
    assert_eq!(ended, expected);
    let live: Vec<String> = store
        .list_user_sessions(&ada.id, NOW)
        .await
        .expect("list")
        .into_iter()
        .map(|s| s.sid)
        .collect();
    assert_eq!(live, vec![ada2.sid.clone()], "the kept session stays");
    assert!(store.get_session(&bob1.sid).await.expect("get").is_some());
    let revoked = store.list_revocations(0, NOW).await.expect("revocations");
    for sid in &expected {
        assert!(
            revoked.iter().any(|r| r.value == *sid),
            "an ended session's access tokens are revoked: {sid}"
        );
    }
    assert!(
        !revoked
            .iter()
            .any(|r| r.value == ada2.sid || r.value == bob1.sid),
        "nothing is revoked for the kept session or another user's"
    );
    assert!(
        store
            .end_sessions(others, NOW)
            .await
            .expect("end")
            .is_empty(),
        "ended sessions are not ended twice"
    );

    // A `keep` that is not one of the user's sessions keeps nothing of theirs, and ends nobody else's.
    let foreign_keep = SessionSelector::OthersOfUser {
        user_id: &ada.id,
        keep: &bob1.sid,
    };
    assert_eq!(
        store.end_sessions(foreign_keep, NOW).await.expect("end"),
        vec![ada2.sid.clone()]
    );
    assert!(store.get_session(&bob1.sid).await.expect("get").is_some());
}

/// The periodic sweep ends sessions past their absolute end or idle too long, and notifies like
/// any other ending; refreshing counts as activity in the session.
pub async fn case_expired_sessions_are_swept_and_refreshing_keeps_one_alive(store: &dyn Store) {
    let user = given_user(store).await;
    let app = given_application(store, Some("https://a.example.com/bc")).await;
    let (_, idle) = given_session(store, &user.id).await;
    let (_, busy) = given_session(store, &user.id).await;
    given_code(store, &app, &idle).await;
    given_code(store, &app, &busy).await;
    let token = given_refresh(store, &app, &busy, new_hash().as_str()).await;
    // The busy session's app refreshes 500 s in: that is activity.
    assert!(
        store
            .rotate_refresh_grant(&token.family_id, 0, NOW + 86_400, NOW + 500)
            .await
            .expect("rotate")
    );
    let swept = store
        .end_sessions(
            SessionSelector::Expired {
                idle_timeout: 600,
                limit: 100,
            },
            NOW + 700,
        )
        .await
        .expect("sweep");
    assert_eq!(swept, vec![idle.sid.clone()], "only the idle session ends");
    assert_eq!(
        store
            .claim_deliveries(NOW + 700, 30, 10)
            .await
            .expect("claim")
            .len(),
        1,
        "its app is notified"
    );
    assert!(
        grant_state(store, &token)
            .await
            .expect("token")
            .session_active
    );
}

/// `latch_active_sessions`: neither ended, nor past the absolute end, nor idle too long.
pub async fn case_active_sessions_are_counted(store: &dyn Store) {
    assert_eq!(
        store.count_active_sessions(NOW, 600).await.expect("count"),
        0
    );
    let ada = given_user(store).await;
    let bob = given_user(store).await;
    given_session(store, &ada.id).await;
    given_session(store, &ada.id).await;
    given_session(store, &bob.id).await;
    assert_eq!(
        store
            .count_active_sessions(NOW + 10, 600)
            .await
            .expect("count"),
        3
    );
    assert_eq!(
        store
            .count_active_sessions(NOW + 600, 600)
            .await
            .expect("count"),
        0,
        "idle"
    );
    assert_eq!(
        store
            .count_active_sessions(NOW + 3_600, 100_000)
            .await
            .expect("count"),
        0,
        "old"
    );
    store.delete_user(&bob.id).await.expect("delete");
    assert_eq!(
        store
            .count_active_sessions(NOW + 10, 600)
            .await
            .expect("count"),
        2
    );
}

/// `get_authorizing_session`: the live session as `get_active_session` reads it (touched the
/// same way), with whether its user has a confirmed second factor and, when asked for, their
/// organizations by name up to the limit — another user's never, the applications never mixed
/// with them.
pub async fn case_an_authorizing_session_carries_factors_and_organizations(store: &dyn Store) {
    use latch_core::organization::Membership;
    use latch_core::store::{Factor, FactorKind};

    let user = given_user(store).await;
    let other = given_user(store).await;
    let (cookie, session) = given_session(store, &user.id).await;
    assert_eq!(
        store
            .get_authorizing_session(&new_hash(), NOW, 600, Some(10))
            .await
            .expect("get"),
        None,
        "an unknown cookie"
    );
    let bare = store
        .get_authorizing_session(&cookie, NOW + 10, 600, Some(10))
        .await
        .expect("get")
        .expect("live");
    assert_eq!(bare.session, session);
    assert!(!bare.factor_enrolled);
    assert_eq!(bare.organizations, Some(vec![]));
    let unasked = store
        .get_authorizing_session(&cookie, NOW + 10, 600, None)
        .await
        .expect("get")
        .expect("live");
    assert_eq!(unasked.organizations, None, "not asked for");

    let mut orgs = Vec::new();
    for name in ["beta", "alpha", "gamma"] {
        let mut org = super::organizations::organization(name);
        if name == "alpha" {
            org.display_name = None;
            org.external_id = Some(format!("ext-{}", new_id()));
        }
        store.insert_organization(&org).await.expect("insert org");
        store
            .insert_membership(&Membership {
                organization_id: org.id.clone(),
                user_id: user.id.clone(),
                roles: vec![],
                created_at: NOW,
            })
            .await
            .expect("membership");
        orgs.push(org);
    }
    let theirs = super::organizations::given_organization(store, "aardvark").await;
    store
        .insert_membership(&Membership {
            organization_id: theirs.id.clone(),
            user_id: other.id.clone(),
            roles: vec![],
            created_at: NOW,
        })
        .await
        .expect("their membership");
    let mut apps = Vec::new();
    for _ in 0..3 {
        let app = given_application(store, None).await;
        store
            .add_session_application(&session.sid, &app.id, &app.client_id)
            .await
            .expect("participation");
        apps.push(app.client_id);
    }
    apps.sort();
    let pending = Factor {
        id: new_id(),
        user_id: user.id.clone(),
        kind: FactorKind::Totp,
        secret: b"secret".to_vec(),
        confirmed_at: None,
        last_used_step: None,
        created_at: NOW,
        last_used_at: None,
    };
    store
        .insert_pending_factor(&pending)
        .await
        .expect("pending factor");

    let full = store
        .get_authorizing_session(&cookie, NOW + 20, 600, Some(2))
        .await
        .expect("get")
        .expect("live");
    assert_eq!(
        full.session.applications, apps,
        "each application once, sorted"
    );
    assert!(!full.factor_enrolled, "a pending factor is not enrolled");
    let by_name = |names: &[&str]| -> Vec<_> {
        names
            .iter()
            .map(|n| orgs.iter().find(|o| o.name == *n).cloned().expect("org"))
            .collect()
    };
    assert_eq!(
        full.organizations,
        Some(by_name(&["alpha", "beta"])),
        "by name, at most the limit, every field"
    );
    assert_eq!(
        store
            .list_user_organizations(&user.id, 2)
            .await
            .expect("list"),
        by_name(&["alpha", "beta"]),
        "as list_user_organizations"
    );
    let all = store
        .get_authorizing_session(&cookie, NOW + 20, 600, Some(100))
        .await
        .expect("get")
        .expect("live");
    assert_eq!(
        all.organizations,
        Some(by_name(&["alpha", "beta", "gamma"]))
    );
    assert_eq!(all.session.applications, apps);

    assert!(
        store
            .confirm_factor(&user.id, &pending.id, 1, NOW + 30)
            .await
            .expect("confirm")
    );
    let enrolled = store
        .get_authorizing_session(&cookie, NOW + 40, 600, None)
        .await
        .expect("get")
        .expect("live");
    assert!(enrolled.factor_enrolled);
    assert_eq!(
        enrolled.session.last_active_at, NOW,
        "not touched within the minute"
    );

    // A passkey alone is a second factor too (as `users_with_factors` says).
    let (their_cookie, _) = given_session(store, &other.id).await;
    let theirs = |at| store.get_authorizing_session(&their_cookie, at, 600, None);
    assert!(
        !theirs(NOW + 40)
            .await
            .expect("get")
            .expect("live")
            .factor_enrolled
    );
    store
        .insert_passkey(&super::passkeys::passkey(&other.id, &new_id(), 0))
        .await
        .expect("passkey");
    assert!(
        theirs(NOW + 41)
            .await
            .expect("get")
            .expect("live")
            .factor_enrolled,
        "a passkey is an enrolled factor"
    );

    let touched = store
        .get_authorizing_session(&cookie, NOW + 61, 600, Some(100))
        .await
        .expect("get")
        .expect("live");
    assert_eq!(touched.session.last_active_at, NOW + 61);
    let stored = store
        .get_session(&session.sid)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(stored.last_active_at, NOW + 61, "the touch was written");
    assert!(
        store
            .get_authorizing_session(&cookie, NOW + 61 + 600, 600, Some(100))
            .await
            .expect("get")
            .is_none(),
        "idle"
    );
    store
        .end_sessions(SessionSelector::One { sid: &session.sid }, NOW + 70)
        .await
        .expect("end");
    assert!(
        store
            .get_authorizing_session(&cookie, NOW + 71, 600, Some(100))
            .await
            .expect("get")
            .is_none(),
        "ended"
    );
}
