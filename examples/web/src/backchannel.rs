//! `POST /backchannel-logout`: OpenID Connect Back-Channel Logout 1.0. Latch posts a signed
//! logout token when a session ends (here or in any other application of the same sign-in); the
//! sessions it names end here too.

use axum::Form;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::App;
use crate::jwt::SKEW;

/// §2.4: the event that marks a logout token.
const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How old a logout token may be (§2.6 item 5 leaves the window to the RP; Latch signs each
/// delivery attempt afresh).
pub const MAX_AGE: u64 = 300;

#[derive(Deserialize)]
pub struct LogoutForm {
    logout_token: Option<String>,
}

pub async fn receive(State(app): State<App>, Form(form): Form<LogoutForm>) -> Response {
    let Some(token) = form.logout_token else {
        return refuse("logout_token is missing");
    };
    let claims = match app.inner.keys.verify(&token, "logout+jwt", false).await {
        Ok(claims) => claims,
        Err(e) => {
            tracing::warn!(error = %e, "logout token refused");
            return refuse("the logout token is not valid");
        }
    };
    let now = crate::now();
    let logout = match check(&claims, &app.inner.issuer, &app.inner.client_id, now) {
        Ok(logout) => logout,
        Err(why) => {
            tracing::warn!(why, "logout token refused");
            return refuse(why);
        }
    };
    // §2.6 item 10 (optional): refuse a token seen before.
    if !app
        .inner
        .seen_jtis
        .first_use(logout.jti, logout.iat + MAX_AGE + SKEW, now)
    {
        tracing::warn!("logout token replayed");
        return refuse("this logout token was already used");
    }
    let ended = app.inner.sessions.end_matching(logout.sid, logout.sub);
    app.inner
        .backchannel_ended
        .fetch_add(ended, std::sync::atomic::Ordering::Relaxed);
    tracing::info!(ended, "back-channel logout");
    // §2.8: 200 on success; no caching.
    ([(header::CACHE_CONTROL, "no-store")], StatusCode::OK).into_response()
}

/// What a valid logout token names.
#[derive(Debug, PartialEq, Eq)]
pub struct Logout<'a> {
    pub sid: Option<&'a str>,
    pub sub: Option<&'a str>,
    pub jti: &'a str,
    pub iat: u64,
}

/// §2.6 items 3–7 on a token whose signature was verified.
pub fn check<'a>(
    claims: &'a Map<String, Value>,
    issuer: &str,
    client_id: &str,
    now: u64,
) -> Result<Logout<'a>, &'static str> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("iss") != Some(issuer) {
        return Err("wrong issuer");
    }
    if !crate::jwt::audience_contains(claims, client_id) {
        return Err("not for this application");
    }
    let iat = claims.get("iat").and_then(Value::as_u64).ok_or("no iat")?;
    if iat > now + SKEW || iat + MAX_AGE < now {
        return Err("iat out of range");
    }
    if claims
        .get("exp")
        .is_some_and(|exp| exp.as_u64().is_none_or(|exp| exp + SKEW <= now))
    {
        return Err("expired");
    }
    // §2.6 item 4: the events claim holds the back-channel logout event, an object.
    let event = claims.get("events").and_then(|e| e.get(LOGOUT_EVENT));
    if !event.is_some_and(Value::is_object) {
        return Err("no back-channel logout event");
    }
    let (sid, sub) = (text("sid"), text("sub"));
    if sid.is_none() && sub.is_none() {
        return Err("neither sid nor sub");
    }
    // §2.6 item 6: a nonce means an ID token passed off as a logout token.
    if claims.contains_key("nonce") {
        return Err("a logout token has no nonce");
    }
    let jti = text("jti").ok_or("no jti")?;
    Ok(Logout { sid, sub, jti, iat })
}

/// §2.8: 400 with an OAuth-style error body.
fn refuse(description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({ "error": "invalid_request", "error_description": description })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Map<String, Value> {
        json!({
            "iss": "http://latch", "aud": "web1", "iat": 1_000, "exp": 1_120, "jti": "j1",
            "sub": "u1", "sid": "s1", "events": { LOGOUT_EVENT: {} }
        })
        .as_object()
        .cloned()
        .unwrap_or_default()
    }

    #[test]
    fn a_valid_logout_token_names_its_sid_and_sub() {
        let claims = good();
        assert_eq!(
            check(&claims, "http://latch", "web1", 1_010),
            Ok(Logout {
                sid: Some("s1"),
                sub: Some("u1"),
                jti: "j1",
                iat: 1_000
            })
        );
    }

    #[test]
    fn each_rule_of_section_2_6_refuses_on_its_own() {
        let mutate = |f: &dyn Fn(&mut Map<String, Value>)| {
            let mut c = good();
            f(&mut c);
            c
        };
        let cases: Vec<(Map<String, Value>, u64, &str)> = vec![
            (
                mutate(&|c| {
                    c.insert("iss".into(), json!("http://evil"));
                }),
                1_010,
                "wrong issuer",
            ),
            (
                mutate(&|c| {
                    c.insert("aud".into(), json!(["other"]));
                }),
                1_010,
                "not for this application",
            ),
            (
                mutate(&|c| {
                    c.remove("iat");
                }),
                1_010,
                "no iat",
            ),
            (good(), 1_000 + MAX_AGE + 1, "iat out of range"),
            (good(), 1_000 - SKEW - 1, "iat out of range"),
            (
                mutate(&|c| {
                    c.insert("exp".into(), json!(900));
                }),
                1_010,
                "expired",
            ),
            (
                mutate(&|c| {
                    c.remove("events");
                }),
                1_010,
                "no back-channel logout event",
            ),
            (
                mutate(&|c| {
                    c.insert("events".into(), json!({ LOGOUT_EVENT: "yes" }));
                }),
                1_010,
                "no back-channel logout event",
            ),
            (
                mutate(&|c| {
                    c.remove("sid");
                    c.remove("sub");
                }),
                1_010,
                "neither sid nor sub",
            ),
            (
                mutate(&|c| {
                    c.insert("nonce".into(), json!("n"));
                }),
                1_010,
                "a logout token has no nonce",
            ),
            (
                mutate(&|c| {
                    c.remove("jti");
                }),
                1_010,
                "no jti",
            ),
        ];
        for (claims, now, why) in cases {
            assert_eq!(check(&claims, "http://latch", "web1", now), Err(why));
        }
    }
}
