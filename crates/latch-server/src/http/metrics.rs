//! Prometheus metrics (text exposition format 0.0.4), served on their own listener
//! (`LATCH_METRICS_LISTEN`, loopback by default) so they are not public.
//!
//! Counters are process-wide: any module records through `metrics::global()`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
pub struct Metrics {
    /// Keyed by route pattern (or `unmatched`), method (`method_label`) and status: every label
    /// comes from a closed set, so no request can grow the registry.
    requests: Mutex<BTreeMap<(String, &'static str, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    tokens: Mutex<BTreeMap<&'static str, u64>>,
    token_errors: Mutex<BTreeMap<&'static str, u64>>,
    logins: Mutex<BTreeMap<&'static str, u64>>,
    deliveries: Mutex<BTreeMap<&'static str, u64>>,
    mail: Mutex<BTreeMap<&'static str, u64>>,
    purged: Mutex<BTreeMap<&'static str, u64>>,
    internal_errors: AtomicU64,
    audit_dropped: AtomicU64,
}

pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::default)
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    if let Ok(mut m) = map.lock() {
        *m.entry(key).or_insert(0) += 1;
    }
}

impl Metrics {
    /// A token response, by grant type.
    pub fn token_issued(&self, grant: &'static str) {
        bump(&self.tokens, grant);
    }

    /// A token-endpoint error response, by its RFC 6749 §5.2 `error` code.
    pub fn token_error(&self, code: &'static str) {
        bump(&self.token_errors, code);
    }

    /// A password sign-in: `success`, `failure` or `locked`.
    pub fn login(&self, outcome: &'static str) {
        bump(&self.logins, outcome);
    }

    /// A back-channel delivery attempt: `delivered`, `failed` or `abandoned`.
    pub fn delivery(&self, outcome: &'static str) {
        bump(&self.deliveries, outcome);
    }

    /// An outbound e-mail: `sent`, `failed`, `abandoned` or `limited` (refused by a send limit).
    pub fn mail(&self, outcome: &'static str) {
        bump(&self.mail, outcome);
    }

    /// Rows the retention purge deleted from `table` (a table name: a closed set).
    pub fn purged(&self, table: &'static str, rows: u64) {
        if let Ok(mut m) = self.purged.lock() {
            *m.entry(table).or_insert(0) += rows;
        }
    }

    /// Audit events that could not be stored (queue full, or the store refused a batch).
    pub fn audit_dropped(&self, count: u64) {
        self.audit_dropped.fetch_add(count, Ordering::Relaxed);
    }

    pub fn internal_error(&self) {
        self.internal_errors.fetch_add(1, Ordering::Relaxed);
    }

