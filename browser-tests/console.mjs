// The admin console (/admin) in headless Chromium, driven by playwright-core. Started by
// `crates/latch/tests/browser.rs`, which runs Latch and creates an admin and a plain user with the
// CLI, and passes in the environment:
//
//   LATCH_ISSUER, ADMIN_EMAIL, ADMIN_PASSWORD, USER_EMAIL, USER_PASSWORD,
//   SPA_URL (an origin serving examples/spa), SPA_CONFIG_FILE (its config.js, written here once
//   the SPA is created in the console), BACKCHANNEL_URL (a back-channel logout receiver),
//   ARTIFACTS_DIR (screenshots), CHROMIUM (default /usr/bin/chromium)
//
// Prints one JSON line on stdout, {"ok": true, "checks": {...}} (exit 0), or
// {"ok": false, "step": ..., "error": ...} (exit 1). Every console page is screenshot (1024 px and
// 375 px) and checked with axe-core (WCAG 2 A/AA rules).

import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import { env, harness } from './harness.mjs';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const issuer = env('LATCH_ISSUER').replace(/\/$/, '');
const adminEmail = env('ADMIN_EMAIL');
const adminPassword = env('ADMIN_PASSWORD');
const userEmail = env('USER_EMAIL');
const userPassword = env('USER_PASSWORD');
const spaUrl = env('SPA_URL').replace(/\/$/, '');
const spaConfigFile = env('SPA_CONFIG_FILE');
const backchannelUrl = env('BACKCHANNEL_URL');
const artifacts = env('ARTIFACTS_DIR', 'target/test-artifacts/browser');
const executablePath = env('CHROMIUM', '/usr/bin/chromium');
mkdirSync(artifacts, { recursive: true });

const TIMEOUT = 15_000;
const { checks, log, begin, check, failed } = harness('console-test');

async function signIn(page, email, password) {
  await page.goto(`${issuer}/admin`);
  await page.waitForURL((u) => u.href.startsWith(`${issuer}/login`));
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** axe-core's WCAG 2 A/AA rules on the page; the violations' ids (none expected). */
async function axe(page, name) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const r = await globalThis.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.map((n) => n.target.join(" ")).slice(0, 5) }));
  });
  checks.axe = checks.axe ?? {};
  checks.axe[name] = result;
  if (result.length > 0) throw new Error(`axe violations on ${name}: ${JSON.stringify(result)}`);
}

async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `console-${name}.png`), fullPage: true });
}

/** Follows a form's submission to the page it leads to. */
async function submit(page, button) {
  await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: button, exact: true }).click()]);
}

const nav = (page, name) => page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name, exact: true });

