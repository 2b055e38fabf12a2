//! # latch-server
//!
//! Latch's HTTP surface on axum: every route (`router.rs`), the OAuth 2.0 / OpenID Connect
//! endpoints, the hosted pages (`pages`: askama templates in `templates/`, one layout, one
//! stylesheet, the `LATCH_BRANDING_*` theme), the management layer (`manage`: operations shared by
//! the management API, the CLI and the coming console) and its HTTP API (`admin`), the
//! error-to-HTTP mapping, the
//! in-memory caches (applications, signing keys, revocations), the abuse limits, the listening edge
//! (`edge`: header-read timeout, connection cap), outbound calls (`outbound`), the background jobs,
//! metrics, and the services the binary shares (user import/export, key rewrap, password hashing and
//! the foreign hash formats it verifies).
//!
//! Protocol rules live in `latch-core`, rows in `latch-store`, signatures in `latch-jose`: handlers
//! here extract, parse, call those, and map the outcome to HTTP. Nothing here writes SQL.

mod admin;
mod applications;
pub mod audit;
mod backchannel;
mod body_limit;
mod bounded;
pub mod client_ip;
mod cors;
mod edge;
pub mod error;
mod flow;
mod grants;
mod invitation;
mod keys;
mod lifecycle;
mod login;
mod logout;
pub mod mail;
pub mod manage;
mod metrics;
mod metrics_process;
mod new_password;
mod oauth;
mod oidc;
mod outbound;
mod pages;
pub mod password;
pub mod password_reset;
mod rate_limit;
mod revocations;
mod router;
mod session;
pub mod settings;
mod startup;
mod state;
mod sweep;
mod throttle;
pub mod tokens;
pub mod user_transfer;

pub use keys::{replace_key_file, resolve_master_key, rewrap_keys, rotate_key};
pub use settings::{Settings, SettingsError};
pub use startup::{Server, StartupError};
pub use state::AppState;
