//! Users and the password policy.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::UnixTime;
use crate::field::FieldError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub created_at: UnixTime,
    /// The application's own id for this user (unique among users).
    #[serde(default)]
    pub external_id: Option<String>,
    /// The application's data about this user (`metadata::validate_metadata`).
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// May sign in to the admin console (`/admin`). Changed only by `UserStore::set_user_admin`;
    /// written by `insert_user`, left alone by `update_user`.
    #[serde(default)]
    pub admin: bool,
}

/// The form emails are compared in: trimmed and lower-cased (uniqueness is case-insensitive).
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A plausible address: one `@`, something on each side, a dot in the domain, no spaces, bounded.
pub fn validate_email(email: &str) -> Result<(), FieldError> {
    let e = email.trim();
    let bad = || FieldError::new("email", "is not a valid email address");
    if e.len() > 254 || e.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = e.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(bad());
    }
    Ok(())
}

pub fn validate_profile_field(field: &str, value: &Option<String>) -> Result<(), FieldError> {
    match value {
        Some(v) if v.chars().count() > 200 || v.chars().any(char::is_control) => Err(
            FieldError::new(field, "must be at most 200 printable characters"),
        ),
        _ => Ok(()),
    }
}

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The most common passwords (from public breach corpora), refused whatever their length.
const COMMON_PASSWORDS: &[&str] = &[
    "password",
    "password1",
    "password12",
    "password123",
    "password1234",
    "12345678",
    "123456789",
    "1234567890",
    "123123123",
    "11111111",
    "00000000",
    "qwertyui",
    "qwerty123",
    "qwertyuiop",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "iloveyou",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "welcome1",
    "welcome123",
    "admin123",
    "administrator",
    "abc12345",
    "abcd1234",
    "letmein1",
    "trustno1",
    "superman",
    "starwars",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "changeme",
    "whatever",
    "dragon12",
    "monkey123",
    "master12",
    "87654321",
    "asdfghjk",
    "zaq12wsx",
    "qazwsxedc",
    "1qaz2wsx",
    "michael1",
    "jennifer",
    "computer",
    "internet",
    "mustang1",
    "shadow12",
    "liverpool",
    "chelsea1",
    "arsenal1",
    "secret123",
    "default1",
    "test1234",
];

/// Checks a new password: 8 characters at least, 1024 bytes at most, not a common password.
pub fn validate_password(password: &str) -> Result<(), FieldError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(FieldError::new("password", "must be at least 8 characters"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(FieldError::new("password", "must be at most 1024 bytes"));
    }
    let lower = password.to_lowercase();
    if COMMON_PASSWORDS.contains(&lower.as_str()) {
        return Err(FieldError::new("password", "is too common"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_compare_case_insensitively() {
        assert_eq!(normalize_email(" Ada@Example.COM "), "ada@example.com");
    }

    #[test]
    fn malformed_emails_are_refused() {
        for e in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "a@b@c.com",
        ] {
            assert!(validate_email(e).is_err(), "{e}");
        }
        assert!(validate_email("ada@example.com").is_ok());
    }

    #[test]
    fn short_long_and_common_passwords_are_refused() {
        assert!(validate_password("short").is_err());
        assert!(validate_password(&"x".repeat(1025)).is_err());
        assert!(validate_password("Password123").is_err());
        assert!(validate_password("correct horse battery staple").is_ok());
    }
}
