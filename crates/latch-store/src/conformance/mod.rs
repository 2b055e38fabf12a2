//! Conformance cases every `Store` implementation must pass: `pub async fn case_*` functions
//! that panic on failure. `tests/sqlite.rs` and `tests/postgres.rs` run each against a fresh
//! database via [`conformance_tests!`](crate::conformance_tests); other crates may run them
//! against their own stores the same way.
//!
//! Cases that race the store against itself take `Arc<dyn Store>` (they spawn tasks); the rest
//! take `&dyn Store`. They are test code compiled into the library, so panicking is their job.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "conformance cases are tests: they panic on failure"
)]

mod applications;
mod audit;
mod codes;
mod factors;
mod invitations;
mod keys;
mod mail;
mod memberships;
mod metadata;
mod organizations;
mod outbox;
mod passkeys;
mod retention;
mod revocations;
mod sessions;
mod throttle;
mod tokens;
mod users;
mod verifications;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use latch_core::application::{Application, ApplicationType, ClientSecretInfo, Redirects};
use latch_core::authn::{Amr, Method};
use latch_core::store::{
    CodeGrant, CodeRedemption, GrantKey, Redemption, RefreshGrant, RefreshGrantState,
    SessionRecord, Store,
};
use latch_core::user::User;
use latch_core::{Secret, SecretHash, UnixTime};

pub use applications::*;
pub use audit::*;
pub use codes::*;
pub use factors::*;
pub use invitations::*;
pub use keys::*;
pub use mail::*;
pub use memberships::*;
pub use metadata::*;
pub use organizations::*;
pub use outbox::*;
pub use passkeys::*;
pub use retention::*;
pub use revocations::*;
pub use sessions::*;
pub use throttle::*;
pub use tokens::*;
pub use users::*;
pub use verifications::*;

/// A store prepared for one case, with what to do once the case has passed.
pub struct Fixture {
    pub store: Arc<dyn Store>,
    cleanup: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Fixture {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            cleanup: None,
        }
    }

    /// Runs `cleanup` after a passing case (a failing one leaves its database for inspection).
    pub fn with_cleanup(mut self, cleanup: impl Future<Output = ()> + Send + 'static) -> Self {
        self.cleanup = Some(Box::pin(cleanup));
        self
    }

    /// Drops the store, then runs the cleanup.
    pub async fn finish(self) {
        let Self { store, cleanup } = self;
        drop(store);
        if let Some(cleanup) = cleanup {
            cleanup.await;
        }
    }
}

