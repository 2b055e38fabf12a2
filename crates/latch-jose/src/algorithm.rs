//! The JWS algorithms Latch signs with (`Algorithm`, defined in `latch_core::algorithm` so that an
//! application's `id_token_signed_response_alg` is one), and the OIDC hash claims derived from them.

use aws_lc_rs::digest;
pub use latch_core::algorithm::Algorithm;

/// The `at_hash` of an access token (also valid for `c_hash` with a code).
///
/// OIDC Core §3.1.3.6: "Its value is the base64url encoding of the left-most half of the hash of
/// the octets of the ASCII representation of the access_token value, where the hash algorithm
/// used is the hash algorithm used in the alg Header Parameter of the ID Token's JOSE Header."
/// For EdDSA (Ed25519) the errata set 2 text names SHA-512.
pub fn at_hash(alg: Algorithm, access_token: &str) -> String {
    let hash = match alg {
        Algorithm::RS256 | Algorithm::ES256 => &digest::SHA256,
        Algorithm::EdDSA => &digest::SHA512,
    };
    let digest = digest::digest(hash, access_token.as_bytes());
    let bytes = digest.as_ref();
    crate::b64url(&bytes[..bytes.len() / 2])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_round_trip_and_are_case_sensitive() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::parse(alg.as_str()), Some(alg));
            let json = serde_json::to_string(&alg).unwrap();
            assert_eq!(json, format!("\"{}\"", alg.as_str()));
            assert_eq!(serde_json::from_str::<Algorithm>(&json).unwrap(), alg);
        }
        assert_eq!(Algorithm::parse("none"), None);
        assert_eq!(Algorithm::parse("rs256"), None);
        assert_eq!(Algorithm::parse("HS256"), None);
    }

    #[test]
    fn at_hash_matches_the_oidc_core_example() {
        // OpenID Connect Core 1.0, Appendix A.3 (RS256).
        assert_eq!(
            at_hash(
                Algorithm::RS256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        // Appendix A.4: c_hash of the code, same construction.
        assert_eq!(
            at_hash(
                Algorithm::RS256,
                "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk"
            ),
            "LDktKdoQak3Pk0cnXxCltA"
        );
    }

    #[test]
    fn at_hash_for_eddsa_is_the_left_half_of_sha512() {
        let token = "some-access-token";
        let full = digest::digest(&digest::SHA512, token.as_bytes());
        let expected = crate::b64url(&full.as_ref()[..32]);
        assert_eq!(at_hash(Algorithm::EdDSA, token), expected);
        assert_eq!(at_hash(Algorithm::ES256, token).len(), 22);
        assert_eq!(expected.len(), 43);
    }
}
