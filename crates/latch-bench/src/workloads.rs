//! The workloads: C workers (one keep-alive HTTP client each) set up first, then looping until the
//! plan's end — closed-loop (each worker sends when its previous answer arrives) or open-loop (each
//! worker paced to its share of a constant arrival rate, latency counted from the scheduled instant,
//! as wrk2 does); `mixed` adds an open-loop token generator at a fixed rate beside a login storm.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use serde_json::Value;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use crate::oidc::{self, Browser, Client, Pending, Provider, User};
use crate::stats::{self, CpuShare, Label, Plan, Recorder};

pub(crate) const SCOPE: &str = "openid profile email";
const OFFLINE_SCOPE: &str = "openid profile email offline_access";

/// What every worker shares.
pub struct Shared {
    pub provider: Provider,
    pub web: Client,
    pub spa: Client,
    pub user: Option<User>,
}

impl Shared {
    fn user(&self) -> anyhow::Result<&User> {
        self.user.as_ref().ok_or_else(|| {
            anyhow!("this workload signs in: give --email and --password, or --provision-with")
        })
    }
}

/// How long and how hard.
pub struct Settings {
    pub alg: String,
    pub concurrency: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub mixed_rate: u32,
    pub server_pid: Option<u32>,
    /// Where to write a CPU profile of the server per workload (`WORKLOAD-ALG.perf.data`).
    pub profile_dir: Option<PathBuf>,
    /// Requests of the whole run, shared by every workload, against `cap`.
    pub used: Arc<AtomicU64>,
    pub cap: u64,
    /// Open-loop runs of each workload (besides `mixed`, which has its own), when asked for.
    pub open_loop: Vec<OpenLoop>,
    /// The `latch` binary that provisions (the soak creates its own application).
    pub latch: Option<PathBuf>,
}

/// An open-loop run: a constant arrival rate, given outright or as a share of the capacity the
/// same workload just measured in a closed loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OpenLoop {
    PerSecond(f64),
    PercentOfCapacity(f64),
}

impl OpenLoop {
    /// `RATE` (operations per second) or `PERCENT%`, comma-separated: `2000`, `50%,70%`.
    pub fn parse_list(spec: &str) -> anyhow::Result<Vec<Self>> {
        spec.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (number, percent) = match p.strip_suffix('%') {
                    Some(n) => (n.trim(), true),
                    None => (p, false),
                };
                let x: f64 = number
                    .parse()
                    .map_err(|_| anyhow!("--open-loop: {p:?} is not RATE or PERCENT%"))?;
                match percent {
                    true if x > 0.0 && x <= 100.0 => Ok(Self::PercentOfCapacity(x)),
                    false if x > 0.0 && x.is_finite() => Ok(Self::PerSecond(x)),
                    _ => bail!("--open-loop: {p:?} is out of range"),
                }
            })
            .collect()
    }
}

impl Settings {
    /// The profile file of a workload, when profiling.
    fn profile(&self, workload: &str) -> Option<PathBuf> {
        let dir = self.profile_dir.as_ref()?;
        Some(dir.join(format!("{workload}-{}.perf.data", self.alg)))
    }
}

pub const ALL: [&str; 8] = [
    "discovery",
    "jwks",
    "client_credentials",
    "sso_code_flow",
    "refresh",
    "userinfo",
    "login",
    "mixed",
];

/// Runs one workload; returns its JSON line(s). With open-loop runs asked for, each workload but
/// `mixed` runs them after its closed-loop run (whose throughput is the capacity percentages refer
/// to; it is skipped when every rate is given outright).
pub async fn run(
    name: &str,
    shared: &Arc<Shared>,
    settings: &Settings,
) -> anyhow::Result<Vec<Value>> {
    if name == "soak" {
        let mut lines =
            crate::soak::run(shared.clone(), settings, settings.latch.as_deref()).await?;
        if let Some(summary) = lines.last_mut() {
            stats::add_server_memory(summary, settings.server_pid);
        }
        return Ok(lines);
    }
    if settings.open_loop.is_empty() || name == "mixed" {
        return run_once(name, shared, settings, None).await;
    }
    let needs_capacity = settings
        .open_loop
        .iter()
        .any(|o| matches!(o, OpenLoop::PercentOfCapacity(_)));
    let mut lines = Vec::new();
    let mut capacity = None;
    if needs_capacity {
        let closed = run_once(name, shared, settings, None).await?;
        capacity = closed.first().and_then(|l| l["ops_per_s"].as_f64());
        lines.extend(closed);
    }
    for open in &settings.open_loop {
        let (rate, percent) = match *open {
            OpenLoop::PerSecond(r) => (r, None),
            OpenLoop::PercentOfCapacity(p) => {
                let c = capacity
                    .filter(|c| *c > 0.0)
                    .ok_or_else(|| anyhow!("{name}: no capacity measured"))?;
                (c * p / 100.0, Some(p))
            }
        };
        for mut line in run_once(name, shared, settings, Some(rate)).await? {
            line["mode"] = "open".into();
            line["target_rate_per_s"] = rate.round().into();
            if let Some(p) = percent {
                line["of_capacity_pct"] = p.into();
            }
            lines.push(line);
        }
    }
    Ok(lines)
}

