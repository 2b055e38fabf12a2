//! The standard `process_*` metrics (as the Prometheus client libraries name them), read from
//! `/proc/self` at each scrape, and `latch_build_info`. Elsewhere than Linux only the start time
//! and the build are reported.

use std::fmt::Write as _;
use std::sync::OnceLock;

/// Linux's `USER_HZ`: the unit of the CPU times in `/proc/self/stat`.
const TICKS_PER_SECOND: f64 = 100.0;

/// When the process started, in Unix seconds (set by the first call, early at start-up).
pub fn start_time() -> f64 {
    static START: OnceLock<f64> = OnceLock::new();
    *START.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    })
}

fn gauge(out: &mut String, name: &str, kind: &str, help: &str, value: f64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

pub fn render(out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP latch_build_info The running build.\n# TYPE latch_build_info gauge\nlatch_build_info{{version=\"{}\",commit=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        env!("LATCH_COMMIT")
    );
    gauge(
        out,
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since the Unix epoch, in seconds.",
        start_time(),
    );
    // /proc/self/stat: fields after the command name (which may hold spaces) in parentheses.
    if let Some(stat) = std::fs::read_to_string("/proc/self/stat").ok()
        && let Some((_, rest)) = stat.rsplit_once(')')
    {
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let number = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
        // utime and stime are fields 14 and 15 of stat(5), 11 and 12 after the name.
        if let (Some(user), Some(system)) = (number(11), number(12)) {
            gauge(
                out,
                "process_cpu_seconds_total",
                "counter",
                "Total user and system CPU time spent in seconds.",
                (user + system) / TICKS_PER_SECOND,
            );
        }
        if let Some(vsize) = number(20) {
            gauge(
                out,
                "process_virtual_memory_bytes",
                "gauge",
                "Virtual memory size in bytes.",
                vsize,
            );
        }
    }
    if let Some(status) = std::fs::read_to_string("/proc/self/status").ok()
        && let Some(kb) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
    {
        gauge(
            out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            kb * 1024.0,
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        gauge(
            out,
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            fds.count() as f64,
        );
    }
    if let Some(limits) = std::fs::read_to_string("/proc/self/limits").ok()
        && let Some(max) = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|v| v.parse::<f64>().ok())
    {
        gauge(
            out,
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            max,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_is_described_in_prometheus_names() {
        let mut out = String::new();
        render(&mut out);
        assert!(out.contains("latch_build_info{version=\""), "{out}");
        for name in [
            "process_start_time_seconds ",
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_max_fds ",
        ] {
            assert!(out.contains(name), "{name}: {out}");
        }
    }
}
