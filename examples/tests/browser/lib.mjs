// Helpers for the browser end-to-end scripts: Debian's Chromium driven by playwright-core.
//
//   launch(options)                   -> { browser, context, page }  (fresh profile, headless)
//   totp(secretBase32, offsetSeconds) -> the RFC 6238 code (SHA-1, 6 digits, 30 s) as a string
//   shot(page, name)                  -> path of a full-page PNG in $SCREENSHOT_DIR
//   expectText(page, selector, text)  -> the element's text once it contains `text`;
//                                        otherwise throws (URL, actual text, screenshot path)
//   runScript(fn)                     -> runs fn({ browser, context, page }), closes the
//                                        browser, exits 1 with the error on failure
import { createHmac } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.IDFORGE_CHROMIUM || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Containers often have a small /dev/shm; Chromium then crashes on large pages.
  '--disable-dev-shm-usage',
];

const DEFAULT_TIMEOUT_MS = 15_000;

// Starts Chromium. playwright's launch() gives every browser its own temporary
// user-data-dir (removed on close), so each call starts from an empty profile:
// no cookies or storage carried over between scripts.
export async function launch({ timeoutMs = DEFAULT_TIMEOUT_MS, viewport = { width: 1280, height: 900 } } = {}) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
  });
  const context = await browser.newContext({ viewport, locale: 'en-US' });
  context.setDefaultTimeout(timeoutMs);
  context.setDefaultNavigationTimeout(timeoutMs);
  const page = await context.newPage();
  return { browser, context, page };
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

// RFC 4648 base32 (case-insensitive; spaces, dashes and '=' padding ignored).
export function base32Decode(text) {
  const clean = text.toUpperCase().replace(/[\s=-]/g, '');
  const out = [];
  let bits = 0;
  let value = 0;
  for (const ch of clean) {
    const index = BASE32.indexOf(ch);
    if (index < 0) throw new Error(`base32: invalid character ${JSON.stringify(ch)}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
    value &= (1 << bits) - 1;
  }
  return Buffer.from(out);
}

// HOTP (RFC 4226) value for a counter.
export function hotp(key, counter, digits = 6, algorithm = 'sha1') {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm, key).update(message).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

// TOTP (RFC 6238) for now + offsetSeconds: SHA-1, 6 digits, 30-second steps by default.
export function totp(secretBase32, offsetSeconds = 0, { digits = 6, period = 30, algorithm = 'sha1', now = Date.now() } = {}) {
  const counter = Math.floor((now / 1000 + offsetSeconds) / period);
  return hotp(base32Decode(secretBase32), counter, digits, algorithm);
}

export function screenshotDir() {
  const dir = process.env.SCREENSHOT_DIR || process.env.IDFORGE_SCREENSHOT_DIR || join(tmpdir(), 'idforge-screenshots');
  mkdirSync(dir, { recursive: true });
  return dir;
}

// Saves a full-page PNG named after `name`; returns its path.
export async function shot(page, name) {
  const file = join(screenshotDir(), `${String(name).replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 120)}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

function matches(actual, expected) {
  return expected instanceof RegExp ? expected.test(actual) : actual.includes(expected);
}

// Waits until the first element matching `selector` has text containing `text`
// (a string, or a RegExp to test). Returns that text. On timeout throws an error
// giving the selector, the expected and actual text, the page URL and a screenshot.
export async function expectText(page, selector, text, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
  const deadline = Date.now() + timeoutMs;
  let actual = null;
  for (;;) {
    try {
      const element = page.locator(selector).first();
      actual = (await element.count()) > 0 ? (await element.innerText({ timeout: 1_000 })).trim() : null;
      if (actual !== null && matches(actual, text)) return actual;
    } catch {
      // The page navigated or the element went away between the calls: look again.
    }
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  let picture;
  try {
    picture = await shot(page, `failed-${Date.now()}-${selector}`);
  } catch (e) {
    picture = `(no screenshot: ${e.message})`;
  }
  const found = actual === null ? 'no such element' : `its text is ${JSON.stringify(actual)}`;
  let title = '';
  try {
    title = await page.title();
  } catch {
    // leave it empty
  }
  throw new Error(
    `expected ${selector} to contain ${text instanceof RegExp ? text : JSON.stringify(text)}, but ${found}\n` +
      `  page: ${page.url()} (title ${JSON.stringify(title)})\n` +
      `  screenshot: ${picture}`,
  );
}

// For a script's top level: await runScript(async ({ page }) => { ... }).
export async function runScript(fn, options) {
  const session = await launch(options);
  try {
    await fn(session);
  } catch (e) {
    console.error(e instanceof Error ? e.stack || e.message : e);
    try {
      console.error(`screenshot: ${await shot(session.page, `error-${Date.now()}`)}`);
    } catch {
      // the page is gone
    }
    process.exitCode = 1;
  } finally {
    await session.browser.close();
  }
}
