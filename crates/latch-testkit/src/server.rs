//! [`LatchServer`]: the real `latch` binary on a free loopback port, with captured logs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::{TempDir, TestkitError, free_port};

const POLL: Duration = Duration::from_millis(20);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// Returns a fresh `LATCH_MASTER_KEY` value: base64 of 32 random bytes.
pub fn random_master_key() -> String {
    let mut key = [0u8; 32];
    aws_lc_rs::rand::fill(&mut key).expect("system random generator");
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// Configures a [`LatchServer`] before it starts; see [`LatchServer::builder`].
#[derive(Debug)]
pub struct LatchServerBuilder {
    bin: PathBuf,
    env: BTreeMap<String, String>,
    args: Vec<String>,
    port: Option<u16>,
    startup_timeout: Duration,
}

impl LatchServerBuilder {
    /// Sets an environment variable for the server and its CLI; wins over the testkit's defaults.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Uses this `LATCH_DATABASE_URL` instead of a fresh SQLite file. A `postgres…` URL without
    /// an explicit `LATCH_MASTER_KEY` gets a random one (the contract requires it there).
    pub fn database_url(self, url: impl Into<String>) -> Self {
        self.env("LATCH_DATABASE_URL", url)
    }

    /// Sets `LATCH_LOG_FORMAT=json`.
    pub fn json_logs(self) -> Self {
        self.env("LATCH_LOG_FORMAT", "json")
    }

    /// Listens on this loopback port instead of a free one (e.g. to reuse a node's address).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Adds a command-line argument after `serve` (e.g. `--config FILE`).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// How long to wait for `/healthz` (default 15 s).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Starts the server and waits until `/healthz` answers 200, or says why it could not.
    pub async fn try_start(self) -> Result<LatchServer, TestkitError> {
        let port = self.port.unwrap_or_else(free_port);
        let dir = TempDir::new();
        let mut env = BTreeMap::from([
            ("LATCH_LISTEN".to_owned(), format!("127.0.0.1:{port}")),
            (
                "LATCH_ISSUER".to_owned(),
                format!("http://127.0.0.1:{port}"),
            ),
            (
                "LATCH_DATABASE_URL".to_owned(),
                format!("sqlite://{}", dir.path().join("latch.db").display()),
            ),
            // Tests run side by side: a shared default metrics port would stop all but one.
            ("LATCH_METRICS_LISTEN".to_owned(), "off".to_owned()),
        ]);
        env.extend(self.env);
        let on_postgres = env["LATCH_DATABASE_URL"].starts_with("postgres");
        if on_postgres && !env.contains_key("LATCH_MASTER_KEY") {
            env.insert("LATCH_MASTER_KEY".to_owned(), random_master_key());
        }
        let mut server = LatchServer {
            bin: self.bin,
            env,
            args: self.args,
            startup_timeout: self.startup_timeout,
            child: None,
            readers: Vec::new(),
            logs: Arc::new(Mutex::new(String::new())),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(2))
                .build()?,
            dir,
        };
        server.spawn_and_wait().await?;
        Ok(server)
    }

    /// Like [`Self::try_start`], panicking with the captured logs on failure.
    pub async fn start(self) -> LatchServer {
        self.try_start().await.unwrap_or_else(|e| panic!("{e}"))
    }
}

/// A running `latch serve` process on `127.0.0.1:<free port>`, with its issuer set to match,
/// a fresh SQLite database in a temporary directory (unless told otherwise), and its stdout and
/// stderr captured. Killed when dropped; the logs are printed if the test is panicking.
#[derive(Debug)]
pub struct LatchServer {
    bin: PathBuf,
    env: BTreeMap<String, String>,
    args: Vec<String>,
    startup_timeout: Duration,
    child: Option<Child>,
    readers: Vec<JoinHandle<()>>,
    logs: Arc<Mutex<String>>,
    http: reqwest::Client,
    dir: TempDir,
}

impl LatchServer {
    /// Starts `bin` with the defaults and waits for readiness; panics with the logs on failure.
    pub async fn start(bin: impl AsRef<Path>) -> LatchServer {
        LatchServer::builder(bin).start().await
    }

    /// A builder for a server with extra environment, another database, or another port.
    pub fn builder(bin: impl AsRef<Path>) -> LatchServerBuilder {
        LatchServerBuilder {
            bin: bin.as_ref().to_path_buf(),
            env: BTreeMap::new(),
            args: Vec::new(),
            port: None,
            startup_timeout: Duration::from_secs(15),
        }
    }

    /// The issuer (`LATCH_ISSUER`), e.g. `http://127.0.0.1:40123`.
    pub fn issuer(&self) -> &str {
        &self.env["LATCH_ISSUER"]
    }

    /// The issuer as a parsed URL.
    pub fn issuer_url(&self) -> url::Url {
        url::Url::parse(self.issuer()).expect("LATCH_ISSUER is a URL")
    }

