// Browser run of the second factors the IdP sends: a code by e-mail, a sign-in link by e-mail
// (refused in another browser, accepted in the one that asked), and a code by SMS when the
// test starts a gateway.
//
// Then security questions: erin sets hers up from the dashboard, and the test SP's policy asks
// two of them (a wrong answer refused, the right ones typed in another case accepted).
//
// Then a welcome mail: frank opens its activation link, chooses a password, signs in and
// enrols an authenticator app.
//
// Environment: IDP_URL, SP_URL, DAVE_PASSWORD, ERIN_PASSWORD, FRANK_PASSWORD, MAIL_LOG (the SMTP peer's JSON
// lines), SMS_LOG (optional: the SMS gateway peer's JSON lines), SCREENSHOT_DIR. Prints
// `E2E {...}`.
import { readFileSync } from 'node:fs';
import { launch, shot, expectText, totp } from './lib.mjs';

const IDP = process.env.IDP_URL;
const results = {};

function records(path) {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
}

// Waits for the `n`th message (1-based) matching `pick` in a JSON-lines log.
async function waitFor(path, n, pick, what) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const found = records(path).filter(pick);
    if (found.length >= n) return found[n - 1];
    if (Date.now() > deadline) throw new Error(`no ${what} after 20 s (${found.length} so far)`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const mailTo = (to, subject) => (r) => r.rcpt_tos.includes(to) && r.subject.includes(subject);

function codeIn(text) {
  const m = /^\s*(\d{6,8})\s*$/m.exec(text);
  if (!m) throw new Error(`no code in ${JSON.stringify(text)}`);
  return m[1];
}

async function signIn(page, username, password, landing = 'Two-step verification') {
  await page.goto(`${IDP}/login`);
  await page.fill('#username', username);
  await page.fill('#password', password);
  await Promise.all([page.waitForLoadState('load'), page.click('#login-form button[type=submit]')]);
  await expectText(page, 'h1', landing);
}

async function click(page, selector) {
  await Promise.all([page.waitForLoadState('load'), page.click(selector)]);
}

async function submitCode(page, code) {
  await page.fill('#code', code);
  await click(page, '#mfa-form button[type=submit]');
}

async function signOut(page) {
  await click(page, '#logout button');
  await expectText(page, 'h1', 'Signed out');
}

const { browser } = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
  const page = await context.newPage();

  // 1. An e-mail code: the page offers it, says where it went, and takes it.
  await signIn(page, 'dave', process.env.DAVE_PASSWORD);
  results.offers = await page.$$eval('.senders button', (els) => els.map((e) => e.id));
  results.code_form_before_sending = (await page.locator('#code').count()) > 0;
  await shot(page, 'mfa-choices');
  await click(page, '#send-email_otp');
  results.code_notice = await expectText(page, '#notice', 'We sent a code to');
  await shot(page, 'mfa-code-sent');
  const first = await waitFor(process.env.MAIL_LOG, 1, mailTo('dave@example.org', 'sign-in code'), 'code mail');
  const firstCode = codeIn(first.text);
  await submitCode(page, firstCode);
  await expectText(page, 'h1', 'Your applications');
  results.email_code_user = (await page.textContent('#who')).trim();
  await signOut(page);

  // 2. The used code again, after asking for a new one: refused; the new one works.
  await signIn(page, 'dave', process.env.DAVE_PASSWORD);
  await click(page, '#send-email_otp');
  await expectText(page, '#notice', 'We sent a code to');
  const second = await waitFor(process.env.MAIL_LOG, 2, mailTo('dave@example.org', 'sign-in code'), 'second code mail');
  await submitCode(page, firstCode);
  results.reused_code = (await page.textContent('#error')) || '';
  // Asking again at once is throttled.
  await click(page, '#send-email_otp');
  results.resend_too_soon = (await page.textContent('#error')) || '';
  await submitCode(page, codeIn(second.text));
  await expectText(page, 'h1', 'Your applications');
  await signOut(page);

  // 3. A sign-in link: useless in another browser, good once in this one.
  await signIn(page, 'dave', process.env.DAVE_PASSWORD);
  await click(page, '#send-email_link');
  results.link_notice = await expectText(page, '#notice', 'We sent a sign-in link to');
  const linkMail = await waitFor(process.env.MAIL_LOG, 1, mailTo('dave@example.org', 'sign-in link'), 'link mail');
  const url = /^(http\S+)$/m.exec(linkMail.text)[1];
  results.link_host = new URL(url).origin;
  const elsewhere = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
  const other = await elsewhere.newPage();
  const otherResponse = await other.goto(url);
  results.link_elsewhere_status = otherResponse.status();
  results.link_elsewhere = await expectText(other, 'main', 'cannot be used here');
  await shot(other, 'link-elsewhere');
  await elsewhere.close();
  await page.goto(url);
  await expectText(page, 'h1', 'Finish signing in');
  await shot(page, 'link');
  await click(page, '#link-continue');
  await expectText(page, 'h1', 'Your applications');
  results.link_user = (await page.textContent('#who')).trim();
  // Used: opening it again in the same browser (now signed in) does not offer it.
  const again = await page.goto(url);
  results.link_again_status = again.status();
  await signOut(page);

  // 4. A code by SMS, when the test runs a gateway.
  if (process.env.SMS_LOG) {
    await signIn(page, 'dave', process.env.DAVE_PASSWORD);
    await click(page, '#send-sms_otp');
    results.sms_notice = await expectText(page, '#notice', 'We sent a code to');
    await shot(page, 'mfa-sms-sent');
    const sms = await waitFor(process.env.SMS_LOG, 1, () => true, 'text message');
    results.sms_to = sms.To || sms.to;
    await submitCode(page, codeIn((sms.Body || sms.body || '').split(' ')[0]));
    await expectText(page, 'h1', 'Your applications');
    results.sms_user = (await page.textContent('#who')).trim();
    await signOut(page);
  }

  // 5. Security questions: set up from the dashboard, asked by the test SP's policy.
  const answers = { pet: 'Mr  Whiskers', street: 'Rue de la Paix', teacher: 'Ms Honey', city: 'Zürich' };
  const typed = { pet: '  mr whiskers ', street: 'RUE DE LA  PAIX', teacher: 'ms   HONEY', city: 'ZÜRICH' };
  await signIn(page, 'erin', process.env.ERIN_PASSWORD, 'Your applications');
  await click(page, '#kba-link');
  await expectText(page, 'h1', 'Choose your security questions');
  const rows = await page.locator('select[id^="question-"]').count();
  for (let n = 0; n < rows; n++) {
    const question = await page.inputValue(`#question-${n}`);
    await page.fill(`#answer-${n}`, answers[question]);
  }
  await shot(page, 'kba-enroll');
  await click(page, '#kba-enroll-form button[type=submit]');
  results.kba_saved = await expectText(page, '#notice', 'security questions are saved');
  await Promise.all([page.waitForLoadState('load'), page.click('[data-app="test-sp"] button')]);
  await expectText(page, 'h1', 'Two-step verification');
  results.kba_offered = (await page.locator('#use-kba').count()) > 0;
  await click(page, '#use-kba');
  await expectText(page, 'h1', 'Security questions');
  const asked = await page.$$eval('input[name^="answer."]', (els) => els.map((e) => e.name.slice('answer.'.length)));
  results.kba_asked = asked.length;
  await shot(page, 'kba');
  for (const [i, id] of asked.entries()) {
    await page.fill(`#answer-${id}`, i === 0 ? 'not my answer' : typed[id]);
  }
  await click(page, '#kba-form button[type=submit]');
  results.kba_wrong = (await page.textContent('#error')) || '';
  const askedAgain = await page.$$eval('input[name^="answer."]', (els) => els.map((e) => e.name.slice('answer.'.length)));
  results.kba_same_questions = JSON.stringify(askedAgain) === JSON.stringify(asked);
  for (const id of askedAgain) {
    await page.fill(`#answer-${id}`, typed[id]);
  }
  await Promise.all([
    page.waitForURL(`${process.env.SP_URL}/acs`),
    page.click('#kba-form button[type=submit]'),
  ]);
  results.kba_sp_status = await expectText(page, '#status', /^Signed in$/);

  // 6. A welcome mail: the activation link, a new password, then the first sign-in enrols an
  //    authenticator app.
  const welcome = await waitFor(process.env.MAIL_LOG, 1, mailTo('frank@example.org', 'Welcome'), 'welcome mail');
  const activation = /^(http\S+)$/m.exec(welcome.text)[1];
  const fresh = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
  const newcomer = await fresh.newPage();
  await newcomer.goto(activation);
  results.activate_greeting = await expectText(newcomer, '#activate-help', 'Frank N. Stein');
  await shot(newcomer, 'activate');
  await newcomer.fill('#password', process.env.FRANK_PASSWORD);
  await newcomer.fill('#confirm', `${process.env.FRANK_PASSWORD}!`);
  await click(newcomer, '#activate-form button[type=submit]');
  results.activate_mismatch = (await newcomer.textContent('#error')) || '';
  await newcomer.fill('#password', process.env.FRANK_PASSWORD);
  await newcomer.fill('#confirm', process.env.FRANK_PASSWORD);
  await click(newcomer, '#activate-form button[type=submit]');
  results.activate_done = await expectText(newcomer, '#notice', 'password is saved');
  results.activate_username = await newcomer.inputValue('#username');
  await shot(newcomer, 'activate-done');
  await newcomer.fill('#password', process.env.FRANK_PASSWORD);
  await click(newcomer, '#login-form button[type=submit]');
  await expectText(newcomer, 'h1', 'Set up your authenticator app');
  const secret = (await newcomer.textContent('#totp-secret')).replace(/\s+/g, '');
  await newcomer.fill('#code', totp(secret));
  await click(newcomer, '#enroll-form button[type=submit]');
  await expectText(newcomer, 'h1', 'Your applications');
  results.activated_user = (await newcomer.textContent('#who')).trim();
  // Backup codes: made once from the dashboard, each good once at the second step.
  await click(newcomer, '#backup-generate');
  await expectText(newcomer, 'h1', 'Backup codes');
  const codes = await newcomer.$$eval('#backup-codes code', (els) => els.map((e) => e.textContent.trim()));
  results.backup_count = codes.length;
  await shot(newcomer, 'backup-codes');
  await click(newcomer, '#backup-done');
  results.backup_left = (await newcomer.textContent('#backup-left')).trim();
  await signOut(newcomer);
  await signIn(newcomer, 'frank', process.env.FRANK_PASSWORD);
  await submitCode(newcomer, codes[0]);
  await expectText(newcomer, 'h1', 'Your applications');
  results.backup_used = (await newcomer.textContent('#backup-left')).trim();
  await signOut(newcomer);
  await signIn(newcomer, 'frank', process.env.FRANK_PASSWORD);
  await submitCode(newcomer, codes[0]);
  results.backup_reused = (await newcomer.textContent('#error')) || '';
  // The security page: factors, recent sign-ins, and removal after a re-authentication.
  await newcomer.goto(`${IDP}/login`);
  await signIn(newcomer, 'frank', process.env.FRANK_PASSWORD);
  await submitCode(newcomer, codes[1]);
  await expectText(newcomer, 'h1', 'Your applications');
  await click(newcomer, '#security-link');
  await expectText(newcomer, 'h1', 'Sign-in security');
  results.security_signins = await newcomer.locator('#signins tbody tr').count();
  await shot(newcomer, 'security');
  await newcomer.fill('#reauth-code', codes[2]);
  await click(newcomer, '#reauth-form button[type=submit]');
  results.security_reauth = await expectText(newcomer, '#notice', 'Confirmed');
  results.security_remove_buttons = await newcomer.locator('form[action="/security/remove"]').count();
  await shot(newcomer, 'security-reauthed');
  await signOut(newcomer);
  await newcomer.goto(`${IDP}/login`);
  // The link is spent.
  const reopened = await newcomer.goto(activation);
  results.activation_reused_status = reopened.status();
  await fresh.close();

  // 7. The page on a phone: nothing wider than the screen.
  const phone = await browser.newContext({ viewport: { width: 360, height: 740 }, locale: 'en-US' });
  const small = await phone.newPage();
  await signIn(small, 'dave', process.env.DAVE_PASSWORD);
  results.phone_overflow = await small.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  await shot(small, 'mfa-choices-phone');
  await phone.close();
  console.log(`E2E ${JSON.stringify(results)}`);
} finally {
  await browser.close();
}
