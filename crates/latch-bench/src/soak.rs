//! The `soak` workload (issue 21): M minutes of mixed traffic at once — refresh chains in a closed
//! loop (their throughput shows any slow-down), client_credentials at a constant rate, and
//! sign-in + RP-initiated logout cycles of an application whose back-channel logout URL is a
//! receiver in this process — reported minute by minute with the server's resident memory, so
//! that the last minute can be compared with the first.
//!
//! The soak application is created with the `latch` CLI (`--provision-with`), registered with the
//! receiver's loopback URL: the server must allow private back-channel addresses
//! (`LATCH_BACKCHANNEL_ALLOW_PRIVATE=true`, which `scripts/bench --soak` sets).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::oidc::{self, Browser, Client, Pending};
use crate::stats::{self, Plan, round};
use crate::workloads::{SCOPE, Settings, Shared};

/// client_credentials requests per second during the soak.
const TOKEN_RATE: f64 = 200.0;
/// Sign-in + logout cycles per second (each one an argon2id hash and a back-channel delivery).
const LOGOUT_RATE: f64 = 2.0;
/// Connections sharing the client_credentials rate.
const TOKEN_WORKERS: usize = 4;
/// Closed-loop refresh chains.
const REFRESH_CHAINS: usize = 4;
/// The largest request the receiver reads (a logout token is about 1 KB).
const MAX_REQUEST: usize = 64 * 1024;

/// Latencies and errors per minute of the measured window.
#[derive(Default)]
struct Minutes {
    latencies_us: Vec<Vec<u32>>,
    errors: Vec<u64>,
}

impl Minutes {
    fn record(&mut self, plan: &Plan, started: Instant, outcome: anyhow::Result<()>) {
        let Some(since) = started.checked_duration_since(plan.measure_from) else {
            return;
        };
        let minute = (since.as_secs() / 60) as usize;
        if self.latencies_us.len() <= minute {
            self.latencies_us.resize_with(minute + 1, Vec::new);
            self.errors.resize(minute + 1, 0);
        }
        match outcome {
            Ok(()) => {
                let us = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
                self.latencies_us[minute].push(us);
            }
            Err(e) => {
                if self.errors[minute] == 0 {
                    eprintln!("latch-bench: soak: minute {minute}: {e:#}");
                }
                self.errors[minute] += 1;
            }
        }
    }

    fn merge(parts: Vec<Minutes>) -> Minutes {
        let mut all = Minutes::default();
        for p in parts {
            for (m, mut l) in p.latencies_us.into_iter().enumerate() {
                if all.latencies_us.len() <= m {
                    all.latencies_us.resize_with(m + 1, Vec::new);
                    all.errors.resize(m + 1, 0);
                }
                all.latencies_us[m].append(&mut l);
                all.errors[m] += p.errors.get(m).copied().unwrap_or(0);
            }
        }
        all
    }

    /// One JSON line per minute.
    fn lines(mut self, workload: &str, alg: &str, minutes: usize) -> Vec<Value> {
        let concurrency = match workload {
            "soak_refresh" => REFRESH_CHAINS,
            "soak_token" => TOKEN_WORKERS,
            _ => 1,
        };
        self.latencies_us.resize_with(minutes, Vec::new);
        self.errors.resize(minutes, 0);
        self.latencies_us
            .into_iter()
            .zip(self.errors)
            .enumerate()
            .map(|(m, (mut l, errors))| {
                l.sort_unstable();
                let q = |q: f64| stats::quantile_ms(&l, q);
                json!({
                    "workload": workload,
                    "alg": alg,
                    "minute": m + 1,
                    "concurrency": concurrency,
                    "ops": l.len(),
                    "ops_per_s": round(l.len() as f64 / 60.0, 1),
                    "p50_ms": q(0.5),
                    "p99_ms": q(0.99),
                    "errors": errors,
                })
            })
            .collect()
    }
}

/// Back-channel logout requests received (RFC: OIDC Back-Channel Logout 1.0 §2.5, a form POST with
/// `logout_token`), answered 200.
struct Receiver {
    url: String,
    received: Arc<AtomicU64>,
}

async fn receiver() -> anyhow::Result<Receiver> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/backchannel", listener.local_addr()?);
    let received = Arc::new(AtomicU64::new(0));
    let count = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, count.clone()));
        }
    });
    Ok(Receiver { url, received })
}

