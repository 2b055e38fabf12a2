//! The routes of the web example (see the crate documentation for the list).

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use openidconnect::CsrfToken;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::oidc::Refreshed;
use crate::sessions::Session;
use crate::{App, pages};

const SESSION_COOKIE: &str = "example_web_session";
/// Binds a sign-in to the browser that started it (a callback from another browser is refused).
const LOGIN_COOKIE: &str = "example_web_login";
/// Refresh this long before the access token expires.
const REFRESH_MARGIN: u64 = 10;

/// The value of cookie `name`.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// `HttpOnly`, `SameSite=Lax` (sent on the top-level redirect back from Latch), `Secure` over https.
fn set_cookie(app: &App, name: &str, value: &str, path: &str, max_age: Option<u64>) -> HeaderValue {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax");
    if app.inner.secure_cookies {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn redirect(to: &str, cookies: Vec<HeaderValue>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(to) {
        headers.insert(header::LOCATION, location);
    }
    for c in cookies {
        headers.append(header::SET_COOKIE, c);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn current(app: &App, headers: &HeaderMap) -> Option<(String, Session)> {
    let id = cookie(headers, SESSION_COOKIE)?;
    let session = app.inner.sessions.get(&id)?;
    Some((id, session))
}

#[derive(Deserialize)]
pub struct HomeQuery {
    notice: Option<String>,
}

pub async fn home(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<HomeQuery>,
) -> Response {
    let notice = q.notice.as_deref().and_then(pages::notice);
    let Some((id, session)) = current(&app, &headers) else {
        return pages::signed_out(notice);
    };
    // Seed 001 step 3: refresh when the access token has (nearly) expired.
    let session = if session.tokens.access_expires_at <= crate::now() + REFRESH_MARGIN {
        match app.inner.provider.refresh(&session.tokens).await {
            Ok(Refreshed::Tokens(tokens)) => {
                app.inner.sessions.set_tokens(&id, tokens.clone());
                let mut session = session;
                session.tokens = tokens;
                session
            }
            Ok(Refreshed::GrantEnded) => return end_locally(&app, &id, "ended"),
            Err(e) => {
                return pages::problem(
                    StatusCode::BAD_GATEWAY,
                    "Latch did not refresh the tokens",
                    &e.to_string(),
                );
            }
        }
    } else {
        session
    };
    let api = call_api(&app, &session.tokens.access_token).await;
    pages::signed_in(&session, &api, notice)
}

/// Calls the protected API route with the access token, as any API client of ours would.
async fn call_api(app: &App, access_token: &str) -> Value {
    let url = format!("{}/api/profile", app.inner.base_url);
    let result = app
        .inner
        .provider
        .http()
        .get(url)
        .bearer_auth(access_token)
        .send()
        .await;
    match result {
        Ok(r) => {
            let status = r.status().as_u16();
            let body = r.json::<Value>().await.unwrap_or(Value::Null);
            json!({ "status": status, "body": body })
        }
        Err(e) => json!({ "error": e.to_string() }),
    }
}

fn end_locally(app: &App, id: &str, notice: &str) -> Response {
    app.inner.sessions.remove(id);
    redirect(
        &format!("/?notice={notice}"),
        vec![set_cookie(app, SESSION_COOKIE, "", "/", Some(0))],
    )
}

/// Seed 001 step 1: off to Latch's hosted login page.
pub async fn login(State(app): State<App>) -> Response {
    let (url, state, pending) = app.inner.provider.authorization();
    app.inner.sessions.park(state.secret().clone(), pending);
    let bind = set_cookie(&app, LOGIN_COOKIE, state.secret(), "/callback", Some(600));
    redirect(url.as_str(), vec![bind])
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Seed 001 step 2: back from Latch with a code (or an error).
pub async fn callback(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let bad =
        |detail: &str| pages::problem(StatusCode::BAD_REQUEST, "Sign-in did not complete", detail);
    if let Some(error) = &q.error {
        let detail = format!("{error}: {}", q.error_description.as_deref().unwrap_or(""));
        tracing::info!(error = %error, "sign-in refused by Latch");
        return bad(&detail);
    }
    let Some(state) = q.state.as_deref() else {
        return bad("The response has no state.");
    };
    // RFC 6749 §10.12: the state must be the one this browser was given.
    if cookie(&headers, LOGIN_COOKIE).as_deref() != Some(state) {
        return bad("This sign-in was not started in this browser.");
    }
    let Some(pending) = app.inner.sessions.take_pending(state) else {
        return bad("This sign-in expired or was already used.");
    };
    // RFC 9207 §2.4: the response must name the issuer we sent the request to.
    if q.iss.as_deref().map(|i| i.trim_end_matches('/')) != Some(app.inner.issuer.as_str()) {
        return bad("The response does not come from the expected issuer (RFC 9207).");
    }
    let Some(code) = q.code else {
        return bad("The response has no code.");
    };
    let (tokens, claims) = match app.inner.provider.exchange(code, pending).await {
        Ok(ok) => ok,
        Err(e) => {
            tracing::warn!(error = %e, "code exchange failed");
            return bad(&e.to_string());
        }
    };
    let id = CsrfToken::new_random_len(32).secret().clone();
    let csrf = CsrfToken::new_random().secret().clone();
    app.inner
        .sessions
        .insert(id.clone(), Session::new(claims, tokens, csrf));
    redirect(
        "/",
        vec![
            set_cookie(&app, SESSION_COOKIE, &id, "/", None),
            set_cookie(&app, LOGIN_COOKIE, "", "/callback", Some(0)),
        ],
    )
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// Why a form post is refused.
enum Refused {
    /// Its CSRF token is not its session's.
    Stale,
    /// No session (it ended meanwhile).
    NoSession,
}

impl Refused {
    fn response(self) -> Response {
        match self {
            Refused::Stale => pages::problem(
                StatusCode::FORBIDDEN,
                "Refused",
                "The form is stale: reload the page.",
            ),
            Refused::NoSession => redirect("/", vec![]),
        }
    }
}

/// The session of a form post whose CSRF token matches it.
fn posted(app: &App, headers: &HeaderMap, form: &CsrfForm) -> Result<(String, Session), Refused> {
    match current(app, headers) {
        Some((id, s)) if s.csrf == form.csrf => Ok((id, s)),
        Some(_) => Err(Refused::Stale),
        None => Err(Refused::NoSession),
    }
}

/// Seed 001 step 3, on demand.
pub async fn refresh(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (id, session) = match posted(&app, &headers, &form) {
        Ok(s) => s,
        Err(r) => return r.response(),
    };
    match app.inner.provider.refresh(&session.tokens).await {
        Ok(Refreshed::Tokens(tokens)) => {
            app.inner.sessions.set_tokens(&id, tokens);
            redirect("/?notice=refreshed", vec![])
        }
        Ok(Refreshed::GrantEnded) => end_locally(&app, &id, "ended"),
        Err(e) => pages::problem(
            StatusCode::BAD_GATEWAY,
            "Latch did not refresh the tokens",
            &e.to_string(),
        ),
    }
}

/// Seed 001 step 4: end the local session, then Latch's (RP-Initiated Logout 1.0).
pub async fn logout(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (id, session) = match posted(&app, &headers, &form) {
        Ok(s) => s,
        Err(r) => return r.response(),
    };
    app.inner.sessions.remove(&id);
    let back = format!("{}/", app.inner.base_url);
    let to = app
        .inner
        .provider
        .end_session_url(&session.tokens.id_token, &back)
        .map_or_else(|| "/?notice=signed-out".to_owned(), |u| u.to_string());
    redirect(
        &to,
        vec![set_cookie(&app, SESSION_COOKIE, "", "/", Some(0))],
    )
}

/// The protected API: a Bearer access token (RFC 6750) verified against Latch's keys, with the
/// claims of RFC 9068 §4 (`typ: at+jwt`, `iss`, `aud` naming this application, `exp`).
pub async fn api_profile(State(app): State<App>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let verified = match token {
        Some(token) => app
            .inner
            .keys
            .verify(token, "at+jwt", true)
            .await
            .and_then(|claims| {
                crate::jwt::check_access_token(
                    &claims,
                    &app.inner.issuer,
                    &app.inner.client_id,
                    crate::now(),
                )
                .map(|()| claims)
            }),
        None => Err(crate::jwt::JwtError::Malformed),
    };
    match verified {
        Ok(claims) => axum::Json(json!({
            "message": "Hello from the protected API",
            "sub": claims.get("sub"),
            "scope": claims.get("scope"),
            "client_id": claims.get("client_id"),
        }))
        .into_response(),
        Err(e) => {
            // RFC 6750 §3: say why in the challenge, nothing more.
            let challenge = format!("Bearer error=\"invalid_token\", error_description=\"{e}\"");
            let mut response = (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({ "error": "invalid_token" })),
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; example_web_session_x=2; example_web_session=3"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("3"));
        assert_eq!(cookie(&headers, "missing"), None);
    }
}
