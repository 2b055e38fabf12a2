//! Stored password hashes Latch can verify: its own argon2id, and the formats other servers
//! export (`latch users import`): argon2id/argon2i PHC strings, bcrypt (`$2a$`, `$2b$`, `$2y$`),
//! PBKDF2-SHA256/-SHA512 (PHC `$pbkdf2-sha256$i=…,l=…$…`, passlib's `$pbkdf2-sha256$ROUNDS$…`,
//! and Keycloak's credential converted to the PHC form) and scrypt (`$scrypt$ln=…,r=…,p=…$…`).
//!
//! Every cost parameter is bounded at import and again before verifying, so that no stored hash
//! can make one sign-in take seconds of CPU or hundreds of MiB.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;

/// The most memory one verification may use (argon2, scrypt).
const MAX_MEMORY_BYTES: u64 = 256 * 1024 * 1024;
const MAX_ARGON2_TIME: u32 = 16;
const MAX_ARGON2_LANES: u32 = 16;
const MAX_BCRYPT_COST: u32 = 15;
const MAX_PBKDF2_ITERATIONS: u32 = 2_000_000;
const MAX_SCRYPT_LOG_N: u8 = 20;
const MAX_SCRYPT_P: u32 = 16;
/// Salts and outputs longer than this are not hashes anyone produces.
const MAX_BYTES: usize = 128;

/// A PHC `$argon2…` string's algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Argon2Kind {
    Id,
    I,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    Sha256,
    Sha512,
}

/// A parsed stored hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredHash {
    Argon2 {
        kind: Argon2Kind,
        /// 0x13 (v=19) or 0x10 (no `v=`, or v=16).
        version: u32,
        m: u32,
        t: u32,
        p: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    /// The whole `$2b$…` string (the bcrypt crate parses it).
    Bcrypt { text: String, cost: u32 },
    Pbkdf2 {
        digest: Digest,
        iterations: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    Scrypt {
        log_n: u8,
        r: u32,
        p: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
}

/// PHC's B64 (standard alphabet, no padding); passlib's "ab64" (`.` for `+`) and padded input
/// are accepted too.
fn b64(s: &str) -> Option<Vec<u8>> {
    let s = s.replace('.', "+");
    let bytes = STANDARD_NO_PAD.decode(s.trim_end_matches('=')).ok()?;
    (!bytes.is_empty() && bytes.len() <= MAX_BYTES).then_some(bytes)
}

/// `m=…,t=…,p=…` (or `ln=…`, `i=…`) into `(name, value)` pairs.
fn params(s: &str) -> Option<Vec<(&str, u32)>> {
    s.split(',')
        .map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k, v.parse().ok()?))
        })
        .collect()
}

fn param(list: &[(&str, u32)], name: &str) -> Option<u32> {
    list.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
}

impl StoredHash {
    /// Parses and bounds a stored hash; the error says what is wrong (never echoing the hash).
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let parts: Vec<&str> = s.split('$').collect();
        if parts.len() < 4 || !parts[0].is_empty() {
            return Err("is not a PHC string or a bcrypt hash");
        }
        let parsed = match parts[1] {
            "argon2id" | "argon2i" => argon2(&parts),
            "2a" | "2b" | "2y" => bcrypt(s, &parts),
            "pbkdf2-sha256" | "pbkdf2-sha512" => pbkdf2(&parts),
            "scrypt" => scrypt(&parts),
            _ => {
                return Err(
                    "uses an unsupported algorithm (argon2id, argon2i, bcrypt, pbkdf2-sha256, pbkdf2-sha512, scrypt)",
                );
            }
        };
        let hash = parsed.ok_or("is malformed")?;
        hash.check_bounds()?;
        Ok(hash)
    }

    fn check_bounds(&self) -> Result<(), &'static str> {
        let ok = match self {
            Self::Argon2 { m, t, p, .. } => {
                u64::from(*m) * 1024 <= MAX_MEMORY_BYTES
                    && (1..=MAX_ARGON2_TIME).contains(t)
                    && (1..=MAX_ARGON2_LANES).contains(p)
            }
            Self::Bcrypt { cost, .. } => (4..=MAX_BCRYPT_COST).contains(cost),
            Self::Pbkdf2 { iterations, .. } => (1..=MAX_PBKDF2_ITERATIONS).contains(iterations),
            Self::Scrypt { log_n, r, p, .. } => {
                *log_n >= 1
                    && *log_n <= MAX_SCRYPT_LOG_N
                    && *r >= 1
                    && (1..=MAX_SCRYPT_P).contains(p)
                    && 128 * u64::from(*r) * (1u64 << *log_n) <= MAX_MEMORY_BYTES
            }
        };
        if ok {
            Ok(())
        } else {
            Err(
                "has cost parameters beyond what Latch verifies (at most 256 MiB, bcrypt cost 15, 2,000,000 PBKDF2 iterations)",
            )
        }
    }
}

/// `$argon2id$v=19$m=…,t=…,p=…$SALT$HASH` (the `v=` part is optional: absent means 0x10).
fn argon2(parts: &[&str]) -> Option<StoredHash> {
    let kind = if parts[1] == "argon2id" {
        Argon2Kind::Id
    } else {
        Argon2Kind::I
    };
    let (version, rest) = match parts[2].strip_prefix("v=") {
        Some(v) => (v.parse::<u32>().ok()?, &parts[3..]),
        None => (16, &parts[2..]),
    };
    let version = match version {
        19 => 0x13,
        16 => 0x10,
        _ => return None,
    };
    let [p, salt, hash] = rest else { return None };
    let list = params(p)?;
    Some(StoredHash::Argon2 {
        kind,
        version,
        m: param(&list, "m")?,
        t: param(&list, "t")?,
        p: param(&list, "p")?,
        salt: b64(salt)?,
        hash: b64(hash)?,
    })
}

