//! Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3,
//! RFC 7009 §2.1, RFC 7662 §2.1), under abuse limits that no one else can turn against the
//! client (issue 14): the credential is checked first and a correct one is always accepted; only
//! a failure is counted, per (client_id, address), and only a failing request can be refused.
//! Failures are audited at most once a minute per (client, address), with their count.

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use latch_core::application::Application;
use latch_core::audit::ActorType;
use latch_core::params::{self, Params};
use latch_core::{OAuthError, UnixTime};

use crate::http::client_ip::ClientIp;
use crate::http::error::OAuthResponse;
use crate::jobs::applications::AuthFailure;
use crate::jobs::audit::Event;
use crate::signin::throttle;
use crate::state::AppState;

/// Parses the request and authenticates the client.
pub async fn authenticated_client(
    state: &AppState,
    ClientIp(ip): ClientIp,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Params, Arc<Application>), OAuthResponse> {
    let params = super::form_params(headers, body).ok_or_else(|| {
        OAuthError::invalid_request("the body must be application/x-www-form-urlencoded")
    })?;
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let credentials = params::client_credentials(authorization, &params)?;
    let now = state.clock.now();
    match state
        .applications
        .authenticate(&state.store, &credentials, now)
        .await
    {
        Ok(app) => {
            // Spent only by the client itself: others cannot empty its bucket.
            if let Some(wait) = state.token_rate.check(&app.client_id) {
                return Err(OAuthResponse::rate_limited(wait));
            }
            Ok((params, app))
        }
        Err(failure) => Err(refuse(state, &credentials.client_id, ip, failure, now).await),
    }
}

/// The answer to a failed authentication: `invalid_client`, or 429 once this (client, address)
/// has failed too often.
async fn refuse(
    state: &AppState,
    client_id: &str,
    ip: Option<IpAddr>,
    failure: AuthFailure,
    now: UnixTime,
) -> OAuthResponse {
    if matches!(failure, AuthFailure::Internal(_)) {
        return failure.error().into();
    }
    // The reason, never the secret; the client id as sent (bounded, escaped).
    tracing::info!(
        client_id = ?crate::oauth::bounded(client_id),
        ip = ip.map(|ip| ip.to_string()),
        reason = failure.reason(),
        "client authentication failed"
    );
    let known = !matches!(failure, AuthFailure::UnknownClient);
    let attempt = Attempt {
        client_id,
        known,
        ip,
        key: throttle::client_key(known.then_some(client_id), ip),
    };
    audit(state, &attempt, &failure, now);
    // A public client has no secret to guess: the mistake is refused and counted nowhere, so it
    // can never lock the application's code exchanges.
    if matches!(failure, AuthFailure::SecretFromPublicClient) {
        return failure.error().into();
    }
    let policy = &state.settings.account_policy;
    let key = attempt.key;
    match throttle::client_failed(state.store.as_ref(), policy, &state.locks, key, now).await {
        Ok(Some(wait)) => OAuthResponse::too_many_attempts(wait),
        Ok(None) => failure.error().into(),
        Err(e) => e.into(),
    }
}

/// A failed authentication: who it claimed to be, from where, and its counter.
struct Attempt<'a> {
    client_id: &'a str,
    /// Whether `client_id` names an application.
    known: bool,
    ip: Option<IpAddr>,
    key: String,
}

fn audit(state: &AppState, attempt: &Attempt<'_>, failure: &AuthFailure, now: UnixTime) {
    let Attempt {
        client_id,
        known,
        ip,
        ref key,
    } = *attempt;
    let Some(count) = state.locks.audit_due(key, now) else {
        return;
    };
    let mut event = Event::new("client.authentication_failure")
        .ip(ip)
        .failure(failure.reason())
        .detail("count", count);
    event = if known {
        event
            .actor(ActorType::Client, Some(client_id))
            .client(Some(client_id))
    } else {
        // Whatever was sent, bounded: it names no application.
        let shown: String = client_id.chars().take(64).collect();
        event.detail("client_id", shown)
    };
    state.audit.record(event, now);
}
