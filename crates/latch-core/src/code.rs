//! What an authorization code carries, as bytes.
//!
//! A code is self-contained: the server seals this encoding (AES-256-GCM, in `latch-jose`) into
//! the code it hands out, so issuing one writes nothing. Only its single use is stored, when it
//! is redeemed (`AuthorizationCodeStore::redeem_authorization_code`). RFC 6749 §10.10 asks that
//! codes cannot be guessed or forged: the seal gives both, and the client learns nothing of the
//! content.
//!
//! Layout (version 3): the version byte, then each field in `AuthorizationCodeRecord` order —
//! strings as a big-endian `u16` length and UTF-8 bytes, optional strings as a `0`/`1` byte then
//! the string, times as big-endian `i64` — then `claims` (optional), then `amr` (as stored). Versions
//! 1 (without `claims`) and 2 (without `amr`: a password) are still read (codes sealed just before
//! an upgrade).

use crate::authn::Amr;
use crate::store::AuthorizationCodeRecord;

const VERSION: u8 = 3;

/// Codes longer than this are refused unread (a sealed code is a few hundred characters).
pub const MAX_CODE_LEN: usize = 4096;

/// The record as bytes (see the module doc). Fields over 65,535 bytes are cut there; nothing the
/// authorization endpoint accepts comes close.
pub fn encode(record: &AuthorizationCodeRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(320);
    out.push(VERSION);
    for s in [
        &record.application_id,
        &record.client_id,
        &record.user_id,
        &record.sid,
        &record.redirect_uri,
        &record.scope,
    ] {
        put_str(&mut out, s);
    }
    for s in [
        &record.nonce,
        &record.code_challenge,
        &record.organization_id,
        &record.audience,
    ] {
        match s {
            Some(s) => {
                out.push(1);
                put_str(&mut out, s);
            }
            None => out.push(0),
        }
    }
    for t in [record.auth_time, record.created_at, record.expires_at] {
        out.extend_from_slice(&t.to_be_bytes());
    }
    match &record.claims {
        Some(s) => {
            out.push(1);
            put_str(&mut out, s);
        }
        None => out.push(0),
    }
    put_str(&mut out, &record.amr.to_stored());
    out
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let len = s.len().min(usize::from(u16::MAX));
    let bytes = &s.as_bytes()[..floor_char_boundary(s, len)];
    out.extend_from_slice(&u16::try_from(bytes.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn floor_char_boundary(s: &str, mut at: usize) -> usize {
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Reads what `encode` wrote; `None` for anything else (another version, cut short, trailing
/// bytes, invalid UTF-8).
pub fn decode(bytes: &[u8]) -> Option<AuthorizationCodeRecord> {
    let mut r = Reader(bytes);
    let version = r.take(1)?[0];
    if !(1..=VERSION).contains(&version) {
        return None;
    }
    let mut record = AuthorizationCodeRecord {
        application_id: r.string()?,
        client_id: r.string()?,
        user_id: r.string()?,
        sid: r.string()?,
        redirect_uri: r.string()?,
        scope: r.string()?,
        nonce: r.optional()?,
        code_challenge: r.optional()?,
        organization_id: r.optional()?,
        audience: r.optional()?,
        auth_time: r.time()?,
        amr: Amr::PASSWORD,
        created_at: r.time()?,
        expires_at: r.time()?,
        claims: None,
    };
    if version >= 2 {
        record.claims = r.optional()?;
    }
    if version >= 3 {
        record.amr = Amr::from_stored(&r.string()?);
    }
    r.0.is_empty().then_some(record)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn string(&mut self) -> Option<String> {
        let len = self.take(2)?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }

    fn optional(&mut self) -> Option<Option<String>> {
        match self.take(1)? {
            [0] => Some(None),
            [1] => self.string().map(Some),
            _ => None,
        }
    }

    fn time(&mut self) -> Option<i64> {
        let b: [u8; 8] = self.take(8)?.try_into().ok()?;
        Some(i64::from_be_bytes(b))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn record() -> AuthorizationCodeRecord {
        AuthorizationCodeRecord {
            application_id: "0190a0f0-0000-7000-8000-000000000001".into(),
            client_id: "c_0123456789".into(),
            user_id: "0190a0f0-0000-7000-8000-000000000002".into(),
            sid: "sid-é".into(),
            redirect_uri: "https://app.example.com/cb".into(),
            scope: "openid email offline_access".into(),
            nonce: Some("n-0S6_WzA2Mj".into()),
            code_challenge: None,
            organization_id: Some("org_1".into()),
            audience: None,
            claims: Some(r#"{"userinfo":["name"]}"#.into()),
            auth_time: -5,
            amr: Amr::PASSWORD.with(crate::authn::Method::Otp),
            created_at: 1_700_000_000,
            expires_at: i64::MAX,
        }
    }

    #[test]
    fn every_field_round_trips() {
        let r = record();
        assert_eq!(decode(&encode(&r)), Some(r));
        let empty = AuthorizationCodeRecord {
            scope: String::new(),
            nonce: Some(String::new()),
            ..record()
        };
        assert_eq!(decode(&encode(&empty)), Some(empty));
    }

    #[test]
    fn anything_else_is_refused() {
        let bytes = encode(&record());
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut]), None, "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer), None, "trailing byte");
        let mut other = bytes.clone();
        other[0] = 4;
        assert_eq!(decode(&other), None, "another version");
        let old = AuthorizationCodeRecord {
            claims: None,
            amr: Amr::PASSWORD,
            ..record()
        };
        let mut v2 = encode(&old);
        v2.truncate(v2.len() - 5); // amr: length and "pwd"
        v2[0] = 2;
        assert_eq!(
            decode(&v2),
            Some(old.clone()),
            "version 2 reads as a password"
        );
        let mut v1 = v2.clone();
        v1[0] = 1;
        v1.pop();
        assert_eq!(
            decode(&v1).map(|r| r.claims),
            Some(None),
            "version 1 still reads"
        );
        assert_eq!(decode(&[]), None);
    }

    #[test]
    fn oversized_fields_are_cut_on_a_character_boundary() {
        let long = AuthorizationCodeRecord {
            scope: "é".repeat(40_000),
            ..record()
        };
        let back = decode(&encode(&long)).unwrap();
        assert_eq!(back.scope.len(), 65_534);
        assert!(back.scope.chars().all(|c| c == 'é'));
    }
}
