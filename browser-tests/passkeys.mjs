// Passkeys in headless Chromium (issue 18), with the WebAuthn domain's virtual authenticator
// (CTAP2, internal transport, resident keys, user verification): a password sign-in, a passkey
// registered on /account, signed out, signed in passwordless with the passkey (pressed with the
// keyboard alone), then the passkey as second factor after a password for an application that
// requires one, then removed. The tokens' amr/acr are checked by exchanging each code like the
// application would (PKCE, public client). Every page at 375 px, screenshots kept. Started by
// `crates/latch/tests/browser/passkeys.rs`, which runs Latch on http://localhost:PORT (a WebAuthn
// RP ID is a domain, never an IP address), registers the applications and the user, and serves
// the callback:
//
//   LATCH_ISSUER, CLIENT_ID, MFA_CLIENT_ID, CALLBACK_URL, USER_EMAIL, USER_PASSWORD,
//   ARTIFACTS_DIR, CHROMIUM
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
const mfaClientId = env('MFA_CLIENT_ID');
const callback = env('CALLBACK_URL');
const email = env('USER_EMAIL');
const password = env('USER_PASSWORD');
const artifacts = env('ARTIFACTS_DIR', 'target/test-artifacts/browser');
const executablePath = env('CHROMIUM', '/usr/bin/chromium');
mkdirSync(artifacts, { recursive: true });

const TIMEOUT = 15_000;
const { checks, log, begin, check, failed } = harness('passkeys');
const b64url = (buf) => buf.toString('base64url');

function authorizeUrl(client, extra = {}) {
  const verifier = b64url(randomBytes(32));
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: client,
    redirect_uri: callback,
    scope: 'openid email',
    state: b64url(randomBytes(12)),
    code_challenge: b64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
    ...extra,
  });
  return { url: `${issuer}/oauth/authorize?${params}`, state: params.get('state'), verifier, client };
}