/// One run of a workload, closed-loop or at `rate` operations per second.
async fn run_once(
    name: &str,
    shared: &Arc<Shared>,
    settings: &Settings,
    rate: Option<f64>,
) -> anyhow::Result<Vec<Value>> {
    let s = shared.clone();
    let n = settings.concurrency;
    let mut line = match name {
        "discovery" | "jwks" => {
            let url = if name == "jwks" {
                s.provider.jwks_uri.clone()
            } else {
                s.provider.discovery.clone()
            };
            let clients = setup(n, |_| async { oidc::http_client() }).await?;
            drive(name, settings, rate, clients, move |http, rec| {
                get_loop(http, url.clone(), rec)
            })
            .await?
        }
        "client_credentials" => {
            let clients = setup(n, |_| async { oidc::http_client() }).await?;
            drive(name, settings, rate, clients, move |http, rec| {
                cc_loop(s.clone(), http, rec)
            })
            .await?
        }
        "sso_code_flow" => {
            let browsers = setup(n, |_| signed_in(s.clone())).await?;
            drive(name, settings, rate, browsers, move |b, rec| {
                sso_loop(s.clone(), b, rec)
            })
            .await?
        }
        "refresh" => {
            let workers = setup(n, |_| first_refresh_token(s.clone())).await?;
            drive(name, settings, rate, workers, move |w, rec| {
                refresh_loop(s.clone(), w, rec)
            })
            .await?
        }
        "userinfo" => {
            let workers = setup(n, |_| crate::userinfo::worker(s.clone())).await?;
            drive(name, settings, rate, workers, move |w, rec| {
                crate::userinfo::run_loop(s.clone(), w, rec)
            })
            .await?
        }
        "login" => {
            s.user()?;
            let browsers = setup(n, |_| async { Ok(Browser::new(oidc::http_client()?)) }).await?;
            drive(name, settings, rate, browsers, move |b, rec| {
                login_loop(s.clone(), b, rec)
            })
            .await?
        }
        "mixed" => {
            let mut lines = mixed(s, settings).await?;
            for l in &mut lines {
                stats::add_server_memory(l, settings.server_pid);
            }
            return Ok(lines);
        }
        other => bail!("unknown workload {other}; known: {}", ALL.join(", ")),
    };
    stats::add_server_memory(&mut line, settings.server_pid);
    Ok(vec![line])
}

/// Sets up `n` workers concurrently.
async fn setup<S, F, Fut>(n: usize, make: F) -> anyhow::Result<Vec<S>>
where
    S: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<S>> + Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(make(i))).collect();
    let mut out = Vec::with_capacity(n);
    for h in handles {
        out.push(h.await?.context("setting up a worker")?);
    }
    Ok(out)
}

