//! Cases: the retention purge (latch-core `retention`): rows past their cutoff go, newer ones and
//! everything live stay, a call deletes at most its batch, and purging nodes never collide.

use std::sync::Arc;

use latch_core::audit::AuditFilter;
use latch_core::retention::Purge;
use latch_core::revocation::{Revocation, RevocationKind};
use latch_core::store::{
    LoginRequestRecord, MailLimits, NewMail, PageRequest, PasswordReset, Redemption,
    SessionSelector, Store,
};

use super::audit::event;
use super::invitations::invitation;
use super::organizations::given_organization;
use super::{
    NOW, given_application, given_code, given_refresh, given_session, given_user, grant_state,
    new_hash, new_id, redeem, refresh,
};

const PAGE: PageRequest = PageRequest {
    limit: 200,
    after: None,
};

/// Purges `what` before `before` in batches until none is left; the total.
async fn purge_all(store: &dyn Store, what: Purge, before: i64) -> u64 {
    let mut total = 0;
    loop {
        let n = store.purge(what, before, 100).await.expect("purge");
        total += n;
        if n < 100 {
            return total;
        }
    }
}

async fn audit_ids(store: &dyn Store) -> Vec<String> {
    let page = store
        .list_audit_events(&AuditFilter::default(), &PAGE)
        .await
        .expect("list");
    page.data.into_iter().map(|e| e.id).collect()
}

/// History (audit events, finished back-channel deliveries and e-mail, invitations) goes once
/// older than the cutoff; newer rows stay, and pending deliveries and e-mail stay however old.
pub async fn case_history_past_the_cutoff_is_purged_and_pending_rows_kept(store: &dyn Store) {
    let old: Vec<_> = (0..3)
        .map(|i| event("token.issued", NOW - 100 + i, None, Some("c1")))
        .collect();
    let recent = vec![event("login.success", NOW, Some("u1"), None)];
    store.insert_audit_events(&old).await.expect("insert");
    store.insert_audit_events(&recent).await.expect("insert");
    assert_eq!(purge_all(store, Purge::AuditEvents, NOW - 50).await, 3);
    assert_eq!(audit_ids(store).await, [recent[0].id.clone()]);

    // Four sessions ended, each queueing one delivery: two finished long ago, one pending long
    // ago, one finished just now.
    let user = given_user(store).await;
    let app = given_application(store, Some("https://app.example.com/bc")).await;
    let mut sids = Vec::new();
    for ended_at in [NOW - 100, NOW - 100, NOW - 100, NOW] {
        let (_, session) = given_session(store, &user.id).await;
        given_code(store, &app, &session).await;
        let one = SessionSelector::One { sid: &session.sid };
        store.end_sessions(one, ended_at).await.expect("end");
        sids.push(session.sid);
    }
    let deliveries = store.list_deliveries(&app.id, &PAGE).await.expect("list");
    let id_of = |sid: &str| {
        let d = deliveries.data.iter().find(|d| d.sid == sid);
        d.expect("a delivery per session").id.clone()
    };
    store
        .mark_delivered(&id_of(&sids[0]), NOW - 90)
        .await
        .expect("delivered");
    store
        .mark_failed(&id_of(&sids[1]), "HTTP 500", None, NOW - 90)
        .await
        .expect("abandoned");
    store
        .mark_delivered(&id_of(&sids[3]), NOW)
        .await
        .expect("delivered");
    assert_eq!(
        purge_all(store, Purge::BackchannelDeliveries, NOW - 50).await,
        2
    );
    let left = store.list_deliveries(&app.id, &PAGE).await.expect("list");
    let left: Vec<&str> = left.data.iter().map(|d| d.sid.as_str()).collect();
    assert_eq!(
        left,
        [sids[2].as_str(), sids[3].as_str()],
        "the pending and the recent one"
    );
    assert_eq!(
        purge_all(store, Purge::BackchannelDeliveries, NOW + 10_000).await,
        1,
        "a pending delivery is kept however old"
    );

    let limits = MailLimits {
        since: NOW - 10_000,
        per_recipient: 100,
        global: 100,
    };
    for (id, at) in [
        ("sent", NOW - 100),
        ("failed", NOW - 100),
        ("queued", NOW - 100),
    ] {
        let mail = NewMail {
            id,
            recipient: "a@example.com",
            message: b"sealed",
        };
        assert!(store.enqueue_mail(&mail, &limits, at).await.expect("queue"));
    }
    let mail = NewMail {
        id: "recent",
        recipient: "a@example.com",
        message: b"sealed",
    };
    assert!(
        store
            .enqueue_mail(&mail, &limits, NOW)
            .await
            .expect("queue")
    );
    store.mark_mail_sent("sent", NOW - 90).await.expect("sent");
    store
        .mark_mail_failed("failed", "550", None, NOW - 90)
        .await
        .expect("abandoned");
    store.mark_mail_sent("recent", NOW).await.expect("sent");
    assert_eq!(purge_all(store, Purge::Mail, NOW - 50).await, 2);
    assert_eq!(purge_all(store, Purge::Mail, NOW + 10_000).await, 1);
    let queued = store.claim_mail(NOW, 60, 10).await.expect("claim");
    assert_eq!(queued.len(), 1, "the queued message is kept");
    assert_eq!(queued[0].id, "queued");

    let org = given_organization(store, "retention").await;
    let mut expired = invitation(&org.id, "old@example.com", vec![]);
    expired.expires_at = NOW - 100;
    let live = invitation(&org.id, "new@example.com", vec![]);
    store.insert_invitation(&expired).await.expect("insert");
    store.insert_invitation(&live).await.expect("insert");
    assert_eq!(purge_all(store, Purge::Invitations, NOW - 50).await, 1);
    let left = store.list_invitations(&org.id, &PAGE).await.expect("list");
    assert_eq!(
        left.data.iter().map(|i| &i.id).collect::<Vec<_>>(),
        [&live.id]
    );
}

