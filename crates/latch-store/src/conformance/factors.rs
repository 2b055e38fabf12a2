//! Cases: second factors (TOTP state) and recovery codes.

use std::sync::Arc;

use latch_core::SecretHash;
use latch_core::store::{Factor, FactorKind, Store, StoreError};

use super::{NOW, given_user, new_id};

fn totp(user_id: &str, secret: &[u8]) -> Factor {
    Factor {
        id: new_id(),
        user_id: user_id.to_owned(),
        kind: FactorKind::Totp,
        secret: secret.to_vec(),
        confirmed_at: None,
        last_used_step: None,
        created_at: NOW,
        last_used_at: None,
    }
}

/// Enrolment: a pending factor is replaced by a newer pending one, confirmed once with its first
/// step, and then blocks another enrolment until removed; removing the last factor takes the
/// recovery codes with it; a factor of another user cannot be touched.
pub async fn case_a_factor_is_enrolled_confirmed_and_removed(store: &dyn Store) {
    let user = given_user(store).await;
    let other = given_user(store).await;
    let first = totp(&user.id, b"first");
    store.insert_pending_factor(&first).await.expect("insert");
    let second = totp(&user.id, b"second");
    store.insert_pending_factor(&second).await.expect("replace");
    assert_eq!(
        store.list_factors(&user.id).await.expect("list"),
        vec![second.clone()],
        "the newer pending factor replaced the older"
    );
    assert!(
        !store
            .confirm_factor(&user.id, &first.id, 10, NOW + 5)
            .await
            .expect("confirm"),
        "replaced"
    );
    assert!(
        !store
            .confirm_factor(&other.id, &second.id, 10, NOW + 5)
            .await
            .expect("confirm"),
        "another user's"
    );
    assert!(
        !store
            .use_factor_step(&second.id, 10, NOW + 5)
            .await
            .expect("use"),
        "a pending factor signs nobody in"
    );
    assert!(
        store
            .confirm_factor(&user.id, &second.id, 10, NOW + 5)
            .await
            .expect("confirm")
    );
    assert!(
        !store
            .confirm_factor(&user.id, &second.id, 11, NOW + 6)
            .await
            .expect("confirm"),
        "confirmed once"
    );
    let listed = store.list_factors(&user.id).await.expect("list");
    assert_eq!(
        (
            listed[0].confirmed_at,
            listed[0].last_used_step,
            listed[0].secret.as_slice()
        ),
        (Some(NOW + 5), Some(10), &b"second"[..])
    );
    assert!(matches!(
        store.insert_pending_factor(&totp(&user.id, b"third")).await,
        Err(StoreError::Conflict(reason)) if reason == "factor"
    ));
    assert!(matches!(
        store.insert_pending_factor(&totp("no-such-user", b"x")).await,
        Err(StoreError::Conflict(reason)) if reason == "user"
    ));
    assert_eq!(
        store
            .users_with_factors(&[other.id.clone(), user.id.clone()])
            .await
            .expect("enrolled"),
        vec![user.id.clone()]
    );
    assert_eq!(
        store.users_with_factors(&[]).await.expect("none"),
        Vec::<String>::new()
    );

    let codes = [SecretHash::of(b"a"), SecretHash::of(b"b")];
    store
        .replace_recovery_codes(&user.id, &codes, NOW)
        .await
        .expect("codes");
    assert_eq!(
        store.count_recovery_codes(&user.id).await.expect("count"),
        2
    );
    assert!(
        !store
            .delete_factor(&other.id, &second.id)
            .await
            .expect("delete"),
        "another user's"
    );
    assert!(
        store
            .delete_factor(&user.id, &second.id)
            .await
            .expect("delete")
    );
    assert_eq!(store.list_factors(&user.id).await.expect("list"), vec![]);
    assert_eq!(
        store.count_recovery_codes(&user.id).await.expect("count"),
        0,
        "the last factor takes the recovery codes with it"
    );
    store
        .insert_pending_factor(&totp(&user.id, b"again"))
        .await
        .expect("enrol again once removed");
    store.delete_user(&user.id).await.expect("delete user");
    assert_eq!(store.list_factors(&user.id).await.expect("list"), vec![]);
}

