//! The kinds of application (RFC 6749 §2.1 client types, with the RFC 8252 native profile): what
//! the redirect rules and the application rules both depend on, so neither imports the other.

use serde::{Deserialize, Serialize};

/// `web`, `spa` or `native`; fixed when the application is registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ApplicationType {
    /// Server-side web application holding a client secret (confidential client).
    Web,
    /// Single-page application (public client, PKCE).
    Spa,
    /// Mobile or desktop application (public client, PKCE, RFC 8252).
    Native,
}

impl ApplicationType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Spa => "spa",
            Self::Native => "native",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "web" => Some(Self::Web),
            "spa" => Some(Self::Spa),
            "native" => Some(Self::Native),
            _ => None,
        }
    }

    /// Confidential clients authenticate with a secret; public ones cannot keep one.
    pub fn is_confidential(self) -> bool {
        self == Self::Web
    }
}
