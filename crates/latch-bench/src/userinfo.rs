//! The `userinfo` workload: each worker holds a valid access token (from the SPA's code flow over
//! a signed-in session) and presents it at `GET /userinfo` in a closed loop. It measures the
//! verifier's path — signature, claims, the in-memory revocation check — and one user read.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use reqwest::StatusCode;

use crate::oidc::{self, Browser, Pending};
use crate::stats::Recorder;
use crate::workloads::{SCOPE, Shared, signed_in};

/// Access tokens live 300 s by default: a worker takes a new one (untimed) well before.
const RENEW_AFTER: Duration = Duration::from_secs(240);

pub struct UserinfoWorker {
    browser: Browser,
    access_token: String,
    issued: Instant,
}

/// A signed-in browser and a first access token.
pub async fn worker(s: Arc<Shared>) -> anyhow::Result<UserinfoWorker> {
    let mut browser = signed_in(s.clone()).await?;
    let access_token = access_token(&s, &mut browser).await?;
    Ok(UserinfoWorker {
        browser,
        access_token,
        issued: Instant::now(),
    })
}

async fn access_token(s: &Shared, browser: &mut Browser) -> anyhow::Result<String> {
    let pending = Pending::new(&s.provider, &s.spa, SCOPE)?;
    let code = browser.authorize_with_session(&s.spa, &pending).await?;
    oidc::exchange_code_for_access_token(&browser.http, &s.provider, &s.spa, &code, &pending).await
}

async fn userinfo(s: &Shared, w: &UserinfoWorker) -> anyhow::Result<()> {
    let url = s
        .provider
        .userinfo_endpoint
        .clone()
        .ok_or_else(|| anyhow!("discovery has no userinfo_endpoint"))?;
    let response = w
        .browser
        .http
        .get(url)
        .bearer_auth(&w.access_token)
        .send()
        .await?;
    let status = response.status();
    response.bytes().await?;
    if status != StatusCode::OK {
        bail!("userinfo answered {status}");
    }
    Ok(())
}

pub async fn run_loop(s: Arc<Shared>, mut w: UserinfoWorker, mut rec: Recorder) -> Recorder {
    loop {
        // Renewed before the operation's slot, so that the renewal is never part of a latency.
        if w.issued.elapsed() > RENEW_AFTER {
            match access_token(&s, &mut w.browser).await {
                Ok(token) => {
                    w.access_token = token;
                    w.issued = Instant::now();
                }
                Err(e) => {
                    rec.record(Instant::now(), Err(e));
                    if !rec.go(0) {
                        break;
                    }
                    continue;
                }
            }
        }
        let Some(t) = rec.start(1).await else {
            break;
        };
        let r = userinfo(&s, &w).await;
        rec.record(t, r);
    }
    rec
}