/// Serves keep-alive requests on one connection until it closes or misbehaves.
async fn serve(mut stream: TcpStream, received: Arc<AtomicU64>) {
    let mut buf = Vec::with_capacity(4096);
    loop {
        let Some(head_end) = read_until_head(&mut stream, &mut buf).await else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if head_end + length > MAX_REQUEST {
            return;
        }
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = &buf[head_end..head_end + length];
        if body.windows(13).any(|w| w == b"logout_token=") {
            received.fetch_add(1, Ordering::Relaxed);
        }
        buf.drain(..head_end + length);
        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\ncache-control: no-store\r\n\r\n";
        if stream.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// Reads until the end of a request head; its length (with the blank line), or `None`.
async fn read_until_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(i + 4);
        }
        if buf.len() > MAX_REQUEST {
            return None;
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The soak application: confidential, its back-channel logout URL on the receiver.
async fn soak_app(
    latch: &Path,
    alg: &str,
    redirect_uri: &str,
    url: &str,
) -> anyhow::Result<Client> {
    let out = tokio::process::Command::new(latch)
        .args(["apps", "create", "--name", &format!("bench-soak-{alg}")])
        .args(["--type", "web", "--redirect-uri", redirect_uri])
        .args(["--backchannel-logout-uri", url, "--signing-alg", alg])
        .output()
        .await
        .with_context(|| format!("running {}", latch.display()))?;
    if !out.status.success() {
        bail!(
            "creating the soak application failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let v: Value = serde_json::from_slice(&out.stdout)?;
    Ok(Client {
        id: v["client_id"]
            .as_str()
            .ok_or_else(|| anyhow!("no client_id in {v}"))?
            .to_owned(),
        secret: v["client_secret"].as_str().map(str::to_owned),
        redirect_uri: redirect_uri.to_owned(),
    })
}

/// One cycle: a password sign-in to the soak application, the code exchanged for an ID token,
/// then RP-initiated logout with that token as `id_token_hint` (which ends the session at once and
/// queues the back-channel logout).
async fn sign_in_and_out(s: &Shared, app: &Client, b: &mut Browser) -> anyhow::Result<()> {
    b.clear();
    let user = s
        .user
        .as_ref()
        .ok_or_else(|| anyhow!("the soak signs in: give --provision-with"))?;
    let pending = Pending::new(&s.provider, app, SCOPE)?;
    let code = b.sign_in(app, user, &pending).await?;
    let tokens = oidc::exchange_code_tokens(&b.http, &s.provider, app, &code, &pending).await?;
    let id_token = tokens["id_token"]
        .as_str()
        .ok_or_else(|| anyhow!("code exchange without id_token"))?;
    b.logout(&s.provider, id_token).await
}

/// Runs the soak for `settings.duration` (whole minutes); returns the per-minute lines and a
/// summary comparing the last minute with the first.
pub async fn run(
    s: Arc<Shared>,
    settings: &Settings,
    latch: Option<&Path>,
) -> anyhow::Result<Vec<Value>> {
    let latch = latch
        .ok_or_else(|| anyhow!("the soak provisions its application: give --provision-with"))?;
    let minutes = (settings.duration.as_secs() / 60).max(1) as usize;
    let rx = receiver().await?;
    let app = soak_app(latch, &settings.alg, &s.web.redirect_uri, &rx.url).await?;
    // The server sees a new application within a second; asking earlier would count as failed
    // client authentications from this address (the abuse limits) and could lock it out.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    crate::provision::await_client(&oidc::http_client()?, &s.provider, &app).await?;
    // Refresh chains first (their setup signs in), outside the plan.
    let mut chains = Vec::with_capacity(REFRESH_CHAINS);
    for _ in 0..REFRESH_CHAINS {
        chains.push(crate::workloads::first_refresh_token(s.clone()).await?);
    }
    let plan = Plan::new(
        settings.warmup,
        Duration::from_secs(60 * minutes as u64),
        settings.used.clone(),
        settings.cap,
    );
    let mut tasks = tokio::task::JoinSet::new();
    for w in chains {
        let (s, plan) = (s.clone(), plan.clone());
        tasks.spawn(async move { ("soak_refresh", refresh_chain(s, w, plan).await) });
    }
    for i in 0..TOKEN_WORKERS {
        let (s, plan) = (s.clone(), plan.clone());
        tasks.spawn(async move { ("soak_token", paced_tokens(s, plan, i, TOKEN_WORKERS).await) });
    }
    {
        let (s, plan) = (s.clone(), plan.clone());
        tasks.spawn(async move { ("soak_logout", logouts(s, app, plan).await) });
    }
    let memory = tokio::spawn(sample_memory(plan.clone(), settings.server_pid));
    let mut by_kind: Vec<(&str, Vec<Minutes>)> = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (kind, m) = done?;
        match by_kind.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, v)) => v.push(m),
            None => by_kind.push((kind, vec![m])),
        }
    }
    let samples = memory.await?;
    // Deliveries are asynchronous: give the outbox a moment to drain before counting.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let delivered = rx.received.load(Ordering::Relaxed);

    let mut lines = Vec::new();
    let mut summary = json!({"workload": "soak", "alg": settings.alg, "minutes": minutes});
    for (kind, parts) in by_kind {
        let per_minute = Minutes::merge(parts).lines(kind, &settings.alg, minutes);
        if let (Some(first), Some(last)) = (per_minute.first(), per_minute.last()) {
            let (a, b) = (
                first["ops_per_s"].as_f64().unwrap_or(0.0),
                last["ops_per_s"].as_f64().unwrap_or(0.0),
            );
            if a > 0.0 {
                summary[format!("{kind}_last_over_first")] = round(b / a, 3).into();
            }
            if kind == "soak_logout" {
                let cycles: u64 = per_minute.iter().filter_map(|l| l["ops"].as_u64()).sum();
                summary["logouts"] = cycles.into();
            }
        }
        lines.extend(per_minute);
    }
    summary["backchannel_received"] = delivered.into();
    if let (Some(first), Some(last)) = (samples.first(), samples.last())
        && *first > 0
    {
        summary["rss_last_over_first"] = round(*last as f64 / *first as f64, 3).into();
    }
    for (m, kb) in samples.iter().enumerate() {
        lines.push(json!({"workload": "soak_memory", "alg": settings.alg, "minute": m + 1, "server_rss_kb": kb}));
    }
    lines.push(summary);
    Ok(lines)
}

