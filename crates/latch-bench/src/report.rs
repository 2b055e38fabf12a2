//! `--report FILE`: turns a run's JSON lines (workload lines, signature ceilings, and the script's
//! `{"metric", "value"}` lines) into Markdown tables, each figure against issue 8's target.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::Value;

/// A throughput target.
enum Throughput {
    /// A share of the signature ceiling divided by the signatures per operation.
    OfCeiling(f64),
    AtLeast(f64),
}

const P99_LIMIT_MS: f64 = 15.0;
/// Issue 21: token traffic while sign-ins saturate the hashing pool.
const MIXED_TOKEN_P99_LIMIT_MS: f64 = 10.0;

/// Signatures per operation: one access token, or an access token and an ID token.
fn signatures(workload: &str) -> Option<f64> {
    match workload {
        "client_credentials" | "mixed_token" => Some(1.0),
        "sso_code_flow" | "refresh" => Some(2.0),
        _ => None,
    }
}

fn throughput_target(workload: &str, alg: &str) -> Option<Throughput> {
    match (workload, alg) {
        ("client_credentials", "RS256") => Some(Throughput::OfCeiling(0.85)),
        ("sso_code_flow" | "refresh", "RS256") => Some(Throughput::OfCeiling(0.80)),
        ("client_credentials", "ES256") => Some(Throughput::AtLeast(15_000.0)),
        ("sso_code_flow" | "refresh", "ES256") => Some(Throughput::AtLeast(4_000.0)),
        ("jwks" | "discovery", _) => Some(Throughput::AtLeast(40_000.0)),
        _ => None,
    }
}

/// Issue 21's p99 targets for an open-loop run at a share of the workload's capacity.
fn open_loop_p99_limit(workload: &str, alg: &str, percent: f64) -> Option<f64> {
    let at = |p: f64| (percent - p).abs() < 0.5;
    match (workload, alg) {
        ("client_credentials", "RS256") if at(70.0) => Some(5.0),
        ("client_credentials", "RS256") if at(50.0) => Some(3.0),
        ("sso_code_flow" | "refresh", "RS256") if at(70.0) => Some(10.0),
        ("sso_code_flow" | "refresh", "RS256") if at(50.0) => Some(6.0),
        ("client_credentials" | "sso_code_flow" | "refresh", "ES256") if at(70.0) => Some(2.0),
        _ => None,
    }
}

/// The "target" and "met" cells of an open-loop line: the arrival rate kept up with (95 %), and
/// the p99 limit of its share of capacity when the issue sets one.
fn judge_open_loop(line: &Value) -> [String; 3] {
    let (workload, alg) = (
        line["workload"].as_str().unwrap_or(""),
        line["alg"].as_str().unwrap_or(""),
    );
    let rate = num(line, "target_rate_per_s");
    let mut targets = vec![format!("≥ 95 % of {rate:.0}/s")];
    let mut missed = Vec::new();
    if num(line, "ops_per_s") < 0.95 * rate {
        missed.push("rate");
    }
    if let Some(limit) = line["of_capacity_pct"]
        .as_f64()
        .and_then(|p| open_loop_p99_limit(workload, alg, p))
    {
        targets.push(format!("p99 ≤ {limit:.0} ms"));
        if num(line, "p99_ms") > limit {
            missed.push("p99");
        }
    }
    if num(line, "errors") > 0.0 {
        missed.push("errors");
    }
    let met = if missed.is_empty() {
        "yes".to_owned()
    } else {
        format!("**no** ({})", missed.join(", "))
    };
    ["—".to_owned(), targets.join("; "), met]
}

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(0.0)
}

