//! Time-bounded measurement: one shared plan (end of warm-up, end of run, request budget), one
//! recorder per worker, CPU time of the driver and the server over the measured window, and the
//! JSON summary line.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// When a workload measures and when every loop stops.
pub struct Plan {
    /// When the warm-up began (the first paced operation's intended instant).
    pub started: Instant,
    /// Operations started before this instant are warm-up: run, not counted.
    pub measure_from: Instant,
    /// No operation starts at or after this instant.
    pub until: Instant,
    used: Arc<AtomicU64>,
    cap: u64,
}

impl Plan {
    /// A plan starting now; `used` is shared by every workload of one run so that `cap` bounds the
    /// whole run.
    pub fn new(warmup: Duration, duration: Duration, used: Arc<AtomicU64>, cap: u64) -> Arc<Self> {
        let started = Instant::now();
        let measure_from = started + warmup;
        Arc::new(Self {
            started,
            measure_from,
            until: measure_from + duration,
            used,
            cap,
        })
    }

    /// Whether another operation of `requests` HTTP requests may start: before the end, within budget.
    pub fn go(&self, requests: u64) -> bool {
        Instant::now() < self.until
            && self.used.fetch_add(requests, Ordering::Relaxed) + requests <= self.cap
    }

    pub fn duration(&self) -> Duration {
        self.until - self.measure_from
    }
}

/// An open-loop worker's schedule: one operation every `interval`, the next one due at `next`.
struct Pace {
    interval: Duration,
    next: Instant,
}

impl Pace {
    /// The next slot, if it falls before `until`; the schedule moves on either way.
    fn take(&mut self, until: Instant) -> Option<Instant> {
        let at = self.next;
        self.next += self.interval;
        (at < until).then_some(at)
    }
}

/// What one worker saw.
pub struct Recorder {
    plan: Arc<Plan>,
    pace: Option<Pace>,
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

impl Recorder {
    /// A closed-loop worker: each operation starts when the previous one ends.
    pub fn new(plan: Arc<Plan>) -> Self {
        Self {
            plan,
            pace: None,
            latencies_us: Vec::new(),
            errors: 0,
            first_error: None,
        }
    }

    /// An open-loop worker, one of `workers` sharing `rate` operations per second: worker `index`
    /// is due every `workers / rate` seconds, its first slot offset by `index / rate` so that the
    /// workers' slots interleave evenly. As in wrk2, a worker that falls behind sends at once and
    /// its latency counts from the slot it missed (no coordinated omission).
    pub fn paced(plan: Arc<Plan>, rate: f64, index: usize, workers: usize) -> Self {
        let rate = rate.max(0.001);
        let interval = Duration::from_secs_f64(workers.max(1) as f64 / rate);
        let next = plan.started + Duration::from_secs_f64(index as f64 / rate);
        Self {
            pace: Some(Pace { interval, next }),
            ..Self::new(plan)
        }
    }

    pub fn go(&self, requests: u64) -> bool {
        self.plan.go(requests)
    }

    /// Starts the next operation of `requests` HTTP requests: `None` when the plan is over or the
    /// budget spent; otherwise the instant its latency counts from (now when closed-loop; the
    /// scheduled slot, after waiting for it, when open-loop).
    pub async fn start(&mut self, requests: u64) -> Option<Instant> {
        let Some(pace) = &mut self.pace else {
            return self.plan.go(requests).then(Instant::now);
        };
        let at = pace.take(self.plan.until)?;
        tokio::time::sleep_until(at.into()).await;
        self.plan.go(requests).then_some(at)
    }

