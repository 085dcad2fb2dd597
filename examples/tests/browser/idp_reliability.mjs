// Two IdP instances on one PostgreSQL store, and a restart, seen from the browser.
//
// PHASE=shared: sign in on instance A (password and code), find the session on instance B,
// open the test SP from B's dashboard, and try the same code on B in another browser.
// The cookies are saved to STATE_FILE. PHASE=restart (after the test restarted A): the saved
// session still opens A's dashboard, with the enrolment listed.
// Environment: IDP_A, IDP_B, SP_URL, ALICE_PASSWORD, TOTP_SECRET, STATE_FILE, SCREENSHOT_DIR.
import { launch, totp, shot, expectText } from './lib.mjs';

const A = process.env.IDP_A;
const B = process.env.IDP_B;
const SP = process.env.SP_URL;
const results = {};

async function signIn(page, base, code) {
  await page.goto(`${base}/login`);
  await page.fill('#username', 'alice');
  await page.fill('#password', process.env.ALICE_PASSWORD);
  await Promise.all([page.waitForLoadState('load'), page.click('#login-form button[type=submit]')]);
  await expectText(page, 'h1', 'Two-step verification');
  await page.fill('#code', code);
  await Promise.all([page.waitForLoadState('load'), page.click('#mfa-form button[type=submit]')]);
}

const { browser } = await launch();
try {
  if (process.env.PHASE === 'shared') {
    const context = await browser.newContext({ locale: 'en-US' });
    const page = await context.newPage();
    const code = totp(process.env.TOTP_SECRET, 0);
    await signIn(page, A, code);
    await expectText(page, 'h1', 'Your applications');
    // Cookies belong to the host, not the port: instance B gets the same session.
    await page.goto(`${B}/`);
    results.b_signed_in = (await page.textContent('h1')) === 'Your applications';
    await shot(page, 'instance-b-dashboard');
    await Promise.all([page.waitForURL(`${SP}/acs`), page.click('[data-app="test-sp"] button')]);
    await expectText(page, '#status', /^Signed in$/);
    results.sso_from_b = await page.textContent('#nameid');
    await context.storageState({ path: process.env.STATE_FILE });
    // The code used on A, on B in another browser: refused.
    const other = await browser.newContext({ locale: 'en-US' });
    const p2 = await other.newPage();
    await signIn(p2, B, code);
    results.replay_on_b = (await p2.textContent('#error')) || '';
    await other.close();
    await context.close();
  } else {
    const context = await browser.newContext({ locale: 'en-US', storageState: process.env.STATE_FILE });
    const page = await context.newPage();
    await page.goto(`${A}/`);
    results.after_restart = await page.textContent('h1');
    results.factors = await page.$$eval('#factors li', (els) => els.map((e) => e.textContent));
    await context.close();
  }
  console.log(`E2E ${JSON.stringify(results)}`);
} catch (e) {
  console.error(e && e.stack ? e.stack : e);
  console.log(`E2E-PARTIAL ${JSON.stringify(results)}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
