// The account page (/account, issue 18) in headless Chromium at 375 px with JavaScript OFF for the
// whole of it (the page must not need script): sign in, turn the authenticator app on by reading
// the key the page shows (the code computed here, RFC 6238), see the recovery codes, sign another
// browser's session out, change the password by keyboard. Each page fits 375 px without
// horizontal scrolling, every control is reachable by Tab, and axe-core (WCAG 2 A/AA) finds
// nothing; screenshots of each page are kept. Started by `crates/latch/tests/browser/account.rs`,
// which runs Latch and creates the user, passing in the environment:
//
//   LATCH_ISSUER, USER_EMAIL, USER_PASSWORD, NEW_PASSWORD, ARTIFACTS_DIR, CHROMIUM
//
// Prints one JSON line on stdout, {"ok": true, "checks": {...}} (exit 0), or
// {"ok": false, "step": ..., "error": ...} (exit 1).

import { createHmac } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { env, harness } from './harness.mjs';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const issuer = env('LATCH_ISSUER').replace(/\/$/, '');
const email = env('USER_EMAIL');
const password = env('USER_PASSWORD');
const newPassword = env('NEW_PASSWORD');
const artifacts = env('ARTIFACTS_DIR', 'target/test-artifacts/browser');
const executablePath = env('CHROMIUM', '/usr/bin/chromium');
mkdirSync(artifacts, { recursive: true });

const TIMEOUT = 15_000;
const PHONE = { viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true };
const { checks, log, begin, check, failed } = harness('account');

