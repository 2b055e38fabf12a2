//! What runs beside the requests, started in `startup`: the applications cache refresher
//! (`applications`), the signing-key reloader and key file tools (`keys`), the audit trail's batch
//! writer (`audit`), durable back-channel logout delivery (`backchannel`), and the sweep
//! (`sweep`) that ends expired sessions and runs the retention purge (`retention`).

pub(crate) mod applications;
pub mod audit;
pub(crate) mod backchannel;
pub mod keys;
pub(crate) mod retention;
pub(crate) mod sweep;