    fn request(&self, route: &str, method: &'static str, status: u16, seconds: f64) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((route.to_owned(), method, status)).or_insert(0) += 1;
        }
        if let Ok(mut m) = self.latency.lock() {
            let h = m.entry(route.to_owned()).or_default();
            for (i, bound) in BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += seconds;
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP latch_http_requests_total HTTP requests by route, method and status.\n# TYPE latch_http_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((route, method, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "latch_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP latch_http_request_duration_seconds Time to answer, by route.\n# TYPE latch_http_request_duration_seconds histogram\n");
        if let Ok(m) = self.latency.lock() {
            for (route, h) in m.iter() {
                for (bound, n) in BUCKETS.iter().zip(h.counts) {
                    let _ = writeln!(
                        out,
                        "latch_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}"
                    );
                }
                let _ = writeln!(
                    out,
                    "latch_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "latch_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "latch_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                    h.count
                );
            }
        }
        for (name, help, label, map) in [
            (
                "latch_tokens_issued_total",
                "Token responses by grant type.",
                "grant",
                &self.tokens,
            ),
            (
                "latch_token_errors_total",
                "Token-endpoint error responses by RFC 6749 error code.",
                "error",
                &self.token_errors,
            ),
            (
                "latch_logins_total",
                "Password sign-ins by outcome.",
                "outcome",
                &self.logins,
            ),
            (
                "latch_backchannel_deliveries_total",
                "Back-channel logout deliveries by outcome.",
                "outcome",
                &self.deliveries,
            ),
            (
                "latch_mail_total",
                "Outbound e-mail by outcome.",
                "outcome",
                &self.mail,
            ),
            (
                "latch_retention_purged_rows_total",
                "Rows deleted by the retention purge, by table.",
                "table",
                &self.purged,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            if let Ok(m) = map.lock() {
                for (k, n) in m.iter() {
                    let _ = writeln!(out, "{name}{{{label}=\"{k}\"}} {n}");
                }
            }
        }
        render_store_operations(&mut out);
        crate::http::metrics_process::render(&mut out);
        let _ = writeln!(
            out,
            "# HELP latch_internal_errors_total Requests that failed inside Latch (database, signing).\n# TYPE latch_internal_errors_total counter\nlatch_internal_errors_total {}",
            self.internal_errors.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP latch_audit_events_dropped_total Audit events logged but not stored (queue full or store error).\n# TYPE latch_audit_events_dropped_total counter\nlatch_audit_events_dropped_total {}",
            self.audit_dropped.load(Ordering::Relaxed)
        );
        out
    }
}

/// `latch_db_operation_duration_seconds{operation}`: each store method's time (its name is the
/// label: a closed set), waiting for a connection included.
fn render_store_operations(out: &mut String) {
    let name = "latch_db_operation_duration_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time of each database operation (a store method), waiting included.\n# TYPE {name} histogram"
    );
    for (operation, h) in latch_store::timing::snapshot() {
        for (bound, n) in latch_store::timing::BUCKETS.iter().zip(h.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{operation=\"{operation}\",le=\"{bound}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{operation=\"{operation}\",le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(out, "{name}_sum{{operation=\"{operation}\"}} {}", h.sum);
        let _ = writeln!(out, "{name}_count{{operation=\"{operation}\"}} {}", h.count);
    }
}

/// Records every request's route (the matched pattern, never the raw path: label sets stay
/// bounded whatever clients send), status and latency; with `LATCH_ACCESS_LOG=on` also logs one
/// line per request (target `latch::access`): method, route, status, duration and client address
/// (never the query string, which can carry codes and tokens).
pub async fn middleware(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = method_label(request.method());
    let client = state.settings.access_log.then(|| {
        crate::http::client_ip::of_request(
            request.extensions(),
            request.headers(),
            &state.settings.trusted_proxies,
        )
    });
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    global().request(&route, method, status, seconds);
    if let Some(client) = client {
        tracing::info!(
            target: "latch::access",
            method,
            route = %route,
            status,
            duration_ms = (seconds * 1e6).round() / 1e3,
            client = client.map(|ip| ip.to_string()).as_deref(),
            "request"
        );
    }
    response
}

/// The method as a label: the registered methods by name, anything else as `other` (a client
/// may send any token as a method, RFC 9110 §9.1).
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Serves `GET /metrics` on the (already bound: a busy address stops start-up) listener until
/// the process ends.
pub fn spawn_listener(listener: tokio::net::TcpListener, state: crate::state::AppState) {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tokio::spawn(async move {
        let app = axum::Router::new()
            .route("/metrics", axum::routing::get(scrape))
            .with_state(state);
        tracing::info!(%addr, "metrics at /metrics");
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "metrics listener stopped");
        }
    });
}

/// How long a count of active sessions is reused (a scrape every few seconds must not become a
/// table scan every few seconds).
const SESSIONS_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

async fn scrape(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
) -> impl axum::response::IntoResponse {
    let mut text = global().render();
    let pool = state.store.pool_status();
    let _ = writeln!(
        text,
        "# HELP latch_db_connections Database connections of this process, by state.\n# TYPE latch_db_connections gauge\nlatch_db_connections{{state=\"in_use\"}} {}\nlatch_db_connections{{state=\"idle\"}} {}",
        pool.open.saturating_sub(pool.idle),
        pool.idle
    );
    if let Some(waiting) = pool.waiting {
        let _ = writeln!(
            text,
            "# HELP latch_db_waiting Requests queued for a database connection (SQLite: for the writer).\n# TYPE latch_db_waiting gauge\nlatch_db_waiting {waiting}"
        );
    }
    if let Some(n) = active_sessions(&state).await {
        let _ = writeln!(
            text,
            "# HELP latch_active_sessions Browser sessions neither ended nor expired (counted at most every 30 s).\n# TYPE latch_active_sessions gauge\nlatch_active_sessions {n}"
        );
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        text,
    )
}

async fn active_sessions(state: &crate::state::AppState) -> Option<i64> {
    static LAST: Mutex<Option<(Instant, i64)>> = Mutex::new(None);
    if let Ok(last) = LAST.lock()
        && let Some((at, n)) = *last
        && at.elapsed() < SESSIONS_EVERY
    {
        return Some(n);
    }
    let idle = state.settings.session_idle_timeout;
    match state
        .store
        .count_active_sessions(state.clock.now(), idle)
        .await
    {
        Ok(n) => {
            if let Ok(mut last) = LAST.lock() {
                *last = Some((Instant::now(), n));
            }
            Some(n)
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics: cannot count active sessions");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_lists_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.request("/oauth/token", "POST", 200, 0.002);
        m.request("/oauth/token", "POST", 200, 0.2);
        m.token_issued("client_credentials");
        let text = m.render();
        assert!(text.contains(
            "latch_http_requests_total{route=\"/oauth/token\",method=\"POST\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "latch_http_request_duration_seconds_bucket{route=\"/oauth/token\",le=\"0.0025\"} 1"
        ));
        assert!(text.contains(
            "latch_http_request_duration_seconds_bucket{route=\"/oauth/token\",le=\"0.25\"} 2"
        ));
        assert!(text.contains("latch_tokens_issued_total{grant=\"client_credentials\"} 1"));
    }

    #[test]
    fn purged_rows_add_up_per_table() {
        let m = Metrics::default();
        m.purged("audit_events", 500);
        m.purged("audit_events", 12);
        m.purged("sessions", 0);
        let text = m.render();
        assert!(text.contains("# TYPE latch_retention_purged_rows_total counter"));
        assert!(text.contains("latch_retention_purged_rows_total{table=\"audit_events\"} 512"));
        assert!(text.contains("latch_retention_purged_rows_total{table=\"sessions\"} 0"));
    }

    #[test]
    fn unknown_methods_are_counted_as_other() {
        let odd = axum::http::Method::from_bytes(b"XYZZY").unwrap();
        assert_eq!(method_label(&odd), "other");
        assert_eq!(method_label(&axum::http::Method::PATCH), "PATCH");
    }
}
