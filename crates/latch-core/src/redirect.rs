//! Redirect URI and origin rules, used both when an application is registered and at run time.
//!
//! - Registration: absolute URIs, no fragment, no wildcard (RFC 6749 §3.1.2); `https` for web and SPA
//!   applications except on loopback hosts and `localhost` (development); private-use schemes only for
//!   native applications (RFC 8252 §7.1).
//! - Run time: exact string match, except that a native application's loopback `http` redirect matches
//!   on any port (RFC 8252 §7.3).

use std::net::IpAddr;

use url::{Host, Url};

use crate::client_type::ApplicationType;

/// Why a URI was refused at registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriError(pub String);

/// Whether `host` is a loopback IP literal or `localhost`.
pub fn is_loopback_host(host: Option<Host<&str>>) -> bool {
    match host {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Loopback IP literal only (RFC 8252 §8.3 recommends literals over `localhost`).
fn is_loopback_ip(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        _ => false,
    }
}

fn parse_absolute(uri: &str) -> Result<Url, UriError> {
    if uri.len() > 2048 {
        return Err(UriError("is longer than 2048 characters".into()));
    }
    if uri.contains('*') {
        return Err(UriError("must not contain wildcards".into()));
    }
    let url = Url::parse(uri).map_err(|e| UriError(format!("is not an absolute URI ({e})")))?;
    if url.fragment().is_some() || uri.contains('#') {
        return Err(UriError("must not contain a fragment".into()));
    }
    if url.username() != "" || url.password().is_some() {
        return Err(UriError("must not contain user information".into()));
    }
    Ok(url)
}

/// Checks a `redirects.post_login` or `redirects.post_logout` entry for an application of `kind`.
pub fn validate_redirect_uri(uri: &str, kind: ApplicationType) -> Result<(), UriError> {
    let url = parse_absolute(uri)?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(url.host()) => Ok(()),
        "http" => Err(UriError(
            "must use https (http is allowed only for loopback hosts)".into(),
        )),
        scheme if kind == ApplicationType::Native => {
            // RFC 8252 §7.1: private-use schemes; §8.4 recommends reverse-DNS names.
            if matches!(
                scheme,
                "javascript" | "data" | "file" | "vbscript" | "about" | "blob"
            ) {
                Err(UriError(format!("must not use the `{scheme}` scheme")))
            } else {
                Ok(())
            }
        }
        _ => Err(UriError(
            "must use https (custom schemes are allowed only for native applications)".into(),
        )),
    }
}

/// Checks `redirects.initiate_login` (OIDC Core §4: must be https).
pub fn validate_initiate_login_uri(uri: &str) -> Result<(), UriError> {
    let url = parse_absolute(uri)?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(url.host()) => Ok(()),
        _ => Err(UriError("must use https".into())),
    }
}

/// Checks `redirects.backchannel_logout`: https, or http on loopback (development); no fragment.
pub fn validate_backchannel_uri(uri: &str) -> Result<(), UriError> {
    validate_initiate_login_uri(uri)
}

/// Checks an `allowed_origins` entry: `scheme://host[:port]`, nothing else.
pub fn validate_origin(origin: &str) -> Result<(), UriError> {
    let url = parse_absolute(origin)?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(UriError("must be an http(s) origin".into()));
    }
    if url.scheme() == "http" && !is_loopback_host(url.host()) {
        return Err(UriError(
            "must use https (http is allowed only for loopback hosts)".into(),
        ));
    }
    if url.origin().ascii_serialization() != origin {
        return Err(UriError(
            "must be exactly scheme://host[:port] with no path, query or trailing slash".into(),
        ));
    }
    Ok(())
}

/// The origin (`scheme://host[:port]`) of an http(s) URI.
pub fn origin_of(uri: &str) -> Option<String> {
    let url = Url::parse(uri).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.origin().ascii_serialization())
}

/// Whether a presented `redirect_uri` matches a registered one.
pub fn redirect_uri_matches(registered: &str, presented: &str, kind: ApplicationType) -> bool {
    if registered == presented {
        return true;
    }
    if kind != ApplicationType::Native {
        return false;
    }
    // RFC 8252 §7.3: for loopback IP redirects the port is chosen at request time.
    let (Ok(reg), Ok(pre)) = (Url::parse(registered), Url::parse(presented)) else {
        return false;
    };
    reg.scheme() == "http"
        && pre.scheme() == "http"
        && is_loopback_ip(&reg)
        && reg.host() == pre.host()
        && reg.path() == pre.path()
        && reg.query() == pre.query()
        && pre.fragment().is_none()
        && pre.username().is_empty()
        && pre.password().is_none()
}

