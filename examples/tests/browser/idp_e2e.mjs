// Browser end-to-end run of the idforge web IdP against the pysaml2 test SP.
//
// Environment: IDP_URL, SP_URL, ALICE_PASSWORD, BOB_PASSWORD, CAROL_PASSWORD, BLOCKED_IP,
// SCREENSHOT_DIR. Prints one JSON line of results on stdout (`E2E {...}`); the Rust test
// that starts the servers checks them and the audit log.
import { launch, totp, shot, expectText } from './lib.mjs';

const IDP = process.env.IDP_URL;
const SP = process.env.SP_URL;
const results = {};

async function fill(page, fields) {
  for (const [selector, value] of Object.entries(fields)) {
    await page.fill(selector, value);
  }
}

async function signIn(page, username, password) {
  await fill(page, { '#username': username, '#password': password });
  await Promise.all([page.waitForLoadState('load'), page.click('#login-form button[type=submit]')]);
}

async function submitCode(page, formId, code) {
  await page.fill('#code', code);
  await Promise.all([page.waitForLoadState('load'), page.click(`${formId} button[type=submit]`)]);
}

async function errorText(page) {
  return (await page.textContent('#error')) || '';
}

const { browser } = await launch();
try {
  // 1. Alice's first sign-in: password, then the enrolment page with the QR code.
  const alice = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
  let page = await alice.newPage();
  await page.goto(`${IDP}/login`);
  await expectText(page, 'h1', 'Sign in');
  results.login_username_empty = (await page.inputValue('#username')) === '';
  await shot(page, 'login');
  await signIn(page, 'alice', process.env.ALICE_PASSWORD);
  await expectText(page, 'h1', 'Set up your authenticator app');
  const secret = (await page.textContent('#totp-secret')).replace(/\s+/g, '');
  const qrLoaded = await page.$eval('#qr', (img) => img.complete && img.naturalWidth > 0);
  results.qr_loaded = qrLoaded;
  await shot(page, 'enrolment');
  // A wrong confirmation code is refused and the same secret stays.
  await submitCode(page, '#enroll-form', '000000' === totp(secret) ? '111111' : '000000');
  results.enrol_wrong = await errorText(page);
  const secretAgain = (await page.textContent('#totp-secret')).replace(/\s+/g, '');
  results.enrol_same_secret = secretAgain === secret;
  await submitCode(page, '#enroll-form', totp(secret));
  await expectText(page, 'h1', 'Your applications');
  results.after_enrol = page.url();
  await shot(page, 'dashboard');
  results.dashboard_apps = await page.$$eval('[data-app]', (els) => els.map((e) => e.dataset.app));

  // 2. Sign out, sign in again with the password and a fresh code (a later step).
  await Promise.all([page.waitForLoadState('load'), page.click('#logout button')]);
  await expectText(page, 'h1', 'Signed out');
  await page.goto(`${IDP}/`);
  await expectText(page, 'h1', 'Sign in');
  await signIn(page, 'alice', process.env.ALICE_PASSWORD);
  await expectText(page, 'h1', 'Two-step verification');
  await shot(page, 'mfa');
  // A wrong code first: refused with a clear message, the form stays.
  await submitCode(page, '#mfa-form', '000000' === totp(secret, 30) ? '111111' : '000000');
  results.wrong_code = await errorText(page);
  await shot(page, 'mfa-wrong-code');
  const fresh = totp(secret, 30);
  await submitCode(page, '#mfa-form', fresh);
  await expectText(page, 'h1', 'Your applications');

  // 3. IdP-initiated: open the test SP from the dashboard and land there signed in.
  await Promise.all([
    page.waitForURL(`${SP}/acs`),
    page.click('[data-app="test-sp"] button'),
  ]);
  await expectText(page, '#status', /^Signed in$/);
  results.idp_initiated = {
    nameid: await page.textContent('#nameid'),
    flow: await page.textContent('#flow'),
    issuer: await page.textContent('#issuer'),
    groups: await page.$$eval('li[data-attr="groups"]', (els) => els.map((e) => e.textContent)),
  };
  await shot(page, 'sp-idp-initiated');

  // 4. The same code again, in another browser: refused as a replay.
  const other = await browser.newContext({ locale: 'en-US' });
  let p2 = await other.newPage();
  await p2.goto(`${IDP}/login`);
  await signIn(p2, 'alice', process.env.ALICE_PASSWORD);
  await expectText(p2, 'h1', 'Two-step verification');
  await submitCode(p2, '#mfa-form', fresh);
  results.replayed_code = await errorText(p2);
  await other.close();

  // 5. SP-initiated (Redirect binding) in a fresh browser: password and a code, then the SP.
  const sp = await browser.newContext({ locale: 'en-US' });
  page = await sp.newPage();
  await page.goto(`${SP}/`);
  await expectText(page, '#status', 'Not signed in');
  await Promise.all([page.waitForURL(`${IDP}/login`), page.click('#login')]);
  results.sp_context = await page.textContent('#context');
  await signIn(page, 'alice', process.env.ALICE_PASSWORD);
  await expectText(page, 'h1', 'Two-step verification');
  await Promise.all([page.waitForURL(`${SP}/acs`), submitCode(page, '#mfa-form', totp(secret, 60))]);
  await expectText(page, '#status', /^Signed in$/);
  results.sp_initiated = {
    nameid: await page.textContent('#nameid'),
    flow: await page.textContent('#flow'),
  };
  await shot(page, 'sp-sp-initiated');
  // Signed in at the IdP now: a second SP-initiated login needs no password (SSO).
  await page.goto(`${SP}/login`);
  await expectText(page, '#status', /^Signed in$/);
  results.sso_without_password = page.url().startsWith(`${SP}/acs`);
  // Single logout from the SP: a signed LogoutRequest to the IdP, a signed LogoutResponse
  // back; the IdP session is gone, so the next login asks for the password again.
  await Promise.all([page.waitForURL(/\/slo\?/), page.click('#logout')]);
  await expectText(page, '#status', 'Signed out');
  await page.goto(`${SP}/login`);
  await page.waitForURL(`${IDP}/login`);
  results.slo_ended_idp_session = await page.isVisible('#password');
  await sp.close();

  // 6. Wrong password, typed with the keyboard only (the user name field has the focus,
  // Tab moves to the password, Enter submits).
  const wrong = await browser.newContext({ locale: 'en-US' });
  page = await wrong.newPage();
  await page.goto(`${IDP}/login`);
  results.autofocus = await page.evaluate(() => document.activeElement && document.activeElement.id);
  await page.keyboard.type('alice');
  await page.keyboard.press('Tab');
  await page.keyboard.type('not-the-password');
  await Promise.all([page.waitForLoadState('load'), page.keyboard.press('Enter')]);
  results.wrong_password = await errorText(page);
  await shot(page, 'login-wrong-password');
  await wrong.close();

  // 7. Bob is in no group of the test SP: refused after his password, SP-initiated.
  const bob = await browser.newContext({ locale: 'en-US' });
  page = await bob.newPage();
  await page.goto(`${SP}/login`);
  await page.waitForURL(`${IDP}/login`);
  await signIn(page, 'bob', process.env.BOB_PASSWORD);
  results.not_in_group = await errorText(page);
  await shot(page, 'not-in-group');
  await bob.close();

  // 8. Carol fails three times and is locked: the right password is refused afterwards.
  const carol = await browser.newContext({ locale: 'en-US' });
  page = await carol.newPage();
  await page.goto(`${IDP}/login`);
  for (let i = 0; i < 3; i += 1) {
    await signIn(page, 'carol', `wrong-${i}`);
  }
  await signIn(page, 'carol', process.env.CAROL_PASSWORD);
  results.locked = await errorText(page);
  results.locked_still_on_login = page.url() === `${IDP}/login`;
  await carol.close();

  // 9. A blocked network (through the trusted proxy's X-Forwarded-For).
  const blocked = await browser.newContext({
    locale: 'en-US',
    extraHTTPHeaders: { 'X-Forwarded-For': process.env.BLOCKED_IP },
  });
  page = await blocked.newPage();
  await page.goto(`${IDP}/login`);
  await signIn(page, 'alice', process.env.ALICE_PASSWORD);
  results.blocked_ip = await errorText(page);
  await shot(page, 'blocked-ip');
  await blocked.close();

  // 10. A phone-sized viewport renders the login page without horizontal scrolling.
  const phone = await browser.newContext({ viewport: { width: 375, height: 740 }, locale: 'en-US' });
  page = await phone.newPage();
  await page.goto(`${IDP}/login`);
  results.phone_overflow = await page.evaluate(
    () => document.documentElement.scrollWidth > window.innerWidth,
  );
  await shot(page, 'login-phone');
  await phone.close();

  await alice.close();
  console.log(`E2E ${JSON.stringify(results)}`);
} catch (e) {
  console.error(e && e.stack ? e.stack : e);
  console.log(`E2E-PARTIAL ${JSON.stringify(results)}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