fn ms(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

fn pct(v: &Value, key: &str) -> String {
    v[key]
        .as_f64()
        .map_or_else(|| "—".to_owned(), |x| format!("{x:.0} %"))
}

/// The "of ceiling", "target" and "met" cells of one workload line.
fn judge(line: &Value, ceilings: &HashMap<String, f64>) -> [String; 3] {
    let (workload, alg) = (
        line["workload"].as_str().unwrap_or(""),
        line["alg"].as_str().unwrap_or(""),
    );
    let ops = num(line, "ops_per_s");
    let share = match (signatures(workload), ceilings.get(alg)) {
        (Some(sigs), Some(ceiling)) if *ceiling > 0.0 => Some(ops * sigs / ceiling),
        _ => None,
    };
    let of_ceiling = match (workload, share) {
        ("mixed_token", _) | (_, None) => "—".to_owned(),
        (_, Some(s)) => format!("{:.0} %", s * 100.0),
    };
    if workload == "login" {
        return judge_login(line, ceilings);
    }
    let mut targets = Vec::new();
    let mut missed = Vec::new();
    match throughput_target(workload, alg) {
        Some(Throughput::OfCeiling(f)) => {
            let half = if signatures(workload) == Some(2.0) {
                "half the ceiling"
            } else {
                "the ceiling"
            };
            targets.push(format!("≥ {:.0} % of {half}", f * 100.0));
            if share.is_none_or(|s| s < f) {
                missed.push("throughput");
            }
        }
        Some(Throughput::AtLeast(n)) => {
            targets.push(format!("≥ {n:.0} ops/s"));
            if ops < n {
                missed.push("throughput");
            }
        }
        None => {}
    }
    if signatures(workload).is_some() {
        let limit = if workload == "mixed_token" {
            MIXED_TOKEN_P99_LIMIT_MS
        } else {
            P99_LIMIT_MS
        };
        targets.push(format!("p99 ≤ {limit:.0} ms"));
        if num(line, "p99_ms") > limit {
            missed.push("p99");
        }
    }
    if targets.is_empty() {
        return [of_ceiling, "— (reported apart)".to_owned(), "—".to_owned()];
    }
    if num(line, "errors") > 0.0 {
        missed.push("errors");
    }
    let met = if missed.is_empty() {
        "yes".to_owned()
    } else {
        format!("**no** ({})", missed.join(", "))
    };
    [of_ceiling, targets.join("; "), met]
}

/// Issue 21: a sign-in may cost at most this many RSA-2048 signatures' worth of server CPU.
const LOGIN_SIGNATURES_LIMIT: f64 = 45.0;

/// The closed-loop `login` line: the server's CPU per sign-in, in RS256 signatures of the same
/// run's ceiling (the server is saturated, so this is its cost whatever the host's speed).
fn judge_login(line: &Value, ceilings: &HashMap<String, f64>) -> [String; 3] {
    let (ops, cpu) = (num(line, "ops_per_s"), num(line, "server_cpu_pct") / 100.0);
    let Some(ceiling) = ceilings
        .get("RS256")
        .filter(|c| **c > 0.0 && ops > 0.0 && cpu > 0.0)
    else {
        return [
            "—".to_owned(),
            "— (reported apart)".to_owned(),
            "—".to_owned(),
        ];
    };
    let signatures = cpu * ceiling / ops;
    let ms = cpu * 1000.0 / ops;
    let ok = signatures <= LOGIN_SIGNATURES_LIMIT && num(line, "errors") == 0.0;
    [
        format!("{ms:.1} ms CPU = {signatures:.1} RS256 signatures per sign-in"),
        format!("≤ {LOGIN_SIGNATURES_LIMIT:.0} RS256 signatures per sign-in"),
        yes_no(ok).to_owned(),
    ]
}

fn yes_no(ok: bool) -> &'static str {
    if ok { "yes" } else { "**no**" }
}

