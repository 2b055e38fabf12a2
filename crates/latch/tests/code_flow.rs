//! The authorization code flow end to end: the real binary, the `openidconnect` crate as the
//! relying party, and a cookie-keeping browser that fills in the hosted login form.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;

use latch_testkit::Browser;
use openidconnect::{OAuth2TokenResponse, TokenResponse};
use support::*;

#[tokio::test]
async fn a_web_app_with_client_secret_basic_gets_verified_tokens() {
    let server = server().await;
    let web = app(&server, "web", "http://127.0.0.1:7001/callback", &[]).await;
    let client = rp(&server, &web).await;
    let browser = Browser::new();
    let auth = authorization(&client, &["email", "profile"]);
    let code = sign_in_for_code(&server, &browser, &auth, &web.redirect_uri).await;

    let tokens = client
        .exchange_code(code)
        .unwrap()
        .set_pkce_verifier(auth.verifier)
        .request_async(&latch_testkit::rp::http_client)
        .await
        .expect("token exchange");
    let id_token = tokens.id_token().expect("an ID token");
    // The library checks signature (via /keys), iss, aud, exp and nonce.
    let claims = id_token
        .claims(&client.id_token_verifier(), &auth.nonce)
        .expect("a valid ID token");
    assert_eq!(claims.email().map(|e| e.as_str()), Some(EMAIL));
    // OIDC Core §3.1.3.6: at_hash binds the access token to the ID token.
    let expected = openidconnect::AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&client.id_token_verifier()).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected));
    assert!(
        tokens.refresh_token().is_none(),
        "no refresh token without offline_access"
    );
    assert_eq!(tokens.expires_in().unwrap().as_secs(), 300);

    let (header, at) = jwt_parts(tokens.access_token().secret());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(at["iss"], server.issuer());
    assert!(
        at["aud"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == web.client_id.as_str())
    );
    assert_eq!(
        at["exp"].as_i64().unwrap() - at["iat"].as_i64().unwrap(),
        300
    );
    let (_, id) = jwt_parts(&id_token.to_string());
    assert_eq!(id["sid"], at["sid"]);
    assert!(id["auth_time"].is_i64());

    // Userinfo with the access token.
    let info: serde_json::Value = latch_testkit::rp::reqwest_client()
        .get(server.url("/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["email"], EMAIL);
    assert_eq!(info["name"], "Ada Lovelace");
    assert_eq!(info["sub"], id["sub"]);
}

#[tokio::test]
async fn a_web_app_with_client_secret_post_exchanges_its_code() {
    let server = server().await;
    let web = app(&server, "web", "https://app.example.com/cb", &[]).await;
    let client = rp(&server, &web).await;
    let browser = Browser::new();
    let auth = authorization(&client, &["offline_access"]);
    let code = sign_in_for_code(&server, &browser, &auth, &web.redirect_uri).await;
    let secret = web.client_secret.clone().unwrap();
    let (status, body, headers) = token(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.secret()),
            ("redirect_uri", &web.redirect_uri),
            ("code_verifier", auth.verifier.secret()),
            ("client_id", &web.client_id),
            ("client_secret", &secret),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        body["refresh_token"].is_string(),
        "offline_access yields a refresh token"
    );
    assert_eq!(body["scope"], "openid offline_access");
}

#[tokio::test]
async fn a_native_app_with_a_loopback_redirect_may_use_any_port() {
    let server = server().await;
    let native = app(&server, "native", "http://127.0.0.1/callback", &[]).await;
    let port = latch_testkit::free_port();
    let mut native_on_port = App {
        redirect_uri: format!("http://127.0.0.1:{port}/callback"),
        ..native
    };
    native_on_port.client_secret = None;
    let client = rp(&server, &native_on_port).await;
    let browser = Browser::new();
    let auth = authorization(&client, &["offline_access"]);
    let code = sign_in_for_code(&server, &browser, &auth, &native_on_port.redirect_uri).await;
    let tokens = client
        .exchange_code(code)
        .unwrap()
        .set_pkce_verifier(auth.verifier)
        .request_async(&latch_testkit::rp::http_client)
        .await
        .expect("public client exchange with PKCE");
    tokens
        .id_token()
        .unwrap()
        .claims(&client.id_token_verifier(), &auth.nonce)
        .unwrap();
    assert!(tokens.refresh_token().is_some());
}

