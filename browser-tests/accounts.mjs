// Accounts people run themselves, in headless Chromium at 375 px, with JavaScript on and off:
// forgot password → the mailed link → a new password → back at the application with a code;
// sign-up with prompt=create → the mailed verification link → back at the application with a
// code. Started by `crates/latch/tests/browser/accounts.rs`, which runs Latch with SMTP pointed at
// its SMTP receiver, registers the application and the user, and serves the callback and a
// mailbox endpoint that hands out the links of received mail:
//
//   LATCH_ISSUER, CLIENT_ID, CALLBACK_URL, MAILBOX_URL, USER_EMAIL, ARTIFACTS_DIR, CHROMIUM
//
// Prints one JSON line on stdout, {"ok": true, "checks": {...}} (exit 0), or
// {"ok": false, "step": ..., "error": ...} (exit 1).

import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { env, harness } from './harness.mjs';

const issuer = env('LATCH_ISSUER').replace(/\/$/, '');
const clientId = env('CLIENT_ID');
const callback = env('CALLBACK_URL');
const mailbox = env('MAILBOX_URL');
const email = env('USER_EMAIL');
const artifacts = env('ARTIFACTS_DIR', 'target/test-artifacts/browser');
const executablePath = env('CHROMIUM', '/usr/bin/chromium');
mkdirSync(artifacts, { recursive: true });

const TIMEOUT = 15_000;
const { checks, log, begin, check, failed } = harness('accounts');
const b64url = (buf) => buf.toString('base64url');

function authorizeUrl(extra = {}) {
  const verifier = b64url(randomBytes(32));
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: callback,
    scope: 'openid email',
    state: b64url(randomBytes(12)),
    code_challenge: b64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
    ...extra,
  });
  return { url: `${issuer}/oauth/authorize?${params}`, state: params.get('state') };
}

/** The link starting with `prefix` in the `n`th mail to `to`, once it has arrived. */
async function mailedLink(to, n, prefix) {
  const query = new URLSearchParams({ to, n: String(n), prefix });
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const response = await fetch(`${mailbox}?${query}`);
    if (response.status === 200) return response.text();
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no mail #${n} to ${to} with a link ${prefix}`);
}

async function widths(page) {
  return page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
}

/** At 375 px the page fits: no horizontal scrolling. Saves a screenshot. */
async function fits(page, name) {
  const w = await widths(page);
  check(`${name}_no_horizontal_scroll`, w.scroll <= 375, w);
  await page.screenshot({ path: join(artifacts, `${name}-375px.png`), fullPage: true });
}

function arrivedWithCode(page, auth, name) {
  const back = new URL(page.url());
  check(`${name}_code`, back.searchParams.has('code'), back.search);
  check(`${name}_state`, back.searchParams.get('state') === auth.state, back.searchParams.get('state'));
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  timeout: 60_000,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking'],
});
let failurePage;
try {
  let resets = 0;
  for (const js of [true, false]) {
    const label = js ? 'js' : 'nojs';
    const context = await browser.newContext({
      viewport: { width: 375, height: 740 },
      isMobile: true,
      hasTouch: true,
      javaScriptEnabled: js,
    });
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    failurePage = page;

    begin(`forgot password, JavaScript ${js ? 'on' : 'off'}`);
    const auth = authorizeUrl();
    await page.goto(auth.url);
    await page.waitForURL((u) => u.href.startsWith(`${issuer}/login`));
    await page.getByRole('link', { name: 'Forgot password?' }).click();
    await page.waitForURL((u) => u.href.startsWith(`${issuer}/password/forgot`));
    await fits(page, `forgot-${label}`);
    await page.getByLabel('Email').fill(email);
    await page.getByRole('button', { name: 'Send the link' }).click();
    await page.getByText('Check your inbox').first().waitFor();
    resets += 1;
    const reset = await mailedLink(email, resets, `${issuer}/password/reset?token=`);
    await page.goto(reset);
    await fits(page, `reset-${label}`);
    await page.getByLabel('New password').fill(`a brand new horse battery ${label}`);
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.waitForURL((u) => u.href.startsWith(callback));
    arrivedWithCode(page, auth, `reset_${label}`);

    begin(`sign-up with prompt=create, JavaScript ${js ? 'on' : 'off'}`);
    const signup = authorizeUrl({ prompt: 'create' });
    await page.goto(signup.url);
    await page.waitForURL((u) => u.href.startsWith(`${issuer}/signup`));
    await fits(page, `signup-${label}`);
    const address = `grace-${label}@example.com`;
    await page.getByLabel('Email').fill(address);
    await page.getByLabel('Password').fill('a brand new horse battery');
    await page.getByLabel('Name (optional)').fill('Grace Hopper');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText('Check your inbox').first().waitFor();
    await fits(page, `signup-sent-${label}`);
    const verify = await mailedLink(address, 1, `${issuer}/email/verify?token=`);
    await page.goto(verify);
    await fits(page, `verify-${label}`);
    await page.getByRole('button', { name: 'Verify my email' }).click();
    await page.waitForURL((u) => u.href.startsWith(callback));
    arrivedWithCode(page, signup, `signup_${label}`);
    await context.close();
  }

  process.stdout.write(`${JSON.stringify({ ok: true, checks })}\n`);
  await browser.close();
  process.exit(0);
} catch (err) {
  if (failurePage && !failurePage.isClosed()) {
    await failurePage.screenshot({ path: join(artifacts, 'accounts-failure.png'), fullPage: true }).catch(() => {});
    log(`failed at ${failurePage.url()}`);
  }
  failed(err);
  await browser.close().catch(() => {});
  process.exit(1);
}