/** RFC 4648 base32 (no padding) to bytes. */
function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of text.replace(/[\s=]/g, '').toUpperCase()) {
    const i = alphabet.indexOf(c);
    if (i < 0) throw new Error(`not base32: ${c}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The code an authenticator app shows for time step `step` (RFC 6238: HMAC-SHA1, 6 digits). */
function totp(key, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const n = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, '0');
}

const stepNow = () => Math.floor(Date.now() / 1000 / 30);

/** The current time step, once at least 5 s of it remain: a code for the step before must not
 * become two steps old (outside the server's ±1 window) between filling it in and the server
 * checking it. */
async function stepAwayFromItsEnd() {
  const left = 30_000 - (Date.now() % 30_000);
  if (left < 5_000) await new Promise((resolve) => setTimeout(resolve, left + 100));
  return stepNow();
}

/** Follows a form's submission to the page it leads to. */
async function press(page, button) {
  await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: button, exact: true }).click()]);
}

/**
 * The page as it stands: screenshot at 375 px, no horizontal scrolling, every control reachable
 * by Tab, and axe-core's WCAG 2 A/AA rules — run on the same HTML in a page with script allowed
 * (this one has none), served at the same URL so that its stylesheet applies.
 */
async function inspect(page, axeContext, name) {
  await page.screenshot({ path: join(artifacts, `account-${name}-375px.png`), fullPage: true });
  const w = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  check(`${name}_no_horizontal_scroll`, w.scroll <= 375, w);

  const controls = await page.evaluate(() => {
    const all = [...document.querySelectorAll('a[href], button, input:not([type="hidden"]), select, textarea')];
    return all.filter((e) => !e.disabled && e.getClientRects().length > 0).length;
  });
  await page.evaluate(() => document.activeElement?.blur());
  const reached = new Set();
  for (let i = 0; i < controls + 3; i++) {
    await page.keyboard.press('Tab');
    const index = await page.evaluate(() => {
      const all = [...document.querySelectorAll('a[href], button, input:not([type="hidden"]), select, textarea')];
      const shown = all.filter((e) => !e.disabled && e.getClientRects().length > 0);
      return shown.indexOf(document.activeElement);
    });
    if (index >= 0) reached.add(index);
  }
  check(`${name}_every_control_reachable_by_tab`, controls > 0 && reached.size === controls, { controls, reached: reached.size });

  const html = await page.content();
  const url = page.url();
  const axePage = await axeContext.newPage();
  await axePage.route(url, (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html }));
  await axePage.goto(url);
  await axePage.evaluate(axeSource);
  const violations = await axePage.evaluate(async () => {
    const r = await globalThis.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
  await axePage.close();
  checks.axe = checks.axe ?? {};
  checks.axe[name] = violations;
  if (violations.length > 0) throw new Error(`axe violations on ${name}: ${JSON.stringify(violations)}`);
}

/** From a signed-out browser: /account → the hosted login → (a code) → back on /account. */
async function signIn(page, pass, key) {
  await page.goto(`${issuer}/account`);
  await page.waitForURL((u) => u.href.startsWith(`${issuer}/login`));
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(pass);
  await press(page, 'Sign in');
  if (key) {
    await page.waitForURL((u) => u.href.startsWith(`${issuer}/login/second-factor`));
    await page.getByLabel('Code', { exact: true }).fill(totp(key, stepNow()));
    await press(page, 'Verify');
  }
  await page.waitForURL(`${issuer}/account`);
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  timeout: 60_000,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking'],
});
let failurePage;
try {
  const context = await browser.newContext({ ...PHONE, javaScriptEnabled: false });
  const axeContext = await browser.newContext({ ...PHONE, bypassCSP: true });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  failurePage = page;

  begin('sign in to the account page, JavaScript off');
  await signIn(page, password);
  check('account_email', (await page.textContent('#account-email')) === email);
  check('no_script_on_the_page', (await page.locator('script').count()) === 0, await page.locator('script').count());
  await inspect(page, axeContext, 'page');

  begin('turn the authenticator app on from the key shown');
  await press(page, 'Set up an authenticator app');
  check('qr_code_drawn_on_the_server', (await page.locator('.qr svg').count()) === 1);
  const key = base32((await page.textContent('#totp-secret')).trim());
  check('key_is_160_bits', key.length === 20, key.length);
  await inspect(page, axeContext, 'enrol');
  // The previous step's code (accepted: RFC 6238 §5.2), leaving this step's for the next sign-in.
  await page.getByLabel('Code from the app').fill(totp(key, (await stepAwayFromItsEnd()) - 1));
  await press(page, 'Turn on');
  const codes = await page.locator('#recovery-codes li').allTextContents();
  check('ten_recovery_codes_shown', codes.length === 10 && new Set(codes).size === 10, codes.length);
  await inspect(page, axeContext, 'recovery-codes');
  await press(page, 'Continue');
  await page.waitForURL((u) => u.href.startsWith(`${issuer}/account`));
  const status = await page.textContent('#totp-status');
  check('app_on', status.includes('Authenticator app: on'), status);
  check('recovery_codes_left', (await page.textContent('#recovery-status')).includes('10 recovery code(s) left'));

  begin('another browser signs in (password and a code); it is signed out from here');
  const other = await browser.newContext({ ...PHONE, javaScriptEnabled: false });
  const otherPage = await other.newPage();
  otherPage.setDefaultTimeout(TIMEOUT);
  failurePage = otherPage;
  await signIn(otherPage, password, key);
  failurePage = page;
  await page.goto(`${issuer}/account`);
  const sessions = page.locator('ul.sessions > li');
  check('two_sessions_listed', (await sessions.count()) === 2, await sessions.count());
  await inspect(page, axeContext, 'two-sessions');
  const theirs = sessions.filter({ hasNotText: '(this browser)' });
  await Promise.all([page.waitForEvent('load'), theirs.getByRole('button', { name: 'Sign out this session' }).click()]);
  check('session_signed_out_notice', (await page.textContent('[role="status"]')).includes('That session is signed out.'));
  check('one_session_left', (await sessions.count()) === 1, await sessions.count());
  await otherPage.goto(`${issuer}/account`);
  await otherPage.waitForURL((u) => u.href.startsWith(`${issuer}/login`));
  check('other_browser_signed_out', true);
  await other.close();

  begin('change the password, by keyboard');
  await page.getByLabel('Current password').focus();
  await page.keyboard.type(password);
  await page.keyboard.press('Tab');
  await page.keyboard.type(newPassword);
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => document.activeElement.textContent);
  check('tab_reaches_change_password', focused === 'Change password', focused);
  await Promise.all([page.waitForEvent('load'), page.keyboard.press('Enter')]);
  const notice = await page.textContent('[role="status"]');
  check('password_changed', notice.includes('Your password is changed'), notice);
  await inspect(page, axeContext, 'password-changed');

  begin('the new password (and the app) sign in; the old one does not');
  const fresh = await browser.newContext({ ...PHONE, javaScriptEnabled: false });
  const freshPage = await fresh.newPage();
  freshPage.setDefaultTimeout(TIMEOUT);
  failurePage = freshPage;
  await freshPage.goto(`${issuer}/account`);
  await freshPage.waitForURL((u) => u.href.startsWith(`${issuer}/login`));
  await freshPage.getByLabel('Email').fill(email);
  await freshPage.getByLabel('Password').fill(password);
  await press(freshPage, 'Sign in');
  check('old_password_refused', (await freshPage.locator('#login-error').count()) === 1);
  await fresh.close();
  await context.close();
  await axeContext.close();

  process.stdout.write(`${JSON.stringify({ ok: true, checks })}\n`);
  await browser.close();
  process.exit(0);
} catch (err) {
  if (failurePage && !failurePage.isClosed()) {
    await failurePage.screenshot({ path: join(artifacts, 'account-failure.png'), fullPage: true }).catch(() => {});
    log(`failed at ${failurePage.url()}`);
  }
  failed(err);
  await browser.close().catch(() => {});
  process.exit(1);
}
