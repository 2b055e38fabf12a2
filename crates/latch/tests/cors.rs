//! CORS for browser apps, over HTTP against the real binary: token, userinfo and revocation answer
//! the origins an application allows (preflight included), discovery and JWKS any origin, and the
//! management API and hosted pages none; a disallowed origin is processed as if CORS did not exist.

// Test code: a failed step panics with its context.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use latch_testkit::Browser;
use reqwest::Method;
use reqwest::header::HeaderMap;
use support::*;

const SPA_ORIGIN: &str = "http://127.0.0.1:7100";
const SPA_REDIRECT: &str = "http://127.0.0.1:7100/callback.html";
const EVIL: &str = "http://127.0.0.1:7999";
const ADMIN_ORIGIN: &str = "https://admin.example.com";
const WEB_REDIRECT: &str = "https://app.example.com/cb";

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn allow_origin(&self) -> Option<&str> {
        self.headers
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap())
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// No CORS header of any kind.
    fn assert_no_cors(&self, what: &str) {
        for (name, _) in &self.headers {
            assert!(
                !name.as_str().starts_with("access-control-"),
                "{what}: unexpected {name} in {:?}",
                self.headers
            );
        }
    }
}

async fn send(
    server: &latch_testkit::LatchServer,
    method: Method,
    path: &str,
    origin: Option<&str>,
    headers: &[(&str, &str)],
    form: Option<&[(&str, &str)]>,
) -> Answer {
    let mut req = latch_testkit::rp::reqwest_client().request(method, server.url(path));
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(f) = form {
        req = req.form(f);
    }
    let resp = req.send().await.unwrap();
    Answer {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().await.unwrap(),
    }
}

async fn preflight(
    server: &latch_testkit::LatchServer,
    path: &str,
    origin: &str,
    method: &str,
) -> Answer {
    send(
        server,
        Method::OPTIONS,
        path,
        Some(origin),
        &[
            ("access-control-request-method", method),
            (
                "access-control-request-headers",
                "authorization, content-type",
            ),
        ],
        None,
    )
    .await
}

fn assert_preflight_allowed(a: &Answer, origin: &str, methods: &str) {
    assert_eq!(a.status, 204, "{:?}", a.headers);
    assert_eq!(a.allow_origin(), Some(origin));
    assert_eq!(a.header("access-control-allow-methods"), Some(methods));
    assert_eq!(
        a.header("access-control-allow-headers"),
        Some("authorization, content-type")
    );
    let max_age: u64 = a.header("access-control-max-age").unwrap().parse().unwrap();
    assert!((1..=7200).contains(&max_age), "bounded max-age: {max_age}");
    assert_eq!(a.header("access-control-max-age"), Some("600"));
    assert!(
        a.header("access-control-allow-credentials").is_none(),
        "never credentials"
    );
}

fn vary_has_origin(a: &Answer) -> bool {
    a.headers
        .get_all("vary")
        .iter()
        .any(|v| v.to_str().unwrap().to_ascii_lowercase().contains("origin"))
}

/// A spa application signed in through the hosted page: its tokens, as its code exchange returned them.
async fn spa_tokens(
    server: &latch_testkit::LatchServer,
    spa: &App,
    origin: Option<&str>,
) -> (Answer, serde_json::Value) {
    let client = rp(server, spa).await;
    let auth = authorization(&client, &["profile", "email", "offline_access"]);
    let code = sign_in_for_code(server, &Browser::new(), &auth, &spa.redirect_uri).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.secret().as_str()),
        ("redirect_uri", spa.redirect_uri.as_str()),
        ("code_verifier", auth.verifier.secret().as_str()),
        ("client_id", spa.client_id.as_str()),
    ];
    let a = send(
        server,
        Method::POST,
        "/oauth/token",
        origin,
        &[],
        Some(&form),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let json = a.json();
    (a, json)
}

