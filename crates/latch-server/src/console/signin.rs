//! Signing in to the console as any relying party signs in to Latch: `/admin/login` sends the
//! browser to `/oauth/authorize` (code flow, PKCE S256, `state`, `nonce`, and `max_age` when a
//! recent sign-in is wanted); `/admin/callback` exchanges the code at the token endpoint and
//! checks the ID token, then lets in users with the `admin` flag only.

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use latch_core::audit::ActorType;
use latch_core::secret::random_id;
use serde::Deserialize;
use serde_json::Value;
use subtle::ConstantTimeEq;
use tower::ServiceExt;

use super::cookies::{self, ConsoleSession, Flow};
use super::guard::{Admin, REAUTH_WINDOW};
use super::setup::{CLIENT_ID, callback_url};
use super::views;
use crate::jobs::audit::Event;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct StartQuery {
    next: Option<String>,
    reauth: Option<String>,
}

/// A console page to return to: a path under the console's root, nothing that could leave it.
fn safe_next(next: Option<&str>) -> String {
    let next = next.unwrap_or("");
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 512
        && next
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'\\' && b != b'"');
    if ok { next.to_owned() } else { String::new() }
}

/// `GET /admin/login`: a fresh flow in a sealed cookie, then the authorization request.
pub async fn start(State(state): State<AppState>, Query(q): Query<StartQuery>) -> Response {
    let now = state.clock.now();
    let verifier = random_id() + &random_id();
    let flow = Flow {
        state: random_id(),
        verifier,
        nonce: random_id(),
        next: safe_next(q.next.as_deref()),
        max_age: q.reauth.is_some().then_some(REAUTH_WINDOW),
        expires_at: now + cookies::FLOW_LIFETIME,
    };
    let issuer = &state.settings.issuer;
    let Ok(mut url) = url::Url::parse(&format!("{issuer}/oauth/authorize")) else {
        return views::problem(
            &state,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The issuer is not a URL.",
        );
    };
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", CLIENT_ID)
            .append_pair("redirect_uri", &callback_url(issuer))
            .append_pair("scope", "openid email")
            .append_pair("state", &flow.state)
            .append_pair("nonce", &flow.nonce)
            .append_pair("code_challenge", &latch_core::pkce::s256(&flow.verifier))
            .append_pair("code_challenge_method", "S256");
        if let Some(max_age) = flow.max_age {
            q.append_pair("max_age", &max_age.to_string());
        }
    }
    let Some(cookie) = cookies::seal(&state, cookies::FLOW, &flow)
        .and_then(|v| cookies::set(&state, cookies::FLOW, &v, cookies::FLOW_LIFETIME))
    else {
        return views::problem(
            &state,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Please try again.",
        );
    };
    let mut response = Redirect::to(url.as_str()).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// What the callback learnt from the ID token.
struct SignedIn {
    user_id: String,
    sid: String,
    auth_time: i64,
}

