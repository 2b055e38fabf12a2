//! Cases: signing keys.

use latch_core::store::{SigningKeyRecord, Store};

use super::{NOW, new_id};

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

/// `latch keys rewrap`: every key replaced at once, or none when the set changed meanwhile.
pub async fn case_private_keys_are_replaced_all_at_once_or_not_at_all(store: &dyn Store) {
    let (a, b) = (key("RS256", 1, NOW), key("ES256", 1, NOW));
    for k in [&a, &b] {
        assert!(store.insert_signing_key(k).await.expect("insert"));
    }
    let stale = vec![(a.kid.clone(), vec![9u8; 40])];
    assert!(
        matches!(
            store.replace_private_keys(&stale).await,
            Err(latch_core::store::StoreError::Conflict(_))
        ),
        "a key missing from the list is refused"
    );
    let unknown = vec![(a.kid.clone(), vec![9u8; 40]), (new_id(), vec![9u8; 40])];
    assert!(store.replace_private_keys(&unknown).await.is_err());
    let keys = store.list_signing_keys().await.expect("list");
    assert_eq!(keys, vec![b.clone(), a.clone()], "nothing changed");
    let all = vec![
        (a.kid.clone(), vec![1u8; 40]),
        (b.kid.clone(), vec![2u8; 41]),
    ];
    store.replace_private_keys(&all).await.expect("replace");
    let keys = store.list_signing_keys().await.expect("list");
    assert_eq!(keys[0].private_key_encrypted, vec![2u8; 41]);
    assert_eq!(keys[1].private_key_encrypted, vec![1u8; 40]);
    assert_eq!(
        keys[1].public_jwk, a.public_jwk,
        "only the private part changes"
    );
}
