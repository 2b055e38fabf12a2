//! Several nodes behind one issuer on PostgreSQL (issue 7): every step of the SSO code flow,
//! refresh and logout goes to a random node; a node killed with SIGKILL under load loses no
//! acknowledged refresh token and no queued back-channel notification.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;

use std::time::Duration;

use latch_testkit::html::find_login_form;
use latch_testkit::{BackchannelReceiver, Browser, LatchServer, PostgresTestDb, random_master_key};
use support::*;

/// Three nodes sharing the database, the master key and one issuer — the first node's address,
/// standing for a load balancer's (the test's `Balancer` spreads the requests).
async fn cluster(db: &PostgresTestDb) -> Vec<LatchServer> {
    let key = random_master_key();
    let first = LatchServer::builder(bin())
        .database_url(db.url())
        .env("LATCH_MASTER_KEY", key.clone())
        .start()
        .await;
    let issuer = first.issuer().to_owned();
    let mut nodes = vec![first];
    for _ in 0..2 {
        let node = LatchServer::builder(bin())
            .database_url(db.url())
            .env("LATCH_MASTER_KEY", key.clone())
            .env("LATCH_ISSUER", issuer.clone())
            .start()
            .await;
        nodes.push(node);
    }
    nodes
}

struct Balancer<'a> {
    nodes: &'a [LatchServer],
    next: std::cell::Cell<u64>,
}

impl Balancer<'_> {
    /// `url` with its origin replaced by a node chosen pseudo-randomly among the live ones.
    fn route(&self, url: &str, alive: &[bool]) -> String {
        let mut n = self.next.get();
        n ^= n << 13;
        n ^= n >> 7;
        n ^= n << 17;
        self.next.set(n);
        let live: Vec<&LatchServer> = self
            .nodes
            .iter()
            .zip(alive)
            .filter(|(_, a)| **a)
            .map(|(s, _)| s)
            .collect();
        let node = live[(n % live.len() as u64) as usize];
        let mut u = url::Url::parse(url).unwrap();
        let (host, port) = node.listen().split_once(':').unwrap();
        u.set_host(Some(host)).unwrap();
        u.set_port(Some(port.parse().unwrap())).unwrap();
        u.to_string()
    }
}