/// The Markdown report of a run's JSON lines.
pub fn render(jsonl: &str) -> String {
    let lines: Vec<Value> = jsonl
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let metric = |name: &str| {
        lines
            .iter()
            .find(|l| l["metric"] == name)
            .map(|l| l["value"].clone())
    };
    // Each algorithm's ceiling may be measured more than once (before and after the workloads):
    // the fractions use the mean, and every measurement is shown.
    let mut measured: Vec<(String, Vec<f64>)> = Vec::new();
    for l in lines
        .iter()
        .filter(|l| l["workload"] == "signature_ceiling")
    {
        let alg = l["alg"].as_str().unwrap_or("").to_owned();
        match measured.iter_mut().find(|(a, _)| *a == alg) {
            Some((_, v)) => v.push(num(l, "ops_per_s")),
            None => measured.push((alg, vec![num(l, "ops_per_s")])),
        }
    }
    measured.sort_by(|a, b| a.0.cmp(&b.0));
    let ceilings: HashMap<String, f64> = measured
        .iter()
        .map(|(alg, v)| (alg.clone(), v.iter().sum::<f64>() / v.len() as f64))
        .collect();
    let mut out = String::new();
    if let Some(db) = metric("database").and_then(|v| v.as_str().map(str::to_owned)) {
        let _ = writeln!(out, "Database: {db}.\n");
    }
    out.push_str(
        "### Signature ceiling (aws-lc-rs, one core, one thread)\n\n\
         | alg | signatures/s (mean) | each measurement | half (two-signature flows) |\n| --- | ---: | ---: | ---: |\n",
    );
    for (alg, v) in &measured {
        let each = v
            .iter()
            .map(|x| format!("{x:.0}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mean = ceilings.get(alg).copied().unwrap_or(0.0);
        let _ = writeln!(out, "| {alg} | {mean:.0} | {each} | {:.0} |", mean / 2.0);
    }
    out.push_str(
        "\n### Workloads\n\n| workload | alg | clients | ops/s | p50 ms | p90 ms | p99 ms | errors | server CPU | driver CPU | other CPU | server peak RSS | of signature ceiling | target | met |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n",
    );
    for l in lines
        .iter()
        .filter(|l| l["ops_per_s"].is_number() && l["workload"] != "signature_ceiling")
    {
        let open = l["mode"] == "open";
        let [of_ceiling, target, met] = if open {
            judge_open_loop(l)
        } else {
            judge(l, &ceilings)
        };
        let mut workload = l["workload"].as_str().unwrap_or("").to_owned();
        if let Some(minute) = l["minute"].as_u64() {
            let _ = write!(workload, " (minute {minute})");
        }
        if let Some(rate) = l["target_rate_per_s"].as_f64() {
            match (open, l["of_capacity_pct"].as_f64()) {
                (true, Some(p)) => {
                    let _ = write!(workload, " (open loop, {p:.0} % of capacity: {rate:.0}/s)");
                }
                (true, None) => {
                    let _ = write!(workload, " (open loop at {rate:.0}/s)");
                }
                (false, _) => {
                    let _ = write!(workload, " (at {rate:.0}/s)");
                }
            }
        }
        let _ = writeln!(
            out,
            "| {workload} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {of_ceiling} | {target} | {met} |",
            l["alg"].as_str().unwrap_or(""),
            l["concurrency"],
            num(l, "ops_per_s"),
            ms(num(l, "p50_ms")),
            ms(num(l, "p90_ms")),
            ms(num(l, "p99_ms")),
            l["errors"],
            pct(l, "server_cpu_pct"),
            pct(l, "driver_cpu_pct"),
            pct(l, "other_cpu_pct"),
            l["server_hwm_kb"]
                .as_f64()
                .map_or_else(|| "—".to_owned(), |kb| format!("{:.0} MB", kb / 1024.0)),
        );
    }
    out.push_str("\n### Server\n\n| figure | value | target | met |\n| --- | ---: | --- | --- |\n");
    let figure =
        |out: &mut String, label: &str, key: &str, unit: &str, scale: f64, limit: Option<f64>| {
            let Some(v) = metric(key).and_then(|v| v.as_f64()) else {
                return;
            };
            let v = v / scale;
            let (target, met) = match limit {
                Some(l) => (format!("≤ {l:.0} {unit}"), yes_no(v <= l)),
                None => ("—".to_owned(), "—"),
            };
            let _ = writeln!(out, "| {label} | {v:.1} {unit} | {target} | {met} |");
        };
    figure(
        &mut out,
        "start-up to ready, fresh database",
        "startup_fresh_ms",
        "ms",
        1.0,
        None,
    );
    figure(
        &mut out,
        "start-up to ready, existing database",
        "startup_existing_ms",
        "ms",
        1.0,
        Some(50.0),
    );
    figure(
        &mut out,
        "idle resident memory (VmRSS after start)",
        "idle_rss_kb",
        "MB",
        1024.0,
        Some(15.0),
    );
    figure(
        &mut out,
        "peak resident memory (VmHWM after the run)",
        "peak_rss_kb",
        "MB",
        1024.0,
        Some(60.0),
    );
    preload_section(&mut out, &lines);
    soak_section(&mut out, &lines);
    out
}

/// The soak's verdicts (issue 21: the last minute's throughput within 5 % of the first, resident
/// memory within ±10 %) and the database's size minute by minute.
fn soak_section(out: &mut String, lines: &[Value]) {
    let Some(summary) = lines.iter().find(|l| l["workload"] == "soak") else {
        return;
    };
    let _ = writeln!(
        out,
        "\n### Soak ({} minutes)\n\n| figure | value | target | met |\n| --- | ---: | --- | --- |",
        summary["minutes"]
    );
    let within = |key: &str, label: &str, tol: f64, out: &mut String| {
        if let Some(r) = summary[key].as_f64() {
            let _ = writeln!(
                out,
                "| {label} | {r:.3} | {:.2}–{:.2} | {} |",
                1.0 - tol,
                1.0 + tol,
                yes_no((r - 1.0).abs() <= tol)
            );
        }
    };
    within(
        "soak_refresh_last_over_first",
        "refresh throughput, last minute ÷ first",
        0.05,
        out,
    );
    within(
        "rss_last_over_first",
        "server resident memory, last minute ÷ first",
        0.10,
        out,
    );
    if let (Some(logouts), Some(received)) = (
        summary["logouts"].as_u64(),
        summary["backchannel_received"].as_u64(),
    ) {
        let _ = writeln!(
            out,
            "| back-channel logouts received / logouts | {received} / {logouts} | all | {} |",
            yes_no(received >= logouts)
        );
    }
    let sizes: Vec<(u64, f64)> = lines
        .iter()
        .filter(|l| l["metric"] == "soak_database_bytes")
        .filter_map(|l| Some((l["minute"].as_u64()?, l["value"].as_f64()?)))
        .collect();
    for (minute, bytes) in &sizes {
        let _ = writeln!(
            out,
            "| database size after minute {minute} | {:.1} MB | flat once retention runs | — |",
            bytes / 1_048_576.0
        );
    }
    database_growth(out, lines, &sizes);
}

/// The database's size at the last minute over its size once retention runs: the first minute
/// that ends at least a retention and two sweeps (two minutes) after the start.
fn database_growth(out: &mut String, lines: &[Value], sizes: &[(u64, f64)]) {
    let retention = lines
        .iter()
        .find(|l| l["metric"] == "soak_retention_s")
        .and_then(|l| l["value"].as_u64());
    let Some(retention) = retention else { return };
    let steady = retention.div_ceil(60) + 2;
    let from = sizes.iter().find(|(m, _)| *m == steady);
    if let (Some((m, first)), Some((last_m, last))) = (from, sizes.last())
        && last_m > m
        && *first > 0.0
    {
        let ratio = last / first;
        let _ = writeln!(
            out,
            "| database size, minute {last_m} ÷ minute {m} (retention {retention} s) | {ratio:.3} | 0.90–1.10 | {} |",
            yes_no((ratio - 1.0).abs() <= 0.10)
        );
    }
}

/// Bytes per row of each kind the preload added (tables and their indexes), and the database's
/// size after the preload and at the end of the run.
fn preload_section(out: &mut String, lines: &[Value]) {
    let per_row: Vec<(&str, f64)> = lines
        .iter()
        .filter_map(|l| {
            let kind = l["metric"].as_str()?.strip_prefix("preload_bytes_per_")?;
            Some((kind, l["value"].as_f64()?))
        })
        .collect();
    if per_row.is_empty() {
        return;
    }
    out.push_str(
        "\n### Preloaded database\n\n| kind | bytes per row (table + indexes) |\n| --- | ---: |\n",
    );
    for (kind, bytes) in per_row {
        let _ = writeln!(out, "| {} | {bytes:.0} |", kind.replace('_', " "));
    }
    for (key, label) in [
        ("database_bytes_after_preload", "database after the preload"),
        ("database_bytes_at_end", "database at the end of the run"),
    ] {
        if let Some(bytes) = lines
            .iter()
            .find(|l| l["metric"] == key)
            .and_then(|l| l["value"].as_f64())
        {
            let _ = writeln!(out, "| {label} | {:.1} MB |", bytes / 1_048_576.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soak_compares_its_last_minute_with_its_first() {
        let run = r#"{"workload":"soak_refresh","alg":"ES256","minute":1,"ops":600,"ops_per_s":10.0,"p50_ms":1.0,"p99_ms":2.0,"errors":0}
{"workload":"soak","alg":"ES256","minutes":10,"soak_refresh_last_over_first":0.97,"rss_last_over_first":1.2,"logouts":1200,"backchannel_received":1200}
{"metric":"soak_database_bytes","minute":1,"value":2097152}
{"metric":"soak_retention_s","value":120}
{"metric":"soak_database_bytes","minute":4,"value":4194304}
{"metric":"soak_database_bytes","minute":10,"value":4404019}"#;
        let md = render(run);
        assert!(md.contains("| soak_refresh (minute 1) | ES256 |"), "{md}");
        assert!(
            md.contains("| refresh throughput, last minute ÷ first | 0.970 | 0.95–1.05 | yes |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| server resident memory, last minute ÷ first | 1.200 | 0.90–1.10 | **no** |"
            ),
            "{md}"
        );
        assert!(md.contains("| 1200 / 1200 | all | yes |"), "{md}");
        assert!(
            md.contains("| database size after minute 1 | 2.0 MB |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| database size, minute 10 ÷ minute 4 (retention 120 s) | 1.050 | 0.90–1.10 | yes |"
            ),
            "{md}"
        );
    }

    #[test]
    fn preload_figures_are_listed_per_kind() {
        let run = r#"{"metric":"preload_bytes_per_user","value":270.3}
{"metric":"preload_bytes_per_refresh_grant","value":295.7}
{"metric":"database_bytes_after_preload","value":10485760}"#;
        let md = render(run);
        assert!(md.contains("| user | 270 |"), "{md}");
        assert!(md.contains("| refresh grant | 296 |"), "{md}");
        assert!(
            md.contains("| database after the preload | 10.0 MB |"),
            "{md}"
        );
        assert!(!render("").contains("Preloaded database"));
    }

    #[test]
    fn open_loop_lines_are_judged_by_rate_kept_and_their_p99_limit() {
        let run = r#"{"workload":"client_credentials","alg":"RS256","concurrency":32,"ops_per_s":700.0,"p50_ms":1.0,"p90_ms":2.0,"p99_ms":4.0,"errors":0,"mode":"open","target_rate_per_s":700,"of_capacity_pct":70.0}
{"workload":"refresh","alg":"RS256","concurrency":32,"ops_per_s":250.0,"p50_ms":1.0,"p90_ms":2.0,"p99_ms":7.0,"errors":0,"mode":"open","target_rate_per_s":300,"of_capacity_pct":50.0}
{"workload":"refresh","alg":"ES256","concurrency":32,"ops_per_s":1000.0,"p50_ms":1.0,"p90_ms":2.0,"p99_ms":9.0,"errors":0,"mode":"open","target_rate_per_s":1000}"#;
        let md = render(run);
        assert!(
            md.contains("| client_credentials (open loop, 70 % of capacity: 700/s) | RS256 |"),
            "{md}"
        );
        assert!(md.contains("| ≥ 95 % of 700/s; p99 ≤ 5 ms | yes |"), "{md}");
        assert!(
            md.contains("| ≥ 95 % of 300/s; p99 ≤ 6 ms | **no** (rate, p99) |"),
            "{md}"
        );
        assert!(
            md.contains("| refresh (open loop at 1000/s) | ES256 |"),
            "{md}"
        );
        assert!(md.contains("| ≥ 95 % of 1000/s | yes |"), "{md}");
    }

    #[test]
    fn token_figures_are_judged_against_the_matching_ceiling() {
        let run = r#"{"workload":"signature_ceiling","alg":"RS256","ops_per_s":900.0}
{"workload":"signature_ceiling","alg":"RS256","ops_per_s":1100.0}
{"workload":"client_credentials","alg":"RS256","concurrency":32,"ops_per_s":900.0,"p50_ms":1.0,"p90_ms":2.0,"p99_ms":3.0,"errors":0}
{"workload":"refresh","alg":"RS256","concurrency":32,"ops_per_s":300.0,"p50_ms":1.0,"p90_ms":2.0,"p99_ms":30.0,"errors":0}
{"workload":"login","alg":"RS256","concurrency":32,"ops_per_s":40.0,"p50_ms":1.0,"p90_ms":2.0,"p99_ms":900.0,"errors":0}
{"metric":"startup_existing_ms","value":12.5}
{"metric":"peak_rss_kb","value":102400}"#;
        let md = render(run);
        assert!(md.contains("| RS256 | 1000 | 900, 1100 | 500 |"), "{md}");
        assert!(
            md.contains("| client_credentials | RS256 | 32 | 900 |"),
            "{md}"
        );
        assert!(
            md.contains("| 90 % | ≥ 85 % of the ceiling; p99 ≤ 15 ms | yes |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| 60 % | ≥ 80 % of half the ceiling; p99 ≤ 15 ms | **no** (throughput, p99) |"
            ),
            "{md}"
        );
        assert!(md.contains("— (reported apart)"), "{md}");
        assert!(
            md.contains("| start-up to ready, existing database | 12.5 ms | ≤ 50 ms | yes |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| peak resident memory (VmHWM after the run) | 100.0 MB | ≤ 60 MB | **no** |"
            ),
            "{md}"
        );
    }

    /// Issue 21: a sign-in's server CPU in signatures of the same run's RS256 ceiling.
    #[test]
    fn a_sign_in_is_judged_by_its_server_cpu_in_signatures() {
        let run = r#"{"workload":"signature_ceiling","alg":"RS256","ops_per_s":3000.0}
{"workload":"signature_ceiling","alg":"RS256","ops_per_s":3400.0}
{"workload":"login","alg":"RS256","concurrency":32,"ops_per_s":80.0,"p50_ms":1.0,"p90_ms":2.0,"p99_ms":900.0,"errors":0,"server_cpu_pct":100.0}
{"workload":"login","alg":"ES256","concurrency":32,"ops_per_s":64.0,"p50_ms":1.0,"p90_ms":2.0,"p99_ms":900.0,"errors":0,"server_cpu_pct":99.0}
{"workload":"mixed_token","alg":"RS256","concurrency":32,"ops_per_s":200.0,"p50_ms":1.0,"p90_ms":2.0,"p99_ms":11.0,"errors":0}"#;
        let md = render(run);
        // 1 s of CPU / 80 = 12.5 ms = 12.5 × 3.2 signatures.
        assert!(
            md.contains(
                "| 12.5 ms CPU = 40.0 RS256 signatures per sign-in | ≤ 45 RS256 signatures per sign-in | yes |"
            ),
            "{md}"
        );
        // 0.99 s / 64 = 15.5 ms = 49.5 signatures.
        assert!(
            md.contains(
                "| 15.5 ms CPU = 49.5 RS256 signatures per sign-in | ≤ 45 RS256 signatures per sign-in | **no** |"
            ),
            "{md}"
        );
        // During the storm, token traffic's p99 limit is issue 21's 10 ms.
        assert!(md.contains("| p99 ≤ 10 ms | **no** (p99) |"), "{md}");
    }
}
