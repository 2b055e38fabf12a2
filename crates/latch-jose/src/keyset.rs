//! The keys in force at one moment: who signs for each algorithm, what the JWKS publishes, and
//! which keys verify.

use std::cmp::Reverse;
use std::sync::Arc;

use latch_core::UnixTime;
use latch_core::store::SigningKeyRecord;

use crate::verified::verify_compact;
use crate::{Algorithm, JoseError, MasterKey, SigningKey, VerifiedJwt};

/// The signing keys in force at `now`, parsed once. Cheap to clone (one `Arc`).
///
/// Per algorithm, the signer is the key with the highest `generation` whose `activate_at` has
/// come. A key whose `activate_at` is still ahead is published but does not sign yet, so relying
/// parties can fetch it before they meet tokens signed with it. A key superseded by a newer
/// active one stays published for `retire_grace_seconds` after the newer one activated (long
/// enough for every token it signed to expire), then is dropped from the JWKS and from
/// verification.
#[derive(Debug, Clone)]
pub struct KeySet(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    /// Published keys, by algorithm, newest generation first.
    keys: Vec<SigningKey>,
    /// Each algorithm's signer, as an index into `keys`.
    signers: Vec<(Algorithm, usize)>,
    jwks: String,
    next_change_at: Option<UnixTime>,
}

impl KeySet {
    /// Decrypts and parses the published keys among `records`; retired ones are not even
    /// decrypted. Fails if a published key cannot be loaded (e.g. under the wrong master key)
    /// or a record names an unknown algorithm. The same records can then go to
    /// [`crate::plan_rotation`].
    pub fn new(
        records: &[SigningKeyRecord],
        master: &MasterKey,
        now: UnixTime,
        retire_grace_seconds: i64,
    ) -> Result<Self, JoseError> {
        let grace = retire_grace_seconds.max(0);
        let records = records
            .iter()
            .map(|record| match Algorithm::parse(&record.alg) {
                Some(alg) => Ok((alg, record)),
                None => Err(JoseError::UnsupportedAlgorithm(record.alg.clone())),
            })
            .collect::<Result<Vec<_>, _>>()?;

        let mut next_change_at: Option<UnixTime> = None;
        let mut note_change = |at: UnixTime| {
            if at > now {
                next_change_at = Some(next_change_at.map_or(at, |next| next.min(at)));
            }
        };
        let mut published = Vec::new();
        for &(alg, record) in &records {
            // The moment a newer key of the same algorithm took over signing, if one has.
            let superseded_at = records
                .iter()
                .filter(|(other_alg, other)| {
                    *other_alg == alg
                        && other.generation > record.generation
                        && other.activate_at <= now
                })
                .map(|(_, other)| other.activate_at)
                .min();
            if let Some(retired_at) = superseded_at.map(|at| at.saturating_add(grace)) {
                if retired_at <= now {
                    continue;
                }
                note_change(retired_at);
            }
            note_change(record.activate_at);
            published.push((alg, record));
        }
        published.sort_by_key(|(alg, record)| (*alg, Reverse(record.generation)));

        let keys = published
            .iter()
            .map(|(_, record)| SigningKey::from_record(record, master))
            .collect::<Result<Vec<_>, _>>()?;
        let mut signers: Vec<(Algorithm, usize)> = Vec::new();
        for (index, (alg, record)) in published.iter().enumerate() {
            let has_signer = signers.iter().any(|(signer_alg, _)| signer_alg == alg);
            if !has_signer && record.activate_at <= now {
                signers.push((*alg, index));
            }
        }
        let jwks = render_jwks(&keys);
        Ok(KeySet(Arc::new(Inner {
            keys,
            signers,
            jwks,
            next_change_at,
        })))
    }

    /// A set with no keys: signs nothing, verifies nothing, publishes `{"keys":[]}`.
    pub fn empty() -> Self {
        KeySet(Arc::new(Inner {
            keys: Vec::new(),
            signers: Vec::new(),
            jwks: render_jwks(&[]),
            next_change_at: None,
        }))
    }

    /// The key that signs for `alg` now, if any.
    pub fn signer(&self, alg: Algorithm) -> Option<&SigningKey> {
        self.0
            .signers
            .iter()
            .find(|(signer_alg, _)| *signer_alg == alg)
            .and_then(|&(_, index)| self.0.keys.get(index))
    }

    /// The algorithms that have a signer, in `RS256`, `ES256`, `EdDSA` order (for discovery's
    /// `*_signing_alg_values_supported`).
    pub fn signing_algorithms(&self) -> Vec<Algorithm> {
        self.0.signers.iter().map(|(alg, _)| *alg).collect()
    }

    /// The published keys: signers, keys waiting to activate, and retiring keys.
    pub fn published(&self) -> impl Iterator<Item = &SigningKey> {
        self.0.keys.iter()
    }

    /// The JWKS document (RFC 7517 §5), rendered once: `{"keys":[...]}`.
    pub fn jwks_json(&self) -> &str {
        &self.0.jwks
    }

    /// Verifies a compact JWS signed by one of the published keys. The key is chosen by `kid`
    /// and its own algorithm must be the header's `alg`. Claims are not checked.
    pub fn verify(&self, token: &str) -> Result<VerifiedJwt, JoseError> {
        verify_compact(token, |kid| self.0.keys.iter().find(|key| key.kid() == kid))
    }

