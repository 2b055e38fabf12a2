//! # latch-bench
//!
//! A load driver for an OpenID provider listening on loopback (Latch or any other): the token
//! endpoint's grants, the SSO code flow, chained refresh, `/userinfo`, JWKS, discovery, password
//! sign-ins and a mixed run, each with C keep-alive clients for D seconds after a warm-up, one
//! JSON line each; with `--open-loop`, each also at constant arrival rates (latency from the
//! scheduled send, as wrk2 measures it).
//! It also measures the one-core signature ceiling that the token figures are compared with, waits
//! for readiness (start-up timing), and renders a run's JSON lines as Markdown (`--report`).
//!
//! It owns no server code and depends on no Latch crate: it speaks HTTP, and provisions Latch
//! through its CLI. It refuses non-loopback issuers, and every loop stops by time and by a total
//! request budget.

mod argon2_cpu;
mod ceiling;
mod form;
mod oidc;
mod provision;
mod report;
mod soak;
mod stats;
mod userinfo;
mod workloads;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use clap::{Parser, ValueEnum};
use serde_json::{Value, json};
use url::{Host, Url};

use crate::oidc::{Client, Provider, User};
use crate::workloads::{Settings, Shared};

#[derive(Clone, Copy, ValueEnum)]
enum Alg {
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "ES256")]
    Es256,
}

impl Alg {
    fn as_str(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }
}

#[derive(Parser)]
#[command(
    name = "latch-bench",
    about = "Load driver for an OpenID provider on loopback"
)]
struct Args {
    /// The provider's issuer URL; loopback hosts only.
    #[arg(long)]
    issuer: Option<Url>,
    /// Comma-separated: client_credentials, sso_code_flow, refresh, jwks, discovery, login, mixed,
    /// all (those eight with userinfo), soak (whole minutes of --duration, mixed traffic with
    /// back-channel logouts), signature-ceiling, argon2 (CPU per password hash of each
    /// implementation, --duration seconds in all), wait-ready.
    #[arg(long, default_value = "all")]
    workload: String,
    /// Concurrent keep-alive clients per workload (the login storm's size in `mixed`).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Measured seconds per workload.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Warm-up seconds before each measurement.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// A confidential client (client_secret_basic) of an existing provider.
    #[arg(long, requires = "client_secret")]
    client_id: Option<String>,
    #[arg(long, requires = "client_id")]
    client_secret: Option<String>,
    /// A user of an existing provider, for the workloads that sign in.
    #[arg(long, requires = "password")]
    email: Option<String>,
    #[arg(long, requires = "email")]
    password: Option<String>,
    /// Provision a web app, an SPA and a user with this `latch` binary (same LATCH_* environment).
    #[arg(long, value_name = "PATH_TO_LATCH", conflicts_with_all = ["client_id", "email"])]
    provision_with: Option<PathBuf>,
    /// Signing algorithm of the provisioned applications (a label with --client-id); the
    /// signature ceiling measures both when omitted.
    #[arg(long)]
    alg: Option<Alg>,
    /// Redirect URI registered for the clients (never fetched: the driver reads the Location).
    #[arg(long, default_value = "http://127.0.0.1:9/callback")]
    redirect_uri: String,
    /// Also run each workload (but `mixed`) open-loop: a constant arrival rate, latency counted from
    /// each request's scheduled instant (coordinated omission corrected, as wrk2 does). Comma-
    /// separated rates (`2000`) or shares of the capacity the same workload measures closed-loop
    /// just before (`50%,70%`).
    #[arg(long, value_name = "RATE|PERCENT%")]
    open_loop: Option<String>,
    /// client_credentials requests per second during the `mixed` login storm.
    #[arg(long, default_value_t = 200)]
    mixed_rate: u32,
    /// Safety cap on HTTP requests over the whole run.
    #[arg(long, default_value_t = 5_000_000)]
    max_requests: u64,
    /// The server's PID, to report its CPU share over each measured window.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Record the server's CPU profile (`perf record -p SERVER_PID`) over each measured window,
    /// one `WORKLOAD-ALG.perf.data` file per workload in this directory. Sampling costs the
    /// server a little: figures of a profiled run are not the ones to report.
    #[arg(long, value_name = "DIR", requires = "server_pid")]
    profile_dir: Option<PathBuf>,
    /// Seconds `wait-ready` polls /healthz.
    #[arg(long, default_value_t = 30.0)]
    ready_timeout: f64,
    /// Render a run's JSON lines (a file) as Markdown tables and exit.
    #[arg(long, value_name = "JSONL")]
    report: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("latch-bench: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn emit(line: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn run(args: Args) -> anyhow::Result<()> {
    if let Some(path) = &args.report {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        print!("{}", report::render(&text));
        return Ok(());
    }
    let mut names: Vec<&str> = Vec::new();
    for n in args
        .workload
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        match n {
            "all" => names.extend(workloads::ALL),
            other => names.push(other),
        }
    }
    let ceiling_algs: Vec<&str> = args
        .alg
        .map_or_else(|| vec!["RS256", "ES256"], |a| vec![a.as_str()]);
    let (ceilings, http): (Vec<&str>, Vec<&str>) = names
        .into_iter()
        .partition(|n| matches!(*n, "signature-ceiling" | "signature_ceiling" | "argon2"));
    for name in &ceilings {
        if *name == "argon2" {
            for line in argon2_cpu::run(secs(args.duration)?)? {
                emit(&line);
            }
            continue;
        }
        for alg in &ceiling_algs {
            emit(&ceiling::run(alg, secs(args.duration)?)?);
        }
    }
    if http.is_empty() {
        return Ok(());
    }
    let issuer = args
        .issuer
        .clone()
        .ok_or_else(|| anyhow!("--issuer is required for HTTP workloads"))?;
    if !is_loopback(&issuer) {
        bail!("refusing {issuer}: the driver only loads loopback issuers");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(load(&args, &issuer, &http))
}

fn secs(s: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s).map_err(|e| anyhow!("bad duration {s}: {e}"))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(a)) => a.is_loopback(),
        Some(Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    }
}

