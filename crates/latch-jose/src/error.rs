//! The one error type of this crate.

/// What can go wrong with keys and tokens. Verification failures are deliberately coarse: the
/// caller answers `invalid_token`/`invalid_request` whatever the variant, and logs the message.
#[derive(Debug, thiserror::Error)]
pub enum JoseError {
    /// The configured master key is not standard base64 of exactly 32 bytes.
    #[error(
        "the master key must be standard base64 encoding exactly 32 bytes \
         (e.g. the output of `openssl rand -base64 32`): {0}"
    )]
    InvalidMasterKey(String),
    /// AES-256-GCM refused the ciphertext: wrong master key, wrong AAD, or altered data.
    #[error("decryption failed: wrong master key, or the data was altered")]
    Decrypt,
    /// A stored signing key did not decrypt under this master key.
    #[error(
        "cannot decrypt signing key {kid}: the master key is not the one the key was created \
         with, or the stored row was altered"
    )]
    KeyDecrypt { kid: String },
    /// A stored signing key decrypted but is not what its row says it is.
    #[error("signing key {kid} is invalid: {reason}")]
    InvalidKeyRecord { kid: String, reason: String },
    /// An algorithm name Latch does not sign with.
    #[error("unsupported signing algorithm {0:?} (expected RS256, ES256 or EdDSA)")]
    UnsupportedAlgorithm(String),
    /// aws-lc-rs could not generate or serialize a key pair.
    #[error("signing key generation failed")]
    KeyGeneration,
    /// aws-lc-rs could not produce a signature.
    #[error("signing failed")]
    Signing,
    /// The claims (or header) could not be serialized, or are not a JSON object.
    #[error("cannot serialize the JWT: {0}")]
    Serialize(String),
    /// The token is not a well-formed compact JWS.
    #[error("malformed JWT: {0}")]
    Malformed(&'static str),
    /// `alg: none` — unsecured JWTs are never accepted.
    #[error("unsecured JWT (alg \"none\") refused")]
    Unsecured,
    /// The header names no key, or a key that is not (or no longer) published.
    #[error("the JWT's kid is missing or names no published key")]
    UnknownKey,
    /// The header's `alg` is not the algorithm of the key its `kid` names.
    #[error("the JWT's alg does not match its key's algorithm")]
    AlgorithmMismatch,
    /// The signature does not verify under the named key.
    #[error("the JWT signature is invalid")]
    InvalidSignature,
}

impl From<serde_json::Error> for JoseError {
    fn from(error: serde_json::Error) -> Self {
        JoseError::Serialize(error.to_string())
    }
}