/// `GET /admin/callback`: the authorization response.
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let now = state.clock.now();
    let again = || {
        views::problem(
            &state,
            StatusCode::BAD_REQUEST,
            "This sign-in has expired",
            "Open the console again to sign in.",
        )
    };
    let Some(flow) = cookies::open::<Flow>(&state, &headers, cookies::FLOW) else {
        return again();
    };
    // RFC 6749 §10.12: the response must answer the request this browser sent.
    let state_ok = q
        .state
        .as_deref()
        .is_some_and(|s| bool::from(s.as_bytes().ct_eq(flow.state.as_bytes())));
    if flow.expires_at <= now || !state_ok {
        return again();
    }
    if let Some(error) = q.error.as_deref() {
        let text = format!(
            "Latch answered `{}`: {}",
            crate::oauth::bounded(error),
            crate::oauth::bounded(q.error_description.as_deref().unwrap_or(""))
        );
        return views::problem(
            &state,
            StatusCode::BAD_REQUEST,
            "Sign-in did not complete",
            &text,
        );
    }
    let Some(code) = q.code.as_deref() else {
        return again();
    };
    let signed_in = match exchange(&state, code, &flow).await {
        Ok(s) => s,
        Err(reason) => {
            tracing::warn!(reason, "console sign-in failed at the code exchange");
            return views::problem(
                &state,
                StatusCode::BAD_REQUEST,
                "Sign-in did not complete",
                "The sign-in could not be completed. Open the console again to sign in.",
            );
        }
    };
    let user = match state.store.get_user(&signed_in.user_id).await {
        Ok(Some(u)) => u,
        Ok(None) => return again(),
        Err(e) => return super::guard::failure(&state, &e),
    };
    let event = Event::new("console.sign_in")
        .actor(ActorType::User, Some(&user.id))
        .user(Some(&user.id))
        .client(Some(CLIENT_ID))
        .session(Some(&signed_in.sid));
    let clear_flow = cookies::set(&state, cookies::FLOW, "", 0);
    if !user.admin {
        state.audit.record(event.failure("not_admin"), now);
        let text = format!(
            "You are signed in as {}, who is not an administrator of this environment. \
             An administrator can grant access (or run `latch users grant-admin EMAIL`).",
            user.email
        );
        let mut page = views::refusal(&state, &text);
        if let Some(c) = clear_flow {
            page.headers_mut().append(header::SET_COOKIE, c);
        }
        return page;
    }
    state.audit.record(event, now);
    let session = ConsoleSession {
        user_id: user.id,
        sid: signed_in.sid,
        auth_time: signed_in.auth_time,
        expires_at: now + cookies::SESSION_LIFETIME,
        csrf: random_id(),
    };
    let Some(cookie) = cookies::seal(&state, cookies::SESSION, &session)
        .and_then(|v| cookies::set(&state, cookies::SESSION, &v, cookies::SESSION_LIFETIME))
    else {
        return views::problem(
            &state,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Please try again.",
        );
    };
    let target = format!("{}{}", cookies::root(&state), flow.next);
    let mut response = Redirect::to(&target).into_response();
    let h = response.headers_mut();
    h.append(header::SET_COOKIE, cookie);
    if let Some(c) = clear_flow {
        h.append(header::SET_COOKIE, c);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The code at the token endpoint, in process but through its router like any client's
/// request; then the ID token's checks (OIDC Core §3.1.3.7).
async fn exchange(state: &AppState, code: &str, flow: &Flow) -> Result<SignedIn, String> {
    let issuer = &state.settings.issuer;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", &callback_url(issuer))
        .append_pair("client_id", CLIENT_ID)
        .append_pair("code_verifier", &flow.verifier)
        .finish();
    let request = Request::post("/oauth/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .map_err(|e| e.to_string())?;
    let token_endpoint = Router::new()
        .route("/oauth/token", post(crate::oauth::token::token))
        .with_state(state.clone());
    let response = token_endpoint
        .oneshot(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .map_err(|e| e.to_string())?;
    let json: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("token endpoint: {}", json["error"]));
    }
    let id_token = json["id_token"].as_str().ok_or("no id_token")?;
    let jwt = state
        .keys
        .current()
        .verify(id_token)
        .map_err(|_| "the ID token does not verify")?;
    let now = state.clock.now();
    if jwt.iss() != Some(issuer.as_str()) || !jwt.audience_contains(CLIENT_ID) {
        return Err("the ID token is for someone else".into());
    }
    if jwt.exp().is_none_or(|exp| exp <= now) {
        return Err("the ID token has expired".into());
    }
    let nonce_ok = jwt
        .str_claim("nonce")
        .is_some_and(|n| bool::from(n.as_bytes().ct_eq(flow.nonce.as_bytes())));
    if !nonce_ok {
        return Err("the ID token's nonce is not this sign-in's".into());
    }
    let auth_time = jwt.i64_claim("auth_time").ok_or("no auth_time")?;
    // OIDC Core §3.1.2.1: with max_age the RP checks auth_time itself.
    if flow.max_age.is_some_and(|m| now - auth_time > m) {
        return Err("the sign-in is older than max_age".into());
    }
    Ok(SignedIn {
        user_id: jwt.sub().ok_or("no sub")?.to_owned(),
        sid: jwt.str_claim("sid").ok_or("no sid")?.to_owned(),
        auth_time,
    })
}

/// `POST /admin/logout`: ends the console session, then signs out of Latch (RP-Initiated
/// Logout), coming back to the console.
pub async fn logout(admin: Admin, State(state): State<AppState>) -> Response {
    let event = Event::new("console.sign_out")
        .actor(ActorType::User, Some(&admin.user.id))
        .user(Some(&admin.user.id))
        .client(Some(CLIENT_ID))
        .session(Some(&admin.session.sid));
    state.audit.record(event, state.clock.now());
    let issuer = &state.settings.issuer;
    let mut url = match url::Url::parse(&format!("{issuer}/oidc/logout")) {
        Ok(u) => u,
        Err(_) => return Redirect::to("/").into_response(),
    };
    url.query_pairs_mut()
        .append_pair("client_id", CLIENT_ID)
        .append_pair("post_logout_redirect_uri", &cookies::root(&state));
    let mut response = Redirect::to(url.as_str()).into_response();
    if let Some(c) = cookies::set(&state, cookies::SESSION, "", 0) {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_inside_the_console_are_returned_to() {
        assert_eq!(
            safe_next(Some("/applications/x?y=1")),
            "/applications/x?y=1"
        );
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "",
            "/a b",
            "x",
        ] {
            assert_eq!(safe_next(Some(bad)), "", "{bad}");
        }
        assert_eq!(safe_next(None), "");
    }
}
