//! Test support for Latch's end-to-end tests.
//!
//! This crate owns the helpers that drive the real `latch` binary from the outside, through its
//! external surface only (the endpoints, the CLI and the settings the README and `docs/` describe):
//!
//! - [`LatchServer`] spawns the binary on a free loopback port with a fresh database, waits for
//!   `/healthz`, captures its logs, and runs its CLI against the same database;
//! - [`Browser`] is a cookie-keeping HTTP client that follows redirects by hand and fills the
//!   hosted login form (parsed by the small hand-written parser in [`html`]);
//! - [`rp`] plugs `reqwest` into the `openidconnect` crate so tests can act as a relying party;
//! - [`BackchannelReceiver`] records back-channel logout deliveries and can fail on purpose;
//! - [`SmtpReceiver`] holds real SMTP conversations on loopback and keeps the mail it is sent;
//! - [`PostgresTestDb`] creates a throw-away PostgreSQL database, or skips when none is reachable.
//!
//! It must not depend on any other Latch crate: the tests see the server as a black box.
//! Being test code, it reports failures by panicking with context (hence `expect` is allowed).
#![allow(clippy::expect_used)]

use std::future::Future;
use std::time::{Duration, Instant};

pub mod backchannel;
pub mod browser;
mod error;
pub mod html;
mod postgres;
pub mod rp;
mod server;
pub mod smtp;
mod tempdir;

pub use backchannel::{BackchannelReceiver, ReceivedLogout};
pub use browser::{AuthorizeStep, Browser};
pub use error::TestkitError;
pub use postgres::{PostgresTestDb, postgres_url_for_test};
pub use server::{LatchServer, LatchServerBuilder, random_master_key};
pub use smtp::{ReceivedMail, SmtpReceiver};
pub use tempdir::TempDir;

/// Returns a loopback TCP port that was free a moment ago (bound on `127.0.0.1:0`, then released).
pub fn free_port() -> u16 {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port");
    listener
        .local_addr()
        .expect("local address of a bound listener")
        .port()
}

/// Polls `condition` every 20 ms until it returns `true` (→ `true`) or `timeout` passes (→ `false`).
pub async fn wait_until<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Returns the value of the first query parameter `name` of `url` (e.g. `code` on a callback URL).
pub fn query_param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A short random lowercase hex string (`bytes` random bytes), for unique names.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).expect("system random generator");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_returns_a_port_that_can_be_bound_again() {
        let port = free_port();
        assert_ne!(port, 0);
        let listener = std::net::TcpListener::bind(("127.0.0.1", port));
        assert!(listener.is_ok(), "port {port} should be free again");
    }

    #[test]
    fn free_port_returns_different_ports_while_held() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let held_port = held.local_addr().expect("addr").port();
        assert_ne!(free_port(), held_port);
    }

    #[tokio::test]
    async fn wait_until_returns_true_once_the_condition_holds() {
        let start = Instant::now();
        let ok = wait_until(Duration::from_secs(2), || async move {
            start.elapsed() > Duration::from_millis(60)
        })
        .await;
        assert!(ok);
    }

    #[tokio::test]
    async fn wait_until_gives_up_after_the_timeout() {
        let start = Instant::now();
        assert!(!wait_until(Duration::from_millis(100), || async { false }).await);
        assert!(start.elapsed() >= Duration::from_millis(100));
    }

    #[test]
    fn query_param_reads_a_decoded_value() {
        let url = url::Url::parse("http://127.0.0.1:9/cb?code=a%2Bb&state=s").expect("url");
        assert_eq!(query_param(&url, "code").as_deref(), Some("a+b"));
        assert_eq!(query_param(&url, "missing"), None);
    }
}
