//! `LATCH_SMTP_URL` and `LATCH_SMTP_FROM`, validated into [`SmtpSettings`], and the lettre
//! transport built from them. The password is kept as a `Secret` and never printed: not by
//! `Debug`, not in an error about the URL.

use std::fmt;
use std::time::Duration;

use latch_core::Secret;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use url::Url;

use crate::settings::SettingsError;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtps://`: TLS from the first byte (RFC 8314 §3.3; port 465 by default).
    ImplicitTls,
    /// `smtp://…?tls=required`: STARTTLS (RFC 3207), refusing a server that does not offer it.
    StartTlsRequired,
    /// `smtp://` (default): STARTTLS when the server offers it, plain otherwise (lettre's
    /// opportunistic mode; port 587 by default).
    Opportunistic,
}

/// Where and as whom Latch sends mail.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    /// User name and password (percent-decoded from the URL).
    pub credentials: Option<(String, Secret)>,
    /// `From` of every message (`LATCH_SMTP_FROM`: `addr@example.com` or `Name <addr@…>`).
    pub from: Mailbox,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// Each SMTP command's time limit (connect, greeting, every reply).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

impl SmtpSettings {
    /// Validates both settings. Error texts name the URL without its password.
    pub fn parse(url: &str, from: Option<&str>) -> Result<Self, SettingsError> {
        let err = |r: String| SettingsError::new("LATCH_SMTP_URL", r);
        let parsed = Url::parse(url.trim())
            .map_err(|e| err(format!("`{}` is not a URL ({e})", redacted(url))))?;
        let shown = redacted(url);
        let tls = parsed
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let (security, default_port) = match (parsed.scheme(), tls.as_deref()) {
            ("smtps", None) => (SmtpSecurity::ImplicitTls, 465),
            ("smtp", None | Some("opportunistic")) => (SmtpSecurity::Opportunistic, 587),
            ("smtp", Some("required")) => (SmtpSecurity::StartTlsRequired, 587),
            ("smtp" | "smtps", Some(other)) => {
                return Err(err(format!(
                    "`{shown}`: tls={other} is not `required` or `opportunistic`"
                )));
            }
            (scheme, _) => {
                return Err(err(format!(
                    "`{shown}`: the scheme `{scheme}` is not smtp or smtps"
                )));
            }
        };
        let host = match parsed.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(err(format!("`{shown}` names no host"))),
        };
        if parsed.query_pairs().any(|(k, _)| k != "tls") || parsed.fragment().is_some() {
            return Err(err(format!("`{shown}`: only `?tls=` may follow the host")));
        }
        let credentials = match parsed.password() {
            Some(password) => {
                let decode = |s: &str| {
                    percent_encoding_decode(s)
                        .ok_or_else(|| err(format!("`{shown}`: the credentials are not UTF-8")))
                };
                Some((
                    decode(parsed.username())?,
                    Secret::from_derived(decode(password)?),
                ))
            }
            None if !parsed.username().is_empty() => {
                return Err(err(format!(
                    "`{shown}`: a user needs a password (`smtp://user:password@host`)"
                )));
            }
            None => None,
        };
        let from = from
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .ok_or_else(|| {
                SettingsError::new(
                    "LATCH_SMTP_FROM",
                    "is required with LATCH_SMTP_URL (e.g. `Example <no-reply@example.com>`)",
                )
            })?;
        let from: Mailbox = from.parse().map_err(|e| {
            SettingsError::new(
                "LATCH_SMTP_FROM",
                format!("`{from}` is not an e-mail address ({e})"),
            )
        })?;
        Ok(Self {
            host,
            port: parsed.port().unwrap_or(default_port),
            security,
            credentials,
            from,
        })
    }

    /// The URL as it may be logged: without the password.
    pub fn describe(&self) -> String {
        let scheme = match self.security {
            SmtpSecurity::ImplicitTls => "smtps",
            _ => "smtp",
        };
        let tls = match self.security {
            SmtpSecurity::StartTlsRequired => "?tls=required",
            _ => "",
        };
        let user = match &self.credentials {
            Some((u, _)) => format!("{u}:…@"),
            None => String::new(),
        };
        format!("{scheme}://{user}{}:{}{tls}", self.host, self.port)
    }

    /// The transport (one connection per message; TLS over rustls with the platform's roots).
    pub fn transport(
        &self,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, lettre::transport::smtp::Error> {
        let tls = |host: &str| TlsParameters::new(host.to_owned());
        let security = match self.security {
            SmtpSecurity::ImplicitTls => Tls::Wrapper(tls(&self.host)?),
            SmtpSecurity::StartTlsRequired => Tls::Required(tls(&self.host)?),
            SmtpSecurity::Opportunistic => Tls::Opportunistic(tls(&self.host)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
            .port(self.port)
            .tls(security)
            .timeout(Some(COMMAND_TIMEOUT));
        if let Some((user, password)) = &self.credentials {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        Ok(builder.build())
    }
}

/// `url` with any password replaced by `…` (for error messages).
fn redacted(url: &str) -> String {
    match Url::parse(url.trim()) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("…"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        // Unparseable: show the part after a possible `user:password@`.
        Err(_) => url.rsplit('@').next().unwrap_or("").to_owned(),
    }
}

/// RFC 3986 §2.1 percent-decoding of the URL's user and password; `None` if not UTF-8 or a `%`
/// is not followed by two hex digits.
fn percent_encoding_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<SmtpSettings, String> {
        SmtpSettings::parse(url, Some("Latch <no-reply@example.com>")).map_err(|e| e.to_string())
    }

    #[test]
    fn schemes_choose_the_protection_and_the_default_port() {
        let s = parse("smtps://mail.example.com").unwrap();
        assert_eq!((s.security, s.port), (SmtpSecurity::ImplicitTls, 465));
        let s = parse("smtp://mail.example.com").unwrap();
        assert_eq!((s.security, s.port), (SmtpSecurity::Opportunistic, 587));
        let s = parse("smtp://mail.example.com:2525?tls=required").unwrap();
        assert_eq!((s.security, s.port), (SmtpSecurity::StartTlsRequired, 2525));
        let s = parse("smtp://127.0.0.1:1025").unwrap();
        assert_eq!((s.host.as_str(), s.port), ("127.0.0.1", 1025));
        assert!(s.credentials.is_none());
        for bad in [
            "http://mail.example.com",
            "smtp://",
            "smtp://mail.example.com?tls=maybe",
            "smtp://mail.example.com?x=1",
            "smtp://user@mail.example.com",
            "not a url",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_password_is_decoded_and_never_shown() {
        let s = parse("smtps://me%40example.com:p%3Ass%2Fw0rd@mail.example.com").unwrap();
        let (user, password) = s.credentials.clone().unwrap();
        assert_eq!(user, "me@example.com");
        assert_eq!(password.expose_secret(), "p:ss/w0rd");
        for shown in [format!("{s:?}"), s.describe()] {
            assert!(
                !shown.contains("p:ss") && !shown.contains("p%3Ass"),
                "{shown}"
            );
        }
        let e = parse("smtp://me:hunter2@mail.example.com?tls=maybe").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        let e = parse("ftp://me:hunter2@mail.example.com").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        let e = parse("smtp://me:hunter2@").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn the_sender_is_required_and_must_be_an_address() {
        let none = SmtpSettings::parse("smtp://mail.example.com", None).unwrap_err();
        assert!(none.to_string().contains("LATCH_SMTP_FROM"), "{none}");
        assert!(SmtpSettings::parse("smtp://mail.example.com", Some("not an address")).is_err());
        let s = SmtpSettings::parse("smtp://m.example.com", Some("no-reply@example.com")).unwrap();
        assert_eq!(s.from.email.to_string(), "no-reply@example.com");
    }
}