/// Runs one loop per state under a fresh plan (each paced to its share of `rate` when given) and
/// summarizes.
async fn drive<S, F, Fut>(
    name: &str,
    settings: &Settings,
    rate: Option<f64>,
    states: Vec<S>,
    worker: F,
) -> anyhow::Result<Value>
where
    S: Send + 'static,
    F: Fn(S, Recorder) -> Fut,
    Fut: Future<Output = Recorder> + Send + 'static,
{
    let plan = Plan::new(
        settings.warmup,
        settings.duration,
        settings.used.clone(),
        settings.cap,
    );
    let cpu = stats::meter(&plan, settings.server_pid, settings.profile(name));
    let n = states.len();
    let handles: Vec<_> = states
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let rec = match rate {
                Some(r) => Recorder::paced(plan.clone(), r, i, n),
                None => Recorder::new(plan.clone()),
            };
            tokio::spawn(worker(s, rec))
        })
        .collect();
    let mut recorders = Vec::with_capacity(n);
    for h in handles {
        recorders.push(h.await?);
    }
    let cpu = cpu.await.unwrap_or_default();
    let label = Label {
        workload: name,
        alg: &settings.alg,
        concurrency: n,
    };
    Ok(stats::summarize(&label, plan.duration(), recorders, cpu))
}

async fn get_loop(http: reqwest::Client, url: url::Url, mut rec: Recorder) -> Recorder {
    while let Some(t) = rec.start(1).await {
        rec.record(t, oidc::get_ok(&http, &url).await);
    }
    rec
}

async fn cc_loop(s: Arc<Shared>, http: reqwest::Client, mut rec: Recorder) -> Recorder {
    while let Some(t) = rec.start(1).await {
        rec.record(
            t,
            oidc::client_credentials(&http, &s.provider, &s.web).await,
        );
    }
    rec
}