/// Ended sessions and revoked or expired grants go once past the cutoff; a live session and its
/// live grant are never touched, whatever the cutoffs, and the grant keeps its generation, so that
/// an older token of it is still recognised as reused.
pub async fn case_ended_sessions_and_finished_grants_are_purged_and_live_ones_kept(
    store: &dyn Store,
) {
    let app = given_application(store, None).await;
    let user = given_user(store).await;
    let (cookie, live) = given_session(store, &user.id).await;
    given_code(store, &app, &live).await;
    let live_grant = given_refresh(store, &app, &live, new_hash().as_str()).await;
    for generation in 0..2 {
        let rotated = store
            .rotate_refresh_grant(&live_grant.family_id, generation, NOW + 86_400, NOW)
            .await
            .expect("rotate");
        assert!(rotated);
    }
    let mut expired = refresh(&app, &live, new_hash().as_str());
    expired.expires_at = NOW - 200;
    store.insert_refresh_grant(&expired).await.expect("insert");

    let mut ended = Vec::new();
    for at in [NOW - 100, NOW] {
        let (_, session) = given_session(store, &user.id).await;
        let grant = given_refresh(store, &app, &session, new_hash().as_str()).await;
        let one = SessionSelector::One { sid: &session.sid };
        store.end_sessions(one, at).await.expect("end");
        ended.push(grant);
    }

    assert_eq!(purge_all(store, Purge::EndedSessions, NOW - 50).await, 1);
    assert_eq!(
        purge_all(store, Purge::RevokedRefreshGrants, NOW - 50).await,
        1
    );
    assert_eq!(grant_state(store, &ended[0]).await, None);
    let recent = grant_state(store, &ended[1]).await.expect("kept");
    assert_eq!(recent.revoked_at, Some(NOW), "the recently revoked grant");
    assert_eq!(
        purge_all(store, Purge::ExpiredRefreshGrants, NOW - 50).await,
        1
    );
    assert_eq!(grant_state(store, &expired).await, None);

    // Every purge with a cutoff past everything that has ended.
    for what in Purge::ALL {
        purge_all(store, what, NOW + 3_000).await;
    }
    assert_eq!(grant_state(store, &ended[1]).await, None);
    let session = store
        .get_active_session(&cookie, NOW + 10, 3_600)
        .await
        .expect("get");
    let session = session.expect("the live session is kept");
    assert_eq!(session.applications, std::slice::from_ref(&app.client_id));
    let state = grant_state(store, &live_grant).await.expect("live grant");
    assert_eq!(
        (state.generation, state.revoked_at, state.session_active),
        (2, None, true),
        "the live grant keeps its generation: tokens of 0 and 1 are still known as reused"
    );
}