/// RFC 6238 §5.2: a step is used once, and no earlier step after it.
pub async fn case_a_totp_step_is_used_once_and_never_an_older_one(store: &dyn Store) {
    let user = given_user(store).await;
    let f = totp(&user.id, b"s");
    store.insert_pending_factor(&f).await.expect("insert");
    assert!(
        store
            .confirm_factor(&user.id, &f.id, 100, NOW)
            .await
            .expect("confirm")
    );
    assert!(
        !store.use_factor_step(&f.id, 100, NOW).await.expect("use"),
        "the confirming code"
    );
    assert!(
        store
            .use_factor_step(&f.id, 102, NOW + 60)
            .await
            .expect("use")
    );
    assert!(
        !store
            .use_factor_step(&f.id, 102, NOW + 61)
            .await
            .expect("use"),
        "replay"
    );
    assert!(
        !store
            .use_factor_step(&f.id, 101, NOW + 61)
            .await
            .expect("use"),
        "older"
    );
    assert!(
        store
            .use_factor_step(&f.id, 103, NOW + 90)
            .await
            .expect("use")
    );
    let listed = store.list_factors(&user.id).await.expect("list");
    assert_eq!(
        (listed[0].last_used_step, listed[0].last_used_at),
        (Some(103), Some(NOW + 90))
    );
}

/// Two concurrent uses of one code: exactly one succeeds.
pub async fn case_concurrent_uses_of_a_totp_code_have_one_winner(store: Arc<dyn Store>) {
    let user = given_user(&*store).await;
    let f = totp(&user.id, b"s");
    store.insert_pending_factor(&f).await.expect("insert");
    assert!(
        store
            .confirm_factor(&user.id, &f.id, 1, NOW)
            .await
            .expect("confirm")
    );
    let users: Vec<_> = (0..8)
        .map(|_| {
            let (store, id) = (store.clone(), f.id.clone());
            tokio::spawn(async move { store.use_factor_step(&id, 2, NOW).await.expect("use") })
        })
        .collect();
    let mut winners = 0;
    for t in users {
        winners += usize::from(t.await.expect("user"));
    }
    assert_eq!(winners, 1);
}

/// Recovery codes: replaced as a set, each used once (of concurrent uses exactly one wins), and
/// only by their user.
pub async fn case_recovery_codes_are_single_use(store: Arc<dyn Store>) {
    let user = given_user(&*store).await;
    let other = given_user(&*store).await;
    let old = SecretHash::of(b"old");
    store
        .replace_recovery_codes(&user.id, std::slice::from_ref(&old), NOW)
        .await
        .expect("codes");
    let codes: Vec<SecretHash> = (0..10).map(|i| SecretHash::of(&[i])).collect();
    store
        .replace_recovery_codes(&user.id, &codes, NOW)
        .await
        .expect("codes");
    assert_eq!(
        store.count_recovery_codes(&user.id).await.expect("count"),
        10
    );
    assert!(
        !store
            .take_recovery_code(&user.id, &old)
            .await
            .expect("take"),
        "replaced"
    );
    assert!(
        !store
            .take_recovery_code(&other.id, &codes[0])
            .await
            .expect("take"),
        "another user's"
    );
    let takers: Vec<_> = (0..8)
        .map(|_| {
            let (store, id, hash) = (store.clone(), user.id.clone(), codes[0].clone());
            tokio::spawn(async move { store.take_recovery_code(&id, &hash).await.expect("take") })
        })
        .collect();
    let mut winners = 0;
    for t in takers {
        winners += usize::from(t.await.expect("taker"));
    }
    assert_eq!(winners, 1);
    assert_eq!(
        store.count_recovery_codes(&user.id).await.expect("count"),
        9
    );
}
