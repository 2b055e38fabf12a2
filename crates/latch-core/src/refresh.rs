//! Refresh tokens name their grant and generation: `base64url(family ‖ generation ‖ tag)`, the
//! family's 32 bytes, the generation as a big-endian `u32`, and the first 16 bytes of
//! HMAC-SHA256(server key, "latch refresh token v1" ‖ family ‖ generation).
//!
//! A grant is one stored row however often its token rotates (RFC 6749 §6, RFC 6819 §5.2.2.3):
//! rotation moves the row's generation on, and the successor of generation `g` is the token of
//! `g + 1`, which only the server can compute. So a presented token says by itself whether it is
//! the live one, the one just replaced (a retry within the reuse window) or an older one (reuse,
//! which revokes the grant), and a retry gets the same successor without anything stored but the
//! generation. Without the key (which never leaves the server), a token cannot be made up or
//! moved to another grant or generation.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::secret::{Secret, hex};

const LABEL: &[u8] = b"latch refresh token v1";
const FAMILY_LEN: usize = 32;
const TAG_LEN: usize = 16;
const TOKEN_LEN: usize = FAMILY_LEN + 4 + TAG_LEN;

/// The grant and generation a refresh token stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshHandle {
    pub family: [u8; FAMILY_LEN],
    pub generation: u32,
}

impl RefreshHandle {
    /// The handle of the grant whose family id is `family_id` (64 hex digits), at `generation`.
    pub fn of(family_id: &str, generation: i64) -> Option<Self> {
        Some(Self {
            family: unhex(family_id)?,
            generation: u32::try_from(generation).ok()?,
        })
    }

    /// The family id as stored (lower-case hex).
    pub fn family_id(&self) -> String {
        hex(&self.family)
    }

    /// The token for this generation.
    pub fn token(&self, key: &[u8; 32]) -> Secret {
        let mut bytes = Vec::with_capacity(TOKEN_LEN);
        bytes.extend_from_slice(&self.family);
        bytes.extend_from_slice(&self.generation.to_be_bytes());
        let tag = hmac::sign(&mac_key(key), &signed(&bytes));
        bytes.extend_from_slice(&tag.as_ref()[..TAG_LEN]);
        Secret::from_derived(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The next generation's handle, if there is one.
    pub fn next(&self) -> Option<Self> {
        Some(Self {
            family: self.family,
            generation: self.generation.checked_add(1)?,
        })
    }

    /// What a presented token stands for, if the server with `key` made it. The tag is compared
    /// in constant time.
    pub fn parse(token: &str, key: &[u8; 32]) -> Option<Self> {
        if token.len() != (TOKEN_LEN * 4).div_ceil(3) {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        if bytes.len() != TOKEN_LEN {
            return None;
        }
        let (body, tag) = bytes.split_at(FAMILY_LEN + 4);
        let expected = hmac::sign(&mac_key(key), &signed(body));
        let equal: bool = subtle::ConstantTimeEq::ct_eq(&expected.as_ref()[..TAG_LEN], tag).into();
        if !equal {
            return None;
        }
        let (family, generation) = body.split_at(FAMILY_LEN);
        Some(Self {
            family: family.try_into().ok()?,
            generation: u32::from_be_bytes(generation.try_into().ok()?),
        })
    }
}

fn mac_key(key: &[u8; 32]) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, key)
}

fn signed(body: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(LABEL.len() + body.len());
    data.extend_from_slice(LABEL);
    data.extend_from_slice(body);
    data
}

fn unhex(s: &str) -> Option<[u8; FAMILY_LEN]> {
    if s.len() != FAMILY_LEN * 2 {
        return None;
    }
    let mut out = [0u8; FAMILY_LEN];
    for (i, pair) in s.as_bytes().chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        let (hi, lo) = (digit(pair[0])?, digit(pair[1])?);
        out[i] = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::secret::SecretHash;

    const KEY: [u8; 32] = [7; 32];

    fn handle() -> RefreshHandle {
        RefreshHandle::of(SecretHash::of(b"code").as_str(), 0).unwrap()
    }

    #[test]
    fn a_token_names_its_grant_and_generation() {
        let h = handle();
        assert_eq!(h.family_id(), SecretHash::of(b"code").as_str());
        let t = h.token(&KEY);
        assert_eq!(t.expose_secret().len(), 70);
        assert_eq!(RefreshHandle::parse(t.expose_secret(), &KEY), Some(h));
        let next = h.next().unwrap();
        assert_eq!(next.generation, 1);
        let t1 = next.token(&KEY);
        assert_ne!(t1, t, "each generation has its own token");
        assert_eq!(RefreshHandle::parse(t1.expose_secret(), &KEY), Some(next));
        assert_eq!(
            next.token(&KEY),
            t1,
            "the same generation gives the same token"
        );
    }

    #[test]
    fn a_token_of_another_key_or_altered_is_refused() {
        let t = handle().token(&KEY);
        let t = t.expose_secret();
        assert_eq!(RefreshHandle::parse(t, &[8; 32]), None);
        let mut bytes = URL_SAFE_NO_PAD.decode(t).unwrap();
        for i in 0..bytes.len() {
            bytes[i] ^= 1;
            let altered = URL_SAFE_NO_PAD.encode(&bytes);
            assert_eq!(RefreshHandle::parse(&altered, &KEY), None, "byte {i}");
            bytes[i] ^= 1;
        }
        for bad in ["", "x", &t[..69], &format!("{t}A"), &"A".repeat(70)] {
            assert_eq!(RefreshHandle::parse(bad, &KEY), None, "{bad}");
        }
    }

    #[test]
    fn only_hex_family_ids_of_the_right_length_have_handles() {
        assert!(RefreshHandle::of(&"ab".repeat(32), 3).is_some());
        assert!(RefreshHandle::of(&"AB".repeat(32), 3).is_some());
        assert_eq!(RefreshHandle::of(&"ab".repeat(31), 0), None);
        assert_eq!(RefreshHandle::of(&"zz".repeat(32), 0), None);
        assert_eq!(RefreshHandle::of(&"ab".repeat(32), -1), None);
        assert_eq!(
            RefreshHandle::of(&"ab".repeat(32), i64::from(u32::MAX) + 1),
            None
        );
        let last = RefreshHandle::of(&"ab".repeat(32), i64::from(u32::MAX)).unwrap();
        assert_eq!(last.next(), None);
    }
}
