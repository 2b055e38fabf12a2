//! Helpers shared by the unit tests.

use serde_json::Value;

use crate::{Algorithm, KeySet, MasterKey, SigningKey, b64url};
use latch_core::store::SigningKeyRecord;

pub const GRACE: i64 = 3600;

pub fn generate(alg: Algorithm, master: &MasterKey) -> (SigningKey, SigningKeyRecord) {
    SigningKey::generate(alg, 100, 100, 1, master).unwrap()
}

pub fn record(
    alg: Algorithm,
    generation: i64,
    activate_at: i64,
    master: &MasterKey,
) -> SigningKeyRecord {
    SigningKey::generate(alg, activate_at, activate_at, generation, master)
        .unwrap()
        .1
}

/// A decoded member of a key's public JWK.
pub fn jwk_member(key: &SigningKey, name: &str) -> Vec<u8> {
    let jwk: Value = serde_json::from_str(key.public_jwk()).unwrap();
    crate::b64url_decode(jwk[name].as_str().unwrap()).unwrap()
}

/// Splits a compact JWS into (signing input, signature bytes, header JSON).
pub fn split(token: &str) -> (&str, Vec<u8>, Value) {
    let (input, signature) = token.rsplit_once('.').unwrap();
    let header = crate::b64url_decode(input.split('.').next().unwrap()).unwrap();
    (
        input,
        crate::b64url_decode(signature).unwrap(),
        serde_json::from_slice(&header).unwrap(),
    )
}

/// A compact JWS with an arbitrary header, signed by `key`.
pub fn forge(key: &SigningKey, header: Value, claims: Value) -> String {
    let input = format!(
        "{}.{}",
        b64url(header.to_string()),
        b64url(claims.to_string())
    );
    let signature = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", b64url(signature))
}

/// The kids the JWKS lists, in order.
pub fn kids(set: &KeySet) -> Vec<String> {
    let jwks: Value = serde_json::from_str(set.jwks_json()).unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// One active key per algorithm.
pub fn all_algorithms() -> (MasterKey, KeySet) {
    let master = MasterKey::generate();
    let records: Vec<SigningKeyRecord> = Algorithm::ALL
        .iter()
        .map(|&alg| record(alg, 1, 0, &master))
        .collect();
    let set = KeySet::new(&records, &master, 10, GRACE).unwrap();
    (master, set)
}
