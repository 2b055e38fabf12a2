//! Passkeys (WebAuthn Level 3, through `webauthn-rs`): registration from the account page,
//! passwordless sign-in with a discoverable passkey, and a passkey as second factor.
//!
//! - The relying party is the issuer: RP ID = its host, origin = its origin (WebAuthn §5.1.4.1,
//!   §13.4.9). An RP ID must be a domain, so an issuer on an IP address (`http://127.0.0.1:…`)
//!   has no passkeys (`state.webauthn` is `None` and no page offers them).
//! - A ceremony's state (its challenge) waits in the database between the page that starts it and
//!   the form that finishes it (any node may take either request), bound to what started it — the
//!   parked sign-in (`login:<hash of its id>`) or the account session (`session:<sid>`) — for
//!   `CEREMONY_TTL`, and is taken once (`PasskeyStore::take_passkey_ceremony`): a replayed form
//!   finds nothing.
//! - User verification is required (the library's passkey policy): a passkey proves possession
//!   and, through the authenticator's PIN or biometric, the user. `amr` says `hwk` (or `swk` for
//!   a backup-eligible, synced key: WebAuthn §6.1.3 BE flag) and `user` (RFC 8176 §2), which are
//!   two factors (`authn`: possession and inherence), so a passkey alone reaches
//!   `urn:latch:acr:mfa`.
//! - The signature counter only moves forward (WebAuthn §6.1.1, §7.2 step 22): the library refuses
//!   a counter at or below the stored one, and the store's conditional update refuses a
//!   concurrent use; both are audited as `passkey.counter_regression` and refused.
//! - Failures are throttled: as a second factor under the user's factor counter (like codes); in
//!   a passwordless sign-in under the address's (`passkey:<ip>`), since nobody is known yet and a
//!   per-user counter would let anyone who learned a credential id lock its owner out.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latch_core::UnixTime;
use latch_core::authn::{Amr, Method};
use latch_core::store::{CeremonyKind, Passkey, PasskeyCeremony, PasskeyUse, StoreError};
use webauthn_rs::prelude::{
    AuthenticationResult, Credential, CredentialID, DiscoverableAuthentication,
    PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};

use super::Who;
use crate::jobs::audit::Event;
use crate::state::AppState;

/// How long a started ceremony waits for its form (and the browser's timeout for the user).
pub const CEREMONY_TTL: i64 = 300;
/// The longest passkey name kept.
pub const MAX_NAME_CHARS: usize = 64;

/// The relying party of `issuer`; `None` when its host is not a domain (an IP address).
pub fn relying_party(issuer: &str, name: &str) -> Option<Webauthn> {
    let url = Url::parse(issuer).ok()?;
    let rp_id = url.domain()?.to_owned();
    let origin = Url::parse(&url.origin().ascii_serialization()).ok()?;
    WebauthnBuilder::new(&rp_id, &origin)
        .ok()?
        .rp_name(name)
        .timeout(std::time::Duration::from_secs(CEREMONY_TTL.unsigned_abs()))
        .build()
        .ok()
}

/// What binds a ceremony started on a login-flow page: the parked request's id, hashed.
pub fn login_binding(login_request: &str) -> Option<String> {
    latch_core::Secret::parse(login_request).map(|s| format!("login:{}", s.hash().as_str()))
}

/// What binds a ceremony started on the account page: its session.
pub fn session_binding(sid: &str) -> String {
    format!("session:{sid}")
}

/// The WebAuthn user handle of a user (WebAuthn §14.6.1: no personal data): the user's id when it
/// is a UUID (Latch's are), else a UUID derived from it.
pub fn user_handle(user_id: &str) -> Uuid {
    Uuid::parse_str(user_id).unwrap_or_else(|_| {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, user_id.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest.as_ref()[..16]);
        Uuid::from_bytes(bytes)
    })
}

/// A started ceremony, as its page carries it.
pub struct Started {
    pub ceremony: String,
    /// The options for `navigator.credentials.create()` / `.get()`, JSON (WebAuthn §5.4, §5.5;
    /// binary values base64url).
    pub options: String,
}

fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::other("passkey state", e)
}

