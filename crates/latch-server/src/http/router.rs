//! Every route Latch serves, in one place.

use axum::Router;
use axum::routing::{get, post};

use crate::oauth::{authorize, introspect, organization, revoke, token, userinfo};
use crate::state::AppState;
use crate::{oauth::oidc, signin::invitation, signin::login};

pub fn router(state: AppState) -> Router {
    let body_limit = state.settings.body_limit;
    let routes = Router::new()
        .route("/healthz", get(oidc::healthz))
        .route("/readyz", get(oidc::readyz))
        .route("/.well-known/openid-configuration", get(oidc::discovery))
        .route("/keys", get(oidc::jwks))
        .route(
            "/oauth/authorize",
            get(authorize::get).post(authorize::post),
        )
        .route("/login", get(login::get).post(login::post))
        .route("/login/decline", get(crate::signin::decline::get))
        .merge(crate::signin::second_factor::routes())
        .merge(crate::signin::passkey::routes())
        .merge(crate::account::routes())
        .route(
            "/signup",
            get(crate::signin::signup::get).post(crate::signin::signup::post),
        )
        .route(
            "/password/forgot",
            get(crate::signin::password_reset::get).post(crate::signin::password_reset::post),
        )
        .route(
            "/password/reset",
            get(crate::signin::new_password::get).post(crate::signin::new_password::post),
        )
        .merge(crate::signin::verify_email::routes())
        .route(&state.theme.stylesheet_route, get(crate::pages::stylesheet))
        .route(
            crate::pages::passkey_script::ROUTE.as_str(),
            get(crate::pages::passkey_script::get),
        )
        .route("/login/organization", post(organization::pick))
        .route(
            "/invitations/accept",
            get(invitation::get).post(invitation::post),
        )
        .route("/oauth/token", post(token::token))
        .route("/oauth/revoke", post(revoke::revoke))
        .route("/oauth/introspect", post(introspect::introspect))
        .route("/userinfo", get(userinfo::get).post(userinfo::post))
        .route(
            "/oidc/logout",
            get(crate::oauth::logout::get).post(crate::oauth::logout::post),
        )
        .nest("/api/v1", crate::admin::audited_routes(&state))
        .merge(crate::console::mounted(&state))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::http::metrics::middleware,
        ));
    // Endpoints live under the issuer's path (RFC 8414 §3: the issuer may have a path component).
    let prefix = url::Url::parse(&state.settings.issuer)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    let routes = if prefix.is_empty() {
        routes
    } else {
        Router::new().nest(&prefix, routes)
    };
    routes
        .layer(axum::middleware::from_fn_with_state(
            crate::http::cors::Cors::new(&state),
            crate::http::cors::middleware,
        ))
        .layer(axum::middleware::from_fn_with_state(
            body_limit,
            crate::http::body_limit::middleware,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            state.settings.request_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            !state.settings.is_http_issuer(),
            hsts,
        ))
        .with_state(state)
}

/// RFC 6797: with an https issuer every response, errors included, tells browsers to use https
/// only, for a year. Not on an http (loopback, development) issuer, where it would be ignored.
async fn hsts(
    axum::extract::State(https): axum::extract::State<bool>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut response = next.run(request).await;
    if https {
        response.headers_mut().insert(
            axum::http::header::STRICT_TRANSPORT_SECURITY,
            axum::http::HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}
