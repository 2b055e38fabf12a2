// A minimal single-page app signing in with Latch through oidc-client-ts (authorization code + PKCE).
// `/config.js` sets window.LATCH_SPA = { authority, clientId, name } for this origin.
/* global oidc */
'use strict';

const config = window.LATCH_SPA;
const here = window.location.origin;

const userManager = new oidc.UserManager({
  authority: config.authority,
  client_id: config.clientId,
  redirect_uri: `${here}/callback.html`,
  post_logout_redirect_uri: `${here}/index.html`,
  response_type: 'code',
  // offline_access: a refresh token, so signinSilent() refreshes without an iframe.
  scope: 'openid profile email offline_access',
  loadUserInfo: false,
  // On sign-out, revoke the access and refresh tokens at the revocation endpoint (cross-origin, CORS).
  revokeTokensOnSignout: true,
  automaticSilentRenew: false,
});
// For the end-to-end test to look at the tokens.
window.latchSpa = { userManager };

const $ = (id) => document.getElementById(id);

function showError(err) {
  $('error').textContent = String((err && err.message) || err);
}

async function render() {
  const user = await userManager.getUser();
  const signedIn = Boolean(user && !user.expired);
  $('title').textContent = config.name;
  $('status').textContent = signedIn ? `Signed in as ${user.profile.email}` : 'Signed out';
  $('status').dataset.state = signedIn ? 'signed-in' : 'signed-out';
  $('sign-in').hidden = signedIn;
  for (const id of ['userinfo', 'refresh', 'sign-out']) $(id).hidden = !signedIn;
  if (!signedIn) $('userinfo-result').hidden = true;
}

async function callUserinfo() {
  const user = await userManager.getUser();
  const endpoint = await userManager.metadataService.getUserInfoEndpoint();
  // Cross-origin with an Authorization header: the browser sends a CORS preflight first.
  const response = await fetch(endpoint, { headers: { Authorization: `Bearer ${user.access_token}` } });
  if (!response.ok) throw new Error(`userinfo answered ${response.status}`);
  const claims = await response.json();
  $('userinfo-result').textContent = JSON.stringify(claims, null, 2);
  $('userinfo-result').hidden = false;
}

async function refresh() {
  // With a refresh token in hand, signinSilent() uses the refresh_token grant (no iframe).
  await userManager.signinSilent();
  const count = Number($('refreshes').dataset.count) + 1;
  $('refreshes').dataset.count = String(count);
  $('refreshes').textContent = `Tokens refreshed ${count} time(s)`;
}

function on(id, action) {
  $(id).addEventListener('click', () => {
    $('error').textContent = '';
    action().then(render, showError);
  });
}

async function main() {
  const url = new URL(window.location.href);
  if (url.pathname === '/callback.html') {
    // Back from Latch with ?code=…&state=…: oidc-client-ts checks state and redeems the code with the PKCE verifier.
    await userManager.signinRedirectCallback();
    window.location.replace('/index.html');
    return;
  }
  if (url.searchParams.has('state')) {
    // Back from Latch's /oidc/logout with the state of our sign-out request.
    // oidc-client-ts checks that the state is the one it sent.
    const response = await userManager.signoutRedirectCallback();
    $('notice').textContent = `You signed out (${response.userState.reason}).`;
    window.history.replaceState(null, '', '/index.html');
  }
  on('sign-in', () => userManager.signinRedirect());
  on('userinfo', callUserinfo);
  on('refresh', refresh);
  // Sends id_token_hint, post_logout_redirect_uri and state to Latch's end_session_endpoint (/oidc/logout).
  on('sign-out', () => userManager.signoutRedirect({ state: { reason: 'sign-out button' } }));
  await render();
}

main().catch(showError);
