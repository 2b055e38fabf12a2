//! Cases: signing keys.

use latch_core::store::{
    Factor, FactorKind, MailLimits, NewMail, SealedState, SigningKeyRecord, Store,
};

use super::{NOW, given_user, new_id};

fn key(alg: &str, generation: i64, activate_at: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: new_id(),
        alg: alg.to_owned(),
        generation,
        public_jwk: format!(r#"{{"kty":"RSA","alg":"{alg}","g":{generation}}}"#),
        private_key_encrypted: vec![0, 1, 2, 255, generation as u8],
        created_at: NOW,
        activate_at,
    }
}

/// Two nodes creating the same `(alg, generation)`: one row wins, the other gets `false`.
pub async fn case_signing_keys_refuse_a_duplicate_generation(store: &dyn Store) {
    let rs1 = key("RS256", 1, NOW);
    let es1 = key("ES256", 1, NOW);
    assert!(store.insert_signing_key(&rs1).await.expect("insert"));
    assert!(
        !store
            .insert_signing_key(&key("RS256", 1, NOW + 5))
            .await
            .expect("insert duplicate")
    );
    assert!(
        store
            .insert_signing_key(&es1)
            .await
            .expect("insert other alg")
    );
    let keys = store.list_signing_keys().await.expect("list");
    assert_eq!(
        keys,
        vec![es1, rs1],
        "every field round-trips, ordered by alg then generation"
    );
}

/// A key is deleted only once a newer key of its algorithm has signed since before the cutoff.
pub async fn case_retired_signing_keys_are_deleted(store: &dyn Store) {
    let (g1, g2, g3) = (
        key("RS256", 1, 100),
        key("RS256", 2, 200),
        key("RS256", 3, 300),
    );
    let other = key("EdDSA", 1, 100);
    for k in [&g1, &g2, &g3, &other] {
        assert!(store.insert_signing_key(k).await.expect("insert"));
    }
    assert_eq!(
        store
            .delete_signing_keys_retired_before("RS256", 200)
            .await
            .expect("delete"),
        0
    );
    assert_eq!(
        store
            .delete_signing_keys_retired_before("RS256", 250)
            .await
            .expect("delete"),
        1
    );
    let kids: Vec<String> = store
        .list_signing_keys()
        .await
        .expect("list")
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(
        kids,
        vec![other.kid.clone(), g2.kid.clone(), g3.kid.clone()]
    );
    assert_eq!(
        store
            .delete_signing_keys_retired_before("RS256", 10_000)
            .await
            .expect("delete"),
        1
    );
    let kids: Vec<String> = store
        .list_signing_keys()
        .await
        .expect("list")
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(
        kids,
        vec![other.kid, g3.kid],
        "the newest key of an algorithm always stays"
    );
}

/// `latch keys rewrap`: every sealed value — private keys, second factors' secrets, queued mail
/// — replaced at once, or none when what is stored changed meanwhile (a key or a factor added or
/// deleted, a message sent); mail already sent (its message erased) is not sealed state.
pub async fn case_sealed_state_is_replaced_all_at_once_or_not_at_all(store: &dyn Store) {
    let (a, b) = (key("RS256", 1, NOW), key("ES256", 1, NOW));
    for k in [&a, &b] {
        assert!(store.insert_signing_key(k).await.expect("insert"));
    }
    let user = given_user(store).await;
    let factor = Factor {
        id: new_id(),
        user_id: user.id.clone(),
        kind: FactorKind::Totp,
        secret: b"sealed totp".to_vec(),
        confirmed_at: None,
        last_used_step: None,
        created_at: NOW,
        last_used_at: None,
    };
    store.insert_pending_factor(&factor).await.expect("factor");
    store
        .confirm_factor(&user.id, &factor.id, 7, NOW)
        .await
        .expect("confirm");
    let limits = MailLimits {
        since: NOW - 3_600,
        per_recipient: 100,
        global: 100,
    };
    for (id, to) in [("queued", "a@example.com"), ("sent", "b@example.com")] {
        let mail = NewMail {
            id,
            recipient: to,
            message: b"sealed mail",
        };
        assert!(store.enqueue_mail(&mail, &limits, NOW).await.expect("mail"));
    }
    store.mark_mail_sent("sent", NOW).await.expect("sent");

    let before = store.list_sealed().await.expect("list");
    let mut kids = vec![
        (a.kid.clone(), a.private_key_encrypted.clone()),
        (b.kid.clone(), b.private_key_encrypted.clone()),
    ];
    kids.sort();
    assert_eq!(
        before,
        SealedState {
            private_keys: kids,
            factor_secrets: vec![(factor.id.clone(), b"sealed totp".to_vec())],
            queued_mail: vec![("queued".to_owned(), b"sealed mail".to_vec())],
        },
        "every sealed value, and no erased message"
    );
    let resealed = |s: &SealedState| SealedState {
        private_keys: s
            .private_keys
            .iter()
            .map(|(id, _)| (id.clone(), format!("new {id}").into_bytes()))
            .collect(),
        factor_secrets: s
            .factor_secrets
            .iter()
            .map(|(id, _)| (id.clone(), b"new totp".to_vec()))
            .collect(),
        queued_mail: s
            .queued_mail
            .iter()
            .map(|(id, _)| (id.clone(), b"new mail".to_vec()))
            .collect(),
    };
    let all = resealed(&before);

    // Each list must name exactly the stored rows; any mismatch changes nothing anywhere (the
    // mismatch is in the last table, after the others were updated in the transaction).
    let mut stale_mail = all.clone();
    stale_mail
        .queued_mail
        .push(("sent".to_owned(), b"x".to_vec()));
    let mut unknown_mail = all.clone();
    unknown_mail.queued_mail = vec![("sent".to_owned(), b"x".to_vec())];
    let mut missing_factor = all.clone();
    missing_factor.factor_secrets.clear();
    let mut missing_key = all.clone();
    missing_key.private_keys.pop();
    for (what, wrong) in [
        ("an erased message", stale_mail),
        ("a sent message instead of the queued one", unknown_mail),
        ("a factor left out", missing_factor),
        ("a key left out", missing_key),
    ] {
        assert!(
            matches!(
                store.replace_sealed(&wrong).await,
                Err(latch_core::store::StoreError::Conflict(_))
            ),
            "{what} is refused"
        );
        assert_eq!(
            store.list_sealed().await.expect("list"),
            before,
            "{what}: nothing changed"
        );
    }

    store.replace_sealed(&all).await.expect("replace");
    assert_eq!(store.list_sealed().await.expect("list"), all);
    let keys = store.list_signing_keys().await.expect("list");
    assert_eq!(
        keys[1].public_jwk, a.public_jwk,
        "only the private part changes"
    );
    let factors = store.list_factors(&user.id).await.expect("factors");
    assert_eq!(
        (factors[0].secret.as_slice(), factors[0].last_used_step),
        (b"new totp".as_slice(), Some(7)),
        "only the secret changes"
    );
    let claimed = store.claim_mail(NOW, 60, 10).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].message, b"new mail".to_vec());
}
