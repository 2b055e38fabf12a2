//! Steps of the organization tests: a server with a management token, a web application, and a
//! browser signing in with extra authorization parameters (`organization`, `audience`).

use latch_testkit::browser::AuthorizeStep;
use latch_testkit::{Browser, LatchServer};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{self, App, EMAIL, PASSWORD};

pub const REDIRECT: &str = "https://app.example.com/callback";

/// A running server with the user `EMAIL`, a management token and one web application.
pub struct World {
    pub server: LatchServer,
    pub web: App,
    token: String,
}

impl World {
    pub async fn start() -> World {
        let server = support::server().await;
        let admin = server
            .cli(&[
                "apps",
                "create",
                "--name",
                "admin",
                "--type",
                "web",
                "--management-api",
            ])
            .await;
        let id = admin["client_id"].as_str().unwrap();
        let secret = admin["client_secret"].as_str().unwrap();
        let form = [("grant_type", "client_credentials")];
        let (status, body, _) = support::token(&server, &form, Some((id, secret))).await;
        assert_eq!(status, 200, "{body}");
        let web = support::app(&server, "web", REDIRECT, &[]).await;
        World {
            token: body["access_token"].as_str().unwrap().to_owned(),
            server,
            web,
        }
    }

    /// A management API call: status and JSON body.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = self.server.url(&format!("/api/v1{path}"));
        let mut req = latch_testkit::rp::reqwest_client()
            .request(method, url)
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The management API token.
    #[allow(
        dead_code,
        reason = "not every test file that includes the world uses it"
    )]
    pub fn token(&self) -> &str {
        &self.token
    }

    #[track_caller]
    pub fn expect(reply: (u16, Value), status: u16) -> Value {
        assert_eq!(reply.0, status, "{}", reply.1);
        reply.1
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        Self::expect(self.call(Method::POST, path, Some(body)).await, 201)
    }

    pub async fn get(&self, path: &str) -> Value {
        Self::expect(self.call(Method::GET, path, None).await, 200)
    }

    pub async fn patch(&self, path: &str, body: Value) -> Value {
        Self::expect(self.call(Method::PATCH, path, Some(body)).await, 200)
    }

    pub async fn delete(&self, path: &str) {
        Self::expect(self.call(Method::DELETE, path, None).await, 204);
    }

    pub async fn user_id(&self, email: &str) -> String {
        let found = self.get(&format!("/users?email={email}")).await;
        found["data"][0]["id"].as_str().unwrap().to_owned()
    }

    /// Creates an organization named `name` and returns its id.
    pub async fn organization(&self, name: &str) -> String {
        let org = self
            .post(
                "/organizations",
                json!({"name": name, "display_name": name.to_uppercase()}),
            )
            .await;
        org["id"].as_str().unwrap().to_owned()
    }

    pub async fn role(&self, name: &str, permissions: &[&str]) {
        self.post("/roles", json!({"name": name, "permissions": permissions}))
            .await;
    }

    pub async fn add_member(&self, org_id: &str, email: &str, roles: &[&str]) {
        let user_id = self.user_id(email).await;
        let body = json!({"user_id": user_id, "roles": roles});
        self.post(&format!("/organizations/{org_id}/members"), body)
            .await;
    }
}

/// One authorization attempt: its URL, state and PKCE verifier.
pub struct Attempt {
    pub url: String,
    pub state: String,
    pub verifier: String,
}

impl World {
    /// An authorization URL for the web application with `scope` and extra parameters.
    pub async fn attempt(&self, scopes: &[&str], extra: &[(&str, &str)]) -> Attempt {
        let client = support::rp(&self.server, &self.web).await;
        let auth = support::authorization(&client, scopes);
        let mut url = url::Url::parse(&auth.url).unwrap();
        url.query_pairs_mut().extend_pairs(extra);
        Attempt {
            url: url.into(),
            state: auth.state.secret().clone(),
            verifier: auth.verifier.secret().clone(),
        }
    }

