//! Errors at the HTTP edge: protocol errors (RFC 6749 §5.2 JSON), management API errors, and
//! internal failures (logged with their cause, answered with an opaque body).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latch_core::store::StoreError;
use latch_core::{ErrorCode, OAuthError};
use serde::Serialize;

/// Every error answer's body (RFC 6749 §5.2 for the protocol endpoints; the management API's too).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

/// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1) on every token-bearing answer.
pub fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// An OAuth error answered as JSON (token, revocation, introspection endpoints).
pub struct OAuthResponse {
    pub error: OAuthError,
    /// The authentication scheme to challenge with on `invalid_client` (RFC 6749 §5.2).
    pub challenge: &'static str,
    /// Set when an abuse limit refused the request: 429 with `Retry-After`.
    pub retry_after: Option<i64>,
}

impl OAuthResponse {
    pub fn bearer(error: OAuthError) -> Self {
        Self {
            error,
            challenge: "Bearer",
            retry_after: None,
        }
    }

    /// The client's request rate is over its limit.
    pub fn rate_limited(retry_after: i64) -> Self {
        Self {
            error: OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "too many requests for this client; slow down",
            ),
            challenge: "Basic",
            retry_after: Some(retry_after.max(1)),
        }
    }

    pub fn too_many_attempts(retry_after: i64) -> Self {
        Self {
            error: OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "too many failed attempts; try again later",
            ),
            challenge: "Basic",
            retry_after: Some(retry_after.max(1)),
        }
    }
}

impl From<OAuthError> for OAuthResponse {
    fn from(error: OAuthError) -> Self {
        Self {
            error,
            challenge: "Basic",
            retry_after: None,
        }
    }
}

impl From<StoreError> for OAuthResponse {
    fn from(e: StoreError) -> Self {
        internal(&e);
        OAuthError::server_error().into()
    }
}

/// An error and its causes, `outer: inner: …`, for a log line or a stored `last_error`.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Logs an internal failure with its cause; the client only ever sees `server_error`.
pub fn internal(e: &dyn std::error::Error) {
    let chain = chain(e);
    tracing::error!(error = %chain, "internal error");
    crate::http::metrics::global().internal_error();
}

pub fn oauth_status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::AccessDenied => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for OAuthResponse {
    fn into_response(self) -> Response {
        let status = match self.retry_after {
            Some(_) => StatusCode::TOO_MANY_REQUESTS,
            None => oauth_status(self.error.code),
        };
        let body = Json(ErrorBody {
            error: self.error.code.as_str(),
            error_description: &self.error.description,
        });
        let mut response = (status, body).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            let value = if self.error.code == ErrorCode::InvalidToken {
                format!(
                    "Bearer error=\"invalid_token\", error_description=\"{}\"",
                    self.error.description.replace('"', "'")
                )
            } else {
                format!("{} realm=\"latch\"", self.challenge)
            };
            if let Ok(v) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
        }
        no_store(response)
    }
}

/// The management API's one error shape: `{"error": CODE, "error_description": TEXT}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub description: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            code,
            description: description.into(),
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub fn conflict(code: &'static str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, description)
    }

    /// Logs the cause; the client sees an opaque `server_error`.
    pub fn internal(e: &dyn std::error::Error) -> Self {
        internal(e);
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
        )
    }
}

/// A JSON body that could not be read: malformed → 400, wrong types or unknown fields → 422
/// naming the field, not JSON → 400, too large → 413.
impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        use axum::extract::rejection::JsonRejection as R;
        use std::error::Error as _;
        // The source holds the path and serde's message (`redirects.post_login[0]: invalid type…`).
        let detail = rejection
            .source()
            .map_or_else(|| rejection.body_text(), ToString::to_string);
        match rejection {
            R::JsonDataError(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", detail)
            }
            R::JsonSyntaxError(_) => Self::bad_request(format!("malformed JSON: {detail}")),
            R::MissingJsonContentType(_) => {
                Self::bad_request("the body must be JSON (Content-Type: application/json)")
            }
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                "the request body is too large",
            ),
            other => Self::bad_request(other.body_text()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Self::conflict("conflict", what),
            other => {
                internal(&other);
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "internal error",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(ErrorBody {
            error: self.code,
            error_description: &self.description,
        });
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"latch\""),
            );
        }
        no_store(response)
    }
}