/// One `#[tokio::test]` per conformance case. `$open` is an `async fn(&'static str) ->
/// Option<Fixture>` given the case name; `None` skips the case (say why on stderr).
#[macro_export]
macro_rules! conformance_tests {
    (@ref $open:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(fixture) = $open(stringify!($case)).await else { return };
                $crate::conformance::$case(&*fixture.store).await;
                fixture.finish().await;
            }
        )*
    };
    (@arc $open:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(fixture) = $open(stringify!($case)).await else { return };
                $crate::conformance::$case(::std::sync::Arc::clone(&fixture.store)).await;
                fixture.finish().await;
            }
        )*
    };
    ($open:path) => {
        $crate::conformance_tests!(@ref $open;
            case_schema_version_and_ping,
            case_signing_keys_refuse_a_duplicate_generation,
            case_retired_signing_keys_are_deleted,
            case_sealed_state_is_replaced_all_at_once_or_not_at_all,
            case_applications_round_trip_every_field,
            case_applications_version_moves_with_every_write,
            case_client_secrets_are_two_at_most,
            case_client_secrets_are_listed_a_page_of_applications_at_a_time,
            case_delete_application_revokes_what_was_issued,
            case_users_round_trip_with_case_insensitive_email,
            case_the_admin_flag_is_set_apart_from_the_profile,
            case_password_hash_is_replaced_only_if_unchanged,
            case_users_are_inserted_in_batches_skipping_taken_ones,
            case_delete_user_removes_their_sessions,
            case_pagination_walks_every_row_once,
            case_login_requests_round_trip,
            case_a_login_request_is_taken_once_before_it_expires,
            case_sessions_expire_when_idle_or_old,
            case_active_sessions_are_counted,
            case_session_activity_is_written_once_a_minute,
            case_an_authorizing_session_carries_factors_and_organizations,
            case_user_sessions_are_listed_with_their_applications,
            case_a_code_is_redeemed_once_then_replayed,
            case_a_replayed_code_revokes_its_family_only,
            case_a_code_of_an_ended_session_records_nothing,
            case_refresh_grants_rotate_once_per_generation,
            case_a_current_refresh_grant_rotates_in_one_step,
            case_revocations_are_listed_since_their_time_until_they_expire,
            case_endings_record_revocations_for_their_access_tokens,
            case_reauthenticating_keeps_the_sid_and_moves_the_cookie,
            case_a_long_idle_session_ends_without_a_revocation,
            case_ending_a_session_revokes_and_notifies,
            case_sessions_end_only_for_their_user,
            case_a_users_other_sessions_end_together_and_the_kept_one_stays,
            case_deliveries_are_leased_and_retried,
            case_mail_is_leased_retried_and_erased,
            case_mail_limits_count_per_recipient_and_in_all,
            case_password_resets_are_single_use_and_superseded,
            case_history_past_the_cutoff_is_purged_and_pending_rows_kept,
            case_ended_sessions_and_finished_grants_are_purged_and_live_ones_kept,
            case_expired_rows_are_purged_and_live_ones_kept,
            case_a_purge_deletes_at_most_its_batch,
            case_a_verification_link_verifies_its_address_once,
            case_throttles_count_lock_and_clear,
            case_quiet_throttles_are_purged_and_live_ones_kept,
            case_expired_sessions_are_swept_and_refreshing_keeps_one_alive,
            case_organizations_round_trip_and_names_are_unique,
            case_user_metadata_and_external_ids_round_trip,
            case_organization_metadata_and_external_ids_round_trip,
            case_roles_and_apis_round_trip,
            case_memberships_carry_roles_and_page_by_user,
            case_a_users_organizations_page_with_their_roles,
            case_removals_revoke_the_refresh_tokens_issued_for_them,
            case_an_invitation_is_accepted_once_by_its_email_before_it_expires,
            case_audit_events_are_filtered_and_paged,
            case_audit_events_are_listed_newest_first_on_request,
            case_audit_batches_of_any_size_are_stored_whole,
            case_a_factor_is_enrolled_confirmed_and_removed,
            case_a_totp_step_is_used_once_and_never_an_older_one,
            case_a_passkey_is_registered_listed_renamed_and_removed,
            case_a_passkey_counter_never_goes_backwards,
            case_a_passkey_ceremony_is_taken_once_by_its_binding
        );
        $crate::conformance_tests!(@arc $open;
            case_concurrent_secrets_stop_at_two,
            case_concurrent_redemptions_of_a_code_have_one_winner,
            case_concurrent_takes_of_a_login_request_have_one_winner,
            case_concurrent_rotations_have_one_winner,
            case_concurrent_current_rotations_have_one_winner,
            case_concurrent_claims_never_share_a_delivery,
            case_concurrent_mail_claims_never_share_a_message,
            case_concurrent_takes_of_a_reset_link_have_one_winner,
            case_concurrent_takes_of_a_verification_link_have_one_winner,
            case_concurrent_failures_are_all_counted,
            case_concurrent_acceptances_have_one_winner,
            case_concurrent_purges_delete_each_row_once,
            case_concurrent_uses_of_a_totp_code_have_one_winner,
            case_recovery_codes_are_single_use,
            case_concurrent_uses_of_a_passkey_counter_have_one_winner,
            case_concurrent_takes_of_a_passkey_ceremony_have_one_winner
        );
    };
}

/// The time cases start at.
pub(crate) const NOW: UnixTime = 1_700_000_000;

pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A fresh random secret's hash.
pub(crate) fn new_hash() -> SecretHash {
    Secret::generate().hash()
}

