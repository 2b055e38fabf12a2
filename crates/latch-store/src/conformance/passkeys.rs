//! Cases: passkeys (register, list, rename, remove, counter) and their ceremonies (single use,
//! bound, expiring, purged).

use std::sync::Arc;

use latch_core::retention::Purge;
use latch_core::store::{
    CeremonyKind, Factor, FactorKind, Passkey, PasskeyCeremony, PasskeyUse, Store, StoreError,
};

use super::{NOW, given_user, new_id};

pub(super) fn passkey(user_id: &str, credential_id: &str, sign_count: i64) -> Passkey {
    Passkey {
        id: new_id(),
        user_id: user_id.to_owned(),
        credential_id: credential_id.to_owned(),
        name: "Laptop".to_owned(),
        credential: format!("{{\"cred_id\":\"{credential_id}\"}}"),
        sign_count,
        backup_eligible: true,
        backup_state: false,
        user_verified: true,
        created_at: NOW,
        last_used_at: None,
    }
}

fn used(count: i64) -> PasskeyUse {
    PasskeyUse {
        credential: format!("{{\"counter\":{count}}}"),
        sign_count: count,
        backup_eligible: true,
        backup_state: true,
    }
}

fn ceremony(kind: CeremonyKind, binding: &str, expires_at: i64) -> PasskeyCeremony {
    PasskeyCeremony {
        id: new_id(),
        kind,
        binding: binding.to_owned(),
        user_id: None,
        state: "{\"challenge\":\"c\"}".to_owned(),
        created_at: NOW,
        expires_at,
    }
}

/// A passkey is registered once (its credential id is unique across users), listed, found by
/// credential id, renamed and removed by its user only; it counts as an enrolled factor, and the
/// last factor removed takes the recovery codes with it.
pub async fn case_a_passkey_is_registered_listed_renamed_and_removed(store: &dyn Store) {
    let user = given_user(store).await;
    let other = given_user(store).await;
    let first = passkey(&user.id, "cred-a", 0);
    store.insert_passkey(&first).await.expect("insert");
    let again = passkey(&other.id, "cred-a", 0);
    assert!(
        matches!(store.insert_passkey(&again).await, Err(StoreError::Conflict(r)) if r == "credential"),
        "a credential id belongs to one user"
    );
    let nobody = passkey("no-such-user", "cred-z", 0);
    assert!(
        matches!(store.insert_passkey(&nobody).await, Err(StoreError::Conflict(r)) if r == "user"),
    );
    let second = Passkey {
        created_at: NOW + 1,
        ..passkey(&user.id, "cred-b", 5)
    };
    store.insert_passkey(&second).await.expect("insert");
    assert_eq!(
        store.list_passkeys(&user.id).await.expect("list"),
        vec![first.clone(), second.clone()]
    );
    assert!(
        store
            .list_passkeys(&other.id)
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        store
            .get_passkey_by_credential("cred-b")
            .await
            .expect("get"),
        Some(second.clone())
    );
    assert_eq!(
        store.get_passkey_by_credential("nope").await.expect("get"),
        None
    );
    assert_eq!(
        store
            .users_with_factors(&[user.id.clone(), other.id.clone()])
            .await
            .expect("with"),
        vec![user.id.clone()],
        "a passkey is an enrolled factor"
    );

    assert!(
        !store
            .rename_passkey(&other.id, &first.id, "Stolen")
            .await
            .expect("rename"),
        "another user's"
    );
    assert!(
        store
            .rename_passkey(&user.id, &first.id, "Phone")
            .await
            .expect("rename")
    );
    let listed = store.list_passkeys(&user.id).await.expect("list");
    assert_eq!(listed[0].name, "Phone");

    // With a TOTP factor and recovery codes beside: removing one passkey keeps the codes, removing
    // every factor takes them.
    let totp = Factor {
        id: new_id(),
        user_id: user.id.clone(),
        kind: FactorKind::Totp,
        secret: b"s".to_vec(),
        confirmed_at: None,
        last_used_step: None,
        created_at: NOW,
        last_used_at: None,
    };
    store.insert_pending_factor(&totp).await.expect("totp");
    store
        .replace_recovery_codes(&user.id, &[latch_core::SecretHash::of(b"r")], NOW)
        .await
        .expect("codes");
    assert!(
        !store
            .delete_factor(&other.id, &first.id)
            .await
            .expect("delete"),
        "another user's"
    );
    assert!(
        store
            .delete_factor(&user.id, &first.id)
            .await
            .expect("delete")
    );
    assert!(
        !store
            .delete_factor(&user.id, &first.id)
            .await
            .expect("delete"),
        "gone"
    );
    assert_eq!(store.count_recovery_codes(&user.id).await.expect("n"), 1);
    assert!(
        store
            .delete_factor(&user.id, &second.id)
            .await
            .expect("delete")
    );
    assert_eq!(
        store.count_recovery_codes(&user.id).await.expect("n"),
        0,
        "no confirmed factor left (the TOTP one is pending)"
    );
    assert!(
        store
            .list_passkeys(&user.id)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        store
            .users_with_factors(std::slice::from_ref(&user.id))
            .await
            .expect("with")
            .is_empty()
    );
    // The credential id is free again.
    store
        .insert_passkey(&passkey(&other.id, "cred-a", 0))
        .await
        .expect("re-register");
}

