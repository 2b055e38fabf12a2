// The three examples (examples/web, examples/spa, examples/native) sharing one sign-in, in headless
// Chromium driven by playwright-core. Started by `crates/latch/tests/browser.rs`, which runs Latch,
// the web example, the SPA and the native example's loopback callback, and passes in the environment:
//
//   LATCH_ISSUER, WEB_URL, SPA_URL, NATIVE_LOGIN_URL (the native example's authorization URL: this
//   script plays its system browser), USER_EMAIL, USER_PASSWORD, ARTIFACTS_DIR, CHROMIUM
//
// Talks to the test on stdout / stdin: after the native sign-in it prints
// {"event": "native-signed-in"} and waits for one line on stdin (the test checks the native
// example's refresh meanwhile). Ends with one JSON verdict line, {"ok": true, "checks": {...}}
// (exit 0) or {"ok": false, "step": ..., "error": ...} (exit 1).

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';
import { env, harness } from './harness.mjs';

const issuer = env('LATCH_ISSUER').replace(/\/$/, '');
const web = env('WEB_URL').replace(/\/$/, '');
const spa = env('SPA_URL').replace(/\/$/, '');
const nativeLoginUrl = env('NATIVE_LOGIN_URL');
const email = env('USER_EMAIL');
const password = env('USER_PASSWORD');
const artifacts = env('ARTIFACTS_DIR', 'target/test-artifacts/browser');
const executablePath = env('CHROMIUM', '/usr/bin/chromium');
mkdirSync(artifacts, { recursive: true });

const TIMEOUT = 15_000;
const { checks, log, begin, check, failed } = harness('examples-test');
const isLoginPage = (url) => url.startsWith(`${issuer}/login`);

const stdin = createInterface({ input: process.stdin });
const stdinLines = stdin[Symbol.asyncIterator]();
/** Tells the test that `event` happened and waits for its go-ahead. */
async function handOver(event) {
  process.stdout.write(`${JSON.stringify({ event })}\n`);
  const { value, done } = await stdinLines.next();
  if (done || value.trim() !== 'continue') throw new Error(`the test answered ${JSON.stringify(value)} to ${event}`);
}

/** Records a page's main-frame navigations (redirect hops included), dialogs and errors. */
function watch(page, label) {
  const seen = { navigations: [], errors: [] };
  page.on('request', (request) => {
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) seen.navigations.push(request.url());
  });
  page.on('pageerror', (err) => seen.errors.push(String(err)));
  page.on('console', (msg) => {
    if (msg.type() === 'error') log(`${label} console: ${msg.text()}`);
  });
  page.setDefaultTimeout(TIMEOUT);
  return seen;
}

async function state(page) {
  await page.waitForSelector('#status[data-state]');
  return page.getAttribute('#status', 'data-state');
}