#[tokio::test]
async fn preflights_are_answered_for_origins_an_application_allows() {
    let server = server().await;
    app(&server, "spa", SPA_REDIRECT, &[]).await;
    app(
        &server,
        "web",
        WEB_REDIRECT,
        &["--allowed-origin", ADMIN_ORIGIN],
    )
    .await;
    // The application cache picks new applications up within a second.
    for origin in [SPA_ORIGIN, ADMIN_ORIGIN] {
        let ready = latch_testkit::wait_until(Duration::from_secs(3), || async {
            preflight(&server, "/oauth/token", origin, "POST")
                .await
                .status
                == 204
        })
        .await;
        assert!(
            ready,
            "a preflight from {origin} is answered within the cache's refresh"
        );
    }

    for (path, methods) in [
        ("/oauth/token", "POST"),
        ("/oauth/revoke", "POST"),
        ("/userinfo", "GET, POST"),
    ] {
        // A spa's post-login redirect origin is allowed without being listed.
        let a = preflight(&server, path, SPA_ORIGIN, "POST").await;
        assert_preflight_allowed(&a, SPA_ORIGIN, methods);
        assert!(vary_has_origin(&a), "{path}: Vary: Origin");
        // A web app's explicit --allowed-origin.
        let a = preflight(&server, path, ADMIN_ORIGIN, "POST").await;
        assert_preflight_allowed(&a, ADMIN_ORIGIN, methods);

        // A disallowed origin: no CORS answer, the request goes on as without CORS (405 for OPTIONS).
        for origin in [
            EVIL,
            "null",
            "https://app.example.com",
            "http://127.0.0.1:7100/",
        ] {
            let a = preflight(&server, path, origin, "POST").await;
            assert!(
                a.allow_origin().is_none(),
                "{path} from {origin}: {:?}",
                a.headers
            );
            assert!(a.header("access-control-allow-methods").is_none());
            let plain = send(&server, Method::OPTIONS, path, None, &[], None).await;
            assert_eq!(
                a.status, plain.status,
                "{path} from {origin}: processed as without CORS"
            );
            assert_ne!(a.status, 204);
        }
    }
    // A web app's redirect origin is not implicitly allowed (only spa apps get that).
    let a = preflight(&server, "/oauth/token", "https://app.example.com", "POST").await;
    assert!(a.allow_origin().is_none());
}

