//! Client authentication under attack (issue 14): a correct secret is never refused for others'
//! failures; failures count per (client_id, address) and never on the sign-in address counter; a
//! public client sent a secret is refused and counted nowhere; failures are audited, rate-limited.
//! The server trusts the loopback proxy, so `X-Forwarded-For` stands for many addresses.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;

use latch_testkit::{AuthorizeStep, Browser, LatchServer};
use support::*;

const CC: [(&str, &str); 1] = [("grant_type", "client_credentials")];

async fn attacked_server() -> LatchServer {
    server_with(&[
        ("LATCH_TRUSTED_PROXIES", "127.0.0.1"),
        ("LATCH_LOGIN_MAX_FAILURES", "3"),
        ("LATCH_LOGIN_LOCK_SECONDS", "60"),
    ])
    .await
}

/// Sends `n` wrong-secret requests for `client_id`, from `addresses` in turn, 50 at a time;
/// returns how many got 401 and how many 429.
async fn wrong_secrets(
    server: &LatchServer,
    client_id: &str,
    addresses: &[String],
    n: usize,
) -> (usize, usize) {
    let (mut unauthorized, mut refused) = (0, 0);
    for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
        let mut tasks = tokio::task::JoinSet::new();
        for i in chunk {
            let url = server.url("/oauth/token");
            let from = addresses[i % addresses.len()].clone();
            let id = client_id.to_owned();
            tasks.spawn(async move {
                latch_testkit::rp::reqwest_client()
                    .post(url)
                    .header("x-forwarded-for", from)
                    .basic_auth(id, Some("not-the-secret"))
                    .form(&CC)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            });
        }
        while let Some(status) = tasks.join_next().await {
            match status.unwrap() {
                401 => unauthorized += 1,
                429 => refused += 1,
                other => panic!("a wrong secret got {other}"),
            }
        }
    }
    (unauthorized, refused)
}

fn addresses(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{prefix}.{}.{}", i / 200, i % 200 + 1))
        .collect()
}

#[tokio::test]
async fn a_thousand_wrong_secrets_from_a_hundred_addresses_never_refuse_the_right_one() {
    let server = attacked_server().await;
    let x = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let secret = x.client_secret.clone().unwrap();
    let attackers = addresses("198.51", 100);
    let (mut unauthorized, mut refused) = (0, 0);
    for round in 0..10 {
        let (u, r) = wrong_secrets(&server, &x.client_id, &attackers, 100).await;
        (unauthorized, refused) = (unauthorized + u, refused + r);
        // During the attack: from an attacking address and from a new one, at once.
        for from in [attackers[round * 7].as_str(), "203.0.113.77"] {
            let (s, body, _) = token_from(&server, from, &CC, Some((&x.client_id, &secret))).await;
            assert_eq!(s, 200, "round {round}, from {from}: {body}");
        }
    }
    // Each (client, address) is locked after its own third failure; nothing else is.
    assert_eq!(unauthorized, 200, "two 401s per address, then 429");
    assert_eq!(refused, 800);
    for from in ["198.51.0.1", "198.51.0.100", "203.0.113.78"] {
        let (s, body, _) = token_from(&server, from, &CC, Some((&x.client_id, &secret))).await;
        assert_eq!(s, 200, "after the attack, from {from}: {body}");
    }

    // Failed authentications are audited once a minute per (client, address), with a count.
    let bearer = admin_token(&server).await;
    let events = audit_events(&server, &bearer, "client.authentication_failure", 100).await;
    assert_eq!(events.len(), 100, "one event per address");
    for e in &events {
        assert_eq!(e["client_id"], x.client_id.as_str(), "{e}");
        assert_eq!(e["reason"], "wrong_secret", "{e}");
        assert!(e["ip"].as_str().unwrap().starts_with("198.51."), "{e}");
        assert_eq!(e["details"]["count"], 1, "{e}");
    }
}

#[tokio::test]
async fn a_public_client_sent_a_secret_a_hundred_times_still_exchanges_its_code() {
    let server = attacked_server().await;
    let spa = app(&server, "spa", "http://127.0.0.1:7002/cb", &[]).await;
    for _ in 0..100 {
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", spa.client_id.as_str()),
            ("client_secret", "guess"),
            ("code", "whatever"),
        ];
        let (s, body, _) = token(&server, &form, None).await;
        assert_oauth_error(s, &body, 401, "invalid_client");
    }
    let client = rp(&server, &spa).await;
    let browser = Browser::new();
    let auth = authorization(&client, &[]);
    let code = sign_in_for_code(&server, &browser, &auth, &spa.redirect_uri).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", spa.client_id.as_str()),
        ("code", code.secret().as_str()),
        ("redirect_uri", spa.redirect_uri.as_str()),
        ("code_verifier", auth.verifier.secret().as_str()),
    ];
    let (s, body, _) = token(&server, &form, None).await;
    assert_eq!(s, 200, "{body}");
    assert!(body["id_token"].is_string(), "{body}");
}

#[tokio::test]
async fn a_stale_secret_retried_from_one_address_touches_no_other_app_nor_sign_ins() {
    let server = attacked_server().await;
    let a = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let b = app(&server, "web", "http://127.0.0.1:7002/cb", &[]).await;
    let p = "192.0.2.10".to_owned();
    let (unauthorized, refused) =
        wrong_secrets(&server, &a.client_id, std::slice::from_ref(&p), 1000).await;
    assert_eq!(unauthorized + refused, 1000);
    assert!(
        refused >= 990,
        "A's stale secret is refused from P: {refused}"
    );

    let b_secret = b.client_secret.as_deref().unwrap();
    let (s, body, _) = token_from(&server, &p, &CC, Some((&b.client_id, b_secret))).await;
    assert_eq!(s, 200, "app B from P: {body}");
    let a_secret = a.client_secret.as_deref().unwrap();
    let (s, body, _) = token_from(&server, &p, &CC, Some((&a.client_id, a_secret))).await;
    assert_eq!(s, 200, "app A's current secret from P: {body}");

    // A user signing in from P is not held back by the applications' failures.
    let user = Browser::forwarded_for(&p);
    let client = rp(&server, &a).await;
    let auth = authorization(&client, &[]);
    let (page, status, html) = user
        .authorize(&auth.url, &a.redirect_uri)
        .await
        .expect_page();
    assert_eq!(status, 200);
    let step = user
        .submit_login_form(&page, &html, EMAIL, PASSWORD, &a.redirect_uri)
        .await;
    assert!(
        matches!(step, AuthorizeStep::Redirected(_)),
        "sign-in from P: {step:?}"
    );
}

#[tokio::test]
async fn requests_that_fail_to_authenticate_do_not_spend_the_clients_rate_limit() {
    let server = server_with(&[
        ("LATCH_TRUSTED_PROXIES", "127.0.0.1"),
        ("LATCH_TOKEN_RATE_LIMIT", "1"),
    ])
    .await;
    let x = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let (unauthorized, refused) =
        wrong_secrets(&server, &x.client_id, &addresses("198.51", 50), 200).await;
    assert_eq!(unauthorized + refused, 200);
    // The bucket (burst 2) is whole: the client's own first two calls pass, then the limit bites.
    let secret = x.client_secret.as_deref().unwrap();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let (s, _, _) = token_from(&server, "203.0.113.5", &CC, Some((&x.client_id, secret))).await;
        statuses.push(s);
    }
    assert_eq!(&statuses[..2], &[200, 200], "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
}