/// WebAuthn §6.1.1: the counter only moves forward; a counter of 0 on both sides (no counter) is
/// accepted every time; an old or equal counter (a clone) changes nothing.
pub async fn case_a_passkey_counter_never_goes_backwards(store: &dyn Store) {
    let user = given_user(store).await;
    let counted = passkey(&user.id, "counted", 5);
    store.insert_passkey(&counted).await.expect("insert");
    for (expected, update, ok) in [(5, 5, false), (5, 4, false), (4, 6, false), (5, 6, true)] {
        assert_eq!(
            store
                .use_passkey(&counted.id, expected, &used(update), NOW + 1)
                .await
                .expect("use"),
            ok,
            "{expected} -> {update}"
        );
    }
    let stored = store
        .get_passkey_by_credential("counted")
        .await
        .expect("get")
        .expect("there");
    assert_eq!(
        (
            stored.sign_count,
            stored.backup_state,
            stored.last_used_at,
            stored.credential
        ),
        (6, true, Some(NOW + 1), used(6).credential)
    );
    assert!(
        !store
            .use_passkey(&counted.id, 6, &used(0), NOW + 2)
            .await
            .expect("use"),
        "a counter does not drop to 0"
    );
    let uncounted = passkey(&user.id, "uncounted", 0);
    store.insert_passkey(&uncounted).await.expect("insert");
    for _ in 0..2 {
        assert!(
            store
                .use_passkey(&uncounted.id, 0, &used(0), NOW + 3)
                .await
                .expect("use")
        );
    }
}

/// Two concurrent uses with the same counter: exactly one wins.
pub async fn case_concurrent_uses_of_a_passkey_counter_have_one_winner(store: Arc<dyn Store>) {
    let user = given_user(&*store).await;
    let key = passkey(&user.id, "raced", 1);
    store.insert_passkey(&key).await.expect("insert");
    let users: Vec<_> = (0..8)
        .map(|_| {
            let (store, id) = (store.clone(), key.id.clone());
            tokio::spawn(
                async move { store.use_passkey(&id, 1, &used(2), NOW).await.expect("use") },
            )
        })
        .collect();
    let mut winners = 0;
    for t in users {
        winners += usize::from(t.await.expect("user"));
    }
    assert_eq!(winners, 1);
}

/// A ceremony is taken once, only with its kind and binding, only before it expires; expired
/// ones are purged.
pub async fn case_a_passkey_ceremony_is_taken_once_by_its_binding(store: &dyn Store) {
    let user = given_user(store).await;
    let c = PasskeyCeremony {
        user_id: Some(user.id.clone()),
        ..ceremony(CeremonyKind::Register, "sid-1", NOW + 300)
    };
    store.insert_passkey_ceremony(&c).await.expect("insert");
    let take = |id: String, kind, binding: &'static str, now| async move {
        store
            .take_passkey_ceremony(&id, kind, binding, now)
            .await
            .expect("take")
    };
    assert_eq!(
        take(c.id.clone(), CeremonyKind::Register, "sid-2", NOW).await,
        None,
        "another session"
    );
    assert_eq!(
        take(c.id.clone(), CeremonyKind::SignIn, "sid-1", NOW).await,
        None,
        "another kind"
    );
    assert_eq!(
        take(c.id.clone(), CeremonyKind::Register, "sid-1", NOW + 300).await,
        None,
        "expired"
    );
    assert_eq!(
        take(c.id.clone(), CeremonyKind::Register, "sid-1", NOW).await,
        Some(c.clone()),
        "the mismatches left it in place"
    );
    assert_eq!(
        take(c.id.clone(), CeremonyKind::Register, "sid-1", NOW).await,
        None,
        "single use"
    );

    let old = ceremony(CeremonyKind::SignIn, "login-a", NOW - 1);
    let live = ceremony(CeremonyKind::SecondFactor, "login-b", NOW + 300);
    for x in [&old, &live] {
        store.insert_passkey_ceremony(x).await.expect("insert");
    }
    assert_eq!(
        store
            .purge(Purge::PasskeyCeremonies, NOW, 100)
            .await
            .expect("purge"),
        1
    );
    assert_eq!(
        take(live.id.clone(), CeremonyKind::SecondFactor, "login-b", NOW).await,
        Some(live),
        "a live ceremony is kept"
    );
}

/// Of concurrent takes of one ceremony (a replayed form), exactly one gets it.
pub async fn case_concurrent_takes_of_a_passkey_ceremony_have_one_winner(store: Arc<dyn Store>) {
    let c = ceremony(CeremonyKind::SignIn, "login", NOW + 300);
    store.insert_passkey_ceremony(&c).await.expect("insert");
    let takers: Vec<_> = (0..8)
        .map(|_| {
            let (store, id) = (store.clone(), c.id.clone());
            tokio::spawn(async move {
                store
                    .take_passkey_ceremony(&id, CeremonyKind::SignIn, "login", NOW)
                    .await
                    .expect("take")
                    .is_some()
            })
        })
        .collect();
    let mut winners = 0;
    for t in takers {
        winners += usize::from(t.await.expect("taker"));
    }
    assert_eq!(winners, 1);
}
