//! CORS for browser apps (README "Use Latch from a single-page app"), decided per request.
//!
//! - Token, revocation and userinfo answer the origins applications allow
//!   (`Application::allows_origin`: `allowed_origins`, plus for `spa` apps the origins of their
//!   post-login redirect URIs). A preflight carries no `client_id`, so it is answered for an origin
//!   that at least one application allows; the actual request only for an origin that the
//!   application it is for allows: the `client_id` of the form body or Basic header (token,
//!   revocation), or the `client_id` claim of the bearer token (userinfo), read without
//!   verification only to choose the CORS answer — the handler verifies the token.
//! - Discovery and `/keys` are public: any origin, `Access-Control-Allow-Origin: *`.
//! - Everything else (management API, hosted pages) gets no CORS headers.
//!
//! Credentials are never allowed cross-origin (no `Access-Control-Allow-Credentials`), and a
//! disallowed origin gets no `Access-Control-Allow-Origin`: its request is handed on untouched
//! (a refused preflight reaches the router and gets its usual 405).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use latch_core::params::Params;

use crate::state::AppState;

/// How long a browser may cache a preflight answer (seconds; browsers cap it at 2 h anyway).
const MAX_AGE: &str = "600";
const ALLOW_HEADERS: &str = "authorization, content-type";
/// A `client_id` longer than this is no application's (and is not looked up).
const MAX_CLIENT_ID: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Token,
    Revoke,
    Userinfo,
    /// Discovery and JWKS: readable from any origin.
    Public,
}

impl Endpoint {
    fn methods(self) -> HeaderValue {
        match self {
            Self::Token | Self::Revoke => HeaderValue::from_static("POST"),
            Self::Userinfo => HeaderValue::from_static("GET, POST"),
            Self::Public => HeaderValue::from_static("GET"),
        }
    }
}

/// The middleware's state: the server's state and the issuer's path, under which every route lives.
#[derive(Clone)]
pub struct Cors {
    state: AppState,
    prefix: Arc<str>,
}

impl Cors {
    pub fn new(state: &AppState) -> Self {
        let prefix = url::Url::parse(&state.settings.issuer)
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        Self {
            state: state.clone(),
            prefix: prefix.into(),
        }
    }

    fn endpoint(&self, path: &str) -> Option<Endpoint> {
        match path.strip_prefix(&*self.prefix)? {
            "/oauth/token" => Some(Endpoint::Token),
            "/oauth/revoke" => Some(Endpoint::Revoke),
            "/userinfo" => Some(Endpoint::Userinfo),
            "/.well-known/openid-configuration" | "/keys" => Some(Endpoint::Public),
            _ => None,
        }
    }

    /// Whether the application with this `client_id` allows `origin`.
    async fn client_allows(&self, client_id: &str, origin: &str) -> bool {
        if client_id.is_empty() || client_id.len() > MAX_CLIENT_ID {
            return false;
        }
        match self
            .state
            .applications
            .by_client_id(self.state.store.as_ref(), client_id)
            .await
        {
            Ok(app) => app.is_some_and(|a| a.allows_origin(origin)),
            Err(e) => {
                tracing::warn!(error = %e, "could not look up an application for CORS");
                false
            }
        }
    }
}

pub async fn middleware(State(cors): State<Cors>, request: Request, next: Next) -> Response {
    let Some(endpoint) = cors.endpoint(request.uri().path()) else {
        return next.run(request).await;
    };
    let Some(origin) = request.headers().get(header::ORIGIN).cloned() else {
        return next.run(request).await;
    };
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);

    if endpoint == Endpoint::Public {
        let any = HeaderValue::from_static("*");
        if preflight {
            return preflight_response(any, endpoint, false);
        }
        let mut response = next.run(request).await;
        response
            .headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, any);
        return response;
    }

    let origin_text = origin.to_str().unwrap_or_default().to_owned();
    if preflight {
        if cors.state.applications.any_allows_origin(&origin_text) {
            return preflight_response(origin, endpoint, true);
        }
        return vary_origin(next.run(request).await);
    }

    let (request, client_id) = match endpoint {
        Endpoint::Token | Endpoint::Revoke => match form_client_id(request).await {
            Ok(found) => found,
            Err(response) => return vary_origin(response),
        },
        _ => match userinfo_client_id(request).await {
            Ok(found) => found,
            Err(response) => return vary_origin(response),
        },
    };
    let allowed = match client_id {
        Some(id) => cors.client_allows(&id, &origin_text).await,
        None => false,
    };
    let mut response = vary_origin(next.run(request).await);
    if allowed {
        response
            .headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    response
}