/// Uses of expired codes, expired login requests, reset links and revocations go; live ones stay.
pub async fn case_expired_rows_are_purged_and_live_ones_kept(store: &dyn Store) {
    let app = given_application(store, None).await;
    let user = given_user(store).await;
    let (_, session) = given_session(store, &user.id).await;
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
    for l in [&old_login, &live_login] {
        store.insert_login_request(l).await.expect("insert");
    }
    for (value, expires_at) in [("old-jti", NOW - 1), ("live-jti", NOW + 1)] {
        let revoked = Revocation {
            kind: RevocationKind::Token,
            value: value.to_owned(),
            expires_at,
        };
        store
            .insert_revocation(&revoked, NOW - 700)
            .await
            .expect("insert");
    }
    let other = given_user(store).await;
    let (old_link, live_link) = (new_hash(), new_hash());
    for (user_id, link, expires_at) in [
        (&user.id, &old_link, NOW - 1),
        (&other.id, &live_link, NOW + 600),
    ] {
        let reset = PasswordReset {
            user_id: user_id.clone(),
            login_request: None,
            expires_at,
        };
        store
            .insert_password_reset(link, &reset, NOW - 700)
            .await
            .expect("insert");
    }

    for what in [
        Purge::RedeemedCodes,
        Purge::LoginRequests,
        Purge::Revocations,
        Purge::PasswordResets,
    ] {
        assert_eq!(purge_all(store, what, NOW).await, 1, "{what:?}");
    }
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
    assert_eq!(left, ["live-jti"]);
    assert!(
        store
            .take_password_reset(&live_link, NOW)
            .await
            .expect("take")
            .is_some(),
        "the live link still works"
    );
}

/// A call deletes at most its batch, oldest first (also on a table matched by its key).
pub async fn case_a_purge_deletes_at_most_its_batch(store: &dyn Store) {
    let events: Vec<_> = (0..7)
        .map(|i| event("token.issued", NOW - 100 + i, None, Some("c1")))
        .collect();
    store.insert_audit_events(&events).await.expect("insert");
    let mut counts = Vec::new();
    for _ in 0..4 {
        counts.push(
            store
                .purge(Purge::AuditEvents, NOW, 3)
                .await
                .expect("purge"),
        );
    }
    assert_eq!(counts, [3, 3, 1, 0]);

    let codes: Vec<_> = (0..3).map(|_| new_hash()).collect();
    for (i, code) in codes.iter().enumerate() {
        redeem(store, code, NOW - 10 + i as i64, None).await;
    }
    assert_eq!(
        store
            .purge(Purge::RedeemedCodes, NOW, 2)
            .await
            .expect("purge"),
        2
    );
    assert_eq!(
        redeem(store, &codes[2], NOW - 8, None).await,
        Redemption::Replayed,
        "the newest stays"
    );
    assert_eq!(
        store
            .purge(Purge::RedeemedCodes, NOW, 0)
            .await
            .expect("purge"),
        1,
        "a batch is one row at least"
    );
}

/// Nodes purging the same rows at once delete each row once, without errors.
pub async fn case_concurrent_purges_delete_each_row_once(store: Arc<dyn Store>) {
    for chunk in 0..3 {
        let events: Vec<_> = (0..100)
            .map(|i| event("token.issued", NOW - 1_000 + chunk * 100 + i, None, None))
            .collect();
        store.insert_audit_events(&events).await.expect("insert");
    }
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut deleted = 0;
            loop {
                let n = store
                    .purge(Purge::AuditEvents, NOW, 25)
                    .await
                    .expect("purge");
                if n == 0 {
                    return deleted;
                }
                deleted += n;
            }
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    assert_eq!(total, 300);
    assert!(audit_ids(&*store).await.is_empty());
}
