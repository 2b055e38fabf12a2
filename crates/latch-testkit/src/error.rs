//! The one error type of the testkit, for the few operations a test may expect to fail.

use std::process::ExitStatus;

/// Why a [`crate::LatchServer`] could not be started, or an HTTP helper failed.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// The binary could not be spawned at all (wrong path, not executable).
    #[error("could not spawn {bin}: {source}")]
    Spawn {
        /// The path given to the builder.
        bin: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The server exited before `/healthz` answered 200 (e.g. it refused its configuration).
    #[error("latch exited with {status} before becoming ready; logs:\n{logs}")]
    Exited {
        /// How the process ended.
        status: ExitStatus,
        /// Everything it printed on stdout and stderr.
        logs: String,
    },
    /// `/healthz` did not answer 200 within the startup timeout.
    #[error("latch did not answer 200 on {url} within {seconds} s; logs:\n{logs}")]
    NotReady {
        /// The health URL that was polled.
        url: String,
        /// The timeout, in seconds.
        seconds: u64,
        /// Everything it printed on stdout and stderr.
        logs: String,
    },
    /// An HTTP request made by a testkit helper failed below HTTP (connection refused, …).
    #[error("HTTP request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The `openidconnect` crate handed over a request that could not be converted.
    #[error("invalid HTTP request or response: {0}")]
    InvalidHttp(String),
}
