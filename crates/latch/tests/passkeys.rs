//! Issue 18, passkeys end to end, with a software authenticator written here (ES256 through
//! aws-lc-rs, the `none` attestation's CBOR by hand, WebAuthn §6.1 authenticator data): a passkey
//! registered on `/account`, passwordless sign-in (`amr` `hwk`/`swk` + `user`, `acr` mfa), the
//! passkey as second factor after a password, and what is refused without changing anything: a
//! replayed or another browser's ceremony, bad JSON, an unknown credential, a counter going
//! backwards (a clone, audited), another user's passkey, a form without its CSRF token; failed
//! assertions throttled; the management API's factor list and reset; no passkeys (and no script)
//! where the issuer is an IP address. Latch runs on `http://localhost:PORT`: a WebAuthn RP ID is
//! a domain.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use latch_testkit::html::{Form, decode_entities, parse_forms};
use latch_testkit::{AuthorizeStep, Browser, LatchServer};
use serde_json::{Value, json};
use support::*;

const REDIRECT: &str = "http://127.0.0.1:7001/cb";

fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

/// A CBOR byte string header (RFC 8949 §3.1, major type 2) and the bytes.
fn cbor_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    match bytes.len() {
        n if n < 24 => out.push(0x40 | n as u8),
        n if n < 256 => out.extend([0x58, n as u8]),
        n => out.extend([0x59, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(bytes);
}

/// A CBOR text string of fewer than 24 bytes (major type 3).
fn cbor_text(out: &mut Vec<u8>, text: &str) {
    out.push(0x60 | text.len() as u8);
    out.extend_from_slice(text.as_bytes());
}

/// A passkey held by the test: an ES256 key, its credential id and its signature counter.
struct SoftKey {
    key: EcdsaKeyPair,
    id: Vec<u8>,
    counter: u32,
    /// BE/BS flags: a synced passkey (`swk`).
    synced: bool,
    user_handle: Vec<u8>,
    rp_id: String,
}

/// What an authenticator sends back, as the page's script would post it.
struct Answer(Value);

impl SoftKey {
    fn new(synced: bool, counter: u32) -> SoftKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let mut id = vec![0u8; 32];
        aws_lc_rs::rand::fill(&mut id).unwrap();
        SoftKey {
            key,
            id,
            counter,
            synced,
            user_handle: Vec::new(),
            rp_id: String::new(),
        }
    }

    /// WebAuthn §6.1 authenticator data: RP ID hash, flags (UP, UV, BE/BS, AT), counter.
    fn auth_data(&self, attested: bool) -> Vec<u8> {
        let mut flags = 0x01 | 0x04;
        if self.synced {
            flags |= 0x08 | 0x10;
        }
        if attested {
            flags |= 0x40;
        }
        let mut data = sha256(self.rp_id.as_bytes());
        data.push(flags);
        data.extend(self.counter.to_be_bytes());
        if attested {
            // §6.5.1 attested credential data: AAGUID (zeros), id length, id, COSE key.
            data.extend([0u8; 16]);
            data.extend((self.id.len() as u16).to_be_bytes());
            data.extend(&self.id);
            let public = self.key.public_key().as_ref();
            assert_eq!(public[0], 0x04, "an uncompressed point");
            // RFC 9053 EC2 key: {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}.
            data.extend([0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21]);
            cbor_bytes(&mut data, &public[1..33]);
            data.push(0x22);
            cbor_bytes(&mut data, &public[33..65]);
        }
        data
    }

    fn client_data(kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
        json!({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": false})
            .to_string()
            .into_bytes()
    }

    /// `navigator.credentials.create()` for `options` (the page's JSON) at `origin`.
    fn create(&mut self, options: &Value, origin: &str) -> Answer {
        let pk = &options["publicKey"];
        self.rp_id = pk["rp"]["id"].as_str().unwrap().to_owned();
        self.user_handle = B64.decode(pk["user"]["id"].as_str().unwrap()).unwrap();
        assert_eq!(
            pk["authenticatorSelection"]["residentKey"], "required",
            "a discoverable credential: {pk}"
        );
        assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
        let client_data =
            Self::client_data("webauthn.create", pk["challenge"].as_str().unwrap(), origin);
        let mut attestation = vec![0xa3];
        cbor_text(&mut attestation, "fmt");
        cbor_text(&mut attestation, "none");
        cbor_text(&mut attestation, "attStmt");
        attestation.push(0xa0);
        cbor_text(&mut attestation, "authData");
        cbor_bytes(&mut attestation, &self.auth_data(true));
        let id = B64.encode(&self.id);
        Answer(json!({
            "id": id, "rawId": id, "type": "public-key",
            "response": {
                "attestationObject": B64.encode(attestation),
                "clientDataJSON": B64.encode(client_data),
            },
            "extensions": {},
        }))
    }

    /// `navigator.credentials.get()` for `options` at `origin`: signs authenticator data and the
    /// client data's hash (§6.3.3), the counter one up.
    fn get(&mut self, options: &Value, origin: &str) -> Answer {
        self.counter += 1;
        self.assert_with_counter(options, origin)
    }

    fn assert_with_counter(&self, options: &Value, origin: &str) -> Answer {
        let pk = &options["publicKey"];
        assert_eq!(pk["rpId"], self.rp_id.as_str());
        assert_eq!(pk["userVerification"], "required");
        let client_data =
            Self::client_data("webauthn.get", pk["challenge"].as_str().unwrap(), origin);
        let auth_data = self.auth_data(false);
        let mut signed = auth_data.clone();
        signed.extend(sha256(&client_data));
        let signature = self
            .key
            .sign(&SystemRandom::new(), &signed)
            .unwrap()
            .as_ref()
            .to_vec();
        let id = B64.encode(&self.id);
        Answer(json!({
            "id": id, "rawId": id, "type": "public-key",
            "response": {
                "authenticatorData": B64.encode(auth_data),
                "clientDataJSON": B64.encode(client_data),
                "signature": B64.encode(signature),
                "userHandle": B64.encode(&self.user_handle),
            },
            "extensions": {},
        }))
    }
}

/// A server on `http://localhost:PORT` with the one user.
async fn localhost_server(extra: &[(&str, &str)]) -> LatchServer {
    let port = latch_testkit::free_port();
    let mut builder = LatchServer::builder(bin())
        .port(port)
        .env("LATCH_ISSUER", format!("http://localhost:{port}"));
    for (k, v) in extra {
        builder = builder.env(*k, *v);
    }
    let server = builder.start().await;
    server
        .cli(&["users", "create", "--email", EMAIL, "--password", PASSWORD])
        .await;
    server
}

fn origin(server: &LatchServer) -> String {
    server.issuer().trim_end_matches('/').to_owned()
}

/// The WebAuthn options the page's passkey form carries.
fn options_of(html: &str) -> Value {
    let start = html
        .find("data-options=\"")
        .unwrap_or_else(|| panic!("no passkey form:\n{html}"))
        + "data-options=\"".len();
    let end = start + html[start..].find('"').unwrap();
    serde_json::from_str(&decode_entities(&html[start..end])).unwrap()
}

/// The form of `html` whose action ends with `suffix`.
fn form_to(html: &str, suffix: &str) -> Form {
    parse_forms(html)
        .into_iter()
        .find(|f| f.action.as_deref().is_some_and(|a| a.ends_with(suffix)))
        .unwrap_or_else(|| panic!("no form posting to …{suffix}:\n{html}"))
}

async fn page(browser: &Browser, url: &str) -> (url::Url, u16, String) {
    let r = browser.get(url).await;
    let (u, status) = (r.url().clone(), r.status().as_u16());
    (u, status, r.text().await.unwrap())
}

/// Posts the passkey form of `html` (at `at`, to `suffix`) with `answer` in it.
async fn post_answer(
    browser: &Browser,
    at: &url::Url,
    html: &str,
    suffix: &str,
    answer: &str,
) -> AuthorizeStep {
    let mut form = form_to(html, suffix);
    form.set("credential", answer);
    browser.submit_form(at, &form, REDIRECT).await
}

/// Signs in with the password in a new browser (for `/account`), then registers `key` there;
/// the browser and the recovery-codes page.
async fn register(server: &LatchServer, key: &mut SoftKey, name: &str) -> (Browser, String) {
    let web = app(server, "web", REDIRECT, &[]).await;
    let auth = authorization(&rp(server, &web).await, &[]);
    let browser = Browser::new();
    sign_in_for_code(server, &browser, &auth, REDIRECT).await;
    let html = register_in(server, &browser, key, name).await;
    (browser, html)
}

async fn register_in(
    server: &LatchServer,
    browser: &Browser,
    key: &mut SoftKey,
    name: &str,
) -> String {
    let (at, status, html) = page(browser, &server.url("/account")).await;
    assert_eq!(status, 200, "{html}");
    let mut add = form_to(&html, "/account/passkeys");
    add.set("name", name);
    let (at, status, html) = browser.submit_form(&at, &add, REDIRECT).await.expect_page();
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Create the passkey"), "{html}");
    let answer = key.create(&options_of(&html), &origin(server));
    let (_, status, html) = post_answer(
        browser,
        &at,
        &html,
        "/account/passkeys/finish",
        &answer.0.to_string(),
    )
    .await
    .expect_page();
    assert_eq!(status, 200, "{html}");
    html
}

fn claims(token: &Value) -> Value {
    jwt_parts(token.as_str().unwrap()).1
}

/// The login page of a new authorization in `browser`.
async fn login_page(browser: &Browser, auth_url: &str) -> (url::Url, String) {
    let (at, status, html) = browser.authorize(auth_url, REDIRECT).await.expect_page();
    assert_eq!(status, 200, "{html}");
    (at, html)
}

#[tokio::test]
async fn a_passkey_signs_in_passwordless_and_as_second_factor_and_a_clone_is_refused() {
    let server = localhost_server(&[]).await;
    let mut key = SoftKey::new(false, 0);
    let (first, html) = register(&server, &mut key, "Laptop").await;
    assert!(
        html.contains("id=\"recovery-codes\""),
        "the first factor's recovery codes, shown once: {html}"
    );
    let (_, _, account) = page(&first, &server.url("/account")).await;
    assert!(account.contains("<strong>Laptop</strong>"), "{account}");
    assert!(account.contains("On this device only"), "{account}");

    // Passwordless, in a new browser.
    let web = app(&server, "web", REDIRECT, &[]).await;
    let client = rp(&server, &web).await;
    let auth = authorization(&client, &[]);
    let browser = Browser::new();
    let (at, html) = login_page(&browser, &auth.url).await;
    assert!(
        html.contains("autocomplete=\"username webauthn\""),
        "{html}"
    );
    assert!(html.contains("Sign in with a passkey"), "{html}");
    let options = options_of(&html);
    assert_eq!(options["mediation"], "conditional", "{options}");
    let answer = key.get(&options, &origin(&server)).0.to_string();
    let callback = post_answer(&browser, &at, &html, "/login/passkey", &answer)
        .await
        .expect_redirect();
    let code = callback_code(&server, &callback, &auth);
    let tokens = exchange(&server, &web, code.secret(), auth).await;
    for t in ["id_token", "access_token"] {
        let c = claims(&tokens[t]);
        assert_eq!(c["amr"], json!(["hwk", "user", "mfa"]), "{t}: {c}");
        assert_eq!(c["acr"], "urn:latch:acr:mfa", "{t}: {c}");
    }

    // The same form again (a replayed ceremony): refused, nothing issued.
    let auth = authorization(&client, &[]);
    let replay = Browser::new();
    let (at2, html2) = login_page(&replay, &auth.url).await;
    let step = post_answer(&replay, &at2, &html2, "/login/passkey", &answer).await;
    let (_, status, page_html) = step.expect_page();
    assert_eq!(status, 200);
    assert!(
        page_html.contains("not accepted"),
        "another ceremony's answer: {page_html}"
    );
    let mut same = form_to(&html, "/login/passkey");
    same.set("credential", &answer);
    let (_, status, page_html) = browser
        .submit_form(&at, &same, REDIRECT)
        .await
        .expect_page();
    assert_eq!(
        status, 400,
        "a used ceremony (its parked request too): {page_html}"
    );

    // A clone: the counter going backwards is refused and audited.
    let (at, html) = login_page(&replay, &authorization(&client, &[]).url).await;
    let mut clone = SoftKey {
        counter: 0,
        ..key_clone(&key)
    };
    let cloned = clone
        .get(&options_of(&html), &origin(&server))
        .0
        .to_string();
    let (_, _, refused) = post_answer(&replay, &at, &html, "/login/passkey", &cloned)
        .await
        .expect_page();
    assert!(refused.contains("counter went backwards"), "{refused}");
    let bearer = admin_token(&server).await;
    let events = audit_events(&server, &bearer, "passkey.counter_regression", 1).await;
    assert_eq!(events[0]["outcome"], "failure", "{events:?}");

    // The passkey as second factor after a password (mfa: required).
    let required = app(&server, "web", REDIRECT, &[]).await;
    set_mfa(&server, &required, "required").await;
    let auth = authorization(&rp(&server, &required).await, &[]);
    let browser = Browser::new();
    let (login, _, html) = browser.authorize(&auth.url, REDIRECT).await.expect_page();
    let (at, status, html) = browser
        .submit_login_form(&login, &html, EMAIL, PASSWORD, REDIRECT)
        .await
        .expect_page();
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Use a passkey"), "{html}");
    assert!(
        html.contains("name=\"code\""),
        "recovery codes still work: {html}"
    );
    let options = options_of(&html);
    let allowed = options["publicKey"]["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 1, "{options}");
    let answer = key.get(&options, &origin(&server)).0.to_string();
    let callback = post_answer(
        &browser,
        &at,
        &html,
        "/login/second-factor/passkey",
        &answer,
    )
    .await
    .expect_redirect();
    let code = callback_code(&server, &callback, &auth);
    let tokens = exchange(&server, &required, code.secret(), auth).await;
    let c = claims(&tokens["id_token"]);
    assert_eq!(c["amr"], json!(["pwd", "hwk", "user", "mfa"]), "{c}");
    assert_eq!(c["acr"], "urn:latch:acr:mfa", "{c}");

    // A synced passkey says swk.
    let mut synced = SoftKey::new(true, 0);
    let html = register_in(&server, &first, &mut synced, "Phone").await;
    assert!(
        !html.contains("id=\"recovery-codes\"") && html.contains("The passkey is added."),
        "codes only with the first factor: {html}"
    );
    let auth = authorization(&client, &[]);
    let browser = Browser::new();
    let (at, html) = login_page(&browser, &auth.url).await;
    let answer = synced
        .get(&options_of(&html), &origin(&server))
        .0
        .to_string();
    let callback = post_answer(&browser, &at, &html, "/login/passkey", &answer)
        .await
        .expect_redirect();
    let code = callback_code(&server, &callback, &auth);
    let tokens = exchange(&server, &web, code.secret(), auth).await;
    let c = claims(&tokens["id_token"]);
    assert_eq!(c["amr"], json!(["swk", "user", "mfa"]), "{c}");

    // The management API lists both passkeys, never key material; a reset removes one.
    let http = latch_testkit::rp::reqwest_client();
    let users = admin_get_json(&server, &bearer, "/api/v1/users").await;
    let user = &users["data"][0];
    assert_eq!(user["mfa_enrolled"], true, "{users}");
    let uid = user["id"].as_str().unwrap();
    let factors = admin_get_json(&server, &bearer, &format!("/api/v1/users/{uid}/factors")).await;
    let listed = factors["data"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{factors}");
    assert_eq!(
        listed
            .iter()
            .map(|f| (f["type"].clone(), f["name"].clone(), f["synced"].clone()))
            .collect::<Vec<_>>(),
        vec![
            (json!("passkey"), json!("Laptop"), json!(false)),
            (json!("passkey"), json!("Phone"), json!(true)),
        ]
    );
    let text = factors.to_string();
    assert!(
        !text.contains(&B64.encode(&key.id)),
        "no credential id: {text}"
    );
    for field in ["credential", "public_key", "sign_count"] {
        assert!(listed.iter().all(|f| f.get(field).is_none()), "{text}");
    }
    let laptop = listed[0]["id"].as_str().unwrap();
    let r = http
        .delete(server.url(&format!("/api/v1/users/{uid}/factors/{laptop}")))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let events = audit_events(&server, &bearer, "factor.removed", 1).await;
    assert_eq!(events[0]["actor"]["type"], "admin", "{events:?}");
    // The removed passkey signs nobody in.
    let auth = authorization(&client, &[]);
    let browser = Browser::new();
    let (at, html) = login_page(&browser, &auth.url).await;
    let answer = key.get(&options_of(&html), &origin(&server)).0.to_string();
    let (_, _, html) = post_answer(&browser, &at, &html, "/login/passkey", &answer)
        .await
        .expect_page();
    assert!(html.contains("not accepted"), "{html}");
}

fn key_clone(key: &SoftKey) -> SoftKey {
    // The same private key (a cloned authenticator), through its PKCS#8 form.
    let pkcs8 = key.key.to_pkcs8v1().unwrap();
    SoftKey {
        key: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap(),
        id: key.id.clone(),
        counter: key.counter,
        synced: key.synced,
        user_handle: key.user_handle.clone(),
        rp_id: key.rp_id.clone(),
    }
}

async fn set_mfa(server: &LatchServer, app: &App, policy: &str) {
    let bearer = admin_token(server).await;
    let r = latch_testkit::rp::reqwest_client()
        .patch(server.url(&format!("/api/v1/applications/{}", app.id)))
        .bearer_auth(&bearer)
        .json(&json!({ "mfa": policy }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The applications cache follows within a second.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
}

#[tokio::test]
async fn bad_answers_change_nothing_and_failures_are_throttled() {
    let server = localhost_server(&[]).await;
    let mut key = SoftKey::new(false, 0);
    let (account, _) = register(&server, &mut key, "Laptop").await;

    // Registration: without the CSRF token, refused; a bad answer leaves no passkey.
    let (at, _, html) = page(&account, &server.url("/account")).await;
    let mut add = form_to(&html, "/account/passkeys");
    add.set("csrf", "forged");
    let (_, status, _) = account.submit_form(&at, &add, REDIRECT).await.expect_page();
    assert_eq!(status, 403);
    let add = form_to(&html, "/account/passkeys");
    let (at, _, html) = account.submit_form(&at, &add, REDIRECT).await.expect_page();
    let (_, status, again) = post_answer(
        &account,
        &at,
        &html,
        "/account/passkeys/finish",
        "{not json",
    )
    .await
    .expect_page();
    assert_eq!(status, 200);
    assert!(again.contains("could not be checked"), "{again}");
    // The same ceremony again: gone.
    let mut other = SoftKey::new(false, 0);
    let answer = other
        .create(&options_of(&html), &origin(&server))
        .0
        .to_string();
    let (_, status, gone) = post_answer(&account, &at, &html, "/account/passkeys/finish", &answer)
        .await
        .expect_page();
    assert_eq!(status, 400, "{gone}");
    // Another session's ceremony (the same user in another browser, signed in with the password
    // and the passkey): not this session's.
    let stranger = Browser::new();
    let web = app(&server, "web", REDIRECT, &[]).await;
    let auth = authorization(&rp(&server, &web).await, &[]);
    let (login, _, html) = stranger.authorize(&auth.url, REDIRECT).await.expect_page();
    let (sat, _, shtml) = stranger
        .submit_login_form(&login, &html, EMAIL, PASSWORD, REDIRECT)
        .await
        .expect_page();
    let answer = key.get(&options_of(&shtml), &origin(&server)).0.to_string();
    post_answer(
        &stranger,
        &sat,
        &shtml,
        "/login/second-factor/passkey",
        &answer,
    )
    .await
    .expect_redirect();
    let (sat, _, shtml) = page(&stranger, &server.url("/account")).await;
    let add = form_to(&shtml, "/account/passkeys");
    let (_, _, started) = stranger
        .submit_form(&sat, &add, REDIRECT)
        .await
        .expect_page();
    let mut foreign = form_to(&started, "/account/passkeys/finish");
    let (aat, _, ahtml) = page(&account, &server.url("/account")).await;
    let (at, _, mine) = account
        .submit_form(&aat, &form_to(&ahtml, "/account/passkeys"), REDIRECT)
        .await
        .expect_page();
    // This browser's CSRF token, the other session's ceremony.
    let csrf = form_to(&mine, "/account/passkeys/finish")
        .get("csrf")
        .unwrap()
        .to_owned();
    foreign.set("csrf", &csrf);
    let answer = SoftKey::new(false, 0)
        .create(&options_of(&started), &origin(&server))
        .0
        .to_string();
    foreign.set("credential", &answer);
    let (_, status, _) = account
        .submit_form(&at, &foreign, REDIRECT)
        .await
        .expect_page();
    assert_eq!(status, 400, "another session's ceremony");
    let (_, _, listed) = page(&account, &server.url("/account")).await;
    assert_eq!(
        listed.matches(">Remove ").count(),
        1,
        "still one passkey: {listed}"
    );

    // Sign-in: bad JSON and an unknown credential are failures, counted per address, then 429.
    let web = app(&server, "web", REDIRECT, &[]).await;
    let client = rp(&server, &web).await;
    let auth = authorization(&client, &[]);
    let browser = Browser::new();
    let (mut at, mut html) = login_page(&browser, &auth.url).await;
    let mut locked = false;
    for i in 0..6 {
        let answer = if i % 2 == 0 {
            "{\"id\":".to_owned()
        } else {
            SoftKey {
                user_handle: key.user_handle.clone(),
                rp_id: key.rp_id.clone(),
                ..SoftKey::new(false, 0)
            }
            .get(&options_of(&html), &origin(&server))
            .0
            .to_string()
        };
        let step = post_answer(&browser, &at, &html, "/login/passkey", &answer).await;
        let AuthorizeStep::Page {
            url,
            status,
            headers,
            html: next,
        } = step
        else {
            panic!("a bad answer signed in");
        };
        if status == 429 {
            assert!(headers.get("retry-after").is_some());
            locked = true;
            break;
        }
        assert!(next.contains("not accepted"), "{next}");
        (at, html) = (url, next);
    }
    assert!(locked, "five failures lock the address");
    // Locked, even the right passkey waits; the password is another counter and still signs in.
    let browser = Browser::new();
    let (at, html) = login_page(&browser, &authorization(&client, &[]).url).await;
    let answer = key.get(&options_of(&html), &origin(&server)).0.to_string();
    let AuthorizeStep::Page { status, .. } =
        post_answer(&browser, &at, &html, "/login/passkey", &answer).await
    else {
        panic!("signed in while locked");
    };
    assert_eq!(status, 429);
    let (_, _, html) = browser
        .submit_login_form(&at, &html, EMAIL, PASSWORD, REDIRECT)
        .await
        .expect_page();
    assert!(
        html.contains("Use a passkey"),
        "the password, then the second step: {html}"
    );
}

#[tokio::test]
async fn without_a_domain_issuer_no_page_offers_passkeys_or_loads_a_script() {
    // The test kit's default issuer: http://127.0.0.1:PORT (an RP ID cannot be an IP address).
    let server = server().await;
    let web = app(&server, "web", REDIRECT, &[]).await;
    let auth = authorization(&rp(&server, &web).await, &[]);
    let browser = Browser::new();
    let r = browser.get(&auth.url).await;
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let r = browser.get(&location).await;
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let html = r.text().await.unwrap();
    assert!(!csp.contains("script-src"), "{csp}");
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("passkey"), "{html}");
    assert!(html.contains("autocomplete=\"username\""), "{html}");
    let (_, status, _) = post_answer_raw(&browser, &server.url("/login/passkey")).await;
    assert_eq!(
        status, 400,
        "no parked request, no passkey: nothing to sign in to"
    );
}

async fn post_answer_raw(browser: &Browser, url: &str) -> (url::Url, u16, String) {
    let r = browser
        .post_form(
            url,
            &[
                ("login_request", "x"),
                ("ceremony", "y"),
                ("credential", "{}"),
            ],
        )
        .await;
    let (u, status) = (r.url().clone(), r.status().as_u16());
    (u, status, r.text().await.unwrap())
}
