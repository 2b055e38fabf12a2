//! Device cookies (OWASP Authentication Cheat Sheet, "Slow down online guessing attacks with device
//! cookies"): after a successful sign-in the browser keeps a signed value naming itself (a random
//! device id) and the account (the user id). A later sign-in to that account carrying it is judged
//! by that device's own failures only, so an attacker hammering the account from elsewhere cannot
//! lock its owner out of her usual browser.
//!
//! Value: `v1.DEVICE.USER.ISSUED_AT.TAG`, the tag being base64url of HMAC-SHA256(server key,
//! "latch device cookie v1" ‖ the rest). Without the key a value cannot be made up or moved to
//! another account; the key is derived from the master key, which every node shares.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::UnixTime;

const LABEL: &[u8] = b"latch device cookie v1";
/// How long a device cookie is honoured after it was issued (it is renewed at each sign-in).
pub const DEVICE_COOKIE_LIFETIME: i64 = 365 * 86_400;
const MAX_LEN: usize = 400;

/// A verified device cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCookie {
    /// Random, names the browser.
    pub device_id: String,
    /// The account it signed in to.
    pub user_id: String,
    pub issued_at: UnixTime,
}

impl DeviceCookie {
    /// The cookie value, tagged with `key`.
    pub fn value(&self, key: &[u8; 32]) -> String {
        let body = format!("v1.{}.{}.{}", self.device_id, self.user_id, self.issued_at);
        let tag = hmac::sign(&mac_key(key), &signed(&body));
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The device cookie in `value`, if this server made it and it has not expired. Ids never
    /// hold a `.`, so the split is unambiguous; the tag is checked in constant time.
    pub fn parse(value: &str, key: &[u8; 32], now: UnixTime) -> Option<Self> {
        if value.len() > MAX_LEN {
            return None;
        }
        let (body, tag) = value.rsplit_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&mac_key(key), &signed(body), &tag).ok()?;
        let mut parts = body.split('.');
        let (Some("v1"), Some(device), Some(user), Some(issued), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let issued_at: UnixTime = issued.parse().ok()?;
        if issued_at > now + 300 || issued_at + DEVICE_COOKIE_LIFETIME <= now {
            return None;
        }
        Some(Self {
            device_id: device.to_owned(),
            user_id: user.to_owned(),
            issued_at,
        })
    }
}

fn mac_key(key: &[u8; 32]) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, key)
}

fn signed(body: &str) -> Vec<u8> {
    let mut data = Vec::with_capacity(LABEL.len() + body.len());
    data.extend_from_slice(LABEL);
    data.extend_from_slice(body.as_bytes());
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    fn cookie() -> DeviceCookie {
        DeviceCookie {
            device_id: "d3v1c3".into(),
            user_id: "0191-user".into(),
            issued_at: 1_000_000,
        }
    }

    #[test]
    fn a_device_cookie_round_trips_with_its_key_only() {
        let value = cookie().value(&KEY);
        assert_eq!(DeviceCookie::parse(&value, &KEY, 1_000_010), Some(cookie()));
        assert_eq!(DeviceCookie::parse(&value, &[8; 32], 1_000_010), None);
    }

    #[test]
    fn a_tampered_or_expired_device_cookie_is_refused() {
        let value = cookie().value(&KEY);
        let moved = value.replace("0191-user", "0191-eve");
        assert_eq!(DeviceCookie::parse(&moved, &KEY, 1_000_010), None);
        let later = 1_000_000 + DEVICE_COOKIE_LIFETIME;
        assert_eq!(DeviceCookie::parse(&value, &KEY, later), None);
        assert_eq!(DeviceCookie::parse("v1.a.b.c", &KEY, 0), None);
        assert_eq!(DeviceCookie::parse("", &KEY, 0), None);
        assert_eq!(DeviceCookie::parse(&"x".repeat(5000), &KEY, 0), None);
    }
}
