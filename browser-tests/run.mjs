// End-to-end test of Latch in headless Chromium with a real SPA library (oidc-client-ts), driven by
// playwright-core. Started by `crates/latch/tests/browser.rs`, which runs Latch, registers the two
// SPAs and the user, serves the SPA and passes everything in the environment:
//
//   LATCH_ISSUER, SPA_A_URL, SPA_A_CLIENT_ID, SPA_B_URL, USER_EMAIL, USER_PASSWORD,
//   ARTIFACTS_DIR (screenshots), CHROMIUM (default /usr/bin/chromium)
//
// Prints one JSON line on stdout, {"ok": true, "checks": {...}} (exit 0), or
// {"ok": false, "step": ..., "error": ...} (exit 1).

import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { env, harness } from './harness.mjs';

const issuer = env('LATCH_ISSUER').replace(/\/$/, '');
const spaA = env('SPA_A_URL').replace(/\/$/, '');
const spaB = env('SPA_B_URL').replace(/\/$/, '');
const clientA = env('SPA_A_CLIENT_ID');
const email = env('USER_EMAIL');
const password = env('USER_PASSWORD');
const artifacts = env('ARTIFACTS_DIR', 'target/test-artifacts/browser');
const executablePath = env('CHROMIUM', '/usr/bin/chromium');
mkdirSync(artifacts, { recursive: true });

const TIMEOUT = 15_000;
const { checks, log, begin, check, failed } = harness('browser-test');

const isLoginPage = (url) => url.startsWith(`${issuer}/login`);
const b64url = (buf) => buf.toString('base64url');

/** Watches a page's main-frame navigations, its dialogs and errors (for the report). */
function watch(page, label) {
  const seen = { navigations: [], dialogs: [], errors: [] };
  // Every document request of the main frame, redirect hops included (they never commit).
  page.on('request', (request) => {
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) seen.navigations.push(request.url());
  });
  page.on('dialog', (dialog) => {
    seen.dialogs.push(dialog.message());
    dialog.dismiss().catch(() => {});
  });
  page.on('pageerror', (err) => seen.errors.push(String(err)));
  page.on('console', (msg) => {
    if (msg.type() === 'error') log(`${label} console: ${msg.text()}`);
  });
  page.setDefaultTimeout(TIMEOUT);
  return seen;
}

async function signedIn(page, origin) {
  await page.waitForURL((u) => u.href.startsWith(`${origin}/index.html`));
  await page.waitForSelector('#status[data-state="signed-in"]');
  return page.textContent('#status');
}

async function signedOut(page) {
  await page.waitForSelector('#status[data-state="signed-out"]');
}

/** Types the credentials into the hosted login page like a person and presses its button. */
async function fillLogin(page) {
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function refreshToken(page) {
  return page.evaluate(async () => (await window.latchSpa.userManager.getUser())?.refresh_token ?? null);
}

/** An authorization URL built by hand (for the contexts where the SPA does not run). */
function authorizeUrl(extra = {}) {
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: clientA,
    redirect_uri: `${spaA}/callback.html`,
    scope: 'openid email',
    state: b64url(randomBytes(12)),
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  });
  return { url: `${issuer}/oauth/authorize?${params}`, verifier, state: params.get('state') };
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  timeout: 60_000,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});