/** At the callback: exchanges the code as the application would; the ID token's claims. */
async function tokensAt(page, auth, name) {
  await page.waitForURL((u) => u.href.startsWith(callback));
  const back = new URL(page.url());
  check(`${name}_state`, back.searchParams.get('state') === auth.state, back.searchParams.get('state'));
  const code = back.searchParams.get('code');
  check(`${name}_code`, Boolean(code), back.search);
  const response = await fetch(`${issuer}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: callback,
      client_id: auth.client,
      code_verifier: auth.verifier,
    }),
  });
  const body = await response.json();
  check(`${name}_token_status`, response.status === 200, response.status === 200 ? 200 : body);
  const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
  return { id: claims(body.id_token), access: claims(body.access_token) };
}

function amrIs(tokens, name, amr, acr) {
  for (const [kind, c] of Object.entries(tokens)) {
    check(`${name}_${kind}_amr`, JSON.stringify(c.amr) === JSON.stringify(amr), c.amr);
    check(`${name}_${kind}_acr`, c.acr === acr, c.acr);
  }
}

/** At 375 px the page fits: no horizontal scrolling. Saves a screenshot. */
async function shot(page, name) {
  const w = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  check(`${name}_no_horizontal_scroll`, w.scroll <= 375, w);
  await page.screenshot({ path: join(artifacts, `passkey-${name}-375px.png`), fullPage: true });
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  timeout: 60_000,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking'],
});
let page;
try {
  const context = await browser.newContext({ viewport: { width: 375, height: 740 } });
  page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const errors = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  page.on('console', (msg) => {
    if (msg.type() === 'error') log(`console: ${msg.text()}`);
  });

  begin('virtual authenticator');
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
    },
  });

  begin('password sign-in');
  let auth = authorizeUrl(clientId);
  await page.goto(auth.url);
  await page.waitForURL((u) => u.href.startsWith(`${issuer}/login`));
  check('login_autofill_offers_passkeys', (await page.getAttribute('#email', 'autocomplete')) === 'username webauthn');
  await page.locator('#passkey-sign-in').waitFor({ state: 'visible' });
  await shot(page, 'login');
  // Keyboard only: Tab from the e-mail field reaches the passkey button.
  await page.locator('#email').focus();
  let reached = false;
  for (let i = 0; i < 8 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement?.id === 'passkey-sign-in');
  }
  check('passkey_button_reached_by_tab', reached);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  amrIs(await tokensAt(page, auth, 'password'), 'password', ['pwd'], 'urn:latch:acr:pwd');

  begin('register a passkey on /account');
  await page.goto(`${issuer}/account`);
  await page.locator('#passkey-add').waitFor();
  await shot(page, 'account');
  await page.getByLabel('Name of the new passkey').fill('Virtual key');
  await page.locator('#passkey-add').click();
  await page.waitForURL((u) => u.href.startsWith(`${issuer}/account/passkeys`));
  const create = page.getByRole('button', { name: 'Create the passkey' });
  await create.waitFor({ state: 'visible' });
  await shot(page, 'register');
  await create.click();
  await page.locator('#recovery-codes').waitFor();
  await shot(page, 'recovery-codes');
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  check('authenticator_holds_one_resident_key', credentials.length === 1 && credentials[0].isResidentCredential, credentials.map((c) => c.isResidentCredential));
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.locator('#passkeys').waitFor();
  const listed = await page.locator('#passkeys li').allTextContents();
  check('account_lists_the_passkey', listed.length === 1 && listed[0].includes('Virtual key'), listed);
  await shot(page, 'account-with-passkey');

  begin('sign out');
  await page.getByRole('button', { name: 'Sign out this session' }).click();
  await page.getByText('This browser is signed out.').waitFor();

  begin('passwordless sign-in');
  auth = authorizeUrl(clientId);
  await page.goto(auth.url);
  // Chromium's virtual authenticator answers the e-mail field's autofill (conditional mediation)
  // request by itself: the page may sign in before anyone presses the button. Else the button,
  // pressed with the keyboard.
  const viaAutofill = await page
    .waitForURL((u) => u.href.startsWith(callback), { timeout: 4000 })
    .then(() => true, () => false);
  checks.passwordless_by = viaAutofill ? 'conditional mediation' : 'button';
  if (!viaAutofill) {
    await page.locator('#passkey-sign-in').focus();
    await page.keyboard.press('Enter');
  }
  amrIs(await tokensAt(page, auth, 'passwordless'), 'passwordless', ['hwk', 'user', 'mfa'], 'urn:latch:acr:mfa');

  begin('a passkey as second factor after a password (mfa: required)');
  // The authenticator stops answering by itself, so the login page's autofill request waits
  // and the password is what signs in; it answers again for the second step's button.
  await cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId, enabled: false });
  auth = authorizeUrl(mfaClientId, { prompt: 'login' });
  await page.goto(auth.url);
  await page.waitForURL((u) => u.href.startsWith(`${issuer}/login`));
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL((u) => u.href.startsWith(`${issuer}/login/second-factor`));
  const use = page.getByRole('button', { name: 'Use a passkey' });
  await use.waitFor({ state: 'visible' });
  await shot(page, 'second-factor');
  await cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId, enabled: true });
  await use.click();
  amrIs(await tokensAt(page, auth, 'second_factor'), 'second_factor', ['pwd', 'hwk', 'user', 'mfa'], 'urn:latch:acr:mfa');

  begin('remove the passkey');
  await page.goto(`${issuer}/account`);
  await page.getByRole('button', { name: 'Remove Virtual key' }).click();
  await page.getByText('The passkey is removed.').waitFor();
  check('account_lists_no_passkey', (await page.locator('#passkeys li').count()) === 0);
  await shot(page, 'removed');

  begin('the removed passkey no longer signs in');
  await page.getByRole('button', { name: 'Sign out this session' }).click();
  await page.getByText('This browser is signed out.').waitFor();
  auth = authorizeUrl(clientId);
  await page.goto(auth.url);
  const refused = page.getByText('That passkey was not accepted');
  const byItself = await refused.waitFor({ timeout: 4000 }).then(() => true, () => false);
  if (!byItself) {
    await page.locator('#passkey-sign-in').click();
    await refused.waitFor();
  }
  check('removed_passkey_refused', page.url().startsWith(`${issuer}/login`), page.url());
  await shot(page, 'refused');
  check('no_page_errors', errors.length === 0, errors);

  await browser.close();
  process.stdout.write(`${JSON.stringify({ ok: true, checks })}\n`);
} catch (err) {
  if (page) await page.screenshot({ path: join(artifacts, 'passkey-failure.png'), fullPage: true }).catch(() => {});
  failed(err);
  await browser.close().catch(() => {});
  process.exit(1);
}