/// A web application with every optional field set, or (with `backchannel = None`) a plain one.
pub(crate) fn application(backchannel: Option<&str>) -> Application {
    let id = new_id();
    Application {
        client_id: format!("client-{id}"),
        id,
        name: "Example".to_owned(),
        application_type: ApplicationType::Web,
        management_api_access: backchannel.is_some(),
        enforce_pkce: true,
        access_token_ttl_seconds: backchannel.map(|_| 600),
        redirects: Redirects {
            post_login: vec![
                "https://app.example.com/cb".to_owned(),
                "https://app.example.com/cb2".to_owned(),
            ],
            initiate_login: backchannel.map(|_| "https://app.example.com/login".to_owned()),
            post_logout: vec!["https://app.example.com/bye".to_owned()],
            backchannel_logout: backchannel.map(str::to_owned),
        },
        allowed_origins: vec![
            "https://a.example.com".to_owned(),
            "https://b.example.com".to_owned(),
        ],
        id_token_signed_response_alg: latch_core::algorithm::Algorithm::RS256,
        custom_claims: backchannel
            .map(|_| {
                let claims =
                    serde_json::json!({"https://example.com/plan": {"tier": "gold", "seats": 3}});
                claims.as_object().cloned().unwrap_or_default()
            })
            .unwrap_or_default(),
        claim_mappings: backchannel
            .map(|_| claim_mappings(&["id_token", "userinfo"]))
            .unwrap_or_default(),
        token_hook: backchannel.map(|_| latch_core::token_hook::TokenHook {
            url: "https://app.example.com/token-hook".to_owned(),
            on_failure: latch_core::token_hook::OnFailure::Proceed,
            timeout_ms: 1500,
            secret_salt: new_id(),
        }),
        allow_signup: backchannel.is_some(),
        require_verified_email: backchannel.is_some(),
        // The full application has the non-default policy, so the round trip covers it.
        mfa: if backchannel.is_some() {
            latch_core::authn::MfaPolicy::Required
        } else {
            latch_core::authn::MfaPolicy::default()
        },
        created_at: NOW,
        updated_at: NOW,
    }
}

/// Two mappings (one from metadata, one literal) going to `destinations`.
pub(crate) fn claim_mappings(
    destinations: &[&str],
) -> Vec<latch_core::claim_mapping::ClaimMapping> {
    let json = serde_json::json!([
        {"claim": "https://example.com/tier", "source": "user.metadata.plan.tier", "destinations": destinations},
        {"claim": "https://example.com/env", "source": "literal", "value": {"n": 1}, "destinations": destinations},
    ]);
    serde_json::from_value(json).expect("claim mappings")
}

pub(crate) fn secret(created_at: UnixTime) -> ClientSecretInfo {
    ClientSecretInfo {
        id: new_id(),
        hash: new_hash(),
        created_at,
        last_used_at: None,
    }
}

pub(crate) async fn given_application(store: &dyn Store, backchannel: Option<&str>) -> Application {
    let app = application(backchannel);
    store
        .insert_application(&app, None)
        .await
        .expect("insert application");
    app
}

pub(crate) fn user(email: &str) -> User {
    User {
        id: new_id(),
        email: email.to_owned(),
        email_verified: false,
        name: None,
        given_name: None,
        family_name: None,
        created_at: NOW,
        external_id: None,
        metadata: Default::default(),
        admin: false,
    }
}

pub(crate) async fn given_user(store: &dyn Store) -> User {
    let u = user(&format!("{}@example.com", new_id()));
    store
        .insert_user(&u, "$argon2id$hash")
        .await
        .expect("insert user");
    u
}

/// A session of `user_id` (idle-active at `NOW`, absolute end an hour later) and its cookie hash.
pub(crate) async fn given_session(store: &dyn Store, user_id: &str) -> (SecretHash, SessionRecord) {
    let session = SessionRecord {
        sid: new_id(),
        user_id: user_id.to_owned(),
        auth_time: NOW,
        amr: Amr::PASSWORD,
        created_at: NOW,
        last_active_at: NOW,
        expires_at: NOW + 3_600,
        user_agent: Some("test-agent".to_owned()),
        ip: None,
        applications: vec![],
    };
    let hash = new_hash();
    store
        .insert_session(&hash, &session)
        .await
        .expect("insert session");
    (hash, session)
}

