//! One-time codes from an authenticator app (TOTP, RFC 6238 over HOTP, RFC 4226): 30-second
//! steps, 6 digits, HMAC-SHA-1 — the parameters every authenticator app reads from a QR code
//! (the "Key Uri Format" of Google Authenticator) — and recovery codes.
//!
//! A code is accepted for the current step and the one before (RFC 6238 §5.2: "at most one time
//! step is allowed as the network delay") and only for a step after the last one used (§5.2:
//! "the verifier MUST NOT accept the second attempt of the OTP after the successful validation
//! has been issued for the first OTP"); the store records that step atomically.

use std::fmt;

use aws_lc_rs::hmac;
use subtle::ConstantTimeEq;

use crate::UnixTime;
use crate::secret::{SecretHash, random_bytes};

/// RFC 6238 §5.2: 30 seconds.
pub const STEP_SECONDS: i64 = 30;
/// RFC 4226 §5.3: at least 6 digits.
pub const DIGITS: u32 = 6;
/// How many recovery codes a user holds.
pub const RECOVERY_CODES: usize = 10;

/// The step `now` falls in (RFC 6238 §4.2, T0 = 0).
pub fn step_at(now: UnixTime) -> i64 {
    now.div_euclid(STEP_SECONDS)
}

/// A TOTP shared secret: 160 bits (RFC 4226 §4 R6 recommends 160). `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret([u8; 20]);

impl TotpSecret {
    pub fn generate() -> Self {
        Self(random_bytes::<20>())
    }

