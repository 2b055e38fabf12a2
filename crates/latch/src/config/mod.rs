//! Configuration: the settings table (`table`), their sources (`source`: an optional TOML file,
//! then `LATCH_*` environment variables, which win), and their validation into `Settings`.

pub mod source;
pub mod table;

use std::path::Path;
use std::time::Duration;

use anyhow::anyhow;
use latch_core::retention::{DEFAULT_AUDIT_RETENTION, parse_duration};
use latch_core::throttle::ThrottlePolicy;
use latch_server::Settings;
use latch_server::settings::{
    Branding, DEFAULT_DATABASE_URL, DEFAULT_ISSUER, DEFAULT_LISTEN, DEFAULT_PRIMARY_COLOR,
};

use self::source::Sources;

pub struct Loaded {
    pub server: Settings,
    pub log_format: String,
    pub log_filter: String,
    /// Said once at start-up, as warnings (e.g. the issuer does not name the listen address).
    pub warnings: Vec<String>,
}

/// Reads one setting through the table.
struct Reader {
    sources: Sources,
}

impl Reader {
    fn string(&self, env: &'static str, default: &str) -> String {
        self.sources.get(env).unwrap_or_else(|| default.to_owned())
    }

    fn int(&self, env: &'static str, default: i64, min: i64, max: i64) -> anyhow::Result<i64> {
        let value = match self.sources.get(env) {
            Some(v) => v.trim().parse::<i64>().map_err(|_| {
                anyhow!(
                    "invalid setting {}: `{v}` is not a whole number",
                    self.sources.label(env)
                )
            })?,
            None => default,
        };
        if !(min..=max).contains(&value) {
            return Err(anyhow!(
                "invalid setting {}: {value} is outside {min}..={max}",
                self.sources.label(env)
            ));
        }
        Ok(value)
    }

    /// A duration (`30d`, `12h`, `90m`, `45s`; a bare number is seconds) within `min..=max`
    /// seconds; answers seconds.
    fn duration(
        &self,
        env: &'static str,
        default: i64,
        (min, max): (&str, &str),
    ) -> anyhow::Result<i64> {
        let invalid =
            |reason: String| anyhow!("invalid setting {}: {reason}", self.sources.label(env));
        let Some(v) = self.sources.get(env) else {
            return Ok(default);
        };
        let value = parse_duration(&v).map_err(invalid)?;
        let bound = |b: &str| parse_duration(b).map_err(|e| anyhow!("{e}"));
        if !(bound(min)?..=bound(max)?).contains(&value) {
            return Err(invalid(format!("`{}` is outside {min}..={max}", v.trim())));
        }
        Ok(value)
    }

    fn bool(&self, env: &'static str) -> anyhow::Result<bool> {
        match self.sources.get(env).as_deref().map(str::trim) {
            None => Ok(false),
            Some("on" | "true" | "1" | "yes") => Ok(true),
            Some("off" | "false" | "0" | "no") => Ok(false),
            Some(v) => Err(anyhow!(
                "invalid setting {}: `{v}` is not `on` or `off`",
                self.sources.label(env)
            )),
        }
    }
}

