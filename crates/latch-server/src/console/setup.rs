//! The console's own application, created at start-up: a public client (`spa`: code flow with
//! PKCE, no secret to store or rotate) whose only redirect is the issuer's `/admin/callback`.
//! Its `client_id` is fixed, so every node and every start finds the same one.

use latch_core::UnixTime;
use latch_core::application::{Algorithm, Application, ApplicationType, Redirects};
use latch_core::store::{Store, StoreError};

/// The console's `client_id`.
pub const CLIENT_ID: &str = "latch-console";
const NAME: &str = "Latch admin console";

pub(super) fn callback_url(issuer: &str) -> String {
    format!("{issuer}/admin/callback")
}

/// After signing out, the browser comes back to the console (which offers to sign in again).
fn post_logout_url(issuer: &str) -> String {
    format!("{issuer}/admin")
}

fn redirects(issuer: &str) -> Redirects {
    Redirects {
        post_login: vec![callback_url(issuer)],
        initiate_login: None,
        post_logout: vec![post_logout_url(issuer)],
        backchannel_logout: None,
    }
}

/// Creates the console's application if it is missing, and points its redirects at this
/// issuer if they point elsewhere (the issuer changed).
pub async fn ensure_application(
    store: &dyn Store,
    issuer: &str,
    now: UnixTime,
) -> Result<(), StoreError> {
    ensure_internal_application(store, CLIENT_ID, NAME, redirects(issuer), now).await
}

/// Latch's own applications (the console, the account page): a public client (`spa`) with a
/// fixed `client_id`, created if missing, its redirects pointed at this issuer. Nodes starting
/// together may race: the loser of the insert finds the winner's.
pub async fn ensure_internal_application(
    store: &dyn Store,
    client_id: &str,
    name: &str,
    wanted: Redirects,
    now: UnixTime,
) -> Result<(), StoreError> {
    match store.get_application_by_client_id(client_id).await? {
        Some(app) if app.redirects == wanted => Ok(()),
        Some(mut app) => {
            app.redirects = wanted;
            app.updated_at = now;
            store.update_application(&app).await.map(|_| ())
        }
        None => {
            let app = Application {
                id: uuid::Uuid::now_v7().to_string(),
                client_id: client_id.to_owned(),
                name: name.to_owned(),
                application_type: ApplicationType::Spa,
                management_api_access: false,
                enforce_pkce: true,
                access_token_ttl_seconds: None,
                redirects: wanted,
                allowed_origins: Vec::new(),
                id_token_signed_response_alg: Algorithm::RS256,
                custom_claims: Default::default(),
                claim_mappings: Vec::new(),
                token_hook: None,
                allow_signup: false,
                require_verified_email: false,
                mfa: Default::default(),
                created_at: now,
                updated_at: now,
            };
            match store.insert_application(&app, None).await {
                Err(StoreError::Conflict(_)) => Ok(()),
                other => other,
            }
        }
    }
}