/// Redeems the code `hash` (expiring at `expires_at`) at `NOW`, with `grant` if given.
pub(crate) async fn redeem(
    store: &dyn Store,
    hash: &SecretHash,
    expires_at: UnixTime,
    grant: Option<CodeGrant<'_>>,
) -> Redemption {
    store
        .redeem_authorization_code(
            &CodeRedemption {
                code_hash: hash,
                expires_at,
                grant,
            },
            NOW,
        )
        .await
        .expect("redeem code")
}

/// The grant of a code in `session`, with `refresh_token` if given.
pub(crate) fn grant<'a>(
    session: &'a SessionRecord,
    refresh_token: Option<&'a RefreshGrant>,
) -> CodeGrant<'a> {
    CodeGrant {
        sid: &session.sid,
        refresh_token,
    }
}

/// What issuing and redeeming a code of `app` in `session` store: the application's part in the
/// session and the code's use. Returns the code's hash.
pub(crate) async fn given_code(
    store: &dyn Store,
    app: &Application,
    session: &SessionRecord,
) -> SecretHash {
    store
        .add_session_application(&session.sid, &app.id, &app.client_id)
        .await
        .expect("record participation");
    let hash = new_hash();
    let got = redeem(store, &hash, NOW + 60, Some(grant(session, None))).await;
    assert!(matches!(got, Redemption::Redeemed(Some(_))), "{got:?}");
    hash
}

pub(crate) fn refresh(app: &Application, session: &SessionRecord, family_id: &str) -> RefreshGrant {
    RefreshGrant {
        family_id: family_id.to_owned(),
        application_id: app.id.clone(),
        client_id: app.client_id.clone(),
        user_id: session.user_id.clone(),
        sid: session.sid.clone(),
        scope: "openid offline_access".to_owned(),
        auth_time: NOW,
        amr: Amr::PASSWORD.with(Method::Otp),
        created_at: NOW,
        expires_at: NOW + 86_400,
        organization_id: Some("org_0001".to_owned()),
        audience: Some("https://api.example.com".to_owned()),
        claims: Some(r#"{"userinfo":["name"]}"#.to_owned()),
    }
}

/// The grant's state as stored, if it is.
pub(crate) async fn grant_state(
    store: &dyn Store,
    grant: &RefreshGrant,
) -> Option<RefreshGrantState> {
    store
        .get_refresh_grant(GrantKey::Family(&grant.family_id))
        .await
        .expect("get refresh grant")
}

pub(crate) async fn given_refresh(
    store: &dyn Store,
    app: &Application,
    session: &SessionRecord,
    family_id: &str,
) -> RefreshGrant {
    let r = refresh(app, session, family_id);
    store
        .insert_refresh_grant(&r)
        .await
        .expect("insert refresh grant");
    r
}

/// Schema version is the latest migration, and ping answers.
pub async fn case_schema_version_and_ping(store: &dyn Store) {
    assert_eq!(
        store.schema_version().await.expect("schema version"),
        14,
        "the latest migration"
    );
    store.ping().await.expect("ping");
    // Nothing runs now: nobody waits (a PostgreSQL connection goes back to the pool a moment
    // after its statement, so only `idle <= open` is certain).
    let pool = store.pool_status();
    assert!(pool.open >= 1, "{pool:?}");
    assert!(pool.idle <= pool.open, "{pool:?}");
    assert_eq!(pool.waiting.unwrap_or(0), 0, "{pool:?}");
}

/// A session record for `user_id` that was never inserted (its refresh tokens have no session).
pub(crate) fn session_record_without_row(user_id: &str) -> SessionRecord {
    SessionRecord {
        sid: new_id(),
        user_id: user_id.to_owned(),
        auth_time: NOW,
        amr: Amr::PASSWORD,
        created_at: NOW,
        last_active_at: NOW,
        expires_at: NOW + 3_600,
        user_agent: None,
        ip: None,
        applications: vec![],
    }
}