/// A browser signed in to the SPA (retried briefly: the CLI's new application may take up to a
/// second to reach the server).
pub(crate) async fn signed_in(s: Arc<Shared>) -> anyhow::Result<Browser> {
    let mut browser = Browser::new(oidc::http_client()?);
    let mut attempt = 0;
    loop {
        browser.clear();
        match browser
            .open_session(&s.provider, &s.spa, s.user()?, SCOPE)
            .await
        {
            Ok(_) => return Ok(browser),
            Err(e) if attempt >= 3 => return Err(e.context("signing in a worker")),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
        attempt += 1;
    }
}

/// One SSO operation: authorize with the session cookie, then exchange the code.
async fn sso_op(s: &Shared, b: &mut Browser) -> anyhow::Result<()> {
    let pending = Pending::new(&s.provider, &s.spa, SCOPE)?;
    let code = b.authorize_with_session(&s.spa, &pending).await?;
    oidc::exchange_code(&b.http, &s.provider, &s.spa, &code, &pending).await?;
    Ok(())
}

async fn sso_loop(s: Arc<Shared>, mut b: Browser, mut rec: Recorder) -> Recorder {
    while let Some(t) = rec.start(2).await {
        let r = sso_op(&s, &mut b).await;
        rec.record(t, r);
    }
    rec
}

pub struct RefreshWorker {
    browser: Browser,
    token: String,
}

/// A refresh token from the web application's code flow with `offline_access`, reusing the
/// browser's session when it has one.
async fn refresh_token(s: &Shared, browser: &mut Browser) -> anyhow::Result<String> {
    let pending = Pending::new(&s.provider, &s.web, OFFLINE_SCOPE)?;
    let code = match browser.authorize_with_session(&s.web, &pending).await {
        Ok(code) => code,
        Err(_) => {
            browser.clear();
            browser.sign_in(&s.web, s.user()?, &pending).await?
        }
    };
    oidc::exchange_code(&browser.http, &s.provider, &s.web, &code, &pending)
        .await?
        .ok_or_else(|| anyhow!("no refresh_token with offline_access"))
}

pub(crate) async fn first_refresh_token(s: Arc<Shared>) -> anyhow::Result<RefreshWorker> {
    let mut browser = Browser::new(oidc::http_client()?);
    let token = refresh_token(&s, &mut browser).await?;
    Ok(RefreshWorker { browser, token })
}

impl RefreshWorker {
    /// One refresh. When it fails, the chain is broken: a new one starts (its cost is part of the
    /// failed operation's time, never of a measured success).
    pub(crate) async fn step(&mut self, s: &Shared) -> anyhow::Result<()> {
        match oidc::refresh(&self.browser.http, &s.provider, &s.web, &self.token).await {
            Ok(next) => {
                self.token = next;
                Ok(())
            }
            Err(e) => {
                match refresh_token(s, &mut self.browser).await {
                    Ok(token) => self.token = token,
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
                Err(e)
            }
        }
    }
}

async fn refresh_loop(s: Arc<Shared>, mut w: RefreshWorker, mut rec: Recorder) -> Recorder {
    while let Some(t) = rec.start(1).await {
        let r = w.step(&s).await;
        rec.record(t, r);
    }
    rec
}

/// A full password sign-in in a fresh cookie jar (the connections stay open).
async fn login_op(s: &Shared, b: &mut Browser) -> anyhow::Result<()> {
    b.clear();
    let pending = Pending::new(&s.provider, &s.spa, SCOPE)?;
    b.sign_in(&s.spa, s.user()?, &pending).await?;
    Ok(())
}

async fn login_loop(s: Arc<Shared>, mut b: Browser, mut rec: Recorder) -> Recorder {
    while let Some(t) = rec.start(3).await {
        let r = login_op(&s, &mut b).await;
        rec.record(t, r);
    }
    rec
}

/// client_credentials at a fixed rate, each request on its own task so that a slow answer does not
/// delay the next; latency counts from the scheduled instant (no coordinated omission).
async fn token_generator(
    s: Arc<Shared>,
    http: reqwest::Client,
    plan: Arc<Plan>,
    rate: u32,
) -> Recorder {
    let mut rec = Recorder::new(plan);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut inflight = JoinSet::new();
    loop {
        let at = tick.tick().await.into_std();
        if !rec.go(1) {
            break;
        }
        let (s, http) = (s.clone(), http.clone());
        inflight.spawn(async move {
            (
                at,
                oidc::client_credentials(&http, &s.provider, &s.web).await,
            )
        });
        while let Some(done) = inflight.try_join_next() {
            record_joined(&mut rec, done);
        }
    }
    while let Some(done) = inflight.join_next().await {
        record_joined(&mut rec, done);
    }
    rec
}

fn record_joined(
    rec: &mut Recorder,
    done: Result<(Instant, anyhow::Result<()>), tokio::task::JoinError>,
) {
    match done {
        Ok((at, r)) => rec.record(at, r),
        Err(e) => rec.record(Instant::now(), Err(e.into())),
    }
}

/// A login storm with C workers while client_credentials runs at `mixed_rate` per second.
async fn mixed(s: Arc<Shared>, settings: &Settings) -> anyhow::Result<Vec<Value>> {
    s.user()?;
    let n = settings.concurrency;
    let browsers = setup(n, |_| async { Ok(Browser::new(oidc::http_client()?)) }).await?;
    // Warm the token client's connections outside the plan.
    let http = oidc::http_client()?;
    oidc::client_credentials(&http, &s.provider, &s.web).await?;
    let plan = Plan::new(
        settings.warmup,
        settings.duration,
        settings.used.clone(),
        settings.cap,
    );
    let cpu = stats::meter(&plan, settings.server_pid, settings.profile("mixed"));
    let tokens = tokio::spawn(token_generator(
        s.clone(),
        http,
        plan.clone(),
        settings.mixed_rate,
    ));
    let logins: Vec<_> = browsers
        .into_iter()
        .map(|b| tokio::spawn(login_loop(s.clone(), b, Recorder::new(plan.clone()))))
        .collect();
    let mut login_recs = Vec::with_capacity(n);
    for h in logins {
        login_recs.push(h.await?);
    }
    let token_rec = tokens.await?;
    let cpu: CpuShare = cpu.await.unwrap_or_default();
    let alg = settings.alg.as_str();
    let mut token_line = stats::summarize(
        &Label {
            workload: "mixed_token",
            alg,
            concurrency: n,
        },
        plan.duration(),
        vec![token_rec],
        cpu,
    );
    token_line["target_rate_per_s"] = settings.mixed_rate.into();
    let login_line = stats::summarize(
        &Label {
            workload: "mixed_login",
            alg,
            concurrency: n,
        },
        plan.duration(),
        login_recs,
        cpu,
    );
    Ok(vec![token_line, login_line])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_loop_specs_are_rates_or_shares_of_capacity() {
        assert_eq!(
            OpenLoop::parse_list("50%, 70%,2500").unwrap(),
            vec![
                OpenLoop::PercentOfCapacity(50.0),
                OpenLoop::PercentOfCapacity(70.0),
                OpenLoop::PerSecond(2500.0),
            ]
        );
        for bad in ["0", "-3", "150%", "fast", "NaN", "inf"] {
            assert!(OpenLoop::parse_list(bad).is_err(), "{bad}");
        }
    }
}
