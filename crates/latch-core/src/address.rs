//! Which network addresses Latch may call out to (back-channel logout URLs are requests Latch
//! makes on an administrator's word; RFC 9700 §4.16 and OWASP's SSRF cheat sheet): loopback is
//! allowed (development; README "Abuse limits"), while private, link-local (cloud metadata at
//! 169.254.169.254), shared, unspecified, multicast and reserved ranges are refused unless the
//! operator allows private addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether an outbound request to `ip` is allowed. `allow_private` lets private and link-local
/// ranges through (a deployment whose applications live on an internal network).
pub fn outbound_allowed(ip: IpAddr, allow_private: bool) -> bool {
    let ip = canonical(ip);
    if ip.is_loopback() {
        return true;
    }
    if ip.is_unspecified() || ip.is_multicast() || is_broadcast(ip) {
        return false;
    }
    allow_private || !is_private(ip)
}

/// IPv4-mapped and IPv4-compatible IPv6 addresses as the IPv4 address they reach.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => match v6.segments() {
                [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 => {
                    IpAddr::V4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)))
                }
                _ => IpAddr::V6(v6),
            },
        },
        v4 => v4,
    }
}

fn is_broadcast(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.is_broadcast())
}

/// 10/8, 172.16/12, 192.168/16 (RFC 1918), 169.254/16 (link-local, cloud metadata), 100.64/10
/// (shared, RFC 6598), 192.0.0/24 (IETF protocol assignments, some clouds' metadata), 0/8,
/// 240/4; fc00::/7 (unique local), fe80::/10 (link-local), fec0::/10 (old site-local).
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_private()
                || v4.is_link_local()
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || a == 0
                || a >= 240
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80 || (first & 0xffc0) == 0xfec0
        }
    }
}

/// The IP address an URL host names literally (`[::1]`, `10.0.0.1`), if it is one.
pub fn literal_host(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<Ipv6Addr>()
        .map(IpAddr::V6)
        .or_else(|_| bare.parse::<Ipv4Addr>().map(IpAddr::V4))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(s: &str) -> bool {
        outbound_allowed(s.parse().unwrap(), false)
    }

    #[test]
    fn loopback_and_public_addresses_are_allowed() {
        for a in [
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "93.184.216.34",
            "2606:4700::1",
        ] {
            assert!(allowed(a), "{a}");
        }
    }

    #[test]
    fn private_link_local_and_metadata_addresses_are_refused() {
        for a in [
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "192.0.0.192",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "::",
            "ff02::1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::a9fe:a9fe",
        ] {
            assert!(!allowed(a), "{a}");
        }
        assert!(outbound_allowed("10.0.0.1".parse().unwrap(), true));
        assert!(outbound_allowed("169.254.169.254".parse().unwrap(), true));
        assert!(!outbound_allowed("0.0.0.0".parse().unwrap(), true));
    }

    #[test]
    fn literal_hosts_are_recognised() {
        assert_eq!(literal_host("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(
            literal_host("169.254.169.254"),
            Some("169.254.169.254".parse().unwrap())
        );
        assert_eq!(literal_host("example.com"), None);
    }
}
