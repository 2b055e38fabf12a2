//! The one table of settings: every `LATCH_*` variable (and its TOML key) with its default and
//! meaning. It drives the environment reader (unknown variables are refused), the TOML reader
//! (unknown keys are refused), `latch serve --help`, and a test that the README's table is this one.

/// One setting. Its TOML key is the variable's name without `LATCH_`, lower-cased.
pub struct Setting {
    pub env: &'static str,
    /// As shown to people (`none` when unset means "off" or "derived").
    pub default: &'static str,
    pub help: &'static str,
}

impl Setting {
    /// `LATCH_TOKEN_RATE_LIMIT` → `token_rate_limit`.
    pub fn toml_key(&self) -> String {
        self.env
            .strip_prefix("LATCH_")
            .unwrap_or(self.env)
            .to_ascii_lowercase()
    }
}

const fn s(env: &'static str, default: &'static str, help: &'static str) -> Setting {
    Setting { env, default, help }
}

pub const SETTINGS: &[Setting] = &[
    s(
        "LATCH_ISSUER",
        "http://127.0.0.1:8080",
        "issuer URL; `http` only for loopback hosts",
    ),
    s("LATCH_LISTEN", "127.0.0.1:8080", "address to bind"),
    s(
        "LATCH_DATABASE_URL",
        "sqlite://latch.db",
        "`sqlite://PATH` or `postgres://…`",
    ),
    s(
        "LATCH_MASTER_KEY",
        "key file beside the SQLite database",
        "base64 of 32 random bytes encrypting the signing keys; required with PostgreSQL, the same on every node (`openssl rand -base64 32`)",
    ),
    s(
        "LATCH_REFRESH_REUSE_WINDOW",
        "10",
        "seconds in which a just-rotated refresh token presented again gets the same successor (0–300)",
    ),
    s(
        "LATCH_KEY_PROPAGATION_DELAY",
        "600",
        "seconds between publishing a rotated key and signing with it",
    ),
    s(
        "LATCH_SESSION_IDLE_TIMEOUT",
        "86400",
        "seconds a browser session lasts unused",
    ),
    s(
        "LATCH_SESSION_ABSOLUTE_TIMEOUT",
        "1209600",
        "seconds a browser session lasts at most",
    ),
    s(
        "LATCH_REFRESH_TOKEN_TTL",
        "2592000",
        "refresh token lifetime in seconds (sliding, per rotation)",
    ),
    s(
        "LATCH_BODY_LIMIT",
        "65536",
        "largest request body in bytes (larger → 413)",
    ),
    s(
        "LATCH_ENVIRONMENT_NAME",
        "Latch",
        "the environment's name; the hosted pages show it unless `LATCH_BRANDING_NAME` is set",
    ),
    s(
        "LATCH_BRANDING_NAME",
        "LATCH_ENVIRONMENT_NAME's value",
        "name at the top of every hosted page and in its title (1–100 characters)",
    ),
    s(
        "LATCH_BRANDING_LOGO_URL",
        "none",
        "logo shown on the hosted pages (alt text: the name); https, or http on loopback; the browser fetches it and the pages' CSP allows its origin",
    ),
    s(
        "LATCH_BRANDING_PRIMARY_COLOR",
        "#3466d6",
        "colour of the hosted pages' buttons and focus rings, `#rrggbb`",
    ),
    s(
        "LATCH_LOG_FORMAT",
        "human",
        "`human` or `json` (structured logs)",
    ),
    s(
        "LATCH_LOG",
        "info",
        "a tracing filter (`info`, `latch=debug,info`); an invalid one is refused",
    ),
    s(
        "LATCH_ACCESS_LOG",
        "off",
        "`on`: one log line per request (method, route, status, duration, client address)",
    ),
    s(
        "LATCH_AUDIT_RETENTION",
        "30d",
        "how long history is kept: the audit log, finished back-channel deliveries and e-mail, expired invitations (`30d`, `12h`, `90m`, `45s`; 1s to 3650d). Ended sessions and revoked or expired refresh grants are kept a day, or this if shorter; nothing still in use is purged (docs/deploy.md, \"Retention\")",
    ),
    s(
        "LATCH_TRUSTED_PROXIES",
        "none",
        "proxies (addresses or CIDR blocks, comma-separated) whose `X-Forwarded-For` is believed",
    ),
    s(
        "LATCH_LOGIN_MAX_FAILURES",
        "5",
        "failures before a lock: per account (browsers without its device cookie), per device cookie, and per (client, address) at the token endpoint; per address (sign-ins only): 4×. See \"Abuse limits\"",
    ),
    s(
        "LATCH_LOGIN_LOCK_SECONDS",
        "60",
        "the first lock's length; it doubles, up to 15× (per address: 5×)",
    ),
    s(
        "LATCH_TOKEN_RATE_LIMIT",
        "0",
        "token-endpoint requests per second per authenticated client and node (burst: twice that; 0: off); over it → 429",
    ),
    s(
        "LATCH_REQUEST_TIMEOUT",
        "30",
        "seconds before a request is answered 408",
    ),
    s(
        "LATCH_HEADER_READ_TIMEOUT",
        "10",
        "seconds a connection may take to send a request's head (and an idle keep-alive connection may wait for the next); then it is closed",
    ),
    s(
        "LATCH_MAX_CONNECTIONS",
        "10000",
        "open connections at most; further ones wait in the listen backlog",
    ),
    s(
        "LATCH_BACKCHANNEL_ALLOW_PRIVATE",
        "off",
        "`on`: back-channel logout URLs may reach private and link-local addresses (10/8, 172.16/12, 192.168/16, 169.254/16, 100.64/10, fc00::/7, fe80::/10); loopback is always allowed",
    ),
    s(
        "LATCH_SMTP_URL",
        "none",
        "SMTP server for e-mail (password reset): `smtp://host:port` (STARTTLS when offered; `?tls=required` to insist), `smtps://host:port` (implicit TLS), optional `user:password@` (percent-encoded); unset: e-mail features are off",
    ),
    s(
        "LATCH_SMTP_FROM",
        "none",
        "`From` of every e-mail, `no-reply@example.com` or `Name <no-reply@example.com>`; required with `LATCH_SMTP_URL`",
    ),
    s(
        "LATCH_METRICS_LISTEN",
        "127.0.0.1:9464",
        "Prometheus `/metrics`, on its own address (`off` to disable); an address that cannot be bound is refused",
    ),
    s(
        "LATCH_ADMIN_CONSOLE",
        "on",
        "`off`: no admin console; `on`: the console at `/admin`, for users with the `admin` flag (`latch users create --admin`, `latch users grant-admin EMAIL`)",
    ),
];

