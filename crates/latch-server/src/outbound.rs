//! Outbound HTTP for back-channel logout, only to addresses Latch may call
//! (`latch_core::address`: loopback and public, not private, link-local or metadata unless
//! `LATCH_BACKCHANNEL_ALLOW_PRIVATE`). The check is made on the address actually connected to: the
//! client's DNS resolver drops the addresses that are not allowed (a name that resolves, or later
//! re-resolves, to 169.254.169.254 is refused), and a URL naming an address literally — which is
//! never resolved — is checked before the request. No redirects are followed and no proxy is used.
//!
//! What is stored about a failure is generic (`connection refused`, `timeout`, `HTTP 503`,
//! `address not allowed`): the connector's own message would let whoever reads deliveries probe
//! the internal network.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// What a refused address reads as.
pub const NOT_ALLOWED: &str = "address not allowed";

#[derive(Debug)]
struct NotAllowed;

impl std::fmt::Display for NotAllowed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(NOT_ALLOWED)
    }
}

impl std::error::Error for NotAllowed {}

/// The system's resolver (`getaddrinfo` on a blocking thread, as reqwest's default).
struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let addrs: Addrs = Box::new(addrs.collect::<Vec<_>>().into_iter());
            Ok(addrs)
        })
    }
}

/// A resolver that keeps only the allowed addresses of what `inner` found.
pub struct FilteringResolver {
    inner: Arc<dyn Resolve>,
    allow_private: bool,
}

impl FilteringResolver {
    pub fn new(inner: Arc<dyn Resolve>, allow_private: bool) -> Self {
        Self {
            inner,
            allow_private,
        }
    }
}

impl Resolve for FilteringResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let found = self.inner.resolve(name);
        let allow_private = self.allow_private;
        Box::pin(async move {
            let allowed = allowed_addrs(found.await?, allow_private)?;
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// The allowed addresses among `addrs`; an error if none is.
fn allowed_addrs(
    addrs: impl Iterator<Item = SocketAddr>,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, NotAllowed> {
    let allowed: Vec<SocketAddr> = addrs
        .filter(|a| latch_core::address::outbound_allowed(a.ip(), allow_private))
        .collect();
    if allowed.is_empty() {
        Err(NotAllowed)
    } else {
        Ok(allowed)
    }
}

/// The back-channel HTTP client: no redirects, no proxy, the filtering resolver over `inner`.
pub fn client(
    inner: Arc<dyn Resolve>,
    allow_private: bool,
    timeout: Duration,
) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .user_agent("latch-backchannel-logout")
        .dns_resolver(Arc::new(FilteringResolver::new(inner, allow_private)))
        .build()
}

/// The system resolver, for `client`.
pub fn system_resolver() -> Arc<dyn Resolve> {
    Arc::new(SystemResolver)
}

/// Whether `url` may be called as far as can be told before connecting: a host given as an
/// address literally must be allowed (names are checked when resolved).
pub fn url_allowed(url: &str, allow_private: bool) -> bool {
    let Ok(url) = url::Url::parse(url) else {
        return false;
    };
    match url.host() {
        Some(url::Host::Ipv4(ip)) => {
            latch_core::address::outbound_allowed(ip.into(), allow_private)
        }
        Some(url::Host::Ipv6(ip)) => {
            latch_core::address::outbound_allowed(ip.into(), allow_private)
        }
        Some(url::Host::Domain(_)) => true,
        None => false,
    }
}

/// A generic description of a failed request, for the deliveries' `last_error`.
pub fn describe(e: &reqwest::Error) -> &'static str {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<NotAllowed>() {
            return NOT_ALLOWED;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connection refused",
                std::io::ErrorKind::TimedOut => return "timeout",
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                    return "connection reset";
                }
                _ => {}
            }
        }
        source = s.source();
    }
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resolves every name to the addresses it was given: DNS "pointing a name" anywhere.
    struct Pointing(Vec<SocketAddr>);

    impl Resolve for Pointing {
        fn resolve(&self, _: Name) -> Resolving {
            let addrs = self.0.clone();
            Box::pin(async move {
                let addrs: Addrs = Box::new(addrs.into_iter());
                Ok(addrs)
            })
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_allowed_addresses_are_kept() {
        let found = [addr("169.254.169.254:80"), addr("127.0.0.1:80")];
        assert_eq!(
            allowed_addrs(found.into_iter(), false).unwrap(),
            vec![addr("127.0.0.1:80")]
        );
        assert!(allowed_addrs([addr("10.1.2.3:80")].into_iter(), false).is_err());
        assert!(allowed_addrs([addr("10.1.2.3:80")].into_iter(), true).is_ok());
    }

    #[test]
    fn literal_private_hosts_are_refused_before_connecting() {
        assert!(!url_allowed("https://169.254.169.254/latest", false));
        assert!(!url_allowed("https://[fd00:ec2::254]/", false));
        assert!(!url_allowed("https://[::ffff:10.0.0.1]/", false));
        assert!(url_allowed("https://[::ffff:10.0.0.1]/", true));
        assert!(url_allowed("http://127.0.0.1:9/bc", false));
        assert!(url_allowed("https://rp.example.com/bc", false));
        assert!(!url_allowed("not a url", false));
    }

    #[tokio::test]
    async fn a_name_pointed_at_the_metadata_address_is_never_connected_to() {
        let metadata = Arc::new(Pointing(vec![addr("169.254.169.254:80")]));
        let client = client(metadata, false, Duration::from_secs(2)).unwrap();
        let err = client
            .post("http://metadata.example.test/logout")
            .send()
            .await
            .unwrap_err();
        assert_eq!(describe(&err), NOT_ALLOWED, "{err:?}");
    }

    #[tokio::test]
    async fn a_name_with_an_allowed_address_is_called_on_that_one_only() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
                .await;
        });
        let both = Arc::new(Pointing(vec![
            addr(&format!("169.254.169.254:{port}")),
            addr(&format!("127.0.0.1:{port}")),
        ]));
        let client = client(both, false, Duration::from_secs(2)).unwrap();
        let response = client
            .post(format!("http://receiver.example.test:{port}/logout"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 503);
    }

    #[tokio::test]
    async fn a_refused_connection_reads_as_connection_refused_without_detail() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let client = client(system_resolver(), false, Duration::from_secs(2)).unwrap();
        let err = client
            .post(format!("http://127.0.0.1:{port}/logout"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(describe(&err), "connection refused", "{err:?}");
    }
}
