//! # latch-server
//!
//! Latch's HTTP surface on axum: every route (`router.rs`), the OAuth 2.0 / OpenID Connect
//! endpoints, the hosted pages (`pages`: askama templates in `templates/`, one layout, one
//! stylesheet, the `LATCH_BRANDING_*` theme), the management layer (`manage`: operations shared by
//! the management API, the CLI and the console) and its HTTP API (`admin`), the admin console at
//! `/admin` (`console`), the error-to-HTTP mapping, the
//! in-memory caches (applications, signing keys, revocations), the abuse limits, the listening edge
//! (`edge`: header-read timeout, connection cap), outbound calls (`outbound`), the background jobs,
//! metrics, and the services the binary shares (user import/export, key rewrap, password hashing and
//! the foreign hash formats it verifies).
//!
//! Protocol rules live in `latch-core`, rows in `latch-store`, signatures in `latch-jose`: handlers
//! here extract, parse, call those, and map the outcome to HTTP. Nothing here writes SQL.

mod account;
mod admin;
mod bounded;
mod console;
mod factors;
pub mod http;
pub mod jobs;
mod lifecycle;
pub mod mail;
pub mod manage;
mod oauth;
mod outbound;
mod pages;
pub mod settings;
pub mod signin;
mod startup;
mod state;
pub mod user_transfer;

// The paths the binary and the tests have always used.
pub use http::{client_ip, error};
pub use jobs::audit;
pub use oauth::tokens;
pub use signin::password;

pub use jobs::keys::{Rewrapped, replace_key_file, resolve_master_key, rewrap_sealed, rotate_key};
pub use settings::{Settings, SettingsError};
pub use startup::{Server, StartupError};
pub use state::AppState;