pub fn load(path: Option<&Path>) -> anyhow::Result<Loaded> {
    let r = Reader {
        sources: Sources::read(path)?,
    };
    let issuer = r.string("LATCH_ISSUER", DEFAULT_ISSUER);
    let listen = r.string("LATCH_LISTEN", DEFAULT_LISTEN);
    let database_url = r.string("LATCH_DATABASE_URL", DEFAULT_DATABASE_URL);
    let mut s = Settings::new(&issuer, &listen, &database_url)?;
    s.master_key = r.sources.get("LATCH_MASTER_KEY");
    s.refresh_reuse_window = r.int("LATCH_REFRESH_REUSE_WINDOW", 10, 0, 300)?;
    s.key_propagation_delay = r.int("LATCH_KEY_PROPAGATION_DELAY", 600, 0, 7 * 86_400)?;
    s.session_idle_timeout = r.int("LATCH_SESSION_IDLE_TIMEOUT", 86_400, 60, 365 * 86_400)?;
    s.session_absolute_timeout = r.int(
        "LATCH_SESSION_ABSOLUTE_TIMEOUT",
        14 * 86_400,
        60,
        365 * 86_400,
    )?;
    s.refresh_token_ttl = r.int("LATCH_REFRESH_TOKEN_TTL", 30 * 86_400, 60, 365 * 86_400)?;
    s.body_limit = r.int("LATCH_BODY_LIMIT", 64 * 1024, 1024, 16 * 1024 * 1024)? as usize;
    s.environment_name = r.string("LATCH_ENVIRONMENT_NAME", "Latch");
    s.branding = branding(&r, &s.environment_name)?;
    s.trusted_proxies = r
        .string("LATCH_TRUSTED_PROXIES", "")
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            latch_server::client_ip::IpBlock::parse(p).ok_or_else(|| {
                anyhow!(
                    "invalid setting {}: `{}` is not an address or CIDR block",
                    r.sources.label("LATCH_TRUSTED_PROXIES"),
                    p.trim()
                )
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let max_failures = r.int("LATCH_LOGIN_MAX_FAILURES", 5, 1, 1000)?;
    let lock = r.int("LATCH_LOGIN_LOCK_SECONDS", 60, 1, 86_400)?;
    // Per address: four times the failures (many users may share one), five times the lock.
    s.account_policy = ThrottlePolicy {
        max_failures,
        window: 900,
        lock,
        max_lock: (lock * 15).max(900),
    };
    s.address_policy = ThrottlePolicy {
        max_failures: max_failures * 4,
        window: 900,
        lock: lock * 5,
        max_lock: (lock * 60).max(3600),
    };
    // Metrics on their own, loopback-only address unless told otherwise; `off` disables them.
    let metrics = r.string("LATCH_METRICS_LISTEN", "127.0.0.1:9464");
    s.metrics_listen = match metrics.as_str() {
        "off" | "" => None,
        addr => Some(addr.parse().map_err(|_| {
            anyhow!(
                "invalid setting {}: `{addr}` is not an address:port (or `off`)",
                r.sources.label("LATCH_METRICS_LISTEN")
            )
        })?),
    };
    s.token_rate_limit = r.int("LATCH_TOKEN_RATE_LIMIT", 0, 0, 1_000_000)? as u32;
    s.request_timeout = Duration::from_secs(r.int("LATCH_REQUEST_TIMEOUT", 30, 1, 3600)? as u64);
    s.header_read_timeout =
        Duration::from_secs(r.int("LATCH_HEADER_READ_TIMEOUT", 10, 1, 3600)? as u64);
    s.max_connections = r.int("LATCH_MAX_CONNECTIONS", 10_000, 1, 1_000_000)? as usize;
    s.backchannel_allow_private = r.bool("LATCH_BACKCHANNEL_ALLOW_PRIVATE")?;
    s.access_log = r.bool("LATCH_ACCESS_LOG")?;
    s.audit_retention = r.duration(
        "LATCH_AUDIT_RETENTION",
        DEFAULT_AUDIT_RETENTION,
        ("1s", "3650d"),
    )?;
    // On unless turned off.
    s.admin_console =
        r.sources.get("LATCH_ADMIN_CONSOLE").is_none() || r.bool("LATCH_ADMIN_CONSOLE")?;
    s.smtp = match r.sources.get("LATCH_SMTP_URL") {
        Some(url) if !url.trim().is_empty() => Some(
            latch_server::mail::SmtpSettings::parse(
                &url,
                r.sources.get("LATCH_SMTP_FROM").as_deref(),
            )
            .map_err(|e| anyhow!("{e}"))?,
        ),
        _ => None,
    };
    let log_format = r.string("LATCH_LOG_FORMAT", "human");
    if !matches!(log_format.as_str(), "human" | "json") {
        return Err(anyhow!(
            "invalid setting {}: `{log_format}` is not `human` or `json`",
            r.sources.label("LATCH_LOG_FORMAT")
        ));
    }
    let log_filter = r.string("LATCH_LOG", "info");
    if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&log_filter) {
        return Err(anyhow!(
            "invalid setting {}: `{log_filter}` is not a log filter ({e}); e.g. `info` or `latch=debug,info`",
            r.sources.label("LATCH_LOG")
        ));
    }
    let warnings = listen_warning(&s).into_iter().collect();
    Ok(Loaded {
        server: s,
        log_format,
        log_filter,
        warnings,
    })
}

/// `LATCH_BRANDING_*`: the name defaults to the environment's; a bad logo URL or colour is refused.
fn branding(r: &Reader, environment_name: &str) -> anyhow::Result<Branding> {
    let invalid = |env: &'static str, reason: String| {
        anyhow!("invalid setting {}: {reason}", r.sources.label(env))
    };
    let name = r.string("LATCH_BRANDING_NAME", environment_name);
    if name.trim().is_empty() || name.chars().count() > 100 {
        return Err(invalid(
            "LATCH_BRANDING_NAME",
            "must be 1 to 100 characters".to_owned(),
        ));
    }
    let logo_url = match r.sources.get("LATCH_BRANDING_LOGO_URL") {
        Some(v) if !v.trim().is_empty() => {
            Some(Branding::parse_logo_url(&v).map_err(|e| invalid("LATCH_BRANDING_LOGO_URL", e))?)
        }
        _ => None,
    };
    let primary_color =
        Branding::parse_color(&r.string("LATCH_BRANDING_PRIMARY_COLOR", DEFAULT_PRIMARY_COLOR))
            .map_err(|e| invalid("LATCH_BRANDING_PRIMARY_COLOR", e))?;
    Ok(Branding {
        name: name.trim().to_owned(),
        logo_url,
        primary_color,
    })
}

