//! Throw-away PostgreSQL databases for tests, created and dropped with the `psql` command
//! (there is no PostgreSQL client crate in the workspace).

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};

use url::Url;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A database `latch_test_<name>_<unique>` created for one test; dropped (`WITH (FORCE)`)
/// when this guard is dropped. Keep it alive longer than the server using it.
#[derive(Debug)]
pub struct PostgresTestDb {
    admin_url: String,
    name: String,
    url: String,
}

impl PostgresTestDb {
    /// Creates a fresh database on the server of `LATCH_TEST_POSTGRES_URL`
    /// (default `postgres://postgres@127.0.0.1:5432/test`).
    ///
    /// If PostgreSQL is unreachable: panics when `CI=true`, else prints a loud
    /// "SKIPPING PostgreSQL test" and returns `None`.
    pub fn create(test_name: &str) -> Option<PostgresTestDb> {
        let base =
            std::env::var("LATCH_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
        let on_ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
        match create_database(&base, test_name) {
            Ok(db) => Some(db),
            Err(reason) if on_ci => panic!("PostgreSQL is required on CI (CI=true): {reason}"),
            Err(reason) => {
                eprintln!("\n*** SKIPPING PostgreSQL test `{test_name}`: {reason}");
                eprintln!("*** set LATCH_TEST_POSTGRES_URL to a reachable server to run it ***\n");
                None
            }
        }
    }

    /// The `postgres://…` URL of the new database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for PostgresTestDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(reason) = psql(&self.admin_url, &sql) {
            eprintln!(
                "warning: could not drop test database {}: {reason}",
                self.name
            );
        }
    }
}

/// Creates a fresh database and returns its URL, leaving it in place after the test (use
/// [`PostgresTestDb`] to have it dropped). `None` (with a loud message) when PostgreSQL is
/// unreachable outside CI; panics on CI.
pub fn postgres_url_for_test(test_name: &str) -> Option<String> {
    let db = PostgresTestDb::create(test_name)?;
    let url = db.url.clone();
    std::mem::forget(db);
    Some(url)
}

fn create_database(base: &str, test_name: &str) -> Result<PostgresTestDb, String> {
    let base_url =
        Url::parse(base).map_err(|e| format!("LATCH_TEST_POSTGRES_URL {base:?}: {e}"))?;
    // pg_isready missing is not fatal: psql below will tell.
    let ready = Command::new("pg_isready").arg("-d").arg(base).output();
    if let Ok(out) = &ready
        && !out.status.success()
    {
        return Err(format!(
            "pg_isready -d {}: {}",
            redact(&base_url),
            describe(out)
        ));
    }
    let name = database_name(test_name);
    let sql = format!("CREATE DATABASE \"{name}\"");
    // CREATE DATABASE needs a connection to some database: the given one, else `postgres`.
    let mut maintenance = base_url.clone();
    maintenance.set_path("/postgres");
    let mut errors = Vec::new();
    let mut admin_url = None;
    for admin in [base_url.to_string(), maintenance.to_string()] {
        match psql(&admin, &sql) {
            Ok(()) => {
                admin_url = Some(admin);
                break;
            }
            Err(e) => errors.push(e),
        }
    }
    let admin_url = admin_url
        .ok_or_else(|| format!("psql on {}: {}", redact(&base_url), errors.join(" / ")))?;
    let mut url = base_url;
    url.set_path(&format!("/{name}"));
    Ok(PostgresTestDb {
        admin_url,
        name,
        url: url.to_string(),
    })
}

/// `latch_test_<sanitized name>_<pid>_<counter>_<random>`, within PostgreSQL's 63 bytes.
fn database_name(test_name: &str) -> String {
    let mut slug: String = test_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    slug.truncate(24);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "latch_test_{slug}_{}_{n}_{}",
        std::process::id(),
        crate::random_hex(4)
    )
}

fn psql(url: &str, sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(describe(&out))
    }
}

fn describe(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    format!("{} {} {}", out.status, stderr.trim(), stdout.trim())
}

/// The URL without its password, for messages.
fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_unique_sanitized_and_short_enough() {
        let a = database_name("Back-channel logout: retries after restart!");
        let b = database_name("Back-channel logout: retries after restart!");
        assert_ne!(a, b);
        assert!(a.len() <= 63, "{a}");
        assert!(a.starts_with("latch_test_back_channel_logout__"), "{a}");
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        );
    }

    #[test]
    fn passwords_are_redacted_in_messages() {
        let url = Url::parse("postgres://u:secret@127.0.0.1:5432/test").expect("url");
        assert!(!redact(&url).contains("secret"));
    }

    #[test]
    fn a_test_database_is_created_and_dropped_when_postgres_is_reachable() {
        let Some(db) = PostgresTestDb::create("testkit self test") else {
            return;
        };
        let url = db.url().to_owned();
        psql(&url, "SELECT 1").expect("connect to the new database");
        drop(db);
        assert!(
            psql(&url, "SELECT 1").is_err(),
            "database should be dropped"
        );
    }
}