    /// An absolute URL for `path` (starting with `/`) relative to the issuer.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer().trim_end_matches('/'))
    }

    /// The address the server listens on (`LATCH_LISTEN`).
    pub fn listen(&self) -> &str {
        &self.env["LATCH_LISTEN"]
    }

    /// The `LATCH_DATABASE_URL` the server and its CLI use.
    pub fn database_url(&self) -> &str {
        &self.env["LATCH_DATABASE_URL"]
    }

    /// The value of an environment variable passed to the server (`LATCH_MASTER_KEY`, …).
    pub fn env_var(&self, key: &str) -> Option<&str> {
        self.env.get(key).map(String::as_str)
    }

    /// The temporary directory holding the default SQLite database; removed on drop.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Everything the server printed on stdout and stderr so far, across restarts.
    pub fn logs(&self) -> String {
        self.logs.lock().expect("log buffer lock").clone()
    }

    /// Waits until the logs contain `needle`; `false` after `timeout`.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        crate::wait_until(timeout, || async { self.logs().contains(needle) }).await
    }

    /// Sends SIGTERM and waits for the process to exit (panics, after SIGKILL, if it takes
    /// more than 10 s). Returns how it exited.
    pub async fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("stop: the server is not running");
        if let Some(pid) = child.id() {
            let sent = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .expect("run `kill -TERM`");
            assert!(sent.success(), "`kill -TERM {pid}` failed");
        }
        match tokio::time::timeout(STOP_TIMEOUT, child.wait()).await {
            Ok(status) => {
                let status = status.expect("wait for latch");
                self.drain_readers().await;
                status
            }
            Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                self.drain_readers().await;
                panic!(
                    "latch did not exit within 10 s of SIGTERM; logs:\n{}",
                    self.logs()
                );
            }
        }
    }

    /// Kills the process with SIGKILL (no graceful shutdown) and waits for it.
    pub async fn kill9(&mut self) {
        let mut child = self.child.take().expect("kill9: the server is not running");
        child.start_kill().expect("send SIGKILL to latch");
        let _ = child.wait().await;
        self.drain_readers().await;
    }

    /// Stops the server if it runs (SIGTERM), then starts it again with the same environment,
    /// database and port, and waits for readiness.
    pub async fn restart(&mut self) {
        if self.child.is_some() {
            self.stop().await;
        }
        if let Err(e) = self.spawn_and_wait().await {
            panic!("restart: {e}");
        }
    }

    /// Runs `latch ARGS…` with the server's environment, asserts exit 0 and parses stdout as JSON.
    pub async fn cli(&self, args: &[&str]) -> serde_json::Value {
        let out = self.cli_output(args).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "latch {args:?} exited with {}\nstdout: {stdout}\nstderr: {stderr}",
            out.status
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("latch {args:?} did not print JSON ({e})\nstdout: {stdout}\nstderr: {stderr}")
        })
    }

    /// Runs `latch ARGS…` with the server's environment and returns its output, whatever the
    /// exit status (for failure cases). Panics if it runs for more than 30 s.
    pub async fn cli_output(&self, args: &[&str]) -> Output {
        let mut cmd = self.command();
        cmd.args(args).stdin(Stdio::null());
        match tokio::time::timeout(CLI_TIMEOUT, cmd.output()).await {
            Ok(out) => out.unwrap_or_else(|e| panic!("run {} {args:?}: {e}", self.bin.display())),
            Err(_) => panic!("latch {args:?} did not finish within 30 s"),
        }
    }

    /// Like [`Self::cli_output`], with some variables changed for this run only.
    pub async fn cli_output_with(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut cmd = self.command();
        cmd.envs(env.iter().copied())
            .args(args)
            .stdin(Stdio::null());
        match tokio::time::timeout(CLI_TIMEOUT, cmd.output()).await {
            Ok(out) => out.unwrap_or_else(|e| panic!("run {} {args:?}: {e}", self.bin.display())),
            Err(_) => panic!("latch {args:?} did not finish within 30 s"),
        }
    }

    /// A command for the binary with exactly the testkit's `LATCH_*` environment.
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        // Variables from the developer's shell must not leak into the test.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("LATCH_") {
                cmd.env_remove(key);
            }
        }
        cmd.envs(&self.env).kill_on_drop(true);
        cmd
    }

    async fn spawn_and_wait(&mut self) -> Result<(), TestkitError> {
        let mut cmd = self.command();
        cmd.arg("serve")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| TestkitError::Spawn {
            bin: self.bin.display().to_string(),
            source,
        })?;
        if let Some(out) = child.stdout.take() {
            self.readers.push(capture(out, self.logs.clone()));
        }
        if let Some(err) = child.stderr.take() {
            self.readers.push(capture(err, self.logs.clone()));
        }
        self.child = Some(child);
        self.wait_ready().await
    }

    async fn wait_ready(&mut self) -> Result<(), TestkitError> {
        let health = format!("http://{}/healthz", self.listen());
        let deadline = Instant::now() + self.startup_timeout;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                self.drain_readers().await;
                return Err(TestkitError::Exited {
                    status,
                    logs: self.logs(),
                });
            }
            if let Ok(resp) = self.http.get(&health).send().await
                && resp.status() == reqwest::StatusCode::OK
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(TestkitError::NotReady {
                    url: health,
                    seconds: self.startup_timeout.as_secs(),
                    logs: self.logs(),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits (briefly) for the log readers to reach end of file after the process exited.
    async fn drain_readers(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
        }
    }
}

impl Drop for LatchServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        if std::thread::panicking() {
            eprintln!("---- latch logs ({}) ----\n{}", self.issuer(), self.logs());
        }
    }
}

/// Copies a child's output stream, line by line, into the shared log buffer.
fn capture<R>(stream: R, logs: Arc<Mutex<String>>) -> JoinHandle<()>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    let mut buf = logs.lock().expect("log buffer lock");
                    buf.push_str(&text);
                    if !text.ends_with('\n') {
                        buf.push('\n');
                    }
                }
            }
        }
    })
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
