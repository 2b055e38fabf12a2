//! How a user authenticated: the methods of a sign-in (RFC 8176 `amr` values) and the
//! authentication context class they reach (OIDC Core §2 `acr`).
//!
//! A session records its methods (`Amr`); the codes and refresh grants issued from it carry them,
//! and every ID token and access token says `amr`, `acr` and `auth_time`.
//!
//! `acr` values (OIDC Core §2 leaves them to the deployment; Keycloak numbers its levels, the
//! IANA LoA registry has no password-or-MFA pair): Latch names two levels, ordered —
//! `urn:latch:acr:pwd` (one factor) below `urn:latch:acr:mfa` (two factors: something known and
//! something held). A request for a level is met by that level or a higher one.

use std::fmt;

/// One RFC 8176 §2 authentication method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `pwd`: a password.
    Pwd,
    /// `otp`: a one-time code (TOTP, RFC 6238; a recovery code is a single-use one too).
    Otp,
    /// `hwk`: proof of possession of a hardware-secured key (a passkey on a security key).
    Hwk,
    /// `swk`: proof of possession of a software-secured key (a synced passkey).
    Swk,
    /// `user`: the authenticator verified the user (WebAuthn user verification).
    User,
}

/// The factor a method proves (NIST SP 800-63B: something known, held, or that one is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Factor {
    Knowledge,
    Possession,
    Inherence,
}

impl Method {
    const ALL: [Method; 5] = [
        Method::Pwd,
        Method::Otp,
        Method::Hwk,
        Method::Swk,
        Method::User,
    ];

    /// The RFC 8176 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Pwd => "pwd",
            Method::Otp => "otp",
            Method::Hwk => "hwk",
            Method::Swk => "swk",
            Method::User => "user",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    fn factor(self) -> Factor {
        match self {
            Method::Pwd => Factor::Knowledge,
            Method::Otp | Method::Hwk | Method::Swk => Factor::Possession,
            Method::User => Factor::Inherence,
        }
    }
}

/// The methods of one sign-in (a set; a second factor adds to the first).
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Amr(u8);

impl Amr {
    /// A password alone.
    pub const PASSWORD: Amr = Amr(1 << (Method::Pwd as u8));

    pub fn with(self, method: Method) -> Self {
        Self(self.0 | method.bit())
    }

    pub fn contains(self, method: Method) -> bool {
        self.0 & method.bit() != 0
    }

    pub fn methods(self) -> impl Iterator<Item = Method> {
        Method::ALL.into_iter().filter(move |m| self.contains(*m))
    }

    /// RFC 8176 `mfa`: methods of two different factors.
    pub fn is_multi_factor(self) -> bool {
        let mut factors = self.methods().map(Method::factor).collect::<Vec<_>>();
        factors.sort_unstable();
        factors.dedup();
        factors.len() >= 2
    }

    /// The `amr` claim: the methods, then `mfa` when they are of two factors (RFC 8176 §2).
    pub fn claim(self) -> Vec<&'static str> {
        let mut values: Vec<&'static str> = self.methods().map(Method::as_str).collect();
        if self.is_multi_factor() {
            values.push("mfa");
        }
        values
    }

    /// The `acr` this sign-in reaches.
    pub fn acr(self) -> Acr {
        if self.is_multi_factor() {
            Acr::Mfa
        } else {
            Acr::Password
        }
    }

    /// As stored with a session or grant: the names, space-separated.
    pub fn to_stored(self) -> String {
        self.methods()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// What `to_stored` wrote. Names this build does not know are left out; nothing known at all
    /// (a row written before methods were recorded) reads as a password.
    pub fn from_stored(stored: &str) -> Self {
        let amr = stored.split_ascii_whitespace().fold(Amr(0), |amr, name| {
            match Method::ALL.into_iter().find(|m| m.as_str() == name) {
                Some(m) => amr.with(m),
                None => amr,
            }
        });
        if amr.0 == 0 { Self::PASSWORD } else { amr }
    }
}

impl fmt::Debug for Amr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amr({})", self.to_stored())
    }
}