async fn refresh_chain(
    s: Arc<Shared>,
    mut w: crate::workloads::RefreshWorker,
    plan: Arc<Plan>,
) -> Minutes {
    let mut m = Minutes::default();
    while plan.go(1) {
        let t = Instant::now();
        let r = w.step(&s).await;
        m.record(&plan, t, r);
    }
    m
}

async fn paced_tokens(s: Arc<Shared>, plan: Arc<Plan>, index: usize, workers: usize) -> Minutes {
    let mut m = Minutes::default();
    let Ok(http) = oidc::http_client() else {
        return m;
    };
    let mut pace = stats::Recorder::paced(plan.clone(), TOKEN_RATE, index, workers);
    while let Some(t) = pace.start(1).await {
        let r = oidc::client_credentials(&http, &s.provider, &s.web).await;
        m.record(&plan, t, r);
    }
    m
}

async fn logouts(s: Arc<Shared>, app: Client, plan: Arc<Plan>) -> Minutes {
    let mut m = Minutes::default();
    let Ok(http) = oidc::http_client() else {
        return m;
    };
    let mut b = Browser::new(http);
    let mut pace = stats::Recorder::paced(plan.clone(), LOGOUT_RATE, 0, 1);
    while let Some(t) = pace.start(6).await {
        let r = sign_in_and_out(&s, &app, &mut b).await;
        m.record(&plan, t, r);
    }
    m
}

/// The server's resident memory at the end of each measured minute (kB).
async fn sample_memory(plan: Arc<Plan>, pid: Option<u32>) -> Vec<u64> {
    let mut samples = Vec::new();
    let mut at = plan.measure_from + Duration::from_secs(60);
    while at <= plan.until {
        tokio::time::sleep_until(at.into()).await;
        let mut line = json!({});
        stats::add_server_memory(&mut line, pid);
        samples.push(line["server_rss_kb"].as_u64().unwrap_or(0));
        at += Duration::from_secs(60);
    }
    samples
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_receiver_counts_logout_tokens_on_keep_alive_connections() {
        let rx = receiver().await.unwrap();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        for body in ["logout_token=eyJ.a.b", "other=1", "logout_token=eyJ.c.d"] {
            let r = http
                .post(&rx.url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        assert_eq!(rx.received.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn minutes_bucket_by_start_and_merge() {
        let plan = Plan::new(
            Duration::ZERO,
            Duration::from_secs(180),
            Arc::new(AtomicU64::new(0)),
            10,
        );
        let mut a = Minutes::default();
        a.record(&plan, plan.measure_from, Ok(()));
        a.record(
            &plan,
            plan.measure_from + Duration::from_secs(61),
            Err(anyhow!("x")),
        );
        let mut b = Minutes::default();
        b.record(&plan, plan.measure_from + Duration::from_secs(1), Ok(()));
        let lines = Minutes::merge(vec![a, b]).lines("soak_token", "ES256", 3);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["ops"], 2);
        assert_eq!(lines[1]["errors"], 1);
        assert_eq!(lines[2]["ops"], 0);
    }
}
