// Browser run of security keys and passkeys with Chromium's virtual authenticator (CTAP2,
// resident keys, user verification), driven through the DevTools protocol.
//
// kim (group Keyholders) signs in with her password alone at the portal, adds a passkey from
// the dashboard, signs out and signs in with the passkey (no password). Then the test SP,
// whose policy wants a second factor: the password, then the security key. Then the
// authenticator's signature counter is wound back: the next passwordless sign-in is refused.
// Last, kim removes the key: it is no longer listed and no longer signs in.
//
// Environment: IDP_URL, SP_URL, KIM_PASSWORD, SCREENSHOT_DIR. Prints `E2E {...}`.
import { launch, shot, expectText } from './lib.mjs';

const IDP = process.env.IDP_URL;
const SP = process.env.SP_URL;
const results = {};

async function click(page, selector) {
  await Promise.all([page.waitForLoadState('load'), page.click(selector)]);
}

async function signIn(page, landing) {
  await page.goto(`${IDP}/login`);
  await page.fill('#username', 'kim');
  await page.fill('#password', process.env.KIM_PASSWORD);
  await click(page, '#login-form button[type=submit]');
  await expectText(page, 'h1', landing);
}

async function signOut(page) {
  await click(page, '#logout button');
  await page.goto(`${IDP}/login`);
}

// Submits a WebAuthn form and waits for the page its answer leads to.
// A failure the script shows on the page (the browser refused) is thrown with its text.
async function ceremony(page, button) {
  const navigated = page.waitForNavigation({ waitUntil: 'load' });
  await page.click(button);
  const failed = page
    .waitForSelector('[data-webauthn-status]:not([hidden])', { timeout: 14_000 })
    .then(async (el) => { throw new Error(`the ceremony failed: ${await el.textContent()}`); }, () => {});
  await Promise.race([navigated, failed]);
}

const { browser, context, page } = await launch();
try {
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

  // 1. Password alone at the portal, then a passkey from the dashboard.
  await signIn(page, 'Your applications');
  await click(page, '#webauthn-link');
  await expectText(page, 'h1', 'Add a security key or passkey');
  await page.fill('#key-name', 'Laptop passkey');
  await shot(page, 'webauthn-register');
  await ceremony(page, '#webauthn-add');
  results.registered = await expectText(page, '#notice', 'added');
  results.listed = await page.$$eval('#webauthn-keys .key-name', (els) => els.map((e) => e.textContent));
  await shot(page, 'webauthn-dashboard');
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  results.resident = credentials.length === 1 && credentials[0].isResidentCredential;

  // 2. Signed out, back in with the passkey alone.
  await signOut(page);
  await shot(page, 'webauthn-login-page');
  await ceremony(page, '#passkey-sign-in');
  await expectText(page, 'h1', 'Your applications');
  results.passwordless_user = await page.textContent('#who');

  // 3. The test SP wants a second factor: password, then the security key.
  await signOut(page);
  await signIn(page, 'Your applications');
  await Promise.all([page.waitForLoadState('load'), page.click('[data-app="test-sp"] button')]);
  await expectText(page, 'h1', 'Two-step verification');
  results.mfa_offers_key = (await page.$('#use-webauthn')) !== null;
  await shot(page, 'webauthn-second-factor');
  await Promise.all([page.waitForURL(`${SP}/acs`), page.click('#use-webauthn')]);
  await expectText(page, '#status', /^Signed in$/);
  results.sp_nameid = await page.textContent('#nameid');
  await shot(page, 'webauthn-sp');

  // 4. The authenticator's counter wound back (a cloned key): refused.
  const before = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials[0];
  results.count_before = before.signCount;
  await cdp.send('WebAuthn.removeCredential', { authenticatorId, credentialId: before.credentialId });
  await cdp.send('WebAuthn.addCredential', {
    authenticatorId,
    credential: { ...before, signCount: 0 },
  });
  await page.goto(`${IDP}/`);
  await signOut(page);
  await ceremony(page, '#passkey-sign-in');
  results.cloned = await expectText(page, '#error', 'did not sign you in');
  await shot(page, 'webauthn-counter-refused');

  // 5. Removed from the dashboard: no longer listed, no longer signs in.
  await signIn(page, 'Your applications');
  await click(page, '[data-remove="Laptop passkey"]');
  results.removed = await expectText(page, '#notice', 'removed');
  results.listed_after = await page.$$eval('#webauthn-keys .key-name', (els) => els.map((e) => e.textContent));
  await shot(page, 'webauthn-removed');
  await signOut(page);
  await ceremony(page, '#passkey-sign-in');
  results.after_removal = await expectText(page, '#error', 'did not sign you in');
} finally {
  await browser.close();
}
console.log(`E2E ${JSON.stringify(results)}`);
