//! Protocol errors as values. The HTTP status is chosen only at the edge (latch-server).

use std::fmt;

/// The registered OAuth 2.0 / OpenID Connect error codes Latch answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// RFC 6749 §5.2: the request is missing a required parameter, includes an unsupported parameter
    /// value, repeats a parameter, or is otherwise malformed.
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed (unknown client, no client authentication
    /// included, or unsupported authentication method).
    InvalidClient,
    /// RFC 6749 §5.2: the provided authorization grant or refresh token is invalid, expired, revoked,
    /// does not match the redirection URI used in the authorization request, or was issued to another client.
    InvalidGrant,
    /// RFC 6749 §5.2: the authenticated client is not authorized to use this authorization grant type.
    UnauthorizedClient,
    /// RFC 6749 §5.2: the authorization grant type is not supported by the authorization server.
    UnsupportedGrantType,
    /// RFC 6749 §5.2: the requested scope is invalid, unknown, malformed, or exceeds the scope granted.
    InvalidScope,
    /// RFC 6749 §4.1.2.1: the resource owner or authorization server denied the request.
    AccessDenied,
    /// RFC 6749 §4.1.2.1: the authorization server does not support obtaining a code with this method.
    UnsupportedResponseType,
    /// RFC 6749 §4.1.2.1: an unexpected condition prevented the server from fulfilling the request.
    ServerError,
    /// RFC 6749 §4.1.2.1: the server is temporarily unable to handle the request.
    TemporarilyUnavailable,
    /// OIDC Core §3.1.2.6: the server requires end-user authentication (`prompt=none`).
    LoginRequired,
    /// OIDC Core §3.1.2.6: the server requires end-user interaction of some form.
    InteractionRequired,
    /// OIDC Core §3.1.2.6: the `request` parameter is not supported.
    RequestNotSupported,
    /// OIDC Core §3.1.2.6: the `request_uri` parameter is not supported.
    RequestUriNotSupported,
    /// RFC 6750 §3.1: the access token is expired, revoked, malformed, or invalid.
    InvalidToken,
    /// RFC 7009 §2.2.1: the server does not support revocation of the presented token type.
    UnsupportedTokenType,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::LoginRequired => "login_required",
            Self::InteractionRequired => "interaction_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::InvalidToken => "invalid_token",
            Self::UnsupportedTokenType => "unsupported_token_type",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error the client is told about: a registered code and a human-readable description.
/// Build it with `new` (or a shorthand), which keeps the description to the characters RFC 6749
/// allows there, whatever text (user input included) it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description_chars(description.into()),
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidScope, description)
    }

    pub fn server_error() -> Self {
        Self::new(ErrorCode::ServerError, "internal error")
    }
}

/// RFC 6749 §4.1.2.1 and §5.2: `error_description` "MUST NOT include characters outside the set
/// %x20-21 / %x23-5B / %x5D-7E". A double quote becomes `'`, a backslash `/`, anything else
/// outside the set `?`; at most 500 characters are kept.
fn description_chars(description: String) -> String {
    const MAX: usize = 500;
    if description.len() <= MAX && description.bytes().all(allowed) {
        return description;
    }
    description
        .chars()
        .take(MAX)
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            c if c.is_ascii() && allowed(c as u8) => c,
            _ => '?',
        })
        .collect()
}

fn allowed(b: u8) -> bool {
    matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_description_keeps_to_the_characters_rfc_6749_allows(text in any::<String>()) {
            let e = OAuthError::invalid_request(text);
            prop_assert!(e.description.bytes().all(allowed), "{:?}", e.description);
            prop_assert!(e.description.chars().count() <= 500);
        }
    }

    #[test]
    fn a_plain_description_is_kept_and_quotes_are_replaced() {
        assert_eq!(
            OAuthError::invalid_grant("the code `x` expired").description,
            "the code `x` expired"
        );
        assert_eq!(
            OAuthError::invalid_scope("unknown \"a\\b\"\n é").description,
            "unknown 'a/b'? ?"
        );
    }
}
