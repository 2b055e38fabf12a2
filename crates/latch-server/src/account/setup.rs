//! Signing in to `/account` through the one authorization flow, as Latch's own application
//! `latch-account` (created at start-up like the console's: a public client whose only redirect is
//! `/account/callback`). The flow leaves the browser with its session; the callback only lands
//! it back on `/account` (the code is not needed: the page reads the session itself, and an
//! unredeemed code expires in a minute).

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use latch_core::UnixTime;
use latch_core::application::Redirects;
use latch_core::params::Params;
use latch_core::secret::random_id;
use latch_core::store::{Store, StoreError};

use crate::oauth::flow;
use crate::pages;
use crate::state::AppState;

/// The account page's `client_id`.
pub const CLIENT_ID: &str = "latch-account";
const NAME: &str = "Your account";

fn callback_url(issuer: &str) -> String {
    format!("{issuer}/account/callback")
}

/// Creates the account page's application if missing (see `console::ensure_internal_application`).
pub async fn ensure_application(
    store: &dyn Store,
    issuer: &str,
    now: UnixTime,
) -> Result<(), StoreError> {
    let redirects = Redirects {
        post_login: vec![callback_url(issuer)],
        initiate_login: None,
        post_logout: vec![format!("{issuer}/account")],
        backchannel_logout: None,
    };
    crate::console::ensure_internal_application(store, CLIENT_ID, NAME, redirects, now).await
}

/// `GET /account/login[?reauth=1]`: to the authorization endpoint (`max_age=0` to sign in again).
pub async fn start(State(state): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let params = Params::parse(q.unwrap_or_default().as_bytes());
    let reauth = params.get("reauth").ok().flatten().is_some();
    let issuer = &state.settings.issuer;
    let Ok(mut url) = url::Url::parse(&format!("{issuer}/oauth/authorize")) else {
        return pages::error(
            &state.theme,
            StatusCode::INTERNAL_SERVER_ERROR,
            "The issuer is not a URL.",
        );
    };
    {
        // PKCE is required of a public client; the code is never redeemed, so the verifier
        // is not kept.
        let challenge = latch_core::pkce::s256(&(random_id() + &random_id()));
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", CLIENT_ID)
            .append_pair("redirect_uri", &callback_url(issuer))
            .append_pair("scope", "openid")
            .append_pair("state", &random_id())
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        if reauth {
            q.append_pair("max_age", "0");
        }
    }
    flow::found(url.as_str())
}

/// `GET /account/callback`: back to the account page (or why not).
pub async fn callback(State(state): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let params = Params::parse(q.unwrap_or_default().as_bytes());
    if params.get("error").ok().flatten().is_some() {
        return pages::error(
            &state.theme,
            StatusCode::BAD_REQUEST,
            "The sign-in did not complete. Open your account page to try again.",
        );
    }
    flow::found(&format!("{}/account", state.settings.issuer))
}