/** Waits until the web example's page (after the navigation under way) shows `wanted`. */
async function webReaches(page, wanted) {
  await page.waitForURL((u) => u.href.startsWith(`${web}/`));
  await page.waitForSelector(`#status[data-state="${wanted}"]`);
  return state(page);
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  timeout: 60_000,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

let failurePage = null;
try {
  const context = await browser.newContext({ viewport: { width: 1024, height: 768 } });

  // ---- Web example: sign in with the password ------------------------------------------------
  begin('web example starts signed out');
  const w = await context.newPage();
  failurePage = w;
  const seenW = watch(w, 'web');
  await w.goto(`${web}/`);
  check('web_starts_signed_out', (await state(w)) === 'signed-out', await state(w));

  begin('web example: Sign in goes to the hosted login page');
  await w.getByRole('link', { name: 'Sign in' }).click();
  await w.waitForURL((u) => isLoginPage(u.href));
  const authorize = new URL(seenW.navigations.find((u) => u.startsWith(`${issuer}/oauth/authorize`)));
  check('web_sends_state_nonce_pkce', ['state', 'nonce', 'code_challenge'].every((p) => authorize.searchParams.get(p)),
    Object.fromEntries(authorize.searchParams));
  await w.getByLabel('Email').fill(email);
  await w.getByLabel('Password').fill(password);
  await w.getByRole('button', { name: 'Sign in' }).click();
  check('web_signed_in', (await webReaches(w, 'signed-in')) === 'signed-in', await w.textContent('#status'));
  check('web_shows_email', (await w.textContent('#status')) === `Signed in as ${email}`, await w.textContent('#status'));
  const claims = JSON.parse(await w.textContent('#claims'));
  check('web_claims_shown', claims.email === email && typeof claims.sid === 'string', claims);
  const api = JSON.parse(await w.textContent('#api'));
  check('web_api_accepts_the_access_token', api.status === 200 && api.body.sub === claims.sub, api);
  await w.screenshot({ path: join(artifacts, 'web-example-signed-in.png'), fullPage: true });

  begin('web example cookies: one HttpOnly SameSite=Lax session id, no token');
  const webCookies = (await context.cookies(web)).filter((c) => c.name.startsWith('example_web'));
  const session = webCookies.find((c) => c.name === 'example_web_session');
  check('web_cookie_flags', Boolean(session) && session.httpOnly && session.sameSite === 'Lax' && !session.secure,
    webCookies.map(({ name, httpOnly, sameSite, secure }) => ({ name, httpOnly, sameSite, secure })));
  check('web_cookie_holds_no_token', webCookies.length === 1 && !session.value.includes('.'), webCookies.map((c) => c.name));

  begin('web example refreshes its tokens');
  await w.getByRole('button', { name: 'Refresh tokens' }).click();
  await w.waitForSelector('#notice');
  check('web_refreshed', (await w.textContent('#notice')) === 'Tokens refreshed.' && (await state(w)) === 'signed-in',
    await w.textContent('#notice'));
  check('web_api_after_refresh', JSON.parse(await w.textContent('#api')).status === 200, true);

  // ---- SPA: a code without a password --------------------------------------------------------
  begin('the SPA gets a code without a password');
  const s = await context.newPage();
  failurePage = s;
  const seenS = watch(s, 'spa');
  await s.goto(`${spa}/index.html`);
  await s.waitForSelector('#status[data-state="signed-out"]');
  await s.getByRole('button', { name: 'Sign in' }).click();
  await s.waitForURL((u) => u.href.startsWith(`${spa}/index.html`));
  await s.waitForSelector('#status[data-state="signed-in"]');
  const spaCallback = seenS.navigations.find((u) => u.startsWith(`${spa}/callback.html`));
  check('spa_code_issued', Boolean(spaCallback && new URL(spaCallback).searchParams.get('code')));
  check('spa_without_password', !seenS.navigations.some(isLoginPage), seenS.navigations.filter(isLoginPage));
  check('spa_signed_in', (await s.textContent('#status')) === `Signed in as ${email}`, await s.textContent('#status'));

  // ---- Native: this browser plays the system browser -------------------------------------------
  begin('the native example signs in through the same browser without a password');
  const n = await context.newPage();
  failurePage = n;
  const seenN = watch(n, 'native');
  await n.goto(nativeLoginUrl);
  await n.waitForURL((u) => /^http:\/\/127\.0\.0\.1:\d+\/callback\?/.test(u.href));
  check('native_signed_in', (await state(n)) === 'signed-in', await n.textContent('#status'));
  check('native_without_password', !seenN.navigations.some(isLoginPage), seenN.navigations.filter(isLoginPage));
  const nativeAuthorize = new URL(nativeLoginUrl);
  check('native_pkce_s256_loopback', nativeAuthorize.searchParams.get('code_challenge_method') === 'S256'
    && /^http:\/\/127\.0\.0\.1:\d+\/callback$/.test(nativeAuthorize.searchParams.get('redirect_uri')),
  Object.fromEntries(nativeAuthorize.searchParams));
  await n.close();
  await handOver('native-signed-in');

  // ---- A second web-example session on the same Latch session ----------------------------------
  // The web example keeps session A (its cookie moves to another context, as if another window of
  // this browser profile held it); this window signs in again (single sign-on: session B). Signing
  // out in B ends A only through the back-channel logout.
  begin('a second web session on the same sign-in, without a password');
  const cookieA = session.value;
  await context.clearCookies({ name: 'example_web_session' });
  seenW.navigations.length = 0;
  await w.goto(`${web}/`);
  check('web_signed_out_without_cookie', (await state(w)) === 'signed-out', true);
  await w.getByRole('link', { name: 'Sign in' }).click();
  check('web_sso_signed_in', (await webReaches(w, 'signed-in')) === 'signed-in', await w.textContent('#status'));
  check('web_sso_without_password', !seenW.navigations.some(isLoginPage), seenW.navigations.filter(isLoginPage));

  // The other window: JavaScript off (the web example needs none) and 375 px wide.
  const other = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 375, height: 740 }, isMobile: true });
  await other.addCookies([{ name: 'example_web_session', value: cookieA, url: `${web}/`, httpOnly: true, sameSite: 'Lax' }]);
  const a = await other.newPage();
  failurePage = a;
  watch(a, 'web-other');
  await a.goto(`${web}/`);
  check('web_session_a_alive', (await state(a)) === 'signed-in', await a.textContent('#status'));
  const widths = await a.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
  check('web_fits_375px', widths.scroll <= 375, widths);
  await a.screenshot({ path: join(artifacts, 'web-example-375px.png'), fullPage: true });

  // ---- Sign out in the web example ---------------------------------------------------------------
  begin('sign out in the web example through /oidc/logout');
  failurePage = w;
  seenW.navigations.length = 0;
  await w.getByRole('button', { name: 'Sign out' }).click();
  check('web_signed_out', (await webReaches(w, 'signed-out')) === 'signed-out', await w.textContent('#status'));
  const logout = seenW.navigations.find((u) => u.startsWith(`${issuer}/oidc/logout`));
  check('web_logout_endpoint_used', Boolean(logout), seenW.navigations);
  const logoutParams = new URL(logout).searchParams;
  check('web_logout_hint_and_redirect', Boolean(logoutParams.get('id_token_hint'))
    && logoutParams.get('post_logout_redirect_uri') === `${web}/`, Object.fromEntries(logoutParams));

  begin('the back-channel logout ended the other web session');
  failurePage = a;
  let ended = false;
  for (const deadline = Date.now() + 15_000; Date.now() < deadline;) {
    await a.goto(`${web}/`);
    if ((await state(a)) === 'signed-out') {
      ended = true;
      break;
    }
    await a.waitForTimeout(200);
  }
  check('web_backchannel_ended_session_a', ended, await a.textContent('#status'));
  check('web_asks_to_sign_in', (await a.getByRole('link', { name: 'Sign in' }).count()) === 1, true);
  await other.close();

  begin('signing in again asks for the password');
  failurePage = w;
  await w.getByRole('link', { name: 'Sign in' }).click();
  await w.waitForURL((u) => isLoginPage(u.href));
  check('password_asked_again', true);
  check('no_page_errors', seenW.errors.length === 0 && seenS.errors.length === 0 && seenN.errors.length === 0,
    [...seenW.errors, ...seenS.errors, ...seenN.errors]);
  await context.close();

  process.stdout.write(`${JSON.stringify({ ok: true, checks })}\n`);
  await browser.close();
  process.exit(0);
} catch (err) {
  if (failurePage && !failurePage.isClosed()) {
    await failurePage.screenshot({ path: join(artifacts, 'examples-failure.png'), fullPage: true }).catch(() => {});
    log(`failed at ${failurePage.url()}`);
  }
  failed(err);
  await browser.close().catch(() => {});
  process.exit(1);
}