async fn keep(
    state: &AppState,
    kind: CeremonyKind,
    binding: String,
    user_id: Option<&str>,
    ceremony_state: String,
    options: String,
) -> Result<Started, StoreError> {
    let now = state.clock.now();
    let id = latch_core::secret::random_id();
    state
        .store
        .insert_passkey_ceremony(&PasskeyCeremony {
            id: id.clone(),
            kind,
            binding,
            user_id: user_id.map(str::to_owned),
            state: ceremony_state,
            created_at: now,
            expires_at: now + CEREMONY_TTL,
        })
        .await?;
    Ok(Started {
        ceremony: id,
        options,
    })
}

/// Starts registering a passkey for the account page's user; `None` without passkeys (an issuer
/// on an IP address) or when the library refuses.
pub async fn start_registration(
    state: &AppState,
    user_id: &str,
    email: &str,
    sid: &str,
) -> Result<Option<Started>, StoreError> {
    let Some(webauthn) = state.webauthn.as_ref() else {
        return Ok(None);
    };
    // WebAuthn §5.4.3 excludeCredentials: an authenticator holding one of the user's passkeys
    // does not make a second.
    let exclude: Vec<CredentialID> = state
        .store
        .list_passkeys(user_id)
        .await?
        .iter()
        .filter_map(|p| URL_SAFE_NO_PAD.decode(&p.credential_id).ok())
        .collect();
    let started =
        webauthn.start_passkey_registration(user_handle(user_id), email, email, Some(exclude));
    let Ok((options, registration)) = started else {
        return Ok(None);
    };
    // A discoverable credential (WebAuthn §6.2.2 "client-side discoverable"), so the passkey can
    // sign in without an e-mail typed first; the library asks for one only as "discouraged".
    let mut options = serde_json::to_value(&options).map_err(json_err)?;
    if let Some(selection) = options
        .pointer_mut("/publicKey/authenticatorSelection")
        .and_then(serde_json::Value::as_object_mut)
    {
        selection.insert("residentKey".into(), "required".into());
        selection.insert("requireResidentKey".into(), true.into());
    }
    let kept = serde_json::to_string(&registration).map_err(json_err)?;
    let options = serde_json::to_string(&options).map_err(json_err)?;
    let binding = session_binding(sid);
    keep(
        state,
        CeremonyKind::Register,
        binding,
        Some(user_id),
        kept,
        options,
    )
    .await
    .map(Some)
}

/// How a registration went.
pub enum Registered {
    Yes(Passkey),
    /// No such ceremony for this session (expired, replayed, another session's).
    Expired,
    /// The browser's answer did not verify (or was not JSON).
    Invalid,
    /// This authenticator's credential is registered already.
    Duplicate,
}

/// Finishes a registration with the browser's `PublicKeyCredential` (JSON), naming the passkey.
pub async fn finish_registration(
    state: &AppState,
    who: &Who<'_>,
    sid: &str,
    ceremony: &str,
    response: &str,
    name: &str,
) -> Result<Registered, StoreError> {
    let Some(webauthn) = state.webauthn.as_ref() else {
        return Ok(Registered::Expired);
    };
    let now = state.clock.now();
    let binding = session_binding(sid);
    let taken = take_ceremony::<PasskeyRegistration>(
        state,
        ceremony,
        CeremonyKind::Register,
        &binding,
        Some(who.user_id),
        now,
    );
    let Some(registration) = taken.await? else {
        return Ok(Registered::Expired);
    };
    let Ok(answer) = serde_json::from_str::<RegisterPublicKeyCredential>(response) else {
        audit(
            state,
            who,
            Event::new("factor.failure").failure("passkey_invalid"),
        );
        return Ok(Registered::Invalid);
    };
    let passkey = match webauthn.finish_passkey_registration(&answer, &registration) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(error = %e, "passkey registration refused");
            audit(
                state,
                who,
                Event::new("factor.failure").failure("passkey_invalid"),
            );
            return Ok(Registered::Invalid);
        }
    };
    let credential = Credential::from(passkey.clone());
    let name = clean_name(name);
    let stored = Passkey {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: who.user_id.to_owned(),
        credential_id: URL_SAFE_NO_PAD.encode(&credential.cred_id),
        name: if name.is_empty() {
            "Passkey".to_owned()
        } else {
            name
        },
        credential: serde_json::to_string(&passkey).map_err(json_err)?,
        sign_count: i64::from(credential.counter),
        backup_eligible: credential.backup_eligible,
        backup_state: credential.backup_state,
        user_verified: credential.user_verified,
        created_at: now,
        last_used_at: None,
    };
    match state.store.insert_passkey(&stored).await {
        Ok(()) => {}
        Err(StoreError::Conflict(reason)) if reason == "credential" => {
            return Ok(Registered::Duplicate);
        }
        Err(e) => return Err(e),
    }
    audit(
        state,
        who,
        Event::new("factor.enrolled")
            .detail("kind", "passkey")
            .detail("factor_id", stored.id.as_str()),
    );
    Ok(Registered::Yes(stored))
}