async function tokenRequest(clientId, secret) {
  const r = await fetch(`${issuer}/oauth/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
    },
    body: 'grant_type=client_credentials',
  });
  return r.status;
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  timeout: 60_000,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

let failurePage = null;
try {
  // ---- A user without the admin flag is refused ------------------------------------------------
  begin('a non-admin is refused');
  const userContext = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  const userPage = await userContext.newPage();
  userPage.setDefaultTimeout(TIMEOUT);
  failurePage = userPage;
  await signIn(userPage, userEmail, userPassword);
  await userPage.waitForURL((u) => u.href.startsWith(`${issuer}/admin/callback`));
  const refusal = await userPage.textContent('main');
  check('non_admin_refused', refusal.includes('not an administrator'), refusal);
  await shot(userPage, 'refused');

  // ---- The admin signs in ----------------------------------------------------------------------
  begin('the admin signs in through the hosted login');
  // axe-core is injected by the test, not by the page: the console's CSP allows no script.
  const context = await browser.newContext({ viewport: { width: 1024, height: 768 }, bypassCSP: true });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: issuer });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  failurePage = page;
  await signIn(page, adminEmail, adminPassword);
  await page.waitForURL(`${issuer}/admin/applications`);
  check('admin_signed_in', (await page.textContent('.console-bar')).includes(adminEmail));
  await shot(page, 'applications');
  await axe(page, 'applications');

  begin('keyboard: skip link first, then the navigation');
  await page.keyboard.press('Tab');
  check('keyboard_skip_link', (await page.evaluate(() => document.activeElement.textContent)) === 'Skip to content');
  await page.keyboard.press('Tab');
  check('keyboard_nav', (await page.evaluate(() => document.activeElement.textContent)) === 'Applications');
  const order = [];
  for (let i = 0; i < 6; i++) {
    await page.keyboard.press('Tab');
    order.push(await page.evaluate(() => document.activeElement.textContent));
  }
  const expected = ['Users', 'Organizations', 'Roles', 'APIs', 'Signing keys', 'Audit log'];
  check('keyboard_nav_new_sections', JSON.stringify(order) === JSON.stringify(expected), order);

  // ---- Create a web application and copy its secret ---------------------------------------------
  begin('create a web application');
  await page.getByLabel('Application name').fill('Billing');
  await page.getByLabel('Web application').check();
  await page.getByRole('button', { name: 'Create application' }).click();
  await page.waitForSelector('#client-secret');
  check('secret_shown_once', (await page.textContent('main')).includes("you won't see it again"));
  const clientId = await page.inputValue('#client-id');
  const firstSecret = await page.inputValue('#client-secret');
  check('secret_copied', firstSecret.length >= 40, firstSecret.length);
  await page.getByRole('button', { name: 'Copy client secret' }).click();
  const clipboard = await page.evaluate(() => navigator.clipboard.readText());
  check('secret_copied_to_clipboard', clipboard === firstSecret);
  await shot(page, 'secret');
  await axe(page, 'secret');
  check('first_secret_works', (await tokenRequest(clientId, firstSecret)) === 200);

  begin('a redirect the API refuses shows its message');
  await page.getByRole('link', { name: 'Back to the application' }).click();
  await page.waitForSelector('#post-login');
  const applicationUrl = page.url();
  await page.getByLabel('Post-login URLs (one per line)').fill('http://billing.example/callback');
  await page.getByRole('button', { name: 'Save redirects' }).click();
  const alert = await page.textContent('#redirect-error');
  check('redirect_error_shown', alert.includes('must use https'), alert);
  await shot(page, 'redirect-error');
  await axe(page, 'application');
  await page.getByLabel('Post-login URLs (one per line)').fill('https://billing.example/callback');
  await page.getByRole('button', { name: 'Save redirects' }).click();
  await page.waitForSelector('#redirect-error', { state: 'detached' });
  check('redirect_saved', (await page.inputValue('#post-login')) === 'https://billing.example/callback');

  begin('a second secret, then the first revoked');
  await page.getByRole('button', { name: 'Generate a new secret' }).click();
  await page.waitForSelector('#client-secret');
  const secondSecret = await page.inputValue('#client-secret');
  await page.getByRole('link', { name: 'Back to the application' }).click();
  await page.getByRole('button', { name: /Revoke secret/ }).first().click();
  await page.waitForSelector('button:has-text("Revoke")');
  check('revoked_secret_refused', (await tokenRequest(clientId, firstSecret)) === 401);
  check('new_secret_works', (await tokenRequest(clientId, secondSecret)) === 200);
  await shot(page, 'application');

  // ---- An SPA with a back-channel logout URL, signed in to through the hosted login -----------------
  begin('create an SPA with a back-channel logout URL');
  await nav(page, 'Applications').click();
  await page.getByLabel('Application name').fill('Storefront');
  await page.getByLabel('Single-page application (SPA)').check();
  await submit(page, 'Create application');
  const spaApplicationUrl = page.url();
  const spaClientId = await page.inputValue('#client-id');
  checks.spa_client_id = spaClientId;
  await page.getByLabel('Post-login URLs (one per line)').fill(`${spaUrl}/callback.html`);
  await page.getByLabel('Post-logout URLs (one per line)').fill(`${spaUrl}/index.html`);
  await page.getByLabel('Back-channel logout URL').fill(backchannelUrl);
  await submit(page, 'Save redirects');
  check('spa_created', page.url() === spaApplicationUrl && (await page.inputValue('#backchannel')) === backchannelUrl, page.url());
  writeFileSync(spaConfigFile, `window.LATCH_SPA = ${JSON.stringify({ authority: issuer, clientId: spaClientId, name: 'Storefront' })};\n`);

  begin('the user signs in to the SPA through the hosted login');
  const spaContext = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  const spaPage = await spaContext.newPage();
  spaPage.setDefaultTimeout(TIMEOUT);
  failurePage = spaPage;
  await spaPage.goto(`${spaUrl}/index.html`);
  await spaPage.getByRole('button', { name: 'Sign in' }).click();
  await spaPage.waitForURL((u) => u.href.startsWith(`${issuer}/login`));
  await spaPage.getByLabel('Email').fill(userEmail);
  await spaPage.getByLabel('Password').fill(userPassword);
  await spaPage.getByRole('button', { name: 'Sign in' }).click();
  await spaPage.waitForSelector('#status[data-state="signed-in"]');
  const spaRefreshToken = await spaPage.evaluate(async () => (await window.latchSpa.userManager.getUser())?.refresh_token ?? null);
  check('spa_signed_in', typeof spaRefreshToken === 'string', spaRefreshToken !== null);
  failurePage = page;

  // ---- End the user's session --------------------------------------------------------------------
  begin("end the user's session");
  await page.getByRole('link', { name: 'Users' }).click();
  await page.getByLabel('Find a user by email').fill(userEmail);
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('link', { name: userEmail }).click();
  await page.waitForSelector('text=Latch admin console');
  await shot(page, 'user');
  await axe(page, 'user');
  await page.getByRole('button', { name: 'End all sessions' }).click();
  await page.waitForSelector('text=No active session.');
  check('session_ended', true);
  // The user's browser is signed out of Latch: the console sends it to the login page again.
  await userPage.goto(`${issuer}/admin`);
  await userPage.waitForURL((u) => u.href.startsWith(`${issuer}/login`));
  check('user_must_sign_in_again', true);
  await axe(page, 'users');

  begin("the SPA's refresh fails; its back-channel delivery shows as delivered");
  const refreshed = await fetch(`${issuer}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: spaRefreshToken, client_id: spaClientId }),
  });
  const refreshBody = await refreshed.json();
  await spaPage.getByRole('button', { name: 'Refresh tokens' }).click();
  await spaPage.waitForFunction(() => document.getElementById('error').textContent !== '');
  const spaError = await spaPage.textContent('#error');
  check('spa_refresh_fails_after_end', refreshed.status === 400 && refreshBody.error === 'invalid_grant' && spaError !== '', { status: refreshed.status, body: refreshBody, spaError });
  await spaContext.close();
  let delivery = '';
  for (let i = 0; i < 50 && !delivery.startsWith('delivered'); i++) {
    if (i > 0) await page.waitForTimeout(200);
    await page.goto(spaApplicationUrl);
    delivery = (await page.locator('td.delivery-status').first().textContent().catch(() => '')) ?? '';
  }
  check('delivery_delivered', delivery.startsWith('delivered'), delivery);
  await page.locator('#deliveries-heading').scrollIntoViewIfNeeded();
  await shot(page, 'spa-deliveries');
  await axe(page, 'spa');

  // ---- Roles, APIs, organizations ------------------------------------------------------------------
  begin('create a role');
  await nav(page, 'Roles').click();
  await page.waitForURL(`${issuer}/admin/roles`);
  await page.getByLabel('Role name').fill('billing admin');
  await page.getByLabel('Description (optional)').fill('Manages invoices');
  await page.getByLabel('Permissions (one per line)').fill('read:invoices\nwrite:invoices');
  await submit(page, 'Create role');
  check('role_created', (await page.inputValue('#role-name')) === 'billing admin' && page.url().startsWith(`${issuer}/admin/roles/`), page.url());
  await axe(page, 'role');
  await nav(page, 'Roles').click();
  await page.waitForSelector('a:has-text("billing admin")');
  await shot(page, 'roles');
  await axe(page, 'roles');

  begin('create an API');
  await nav(page, 'APIs').click();
  await page.waitForURL(`${issuer}/admin/apis`);
  await page.getByLabel('Identifier').fill('https://billing.example/api');
  await page.getByLabel('API name').fill('Billing API');
  await page.getByLabel('Permissions (one per line)').fill('read:invoices');
  await page.getByLabel('Access-token lifetime (seconds, 60–86400)').fill('600');
  await page.getByLabel('Allow offline access').check();
  await submit(page, 'Create API');
  check('api_created', (await page.inputValue('#api-ttl')) === '600' && (await page.isChecked('#api-offline')), page.url());
  await axe(page, 'api');
  await nav(page, 'APIs').click();
  await page.waitForSelector('a:has-text("Billing API")');
  await shot(page, 'apis');
  await axe(page, 'apis');

  begin('create an organization and add the user with the role, by keyboard');
  await nav(page, 'Organizations').click();
  await page.waitForURL(`${issuer}/admin/organizations`);
  await page.getByLabel('Name', { exact: true }).fill('acme');
  await page.getByLabel('Display name (optional)').fill('Acme Corp');
  await submit(page, 'Create organization');
  check('organization_created', (await page.inputValue('#org-name')) === 'acme', page.url());
  const organizationUrl = page.url();
  await page.focus('#member-email');
  await page.keyboard.type(userEmail);
  await page.keyboard.press('Tab');
  await page.keyboard.type('billing admin');
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => document.activeElement.textContent);
  await Promise.all([page.waitForEvent('load'), page.keyboard.press('Enter')]);
  check('member_added_by_keyboard', focused === 'Add member', focused);
  const memberRoles = await page.inputValue('tr.member input[name=roles]');
  const memberText = await page.textContent('tr.member');
  check('member_added_with_role', memberRoles === 'billing admin' && memberText.includes(userEmail), { memberRoles, memberText });

  begin('create an invitation: its link shown once');
  await page.getByLabel('Email to invite').fill('grace@example.com');
  await page.getByLabel('Roles for the new member').fill('billing admin');
  await submit(page, 'Create invitation');
  const invitationUrl = await page.inputValue('#invitation-url');
  check('invitation_url_shown', invitationUrl.startsWith(`${issuer}/invitations/accept?token=`), invitationUrl);
  await page.getByRole('button', { name: 'Copy invitation link' }).click();
  check('invitation_copied_to_clipboard', (await page.evaluate(() => navigator.clipboard.readText())) === invitationUrl);
  await shot(page, 'invitation');
  await axe(page, 'invitation');
  await page.getByRole('link', { name: 'Back to the organization' }).click();
  await page.waitForSelector('tr.invitation');
  const invitationRow = await page.textContent('tr.invitation');
  const pageText = await page.content();
  check('invitation_listed', invitationRow.includes('grace@example.com') && invitationRow.includes('pending') && !pageText.includes(invitationUrl.split('token=')[1]), invitationRow);
  await shot(page, 'organization');
  await axe(page, 'organization');
  await nav(page, 'Organizations').click();
  await page.waitForSelector('a:has-text("acme")');
  await shot(page, 'organizations');
  await axe(page, 'organizations');

  // ---- Rotate a key ---------------------------------------------------------------------------------
  begin('rotate a key');
  await page.getByRole('link', { name: 'Signing keys' }).click();
  await page.getByRole('button', { name: 'Rotate key' }).click();
  await page.waitForSelector('td.key-state:has-text("next")');
  check('key_rotated', true);
  await shot(page, 'keys');
  await axe(page, 'keys');

  // ---- The audit log ---------------------------------------------------------------------------------
  begin('find the events in the audit log');
  let found = false;
  for (let i = 0; i < 30 && !found; i++) {
    await page.goto(`${issuer}/admin/audit`);
    const text = await page.textContent('main');
    found = text.includes('key.rotate') && text.includes('secret.revoked') && text.includes('session.ended');
    if (!found) await page.waitForTimeout(200);
  }
  check('audit_events_visible', found);
  await page.getByLabel('Type').fill('secret.revoked');
  await page.getByRole('button', { name: 'Filter' }).click();
  const rows = await page.locator('tr.audit-event').count();
  check('audit_filtered', rows === 1, rows);
  await shot(page, 'audit');
  await axe(page, 'audit');

  // ---- 375 px -------------------------------------------------------------------------------------------
  begin('every console page fits 375 px');
  const phone = await browser.newContext({
    viewport: { width: 375, height: 740 },
    isMobile: true,
    hasTouch: true,
    storageState: await context.storageState(),
  });
  const phonePage = await phone.newPage();
  phonePage.setDefaultTimeout(TIMEOUT);
  failurePage = phonePage;
  const widths = {};
  const phonePages = Object.fromEntries(['applications', 'users', 'organizations', 'roles', 'apis', 'keys', 'audit'].map((p) => [p, `${issuer}/admin/${p}`]));
  phonePages.organization = organizationUrl;
  phonePages.spa = spaApplicationUrl;
  for (const [name, url] of Object.entries(phonePages)) {
    await phonePage.goto(url);
    widths[name] = await phonePage.evaluate(() => document.documentElement.scrollWidth);
    await phonePage.screenshot({ path: join(artifacts, `console-${name}-375px.png`), fullPage: true });
  }
  check('phone_no_horizontal_scroll', Object.values(widths).every((w) => w <= 375), widths);
  // This context keeps the CSP: the console's script loads under it and shows the copy button.
  await phonePage.goto(applicationUrl);
  await phonePage.getByRole('button', { name: 'Copy client ID' }).waitFor({ state: 'visible' });
  check('script_runs_under_csp', true);
  await phonePage.screenshot({ path: join(artifacts, 'console-application-375px.png'), fullPage: true });
  await phone.close();

  process.stdout.write(`${JSON.stringify({ ok: true, checks })}\n`);
  await browser.close();
  process.exit(0);
} catch (err) {
  if (failurePage && !failurePage.isClosed()) {
    await failurePage.screenshot({ path: join(artifacts, 'console-failure.png'), fullPage: true }).catch(() => {});
    log(`failed at ${failurePage.url()}`);
  }
  failed(err);
  await browser.close().catch(() => {});
  process.exit(1);
}