/// On a loopback issuer, the issuer's port is where browsers and clients are sent: a server
/// listening elsewhere is almost always a forgotten `LATCH_ISSUER` (no proxy sits in between).
fn listen_warning(s: &Settings) -> Option<String> {
    let issuer = url::Url::parse(&s.issuer).ok()?;
    if !latch_core::redirect::is_loopback_host(issuer.host()) {
        return None;
    }
    let port = issuer.port_or_known_default()?;
    let ip = s.listen.ip();
    let same_host = match issuer.host()? {
        url::Host::Ipv4(v4) => ip.is_unspecified() || ip == std::net::IpAddr::V4(v4),
        url::Host::Ipv6(v6) => ip.is_unspecified() || ip == std::net::IpAddr::V6(v6),
        url::Host::Domain(_) => ip.is_loopback() || ip.is_unspecified(),
    };
    if port == s.listen.port() && same_host {
        return None;
    }
    Some(format!(
        "LATCH_LISTEN is {} but LATCH_ISSUER is {}: discovery, redirects and tokens name the issuer; \
         set LATCH_ISSUER to match the address clients use",
        s.listen, s.issuer
    ))
}

/// Logs go to stderr (stdout carries the CLI's JSON). Administration commands log warnings only.
pub fn init_logging(loaded: &Loaded, serving: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = if serving {
        loaded.log_filter.as_str()
    } else {
        "warn"
    };
    // `load` refused a filter that does not parse.
    let filter = EnvFilter::builder()
        .parse(filter)
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: a log file or journal gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    if loaded.log_format == "json" {
        builder.json().with_writer(JsonLines).init();
    } else {
        builder.with_writer(std::io::stderr).init();
    }
}

/// Standard error for JSON logs, where an audit event's `details` (a JSON object logged as its
/// text) is written as the object itself, so that log tools can query `fields.details.reason`.
struct JsonLines;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for JsonLines {
    type Writer = JsonLine;

    fn make_writer(&'a self) -> Self::Writer {
        JsonLine
    }
}

struct JsonLine;

impl std::io::Write for JsonLine {
    /// The formatter hands over one whole line per event.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut err = std::io::stderr().lock();
        match audit_details_as_object(buf) {
            Some(line) => err.write_all(&line)?,
            None => err.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// The line with `fields.details` parsed, if it is an audit event whose details are JSON text.
fn audit_details_as_object(line: &[u8]) -> Option<Vec<u8>> {
    use serde_json::Value;
    if !line.windows(13).any(|w| w == b"latch::audit\"") {
        return None;
    }
    let mut event: Value = serde_json::from_slice(line).ok()?;
    let details = event.get_mut("fields")?.get_mut("details")?;
    let parsed: Value = serde_json::from_str(details.as_str()?).ok()?;
    *details = parsed;
    let mut out = serde_json::to_vec(&event).ok()?;
    out.push(b'\n');
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests panic on failure")]

    use super::*;

    fn settings(issuer: &str, listen: &str) -> Settings {
        Settings::new(issuer, listen, "sqlite://x.db").unwrap()
    }

    #[test]
    fn audit_details_become_a_json_object_in_json_logs() {
        let line = br#"{"level":"INFO","fields":{"message":"audit event","details":"{\"reason\":\"logout\"}"},"target":"latch::audit"}
"#;
        let out: serde_json::Value =
            serde_json::from_slice(&audit_details_as_object(line).unwrap()).unwrap();
        assert_eq!(out["fields"]["details"]["reason"], "logout");
        let other = br#"{"fields":{"details":"{}"},"target":"latch::access"}"#;
        assert!(audit_details_as_object(other).is_none());
    }

    #[test]
    fn a_loopback_issuer_that_does_not_name_the_listen_address_is_warned_about() {
        let warn = |i, l| listen_warning(&settings(i, l));
        assert!(warn("http://127.0.0.1:8080", "127.0.0.1:19081").is_some());
        assert!(warn("http://localhost:8080", "127.0.0.1:9000").is_some());
        assert!(warn("http://127.0.0.1:8080", "127.0.0.1:8080").is_none());
        assert!(warn("http://localhost:8080", "127.0.0.1:8080").is_none());
        assert!(warn("http://127.0.0.1:8080", "0.0.0.0:8080").is_none());
        // Behind a proxy the public issuer names another host: nothing to say.
        assert!(warn("https://login.example.com", "0.0.0.0:8080").is_none());
    }
}