/// The registered entry a presented `redirect_uri` matches, if any.
pub fn find_redirect_uri<'a>(
    registered: &'a [String],
    presented: &str,
    kind: ApplicationType,
) -> Option<&'a str> {
    registered
        .iter()
        .map(String::as_str)
        .find(|r| redirect_uri_matches(r, presented, kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ApplicationType::*;

    #[test]
    fn https_redirects_are_accepted_for_every_type() {
        for kind in [Web, Spa, Native] {
            assert_eq!(
                validate_redirect_uri("https://app.example.com/cb", kind),
                Ok(())
            );
        }
    }

    #[test]
    fn http_is_refused_except_on_loopback() {
        assert!(validate_redirect_uri("http://app.example.com/cb", Web).is_err());
        assert!(validate_redirect_uri("http://127.0.0.1:3000/cb", Web).is_ok());
        assert!(validate_redirect_uri("http://[::1]/cb", Spa).is_ok());
        assert!(validate_redirect_uri("http://localhost:8080/cb", Spa).is_ok());
    }

    #[test]
    fn fragments_wildcards_and_relative_uris_are_refused() {
        assert!(validate_redirect_uri("https://a.example/cb#x", Web).is_err());
        assert!(validate_redirect_uri("https://*.example/cb", Web).is_err());
        assert!(validate_redirect_uri("/cb", Web).is_err());
        assert!(validate_redirect_uri("https://u:p@a.example/cb", Web).is_err());
    }

    #[test]
    fn private_use_schemes_are_for_native_applications_only() {
        assert!(validate_redirect_uri("com.example.app:/callback", Native).is_ok());
        assert!(validate_redirect_uri("myapp://callback", Native).is_ok());
        assert!(validate_redirect_uri("com.example.app:/callback", Web).is_err());
        assert!(validate_redirect_uri("myapp://callback", Spa).is_err());
        assert!(validate_redirect_uri("javascript:alert(1)", Native).is_err());
    }

    #[test]
    fn matching_is_exact_for_web_and_spa() {
        assert!(redirect_uri_matches(
            "https://a.example/cb",
            "https://a.example/cb",
            Web
        ));
        assert!(!redirect_uri_matches(
            "https://a.example/cb",
            "https://a.example/cb/",
            Web
        ));
        assert!(!redirect_uri_matches(
            "https://a.example/cb",
            "https://A.example/cb",
            Web
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1:1/cb",
            "http://127.0.0.1:2/cb",
            Spa
        ));
    }

    #[test]
    fn native_loopback_redirects_match_any_port() {
        let reg = "http://127.0.0.1/callback";
        assert!(redirect_uri_matches(
            reg,
            "http://127.0.0.1:51004/callback",
            Native
        ));
        assert!(redirect_uri_matches(
            "http://[::1]:80/cb",
            "http://[::1]:4242/cb",
            Native
        ));
        assert!(!redirect_uri_matches(
            reg,
            "http://127.0.0.1:51004/other",
            Native
        ));
        assert!(!redirect_uri_matches(
            reg,
            "http://127.0.0.2:5/callback",
            Native
        ));
        assert!(!redirect_uri_matches(
            reg,
            "http://127.0.0.1:5/callback?x=1",
            Native
        ));
        // `localhost` is a name, not a loopback literal: exact match only (RFC 8252 §8.3).
        assert!(!redirect_uri_matches(
            "http://localhost/cb",
            "http://localhost:5/cb",
            Native
        ));
    }

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        assert!(validate_origin("https://spa.example.com").is_ok());
        assert!(validate_origin("http://127.0.0.1:5173").is_ok());
        assert!(validate_origin("https://spa.example.com/").is_err());
        assert!(validate_origin("https://spa.example.com/path").is_err());
        assert!(validate_origin("http://spa.example.com").is_err());
        assert!(validate_origin("ftp://spa.example.com").is_err());
        assert_eq!(
            origin_of("http://127.0.0.1:5173/cb?x").as_deref(),
            Some("http://127.0.0.1:5173")
        );
    }
}