    /// The bytes as sealed in the store.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Back from the store; `None` unless 20 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// A secret typed or read as base32 (what `to_base32` shows; case, spaces and padding
    /// ignored); `None` unless it is 20 bytes.
    pub fn from_base32(text: &str) -> Option<Self> {
        let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::with_capacity(20));
        for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
            let value = BASE32
                .iter()
                .position(|b| char::from(*b) == c.to_ascii_uppercase())?;
            buffer = (buffer << 5) | value as u32;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push((buffer >> bits) as u8);
            }
        }
        Self::from_bytes(&out)
    }

    /// RFC 4648 base32 without padding: what a user types into an authenticator app.
    pub fn to_base32(&self) -> String {
        base32(&self.0)
    }

    /// The Key Uri Format an authenticator app reads from the QR code:
    /// `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=ISSUER&algorithm=SHA1&digits=6&period=30`.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let enc = |s: &str| {
            url::form_urlencoded::byte_serialize(s.as_bytes())
                .collect::<String>()
                .replace('+', "%20")
        };
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            enc(issuer),
            enc(account),
            self.to_base32(),
            enc(issuer),
        )
    }

    /// The code of `step` (RFC 4226 §5.3: HMAC-SHA-1, dynamic truncation, modulo 10^6).
    pub fn code_at(&self, step: i64) -> u32 {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &self.0);
        let mac = hmac::sign(&key, &step.to_be_bytes());
        let mac = mac.as_ref();
        let offset = usize::from(mac[mac.len() - 1] & 0x0f);
        let bin = u32::from_be_bytes([
            mac[offset],
            mac[offset + 1],
            mac[offset + 2],
            mac[offset + 3],
        ]) & 0x7fff_ffff;
        bin % 10u32.pow(DIGITS)
    }

    /// The step whose code `code` is, if it is the current step's or the previous one's and
    /// later than `last_used` (see the module doc). The caller must then record the step with
    /// the store's conditional update, which is what makes a replay fail.
    pub fn verify(&self, code: &str, now: UnixTime, last_used: Option<i64>) -> Option<i64> {
        let typed = parse_code(code)?;
        let current = step_at(now);
        let mut found = None;
        // Both steps are computed and compared in constant time whatever matches.
        for step in [current - 1, current] {
            let expected = format!("{:06}", self.code_at(step));
            if bool::from(expected.as_bytes().ct_eq(typed.as_bytes()))
                && last_used.is_none_or(|last| step > last)
            {
                found = Some(step);
            }
        }
        found
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

/// Six digits, spaces allowed (apps show `123 456`); anything else is `None`.
fn parse_code(code: &str) -> Option<String> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    (digits.len() == DIGITS as usize && digits.bytes().all(|b| b.is_ascii_digit()))
        .then_some(digits)
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// A recovery code: 60 random bits as 12 base32 characters in groups of four, shown once.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl RecoveryCode {
    /// `RECOVERY_CODES` fresh codes.
    pub fn generate_set() -> Vec<Self> {
        (0..RECOVERY_CODES)
            .map(|_| {
                let text = base32(&random_bytes::<8>()).to_ascii_lowercase();
                let text = &text[..12];
                Self(format!("{}-{}-{}", &text[..4], &text[4..8], &text[8..]))
            })
            .collect()
    }

    /// The code to show its owner, once.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// What the store keeps (and looks a typed code up by): the SHA-256 of the code without
    /// separators, lower case. 60 random bits need no slow hash: guessing online is throttled.
    pub fn hash(&self) -> SecretHash {
        Self::hash_typed(&self.0)
    }

    /// The hash of a code as a user typed it (spaces, dashes and case ignored).
    pub fn hash_typed(typed: &str) -> SecretHash {
        let normal: String = typed
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(64)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        SecretHash::of(normal.as_bytes())
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 secret ("12345678901234567890").
    fn rfc_secret() -> TotpSecret {
        TotpSecret(*b"12345678901234567890")
    }

    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        // Appendix B, SHA1, last six of the eight digits.
        for (time, code) in [
            (59, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(
                rfc_secret().code_at(step_at(time)),
                code % 1_000_000,
                "{time}"
            );
        }
    }

    #[test]
    fn a_code_is_accepted_for_this_step_and_the_last_and_never_twice() {
        let s = TotpSecret::generate();
        let now = 1_700_000_015;
        let step = step_at(now);
        let code = |step| format!("{:06}", s.code_at(step));
        assert_eq!(s.verify(&code(step), now, None), Some(step));
        assert_eq!(
            s.verify(&code(step - 1), now, None),
            Some(step - 1),
            "network delay"
        );
        assert_eq!(s.verify(&code(step - 2), now, None), None, "too old");
        assert_eq!(
            s.verify(&code(step + 1), now, None),
            None,
            "from the future"
        );
        assert_eq!(s.verify(&code(step), now, Some(step)), None, "used already");
        assert_eq!(
            s.verify(&code(step - 1), now, Some(step)),
            None,
            "older than the last used"
        );
        let spaced = format!("{} {}", &code(step)[..3], &code(step)[3..]);
        assert_eq!(s.verify(&spaced, now, None), Some(step));
        for junk in ["", "12345", "1234567", "12a456", "１２３４５６"] {
            assert_eq!(s.verify(junk, now, None), None, "{junk:?}");
        }
    }

    #[test]
    fn the_secret_reads_as_rfc_4648_base32_in_the_key_uri() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        let s = rfc_secret();
        assert_eq!(s.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            s.otpauth_uri("Latch Demo", "ada+x@example.com"),
            "otpauth://totp/Latch%20Demo:ada%2Bx%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Latch%20Demo&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(TotpSecret::from_base32(&s.to_base32()), Some(s.clone()));
        assert_eq!(
            TotpSecret::from_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq"),
            Some(s.clone())
        );
        assert_eq!(TotpSecret::from_base32("GEZD"), None, "too short");
        assert_eq!(TotpSecret::from_base32("GEZ1"), None, "not base32");
        assert_eq!(TotpSecret::from_bytes(s.expose_bytes()), Some(s));
        assert_eq!(TotpSecret::from_bytes(b"short"), None);
        assert_eq!(format!("{:?}", rfc_secret()), "TotpSecret([redacted])");
    }

    #[test]
    fn recovery_codes_are_distinct_and_typed_loosely() {
        let set = RecoveryCode::generate_set();
        assert_eq!(set.len(), 10);
        let mut hashes: Vec<String> = set.iter().map(|c| c.hash().as_str().to_owned()).collect();
        hashes.sort();
        hashes.dedup();
        assert_eq!(hashes.len(), 10);
        let code = set[0].expose_secret();
        assert_eq!(code.len(), 14);
        let typed = code.replace('-', " ").to_uppercase();
        assert!(RecoveryCode::hash_typed(&typed).matches(&set[0].hash()));
        assert!(!RecoveryCode::hash_typed("").matches(&set[0].hash()));
    }
}
