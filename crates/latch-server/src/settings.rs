//! Validated server settings. The binary assembles them from the TOML file and the environment.

use std::net::SocketAddr;

use latch_core::throttle::ThrottlePolicy;
use url::Url;

/// Settings the server runs with, already validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The issuer identifier, without a trailing slash (OIDC Discovery §3: `iss` must match exactly).
    pub issuer: String,
    pub listen: SocketAddr,
    pub database_url: String,
    /// Base64 of 32 bytes; `None` is allowed only on SQLite (a key file is created beside the database).
    pub master_key: Option<String>,
    /// Seconds during which a rotated refresh token presented again yields the same successor.
    pub refresh_reuse_window: i64,
    /// Seconds between publishing a rotated signing key and signing with it.
    pub key_propagation_delay: i64,
    pub session_idle_timeout: i64,
    pub session_absolute_timeout: i64,
    pub refresh_token_ttl: i64,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// The environment's name (`LATCH_ENVIRONMENT_NAME`); the pages show `branding.name`.
    pub environment_name: String,
    /// Name, logo and colour of the hosted pages (`LATCH_BRANDING_*`).
    pub branding: Branding,
    /// Proxies whose `X-Forwarded-For` is believed (empty: the TCP peer is the client).
    pub trusted_proxies: Vec<latch_core::ip_block::IpBlock>,
    /// Failed sign-ins (and client authentications) per account or client.
    pub account_policy: ThrottlePolicy,
    /// Failed sign-ins per address.
    pub address_policy: ThrottlePolicy,
    /// Where `/metrics` is served (`None`: not at all).
    pub metrics_listen: Option<SocketAddr>,
    /// Token requests per second per client and node (0: no limit).
    pub token_rate_limit: u32,
    /// A request taking longer is answered 408.
    pub request_timeout: std::time::Duration,
    /// A connection that has not sent a whole request head this long after it started one (or
    /// after it opened) is closed (`LATCH_HEADER_READ_TIMEOUT`).
    pub header_read_timeout: std::time::Duration,
    /// Open connections at most; further ones wait in the listen backlog (`LATCH_MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// Back-channel logout may call private and link-local addresses (loopback always may).
    pub backchannel_allow_private: bool,
    /// One log line per request (`LATCH_ACCESS_LOG=on`).
    pub access_log: bool,
    /// The admin console at `/admin` (`LATCH_ADMIN_CONSOLE`, on unless `off`).
    pub admin_console: bool,
    /// Where e-mail goes (`LATCH_SMTP_URL`, `LATCH_SMTP_FROM`); `None`: e-mail features are off.
    pub smtp: Option<crate::mail::SmtpSettings>,
    /// Seconds history is kept (`LATCH_AUDIT_RETENTION`; see latch-core `retention`).
    pub audit_retention: i64,
}

/// What the hosted pages show of the environment (`pages::Theme` renders it).
#[derive(Debug, Clone)]
pub struct Branding {
    /// Shown at the top of every page and in its title (`LATCH_BRANDING_NAME`).
    pub name: String,
    /// An `<img>` at the top of every page, its alt text the name (`LATCH_BRANDING_LOGO_URL`).
    pub logo_url: Option<Url>,
    /// `#rrggbb`, lower-case: buttons and focus rings (`LATCH_BRANDING_PRIMARY_COLOR`).
    pub primary_color: String,
}

impl Default for Branding {
    fn default() -> Self {
        Self {
            name: "Latch".to_owned(),
            logo_url: None,
            primary_color: DEFAULT_PRIMARY_COLOR.to_owned(),
        }
    }
}

pub const DEFAULT_PRIMARY_COLOR: &str = "#3466d6";

impl Branding {
    /// A logo URL: https, or http on a loopback host (as for the issuer); no credentials. It is
    /// fetched by the user's browser, never by the server, and its origin joins the pages' CSP
    /// `img-src`.
    pub fn parse_logo_url(value: &str) -> Result<Url, String> {
        let url = Url::parse(value.trim()).map_err(|e| format!("`{value}` is not a URL ({e})"))?;
        match url.scheme() {
            "https" => {}
            "http" if latch_core::redirect::is_loopback_host(url.host()) => {}
            _ => {
                return Err(format!(
                    "`{value}` must be an https URL (http only on loopback)"
                ));
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("`{value}` must not carry credentials"));
        }
        if url.host().is_none() || url.as_str().len() > 2048 {
            return Err(format!("`{value}` is not a usable image URL"));
        }
        Ok(url)
    }