/// Polls `/healthz` every millisecond; prints the wall-clock instant it first answered 200.
async fn wait_ready(issuer: &Url, timeout: Duration) -> anyhow::Result<Value> {
    let url = Url::parse(&format!(
        "{}/healthz",
        issuer.as_str().trim_end_matches('/')
    ))?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(r) = http.get(url.clone()).send().await
            && r.status() == reqwest::StatusCode::OK
        {
            let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
            return Ok(
                json!({"workload": "wait_ready", "ready_unix_ms": now.as_secs_f64() * 1000.0}),
            );
        }
        if Instant::now() > deadline {
            bail!("{url} did not answer 200 within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn load(args: &Args, issuer: &Url, names: &[&str]) -> anyhow::Result<()> {
    if names.contains(&"wait-ready") {
        emit(&wait_ready(issuer, secs(args.ready_timeout)?).await?);
        if names.len() == 1 {
            return Ok(());
        }
    }
    let http = oidc::http_client()?;
    let provider = Provider::discover(&http, issuer)
        .await
        .context("discovery")?;
    let alg = args.alg.unwrap_or(Alg::Rs256).as_str();
    let fixture = match (&args.provision_with, &args.client_id, &args.client_secret) {
        (Some(latch), _, _) => provision::provision(latch, alg, &args.redirect_uri).await?,
        (None, Some(id), Some(secret)) => {
            let client = Client {
                id: id.clone(),
                secret: Some(secret.clone()),
                redirect_uri: args.redirect_uri.clone(),
            };
            let user = args
                .email
                .clone()
                .zip(args.password.clone())
                .map(|(email, password)| User { email, password });
            provision::Fixture {
                web: client.clone(),
                spa: client,
                user,
            }
        }
        _ => bail!("give --provision-with PATH, or --client-id and --client-secret"),
    };
    provision::await_client(&http, &provider, &fixture.web).await?;
    if let Some(dir) = &args.profile_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let shared = Arc::new(Shared {
        provider,
        web: fixture.web,
        spa: fixture.spa,
        user: fixture.user,
    });
    let settings = Settings {
        alg: alg.to_owned(),
        concurrency: args.concurrency.max(1),
        warmup: secs(args.warmup)?,
        duration: secs(args.duration)?,
        mixed_rate: args.mixed_rate,
        server_pid: args.server_pid,
        profile_dir: args.profile_dir.clone(),
        used: Arc::new(AtomicU64::new(0)),
        cap: args.max_requests,
        latch: args.provision_with.clone(),
        open_loop: args
            .open_loop
            .as_deref()
            .map(workloads::OpenLoop::parse_list)
            .transpose()?
            .unwrap_or_default(),
    };
    for name in names.iter().filter(|n| **n != "wait-ready") {
        for line in workloads::run(name, &shared, &settings)
            .await
            .with_context(|| format!("workload {name}"))?
        {
            emit(&line);
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_issuers_are_loaded() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:8080",
            "http://127.1.2.3",
        ] {
            assert!(is_loopback(&Url::parse(ok).unwrap()), "{ok}");
        }
        for no in [
            "https://example.com",
            "http://10.0.0.1",
            "http://127.0.0.1.nip.io",
        ] {
            assert!(!is_loopback(&Url::parse(no).unwrap()), "{no}");
        }
    }
}