    /// Follows the attempt in `browser`, signing in as `EMAIL` if the login page shows.
    pub async fn follow(&self, browser: &Browser, attempt: &Attempt) -> AuthorizeStep {
        let step = browser.authorize(&attempt.url, REDIRECT).await;
        if !step.is_login_page() {
            return step;
        }
        let (page, _, html) = step.expect_page();
        browser
            .submit_login_form(&page, &html, EMAIL, PASSWORD, REDIRECT)
            .await
    }

    /// Exchanges the code of `callback` (client_secret_basic); returns the token response.
    pub async fn exchange(&self, attempt: &Attempt, callback: &url::Url) -> Value {
        assert_eq!(
            support::param(callback, "state").as_deref(),
            Some(attempt.state.as_str())
        );
        let code =
            support::param(callback, "code").unwrap_or_else(|| panic!("no code: {callback}"));
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", attempt.verifier.as_str()),
        ];
        let (status, body, _) = support::token(&self.server, &form, Some(self.basic())).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Signs in (or uses the browser's session) and exchanges the code.
    pub async fn tokens(
        &self,
        browser: &Browser,
        scopes: &[&str],
        extra: &[(&str, &str)],
    ) -> Value {
        let attempt = self.attempt(scopes, extra).await;
        let callback = self.follow(browser, &attempt).await.expect_redirect();
        self.exchange(&attempt, &callback).await
    }

    /// `grant_type=refresh_token`: status and body.
    pub async fn refresh(&self, refresh_token: &str) -> (u16, Value) {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        let (status, body, _) = support::token(&self.server, &form, Some(self.basic())).await;
        (status, body)
    }

    fn basic(&self) -> (&str, &str) {
        (
            &self.web.client_id,
            self.web.client_secret.as_deref().unwrap(),
        )
    }
}

/// The claims of a JWT (signatures are checked by the code-flow tests).
pub fn claims(jwt: &Value) -> Value {
    support::jwt_parts(jwt.as_str().unwrap()).1
}

/// Accepts the invitation at `url` in `browser` as `email` with `password`; the page reached.
pub async fn accept(browser: &Browser, url: &str, email: &str, password: &str) -> (u16, String) {
    let (page, status, html) = browser.authorize(url, REDIRECT).await.expect_page();
    assert_eq!(status, 200, "{html}");
    let step = browser
        .submit_login_form(&page, &html, email, password, REDIRECT)
        .await;
    let (_, status, html) = step.expect_page();
    (status.as_u16(), html)
}

/// Walks a list with `limit=2`; returns the ids (by `key`) and the page sizes.
pub async fn walk(w: &World, path: &str, key: &str) -> (Vec<String>, Vec<usize>) {
    let (mut ids, mut sizes, mut after) = (Vec::new(), Vec::new(), None::<String>);
    loop {
        let cursor = after.map(|c| format!("&after={c}")).unwrap_or_default();
        let page = w.get(&format!("{path}?limit=2{cursor}")).await;
        let data = page["data"].as_array().unwrap();
        sizes.push(data.len());
        ids.extend(data.iter().map(|d| d[key].as_str().unwrap().to_owned()));
        after = page["next_cursor"].as_str().map(str::to_owned);
        if after.is_none() {
            return (ids, sizes);
        }
    }
}

/// The hosted login page's way back: the link whose text starts "Back to" (CONTRACT: "a link on
/// the hosted login page whose text starts 'Cancel' or 'Back to'"), as an absolute URL.
#[allow(
    dead_code,
    reason = "not every test file that includes the world uses it"
)]
pub fn decline_link(html: &str) -> String {
    let anchor = html
        .split("<a href=\"")
        .skip(1)
        .find(|rest| {
            rest.split_once('>')
                .is_some_and(|(_, text)| text.starts_with("Back to ") || text.starts_with("Cancel"))
        })
        .unwrap_or_else(|| panic!("no decline link:\n{html}"));
    anchor
        .split('"')
        .next()
        .unwrap_or_default()
        .replace("&amp;", "&")
}
