//! [`Browser`]: a cookie-keeping HTTP client that follows redirects by hand, so it can stop at
//! an application's redirect URI, and fills the hosted login form like a person.

use std::sync::Arc;

use reqwest::cookie::{CookieStore as _, Jar};
use reqwest::header::{HeaderMap, LOCATION};
use reqwest::{Response, StatusCode};
use url::Url;

use crate::html::{self, Form};

const MAX_REDIRECTS: usize = 20;

/// Where following an authorization request ended.
#[derive(Debug, Clone)]
pub enum AuthorizeStep {
    /// A redirect to the relying party's redirect URI (not fetched: the application is not running).
    Redirected(Url),
    /// A page served by the server: the login form (200), an error page (4xx/5xx), …
    Page {
        /// The URL of the page.
        url: Url,
        /// Its status.
        status: StatusCode,
        /// Its headers (e.g. `Retry-After` on a 429).
        headers: HeaderMap,
        /// Its body.
        html: String,
    },
}

impl AuthorizeStep {
    /// The redirect URL; panics with the page if a page was served instead.
    pub fn expect_redirect(self) -> Url {
        match self {
            AuthorizeStep::Redirected(url) => url,
            AuthorizeStep::Page {
                url, status, html, ..
            } => {
                panic!("expected a redirect to the application, got {status} at {url}:\n{html}")
            }
        }
    }

    /// The page's URL, status and body; panics if it was a redirect to the application.
    pub fn expect_page(self) -> (Url, StatusCode, String) {
        match self {
            AuthorizeStep::Page {
                url, status, html, ..
            } => (url, status, html),
            AuthorizeStep::Redirected(url) => panic!("expected a page, got a redirect to {url}"),
        }
    }

    /// Whether this is a page holding the hosted login form.
    pub fn is_login_page(&self) -> bool {
        matches!(self, AuthorizeStep::Page { html, .. } if html::find_login_form(html).is_some())
    }
}

/// A person's browser: one cookie jar, no automatic redirects.
#[derive(Debug, Clone)]
pub struct Browser {
    client: reqwest::Client,
    jar: Arc<Jar>,
}

impl Default for Browser {
    fn default() -> Self {
        Browser::new()
    }
}

impl Browser {
    /// A browser with an empty cookie jar.
    pub fn new() -> Browser {
        Browser::with_headers(HeaderMap::new())
    }

