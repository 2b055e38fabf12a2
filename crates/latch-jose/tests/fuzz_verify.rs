//! Property tests: JWTs presented by clients (ID token hints, bearer tokens) are parsed and
//! verified without panicking, whatever they hold, and only our own signatures pass.
#![allow(clippy::unwrap_used, reason = "test code")]

use latch_core::store::SigningKeyRecord;
use latch_jose::{Algorithm, KeySet, MasterKey, SigningKey};
use proptest::prelude::*;

/// Generated once: RSA key generation is too slow to repeat per case.
fn keyset() -> &'static (KeySet, Vec<SigningKey>) {
    static KEYS: std::sync::OnceLock<(KeySet, Vec<SigningKey>)> = std::sync::OnceLock::new();
    KEYS.get_or_init(generate)
}

fn generate() -> (KeySet, Vec<SigningKey>) {
    let master = MasterKey::generate();
    let mut records: Vec<SigningKeyRecord> = Vec::new();
    let mut keys = Vec::new();
    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let (key, record) = SigningKey::generate(alg, 0, 0, 1, &master).unwrap();
        records.push(record);
        keys.push(key);
    }
    (KeySet::new(&records, &master, 10, 3600).unwrap(), keys)
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_-]{0,60}",
        any::<String>(),
        Just("eyJhbGciOiJub25lIn0".to_owned()),
        Just("eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ".to_owned()),
        Just("e30".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn random_compact_tokens_never_verify_and_never_panic(a in segment(), b in segment(), c in segment(), dots in 0usize..5) {
        let (set, _) = keyset();
        let mut token = a;
        for (i, part) in [b, c].into_iter().enumerate() {
            if i < dots { token.push('.'); }
            token.push_str(&part);
        }
        prop_assert!(set.verify(&token).is_err());
    }

    #[test]
    fn any_change_to_a_signed_token_is_refused(position in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let (set, keys) = keyset();
        let claims = serde_json::json!({"iss": "https://issuer.example", "sub": "u", "exp": 4_000_000_000i64});
        for key in keys {
            let token = key.sign_jwt(Some("JWT"), &claims).unwrap();
            prop_assert!(set.verify(&token).is_ok());
            let mut bytes = token.clone().into_bytes();
            let i = position.index(bytes.len());
            if bytes[i] == byte { continue; }
            bytes[i] = byte;
            if let Ok(changed) = String::from_utf8(bytes) {
                prop_assert!(set.verify(&changed).is_err(), "a changed token verified: {changed}");
            }
        }
    }
}