    /// Records an operation that started at `started`; warm-up operations only keep their first error.
    pub fn record(&mut self, started: Instant, outcome: anyhow::Result<()>) {
        let measured = started >= self.plan.measure_from;
        match outcome {
            Ok(()) if measured => {
                let us = started.elapsed().as_micros();
                self.latencies_us
                    .push(u32::try_from(us).unwrap_or(u32::MAX));
            }
            Ok(()) => {}
            Err(e) => {
                if measured {
                    self.errors += 1;
                }
                self.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
}

/// CPU seconds (user + system) of a process, from `/proc/PID/stat` (clock ticks of 1/100 s).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of proc(5); the slice starts at field 3.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// CPU seconds spent by every process of the machine (user, nice, system, steal of `/proc/stat`;
/// interrupts left out).
fn machine_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let ticks = [0, 1, 2, 7]
        .iter()
        .map(|i| fields.get(*i).copied().unwrap_or(0.0))
        .sum::<f64>();
    Some(ticks / 100.0)
}

/// Share of one core used by the driver, the server (if known) and every other process over the
/// measured window: `other` shows interference from the rest of the machine.
#[derive(Default, Clone, Copy)]
pub struct CpuShare {
    pub driver: Option<f64>,
    pub server: Option<f64>,
    pub other: Option<f64>,
}

/// Samples CPU time at the start and end of the plan's measured window (spawn before the workers).
/// With `profile` (and a server PID), also records the server's CPU profile over exactly that
/// window into that file (`perf record`, the `cpu-clock` event: it needs no hardware counters).
pub fn meter(
    plan: &Plan,
    server_pid: Option<u32>,
    profile: Option<PathBuf>,
) -> tokio::task::JoinHandle<CpuShare> {
    let (from, until) = (plan.measure_from, plan.until);
    let server = server_pid.map(|p| p.to_string());
    tokio::spawn(async move {
        tokio::time::sleep_until(from.into()).await;
        let perf = match (&server, &profile) {
            (Some(pid), Some(path)) => record_profile(pid, path, until - from),
            _ => None,
        };
        let sample = || {
            (
                cpu_seconds("self"),
                server.as_deref().and_then(cpu_seconds),
                machine_cpu_seconds(),
            )
        };
        let (d0, s0, m0) = sample();
        tokio::time::sleep_until(until.into()).await;
        let (d1, s1, m1) = sample();
        if let Some(mut perf) = perf {
            let _ = perf.wait().await;
        }
        let secs = (until - from).as_secs_f64();
        let used = |a: Option<f64>, b: Option<f64>| Some((b? - a?) / secs * 100.0);
        let (driver, server, machine) = (used(d0, d1), used(s0, s1), used(m0, m1));
        let other = machine.map(|m| (m - driver.unwrap_or(0.0) - server.unwrap_or(0.0)).max(0.0));
        let r = |x: Option<f64>| x.map(|x| round(x, 1));
        CpuShare {
            driver: r(driver),
            server: r(server),
            other: if server.is_some() { r(other) } else { None },
        }
    })
}

/// Starts `perf record` on the server for `window`; `None` (with a message) when perf cannot start.
fn record_profile(pid: &str, path: &Path, window: Duration) -> Option<tokio::process::Child> {
    let started = tokio::process::Command::new("perf")
        .args([
            "record",
            "--quiet",
            "-e",
            "cpu-clock",
            "-F",
            "999",
            "-p",
            pid,
            "-o",
        ])
        .arg(path)
        .args(["--", "sleep", &format!("{:.3}", window.as_secs_f64())])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn();
    match started {
        Ok(child) => Some(child),
        Err(e) => {
            eprintln!("latch-bench: no profile of {}: perf: {e}", path.display());
            None
        }
    }
}

/// Adds the server's resident memory now and its peak so far (`VmRSS`, `VmHWM` of
/// `/proc/PID/status`, in kB) to a summary line.
pub fn add_server_memory(line: &mut Value, pid: Option<u32>) {
    let Some(status) = pid.and_then(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
    else {
        return;
    };
    for (field, key) in [("VmRSS:", "server_rss_kb"), ("VmHWM:", "server_hwm_kb")] {
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
        if let Some(kb) = kb {
            line[key] = kb.into();
        }
    }
}

pub fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}

/// The `q` quantile (nearest rank) of sorted latencies, in milliseconds.
pub(crate) fn quantile_ms(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    round(f64::from(sorted_us[rank - 1]) / 1000.0, 3)
}

/// Identifies a summary line.
pub struct Label<'a> {
    pub workload: &'a str,
    pub alg: &'a str,
    pub concurrency: usize,
}

/// Merges the workers' recorders into one JSON line.
pub fn summarize(
    label: &Label<'_>,
    duration: Duration,
    recorders: Vec<Recorder>,
    cpu: CpuShare,
) -> Value {
    let mut all = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for r in recorders {
        all.extend_from_slice(&r.latencies_us);
        errors += r.errors;
        if first_error.is_none() {
            first_error = r.first_error;
        }
    }
    all.sort_unstable();
    let secs = duration.as_secs_f64();
    let mut line = json!({
        "workload": label.workload,
        "alg": label.alg,
        "concurrency": label.concurrency,
        "duration_s": round(secs, 3),
        "ops": all.len(),
        "ops_per_s": round(all.len() as f64 / secs, 1),
        "p50_ms": quantile_ms(&all, 0.50),
        "p90_ms": quantile_ms(&all, 0.90),
        "p99_ms": quantile_ms(&all, 0.99),
        "errors": errors,
    });
    if let Some(d) = cpu.driver {
        line["driver_cpu_pct"] = d.into();
    }
    if let Some(s) = cpu.server {
        line["server_cpu_pct"] = s.into();
    }
    if let Some(o) = cpu.other {
        line["other_cpu_pct"] = o.into();
    }
    if let Some(e) = first_error {
        eprintln!("latch-bench: {}: first error: {e}", label.workload);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let v: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        assert!((quantile_ms(&v, 0.5) - 50.0).abs() < f64::EPSILON);
        assert!((quantile_ms(&v, 0.99) - 99.0).abs() < f64::EPSILON);
        assert!(quantile_ms(&[], 0.99).abs() < f64::EPSILON);
    }

    #[test]
    fn the_budget_stops_every_loop() {
        let plan = Plan::new(
            Duration::ZERO,
            Duration::from_secs(60),
            Arc::new(AtomicU64::new(0)),
            3,
        );
        assert!(plan.go(2));
        assert!(!plan.go(2));
    }

    #[test]
    fn paced_workers_interleave_their_slots_and_stop_at_the_end() {
        let plan = Plan::new(
            Duration::ZERO,
            Duration::from_millis(100),
            Arc::new(AtomicU64::new(0)),
            1_000,
        );
        // 100 operations per second shared by 4 workers: worker 1 is due at 10, 50, 90 ms; the
        // slot at 130 ms is past the plan's end.
        let mut rec = Recorder::paced(plan.clone(), 100.0, 1, 4);
        let pace = rec.pace.as_mut().unwrap();
        let slots: Vec<_> = std::iter::from_fn(|| pace.take(plan.until))
            .map(|at| at - plan.started)
            .collect();
        assert_eq!(
            slots,
            [10, 50, 90].map(Duration::from_millis).to_vec(),
            "{slots:?}"
        );
    }

    #[test]
    fn latency_counts_from_the_slot_not_from_the_late_send() {
        let plan = Plan::new(
            Duration::ZERO,
            Duration::from_secs(60),
            Arc::new(AtomicU64::new(0)),
            1_000,
        );
        let mut rec = Recorder::paced(plan.clone(), 100.0, 0, 1);
        // The first slot missed by 80 ms (the worker was busy): the 80 ms are part of the latency.
        std::thread::sleep(Duration::from_millis(80));
        rec.record(plan.started, Ok(()));
        assert!(rec.latencies_us[0] >= 80_000, "{:?}", rec.latencies_us);
    }

    #[test]
    fn the_own_process_has_a_cpu_time_and_a_resident_size() {
        assert!(cpu_seconds("self").is_some());
        assert!(machine_cpu_seconds().is_some_and(|s| s > 0.0));
        let mut line = json!({});
        add_server_memory(&mut line, Some(std::process::id()));
        assert!(
            line["server_hwm_kb"].as_u64().is_some_and(|kb| kb > 0),
            "{line}"
        );
    }
}