/// Sign-in through the balancer: each redirect and the form post land on a random node.
async fn sign_in(
    lb: &Balancer<'_>,
    alive: &[bool],
    browser: &Browser,
    auth: &Authorization,
    redirect: &str,
) -> String {
    let mut url = lb.route(&auth.url, alive);
    loop {
        let resp = browser.get(&url).await;
        if let Some(location) = resp.headers().get("location") {
            let location = location.to_str().unwrap().to_owned();
            if location.starts_with(redirect) {
                let callback = url::Url::parse(&location).unwrap();
                return param(&callback, "code").unwrap();
            }
            url = lb.route(&location, alive);
            continue;
        }
        let page = url::Url::parse(&url).unwrap();
        let html = resp.text().await.unwrap();
        let mut form =
            find_login_form(&html).unwrap_or_else(|| panic!("expected the login form: {html}"));
        form.set("email", EMAIL);
        form.set("password", PASSWORD);
        let action = lb.route(form.action_url(&page).as_str(), alive);
        let posted = browser.post_form(&action, &form.fields).await;
        let location = posted.headers()["location"].to_str().unwrap().to_owned();
        let callback = url::Url::parse(&location).unwrap();
        return param(&callback, "code").unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_serve_every_step_and_survive_a_sigkill() {
    let Some(db) = PostgresTestDb::create("cluster_three_nodes") else {
        return;
    };
    let mut nodes = cluster(&db).await;
    let receiver = BackchannelReceiver::start().await;
    let bc = receiver.url("/bc");
    let web = app(
        &nodes[0],
        "web",
        "http://127.0.0.1:7001/cb",
        &["--backchannel-logout-uri", &bc],
    )
    .await;
    nodes[0]
        .cli(&["users", "create", "--email", EMAIL, "--password", PASSWORD])
        .await;
    let secret = web.client_secret.clone().unwrap();
    let basic = Some((web.client_id.as_str(), secret.as_str()));
    let client = rp(&nodes[0], &web).await;
    let mut alive = vec![true; 3];

    // Eight browsers sign in and exchange codes, each step on a random node.
    let mut refresh_tokens = Vec::new();
    {
        let lb = Balancer {
            nodes: &nodes,
            next: std::cell::Cell::new(0x9e37_79b9_7f4a_7c15),
        };
        for _ in 0..8 {
            let browser = Browser::new();
            let auth = authorization(&client, &["offline_access"]);
            let code = sign_in(&lb, &alive, &browser, &auth, &web.redirect_uri).await;
            let url = lb.route(&nodes[0].url("/oauth/token"), &alive);
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", web.redirect_uri.as_str()),
                ("code_verifier", auth.verifier.secret().as_str()),
            ];
            let resp = latch_testkit::rp::reqwest_client()
                .post(url)
                .basic_auth(&web.client_id, Some(&secret))
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            let body: serde_json::Value = resp.json().await.unwrap();
            refresh_tokens.push(body["refresh_token"].as_str().unwrap().to_owned());
        }
    }

    // Refresh under load on every node, and kill one node in the middle of it.
    let targets: Vec<String> = nodes
        .iter()
        .map(|n| format!("http://{}/oauth/token", n.listen()))
        .collect();
    let mut tasks = Vec::new();
    for (i, rt) in refresh_tokens.iter().enumerate() {
        let (targets, rt, id, secret) = (
            targets.clone(),
            rt.clone(),
            web.client_id.clone(),
            secret.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut current = rt;
            for round in 0..20usize {
                let url = &targets[(i + round) % targets.len()];
                let sent = latch_testkit::rp::reqwest_client()
                    .post(url)
                    .basic_auth(&id, Some(&secret))
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", current.as_str()),
                    ])
                    .send()
                    .await;
                // A request to the dead node fails without an answer: the client keeps its token.
                if let Ok(resp) = sent
                    && resp.status() == 200
                    && let Ok(body) = resp.json::<serde_json::Value>().await
                {
                    current = body["refresh_token"].as_str().unwrap().to_owned();
                }
            }
            current
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    nodes[2].kill9().await;
    alive[2] = false;
    let mut latest = Vec::new();
    for t in tasks {
        latest.push(t.await.unwrap());
    }
    // Every token the cluster last acknowledged still works on the surviving nodes.
    for rt in &latest {
        let (s, body, _) = token(
            &nodes[0],
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
            basic,
        )
        .await;
        assert_eq!(s, 200, "acknowledged refresh token survived: {body}");
    }

    // Logout of every session (as an administrator would) is delivered once per session,
    // by the nodes still alive, even if the killed node had claimed some.
    let user = nodes[1].cli(&["users", "list", "--email", EMAIL]).await;
    let user_id = user[0]["id"].as_str().unwrap().to_owned();
    nodes[1].cli(&["users", "delete", &user_id]).await;
    let got = receiver.wait_for(8, Duration::from_secs(60)).await;
    let mut sids: Vec<String> = got
        .iter()
        .map(|r| {
            jwt_parts(r.logout_token.as_deref().unwrap()).1["sid"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    sids.sort();
    sids.dedup();
    assert_eq!(sids.len(), 8, "one notification per session");
}

/// `GET /userinfo` on one node (not through the issuer's address).
async fn userinfo_on(node: &LatchServer, access_token: &str) -> u16 {
    latch_testkit::rp::reqwest_client()
        .get(format!("http://{}/userinfo", node.listen()))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Whether every node refuses the access token within a second.
async fn refused_everywhere_within_a_second(nodes: &[LatchServer], access_token: &str) -> bool {
    latch_testkit::wait_until(Duration::from_secs(1), || async {
        for node in nodes {
            if userinfo_on(node, access_token).await != 401 {
                return false;
            }
        }
        true
    })
    .await
}

/// Issue 15: access tokens are checked against revocations in memory, and every node learns a
/// revocation made on another within a second — a revoked refresh token's grant, an ended
/// session, a deleted application.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_refuses_a_revoked_access_token_within_a_second() {
    let Some(db) = PostgresTestDb::create("cluster_revocations") else {
        return;
    };
    let nodes = cluster(&db).await;
    nodes[0]
        .cli(&["users", "create", "--email", EMAIL, "--password", PASSWORD])
        .await;
    let web = app(&nodes[0], "web", "http://127.0.0.1:7001/cb", &[]).await;
    let admin = app(
        &nodes[0],
        "web",
        "http://127.0.0.1:7009/cb",
        &["--management-api"],
    )
    .await;
    let client = rp(&nodes[0], &web).await;
    let secret = web.client_secret.clone().unwrap();
    let signed_in = || async {
        let auth = authorization(&client, &["offline_access"]);
        let browser = Browser::new();
        let code = sign_in_for_code(&nodes[0], &browser, &auth, &web.redirect_uri).await;
        exchange(&nodes[0], &web, code.secret(), auth).await
    };
    let (by_grant, by_session, by_app) = (signed_in().await, signed_in().await, signed_in().await);
    let at = |t: &serde_json::Value| t["access_token"].as_str().unwrap().to_owned();
    for t in [&by_grant, &by_session, &by_app] {
        for node in &nodes {
            assert_eq!(userinfo_on(node, &at(t)).await, 200);
        }
    }

    // RFC 7009 on node 1: the grant's access token dies on every node.
    let rt = by_grant["refresh_token"].as_str().unwrap();
    let url = format!("http://{}/oauth/revoke", nodes[1].listen());
    let resp = latch_testkit::rp::reqwest_client()
        .post(url)
        .basic_auth(&web.client_id, Some(&secret))
        .form(&[("token", rt)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(refused_everywhere_within_a_second(&nodes, &at(&by_grant)).await);
    assert_eq!(
        userinfo_on(&nodes[0], &at(&by_session)).await,
        200,
        "others live on"
    );

    // An administrator ends the session on node 2.
    let management = management_token(&nodes[0], &admin).await;
    let sid = jwt_parts(by_session["id_token"].as_str().unwrap()).1["sid"].clone();
    let sub = jwt_parts(by_session["id_token"].as_str().unwrap()).1["sub"].clone();
    let path = format!(
        "/api/v1/users/{}/sessions/{}",
        sub.as_str().unwrap(),
        sid.as_str().unwrap()
    );
    let resp = latch_testkit::rp::reqwest_client()
        .delete(format!("http://{}{path}", nodes[2].listen()))
        .bearer_auth(&management)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert!(refused_everywhere_within_a_second(&nodes, &at(&by_session)).await);

    // The application is deleted on node 0: its last token dies everywhere.
    let resp = latch_testkit::rp::reqwest_client()
        .delete(format!(
            "http://{}/api/v1/applications/{}",
            nodes[0].listen(),
            web.id
        ))
        .bearer_auth(&management)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert!(refused_everywhere_within_a_second(&nodes, &at(&by_app)).await);
}
