//! The environment's look, fixed at start-up: its name and logo, the stylesheet (with the
//! primary colour) served at `/assets/latch-<hash>.css`, and the pages' security headers.
//!
//! The stylesheet is a file of its own rather than an inline `<style>`: every page links the same
//! URL, browsers keep it for a year (the hash in its name changes whenever the colour or the
//! file does), and the CSP needs neither `'unsafe-inline'` nor a per-page hash.

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::settings::Settings;
use crate::state::AppState;

const STYLE: &str = include_str!("../../templates/style.css");

/// Shown when a template fails to render (it cannot with the values it is given; no panic).
const FALLBACK: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Error</title></head><body><p>Something went wrong; please try again.</p></body></html>";

pub struct Theme {
    pub(crate) name: String,
    pub(crate) logo_url: Option<String>,
    /// The stylesheet's absolute URL, under the issuer.
    pub(crate) stylesheet_href: String,
    /// The stylesheet's route, under the issuer's path (`/assets/latch-<hash>.css`).
    pub(crate) stylesheet_route: String,
    css: Bytes,
    csp: HeaderValue,
}

impl Theme {
    pub fn new(settings: &Settings) -> Self {
        let branding = &settings.branding;
        let css = format!(":root{{--primary:{}}}\n{STYLE}", branding.primary_color);
        let stylesheet_route = super::assets::hashed_url("latch", "css", css.as_bytes());
        let issuer_origin = origin(&settings.issuer);
        let logo_origin = branding
            .logo_url
            .as_ref()
            .map(|u| u.origin().ascii_serialization());
        Self {
            name: branding.name.clone(),
            logo_url: branding.logo_url.as_ref().map(|u| u.as_str().to_owned()),
            stylesheet_href: format!("{}{stylesheet_route}", settings.issuer),
            stylesheet_route,
            css: Bytes::from(css),
            csp: csp(issuer_origin.as_deref(), logo_origin.as_deref()),
        }
    }

    /// The template rendered as a page with its security headers.
    pub(crate) fn render(&self, status: StatusCode, template: &impl Template) -> Response {
        match template.render() {
            Ok(html) => self.page(status, html),
            Err(e) => {
                tracing::error!(error = %e, "a hosted page failed to render");
                self.page(StatusCode::INTERNAL_SERVER_ERROR, FALLBACK.to_owned())
            }
        }
    }

    /// Security headers for every page.
    fn page(&self, status: StatusCode, html: String) -> Response {
        let mut response = (status, Html(html)).into_response();
        let h = response.headers_mut();
        h.insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        response
    }
}

/// `scheme://host[:port]` of a URL, if it has one that can go into a header.
fn origin(url: &str) -> Option<String> {
    let origin = url::Url::parse(url).ok()?.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// No script at all (`default-src 'none'`); styles only from this server's stylesheet; images
/// from this server, `data:` and the logo's origin; never framed.
fn csp(issuer: Option<&str>, logo: Option<&str>) -> HeaderValue {
    fn add(list: &mut String, origin: Option<&str>) {
        if let Some(o) = origin.filter(|o| !list.split(' ').any(|x| x == *o)) {
            list.push(' ');
            list.push_str(o);
        }
    }
    let mut style = String::from("'self'");
    add(&mut style, issuer);
    let mut img = String::from("'self' data:");
    add(&mut img, issuer);
    add(&mut img, logo);
    let policy = format!(
        "default-src 'none'; style-src {style}; img-src {img}; frame-ancestors 'none'; base-uri 'none'"
    );
    HeaderValue::from_str(&policy).unwrap_or_else(|_| {
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
        )
    })
}

/// `GET /assets/latch-<hash>.css`: the stylesheet, cacheable for a year (its URL changes with it).
pub async fn stylesheet(State(state): State<AppState>) -> Response {
    super::assets::immutable(state.theme.css.clone(), "text/css; charset=utf-8")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests panic on failure")]

    use super::*;
    use crate::settings::Branding;

    fn settings(color: &str, logo: Option<&str>) -> Settings {
        let mut s = Settings::new(
            "https://login.example.com/t",
            "127.0.0.1:0",
            "sqlite://x.db",
        )
        .unwrap();
        s.branding = Branding {
            name: "Acme".to_owned(),
            logo_url: logo.map(|l| Branding::parse_logo_url(l).unwrap()),
            primary_color: color.to_owned(),
        };
        s
    }

    #[test]
    fn the_stylesheet_url_changes_with_the_colour_and_sits_under_the_issuer() {
        let a = Theme::new(&settings("#112233", None));
        let b = Theme::new(&settings("#445566", None));
        assert_ne!(a.stylesheet_route, b.stylesheet_route);
        assert!(a.stylesheet_route.starts_with("/assets/latch-"));
        assert_eq!(
            a.stylesheet_href,
            format!("https://login.example.com/t{}", a.stylesheet_route)
        );
        assert!(
            std::str::from_utf8(&a.css)
                .unwrap()
                .starts_with(":root{--primary:#112233}")
        );
    }

    #[test]
    fn the_csp_allows_no_script_and_names_the_logo_origin_for_images_only() {
        let t = Theme::new(&settings(
            "#112233",
            Some("https://cdn.example.net:8443/a/logo.svg"),
        ));
        let csp = t.csp.to_str().unwrap();
        assert!(csp.starts_with("default-src 'none';"), "{csp}");
        assert!(
            !csp.contains("script-src") && !csp.contains("unsafe"),
            "{csp}"
        );
        assert!(
            csp.contains(
                "img-src 'self' data: https://login.example.com https://cdn.example.net:8443;"
            ),
            "{csp}"
        );
        assert!(
            csp.contains("style-src 'self' https://login.example.com;"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    }
}
