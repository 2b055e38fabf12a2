//! The edge and the HTTP plumbing every route shares: the accept loop with its header-read timeout
//! and connection cap (`edge`), the router (`router`), the body limit, CORS, the rate limits, the
//! client's address behind trusted proxies (`client_ip`), request metrics and the process's own
//! (`metrics`, `metrics_process`), and the mapping of internal errors to responses (`error`).

pub(crate) mod body_limit;
pub mod client_ip;
pub(crate) mod cors;
pub(crate) mod edge;
pub mod error;
pub(crate) mod metrics;
pub(crate) mod metrics_process;
pub(crate) mod rate_limit;
pub(crate) mod router;
