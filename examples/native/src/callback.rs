//! The loopback redirect (RFC 8252 §7.3): a one-shot HTTP server on `127.0.0.1:{port}` that
//! takes the browser's `GET /callback?code=…&state=…&iss=…`, finishes the sign-in, shows the
//! user a page saying where to go next, and stops.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use openidconnect::{
    AuthorizationCode, CsrfToken, Nonce, OAuth2TokenResponse, PkceCodeVerifier, RedirectUrl,
    TokenResponse,
};
use serde::Deserialize;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use crate::{Native, NativeError, StoredTokens};

/// What the callback must match: the values sent with the authorization request.
pub(crate) struct Expected {
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

#[derive(Clone)]
struct Shared {
    native: Native,
    redirect: RedirectUrl,
    expected: Arc<Mutex<Option<Expected>>>,
    done: mpsc::Sender<Result<Value, NativeError>>,
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

pub(crate) async fn wait(
    native: Native,
    listener: TcpListener,
    expected: Expected,
    timeout: Duration,
) -> Result<Value, NativeError> {
    let port = listener
        .local_addr()
        .map_err(|e| NativeError::Setup(e.to_string()))?
        .port();
    let redirect = RedirectUrl::new(format!("http://127.0.0.1:{port}/callback"))
        .map_err(|e| NativeError::Setup(e.to_string()))?;
    let (done, mut results) = mpsc::channel(1);
    let shared = Shared {
        native,
        redirect,
        expected: Arc::new(Mutex::new(Some(expected))),
        done,
    };
    let app = Router::new()
        .route("/callback", get(handle))
        .with_state(shared);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let outcome = tokio::time::timeout(timeout, results.recv()).await;
    // Let the browser get its page, then stop listening.
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    match outcome {
        Ok(Some(result)) => result,
        Ok(None) => Err(NativeError::Setup("the callback server stopped".into())),
        Err(_) => Err(NativeError::Timeout(timeout)),
    }
}

async fn handle(State(s): State<Shared>, Query(q): Query<CallbackQuery>) -> Response {
    let expected = s
        .expected
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    let Some(expected) = expected else {
        return page(
            StatusCode::CONFLICT,
            "signed-out",
            "This sign-in has already finished.",
        );
    };
    let result = complete(&s, expected, q).await;
    let response = match &result {
        Ok(claims) => {
            let who = claims.get("email").and_then(Value::as_str).unwrap_or("you");
            page(
                StatusCode::OK,
                "signed-in",
                &format!(
                    "Signed in as {who}. You can close this window and return to the terminal."
                ),
            )
        }
        Err(e) => page(
            StatusCode::BAD_REQUEST,
            "error",
            &format!("Sign-in failed: {e}"),
        ),
    };
    let _ = s.done.send(result).await;
    response
}

async fn complete(s: &Shared, expected: Expected, q: CallbackQuery) -> Result<Value, NativeError> {
    // Seed 000 step 2: errors first, then state.
    if let Some(error) = q.error {
        let description = q.error_description.unwrap_or_default();
        return Err(NativeError::Callback(format!("{error}: {description}")));
    }
    if q.state.as_deref() != Some(expected.state.secret().as_str()) {
        return Err(NativeError::Callback(
            "the state does not match this sign-in".into(),
        ));
    }
    // RFC 9207 §2.4: the issuer the request went to.
    if q.iss.as_deref().map(|i| i.trim_end_matches('/')) != Some(s.native.inner.issuer.as_str()) {
        return Err(NativeError::Callback(
            "the response names another issuer (RFC 9207)".into(),
        ));
    }
    let code = q
        .code
        .ok_or_else(|| NativeError::Callback("no code in the response".into()))?;
    // Seed 004 step 3: the code with the verifier only this process knows.
    let client = s.native.client(Some(s.redirect.clone()));
    let response = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| NativeError::Setup(e.to_string()))?
        .set_pkce_verifier(expected.verifier)
        .request_async(&|r| crate::send(s.native.inner.http.clone(), r))
        .await
        .map_err(|e| NativeError::Provider(crate::describe(&e)))?;
    let id_token = response
        .id_token()
        .ok_or_else(|| NativeError::Provider("no ID token".into()))?;
    let claims = id_token
        .claims(&client.id_token_verifier(), &expected.nonce)
        .map_err(|e| NativeError::Provider(format!("ID token: {e}")))?;
    let claims = serde_json::to_value(claims).map_err(|e| NativeError::Provider(e.to_string()))?;
    let refresh_token = response.refresh_token().ok_or_else(|| {
        NativeError::Provider("no refresh token (offline_access refused?)".into())
    })?;
    // Seed 000 step 3: into secure storage.
    s.native
        .save(StoredTokens {
            refresh_token: refresh_token.secret().clone(),
            id_token: Some(id_token.to_string()),
        })
        .await?;
    Ok(claims)
}

fn page(status: StatusCode, state: &str, text: &str) -> Response {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Latch native example</title></head><body><h1>Latch native example</h1>\
         <p id=\"status\" data-state=\"{state}\">{escaped}</p></body></html>"
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'"),
        ],
        html,
    )
        .into_response()
}
