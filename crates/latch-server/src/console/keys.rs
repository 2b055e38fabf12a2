//! Signing keys: each with its algorithm, state (next: published, not yet signing; active:
//! signing; retired: published until its tokens expire) and dates; rotation after a recent
//! sign-in.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use latch_core::UnixTime;
use latch_core::store::SigningKeyRecord;
use latch_jose::Algorithm;
use serde::Deserialize;

use super::change;
use super::guard::{Admin, failure};
use super::views::{self, Chrome, render};
use crate::manage::rfc3339;
use crate::state::AppState;

struct KeyRow {
    kid: String,
    alg: String,
    state: &'static str,
    created_at: String,
    activate_at: String,
}

#[derive(Template)]
#[template(path = "console/keys.html")]
struct KeysPage<'a> {
    chrome: Chrome<'a>,
    title: &'a str,
    error: Option<String>,
    keys: Vec<KeyRow>,
    algorithms: Vec<&'static str>,
    delay: i64,
}

/// A key's state among the keys of its algorithm: the newest one whose time has come signs.
fn key_state(key: &SigningKeyRecord, all: &[SigningKeyRecord], now: UnixTime) -> &'static str {
    if key.activate_at > now {
        return "next";
    }
    let newer_active = all
        .iter()
        .any(|k| k.alg == key.alg && k.generation > key.generation && k.activate_at <= now);
    if newer_active { "retired" } else { "active" }
}

pub async fn list(admin: Admin, State(state): State<AppState>) -> Response {
    page(&state, &admin, None).await
}

async fn page(state: &AppState, admin: &Admin, error: Option<String>) -> Response {
    let now = state.clock.now();
    let mut records = match state.store.list_signing_keys().await {
        Ok(r) => r,
        Err(e) => return failure(state, &e),
    };
    records.sort_by(|a, b| a.alg.cmp(&b.alg).then(b.generation.cmp(&a.generation)));
    let keys = records
        .iter()
        .map(|k| KeyRow {
            kid: k.kid.clone(),
            alg: k.alg.clone(),
            state: key_state(k, &records, now),
            created_at: rfc3339(k.created_at),
            activate_at: rfc3339(k.activate_at),
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(
        state,
        status,
        &KeysPage {
            chrome: Chrome::new(state, admin, "keys"),
            title: "Signing keys",
            error,
            keys,
            algorithms: Algorithm::ALL.iter().map(|a| a.as_str()).collect(),
            delay: state.settings.key_propagation_delay,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct RotateForm {
    #[serde(default)]
    alg: String,
}

/// `POST /admin/keys/rotate`: as `latch keys rotate`, after a recent sign-in.
pub async fn rotate(
    admin: Admin,
    State(state): State<AppState>,
    Form(f): Form<RotateForm>,
) -> Response {
    let Some(alg) = Algorithm::parse(&f.alg) else {
        return page(
            &state,
            &admin,
            Some("alg: must be one of RS256, ES256, EdDSA".into()),
        )
        .await;
    };
    let now = state.clock.now();
    if !admin.recently_authenticated(now) {
        return views::reauth(&state, &admin, "Rotating a signing key", "/keys");
    }
    let rotated = crate::jobs::keys::rotate_key(
        state.store.as_ref(),
        state.keys.master(),
        alg,
        now,
        state.settings.key_propagation_delay,
    )
    .await;
    match rotated {
        Ok(record) => {
            if let Err(e) = state
                .keys
                .reload(state.store.as_ref(), state.clock.as_ref())
                .await
            {
                tracing::warn!(error = %e, "could not reload the keys after a rotation");
            }
            let event = change(&admin, "key.rotate")
                .detail("kid", record.kid.as_str())
                .detail("alg", alg.as_str());
            state.audit.record(event, now);
            Redirect::to(&format!("{}/keys", super::cookies::root(&state))).into_response()
        }
        Err(e) => failure(&state, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(alg: &str, generation: i64, activate_at: UnixTime) -> SigningKeyRecord {
        SigningKeyRecord {
            kid: format!("{alg}-{generation}"),
            alg: alg.to_owned(),
            generation,
            public_jwk: String::new(),
            private_key_encrypted: Vec::new(),
            created_at: 0,
            activate_at,
        }
    }

    #[test]
    fn the_newest_key_whose_time_has_come_is_active_per_algorithm() {
        let all = [
            key("RS256", 1, 0),
            key("RS256", 2, 100),
            key("RS256", 3, 1000),
            key("ES256", 1, 0),
        ];
        let states: Vec<_> = all.iter().map(|k| key_state(k, &all, 500)).collect();
        assert_eq!(states, ["retired", "active", "next", "active"]);
    }
}
