//! The specs' names as types, the way `oauth2-rs` and `openidconnect-rs` type them: a function's
//! signature says what it takes (`&ClientId`, `Option<&State>`), not `&str`.
//!
//! Each is made at the edge, where the request is parsed (`authorize::validate`,
//! `token::parse_grant`); what a value must satisfy is checked there, once. They serialize as the
//! plain string (`#[serde(transparent)]`): a parked request's JSON and every stored form are the
//! same as with `String`. The store traits keep `&str` (`as_str()` at the call).
//!
//! The identifiers and values a client chooses (`ClientId`, `RedirectUri`, `State`, `Nonce`)
//! deref to `str`. Credentials (`AuthorizationCode`, `CodeVerifier`, `RefreshToken`) do not:
//! their value is read with `secret()`, and `Debug` prints `[redacted]`.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

/// A string the spec names; reads as `str`.
macro_rules! spec_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

/// A credential the spec names; its value is read with `secret()`, never printed.
macro_rules! spec_secret {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The value, to compare, hash or send; never to log.
            pub fn secret(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

spec_string!(
    /// RFC 6749 §2.2: the client identifier.
    ClientId
);
spec_string!(
    /// RFC 6749 §3.1.2: a redirection endpoint URI, compared with the registered ones as a string
    /// (`redirect::find_redirect_uri`); at the token endpoint, the one the client repeats (§4.1.3).
    RedirectUri
);
spec_string!(
    /// RFC 6749 §4.1.1: the client's opaque value, returned with the code or the error.
    State
);
spec_string!(
    /// OIDC Core §3.1.2.1: the client's value, echoed in the ID token (replay protection).
    Nonce
);
spec_secret!(
    /// RFC 6749 §4.1.2: the authorization code (sealed by the server, see `code`).
    AuthorizationCode
);
spec_secret!(
    /// RFC 7636 §4.1: the PKCE code verifier.
    CodeVerifier
);
spec_secret!(
    /// RFC 6749 §1.5: a refresh token as presented (see `refresh`).
    RefreshToken
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_string_serializes_as_the_plain_string() {
        let state = State::new("xyz");
        assert_eq!(
            serde_json::to_string(&state).ok().as_deref(),
            Some("\"xyz\"")
        );
        let back: Option<State> = serde_json::from_str("\"xyz\"").ok();
        assert_eq!(back, Some(state.clone()));
        assert_eq!(state, "xyz");
        assert_eq!(&*state, "xyz");
    }

    #[test]
    fn a_credential_is_never_printed() {
        let code = AuthorizationCode::new("SplxlOBeZQQYbYS6WxSbIA");
        assert_eq!(format!("{code:?}"), "AuthorizationCode([redacted])");
        assert_eq!(code.secret(), "SplxlOBeZQQYbYS6WxSbIA");
        let token = RefreshToken::new("tGzv3JOkF0XG5Qx2TlKWIA");
        assert_eq!(format!("{token:?}"), "RefreshToken([redacted])");
    }
}