#[tokio::test]
async fn a_spa_exchanges_refreshes_calls_userinfo_and_revokes_from_its_origin() {
    let server = server().await;
    let spa = app(&server, "spa", SPA_REDIRECT, &[]).await;

    // Code exchange from the spa's origin.
    let (a, tokens) = spa_tokens(&server, &spa, Some(SPA_ORIGIN)).await;
    assert_eq!(a.allow_origin(), Some(SPA_ORIGIN));
    assert!(vary_has_origin(&a));
    assert!(a.header("access-control-allow-credentials").is_none());
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    // Userinfo, GET and POST (header or form body), from the spa's origin and from elsewhere.
    let bearer = format!("Bearer {access}");
    let a = send(
        &server,
        Method::GET,
        "/userinfo",
        Some(SPA_ORIGIN),
        &[("authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.allow_origin(), Some(SPA_ORIGIN));
    assert_eq!(a.json()["email"], EMAIL);
    let a = send(
        &server,
        Method::POST,
        "/userinfo",
        Some(SPA_ORIGIN),
        &[],
        Some(&[("access_token", &access)]),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.allow_origin(), Some(SPA_ORIGIN));
    let evil = send(
        &server,
        Method::GET,
        "/userinfo",
        Some(EVIL),
        &[("authorization", &bearer)],
        None,
    )
    .await;
    let plain = send(
        &server,
        Method::GET,
        "/userinfo",
        None,
        &[("authorization", &bearer)],
        None,
    )
    .await;
    assert!(evil.allow_origin().is_none(), "{:?}", evil.headers);
    assert_eq!(
        (evil.status, &evil.body),
        (plain.status, &plain.body),
        "processed exactly as without CORS"
    );
    assert!(plain.allow_origin().is_none());
    // A forged token naming the spa's client_id gets a CORS answer but is refused by the handler.
    let forged = format!(
        "Bearer e30.{}.sig",
        base64_url(&format!(r#"{{"client_id":"{}"}}"#, spa.client_id))
    );
    let a = send(
        &server,
        Method::GET,
        "/userinfo",
        Some(SPA_ORIGIN),
        &[("authorization", &forged)],
        None,
    )
    .await;
    assert_eq!(a.status, 401);
    assert_eq!(a.allow_origin(), Some(SPA_ORIGIN));

    // Refresh (rotation) from the spa's origin; from elsewhere the same request is processed but not shared.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("client_id", spa.client_id.as_str()),
    ];
    let a = send(
        &server,
        Method::POST,
        "/oauth/token",
        Some(SPA_ORIGIN),
        &[],
        Some(&form),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.allow_origin(), Some(SPA_ORIGIN));
    let rotated = a.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rotated, refresh);

    let bad = [
        ("grant_type", "refresh_token"),
        ("refresh_token", "not-a-token"),
        ("client_id", spa.client_id.as_str()),
    ];
    let evil = send(
        &server,
        Method::POST,
        "/oauth/token",
        Some(EVIL),
        &[],
        Some(&bad),
    )
    .await;
    let plain = send(&server, Method::POST, "/oauth/token", None, &[], Some(&bad)).await;
    assert!(evil.allow_origin().is_none());
    assert_eq!((evil.status, &evil.body), (plain.status, &plain.body));
    assert_eq!(evil.status, 400);
    // Errors are readable by the allowed origin (the spa needs to see invalid_grant).
    let a = send(
        &server,
        Method::POST,
        "/oauth/token",
        Some(SPA_ORIGIN),
        &[],
        Some(&bad),
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.allow_origin(), Some(SPA_ORIGIN));
    assert_eq!(a.json()["error"], "invalid_grant");

    // Revocation from the spa's origin.
    let form = [
        ("token", rotated.as_str()),
        ("token_type_hint", "refresh_token"),
        ("client_id", spa.client_id.as_str()),
    ];
    let a = send(
        &server,
        Method::POST,
        "/oauth/revoke",
        Some(EVIL),
        &[],
        Some(&form),
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(a.allow_origin().is_none());
    let a = send(
        &server,
        Method::POST,
        "/oauth/revoke",
        Some(SPA_ORIGIN),
        &[],
        Some(&form),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.allow_origin(), Some(SPA_ORIGIN));
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rotated.as_str()),
        ("client_id", spa.client_id.as_str()),
    ];
    let a = send(
        &server,
        Method::POST,
        "/oauth/token",
        Some(SPA_ORIGIN),
        &[],
        Some(&form),
    )
    .await;
    assert_eq!(
        a.status, 400,
        "the revoked refresh token no longer works: {}",
        a.body
    );
}

#[tokio::test]
async fn an_origin_is_allowed_only_for_the_application_that_allows_it() {
    let server = server().await;
    let spa = app(&server, "spa", SPA_REDIRECT, &[]).await;
    let web = app(
        &server,
        "web",
        WEB_REDIRECT,
        &["--allowed-origin", ADMIN_ORIGIN],
    )
    .await;
    let secret = web.client_secret.clone().unwrap();
    let cc = [("grant_type", "client_credentials")];

    // The web app with its explicit allowed origin, authenticating with client_secret_basic…
    let basic = format!(
        "Basic {}",
        base64_std(&format!("{}:{secret}", web.client_id))
    );
    let a = send(
        &server,
        Method::POST,
        "/oauth/token",
        Some(ADMIN_ORIGIN),
        &[("authorization", &basic)],
        Some(&cc),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.allow_origin(), Some(ADMIN_ORIGIN));
    assert!(a.header("access-control-allow-credentials").is_none());
    // …and client_secret_post.
    let post = [
        ("grant_type", "client_credentials"),
        ("client_id", web.client_id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let a = send(
        &server,
        Method::POST,
        "/oauth/token",
        Some(ADMIN_ORIGIN),
        &[],
        Some(&post),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.allow_origin(), Some(ADMIN_ORIGIN));

    // The spa's origin is allowed for the spa, not for the web app (even though a preflight passes).
    let a = send(
        &server,
        Method::POST,
        "/oauth/token",
        Some(SPA_ORIGIN),
        &[("authorization", &basic)],
        Some(&cc),
    )
    .await;
    assert_eq!(a.status, 200, "processed as usual: {}", a.body);
    assert!(a.allow_origin().is_none());
    // The web app's redirect origin is not implicitly allowed.
    let a = send(
        &server,
        Method::POST,
        "/oauth/token",
        Some("https://app.example.com"),
        &[("authorization", &basic)],
        Some(&cc),
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(a.allow_origin().is_none());
    // The admin origin is the web app's, not the spa's.
    let (_, tokens) = spa_tokens(&server, &spa, None).await;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ("client_id", spa.client_id.as_str()),
    ];
    let a = send(
        &server,
        Method::POST,
        "/oauth/token",
        Some(ADMIN_ORIGIN),
        &[],
        Some(&form),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.allow_origin().is_none());
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let a = send(
        &server,
        Method::GET,
        "/userinfo",
        Some(ADMIN_ORIGIN),
        &[("authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(a.allow_origin().is_none());
    // An unknown client and a request with no client at all get no CORS answer either.
    let unknown = [
        ("grant_type", "client_credentials"),
        ("client_id", "nobody"),
    ];
    let a = send(
        &server,
        Method::POST,
        "/oauth/token",
        Some(SPA_ORIGIN),
        &[],
        Some(&unknown),
    )
    .await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(a.allow_origin().is_none());
    let a = send(
        &server,
        Method::POST,
        "/oauth/token",
        Some(SPA_ORIGIN),
        &[],
        Some(&cc),
    )
    .await;
    assert!(a.allow_origin().is_none());
}

#[tokio::test]
async fn discovery_and_jwks_answer_any_origin() {
    let server = server().await;
    for path in ["/.well-known/openid-configuration", "/keys"] {
        for origin in [EVIL, "https://anything.example", "null"] {
            let a = send(&server, Method::GET, path, Some(origin), &[], None).await;
            assert_eq!(a.status, 200);
            assert_eq!(a.allow_origin(), Some("*"), "{path}");
            assert!(a.header("access-control-allow-credentials").is_none());
            let p = preflight(&server, path, origin, "GET").await;
            assert_eq!(p.status, 204);
            assert_eq!(p.allow_origin(), Some("*"), "{path} preflight");
            assert_eq!(p.header("access-control-allow-methods"), Some("GET"));
            assert_eq!(p.header("access-control-max-age"), Some("600"));
            assert!(p.header("access-control-allow-credentials").is_none());
        }
        // Without an Origin (not a CORS request) the answer is unchanged.
        let a = send(&server, Method::GET, path, None, &[], None).await;
        assert_eq!(a.status, 200);
    }
}

#[tokio::test]
async fn the_management_api_and_hosted_pages_send_no_cors_headers() {
    let server = server().await;
    let spa = app(&server, "spa", SPA_REDIRECT, &[]).await;
    let admin = app(
        &server,
        "web",
        WEB_REDIRECT,
        &["--allowed-origin", ADMIN_ORIGIN, "--management-api"],
    )
    .await;
    let (_, mgmt, _) = token(
        &server,
        &[("grant_type", "client_credentials")],
        Some((&admin.client_id, admin.client_secret.as_deref().unwrap())),
    )
    .await;
    let bearer = format!("Bearer {}", mgmt["access_token"].as_str().unwrap());
    for origin in [ADMIN_ORIGIN, SPA_ORIGIN] {
        for path in ["/api/v1/applications", "/api/v1/users"] {
            let a = send(
                &server,
                Method::GET,
                path,
                Some(origin),
                &[("authorization", &bearer)],
                None,
            )
            .await;
            a.assert_no_cors(path);
            let p = preflight(&server, path, origin, "GET").await;
            p.assert_no_cors(path);
            assert_ne!(p.status, 204);
        }
    }

    // The hosted login page, fetched by a cookie-keeping browser that also sends an Origin.
    let client = rp(&server, &spa).await;
    let auth = authorization(&client, &[]);
    let browser = Browser::new();
    let resp = browser
        .client()
        .get(&auth.url)
        .header("origin", SPA_ORIGIN)
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_redirection(),
        "authorize redirects to the login page"
    );
    let authorize = Answer {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: String::new(),
    };
    authorize.assert_no_cors("/oauth/authorize");
    let login = authorize.header("location").unwrap().to_owned();
    let resp = browser
        .client()
        .get(&login)
        .header("origin", SPA_ORIGIN)
        .send()
        .await
        .unwrap();
    let page = Answer {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().await.unwrap(),
    };
    assert_eq!(page.status, 200);
    assert!(page.body.contains("name=\"password\""), "{}", page.body);
    page.assert_no_cors("/login");
    for path in ["/oauth/authorize", "/login", "/oidc/logout"] {
        preflight(&server, path, SPA_ORIGIN, "POST")
            .await
            .assert_no_cors(path);
        send(
            &server,
            Method::POST,
            path,
            Some(SPA_ORIGIN),
            &[],
            Some(&[("x", "y")]),
        )
        .await
        .assert_no_cors(path);
    }
    let a = send(
        &server,
        Method::GET,
        "/oidc/logout",
        Some(SPA_ORIGIN),
        &[],
        None,
    )
    .await;
    a.assert_no_cors("/oidc/logout");
}

fn base64_url(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

fn base64_std(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}