/// An application's second-factor policy (`mfa` on the management API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum MfaPolicy {
    /// Never asks for a second factor (unless the request's `acr_values` does).
    Off,
    /// Users who enrolled a second factor give it; the others sign in with a password.
    #[default]
    Optional,
    /// Every user gives a second factor; one without enrols during sign-in.
    Required,
}

impl MfaPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            MfaPolicy::Off => "off",
            MfaPolicy::Optional => "optional",
            MfaPolicy::Required => "required",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [MfaPolicy::Off, MfaPolicy::Optional, MfaPolicy::Required]
            .into_iter()
            .find(|p| p.as_str() == value)
    }
}

/// An authentication context class (`acr`), in increasing strength.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Acr {
    /// One factor.
    Password,
    /// Two factors.
    Mfa,
}

/// Discovery's `acr_values_supported`, weakest first.
pub const ACR_VALUES_SUPPORTED: [&str; 2] = [Acr::Password.as_str(), Acr::Mfa.as_str()];

impl Acr {
    pub const fn as_str(self) -> &'static str {
        match self {
            Acr::Password => "urn:latch:acr:pwd",
            Acr::Mfa => "urn:latch:acr:mfa",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Acr::Password, Acr::Mfa]
            .into_iter()
            .find(|a| a.as_str() == value)
    }

    /// OIDC Core §3.1.2.1 `acr_values` ("space-separated string … in order of preference"): the
    /// weakest level named that Latch knows, which any stronger sign-in also meets; `None` when
    /// it names none (the parameter is a voluntary request, so unknown values are ignored).
    pub fn requested(acr_values: &str) -> Option<Self> {
        acr_values
            .split_ascii_whitespace()
            .filter_map(Self::parse)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_alone_is_one_factor() {
        assert_eq!(Amr::PASSWORD.claim(), ["pwd"]);
        assert_eq!(Amr::PASSWORD.acr(), Acr::Password);
        assert!(!Amr::PASSWORD.is_multi_factor());
    }

    #[test]
    fn a_password_and_a_code_are_two_factors() {
        let amr = Amr::PASSWORD.with(Method::Otp);
        assert_eq!(amr.claim(), ["pwd", "otp", "mfa"]);
        assert_eq!(amr.acr(), Acr::Mfa);
        assert_eq!(amr.acr().as_str(), "urn:latch:acr:mfa");
    }

    #[test]
    fn two_methods_of_one_factor_are_not_mfa() {
        let held = Amr::default().with(Method::Otp).with(Method::Hwk);
        assert_eq!(held.claim(), ["otp", "hwk"]);
        assert_eq!(held.acr(), Acr::Password);
        let verified_key = Amr::default().with(Method::Hwk).with(Method::User);
        assert_eq!(verified_key.claim(), ["hwk", "user", "mfa"]);
    }

    #[test]
    fn stored_methods_round_trip_and_old_rows_read_as_a_password() {
        let amr = Amr::PASSWORD.with(Method::Otp);
        assert_eq!(amr.to_stored(), "pwd otp");
        assert_eq!(Amr::from_stored("pwd otp"), amr);
        assert_eq!(Amr::from_stored("otp  pwd future"), amr, "unknown left out");
        assert_eq!(Amr::from_stored(""), Amr::PASSWORD);
        assert_eq!(Amr::from_stored("future"), Amr::PASSWORD);
    }

    #[test]
    fn a_request_names_the_weakest_level_it_accepts() {
        assert_eq!(Acr::requested("urn:latch:acr:mfa"), Some(Acr::Mfa));
        assert_eq!(
            Acr::requested("urn:latch:acr:mfa urn:latch:acr:pwd"),
            Some(Acr::Password)
        );
        assert_eq!(
            Acr::requested("urn:other:gold urn:latch:acr:mfa"),
            Some(Acr::Mfa)
        );
        assert_eq!(Acr::requested("urn:other:gold"), None);
        assert_eq!(Acr::requested(""), None);
        assert!(Acr::Mfa > Acr::Password);
        assert_eq!(
            ACR_VALUES_SUPPORTED,
            ["urn:latch:acr:pwd", "urn:latch:acr:mfa"]
        );
    }
}
