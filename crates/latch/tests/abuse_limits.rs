//! CONTRACT.md "Abuse limits": repeated failed sign-ins for one account or from one address are
//! slowed and then refused for a while (429 with Retry-After); the real user signs in again once
//! the lock ends.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;

use std::time::{Duration, Instant};

use latch_testkit::Browser;
use latch_testkit::html::find_login_form;
use support::*;

#[tokio::test]
async fn a_thousand_wrong_passwords_from_many_addresses_never_sign_in_and_the_user_still_can() {
    let server = server_with(&[
        ("LATCH_TRUSTED_PROXIES", "127.0.0.1"),
        ("LATCH_LOGIN_MAX_FAILURES", "5"),
        ("LATCH_LOGIN_LOCK_SECONDS", "2"),
    ])
    .await;
    let web = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let client = rp(&server, &web).await;
    let attacker = Browser::new();
    let auth = authorization(&client, &[]);
    let (page_url, _, html) = attacker
        .authorize(&auth.url, &web.redirect_uri)
        .await
        .expect_page();
    let form = find_login_form(&html).expect("a login form");
    let action = form.action_url(&page_url);
    let login_request = form.get("login_request").unwrap().to_owned();

    let (mut refused, mut retry_after_seen, mut slow) = (0, false, Duration::ZERO);
    for i in 0..1000u32 {
        let started = Instant::now();
        let resp = attacker
            .client()
            .post(action.clone())
            .header(
                "x-forwarded-for",
                format!("198.51.{}.{}", i / 250, i % 250 + 1),
            )
            .form(&[
                ("login_request", login_request.as_str()),
                ("email", EMAIL),
                ("password", "not the password"),
            ])
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        assert!(
            !resp.headers().contains_key("location"),
            "attempt {i} must not sign in"
        );
        if status == 429 {
            refused += 1;
            retry_after_seen |= resp.headers().get("retry-after").is_some();
        } else {
            assert_eq!(status, 200, "attempt {i}");
            slow = slow.max(started.elapsed());
        }
    }
    assert!(
        refused > 900,
        "most attempts are refused while the account is locked: {refused}"
    );
    assert!(retry_after_seen);
    assert!(
        slow >= Duration::from_millis(1000),
        "failures are slowed before the lock: {slow:?}"
    );

    // Once the lock ends, the real user signs in from their own address.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ok = latch_testkit::wait_until(Duration::from_secs(40), || async {
        let user = Browser::new();
        let auth = authorization(&client, &[]);
        let (page_url, _, html) = user
            .authorize(&auth.url, &web.redirect_uri)
            .await
            .expect_page();
        let step = user
            .submit_login_form(&page_url, &html, EMAIL, PASSWORD, &web.redirect_uri)
            .await;
        matches!(step, latch_testkit::AuthorizeStep::Redirected(_))
    })
    .await;
    assert!(ok, "the real user can sign in once the lock ends");
}

#[tokio::test]
async fn repeated_wrong_client_secrets_get_429_with_a_json_body() {
    let server = server_with(&[
        ("LATCH_LOGIN_MAX_FAILURES", "3"),
        ("LATCH_LOGIN_LOCK_SECONDS", "30"),
    ])
    .await;
    let web = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let (s, body, headers) = token(
            &server,
            &[("grant_type", "client_credentials")],
            Some((&web.client_id, "wrong")),
        )
        .await;
        if s == 429 {
            assert!(headers.contains_key("retry-after"));
            assert!(
                body["error"].is_string() && body["error_description"].is_string(),
                "{body}"
            );
        }
        statuses.push(s);
    }
    assert_eq!(&statuses[..2], &[401, 401]);
    assert!(statuses[2..].iter().all(|s| *s == 429), "{statuses:?}");
    // While locked, even the right secret waits (the lock is on the client id).
    let (s, _, _) = token(
        &server,
        &[("grant_type", "client_credentials")],
        Some((&web.client_id, web.client_secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(s, 429);
}

#[tokio::test]
async fn a_client_over_its_token_rate_limit_gets_429_and_others_do_not() {
    let server = server_with(&[("LATCH_TOKEN_RATE_LIMIT", "5")]).await;
    let busy = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let calm = app(&server, "web", "http://127.0.0.1:7002/cb", &[]).await;
    let mut statuses = Vec::new();
    for _ in 0..15 {
        let (s, body, headers) = token(
            &server,
            &[("grant_type", "client_credentials")],
            Some((&busy.client_id, busy.client_secret.as_deref().unwrap())),
        )
        .await;
        if s == 429 {
            assert!(headers.contains_key("retry-after"));
            assert!(body["error"].is_string(), "{body}");
        }
        statuses.push(s);
    }
    assert!(
        statuses.iter().filter(|s| **s == 200).count() >= 10,
        "the burst passes: {statuses:?}"
    );
    assert!(
        statuses.contains(&429),
        "then the limit applies: {statuses:?}"
    );
    let (s, _, _) = token(
        &server,
        &[("grant_type", "client_credentials")],
        Some((&calm.client_id, calm.client_secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(s, 200, "another client is not limited");
}
