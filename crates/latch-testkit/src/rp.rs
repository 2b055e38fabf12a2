//! Relying-party helpers: plug `reqwest` into the `openidconnect` crate (built without its own
//! HTTP client). Thin on purpose: tests use `openidconnect` directly, as an application would.
//!
//! ```ignore
//! let metadata = latch_testkit::rp::discover(server.issuer()).await;
//! let client = CoreClient::from_provider_metadata(metadata, client_id, Some(secret))
//!     .set_redirect_uri(redirect);
//! let token = client.exchange_code(code)?.set_pkce_verifier(verifier)
//!     .request_async(&latch_testkit::rp::http_client).await?;
//! ```

use std::sync::OnceLock;

use openidconnect::core::CoreProviderMetadata;
use openidconnect::{HttpRequest, HttpResponse, IssuerUrl, ProviderMetadataWithLogout};
pub use openidconnect::{PkceCodeChallenge, PkceCodeVerifier};

use crate::TestkitError;

/// A shared `reqwest` client that never follows redirects (RFC 6749 §3.2: the token endpoint
/// must not be redirected to silently) and keeps no cookies.
pub fn reqwest_client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("build the relying party's HTTP client")
    })
}

/// The HTTP client to hand to `openidconnect` (`.request_async(&http_client)`,
/// `discover_async(issuer, &http_client)`).
pub async fn http_client(request: HttpRequest) -> Result<HttpResponse, TestkitError> {
    let (parts, body) = request.into_parts();
    let response = reqwest_client()
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut builder = openidconnect::http::Response::builder()
        .status(response.status())
        .version(response.version());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let body = response.bytes().await?.to_vec();
    builder
        .body(body)
        .map_err(|e| TestkitError::InvalidHttp(e.to_string()))
}

fn issuer_url(issuer: &str) -> IssuerUrl {
    IssuerUrl::new(issuer.to_owned()).unwrap_or_else(|e| panic!("issuer {issuer:?}: {e}"))
}

/// Fetches and validates discovery (`/.well-known/openid-configuration`, issuer included) and
/// the JWKS; panics with the reason on failure.
pub async fn discover(issuer: &str) -> CoreProviderMetadata {
    CoreProviderMetadata::discover_async(issuer_url(issuer), &http_client)
        .await
        .unwrap_or_else(|e| panic!("discovery of {issuer} failed: {e:?}"))
}

/// Like [`discover`], keeping `end_session_endpoint` (RP-Initiated Logout 1.0).
pub async fn discover_with_logout(issuer: &str) -> ProviderMetadataWithLogout {
    ProviderMetadataWithLogout::discover_async(issuer_url(issuer), &http_client)
        .await
        .unwrap_or_else(|e| panic!("discovery of {issuer} failed: {e:?}"))
}

/// A fresh S256 PKCE pair (RFC 7636 §4.2); Latch refuses `plain`.
pub fn pkce_pair() -> (PkceCodeChallenge, PkceCodeVerifier) {
    PkceCodeChallenge::new_random_sha256()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_pairs_are_s256_and_fresh() {
        let (challenge, verifier) = pkce_pair();
        assert_eq!(challenge.method().as_str(), "S256");
        let (other, _) = pkce_pair();
        assert_ne!(challenge.as_str(), other.as_str());
        assert!(verifier.secret().len() >= 43);
    }

    #[tokio::test]
    async fn http_client_carries_method_headers_and_body_and_returns_the_status() {
        let receiver = crate::BackchannelReceiver::start().await;
        receiver.fail_first(1);
        let request = openidconnect::http::Request::builder()
            .method("POST")
            .uri(receiver.url("/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(b"logout_token=abc".to_vec())
            .expect("request");
        let response = http_client(request).await.expect("response");
        assert_eq!(response.status().as_u16(), 500);

        let got = receiver.attempts();
        assert_eq!(got[0].method, "POST");
        assert_eq!(got[0].path, "/token");
        assert_eq!(got[0].logout_token.as_deref(), Some("abc"));
    }

    #[tokio::test]
    async fn http_client_reports_a_refused_connection_as_an_error() {
        let url = format!("http://127.0.0.1:{}/x", crate::free_port());
        let request = openidconnect::http::Request::builder()
            .uri(url)
            .body(Vec::new())
            .expect("request");
        assert!(matches!(
            http_client(request).await,
            Err(TestkitError::Http(_))
        ));
    }
}
