//! The client's address: the TCP peer, or — only when the peer is a configured trusted proxy — the
//! right-most address in `X-Forwarded-For` that is not itself a trusted proxy. Every header line
//! counts (joined in order, as RFC 9110 §5.3 combines them), ports are stripped (`1.2.3.4:5678`,
//! `[::1]:80`), and a hop a trusted proxy could not name (`unknown`, garbage) makes the client's
//! address unknown — never the proxy's own, which would put every user on one counter.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::state::AppState;

pub use latch_core::ip_block::IpBlock;

/// The address rate limits and sessions are attributed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

/// The client's address given the TCP peer and the `X-Forwarded-For` header lines in order.
/// `None` when the peer is unknown or a trusted proxy says it could not tell.
pub fn resolve<'a>(
    peer: Option<IpAddr>,
    forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[IpBlock],
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|b| b.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    // Walk from the right: each trusted proxy vouches for the hop before it. Blank elements name
    // nothing and are skipped; no hop at all is a request from the proxy itself.
    let hops = forwarded_for
        .rev()
        .flat_map(|line| line.rsplit(','))
        .map(str::trim)
        .filter(|hop| !hop.is_empty());
    let mut candidate = peer;
    for hop in hops {
        candidate = parse_hop(hop)?;
        if !is_trusted(candidate) {
            break;
        }
    }
    Some(candidate)
}

/// One `X-Forwarded-For` element: an address, with or without a port (`[v6]:port`, `v4:port`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim().trim_matches('"');
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Some(rest) = hop.strip_prefix('[') {
        let (addr, after) = rest.split_once(']')?;
        let port_ok = after.is_empty()
            || after
                .strip_prefix(':')
                .is_some_and(|p| p.parse::<u16>().is_ok());
        return port_ok
            .then(|| addr.parse::<std::net::Ipv6Addr>().ok())
            .flatten()
            .map(|ip| IpAddr::V6(ip).to_canonical());
    }
    let (addr, port) = hop.split_once(':')?;
    port.parse::<u16>().ok()?;
    addr.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// The address of the request with these extensions and headers (the TCP peer, or what trusted
/// proxies vouch for): what the extractor and the access log both use.
pub fn of_request(
    extensions: &axum::http::Extensions,
    headers: &axum::http::HeaderMap,
    trusted: &[IpBlock],
) -> Option<IpAddr> {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    // A line that is not text cannot be read as addresses: it counts as an unknown hop.
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap_or("unknown"));
    resolve(peer, forwarded, trusted)
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(of_request(
            &parts.extensions,
            &parts.headers,
            &state.settings.trusted_proxies,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn resolve_lines(peer: &str, lines: &[&str], trusted: &[IpBlock]) -> Option<IpAddr> {
        resolve(Some(ip(peer)), lines.iter().copied(), trusted)
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let trusted = [IpBlock::parse("10.0.0.0/8").unwrap()];
        let xff = ["198.51.100.7, 203.0.113.9, 10.0.0.2"];
        // An untrusted peer cannot choose its address.
        assert_eq!(
            resolve_lines("192.0.2.1", &xff, &trusted),
            Some(ip("192.0.2.1"))
        );
        // Behind the proxy: the right-most untrusted hop, not the spoofable left-most one.
        assert_eq!(
            resolve_lines("10.0.0.1", &xff, &trusted),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            resolve_lines("10.0.0.1", &[], &trusted),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(
            resolve_lines("10.0.0.1", &[""], &trusted),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(
            resolve_lines("10.0.0.1", &["10.0.0.2,,"], &trusted),
            Some(ip("10.0.0.2"))
        );
    }

    #[test]
    fn every_header_line_counts_in_order() {
        let trusted = [IpBlock::parse("10.0.0.0/8").unwrap()];
        // A client's own line first, then the proxies': the last line holds the nearest hops.
        let lines = ["6.6.6.6", "198.51.100.7, 10.0.0.3", "10.0.0.2"];
        assert_eq!(
            resolve_lines("10.0.0.1", &lines, &trusted),
            Some(ip("198.51.100.7"))
        );
        // Every hop trusted: the left-most is the best we know.
        let lines = ["10.0.0.9", "10.0.0.2"];
        assert_eq!(
            resolve_lines("10.0.0.1", &lines, &trusted),
            Some(ip("10.0.0.9"))
        );
    }

    #[test]
    fn ports_are_stripped_from_hops() {
        let trusted = [IpBlock::parse("10.0.0.0/8").unwrap()];
        for (line, want) in [
            ("198.51.100.7:5678", "198.51.100.7"),
            ("[2001:db8::7]:80", "2001:db8::7"),
            ("[2001:db8::7]", "2001:db8::7"),
            ("2001:db8::7", "2001:db8::7"),
            ("198.51.100.7:5678, 10.0.0.2:443", "198.51.100.7"),
            ("[::ffff:198.51.100.7]:1", "198.51.100.7"),
        ] {
            assert_eq!(
                resolve_lines("10.0.0.1", &[line], &trusted),
                Some(ip(want)),
                "{line}"
            );
        }
    }

    #[test]
    fn an_unparsable_hop_makes_the_client_unknown_never_the_proxy() {
        let trusted = [IpBlock::parse("10.0.0.0/8").unwrap()];
        for line in [
            "unknown",
            "198.51.100.7, unknown",
            "unknown, 10.0.0.2",
            "1.2.3.4:notaport",
            "[::1",
        ] {
            assert_eq!(resolve_lines("10.0.0.1", &[line], &trusted), None, "{line}");
        }
        // Left of the first untrusted hop nothing is read: a client's garbage changes nothing.
        assert_eq!(
            resolve_lines("10.0.0.1", &["unknown, 198.51.100.7"], &trusted),
            Some(ip("198.51.100.7"))
        );
    }

    #[test]
    fn an_ipv4_mapped_peer_matches_ipv4_proxies() {
        let trusted = [IpBlock::parse("127.0.0.1").unwrap()];
        assert_eq!(
            resolve_lines("::ffff:127.0.0.1", &["198.51.100.7"], &trusted),
            Some(ip("198.51.100.7"))
        );
    }
}
