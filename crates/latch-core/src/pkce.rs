//! PKCE (RFC 7636), S256 only.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

use crate::OAuthError;

/// Checks `code_challenge` and `code_challenge_method` at the authorization endpoint.
pub fn parse_challenge(
    challenge: Option<&str>,
    method: Option<&str>,
) -> Result<Option<String>, OAuthError> {
    let Some(challenge) = challenge else {
        return match method {
            Some(_) => Err(OAuthError::invalid_request(
                "code_challenge_method without code_challenge",
            )),
            None => Ok(None),
        };
    };
    match method {
        Some("S256") => {}
        // RFC 7636 §4.3: the default is `plain`, which Latch refuses.
        None | Some("plain") => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method must be S256 (plain is not supported)",
            ));
        }
        Some(_) => {
            return Err(OAuthError::invalid_request(
                "unsupported code_challenge_method",
            ));
        }
    }
    // A base64url SHA-256 digest is 43 characters without padding.
    let bytes = URL_SAFE_NO_PAD
        .decode(challenge)
        .map_err(|_| OAuthError::invalid_request("code_challenge is not base64url"))?;
    if bytes.len() != 32 || challenge.len() != 43 {
        return Err(OAuthError::invalid_request(
            "code_challenge must be a base64url SHA-256 digest",
        ));
    }
    Ok(Some(challenge.to_owned()))
}

/// RFC 7636 §4.1: 43–128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
pub fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The S256 challenge of a verifier.
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

/// RFC 7636 §4.6: the token request's verifier must hash to the stored challenge.
pub fn verify(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), OAuthError> {
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier sent but no code_challenge was used at authorization",
        )),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is required")),
        (Some(challenge), Some(verifier)) => {
            if !is_valid_verifier(verifier) {
                return Err(OAuthError::invalid_grant("code_verifier is malformed"));
            }
            if bool::from(s256(verifier).as_bytes().ct_eq(challenge.as_bytes())) {
                Ok(())
            } else {
                Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn s256_matches_the_rfc_example() {
        assert_eq!(s256(VERIFIER), CHALLENGE);
        assert_eq!(verify(Some(CHALLENGE), Some(VERIFIER)), Ok(()));
    }

    #[test]
    fn plain_and_missing_methods_are_refused() {
        let e = parse_challenge(Some(CHALLENGE), Some("plain")).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(parse_challenge(Some(CHALLENGE), None).is_err());
        assert!(parse_challenge(None, Some("S256")).is_err());
        assert_eq!(parse_challenge(None, None), Ok(None));
    }

    #[test]
    fn malformed_challenges_are_refused() {
        assert!(parse_challenge(Some("short"), Some("S256")).is_err());
        assert!(parse_challenge(Some(&"a".repeat(44)), Some("S256")).is_err());
        assert!(
            parse_challenge(
                Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"),
                Some("S256")
            )
            .is_err()
        );
    }

    #[test]
    fn a_wrong_or_missing_verifier_is_an_invalid_grant() {
        let wrong = "x".repeat(43);
        assert_eq!(
            verify(Some(CHALLENGE), Some(&wrong)).unwrap_err().code,
            ErrorCode::InvalidGrant
        );
        assert_eq!(
            verify(Some(CHALLENGE), None).unwrap_err().code,
            ErrorCode::InvalidGrant
        );
        assert_eq!(
            verify(None, Some(VERIFIER)).unwrap_err().code,
            ErrorCode::InvalidGrant
        );
        assert!(verify(Some(CHALLENGE), Some("short")).is_err());
    }
}