    /// A colour as `#rrggbb` (lower-cased): it is written into the stylesheet, so nothing else
    /// is accepted.
    pub fn parse_color(value: &str) -> Result<String, String> {
        let hex = value.trim().strip_prefix('#').unwrap_or("");
        if hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(format!("#{}", hex.to_ascii_lowercase()))
        } else {
            Err(format!("`{value}` is not a colour written #rrggbb"))
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid setting {setting}: {reason}")]
pub struct SettingsError {
    pub setting: &'static str,
    pub reason: String,
}

impl SettingsError {
    pub fn new(setting: &'static str, reason: impl Into<String>) -> Self {
        Self {
            setting,
            reason: reason.into(),
        }
    }
}

pub const DEFAULT_ISSUER: &str = "http://127.0.0.1:8080";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://latch.db";

impl Settings {
    /// Settings with every default, for `issuer` and `database_url` as given (validated).
    pub fn new(issuer: &str, listen: &str, database_url: &str) -> Result<Self, SettingsError> {
        Ok(Self {
            issuer: validate_issuer(issuer)?,
            listen: listen.parse().map_err(|_| {
                SettingsError::new("LATCH_LISTEN", format!("`{listen}` is not an address:port"))
            })?,
            database_url: validate_database_url(database_url)?,
            master_key: None,
            refresh_reuse_window: 10,
            key_propagation_delay: 600,
            session_idle_timeout: 24 * 3600,
            session_absolute_timeout: 14 * 24 * 3600,
            refresh_token_ttl: 30 * 24 * 3600,
            body_limit: 64 * 1024,
            environment_name: "Latch".to_owned(),
            branding: Branding::default(),
            trusted_proxies: Vec::new(),
            account_policy: ThrottlePolicy::ACCOUNT,
            address_policy: ThrottlePolicy::ADDRESS,
            metrics_listen: None,
            token_rate_limit: 0,
            request_timeout: std::time::Duration::from_secs(30),
            header_read_timeout: std::time::Duration::from_secs(10),
            max_connections: 10_000,
            backchannel_allow_private: false,
            access_log: false,
            admin_console: true,
            smtp: None,
            audit_retention: latch_core::retention::DEFAULT_AUDIT_RETENTION,
        })
    }

    /// Whether the issuer is plain http (allowed only on loopback): cookies then lose `Secure`.
    pub fn is_http_issuer(&self) -> bool {
        self.issuer.starts_with("http://")
    }
}

/// RFC 8414 §2 / OIDC Discovery §3: an https URL with no query or fragment; http only for loopback.
pub fn validate_issuer(issuer: &str) -> Result<String, SettingsError> {
    let err = |r: &str| SettingsError::new("LATCH_ISSUER", format!("`{issuer}` {r}"));
    let url = Url::parse(issuer).map_err(|e| err(&format!("is not a URL ({e})")))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(err("must not have a query or fragment"));
    }
    match url.scheme() {
        "https" => {}
        "http" if latch_core::redirect::is_loopback_host(url.host()) => {}
        "http" => return Err(err("uses http on a non-loopback host; use https")),
        _ => return Err(err("must be an https URL")),
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn validate_database_url(url: &str) -> Result<String, SettingsError> {
    if url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://")
    {
        Ok(url.to_owned())
    } else {
        Err(SettingsError::new(
            "LATCH_DATABASE_URL",
            format!(
                "`{}` must start with sqlite:// or postgres://",
                url.split('@').next_back().unwrap_or("")
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_issuers_are_refused_except_on_loopback() {
        assert!(validate_issuer("http://auth.example.com").is_err());
        assert_eq!(
            validate_issuer("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            validate_issuer("https://auth.example.com/tenant").unwrap(),
            "https://auth.example.com/tenant"
        );
        assert!(validate_issuer("https://auth.example.com/?x=1").is_err());
        assert!(validate_issuer("not a url").is_err());
    }

    #[test]
    fn database_urls_name_a_supported_backend() {
        assert!(validate_database_url("mysql://x").is_err());
        assert!(validate_database_url("sqlite://latch.db").is_ok());
        assert!(validate_database_url("postgres://u@h/db").is_ok());
    }

    #[test]
    fn branding_takes_only_hex_colours_and_https_or_loopback_logos() {
        assert_eq!(Branding::parse_color("#A1b2C3").unwrap(), "#a1b2c3");
        for bad in [
            "red",
            "#abc",
            "#12345g",
            "#1234567",
            "1234567",
            "#123456;}",
            "",
        ] {
            assert!(Branding::parse_color(bad).is_err(), "{bad}");
        }
        assert!(Branding::parse_logo_url("https://cdn.example.com/logo.svg").is_ok());
        assert!(Branding::parse_logo_url("http://127.0.0.1:9000/logo.png").is_ok());
        for bad in [
            "http://cdn.example.com/logo.png",
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "https://user:pw@cdn.example.com/logo.png",
            "/logo.png",
        ] {
            assert!(Branding::parse_logo_url(bad).is_err(), "{bad}");
        }
    }
}