pub fn find(env: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.env == env)
}

/// The closest of `candidates` to `name` within a few edits, for "did you mean".
pub fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.len() / 3).clamp(1, 4);
    candidates
        .map(|c| (distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over bytes (names are ASCII).
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
/// The README's table row for a setting.
pub fn markdown_row(s: &Setting) -> String {
    let default = if s.default.contains(' ') {
        s.default.to_owned()
    } else {
        format!("`{}`", s.default)
    };
    format!("| `{}` | {default} | {} |", s.env, s.help)
}

/// The settings as `latch serve --help` lists them.
pub fn help_text() -> String {
    let mut out = String::from(
        "Settings (environment variables; in the --config TOML file the same names lower-case \
         without LATCH_; the variables win):\n",
    );
    for s in SETTINGS {
        out.push_str(&format!(
            "  {:<32} {}\n  {:<32} default: {}\n",
            s.env,
            s.help.replace('`', ""),
            "",
            s.default
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_table_is_the_settings_table() {
        let readme = include_str!("../../../../README.md");
        let rows: Vec<&str> = readme
            .lines()
            .filter(|l| l.starts_with("| `LATCH_"))
            .collect();
        let expected: Vec<String> = SETTINGS.iter().map(markdown_row).collect();
        assert_eq!(
            rows,
            expected.iter().map(String::as_str).collect::<Vec<_>>(),
            "README.md's configuration table must list exactly these rows, in this order:\n{}",
            expected.join("\n")
        );
    }

    #[test]
    fn misspelt_names_get_the_nearest_setting() {
        let names = || SETTINGS.iter().map(|s| s.env);
        assert_eq!(suggest("LATCH_ISSUR", names()), Some("LATCH_ISSUER"));
        assert_eq!(
            suggest("LATCH_DATABASEURL", names()),
            Some("LATCH_DATABASE_URL")
        );
        assert_eq!(suggest("LATCH_SOMETHING_ELSE_ENTIRELY", names()), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn every_setting_is_named_latch_and_listed_once() {
        for (i, s) in SETTINGS.iter().enumerate() {
            assert!(s.env.starts_with("LATCH_"), "{}", s.env);
            assert!(!s.help.is_empty(), "{}", s.env);
            assert!(
                SETTINGS[i + 1..].iter().all(|o| o.env != s.env),
                "{}",
                s.env
            );
        }
    }
}