/// `204` with the preflight headers; never `Access-Control-Allow-Credentials`.
fn preflight_response(allow_origin: HeaderValue, endpoint: Endpoint, vary: bool) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, endpoint.methods());
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(MAX_AGE),
    );
    if vary {
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

fn vary_origin(mut response: Response) -> Response {
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("Origin"));
    response
}

/// Token and revocation: the `client_id` of a Basic header, else of the form body. The body (already
/// size-limited by the router) is buffered and handed on; a body that cannot be read gets exactly
/// the answer the handler's own extractor would give.
async fn form_client_id(request: Request) -> Result<(Request, Option<String>), Response> {
    if let Some(id) = basic_client_id(request.headers()) {
        return Ok((request, Some(id)));
    }
    if request.method() != Method::POST {
        return Ok((request, None));
    }
    let (parts, body) = request.into_parts();
    let bytes = buffer(&parts, body).await?;
    let id = crate::oauth::form_params(&parts.headers, &bytes)
        .and_then(|p| p.get("client_id").ok().flatten().map(str::to_owned));
    Ok((Request::from_parts(parts, Body::from(bytes)), id))
}

/// Userinfo: the `client_id` claim of the access token, from the `Authorization` header or, for a
/// POST without one, the form body (RFC 6750 §2.2). Not verified: it only chooses the CORS answer.
async fn userinfo_client_id(request: Request) -> Result<(Request, Option<String>), Response> {
    if let Some(token) = crate::oauth::tokens::bearer(request.headers()) {
        let id = unverified_client_id(token);
        return Ok((request, id));
    }
    if request.method() != Method::POST {
        return Ok((request, None));
    }
    let (parts, body) = request.into_parts();
    let bytes = buffer(&parts, body).await?;
    let id = crate::oauth::form_params(&parts.headers, &bytes).and_then(|p| {
        p.get("access_token")
            .ok()
            .flatten()
            .and_then(unverified_client_id)
    });
    Ok((Request::from_parts(parts, Body::from(bytes)), id))
}

async fn buffer(parts: &axum::http::request::Parts, body: Body) -> Result<Bytes, Response> {
    Bytes::from_request(Request::from_parts(parts.clone(), body), &())
        .await
        .map_err(IntoResponse::into_response)
}

/// RFC 6749 §2.3.1: `Basic base64(form-encoded id ":" form-encoded secret)`.
fn basic_client_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(credentials.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, _) = decoded.split_once(':')?;
    Params::parse(format!("client_id={id}").as_bytes())
        .get("client_id")
        .ok()
        .flatten()
        .map(str::to_owned)
}

/// The `client_id` claim of a JWT's payload, without checking anything else.
fn unverified_client_id(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    if payload.len() > 8192 {
        return None;
    }
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims.get("client_id")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_id_of_a_basic_header_is_form_decoded() {
        let mut headers = HeaderMap::new();
        let value = format!("Basic {}", STANDARD.encode("my%20app:s3cret"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&value).unwrap(),
        );
        assert_eq!(basic_client_id(&headers).as_deref(), Some("my app"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(basic_client_id(&headers), None);
    }

    #[test]
    fn the_client_id_claim_is_read_from_a_jwt_payload() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"client_id":"abc","sub":"u"}"#);
        assert_eq!(
            unverified_client_id(&format!("h.{payload}.s")).as_deref(),
            Some("abc")
        );
        assert_eq!(unverified_client_id("not-a-jwt"), None);
        assert_eq!(unverified_client_id("a.!!!.c"), None);
    }
}