    /// The next moment after `now` at which a key starts signing or leaves the JWKS: rebuild
    /// the set then.
    pub fn next_change_at(&self) -> Option<UnixTime> {
        self.0.next_change_at
    }
}

fn render_jwks(keys: &[SigningKey]) -> String {
    let mut jwks = String::from(r#"{"keys":["#);
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            jwks.push(',');
        }
        jwks.push_str(key.public_jwk());
    }
    jwks.push_str("]}");
    jwks
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::test_support::{GRACE, all_algorithms, kids, record};
    #[test]
    fn tokens_signed_with_each_algorithm_verify_with_their_typ_and_claims() {
        let (_, set) = all_algorithms();
        assert_eq!(set.signing_algorithms(), Algorithm::ALL.to_vec());
        for alg in Algorithm::ALL {
            let signer = set.signer(alg).unwrap();
            let claims = json!({"iss": "https://latch.example", "aud": ["a", "b"], "exp": 99});
            let token = signer.sign_jwt(Some("logout+jwt"), &claims).unwrap();
            let verified = set.verify(&token).unwrap();
            assert_eq!(verified.alg(), alg);
            assert_eq!(verified.kid(), signer.kid());
            assert_eq!(verified.typ(), Some("logout+jwt"));
            assert!(verified.typ_is("application/Logout+JWT"));
            assert!(!verified.typ_is("at+jwt"));
            assert_eq!(verified.iss(), Some("https://latch.example"));
            assert_eq!(verified.exp(), Some(99));
            assert!(verified.audience_contains("b") && !verified.audience_contains("c"));
            assert_eq!(Value::Object(verified.into_claims()), claims);
        }
    }

    #[test]
    fn a_new_key_is_published_before_it_signs_and_the_old_one_retires_after_the_grace() {
        let master = MasterKey::generate();
        let records = vec![
            record(Algorithm::EdDSA, 1, 0, &master),
            record(Algorithm::EdDSA, 2, 1000, &master),
        ];
        let old = records[0].kid.clone();
        let new = records[1].kid.clone();
        let at = |now| KeySet::new(&records, &master, now, GRACE).unwrap();

        let before = at(500);
        assert_eq!(before.signer(Algorithm::EdDSA).unwrap().kid(), old);
        assert_eq!(kids(&before), vec![new.clone(), old.clone()]);
        assert_eq!(before.next_change_at(), Some(1000));
        let old_token = before
            .signer(Algorithm::EdDSA)
            .unwrap()
            .sign_jwt(None, &json!({}))
            .unwrap();

        let after = at(1000);
        assert_eq!(after.signer(Algorithm::EdDSA).unwrap().kid(), new);
        assert_eq!(kids(&after), vec![new.clone(), old.clone()]);
        assert_eq!(after.next_change_at(), Some(1000 + GRACE));
        assert!(after.verify(&old_token).is_ok());

        let retired = at(1000 + GRACE);
        assert_eq!(retired.signer(Algorithm::EdDSA).unwrap().kid(), new);
        assert_eq!(kids(&retired), vec![new]);
        assert_eq!(retired.next_change_at(), None);
        assert!(matches!(
            retired.verify(&old_token),
            Err(JoseError::UnknownKey)
        ));
    }

    #[test]
    fn retired_keys_are_not_decrypted_and_a_wrong_master_key_fails_loudly() {
        let master = MasterKey::generate();
        let mut retired = record(Algorithm::ES256, 1, 0, &master);
        retired.private_key_encrypted = vec![0; 40];
        let current = record(Algorithm::ES256, 2, 100, &master);
        let set = KeySet::new(&[retired, current.clone()], &master, 100 + GRACE, GRACE).unwrap();
        assert_eq!(kids(&set), vec![current.kid.clone()]);
        let error = KeySet::new(&[current], &MasterKey::generate(), 100, GRACE).unwrap_err();
        assert!(matches!(error, JoseError::KeyDecrypt { .. }));
    }

    #[test]
    fn the_jwks_lists_public_members_only() {
        let (_, set) = all_algorithms();
        let jwks: Value = serde_json::from_str(set.jwks_json()).unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 3);
        for key in keys {
            for member in ["kid", "alg", "use", "kty"] {
                assert!(key.get(member).is_some(), "{member} missing from {key}");
            }
            for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
                assert!(key.get(private).is_none(), "{private} present in {key}");
            }
        }
        assert_eq!(KeySet::empty().jwks_json(), r#"{"keys":[]}"#);
        assert!(KeySet::empty().signer(Algorithm::RS256).is_none());
    }

    #[test]
    fn an_algorithm_whose_only_key_is_not_active_yet_has_no_signer() {
        let master = MasterKey::generate();
        let set = KeySet::new(
            &[record(Algorithm::ES256, 1, 50, &master)],
            &master,
            10,
            GRACE,
        )
        .unwrap();
        assert!(set.signer(Algorithm::ES256).is_none());
        assert_eq!(kids(&set).len(), 1);
        assert_eq!(set.next_change_at(), Some(50));
    }
}