/// A passkey's name as kept: trimmed, control characters out, at most `MAX_NAME_CHARS`.
pub fn clean_name(name: &str) -> String {
    name.trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Starts a passwordless sign-in on the login page (any discoverable passkey of this RP, with
/// conditional mediation where the browser offers it).
pub async fn start_sign_in(
    state: &AppState,
    login_request: &str,
) -> Result<Option<Started>, StoreError> {
    let (Some(webauthn), Some(binding)) = (state.webauthn.as_ref(), login_binding(login_request))
    else {
        return Ok(None);
    };
    let Ok((options, authentication)) = webauthn.start_discoverable_authentication() else {
        return Ok(None);
    };
    let kept = serde_json::to_string(&authentication).map_err(json_err)?;
    let options = serde_json::to_string(&options).map_err(json_err)?;
    keep(state, CeremonyKind::SignIn, binding, None, kept, options)
        .await
        .map(Some)
}

/// Starts a passkey as second factor for the user (their passkeys allowed); `None` when they have
/// none (or no passkeys here).
pub async fn start_second_factor(
    state: &AppState,
    user_id: &str,
    login_request: &str,
) -> Result<Option<Started>, StoreError> {
    let (Some(webauthn), Some(binding)) = (state.webauthn.as_ref(), login_binding(login_request))
    else {
        return Ok(None);
    };
    let keys: Vec<webauthn_rs::prelude::Passkey> = state
        .store
        .list_passkeys(user_id)
        .await?
        .iter()
        .filter_map(|p| serde_json::from_str(&p.credential).ok())
        .collect();
    if keys.is_empty() {
        return Ok(None);
    }
    let Ok((options, authentication)) = webauthn.start_passkey_authentication(&keys) else {
        return Ok(None);
    };
    let kept = serde_json::to_string(&authentication).map_err(json_err)?;
    let options = serde_json::to_string(&options).map_err(json_err)?;
    let kind = CeremonyKind::SecondFactor;
    keep(state, kind, binding, Some(user_id), kept, options)
        .await
        .map(Some)
}

/// How an assertion went.
pub enum Asserted {
    /// Verified: the user, and the methods it proves.
    Yes { user_id: String, amr: Amr },
    /// No such ceremony for this sign-in (expired, replayed, another browser's).
    Expired,
    /// Did not verify: unknown credential, bad JSON, wrong signature, another user's passkey.
    Invalid,
    /// The counter did not move forward: a cloned authenticator (refused, audited).
    Cloned,
    /// Refused by the abuse limits for this many seconds.
    Locked(i64),
}

/// Finishes a passwordless sign-in: the passkey names its user (the user handle), whose stored
/// credential must verify the assertion.
pub async fn finish_sign_in(
    state: &AppState,
    ip: Option<IpAddr>,
    login_request: &str,
    ceremony: &str,
    response: &str,
) -> Result<Asserted, StoreError> {
    let (Some(webauthn), Some(binding)) = (state.webauthn.as_ref(), login_binding(login_request))
    else {
        return Ok(Asserted::Expired);
    };
    let key = address_key(ip);
    let now = state.clock.now();
    if let Some(wait) = locked_key(state, &key, now).await? {
        return Ok(Asserted::Locked(wait));
    }
    let taken = take_ceremony::<DiscoverableAuthentication>(
        state,
        ceremony,
        CeremonyKind::SignIn,
        &binding,
        None,
        now,
    );
    let Some(authentication) = taken.await? else {
        return Ok(Asserted::Expired);
    };
    let invalid = |reason: &'static str, user: Option<String>| {
        let key = key.clone();
        async move {
            sign_in_failed(state, &key, ip, user.as_deref(), reason).await?;
            Ok::<_, StoreError>(Asserted::Invalid)
        }
    };
    let Ok(answer) = serde_json::from_str::<PublicKeyCredential>(response) else {
        return invalid("passkey_invalid", None).await;
    };
    let Ok((handle, credential_id)) = webauthn.identify_discoverable_authentication(&answer) else {
        return invalid("passkey_invalid", None).await;
    };
    let credential_id = URL_SAFE_NO_PAD.encode(credential_id);
    let stored = state
        .store
        .get_passkey_by_credential(&credential_id)
        .await?;
    // The user handle the authenticator returned must be the one of the credential's owner
    // (WebAuthn §7.2 step 6).
    let Some(stored) = stored.filter(|p| user_handle(&p.user_id) == handle) else {
        return invalid("passkey_unknown", None).await;
    };
    let Ok(passkey) = serde_json::from_str::<webauthn_rs::prelude::Passkey>(&stored.credential)
    else {
        return invalid("passkey_invalid", Some(stored.user_id)).await;
    };
    let verified =
        webauthn.finish_discoverable_authentication_v2(&answer, authentication, &passkey);
    let who = Who {
        user_id: &stored.user_id,
        ip,
    };
    match verified {
        Ok(result) => {
            if !record_use(state, &who, &stored, passkey, &result, now).await? {
                return Ok(Asserted::Cloned);
            }
            state.store.clear_throttle(&key).await?;
            Ok(Asserted::Yes {
                amr: methods(&stored, &result),
                user_id: stored.user_id,
            })
        }
        Err(WebauthnError::CredentialPossibleCompromise) => {
            cloned(state, &who, &stored.id);
            Ok(Asserted::Cloned)
        }
        Err(e) => {
            tracing::info!(error = %e, "passkey assertion refused");
            invalid("passkey_invalid", Some(stored.user_id)).await
        }
    }
}

/// Finishes a passkey as second factor for the signed-in (password-only) user of the parked
/// request: the assertion must be by one of *their* passkeys.
pub async fn finish_second_factor(
    state: &AppState,
    who: &Who<'_>,
    login_request: &str,
    ceremony: &str,
    response: &str,
) -> Result<Asserted, StoreError> {
    let (Some(webauthn), Some(binding)) = (state.webauthn.as_ref(), login_binding(login_request))
    else {
        return Ok(Asserted::Expired);
    };
    let now = state.clock.now();
    if let Some(wait) = super::locked(state, who).await? {
        return Ok(Asserted::Locked(wait));
    }
    let taken = take_ceremony::<PasskeyAuthentication>(
        state,
        ceremony,
        CeremonyKind::SecondFactor,
        &binding,
        Some(who.user_id),
        now,
    );
    let Some(authentication) = taken.await? else {
        return Ok(Asserted::Expired);
    };
    let Ok(answer) = serde_json::from_str::<PublicKeyCredential>(response) else {
        super::failed(state, who, "passkey_invalid").await?;
        return Ok(Asserted::Invalid);
    };
    let credential_id = URL_SAFE_NO_PAD.encode(answer.get_credential_id());
    let stored = state
        .store
        .get_passkey_by_credential(&credential_id)
        .await?
        .filter(|p| p.user_id == who.user_id);
    let Some(stored) = stored else {
        super::failed(state, who, "passkey_unknown").await?;
        return Ok(Asserted::Invalid);
    };
    let Ok(passkey) = serde_json::from_str::<webauthn_rs::prelude::Passkey>(&stored.credential)
    else {
        super::failed(state, who, "passkey_invalid").await?;
        return Ok(Asserted::Invalid);
    };
    match webauthn.finish_passkey_authentication(&answer, &authentication) {
        Ok(result) if result.cred_id() == passkey.cred_id() => {
            if !record_use(state, who, &stored, passkey, &result, now).await? {
                return Ok(Asserted::Cloned);
            }
            state
                .store
                .clear_throttle(&super::throttle_key(who))
                .await?;
            Ok(Asserted::Yes {
                amr: methods(&stored, &result),
                user_id: stored.user_id,
            })
        }
        Ok(_) => {
            super::failed(state, who, "passkey_unknown").await?;
            Ok(Asserted::Invalid)
        }
        Err(WebauthnError::CredentialPossibleCompromise) => {
            cloned(state, who, &stored.id);
            Ok(Asserted::Cloned)
        }
        Err(e) => {
            tracing::info!(error = %e, "passkey assertion refused");
            super::failed(state, who, "passkey_invalid").await?;
            Ok(Asserted::Invalid)
        }
    }
}

/// The methods a verified assertion proves (RFC 8176 §2): `swk` for a backup-eligible (synced)
/// key, else `hwk`; `user` when the authenticator verified the user.
fn methods(stored: &Passkey, result: &AuthenticationResult) -> Amr {
    let key = if stored.backup_eligible || result.backup_eligible() {
        Method::Swk
    } else {
        Method::Hwk
    };
    let amr = Amr::default().with(key);
    if result.user_verified() {
        amr.with(Method::User)
    } else {
        amr
    }
}

/// Records the use (counter, flags) with the store's conditional update; `false` (audited) when
/// the counter did not move forward there — a concurrent use, or a clone that raced.
async fn record_use(
    state: &AppState,
    who: &Who<'_>,
    stored: &Passkey,
    mut passkey: webauthn_rs::prelude::Passkey,
    result: &AuthenticationResult,
    now: UnixTime,
) -> Result<bool, StoreError> {
    passkey.update_credential(result);
    let update = PasskeyUse {
        credential: serde_json::to_string(&passkey).map_err(json_err)?,
        sign_count: i64::from(result.counter()),
        backup_eligible: stored.backup_eligible || result.backup_eligible(),
        backup_state: result.backup_state(),
    };
    if !state
        .store
        .use_passkey(&stored.id, stored.sign_count, &update, now)
        .await?
    {
        cloned(state, who, &stored.id);
        return Ok(false);
    }
    audit(
        state,
        who,
        Event::new("factor.verified")
            .detail("kind", "passkey")
            .detail("factor_id", stored.id.as_str()),
    );
    Ok(true)
}

fn cloned(state: &AppState, who: &Who<'_>, factor_id: &str) {
    audit(
        state,
        who,
        Event::new("passkey.counter_regression")
            .failure("counter_regression")
            .detail("factor_id", factor_id),
    );
}

fn address_key(ip: Option<IpAddr>) -> String {
    match ip {
        Some(ip) => format!("passkey:{ip}"),
        None => "passkey:unknown".to_owned(),
    }
}

async fn locked_key(state: &AppState, key: &str, now: UnixTime) -> Result<Option<i64>, StoreError> {
    Ok(state
        .store
        .get_throttle(key)
        .await?
        .and_then(|s| s.retry_after(now)))
}

async fn sign_in_failed(
    state: &AppState,
    key: &str,
    ip: Option<IpAddr>,
    user_id: Option<&str>,
    reason: &str,
) -> Result<(), StoreError> {
    let now = state.clock.now();
    let policy = &state.settings.account_policy;
    let throttled = state.store.record_failure(key, now, policy).await?;
    let event = Event::new("login.failure")
        .actor(latch_core::audit::ActorType::User, user_id)
        .user(user_id)
        .ip(ip)
        .failure(reason);
    state.audit.record(event, now);
    crate::http::metrics::global().login("failure");
    let delay = policy.delay_ms(throttled.failures);
    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    Ok(())
}

fn audit(state: &AppState, who: &Who<'_>, event: Event) {
    super::audit(state, who, event);
}

/// Takes the ceremony `id` of `kind` started for `binding` (once: the store deletes it) and reads
/// its state back as `T`. `None` when it is unknown, expired, of another kind or binding, started
/// for another user than `user_id` (when given: a sign-in ceremony is nobody's yet), or unreadable.
async fn take_ceremony<T: serde::de::DeserializeOwned>(
    state: &AppState,
    id: &str,
    kind: CeremonyKind,
    binding: &str,
    user_id: Option<&str>,
    now: UnixTime,
) -> Result<Option<T>, StoreError> {
    let taken = state
        .store
        .take_passkey_ceremony(id, kind, binding, now)
        .await?;
    Ok(taken
        .filter(|c| user_id.is_none() || c.user_id.as_deref() == user_id)
        .and_then(|c| serde_json::from_str(&c.state).ok()))
}
