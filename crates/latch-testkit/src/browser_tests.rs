//! Drives [`Browser`] against a scripted fake authorization server.

use super::*;
use crate::backchannel::read_request;
use tokio::io::AsyncWriteExt as _;

const CALLBACK: &str = "http://127.0.0.1:9/cb";

const LOGIN_PAGE: &str = r#"<!DOCTYPE html><html><body>
<form method="get" action="/search"><input name="q"></form>
<FORM METHOD="POST" ACTION="/login?flow=a&amp;x=1">
  <input type="hidden" name="challenge" value='c1'>
  <input type=email name=email>
  <input type="password" name="password">
  <button type="submit" name="op" value="login">Sign in</button>
</FORM></body></html>"#;

fn respond(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out + "\r\n" + body
}

/// The fake server's routes: a redirect to the login page that sets a cookie, a login form
/// that needs the cookie and the hidden field, a 303 to `/resume`, then a 302 to the callback.
fn route(method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> String {
    let cookie = headers
        .iter()
        .find(|(k, _)| k == "cookie")
        .map_or("", |(_, v)| v.as_str());
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match (method, path) {
        ("GET", "/authorize?client_id=a") => respond(
            "302 Found",
            &[
                ("Location", "/login?challenge=c1"),
                ("Set-Cookie", "pre=1; Path=/"),
            ],
            "",
        ),
        ("GET", "/login?challenge=c1") if cookie.contains("pre=1") => {
            respond("200 OK", &[], LOGIN_PAGE)
        }
        ("POST", "/login?flow=a&x=1") => {
            let expected = [
                ("challenge", "c1"),
                ("email", "ann@example.com"),
                ("op", "login"),
            ];
            if expected.iter().all(|(k, v)| field(k) == Some(v))
                && field("password") == Some("right")
            {
                let set = [
                    ("Location", "/resume"),
                    ("Set-Cookie", "session=s1; Path=/; HttpOnly"),
                ];
                respond("303 See Other", &set, "")
            } else {
                respond(
                    "200 OK",
                    &[],
                    &LOGIN_PAGE.replace("<body>", "<body><p>Wrong password</p>"),
                )
            }
        }
        ("GET", "/resume") if cookie.contains("session=s1") => respond(
            "302 Found",
            &[("Location", "http://127.0.0.1:9/cb?code=abc&state=xyz")],
            "",
        ),
        ("POST", "/moved") => respond("307 Temporary Redirect", &[("Location", "/echo")], ""),
        ("POST", "/echo") => respond("200 OK", &[], &String::from_utf8_lossy(body)),
        ("GET", "/loop") => respond("302 Found", &[("Location", "/loop")], ""),
        _ => respond("400 Bad Request", &[], "<p>no route</p>"),
    }
}

/// Starts the fake server; returns its base URL.
async fn fake_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(Some((method, path, headers, body))) = read_request(&mut stream).await {
                    let response = route(&method, &path, &headers, &body);
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                }
            });
        }
    });
    base
}

#[tokio::test]
async fn sign_in_fills_the_form_keeps_cookies_and_stops_at_the_callback() {
    let base = fake_server().await;
    let browser = Browser::new();
    let callback = browser
        .sign_in(
            &format!("{base}/authorize?client_id=a"),
            CALLBACK,
            "ann@example.com",
            "right",
        )
        .await;
    assert_eq!(
        callback.as_str(),
        "http://127.0.0.1:9/cb?code=abc&state=xyz"
    );
    assert_eq!(
        crate::query_param(&callback, "code").as_deref(),
        Some("abc")
    );

    let mut cookies = browser.cookies_for(&format!("{base}/"));
    cookies.sort();
    let expected = [
        ("pre".to_owned(), "1".to_owned()),
        ("session".to_owned(), "s1".to_owned()),
    ];
    assert_eq!(cookies, expected);
}

#[tokio::test]
async fn authorize_stops_at_the_login_page() {
    let base = fake_server().await;
    let step = Browser::new()
        .authorize(&format!("{base}/authorize?client_id=a"), CALLBACK)
        .await;
    assert!(step.is_login_page());
    let (url, status, _) = step.expect_page();
    assert_eq!(url.as_str(), format!("{base}/login?challenge=c1"));
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_wrong_password_yields_the_login_page_again() {
    let base = fake_server().await;
    let browser = Browser::new();
    let (url, _, html) = browser
        .authorize(&format!("{base}/authorize?client_id=a"), CALLBACK)
        .await
        .expect_page();
    let step = browser
        .submit_login_form(&url, &html, "ann@example.com", "wrong", CALLBACK)
        .await;
    assert!(step.is_login_page());
    let (_, status, html) = step.expect_page();
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Wrong password"));
}

#[tokio::test]
async fn an_unknown_route_is_an_error_page_not_a_redirect() {
    let base = fake_server().await;
    let (_, status, html) = Browser::new()
        .authorize(&format!("{base}/nope"), CALLBACK)
        .await
        .expect_page();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("no route"));
}

#[tokio::test]
async fn a_307_after_a_post_sends_the_form_again() {
    let base = fake_server().await;
    let browser = Browser::new();
    let page = url::Url::parse(&format!("{base}/start")).expect("url");
    let form = html::Form {
        method: "post".into(),
        action: Some("/moved".into()),
        fields: vec![("a".into(), "1 2".into())],
    };
    let (url, _, body) = browser
        .submit_form(&page, &form, CALLBACK)
        .await
        .expect_page();
    assert_eq!(url.path(), "/echo");
    assert_eq!(body, "a=1+2");
}

#[tokio::test]
#[should_panic(expected = "more than 20 redirects")]
async fn a_redirect_loop_is_reported() {
    let base = fake_server().await;
    Browser::new()
        .authorize(&format!("{base}/loop"), CALLBACK)
        .await;
}

#[tokio::test]
async fn a_browser_without_cookies_has_none_for_a_url() {
    assert!(Browser::new().cookies_for("http://127.0.0.1:1/").is_empty());
}