    /// A browser whose every request says `X-Forwarded-For: addr`: behind a server that trusts
    /// the loopback proxy (`LATCH_TRUSTED_PROXIES=127.0.0.1`), it comes from `addr`.
    pub fn forwarded_for(addr: &str) -> Browser {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            addr.parse().expect("an address is a valid header value"),
        );
        Browser::with_headers(headers)
    }

    fn with_headers(headers: HeaderMap) -> Browser {
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("latch-testkit-browser")
            .default_headers(headers)
            .build()
            .expect("build the browser's HTTP client");
        Browser { client, jar }
    }

    /// The underlying client (sends this browser's cookies; does not follow redirects).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// `GET url`, without following redirects.
    pub async fn get(&self, url: &str) -> Response {
        self.client
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
    }

    /// `POST url` with an `application/x-www-form-urlencoded` body, without following redirects.
    pub async fn post_form<K: AsRef<str>, V: AsRef<str>>(
        &self,
        url: &str,
        form: &[(K, V)],
    ) -> Response {
        let body: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
        self.client
            .post(url)
            .form(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"))
    }

    /// Opens `authorize_url` and follows redirects until one points at `redirect_uri_prefix`
    /// (→ [`AuthorizeStep::Redirected`]) or a page is served (→ [`AuthorizeStep::Page`]).
    pub async fn authorize(&self, authorize_url: &str, redirect_uri_prefix: &str) -> AuthorizeStep {
        let response = self.get(authorize_url).await;
        self.follow(response, redirect_uri_prefix).await
    }

    /// Follows the redirects of `response` as [`Self::authorize`] does.
    pub async fn follow(&self, response: Response, redirect_uri_prefix: &str) -> AuthorizeStep {
        self.follow_from(response, redirect_uri_prefix, None).await
    }

    /// Finds the login form in `html` (served at `page_url`), fills `email` and `password`,
    /// posts it with its hidden fields, and follows redirects as [`Self::authorize`] does.
    /// Panics with the page if it holds no login form.
    pub async fn submit_login_form(
        &self,
        page_url: &Url,
        html: &str,
        email: &str,
        password: &str,
        redirect_uri_prefix: &str,
    ) -> AuthorizeStep {
        let mut form = html::find_login_form(html).unwrap_or_else(|| {
            panic!("no <form method=post> with `email` and `password` at {page_url}:\n{html}")
        });
        form.set("email", email);
        form.set("password", password);
        self.submit_form(page_url, &form, redirect_uri_prefix).await
    }

    /// Submits `form` (found on `page_url`) as a browser would, then follows redirects.
    /// For tests that tamper with a form before sending it.
    pub async fn submit_form(
        &self,
        page_url: &Url,
        form: &Form,
        redirect_uri_prefix: &str,
    ) -> AuthorizeStep {
        let action = form.action_url(page_url);
        let response = if form.method == "post" {
            self.post_form(action.as_str(), &form.fields).await
        } else {
            let mut url = action;
            url.query_pairs_mut().clear().extend_pairs(&form.fields);
            self.get(url.as_str()).await
        };
        let repost = (form.method == "post").then(|| form.fields.clone());
        self.follow_from(response, redirect_uri_prefix, repost)
            .await
    }

    /// Signs in through the hosted login: `authorize`, fill the form, follow redirects; returns
    /// the callback URL (with `code`, `state`, `iss`, or an `error`). Panics with the page HTML
    /// if there is no login page or the sign-in does not end at `redirect_uri_prefix`.
    pub async fn sign_in(
        &self,
        authorize_url: &str,
        redirect_uri_prefix: &str,
        email: &str,
        password: &str,
    ) -> Url {
        let (page_url, _, html) = match self.authorize(authorize_url, redirect_uri_prefix).await {
            AuthorizeStep::Redirected(url) => {
                panic!(
                    "expected the login page, but was sent straight back to {url} (already signed in?)"
                )
            }
            AuthorizeStep::Page {
                url, status, html, ..
            } => (url, status, html),
        };
        self.submit_login_form(&page_url, &html, email, password, redirect_uri_prefix)
            .await
            .expect_redirect()
    }

    /// The cookies this browser would send to `url`, as name/value pairs.
    pub fn cookies_for(&self, url: &str) -> Vec<(String, String)> {
        let url = Url::parse(url).unwrap_or_else(|e| panic!("cookies_for({url}): {e}"));
        let Some(header) = self.jar.cookies(&url) else {
            return Vec::new();
        };
        let header = header.to_str().unwrap_or_default().to_owned();
        header
            .split(';')
            .filter_map(|c| c.trim().split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// Follows redirects; `repost` is the form body to send again on a 307/308.
    async fn follow_from(
        &self,
        mut response: Response,
        prefix: &str,
        mut repost: Option<Vec<(String, String)>>,
    ) -> AuthorizeStep {
        for _ in 0..MAX_REDIRECTS {
            let url = response.url().clone();
            let status = response.status();
            let location = response.headers().get(LOCATION).map(|l| {
                l.to_str()
                    .unwrap_or_else(|e| panic!("non-ASCII Location from {url}: {e}"))
                    .to_owned()
            });
            let Some(location) = location.filter(|_| status.is_redirection()) else {
                let headers = response.headers().clone();
                let html = response
                    .text()
                    .await
                    .unwrap_or_else(|e| panic!("read body of {url}: {e}"));
                return AuthorizeStep::Page {
                    url,
                    status,
                    headers,
                    html,
                };
            };
            let next = url
                .join(&location)
                .unwrap_or_else(|e| panic!("bad Location {location:?} from {url}: {e}"));
            if location.starts_with(prefix) || next.as_str().starts_with(prefix) {
                return AuthorizeStep::Redirected(next);
            }
            let keep_body = matches!(
                status,
                StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
            );
            response = match repost.take().filter(|_| keep_body) {
                Some(body) => {
                    let resp = self.post_form(next.as_str(), &body).await;
                    repost = Some(body);
                    resp
                }
                None => self.get(next.as_str()).await,
            };
        }
        panic!(
            "more than {MAX_REDIRECTS} redirects (last at {})",
            response.url()
        );
    }
}

#[cfg(test)]
#[path = "browser_tests.rs"]
mod tests;
