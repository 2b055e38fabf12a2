//! One struct per console template (`templates/console/`). Every page but the problem page
//! extends `console/layout.html`, which reads `chrome` (the navigation, the signed-in
//! administrator, the CSRF token every form carries), `title` and `error`.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::cookies;
use super::guard::Admin;
use crate::pages::Theme;
use crate::state::AppState;

/// What a page shows after a refused change: the status, the message above the page (`error`)
/// or by the form it came from (`form_error`, with what was typed in that form, `form`).
pub(super) struct Shown<F = ()> {
    pub status: Option<StatusCode>,
    pub error: Option<String>,
    pub form_error: Option<String>,
    pub form: Option<F>,
}

impl<F> Default for Shown<F> {
    fn default() -> Self {
        Self {
            status: None,
            error: None,
            form_error: None,
            form: None,
        }
    }
}

impl<F> Shown<F> {
    /// The page with an error above its forms.
    pub fn error(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status: Some(status),
            error: Some(message.into()),
            ..Self::default()
        }
    }

    /// The page with an error by the form it came from, showing what was typed.
    pub fn at_form(status: StatusCode, message: impl Into<String>, form: F) -> Self {
        Self {
            status: Some(status),
            form_error: Some(message.into()),
            form: Some(form),
            ..Self::default()
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or(StatusCode::OK)
    }
}

/// What every console page shows around its content.
pub(super) struct Chrome<'a> {
    pub theme: &'a Theme,
    pub root: String,
    pub email: &'a str,
    pub csrf: &'a str,
    /// Which navigation entry is current.
    pub section: &'static str,
    /// The console script's URL.
    pub script: String,
}

impl<'a> Chrome<'a> {
    pub fn new(state: &'a AppState, admin: &'a Admin, section: &'static str) -> Self {
        Self {
            theme: &state.theme,
            root: cookies::root(state),
            email: &admin.user.email,
            csrf: &admin.session.csrf,
            section,
            script: format!("{}{}", state.settings.issuer, super::script::ROUTE.as_str()),
        }
    }
}

/// A page of the console, rendered with the hosted pages' security headers, except that:
/// - the CSP allows one script, the console's own file (`script`), by its full URL;
/// - `Referrer-Policy: same-origin`: under `no-referrer` browsers send `Origin: null` with the
///   console's own form posts, which `guard::forms` could not tell from a foreign one.
pub(super) fn render(state: &AppState, status: StatusCode, page: &impl Template) -> Response {
    let mut response = state.theme.render(status, page);
    let h = response.headers_mut();
    let script = format!("{}{}", state.settings.issuer, super::script::ROUTE.as_str());
    let csp = h
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .map(|csp| format!("{csp}; script-src {script}"))
        .and_then(|csp| HeaderValue::from_str(&csp).ok());
    if let Some(csp) = csp {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

#[derive(Template)]
#[template(path = "console/problem.html")]
struct ProblemPage<'a> {
    theme: &'a Theme,
    title: &'a str,
    text: &'a str,
    link: &'a str,
    link_text: &'a str,
}

/// A page outside the console's navigation (no session, an expired form, a failure).
pub(super) fn problem(state: &AppState, status: StatusCode, title: &str, text: &str) -> Response {
    let link = cookies::root(state);
    render(
        state,
        status,
        &ProblemPage {
            theme: &state.theme,
            title,
            text,
            link: &link,
            link_text: "Open the console",
        },
    )
}

/// 403 for a signed-in user who is not an administrator, with a way to switch accounts.
pub(super) fn refusal(state: &AppState, text: &str) -> Response {
    let issuer = &state.settings.issuer;
    let mut link = format!("{issuer}/oidc/logout");
    if let Ok(mut url) = url::Url::parse(&link) {
        url.query_pairs_mut()
            .append_pair("client_id", super::CLIENT_ID)
            .append_pair("post_logout_redirect_uri", &cookies::root(state));
        link = url.into();
    }
    render(
        state,
        StatusCode::FORBIDDEN,
        &ProblemPage {
            theme: &state.theme,
            title: "No access to the admin console",
            text,
            link: &link,
            link_text: "Sign in as someone else",
        },
    )
}

#[derive(Template)]
#[template(path = "console/reauth.html")]
struct ReauthPage<'a> {
    chrome: Chrome<'a>,
    title: &'a str,
    error: Option<&'a str>,
    what: &'a str,
    sign_in: String,
}

/// Asks for the password again before `what` (`max_age`), returning to `next` afterwards.
pub(super) fn reauth(state: &AppState, admin: &Admin, what: &str, next: &str) -> Response {
    let mut sign_in = format!("{}/login", cookies::root(state));
    if let Ok(mut url) = url::Url::parse(&sign_in) {
        url.query_pairs_mut()
            .append_pair("reauth", "1")
            .append_pair("next", next);
        sign_in = url.into();
    }
    render(
        state,
        StatusCode::OK,
        &ReauthPage {
            chrome: Chrome::new(state, admin, ""),
            title: "Confirm it's you",
            error: None,
            what,
            sign_in,
        },
    )
}