#[tokio::test]
async fn a_native_app_with_a_custom_scheme_redirect_signs_in() {
    let server = server().await;
    let native = app(&server, "native", "com.example.app:/oauth2redirect", &[]).await;
    let client = rp(&server, &native).await;
    let browser = Browser::new();
    let auth = authorization(&client, &[]);
    let code = sign_in_for_code(&server, &browser, &auth, "com.example.app:/oauth2redirect").await;
    let tokens = client
        .exchange_code(code)
        .unwrap()
        .set_pkce_verifier(auth.verifier)
        .request_async(&latch_testkit::rp::http_client)
        .await
        .unwrap();
    tokens
        .id_token()
        .unwrap()
        .claims(&client.id_token_verifier(), &auth.nonce)
        .unwrap();
}

#[tokio::test]
async fn one_password_entry_signs_in_to_three_apps_of_three_types() {
    let server = server().await;
    let web = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let spa = app(&server, "spa", "http://127.0.0.1:7002/cb", &[]).await;
    let native = app(&server, "native", "com.example.app:/cb", &[]).await;
    let browser = Browser::new();
    let mut sids = Vec::new();
    for (i, a) in [&web, &spa, &native].into_iter().enumerate() {
        let client = rp(&server, a).await;
        let auth = authorization(&client, &[]);
        let code = if i == 0 {
            sign_in_for_code(&server, &browser, &auth, &a.redirect_uri).await
        } else {
            // SSO: the second and third applications get a code at once, with no page.
            let callback = browser
                .authorize(&auth.url, &a.redirect_uri)
                .await
                .expect_redirect();
            callback_code(&server, &callback, &auth)
        };
        let tokens = client
            .exchange_code(code)
            .unwrap()
            .set_pkce_verifier(auth.verifier)
            .request_async(&latch_testkit::rp::http_client)
            .await
            .unwrap();
        let claims = tokens
            .id_token()
            .unwrap()
            .claims(&client.id_token_verifier(), &auth.nonce)
            .unwrap();
        let (_, raw) = jwt_parts(&tokens.id_token().unwrap().to_string());
        sids.push((
            claims.subject().to_string(),
            raw["sid"].as_str().unwrap().to_owned(),
        ));
    }
    assert!(
        sids.windows(2).all(|w| w[0] == w[1]),
        "same sub and sid in every app: {sids:?}"
    );
}

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_and_issues_nothing() {
    let server = server().await;
    let web = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let client = rp(&server, &web).await;
    let browser = Browser::new();
    let auth = authorization(&client, &[]);
    let (page_url, _, html) = browser
        .authorize(&auth.url, &web.redirect_uri)
        .await
        .expect_page();
    for (email, password) in [(EMAIL, "wrong password!"), ("nobody@example.com", PASSWORD)] {
        let step = browser
            .submit_login_form(&page_url, &html, email, password, &web.redirect_uri)
            .await;
        let (_, status, again) = step.expect_page();
        assert_eq!(status, 200);
        assert!(again.contains("The email or password is incorrect."));
        assert!(again.contains("name=\"password\""));
    }
    // The same browser can still sign in with the right password.
    let step = browser
        .submit_login_form(&page_url, &html, EMAIL, PASSWORD, &web.redirect_uri)
        .await;
    callback_code(&server, &step.expect_redirect(), &auth);
}

#[tokio::test]
async fn the_login_page_is_protected_against_framing_caching_and_scripts() {
    let server = server().await;
    let web = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let client = rp(&server, &web).await;
    let browser = Browser::new();
    let auth = authorization(&client, &[]);
    let url = format!(
        "{}&login_hint=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        auth.url
    );
    let mut resp = browser.get(&url).await;
    while resp.status().is_redirection() {
        let next = resp.headers()["location"].to_str().unwrap().to_owned();
        resp = browser.get(&next).await;
    }
    let h = resp.headers().clone();
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    let html = resp.text().await.unwrap();
    assert!(!html.contains("<script>"), "{html}");
    // Escaped in the attribute, so the value a browser reads back is the text as sent.
    let forms = latch_testkit::html::parse_forms(&html);
    assert_eq!(
        forms[0].get("email"),
        Some("<script>alert(1)</script>"),
        "{html}"
    );
}

