//! Steps on Latch's hosted account pages (`/account`, TOTP enrolment) as a form-filling browser
//! takes them: the key read from the page, codes computed like an authenticator app.

use latch_core::totp::{TotpSecret, step_at};
use latch_testkit::html::{Form, parse_forms};
use latch_testkit::{AuthorizeStep, Browser, LatchServer};

pub const REDIRECT: &str = "http://127.0.0.1:7001/cb";

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The code an authenticator app shows for `step`.
pub fn code(secret: &TotpSecret, step: i64) -> String {
    format!("{:06}", secret.code_at(step))
}

/// The form of `html` whose action ends with `suffix`.
pub fn form_to(html: &str, suffix: &str) -> Form {
    parse_forms(html)
        .into_iter()
        .find(|f| f.action.as_deref().is_some_and(|a| a.ends_with(suffix)))
        .unwrap_or_else(|| panic!("no form posting to …{suffix}:\n{html}"))
}

/// The text of the element with `id` (no nested tags).
pub fn text_of(html: &str, id: &str) -> String {
    let start = html
        .find(&format!("id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no #{id}:\n{html}"));
    let rest = &html[start..];
    let rest = &rest[rest.find('>').unwrap() + 1..];
    rest[..rest.find('<').unwrap()].to_owned()
}

/// The recovery codes shown on the page.
pub fn recovery_codes_of(html: &str) -> Vec<String> {
    html.split("<li><code>")
        .skip(1)
        .map(|s| s[..s.find('<').unwrap()].to_owned())
        .collect()
}

pub async fn page(browser: &Browser, url: &str) -> (url::Url, u16, String) {
    let r = browser.get(url).await;
    let (u, status) = (r.url().clone(), r.status().as_u16());
    (u, status, r.text().await.unwrap())
}

/// Submits the form of `html` (at `at`) posting to `suffix`, with `set` filled in.
pub async fn submit(
    browser: &Browser,
    at: &url::Url,
    html: &str,
    suffix: &str,
    set: &[(&str, &str)],
) -> AuthorizeStep {
    let mut form = form_to(html, suffix);
    for (k, v) in set {
        form.set(k, v);
    }
    browser.submit_form(at, &form, REDIRECT).await
}

/// Turns the authenticator app on from `/account` in a signed-in browser, confirming with the
/// code of the step before now (still accepted: RFC 6238 §5.2's network delay), so that the
/// current step's code is left for the sign-in that follows. The key and the recovery codes.
pub async fn enrol(server: &LatchServer, browser: &Browser) -> (TotpSecret, Vec<String>) {
    let (at, status, html) = page(browser, &server.url("/account")).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Authenticator app: off"), "{html}");
    let (at, _, html) = submit(browser, &at, &html, "/account/totp", &[])
        .await
        .expect_page();
    assert!(
        html.contains("<svg"),
        "the QR code, drawn on the server: {html}"
    );
    let secret = TotpSecret::from_base32(&text_of(&html, "totp-secret")).expect("the key");
    let wrong = submit(
        browser,
        &at,
        &html,
        "/account/totp/confirm",
        &[("code", "000000")],
    )
    .await;
    let (_, _, again) = wrong.expect_page();
    assert!(again.contains("not right"), "a wrong first code: {again}");
    let first = code(&secret, step_at(now()) - 1);
    let (_, status, html) = submit(
        browser,
        &at,
        &again,
        "/account/totp/confirm",
        &[("code", &first)],
    )
    .await
    .expect_page();
    assert_eq!(status, 200, "{html}");
    let codes = recovery_codes_of(&html);
    assert_eq!(codes.len(), 10, "{html}");
    let (_, _, html) = page(browser, &server.url("/account")).await;
    assert!(html.contains("Authenticator app: on"), "{html}");
    assert!(html.contains("10 recovery code(s) left"), "{html}");
    (secret, codes)
}
