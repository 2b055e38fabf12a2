//! Interoperability: tokens minted here verify with public keys rebuilt from the published JWK
//! alone, through aws-lc-rs's plain verification API (not through `SigningKey`).

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
    UnparsedPublicKey,
};
use serde_json::json;

use crate::test_support::{generate, jwk_member, split};
use crate::{Algorithm, MasterKey};

#[test]
fn rsa_keys_are_2048_bit_with_e_65537_and_no_leading_zero_bytes() {
    let (key, _) = generate(Algorithm::RS256, &MasterKey::generate());
    let n = jwk_member(&key, "n");
    assert_eq!(n.len(), 256);
    assert_ne!(n[0], 0);
    assert_eq!(jwk_member(&key, "e"), [1, 0, 1]);
}

#[test]
fn the_header_carries_alg_kid_and_typ_only_when_given() {
    let (key, _) = generate(Algorithm::EdDSA, &MasterKey::generate());
    let token = key.sign_jwt(Some("at+jwt"), &json!({"sub": "u1"})).unwrap();
    let (_, _, header) = split(&token);
    assert_eq!(
        header,
        json!({"alg": "EdDSA", "kid": key.kid(), "typ": "at+jwt"})
    );
    let token = key.sign_jwt(None, &json!({"sub": "u1"})).unwrap();
    assert_eq!(split(&token).2, json!({"alg": "EdDSA", "kid": key.kid()}));
}

#[test]
fn an_rs256_jwt_verifies_with_rsa_components_taken_from_the_published_jwk() {
    let (key, _) = generate(Algorithm::RS256, &MasterKey::generate());
    let token = key
        .sign_jwt(None, &json!({"iss": "https://latch.example"}))
        .unwrap();
    let (input, signature, _) = split(&token);
    let public = RsaPublicKeyComponents {
        n: jwk_member(&key, "n"),
        e: jwk_member(&key, "e"),
    };
    public
        .verify(&RSA_PKCS1_2048_8192_SHA256, input.as_bytes(), &signature)
        .unwrap();
    assert!(
        public
            .verify(&RSA_PKCS1_2048_8192_SHA256, b"other", &signature)
            .is_err()
    );
}

#[test]
fn an_es256_jwt_verifies_with_the_point_taken_from_the_published_jwk() {
    let (key, _) = generate(Algorithm::ES256, &MasterKey::generate());
    let token = key
        .sign_jwt(None, &json!({"iss": "https://latch.example"}))
        .unwrap();
    let (input, signature, _) = split(&token);
    assert_eq!(signature.len(), 64, "JOSE wants fixed-width r||s");
    let mut point = vec![4u8];
    point.extend(jwk_member(&key, "x"));
    point.extend(jwk_member(&key, "y"));
    let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point);
    public.verify(input.as_bytes(), &signature).unwrap();
    assert!(public.verify(b"other", &signature).is_err());
}

#[test]
fn an_eddsa_jwt_verifies_with_the_key_taken_from_the_published_jwk() {
    let (key, _) = generate(Algorithm::EdDSA, &MasterKey::generate());
    let token = key
        .sign_jwt(None, &json!({"iss": "https://latch.example"}))
        .unwrap();
    let (input, signature, _) = split(&token);
    let public = UnparsedPublicKey::new(&ED25519, jwk_member(&key, "x"));
    public.verify(input.as_bytes(), &signature).unwrap();
}