#[tokio::test]
async fn prompt_login_and_max_age_ask_for_the_password_again() {
    let server = server().await;
    let web = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let client = rp(&server, &web).await;
    let browser = Browser::new();
    let auth = authorization(&client, &[]);
    sign_in_for_code(&server, &browser, &auth, &web.redirect_uri).await;
    for extra in ["&prompt=login", "&max_age=0"] {
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let url = format!("{}{extra}", authorization(&client, &[]).url);
        assert!(
            browser
                .authorize(&url, &web.redirect_uri)
                .await
                .is_login_page(),
            "{extra}"
        );
    }
    // Without them, the session answers at once; prompt=none too.
    let url = format!("{}&prompt=none", authorization(&client, &[]).url);
    let callback = browser
        .authorize(&url, &web.redirect_uri)
        .await
        .expect_redirect();
    assert!(param(&callback, "code").is_some(), "{callback}");
}

#[tokio::test]
async fn the_login_page_names_the_application_and_shows_the_branding() {
    let server = server_with(&[
        ("LATCH_BRANDING_NAME", "Acme <Staging> & \"Co\""),
        (
            "LATCH_BRANDING_LOGO_URL",
            "https://static.acme.example/logo.svg",
        ),
        ("LATCH_BRANDING_PRIMARY_COLOR", "#0B6E4F"),
    ])
    .await;
    let redirect_uri = "http://127.0.0.1:7001/cb";
    let created = server
        .cli(&[
            "apps",
            "create",
            "--name",
            "Acme Portal",
            "--type",
            "web",
            "--redirect-uri",
            redirect_uri,
        ])
        .await;
    let web = App {
        client_id: created["client_id"].as_str().unwrap().to_owned(),
        client_secret: created["client_secret"].as_str().map(str::to_owned),
        redirect_uri: redirect_uri.to_owned(),
        id: created["id"].as_str().unwrap().to_owned(),
    };
    let client = rp(&server, &web).await;
    let browser = Browser::new();
    let auth = authorization(&client, &[]);
    let mut resp = browser.get(auth.url.as_str()).await;
    while resp.status().is_redirection() {
        let next = resp.headers()["location"].to_str().unwrap().to_owned();
        resp = browser.get(&next).await;
    }
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let html = resp.text().await.unwrap();
    assert!(html.contains("Sign in to <em>Acme Portal</em>"), "{html}");
    assert!(!html.contains("<Staging>"), "{html}");
    let name = latch_testkit::html::decode_entities("Acme &lt;Staging&gt; &amp; &quot;Co&quot;");
    let alt = html
        .split("<img src=\"https://static.acme.example/logo.svg\" alt=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the logo, its alt text the name");
    assert_eq!(latch_testkit::html::decode_entities(alt), name);
    // The logo's origin may serve images; still no script of any origin.
    assert!(csp.contains("img-src 'self' data: "), "{csp}");
    assert!(csp.contains("https://static.acme.example;"), "{csp}");
    assert!(
        csp.starts_with("default-src 'none'") && !csp.contains("script"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");

    // One stylesheet, under the issuer, cached for a year, carrying the colour.
    let href = html
        .split("<link rel=\"stylesheet\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a stylesheet link")
        .to_owned();
    assert!(
        href.starts_with(&format!("{}/assets/latch-", server.issuer())),
        "{href}"
    );
    let css = browser.get(&href).await;
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(
        css.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(css.text().await.unwrap().contains("--primary:#0b6e4f"));
    // Another hash is not served (no file system behind /assets/).
    let other = browser
        .get(&server.url("/assets/latch-0000000000000000.css"))
        .await;
    assert_eq!(other.status(), 404);
    let traversal = browser
        .get(&server.url("/assets/..%2f..%2fetc%2fpasswd"))
        .await;
    assert_eq!(traversal.status(), 404);
}
