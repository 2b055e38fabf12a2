//! Configuration: an optional TOML file, then `LATCH_*` environment variables, which win.

use std::path::Path;

use anyhow::{Context, anyhow};
use latch_core::throttle::ThrottlePolicy;
use latch_server::Settings;
use latch_server::settings::{DEFAULT_DATABASE_URL, DEFAULT_ISSUER, DEFAULT_LISTEN};
use serde::Deserialize;

/// The TOML file's keys: the environment variables' names without `LATCH_`, lower-cased.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    issuer: Option<String>,
    listen: Option<String>,
    database_url: Option<String>,
    master_key: Option<String>,
    refresh_reuse_window: Option<i64>,
    key_propagation_delay: Option<i64>,
    session_idle_timeout: Option<i64>,
    session_absolute_timeout: Option<i64>,
    refresh_token_ttl: Option<i64>,
    body_limit: Option<i64>,
    environment_name: Option<String>,
    log_format: Option<String>,
    log: Option<String>,
    trusted_proxies: Option<String>,
    metrics_listen: Option<String>,
    login_max_failures: Option<i64>,
    login_lock_seconds: Option<i64>,
    header_read_timeout: Option<i64>,
    max_connections: Option<i64>,
    backchannel_allow_private: Option<bool>,
}

pub struct Loaded {
    pub server: Settings,
    pub log_format: String,
    pub log_filter: String,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn string(var: &str, file: Option<String>, default: &str) -> String {
    env(var).or(file).unwrap_or_else(|| default.to_owned())
}

fn seconds(
    var: &'static str,
    file: Option<i64>,
    default: i64,
    min: i64,
    max: i64,
) -> anyhow::Result<i64> {
    let value = match env(var) {
        Some(v) => v
            .trim()
            .parse::<i64>()
            .map_err(|_| anyhow!("invalid setting {var}: `{v}` is not a whole number"))?,
        None => file.unwrap_or(default),
    };
    if !(min..=max).contains(&value) {
        return Err(anyhow!(
            "invalid setting {var}: {value} is outside {min}..={max}"
        ));
    }
    Ok(value)
}

fn boolean(var: &'static str, file: Option<bool>) -> anyhow::Result<bool> {
    match env(var).as_deref().map(str::trim) {
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(v) => Err(anyhow!("invalid setting {var}: `{v}` is not true or false")),
        None => Ok(file.unwrap_or(false)),
    }
}

pub fn load(path: Option<&Path>) -> anyhow::Result<Loaded> {
    let file: FileConfig = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read config file {}", p.display()))?;
            toml::from_str(&text)
                .map_err(|e| anyhow!("invalid config file {}: {}", p.display(), e.message()))?
        }
        None => FileConfig::default(),
    };
    let issuer = string("LATCH_ISSUER", file.issuer, DEFAULT_ISSUER);
    let listen = string("LATCH_LISTEN", file.listen, DEFAULT_LISTEN);
    let database_url = string(
        "LATCH_DATABASE_URL",
        file.database_url,
        DEFAULT_DATABASE_URL,
    );
    let mut s = Settings::new(&issuer, &listen, &database_url)?;
    s.master_key = env("LATCH_MASTER_KEY").or(file.master_key);
    s.refresh_reuse_window = seconds(
        "LATCH_REFRESH_REUSE_WINDOW",
        file.refresh_reuse_window,
        10,
        0,
        300,
    )?;
    s.key_propagation_delay = seconds(
        "LATCH_KEY_PROPAGATION_DELAY",
        file.key_propagation_delay,
        600,
        0,
        7 * 86_400,
    )?;
    s.session_idle_timeout = seconds(
        "LATCH_SESSION_IDLE_TIMEOUT",
        file.session_idle_timeout,
        86_400,
        60,
        365 * 86_400,
    )?;
    s.session_absolute_timeout = seconds(
        "LATCH_SESSION_ABSOLUTE_TIMEOUT",
        file.session_absolute_timeout,
        14 * 86_400,
        60,
        365 * 86_400,
    )?;
    s.refresh_token_ttl = seconds(
        "LATCH_REFRESH_TOKEN_TTL",
        file.refresh_token_ttl,
        30 * 86_400,
        60,
        365 * 86_400,
    )?;
    s.body_limit = seconds(
        "LATCH_BODY_LIMIT",
        file.body_limit,
        64 * 1024,
        1024,
        16 * 1024 * 1024,
    )? as usize;
    s.environment_name = string("LATCH_ENVIRONMENT_NAME", file.environment_name, "Latch");
    let proxies = string("LATCH_TRUSTED_PROXIES", file.trusted_proxies, "");
    s.trusted_proxies = proxies
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            latch_server::client_ip::IpBlock::parse(p).ok_or_else(|| {
                anyhow!(
                    "invalid setting LATCH_TRUSTED_PROXIES: `{}` is not an address or CIDR block",
                    p.trim()
                )
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let max_failures = seconds(
        "LATCH_LOGIN_MAX_FAILURES",
        file.login_max_failures,
        5,
        1,
        1000,
    )?;
    let lock = seconds(
        "LATCH_LOGIN_LOCK_SECONDS",
        file.login_lock_seconds,
        60,
        1,
        86_400,
    )?;
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
    let metrics = string(
        "LATCH_METRICS_LISTEN",
        file.metrics_listen,
        "127.0.0.1:9464",
    );
    s.metrics_listen = match metrics.as_str() {
        "off" | "" => None,
        addr => Some(addr.parse().map_err(|_| {
            anyhow!(
                "invalid setting LATCH_METRICS_LISTEN: `{addr}` is not an address:port (or `off`)"
            )
        })?),
    };
    s.token_rate_limit = seconds("LATCH_TOKEN_RATE_LIMIT", None, 0, 0, 1_000_000)? as u32;
    s.request_timeout =
        std::time::Duration::from_secs(seconds("LATCH_REQUEST_TIMEOUT", None, 30, 1, 3600)? as u64);
    s.header_read_timeout = std::time::Duration::from_secs(seconds(
        "LATCH_HEADER_READ_TIMEOUT",
        file.header_read_timeout,
        10,
        1,
        3600,
    )? as u64);
    s.max_connections = seconds(
        "LATCH_MAX_CONNECTIONS",
        file.max_connections,
        10_000,
        1,
        1_000_000,
    )? as usize;
    s.backchannel_allow_private = boolean(
        "LATCH_BACKCHANNEL_ALLOW_PRIVATE",
        file.backchannel_allow_private,
    )?;
    let log_format = string("LATCH_LOG_FORMAT", file.log_format, "human");
    if !matches!(log_format.as_str(), "human" | "json") {
        return Err(anyhow!(
            "invalid setting LATCH_LOG_FORMAT: `{log_format}` is not `human` or `json`"
        ));
    }
    let log_filter = string("LATCH_LOG", file.log, "info");
    Ok(Loaded {
        server: s,
        log_format,
        log_filter,
    })
}

/// Logs go to stderr (stdout carries the CLI's JSON). Administration commands log warnings only.
pub fn init_logging(loaded: &Loaded, serving: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = if serving {
        loaded.log_filter.as_str()
    } else {
        "warn"
    };
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: a log file or journal gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if loaded.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