/// `$2b$COST$` + 53 characters of bcrypt's base64 (salt and hash).
fn bcrypt(s: &str, parts: &[&str]) -> Option<StoredHash> {
    let [_, _, cost, rest] = parts else {
        return None;
    };
    let valid = cost.len() == 2
        && rest.len() == 53
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/');
    valid.then(|| StoredHash::Bcrypt {
        text: s.to_owned(),
        cost: cost.parse().unwrap_or(u32::MAX),
    })
}

/// `$pbkdf2-sha256$i=N,l=L$SALT$HASH` (PHC) or `$pbkdf2-sha256$N$SALT$HASH` (passlib).
fn pbkdf2(parts: &[&str]) -> Option<StoredHash> {
    let [_, alg, p, salt, hash] = parts else {
        return None;
    };
    let digest = if *alg == "pbkdf2-sha256" {
        Digest::Sha256
    } else {
        Digest::Sha512
    };
    let iterations = match p.parse::<u32>() {
        Ok(n) => n,
        Err(_) => param(&params(p)?, "i")?,
    };
    let hash = b64(hash)?;
    if let Some(l) = params(p).and_then(|list| param(&list, "l"))
        && usize::try_from(l).ok()? != hash.len()
    {
        return None;
    }
    Some(StoredHash::Pbkdf2 {
        digest,
        iterations,
        salt: b64(salt)?,
        hash,
    })
}

/// `$scrypt$ln=…,r=…,p=…$SALT$HASH`.
fn scrypt(parts: &[&str]) -> Option<StoredHash> {
    let [_, _, p, salt, hash] = parts else {
        return None;
    };
    let list = params(p)?;
    Some(StoredHash::Scrypt {
        log_n: u8::try_from(param(&list, "ln")?).ok()?,
        r: param(&list, "r")?,
        p: param(&list, "p")?,
        salt: b64(salt)?,
        hash: b64(hash)?,
    })
}

/// Keycloak's exported password credential (`secretData` and `credentialData`, JSON documents in
/// strings) as the equivalent PHC string.
pub fn keycloak_to_phc(secret_data: &str, credential_data: &str) -> Result<String, &'static str> {
    #[derive(serde::Deserialize)]
    struct Secret {
        value: String,
        salt: String,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Credential {
        hash_iterations: u32,
        algorithm: String,
    }
    let secret: Secret =
        serde_json::from_str(secret_data).map_err(|_| "secretData is not Keycloak's JSON")?;
    let credential: Credential = serde_json::from_str(credential_data)
        .map_err(|_| "credentialData is not Keycloak's JSON")?;
    if !matches!(
        credential.algorithm.as_str(),
        "pbkdf2-sha256" | "pbkdf2-sha512"
    ) {
        return Err("only Keycloak's pbkdf2-sha256 and pbkdf2-sha512 credentials can be imported");
    }
    let (salt, value) = (
        b64(&secret.salt).ok_or("the credential's salt is not base64")?,
        b64(&secret.value).ok_or("the credential's value is not base64")?,
    );
    Ok(format!(
        "${}$i={},l={}${}${}",
        credential.algorithm,
        credential.hash_iterations,
        value.len(),
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(value)
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests panic on failure")]

    use super::*;

    #[test]
    fn formats_parse_and_costs_are_bounded() {
        assert!(matches!(
            StoredHash::parse("$argon2i$v=19$m=4096,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"),
            Ok(StoredHash::Argon2 {
                kind: Argon2Kind::I,
                version: 0x13,
                m: 4096,
                ..
            })
        ));
        assert!(
            StoredHash::parse("$argon2id$v=19$m=4194304,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2g")
                .is_err_and(|e| e.contains("cost"))
        );
        let bcrypt = "$2y$05$w0h4GknyjOPn35eNJ4Lnb.O/HIp0ngYHRwhXMSt0NCgrdmdgUozM.";
        assert!(matches!(
            StoredHash::parse(bcrypt),
            Ok(StoredHash::Bcrypt { cost: 5, .. })
        ));
        let slow = bcrypt.replace("$05$", "$31$");
        assert!(StoredHash::parse(&slow).is_err_and(|e| e.contains("cost")));
        assert!(StoredHash::parse("$pbkdf2-sha256$i=99999999,l=4$c2FsdA$aGFzaA").is_err());
        assert!(
            StoredHash::parse("$pbkdf2-sha256$i=1000,l=5$c2FsdA$aGFzaA").is_err(),
            "l= must match"
        );
        assert!(StoredHash::parse("$scrypt$ln=30,r=8,p=1$c2FsdA$aGFzaA").is_err());
        for bad in [
            "",
            "plain",
            "$md5$x$y",
            "$argon2id$v=19$m=1$x$y",
            "$2b$05$short",
        ] {
            assert!(StoredHash::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_keycloak_credential_becomes_a_phc_string() {
        let phc = keycloak_to_phc(
            r#"{"value":"aGFzaGhhc2hoYXNo","salt":"c2FsdHNhbHQ=","additionalParameters":{}}"#,
            r#"{"hashIterations":27500,"algorithm":"pbkdf2-sha256","additionalParameters":{}}"#,
        )
        .unwrap();
        assert_eq!(
            phc,
            "$pbkdf2-sha256$i=27500,l=12$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
        );
        assert!(StoredHash::parse(&phc).is_ok());
        assert!(keycloak_to_phc("{}", "{}").is_err());
    }
}