let failurePage = null;
try {
  // ---- SPA A: sign in through the hosted login page --------------------------------------------
  const context = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  const page = await context.newPage();
  failurePage = page;
  const seenA = watch(page, 'spa-a');

  begin('spa A starts signed out');
  await page.goto(`${spaA}/index.html`);
  await signedOut(page);

  begin('sign in: the SPA sends the browser to the hosted login page');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => isLoginPage(u.href));
  const authorize = new URL(seenA.navigations.find((u) => u.startsWith(`${issuer}/oauth/authorize`)));
  check('pkce_s256', authorize.searchParams.get('code_challenge_method') === 'S256', authorize.searchParams.get('code_challenge_method'));
  await page.screenshot({ path: join(artifacts, 'login-page.png'), fullPage: true });

  begin('the login page names the application and shows the environment logo, styled by its one stylesheet');
  const heading = (await page.locator('h1').innerText()).trim();
  check('names_the_application', heading === 'Sign in to SPA A', heading);
  const logo = await page.locator('header.brand img').evaluate((img) => ({ alt: img.alt, loaded: img.complete && img.naturalWidth > 0 }));
  check('logo_named_and_loaded', logo.alt === 'Acme Staging' && logo.loaded, logo);
  // The stylesheet is a separate file under the CSP's style-src: its colour reaching the button
  // proves it loaded (the page has no inline style at all).
  const buttonColour = await page.getByRole('button', { name: 'Sign in' }).evaluate((b) => getComputedStyle(b).backgroundColor);
  check('stylesheet_applied', buttonColour === 'rgb(11, 110, 79)', buttonColour);

  begin('sign in: fill email and password');
  await fillLogin(page);
  const status = await signedIn(page, spaA);
  check('signed_in', status === `Signed in as ${email}`, status);
  await page.screenshot({ path: join(artifacts, 'spa-signed-in.png'), fullPage: true });

  begin('userinfo from the page (cross-origin, preflighted)');
  await page.getByRole('button', { name: 'Call userinfo' }).click();
  await page.waitForSelector('#userinfo-result:not([hidden])');
  const claims = JSON.parse(await page.textContent('#userinfo-result'));
  check('userinfo_email', claims.email === email, claims.email);
  check('userinfo_sub', typeof claims.sub === 'string' && claims.sub.length > 0, claims.sub);

  begin('refresh with the refresh token (rotation)');
  const before = await refreshToken(page);
  check('refresh_token_issued', typeof before === 'string' && before.length > 0, Boolean(before));
  await page.getByRole('button', { name: 'Refresh tokens' }).click();
  await page.waitForSelector('#refreshes[data-count="1"]');
  const after = await refreshToken(page);
  check('refresh_rotated', typeof after === 'string' && after !== before, after !== before);
  check('still_signed_in_after_refresh', (await page.getAttribute('#status', 'data-state')) === 'signed-in', true);

  // ---- SPA B on another origin: single sign-on ----------------------------------------------------
  begin('spa B on another origin signs in without a password (SSO)');
  const pageB = await context.newPage();
  failurePage = pageB;
  const seenB = watch(pageB, 'spa-b');
  await pageB.goto(`${spaB}/index.html`);
  await signedOut(pageB);
  await pageB.getByRole('button', { name: 'Sign in' }).click();
  const statusB = await signedIn(pageB, spaB);
  check('sso_signed_in', statusB === `Signed in as ${email}`, statusB);
  check('sso_without_password', !seenB.navigations.some(isLoginPage), seenB.navigations.filter(isLoginPage));
  await pageB.close();

  // ---- Sign out through /oidc/logout -----------------------------------------------------------------
  begin('sign out through /oidc/logout with post_logout_redirect_uri');
  failurePage = page;
  seenA.navigations.length = 0;
  const lastRefresh = await refreshToken(page);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL((u) => u.href.startsWith(`${spaA}/index.html`));
  await signedOut(page);
  const logout = seenA.navigations.find((u) => u.startsWith(`${issuer}/oidc/logout`));
  check('logout_endpoint_used', Boolean(logout), logout ? true : seenA.navigations);
  const logoutParams = new URL(logout).searchParams;
  check('post_logout_redirect_uri', logoutParams.get('post_logout_redirect_uri') === `${spaA}/index.html`, logoutParams.get('post_logout_redirect_uri'));
  check('logout_state_sent', Boolean(logoutParams.get('state')), logoutParams.get('state'));
  // The SPA got its state back from Latch and oidc-client-ts accepted it.
  const notice = await page.textContent('#notice');
  check('signed_out', notice === 'You signed out (sign-out button).', notice);
  // The SPA revoked its refresh token and the session ended: the token no longer refreshes.
  const stale = await fetch(`${issuer}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: lastRefresh, client_id: clientA }),
  });
  check('refresh_token_dead_after_sign_out', stale.status === 400, stale.status);

  begin('a second sign-in asks for the password again');
  seenA.navigations.length = 0;
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => isLoginPage(u.href));
  check('password_asked_again', true);
  await fillLogin(page);
  check('signed_in_again', (await signedIn(page, spaA)) === `Signed in as ${email}`, true);
  check('no_dialogs', seenA.dialogs.length === 0 && seenB.dialogs.length === 0, [...seenA.dialogs, ...seenB.dialogs]);
  check('no_page_errors', seenA.errors.length === 0 && seenB.errors.length === 0, [...seenA.errors, ...seenB.errors]);
  await context.close();

  // ---- The hosted login page without JavaScript ----------------------------------------------------
  begin('the login page works with JavaScript disabled');
  const noJs = await browser.newContext({ javaScriptEnabled: false });
  const pageNoJs = await noJs.newPage();
  failurePage = pageNoJs;
  watch(pageNoJs, 'no-js');
  const plain = authorizeUrl();
  await pageNoJs.goto(plain.url);
  await pageNoJs.waitForURL((u) => isLoginPage(u.href));
  await fillLogin(pageNoJs);
  await pageNoJs.waitForURL((u) => u.href.startsWith(`${spaA}/callback.html`));
  const callback = new URL(pageNoJs.url());
  check('nojs_state', callback.searchParams.get('state') === plain.state, callback.searchParams.get('state'));
  const code = callback.searchParams.get('code');
  check('nojs_code', Boolean(code), Boolean(code));
  // The code is good: redeem it (from Node, as the SPA would have).
  const redeemed = await fetch(`${issuer}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: `${spaA}/callback.html`,
      client_id: clientA,
      code_verifier: plain.verifier,
    }),
  });
  check('nojs_code_redeemed', redeemed.status === 200, redeemed.status);
  await noJs.close();

  // ---- CSP: an injected script is text and cannot run --------------------------------------------
  begin('the login page CSP blocks inline script injection');
  const cspContext = await browser.newContext();
  const cspPage = await cspContext.newPage();
  failurePage = cspPage;
  const seenCsp = watch(cspPage, 'csp');
  const hint = '<script>alert("xss")</script>';
  await cspPage.goto(authorizeUrl({ login_hint: hint }).url);
  await cspPage.waitForURL((u) => isLoginPage(u.href));
  check('login_hint_shown_as_text', (await cspPage.inputValue('input[name="email"]')) === hint, await cspPage.inputValue('input[name="email"]'));
  check('no_script_elements', (await cspPage.locator('script').count()) === 0, await cspPage.locator('script').count());
  const injected = await cspPage.evaluate(async () => {
    const violations = [];
    document.addEventListener('securitypolicyviolation', (e) => violations.push(e.violatedDirective));
    const script = document.createElement('script');
    script.textContent = 'window.__latchInjected = true; alert("injected")';
    document.body.appendChild(script);
    await new Promise((resolve) => setTimeout(resolve, 200));
    return { ran: window.__latchInjected === true, violations };
  });
  await cspPage.waitForTimeout(300);
  check('inline_script_blocked', !injected.ran && injected.violations.length > 0, injected);
  check('no_dialog', seenCsp.dialogs.length === 0, seenCsp.dialogs);
  await cspContext.close();

  // ---- Phone width -----------------------------------------------------------------------------------
  begin('the login page renders at 375 px without horizontal scrolling');
  const phone = await browser.newContext({ viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true });
  const phonePage = await phone.newPage();
  failurePage = phonePage;
  watch(phonePage, 'phone');
  await phonePage.goto(authorizeUrl().url);
  await phonePage.waitForURL((u) => isLoginPage(u.href));
  const widths = await phonePage.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  check('phone_no_horizontal_scroll', widths.scroll <= 375, widths);
  const declineBox = await phonePage.getByRole('link', { name: /^Back to / }).boundingBox();
  check('phone_decline_visible', declineBox !== null && declineBox.x >= 0 && declineBox.x + declineBox.width <= 375, declineBox);
  await phonePage.screenshot({ path: join(artifacts, 'login-page-375px.png'), fullPage: true });
  await phone.close();

  // ---- Declining: back to the application, by keyboard, without JavaScript, at 375 px ------------
  begin('"Back to the application" returns access_denied with the state, by keyboard and without JavaScript');
  const decline = await browser.newContext({ viewport: { width: 375, height: 740 }, javaScriptEnabled: false });
  const declinePage = await decline.newPage();
  failurePage = declinePage;
  watch(declinePage, 'decline');
  const declined = authorizeUrl();
  await declinePage.goto(declined.url);
  await declinePage.waitForURL((u) => isLoginPage(u.href));
  // Password field, then the Sign in button, then the way back: Tab, Tab, Enter.
  await declinePage.focus('#password');
  await declinePage.keyboard.press('Tab');
  await declinePage.keyboard.press('Tab');
  await declinePage.keyboard.press('Enter');
  await declinePage.waitForURL((u) => u.href.startsWith(`${spaA}/callback.html`));
  const back = new URL(declinePage.url());
  check('decline_access_denied', back.searchParams.get('error') === 'access_denied', back.search);
  check('decline_state', back.searchParams.get('state') === declined.state, back.searchParams.get('state'));
  check('decline_iss', back.searchParams.get('iss') === issuer, back.searchParams.get('iss'));
  check('decline_no_code', !back.searchParams.has('code'), back.search);
  await decline.close();

  process.stdout.write(`${JSON.stringify({ ok: true, checks })}\n`);
  await browser.close();
  process.exit(0);
} catch (err) {
  if (failurePage && !failurePage.isClosed()) {
    await failurePage.screenshot({ path: join(artifacts, 'failure.png'), fullPage: true }).catch(() => {});
    log(`failed at ${failurePage.url()}`);
  }
  failed(err);
  await browser.close().catch(() => {});
  process.exit(1);
}
