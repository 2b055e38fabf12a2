//! # latch-core
//!
//! The protocol rules of Latch with no I/O: typed requests and their parsing, validation of
//! redirect URIs, PKCE, scopes, claims (static and mapped from data), metadata and external ids,
//! the token and authorization rules, the abuse-limit counters and device cookies, which addresses may be called out to,
//! errors as values (`OAuthError`), the injected `Clock`, and the store traits that `latch-store`
//! implements.
//!
//! This crate must not depend on any other Latch crate, on HTTP frameworks or on databases (the
//! optional `openapi` feature only derives schemas of a few types, for the management API).

pub mod address;
pub mod algorithm;
pub mod application;
pub mod audit;
pub mod authn;
pub mod authorize;
pub mod backoff;
pub mod claim_mapping;
pub mod claims;
pub mod client_type;
pub mod clock;
pub mod code;
pub mod device;
pub mod error;
pub mod field;
pub mod flow;
pub mod ip_block;
pub mod issue;
pub mod metadata;
pub mod organization;
pub mod params;
pub mod pkce;
pub mod redirect;
pub mod refresh;
pub mod requested;
pub mod retention;
pub mod revocation;
pub mod scope;
pub mod secret;
pub mod store;
pub mod throttle;
pub mod token;
pub mod token_hook;
pub mod totp;
pub mod types;
pub mod user;

pub use clock::{Clock, SystemClock, UnixTime};
pub use error::{ErrorCode, OAuthError};
pub use secret::{Secret, SecretHash};
