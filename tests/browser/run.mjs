// The citizen's story in a real browser (Debian's Chromium, driven by playwright-core), by
// keyboard, in German and English, with axe-core on every page and screenshots at 1280 and 375 px.
//
// It starts its own local runner (target/debug/local-runner, built by scripts/browser-test.sh) on
// a free port and needs the environment of `.local/env.sh` (scripts/bootstrap.sh). Artefacts
// (screenshots, the runner's log, axe reports) go to tests/artifacts/browser/.
//
//   node tests/browser/run.mjs            (from the repository root or anywhere)
//   RUNNER_BIN=…/local-runner  CHROMIUM=…/chromium  KEEP_RUNNING=1  to override
//
// The last line is "N passed, M failed"; the exit code is 0 only when nothing failed.

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, openSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const ART = join(ROOT, 'tests', 'artifacts', 'browser');
const RUNNER_BIN = process.env.RUNNER_BIN || join(process.env.CARGO_TARGET_DIR || join(ROOT, 'target'), 'debug', 'local-runner');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ADMIN_KEY = `browser-test-${process.pid}-${Date.now()}`;
const RUN = Date.now().toString(36);
const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'];
const WIDTHS = [1280, 375];

// ---- results ------------------------------------------------------------------------------------

let passed = 0;
let failed = 0;
const failures = [];
const axeSummary = [];

function pass(name) {
  passed += 1;
  console.log(`  ok    ${name}`);
}

function fail(name, error) {
  failed += 1;
  const message = error instanceof Error ? error.message : String(error);
  failures.push(`${name}: ${message}`);
  console.log(`  FAIL  ${name}\n        ${message.split('\n').join('\n        ')}`);
}

/** A check that may fail without stopping the story. */
async function check(name, fn) {
  try {
    await fn();
    pass(name);
    return true;
  } catch (e) {
    fail(name, e);
    return false;
  }
}

/** A step the rest of the story needs: a failure ends the story (it is counted once). */
async function step(name, fn) {
  try {
    const value = await fn();
    pass(name);
    return value;
  } catch (e) {
    fail(name, e);
    throw new StoryAborted(name);
  }
}

class StoryAborted extends Error {}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

function assertEq(actual, expected, what) {
  if (actual !== expected) {
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the local runner ---------------------------------------------------------------------------

function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

let runner = null;
let base = '';

async function startRunner() {
  for (const v of ['TERMINAGENT_DDB_JAR', 'TERMINAGENT_DDB_LIB', 'TERMINAGENT_MOTO_SERVER']) {
    assert(process.env[v], `${v} is not set: run scripts/bootstrap.sh and source .local/env.sh`);
  }
  assert(existsSync(RUNNER_BIN), `${RUNNER_BIN} is missing: cargo build -p local-runner`);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const log = openSync(join(ART, 'runner.log'), 'w');
  runner = spawn(RUNNER_BIN, [], {
    cwd: ROOT,
    // The proof of work enforced, as in production: the form's widget solves it in the browser.
    env: { ...process.env, PORT: String(port), ADMIN_KEY, RUST_LOG: process.env.RUST_LOG || 'warn', CHALLENGE_MODE: 'enforce', CHALLENGE_MAX_NUMBER: '20000' },
    stdio: ['ignore', log, log],
  });
  let exited = null;
  runner.on('exit', (code, signal) => { exited = { code, signal }; });
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`the runner exited (${JSON.stringify(exited)}); see ${join(ART, 'runner.log')}`);
    try {
      const r = await fetch(`${base}/api/offices`);
      if (r.ok) return;
    } catch { /* not up yet */ }
    await sleep(250);
  }
  throw new Error('the runner did not answer within 180 s');
}

async function stopRunner() {
  if (!runner || runner.exitCode !== null) return;
  const gone = new Promise((r) => runner.once('exit', r));
  runner.kill('SIGINT'); // the runner stops its emulators on Ctrl-C
  const timer = setTimeout(() => runner.kill('SIGKILL'), 20_000);
  await gone;
  clearTimeout(timer);
}

// ---- HTTP helpers -------------------------------------------------------------------------------

async function api(method, path, body, { admin = false, json = true } = {}) {
  const headers = { accept: 'application/json' };
  if (admin) headers.authorization = `Bearer ${ADMIN_KEY}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(path.startsWith('http') ? path : base + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let data = text;
  if (json) { try { data = JSON.parse(text); } catch { /* keep text */ } }
  return { status: r.status, data };
}

/** A proof of work for an API submission: a challenge from the API, solved by brute force. */
async function proofOfWork() {
  const { status, data: c } = await api('GET', '/api/challenge');
  assertEq(status, 200, 'GET /api/challenge');
  for (let n = 0; n <= c.maxnumber; n += 1) {
    if (createHash('sha256').update(c.salt + n).digest('hex') === c.challenge) {
      const payload = { algorithm: c.algorithm, challenge: c.challenge, number: n, salt: c.salt, signature: c.signature, took: 0 };
      return Buffer.from(JSON.stringify(payload)).toString('base64');
    }
  }
  throw new Error('challenge not solved');
}

async function mails() {
  const { status, data } = await api('GET', '/_dev/mail');
  assertEq(status, 200, 'GET /_dev/mail');
  return data;
}

/** Waits for the next mail to `to` whose subject matches, after `seen` mails to that address. */
async function waitForMail(to, subject, seen = 0, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  let last = [];
  while (Date.now() < deadline) {
    last = (await mails()).filter((m) => m.to.includes(to));
    const hit = last.slice(seen).find((m) => subject.test(m.subject));
    if (hit) return hit;
    await sleep(400);
  }
  throw new Error(`no mail to ${to} matching ${subject} within ${timeoutMs / 1000} s; got ${JSON.stringify(last.map((m) => m.subject))}`);
}

async function mailCount(to) {
  return (await mails()).filter((m) => m.to.includes(to)).length;
}

/** The raw MIME of a sent mail, from moto (the runner writes moto's address to lambda.env). */
async function rawMail(id) {
  const env = readFileSync(process.env.LAMBDA_ENV || join(ROOT, '.local', 'logs', 'lambda.env'), 'utf8');
  const get = (k) => (env.match(new RegExp(`^${k}=(.*)$`, 'm')) || [])[1];
  assertEq(get('PUBLIC_BASE_URL'), base, 'lambda.env belongs to this runner');
  const r = await fetch(`${get('AWS_ENDPOINT_URL_SESV2')}/moto-api/data.json`);
  const data = await r.json();
  const m = (data.ses?.RawMessage || []).find((x) => x.id === id);
  assert(m, `mail ${id} not found in moto`);
  return m.raw_data;
}

/** The body of the MIME part with `contentType`, transfer-decoded. */
function mimePart(raw, contentType) {
  const at = raw.toLowerCase().indexOf(`content-type: ${contentType}`);
  assert(at >= 0, `no ${contentType} part`);
  const rest = raw.slice(at);
  const split = rest.search(/\r?\n\r?\n/);
  const headers = rest.slice(0, split);
  let body = rest.slice(split).replace(/^\r?\n\r?\n/, '');
  body = body.slice(0, body.search(/\r?\n--/) >= 0 ? body.search(/\r?\n--/) : undefined);
  if (/content-transfer-encoding:\s*base64/i.test(headers)) {
    return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  }
  if (/content-transfer-encoding:\s*quoted-printable/i.test(headers)) {
    const bytes = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
    return Buffer.from(bytes, 'latin1').toString('utf8');
  }
  return body;
}

/** Local time at the office (Europe/Berlin) as RFC 3339 with its offset. */
function berlin(date, hour, minute) {
  const ymd = date.toISOString().slice(0, 10);
  const noon = new Date(`${ymd}T12:00:00Z`);
  const name = new Intl.DateTimeFormat('en-US', { timeZone: 'Europe/Berlin', timeZoneName: 'longOffset' })
    .formatToParts(noon).find((p) => p.type === 'timeZoneName').value; // "GMT+01:00"
  const offset = name === 'GMT' ? '+00:00' : name.slice(3);
  return `${ymd}T${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}:00${offset}`;
}

/** The first date at least `daysAhead` days from now that falls on `weekday` (0 = Monday). */
function nextWeekday(weekday, daysAhead = 9) {
  const d = new Date(Date.now() + daysAhead * 86_400_000);
  while ((d.getUTCDay() + 6) % 7 !== weekday) d.setUTCDate(d.getUTCDate() + 1);
  return d;
}

async function putSlot(slot) {
  const r = await api('PUT', '/admin/slots', [slot], { admin: true });
  assertEq(r.status, 200, `PUT /admin/slots ${JSON.stringify(r.data)}`);
  return r.data;
}

// ---- page helpers -------------------------------------------------------------------------------

let axeSource = '';

/** axe-core on the page as it is; the page's CSP forbids scripts, DevTools evaluation is not. */
async function axeCheck(page, label) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async (tags) => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations', 'incomplete'] });
    const brief = (list) => list.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => `${n.target.join(' ')} — ${n.failureSummary || ''}`).slice(0, 5) }));
    return { violations: brief(r.violations), incomplete: brief(r.incomplete), passes: r.passes.length };
  }, AXE_TAGS);
  return result;
}

async function shoot(page, name) {
  const original = page.viewportSize();
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: width === 375 ? 812 : 900 });
    await page.screenshot({ path: join(ART, `${name}-${width}.png`), fullPage: true });
  }
  await page.setViewportSize(original);
}

/**
 * Everything every page must pass: status, `lang`, one h1, axe with no violations at both widths,
 * no horizontal scrolling at 320 px (= 1280 px at 400 % zoom), and screenshots.
 */
async function examine(page, name, lang, { h1 } = {}) {
  await check(`${name}: lang="${lang}"`, async () => {
    assertEq(await page.getAttribute('html', 'lang'), lang, 'html lang');
  });
  if (h1) {
    await check(`${name}: heading says it`, async () => {
      const text = (await page.textContent('h1')).trim();
      assert(h1.test(text), `h1 ${JSON.stringify(text)} does not match ${h1}`);
    });
  }
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 900 });
    const r = await axeCheck(page, name);
    axeSummary.push({ page: name, width, violations: r.violations.length, incomplete: r.incomplete.map((v) => v.id), passes: r.passes });
    writeFileSync(join(ART, `axe-${name}-${width}.json`), JSON.stringify(r, null, 2));
    await check(`${name}: axe at ${width} px, 0 violations (${r.passes} rules passed)`, async () => {
      assert(r.violations.length === 0, r.violations.map((v) => `${v.id} (${v.impact}): ${v.help}\n  ${v.nodes.join('\n  ')}`).join('\n'));
    });
  }
  await page.setViewportSize({ width: 320, height: 640 });
  await check(`${name}: reflows at 320 px without horizontal scrolling`, async () => {
    const w = await page.evaluate(() => document.documentElement.scrollWidth);
    assert(w <= 320, `page is ${w} px wide at a 320 px viewport`);
  });
  await page.setViewportSize({ width: 1280, height: 900 });
  await shoot(page, name);
}

/** Presses Tab until the focused element matches `selector` (a keyboard user's way there). */
async function tabTo(page, selector, max = 400) {
  for (let i = 0; i < max; i += 1) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((s) => !!document.activeElement && document.activeElement.matches(s), selector)) return i + 1;
  }
  throw new Error(`Tab never reached ${selector}`);
}

/** Starts keyboard navigation from the top of the document. */
async function fromTop(page) {
  // As after loading the page: nothing focused, the next Tab goes to the first control.
  await page.evaluate(() => {
    document.activeElement?.blur?.();
    document.body.setAttribute('tabindex', '-1');
    document.body.focus();
    document.body.removeAttribute('tabindex');
  });
}

/** In a focused radio group, checks the radio with `value` using Space and the arrow keys. */
async function chooseRadioByKeyboard(page, value) {
  const focused = () => page.evaluate(() => ({ value: document.activeElement.value, checked: document.activeElement.checked }));
  let state = await focused();
  if (!state.checked) {
    await page.keyboard.press('Space');
    state = await focused();
  }
  for (let i = 0; i < 30 && state.value !== value; i += 1) {
    await page.keyboard.press('ArrowDown');
    state = await focused();
  }
  assert(state.value === value && state.checked, `could not choose ${value}`);
}

/** Presses Enter on the focused control and waits for the page it loads. */
async function enterAndWait(page) {
  const [response] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.keyboard.press('Enter')]);
  return response;
}

async function pressButton(page, label) {
  await fromTop(page);
  await tabTo(page, `button`, 60).catch(() => {});
  for (let i = 0; i < 10; i += 1) {
    const text = await page.evaluate(() => document.activeElement?.textContent?.trim());
    if (text && label.test(text)) return enterAndWait(page);
    await page.keyboard.press('Tab');
  }
  throw new Error(`no button ${label} reachable by Tab`);
}

async function focusStyle(page) {
  return page.evaluate(() => {
    const s = getComputedStyle(document.activeElement);
    return { outline: `${s.outlineStyle} ${s.outlineWidth}`, shadow: s.boxShadow };
  });
}

// ---- the story ----------------------------------------------------------------------------------

const TEXT = {
  de: {
    formTitle: /Terminwunsch hinterlegen/, errorsTitle: /^Fehler:/, summary: /Bitte prüfen Sie Ihre Angaben/,
    emailError: /gültige E-Mail-Adresse/, submitted: /Postfach/, confirmSubject: /^Bitte bestätigen Sie Ihren Terminwunsch/,
    confirmedSubject: /^Ihr Terminwunsch ist aktiv/, wishTitle: /^Ihr Terminwunsch$/, confirmButton: /^Wunsch bestätigen$/,
    confirmedTitle: /bestätigt/, offerSubject: /^Terminangebot: Bürgerbüro \S+, (Mo|Di|Mi|Do|Fr) \d\d\.\d\d\. \d{1,2}:\d\d$/,
    offerTitle: /Terminangebot/, withdrawnTitle: /gilt nicht mehr/, expiredTitle: /abgelaufen/, accept: /^Termin annehmen$/, acceptedTitle: /gebucht/, acceptedSubject: /^Termin bestätigt:/,
    decline: /^Ablehnen und weiter warten$/, declinedTitle: /abgelehnt/, declinedSubject: /^Angebot abgelehnt/,
    cancel: /^Ganzen Wunsch löschen$/, cancelledTitle: /gelöscht/, cancelledSubject: /^Terminwunsch gelöscht/,
    withdrawn: /gilt nicht mehr/, expired: /abgelaufen/, notFound: /ungültig oder abgelaufen/, weekdayLong: /Montag|Dienstag|Mittwoch|Donnerstag|Freitag/,
    acceptedAlready: /bereits angenommen/, place: /(Kein Wunsch|\d+ Wünsche?) vor Ihrem/,
    wait: /rechnen wir grob mit einem Angebot in etwa \d+ (Tagen|Wochen)/, waitUnknown: /können wir noch nicht schätzen/,
    a11yTitle: /^Erklärung zur Barrierefreiheit$/, a11yDate: /am \d{1,2}\. \S+ \d{4} erstellt/,
    noScript: /braucht JavaScript/, noProof: /JavaScript ausgeschaltet/,
    statsTitle: /^Wie lange dauert es\?$/, statsLink: /^Wie lange dauert es\?$/, statsCaption: /Die Zahlen im Einzelnen/,
    swappedSubject: /^Früherer Termin gebucht:/, replacedTitle: /^Dieser Termin wurde ersetzt$/,
    appointmentTitle: /^Ihr Termin$/, giveBack: /Termin zurückgeben$/, earlier: /früheren Termin suchen$/, earlierTitle: /^Wir suchen einen früheren Termin$/, earlierSubject: /^Wir suchen einen früheren Termin:/, returnedTitle: /^Termin zurückgegeben$/, returnedSubject: /^Termin zurückgegeben:/,
  },
  en: {
    formTitle: /Leave an appointment wish/, errorsTitle: /^Error:/, summary: /Please check your entries/,
    emailError: /valid email address/, submitted: /inbox/, confirmSubject: /^Please confirm your appointment wish/,
    confirmedSubject: /^Your appointment wish is active/, wishTitle: /^Your appointment wish$/, confirmButton: /^Confirm wish$/,
    confirmedTitle: /confirmed/, offerSubject: /^Appointment offer: Bürgerbüro \S+, (Mon|Tue|Wed|Thu|Fri) \d\d\.\d\d\. \d{1,2}:\d\d$/,
    offerTitle: /appointment offer/i, withdrawnTitle: /no longer valid/i, expiredTitle: /expired/i, accept: /^Accept appointment$/, acceptedTitle: /booked/, acceptedSubject: /^Appointment confirmed:/,
    decline: /^Decline and keep waiting$/, declinedTitle: /declined/, declinedSubject: /^Offer declined/,
    cancel: /^Delete the whole wish$/, cancelledTitle: /deleted/, cancelledSubject: /^Appointment wish deleted/,
    withdrawn: /no longer valid/, expired: /expired/, notFound: /invalid or expired/, weekdayLong: /Monday|Tuesday|Wednesday|Thursday|Friday/,
    acceptedAlready: /already accepted/, place: /(No wish|\d+ wishe?s?) ahead of yours/,
    wait: /we roughly expect an offer within about \d+ (days|weeks)/, waitUnknown: /cannot estimate the wait yet/,
    a11yTitle: /^Accessibility statement$/, a11yDate: /made on \d{1,2} \S+ \d{4}/,
    noScript: /needs JavaScript/, noProof: /JavaScript may be switched off/,
    statsTitle: /^How long does it take\?$/, statsLink: /^How long does it take\?$/, statsCaption: /The figures in detail/,
    swappedSubject: /^Earlier appointment booked:/, replacedTitle: /^This appointment was replaced$/,
    appointmentTitle: /^Your appointment$/, giveBack: /give the appointment back$/, earlier: /find me an earlier one$/, earlierTitle: /^We are looking for an earlier appointment$/, earlierSubject: /^We are looking for an earlier appointment:/, returnedTitle: /^Appointment given back$/, returnedSubject: /^Appointment given back:/,
  },
};

// Each story has its own office and hours, so no wish of one story matches another's slot.
const PLAN = {
  de: { hourA: 8, hourB: 9, hourD: 10, service: 'id-card' },
  en: { hourA: 11, hourB: 13, hourD: 14, service: 'id-card' },
};

function tokenPath(link, prefix) {
  const u = new URL(link);
  const m = u.pathname.match(new RegExp(`^/${prefix}/[^/]+`));
  assert(m, `no /${prefix}/… link in ${link}`);
  return m[0];
}

async function gotoPage(page, url, expectStatus) {
  const r = await page.goto(url.startsWith('http') ? url : base + url, { waitUntil: 'load' });
  if (expectStatus !== undefined) assertEq(r.status(), expectStatus, `status of ${url}`);
  return r;
}

/** A confirmed wish through the JSON API (for the stories that test other pages). */
async function confirmedWishByApi(lang, email, office, windows) {
  const r = await api('POST', '/api/wishes', { email, service: PLAN[lang].service, offices: [office], windows, language: lang, altcha: await proofOfWork() });
  assertEq(r.status, 202, `POST /api/wishes ${JSON.stringify(r.data)}`);
  const mail = await waitForMail(email, TEXT[lang].confirmSubject);
  const wish = tokenPath(mail.links.find((l) => l.includes('/w/')), 'w');
  const c = await api('POST', `${wish}/confirm`);
  assertEq(c.status, 200, `confirm ${JSON.stringify(c.data)}`);
  assertEq(c.data.status, 'waiting', 'wish status after confirm');
  return wish;
}

async function storyMain(page, lang) {
  const T = TEXT[lang];
  const P = PLAN[lang];
  const email = `anna.${lang}.${RUN}@example.de`;
  const name = (n) => `${lang}-${n}`;
  console.log(`\n[${lang}] wish form, by keyboard → confirmation → offer → accept`);

  await step(`${lang}: the form opens in the browser's language`, async () => {
    await gotoPage(page, '/', 200);
  });
  await examine(page, name('01-form'), lang, { h1: T.formTitle });

  await check(`${lang}: the first Tab reaches the skip link`, async () => {
    await fromTop(page);
    await page.keyboard.press('Tab');
    assert(await page.evaluate(() => document.activeElement.matches('a.skip')), 'first focus is not the skip link');
  });
  await check(`${lang}: focus is visible on a checkbox`, async () => {
    await tabTo(page, 'input[name=offices]');
    const s = await focusStyle(page);
    assert(!s.outline.startsWith('none') && parseFloat(s.outline.split(' ')[1]) >= 2, `outline ${s.outline}`);
    await page.screenshot({ path: join(ART, `${name('01-form-focus')}-1280.png`) });
  });

  // A first try with a wrong address and nothing ticked: errors, input kept, focus on the summary.
  await step(`${lang}: a wrong entry submitted by keyboard`, async () => {
    await fromTop(page);
    await tabTo(page, '#field-email');
    await page.keyboard.type('anna@');
    await tabTo(page, 'button[type=submit]');
    const r = await enterAndWait(page);
    assertEq(r.status(), 422, 'status of the form with errors');
  });
  await check(`${lang}: the error summary has focus`, async () => {
    await page.waitForFunction(() => document.activeElement?.id === 'error-summary', null, { timeout: 3000 });
  });
  await check(`${lang}: errors are in the page's language, next to their fields, input kept`, async () => {
    assert(T.errorsTitle.test(await page.title()), `title ${await page.title()}`);
    assert(T.summary.test(await page.textContent('#error-summary')), 'summary heading');
    assert(T.emailError.test(await page.textContent('#email-error')), `email error ${await page.textContent('#email-error')}`);
    assertEq(await page.inputValue('#field-email'), 'anna@', 'email kept');
    assertEq(await page.getAttribute('#field-email', 'aria-invalid'), 'true', 'aria-invalid');
    assert(await page.$('#windows-error') && await page.$('#offices-error'), 'offices and windows errors shown');
  });
  await examine(page, name('02-form-errors'), lang, { h1: T.formTitle });
  await check(`${lang}: a summary link takes the keyboard to its field`, async () => {
    await page.focus('#error-summary');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.activeElement?.id === 'field-service', null, { timeout: 3000 });
  });

  // The real wish, as the newspaper's reporter made it: Mon–Thu one hour, Friday 12.
  await step(`${lang}: the wish filled in and sent by keyboard`, async () => {
    await fromTop(page);
    await tabTo(page, 'input[name=service]');
    await chooseRadioByKeyboard(page, P.service);
    await tabTo(page, 'input[name=offices][value=bilk]');
    await page.keyboard.press('Space');
    const windows = [['mon', P.hourA], ['tue', P.hourA], ['wed', P.hourA], ['thu', P.hourA], ['fri', 12]];
    for (const [day, hour] of windows) {
      await tabTo(page, `input[name=w][value="${day}-${hour}"]`);
      await page.keyboard.press('Space');
    }
    await tabTo(page, '#field-email');
    await page.keyboard.press('Control+A');
    await page.keyboard.type(email);
    const ticked = await page.$$eval('input:checked', (l) => l.map((i) => i.value));
    assert(ticked.includes(P.service), `service ${P.service} chosen: ${ticked}`);
    for (const [day, hour] of windows) assert(ticked.includes(`${day}-${hour}`), `${day}-${hour} not ticked: ${ticked}`);
    assert(ticked.includes(lang), `language ${lang} is preselected: ${ticked}`);
    await tabTo(page, 'button[type=submit]');
    const r = await enterAndWait(page);
    assertEq(r.status(), 202, 'status of the submitted page');
  });
  await examine(page, name('03-submitted'), lang, { h1: T.submitted });

  const confirmMail = await step(`${lang}: the confirmation mail arrives (text + HTML, List-Unsubscribe)`, async () => {
    const m = await waitForMail(email, T.confirmSubject);
    assert(m.text.length > 50 && m.html.includes('<a '), 'both parts');
    const h = Object.fromEntries(m.headers.map(([k, v]) => [k.toLowerCase(), v]));
    assert(/^<http.*\/w\/.+\/cancel>$/.test(h['list-unsubscribe'] || ''), `List-Unsubscribe ${h['list-unsubscribe']}`);
    assertEq(h['list-unsubscribe-post'], 'List-Unsubscribe=One-Click', 'List-Unsubscribe-Post');
    return m;
  });
  const wishPath = tokenPath(confirmMail.links.find((l) => l.includes('/w/')), 'w');

  await step(`${lang}: the mail's confirm link opens the wish page`, async () => {
    const link = confirmMail.links.find((l) => /\/w\/[^/]+\/confirm/.test(l)) || confirmMail.links[0];
    await gotoPage(page, link, 200);
    const body = await page.textContent('main');
    assert(/bilk|Bilk/.test(body), 'the wish names the office');
  });
  await examine(page, name('04-wish-pending'), lang, { h1: T.wishTitle });
  await step(`${lang}: confirm by keyboard`, async () => {
    const r = await pressButton(page, T.confirmButton);
    assertEq(r.status(), 200, 'status after confirm');
  });
  await check(`${lang}: the confirmed wish's page shows its places and says the wait cannot be estimated yet`, async () => {
    const body = await page.textContent('main');
    assert(T.place.test(body) && T.waitUnknown.test(body), `no place or no "cannot estimate" in ${JSON.stringify(body)}`);
  });
  await examine(page, name('05-wish-confirmed'), lang, { h1: T.confirmedTitle });
  await check(`${lang}: the wish is waiting and the confirmation mail came`, async () => {
    const r = await api('GET', wishPath);
    assertEq(r.data.status, 'waiting', 'wish status');
    await waitForMail(email, T.confirmedSubject);
  });

  // The office releases a booked slot that fits: it goes to the queue, the offer comes by mail.
  const slotId = `bt-${RUN}-${lang}-a`;
  const start = berlin(nextWeekday(0), P.hourA, 30);
  const seenBeforeRelease = await mailCount(email);
  await step(`${lang}: a booked slot is released through the admin API`, async () => {
    await putSlot({ id: slotId, office: 'bilk', service: P.service, start, minutes: 15, status: 'booked' });
    const r = await api('POST', `/admin/slots/${slotId}/release`, undefined, { admin: true });
    assertEq(r.status, 200, `release ${JSON.stringify(r.data)}`);
  });
  const offerMail = await step(`${lang}: the offer mail arrives with a subject that says what it is`, async () => {
    const m = await waitForMail(email, /./, seenBeforeRelease);
    assert(T.offerSubject.test(m.subject), `subject ${JSON.stringify(m.subject)}`);
    return m;
  });
  const offerLink = offerMail.links.find((l) => /\/o\/[^/?#]+(\?.*)?$/.test(l)) || offerMail.links.find((l) => l.includes('/o/'));
  const offerPath = tokenPath(offerLink, 'o');
  await step(`${lang}: the offer page shows office, address, date and deadline`, async () => {
    await gotoPage(page, offerLink, 200);
    const body = await page.textContent('main');
    assert(body.includes('Bachstraße 145'), 'address');
    assert(T.weekdayLong.test(body), 'weekday written out');
    assert(body.includes(`${P.hourA}:30`), `time ${P.hourA}:30`);
  });
  await examine(page, name('06-offer'), lang, { h1: T.offerTitle });
  await step(`${lang}: accept by keyboard`, async () => {
    const r = await pressButton(page, T.accept);
    assertEq(r.status(), 200, 'status after accept');
  });
  await examine(page, name('07-offer-accepted'), lang, { h1: T.acceptedTitle });
  await check(`${lang}: the slot is booked for the wish`, async () => {
    const r = await api('GET', `/admin/slots/${slotId}`, undefined, { admin: true });
    assertEq(r.data.status, 'booked', 'slot status');
  });
  await check(`${lang}: the acceptance mail carries an .ics in the office's time`, async () => {
    const m = await waitForMail(email, T.acceptedSubject);
    assert(m.attachments.some((a) => a.endsWith('.ics')), `attachments ${m.attachments}`);
    const ics = mimePart(await rawMail(m.id), 'text/calendar');
    assert(ics.includes('BEGIN:VCALENDAR') && ics.includes('BEGIN:VEVENT'), 'a calendar with an event');
    const utc = new Date(start).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    assert(ics.includes(`DTSTART:${utc}`), `DTSTART ${utc} in\n${ics}`);
    assert(/LOCATION:.*Bachstraße 145/.test(ics), `LOCATION with the address in\n${ics}`);
    writeFileSync(join(ART, `${lang}-termin.ics`), ics);
  });
  await check(`${lang}: the offer page after accepting says so`, async () => {
    await gotoPage(page, offerPath, 200);
    assert(T.acceptedAlready.test(await page.textContent('main')), 'says already accepted');
    assertEq(await page.$$eval('main button', (b) => b.length), 0, 'no buttons left');
  });
  // The booking confirmation links the appointment's page: the calendar file and giving it back.
  const appointmentLink = await step(`${lang}: the acceptance mail links the appointment's page`, async () => {
    const m = await waitForMail(email, T.acceptedSubject);
    const link = m.links.find((l) => /\/a\/[^/?#]+$/.test(l));
    assert(link, `no /a/ link in ${m.links}`);
    await gotoPage(page, link, 200);
    const r = await fetch(`${link}/calendar.ics`);
    assertEq(r.status, 200, 'calendar file');
    assert((await r.text()).includes('METHOD:PUBLISH'), 'a calendar file to add');
    return link;
  });
  await examine(page, name('07b-appointment'), lang, { h1: T.appointmentTitle });
  await step(`${lang}: keep it, but look for an earlier one, by keyboard`, async () => {
    const seenBefore = await mailCount(email);
    const r = await pressButton(page, T.earlier);
    assertEq(r.status(), 200, 'status after asking for an earlier one');
    await waitForMail(email, T.earlierSubject, seenBefore);
    const json = await api('GET', new URL(appointmentLink).pathname);
    assertEq(json.data.earlier, true, 'the appointment looks for an earlier one');
    assertEq(json.data.status, 'booked', 'and stays booked');
  });
  await examine(page, name('07b2-appointment-earlier'), lang, { h1: T.earlierTitle });
  const seenBeforeEarlier = await mailCount(email);
  await step(`${lang}: an earlier slot comes free and is offered`, async () => {
    // The Thursday before the booked Monday: earlier, and days ahead even after the clock moved.
    const thursdayBefore = new Date(nextWeekday(0).getTime() - 4 * 86_400_000);
    await putSlot({ id: `bt-${RUN}-${lang}-a2`, office: 'bilk', service: P.service, start: berlin(thursdayBefore, P.hourA, 0), minutes: 15, status: 'free' });
    const m = await waitForMail(email, T.offerSubject, seenBeforeEarlier);
    await gotoPage(page, m.links.find((l) => /\/o\/[^/?#]+(\?.*)?$/.test(l)), 200);
  });
  const newAppointment = await step(`${lang}: accepting it by keyboard swaps the appointments`, async () => {
    const seen = await mailCount(email);
    const r = await pressButton(page, T.accept);
    assertEq(r.status(), 200, 'status after accepting the earlier one');
    const m = await waitForMail(email, T.swappedSubject, seen);
    const raw = await rawMail(m.id);
    const files = [];
    for (let rest = raw, at; (at = rest.toLowerCase().indexOf('content-type: text/calendar')) >= 0; rest = rest.slice(at + 12)) {
      files.push(mimePart(rest.slice(at), 'text/calendar'));
    }
    assertEq(files.length, 2, 'two calendar files');
    assert(files[0].includes('METHOD:PUBLISH') && files[1].includes('METHOD:CANCEL'), 'the new one and the old one cancelled');
    const old = await api('GET', appointmentLink);
    assertEq(old.data.status, 'replaced', 'the old appointment is replaced');
    const link = m.links.find((l) => /\/a\/[^/?#]+$/.test(l));
    assert(link, `no /a/ link in ${m.links}`);
    return link;
  });
  await step(`${lang}: the old appointment's page says it was replaced`, async () => {
    await gotoPage(page, appointmentLink, 200);
    assertEq(await page.$$eval('main button', (b) => b.length), 0, 'no buttons');
  });
  await examine(page, name('07b3-appointment-replaced'), lang, { h1: T.replacedTitle });
  await step(`${lang}: give the new appointment back by keyboard`, async () => {
    await gotoPage(page, newAppointment, 200);
    const seenBefore = await mailCount(email);
    const r = await pressButton(page, T.giveBack);
    assertEq(r.status(), 200, 'status after giving it back');
    const m = await waitForMail(email, T.returnedSubject, seenBefore);
    const ics = mimePart(await rawMail(m.id), 'text/calendar');
    assert(ics.includes('METHOD:CANCEL'), `a cancellation in\n${ics}`);
  });
  await examine(page, name('07c-appointment-returned'), lang, { h1: T.returnedTitle });
  await check(`${lang}: the slot went back to the queue`, async () => {
    const r = await api('GET', `/admin/slots/${slotId}`, undefined, { admin: true });
    assert(['free', 'offered'].includes(r.data.status), `slot status ${r.data.status}`);
    assert(appointmentLink, 'link');
  });
  return { wishPath };
}

async function storyDeclineAndCancel(page, lang) {
  const T = TEXT[lang];
  const P = PLAN[lang];
  const email = `ben.${lang}.${RUN}@example.de`;
  const name = (n) => `${lang}-${n}`;
  console.log(`\n[${lang}] decline, then cancel the whole wish from the next offer`);
  await confirmedWishByApi(lang, email, 'altstadt', { tue: [P.hourB] });
  const day = nextWeekday(1);
  const seen = await mailCount(email);
  await step(`${lang}: a new free slot goes to the queue`, async () => {
    await putSlot({ id: `bt-${RUN}-${lang}-b1`, office: 'altstadt', service: P.service, start: berlin(day, P.hourB, 0), minutes: 20, status: 'free' });
  });
  const offer1 = await step(`${lang}: offer mail`, async () => waitForMail(email, T.offerSubject, seen));
  const o1 = tokenPath(offer1.links.find((l) => l.includes('/o/')), 'o');
  await step(`${lang}: the decline link asks before it changes anything`, async () => {
    await gotoPage(page, `${o1}/decline`, 200);
    assertEq(await page.$$eval('main button', (b) => b.length), 1, 'one button');
    assertEq((await api('GET', o1)).data.status, 'open', 'still open after the GET');
  });
  await examine(page, name('08-offer-choose-decline'), lang, { h1: T.offerTitle });
  await step(`${lang}: decline by keyboard`, async () => {
    const r = await pressButton(page, T.decline);
    assertEq(r.status(), 200, 'status after decline');
  });
  await examine(page, name('09-offer-declined'), lang, { h1: T.declinedTitle });
  await check(`${lang}: the decline is confirmed by mail`, async () => { await waitForMail(email, T.declinedSubject, seen); });

  const seen2 = await mailCount(email);
  await step(`${lang}: another free slot for the same wish`, async () => {
    await putSlot({ id: `bt-${RUN}-${lang}-b2`, office: 'altstadt', service: P.service, start: berlin(day, P.hourB, 30), minutes: 20, status: 'free' });
  });
  const offer2 = await step(`${lang}: second offer mail`, async () => waitForMail(email, T.offerSubject, seen2));
  const o2 = tokenPath(offer2.links.find((l) => l.includes('/o/')), 'o');
  await step(`${lang}: cancel the whole wish from the offer page by keyboard`, async () => {
    await gotoPage(page, o2, 200);
    const r = await pressButton(page, T.cancel);
    assertEq(r.status(), 200, 'status after cancel');
  });
  await examine(page, name('10-offer-cancelled-wish'), lang, { h1: T.cancelledTitle });
  await check(`${lang}: the cancellation is confirmed by mail`, async () => { await waitForMail(email, T.cancelledSubject, seen2); });
}

async function storyFamily(page, lang) {
  const T = TEXT[lang];
  const P = PLAN[lang];
  const email = `fam.${lang}.${RUN}@example.de`;
  const name = (n) => `${lang}-${n}`;
  const hour = lang === 'de' ? 10 : 14;
  const party = lang === 'de' ? `für 3 Personen, ${hour}:00–${hour}:30 Uhr` : `for 3 persons, ${hour}:00–${hour}:30`;
  console.log(`\n[${lang}] a family of three: the persons select, then two back-to-back slots`);
  await step(`${lang}: a wish for three persons filled in and sent by keyboard`, async () => {
    await gotoPage(page, '/', 200);
    await fromTop(page);
    await tabTo(page, 'input[name=service]');
    await chooseRadioByKeyboard(page, P.service);
    await tabTo(page, 'input[name=offices][value=garath]');
    await page.keyboard.press('Space');
    await tabTo(page, `input[name=w][value="tue-${hour}"]`);
    await page.keyboard.press('Space');
    await tabTo(page, '#field-persons');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    assertEq(await page.inputValue('#field-persons'), '3', 'three persons chosen by keyboard');
    await tabTo(page, '#field-email');
    await page.keyboard.press('Control+A');
    await page.keyboard.type(email);
    await tabTo(page, 'button[type=submit]');
    const r = await enterAndWait(page);
    assertEq(r.status(), 202, 'status of the submitted page');
  });
  await step(`${lang}: the family's wish is confirmed and says three persons`, async () => {
    const mail = await waitForMail(email, T.confirmSubject);
    const wish = tokenPath(mail.links.find((l) => l.includes('/w/')), 'w');
    const c = await api('POST', `${wish}/confirm`);
    assertEq(c.status, 200, `confirm ${JSON.stringify(c.data)}`);
    assertEq(c.data.persons, 3, 'persons');
    await gotoPage(page, wish, 200);
    const body = await page.textContent('main');
    assert(body.includes(lang === 'de' ? '3 Personen' : '3 persons'), `the wish page names the party: ${body}`);
  });
  await examine(page, name('26-wish-family'), lang, { h1: T.wishTitle });
  const day = nextWeekday(1);
  const [first, second] = [`bt-${RUN}-${lang}-f1`, `bt-${RUN}-${lang}-f2`];
  const seen = await mailCount(email);
  await step(`${lang}: a slot for two, then the slot for one right before it, come free`, async () => {
    await putSlot({ id: second, office: 'garath', service: P.service, start: berlin(day, hour, 15), minutes: 15, status: 'free', persons: 2 });
    await putSlot({ id: first, office: 'garath', service: P.service, start: berlin(day, hour, 0), minutes: 15, status: 'free', persons: 1 });
  });
  const offerMail = await step(`${lang}: the offer mail names the party and the whole run`, async () => {
    const m = await waitForMail(email, T.offerSubject, seen);
    assert(m.text.includes(party), `"${party}" in ${m.text}`);
    return m;
  });
  const offerLink = offerMail.links.find((l) => /\/o\/[^/?#]+(\?.*)?$/.test(l)) || offerMail.links.find((l) => l.includes('/o/'));
  await step(`${lang}: the offer page names the party and the whole run`, async () => {
    await gotoPage(page, offerLink, 200);
    const body = await page.textContent('main');
    assert(body.includes(party), `"${party}" in ${body}`);
  });
  await examine(page, name('27-offer-family'), lang, { h1: T.offerTitle });
  await step(`${lang}: the family accepts by keyboard`, async () => {
    const r = await pressButton(page, T.accept);
    assertEq(r.status(), 200, 'status after accept');
  });
  await check(`${lang}: both slots are booked for the family`, async () => {
    for (const id of [first, second]) {
      const r = await api('GET', `/admin/slots/${id}`, undefined, { admin: true });
      assertEq(r.data.status, 'booked', `slot ${id}`);
    }
  });
}

async function storyWishPageCancel(page, lang) {
  const T = TEXT[lang];
  const email = `cem.${lang}.${RUN}@example.de`;
  const name = (n) => `${lang}-${n}`;
  console.log(`\n[${lang}] the wish page of a waiting wish, cancelled there`);
  const hour = lang === 'de' ? 10 : 11;
  // Three slots entered this line lately. They lie in the past, so nobody is offered them, but
  // slot-release counts them, and the page estimates the wait from them.
  await step(`${lang}: three slots entered the wish's line lately`, async () => {
    const day = nextWeekday(2, -14);
    for (const minute of [0, 20, 40]) {
      await putSlot({ id: `bt-${RUN}-${lang}-c${minute}`, office: 'benrath', service: PLAN[lang].service, start: berlin(day, hour, minute), minutes: 20, status: 'free' });
    }
  });
  const wish = await confirmedWishByApi(lang, email, 'benrath', { wed: [hour] });
  await step(`${lang}: the wish page of a waiting wish`, async () => {
    // The runner counts releases as it reads the stream: wait until it has.
    const deadline = Date.now() + 30_000;
    await gotoPage(page, wish, 200);
    while (!T.wait.test(await page.textContent('main')) && Date.now() < deadline) {
      await sleep(500);
      await gotoPage(page, wish, 200);
    }
  });
  await check(`${lang}: the wish page shows the place in line and a rough wait`, async () => {
    const body = await page.textContent('main');
    assert(T.place.test(body), `no place in line in ${JSON.stringify(body)}`);
    assert(T.wait.test(body), `no expected wait in ${JSON.stringify(body)}`);
  });
  await examine(page, name('11-wish-waiting'), lang, { h1: T.wishTitle });
  await step(`${lang}: cancel the wish by keyboard`, async () => {
    const r = await pressButton(page, T.cancel);
    assertEq(r.status(), 200, 'status after cancel');
  });
  await examine(page, name('12-wish-cancelled'), lang, { h1: T.cancelledTitle });
  await check(`${lang}: cancelled, confirmed by mail`, async () => {
    assertEq((await api('GET', wish)).data.status, 'cancelled', 'wish status');
    await waitForMail(email, T.cancelledSubject);
  });
}

async function storyGoneOffers(page, lang) {
  const T = TEXT[lang];
  const P = PLAN[lang];
  const email = `dora.${lang}.${RUN}@example.de`;
  const name = (n) => `${lang}-${n}`;
  console.log(`\n[${lang}] an offer the office withdrew, and one that expired`);
  const wish = await confirmedWishByApi(lang, email, 'gerresheim', { thu: [P.hourD] });
  const day = nextWeekday(3);
  const id1 = `bt-${RUN}-${lang}-d1`;
  let seen = await mailCount(email);
  await step(`${lang}: an offer, then the office withdraws the slot`, async () => {
    await putSlot({ id: id1, office: 'gerresheim', service: P.service, start: berlin(day, P.hourD, 0), minutes: 15, status: 'free' });
    await waitForMail(email, T.offerSubject, seen);
    const r = await api('DELETE', `/admin/slots/${id1}`, undefined, { admin: true, json: false });
    assertEq(r.status, 204, 'DELETE /admin/slots');
  });
  const offers = (await mails()).filter((m) => m.to.includes(email) && T.offerSubject.test(m.subject));
  const o1 = tokenPath(offers[offers.length - 1].links.find((l) => l.includes('/o/')), 'o');
  await step(`${lang}: the withdrawn offer says so plainly`, async () => {
    await gotoPage(page, o1, 200);
    assert(T.withdrawn.test(await page.textContent('main')), 'says withdrawn');
  });
  await examine(page, name('13-offer-withdrawn'), lang, { h1: T.withdrawnTitle });

  seen = await mailCount(email);
  await step(`${lang}: a second offer, left unanswered past its deadline`, async () => {
    await putSlot({ id: `bt-${RUN}-${lang}-d2`, office: 'gerresheim', service: P.service, start: berlin(day, P.hourD, 30), minutes: 15, status: 'free' });
    await waitForMail(email, T.offerSubject, seen);
  });
  const offers2 = (await mails()).filter((m) => m.to.includes(email) && T.offerSubject.test(m.subject));
  const o2 = tokenPath(offers2[offers2.length - 1].links.find((l) => l.includes('/o/')), 'o');
  await step(`${lang}: the clock moves past the deadline`, async () => {
    // 24 waking hours: quiet hours (22:00–07:00) do not count, so up to 42 real ones.
    const r = await api('POST', '/_dev/clock', { advance_minutes: 48 * 60 });
    assertEq(r.status, 200, 'POST /_dev/clock');
  });
  await step(`${lang}: the expired offer says so`, async () => {
    await gotoPage(page, o2, 200);
    assert(T.expired.test(await page.textContent('main')), 'says expired');
  });
  await examine(page, name('14-offer-expired'), lang, { h1: T.expiredTitle });
  await step(`${lang}: accepting too late answers a page, not an error`, async () => {
    await gotoPage(page, `${o2}/accept`, 200);
    assertEq(await page.$$eval('main button', (b) => b.length), 0, 'no button to press');
    const r = await fetch(`${base}${o2}/accept`, { method: 'POST', headers: { 'accept-language': lang } });
    assertEq(r.status, 200, 'POST accept after the deadline');
  });
  await examine(page, name('15-offer-accept-too-late'), lang, { h1: T.expiredTitle });
  await api('POST', `${wish}/cancel`); // leaves nothing waiting for the next language's slots
}

/** The form sent without the proof of work (as a browser without JavaScript sends it). */
async function storyNoProof(page, lang) {
  const T = TEXT[lang];
  const email = `nojs.${lang}.${RUN}@example.de`;
  console.log(`\n[${lang}] the form without its proof of work: why, and whom to call`);
  await step(`${lang}: the form, its widget taken out, sent by keyboard`, async () => {
    await gotoPage(page, `/?lang=${lang}`, 200);
    const source = await page.content();
    assert(T.noScript.test(source.slice(source.indexOf('<noscript>'))), 'the form says why it needs JavaScript, for browsers without it');
    await page.evaluate(() => document.querySelector('altcha-widget').remove());
    await fromTop(page);
    await tabTo(page, 'input[name=service]');
    await chooseRadioByKeyboard(page, 'passport');
    await tabTo(page, 'input[name=offices][value=bilk]');
    await page.keyboard.press('Space');
    await tabTo(page, 'input[name=w][value="mon-8"]');
    await page.keyboard.press('Space');
    await tabTo(page, '#field-email');
    await page.keyboard.type(email);
    await tabTo(page, 'button[type=submit]');
    const r = await enterAndWait(page);
    assertEq(r.status(), 403, 'status without a proof');
  });
  await check(`${lang}: the page says why, keeps the input and names each office's phone`, async () => {
    assert(T.noProof.test(await page.textContent('#error-summary')), 'summary');
    assertEq(await page.inputValue('#field-email'), email, 'email kept');
    const phones = await page.$$eval('#field-altcha a[href^="tel:"]', (l) => l.map((a) => a.getAttribute('href')));
    assert(phones.length >= 1 && phones.every((h) => /^tel:\+?\d+$/.test(h)), `phones ${phones}`);
  });
  await examine(page, `${lang}-02b-form-no-proof`, lang, { h1: T.formTitle });
  await check(`${lang}: the widget is back and the form then goes through`, async () => {
    assert(await page.$('altcha-widget'), 'widget');
    await fromTop(page);
    await tabTo(page, 'button[type=submit]');
    const r = await enterAndWait(page);
    assertEq(r.status(), 202, 'status with the proof solved');
  });
}

async function storyNotFound(page, lang) {
  const T = TEXT[lang];
  console.log(`\n[${lang}] unknown links`);
  await step(`${lang}: an unknown wish link answers 404 with a page`, async () => {
    await gotoPage(page, `/w/not-a-token?lang=${lang}`, 404);
  });
  await examine(page, `${lang}-16-not-found`, lang, { h1: T.notFound });
  await check(`${lang}: an unknown offer link answers the same`, async () => {
    await gotoPage(page, '/o/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 404);
    assert(T.notFound.test(await page.textContent('h1')), 'same page');
  });
}

async function storyAccessibility(page, lang) {
  const T = TEXT[lang];
  console.log(`\n[${lang}] the accessibility statement, from the footer`);
  await step(`${lang}: the footer link leads to the accessibility statement by keyboard`, async () => {
    await gotoPage(page, `/?lang=${lang}`, 200);
    assertEq(await page.getAttribute('footer a', 'href'), lang === 'de' ? '/barrierefreiheit?lang=de' : '/accessibility?lang=en', 'footer link');
    await fromTop(page);
    await tabTo(page, 'footer a');
    const r = await enterAndWait(page);
    assertEq(r.status(), 200, 'status of the statement');
  });
  await check(`${lang}: the statement names the tests, its date, a contact and the ombudsman procedure`, async () => {
    const body = await page.textContent('main');
    assert(/axe-core/.test(body), 'axe-core');
    assert(T.a11yDate.test(body), 'date of the statement');
    assert(await page.$('main a[href^="mailto:"]'), 'a mailto link');
    assert(/Ombuds/.test(body), 'the ombudsman procedure');
  });
  await examine(page, `${lang}-18-accessibility`, lang, { h1: T.a11yTitle });
}

/** The public statistics: from the form's link by keyboard, chart and table, both paths. */
async function storyStatistics(page, lang) {
  const T = TEXT[lang];
  const path = lang === 'de' ? '/statistik' : '/statistics';
  console.log(`\n[${lang}] the public statistics, from the form`);
  if (lang === 'de') {
    // Five first offers at one office, so the chart has a bar to show (a median needs five).
    await step('five wishes at Kaiserswerth get their first offers', async () => {
      const day = nextWeekday(1);
      const emails = [];
      for (let i = 0; i < 5; i += 1) {
        const email = `stats${i}.${RUN}@example.de`;
        await confirmedWishByApi(lang, email, 'kaiserswerth', { tue: [10] });
        emails.push(email);
      }
      for (let i = 0; i < 5; i += 1) {
        await putSlot({ id: `bt-${RUN}-stats-${i}`, office: 'kaiserswerth', service: PLAN[lang].service, start: berlin(day, 10, i * 10), minutes: 10, status: 'free' });
      }
      for (const email of emails) await waitForMail(email, T.offerSubject);
      // The statistics are computed at most every ten minutes: move the runner's clock on.
      const r = await api('POST', '/_dev/clock', { advance_minutes: 11 });
      assertEq(r.status, 200, 'clock moved');
    });
  }
  await step(`${lang}: the form's "how long" link leads to the statistics by keyboard`, async () => {
    await gotoPage(page, `/?lang=${lang}`, 200);
    const link = await page.$(`main a[href="${path}?lang=${lang}"]`);
    assert(link, `a link to ${path} on the form`);
    assert(T.statsLink.test((await link.textContent()).trim()), 'the link says what it is');
    await fromTop(page);
    await tabTo(page, `main a[href="${path}?lang=${lang}"]`);
    const r = await enterAndWait(page);
    assertEq(r.status(), 200, 'status of the statistics');
  });
  await check(`${lang}: the statistics show a table of every office and service, the chart named`, async () => {
    assert(T.statsCaption.test(await page.textContent('caption')), 'the table has its caption');
    const rows = await page.$$eval('tbody tr', (r) => r.length);
    assert(rows >= 10, `${rows} rows`);
    const svg = await page.$('svg.chart');
    if (svg) {
      assertEq(await svg.getAttribute('role'), 'img', 'the chart is an image');
      const named = await page.$$eval('svg.chart title, svg.chart desc', (e) => e.map((x) => x.textContent.trim()).filter(Boolean).length);
      assertEq(named, 2, 'title and description');
    }
  });
  await examine(page, `${lang}-19-statistics`, lang, { h1: T.statsTitle });
  await check(`${lang}: the language link leads to the other language's statistics page`, async () => {
    const other = lang === 'de' ? 'en' : 'de';
    const href = await page.getAttribute(`header a[hreflang="${other}"]`, 'href');
    assertEq(href, lang === 'de' ? '/statistics?lang=en' : '/statistik?lang=de', 'language link');
    await gotoPage(page, href, 200);
    assertEq(await page.getAttribute('html', 'lang'), other, 'html lang');
  });
}

/** `GET /admin/stats` as a page for people, behind the admin key, once the server offers it. */
async function storyStatsPage(page, lang) {
  const probe = await fetch(`${base}/admin/stats?lang=${lang}`, { headers: { accept: 'text/html', authorization: `Bearer ${ADMIN_KEY}` } });
  if (!(probe.headers.get('content-type') || '').startsWith('text/html')) {
    console.log(`\n[${lang}] the stats page: the server answers ${probe.headers.get('content-type')} to text/html (no HTML page yet; not checked)`);
    return;
  }
  console.log(`\n[${lang}] the stats page for clerks`);
  await check(`${lang}: the stats page needs the admin key`, async () => {
    const r = await fetch(`${base}/admin/stats`, { headers: { accept: 'text/html' } });
    assertEq(r.status, 401, 'without the key');
  });
  await page.setExtraHTTPHeaders({ authorization: `Bearer ${ADMIN_KEY}` });
  try {
    await step(`${lang}: the stats page opens`, async () => { await gotoPage(page, `/admin/stats?lang=${lang}`, 200); });
    await examine(page, `${lang}-17-admin-stats`, lang, {});
  } catch (e) {
    if (!(e instanceof StoryAborted)) throw e;
  } finally {
    await page.setExtraHTTPHeaders({});
  }
}

/** The user of `group` the runner created, as it printed them ("clerk  clerk@…  password …"). */
function staffUser(group) {
  const log = readFileSync(join(ART, 'runner.log'), 'utf8');
  const m = log.match(new RegExp(`^\\s+${group}\\s+(\\S+@\\S+)\\s+password (\\S+)`, 'm'));
  assert(m, `the runner printed no ${group} user`);
  return { username: m[1], password: m[2] };
}

/**
 * A wish for a person without email, by keyboard: the form refused with its fields named, then
 * entered; a slot for it appears on the call list with its deadline; the clerk records the
 * answer. Its own office and hour (Garath, Thursday), so no other story's wish takes the slot.
 */
async function storyPhoneWish(page, lang) {
  const hour = lang === 'de' ? 16 : 17;
  const name = `Frau Phon ${RUN} ${lang}`;
  const t = lang === 'de'
    ? { title: 'Terminwunsch für eine Person ohne E-Mail erfassen', name: 'Bitte geben Sie einen Namen oder ein Kennzeichen ein.', phone: 'Bitte geben Sie eine Telefonnummer ein.', entered: `Der Wunsch für ${name} ist aktiv`, calls: 'Anrufliste', due: 'Antwort bis', booked: `Der Termin ist für ${name} gebucht.` }
    : { title: 'Enter a wish for a person without email', name: 'Please enter a name or a reference.', phone: 'Please enter a phone number.', entered: `The wish for ${name} is active`, calls: 'Call list', due: 'Answer due by', booked: `The appointment is booked for ${name}.` };
  await step(`${lang}: the phone wish form opens from the navigation`, async () => {
    await fromTop(page);
    await tabTo(page, 'nav a[href^="/staff/phone"]', 40);
    const r = await enterAndWait(page);
    assertEq(r.status(), 200, 'the phone wish page');
    assertEq((await page.textContent('h1')).trim(), t.title, 'its heading');
  });
  await examine(page, `${lang}-26-staff-phone`, lang, {});
  await step(`${lang}: a phone wish without name and number is refused, each field named`, async () => {
    await fromTop(page);
    await tabTo(page, 'input[name=service]');
    await chooseRadioByKeyboard(page, 'id-card');
    await tabTo(page, 'input[name=offices][value=garath]');
    await page.keyboard.press('Space');
    await tabTo(page, `input[name=w][value="thu-${hour}"]`);
    await page.keyboard.press('Space');
    await tabTo(page, 'form button[type=submit]');
    const r = await enterAndWait(page);
    assertEq(r.status(), 422, 'the refused form');
    const summary = await page.textContent('#error-summary');
    assert(summary.includes(t.name) && summary.includes(t.phone), `the summary names both: ${summary}`);
    assertEq(await page.getAttribute('#field-phone', 'aria-invalid'), 'true', 'aria-invalid');
    const ticked = await page.$$eval('input:checked', (l) => l.map((i) => i.value));
    assert(ticked.includes('garath') && ticked.includes(`thu-${hour}`), `the choices are kept: ${ticked}`);
  });
  await examine(page, `${lang}-27-staff-phone-refused`, lang, {});
  await step(`${lang}: the phone wish is entered by keyboard`, async () => {
    await page.waitForFunction(() => document.activeElement?.id === 'error-summary', null, { timeout: 3000 });
    await tabTo(page, '#field-persons', 200);
    await page.keyboard.type('2');
    assertEq(await page.inputValue('#field-persons'), '2', 'two persons');
    await tabTo(page, '#field-name', 5);
    await page.keyboard.type(name);
    await page.keyboard.press('Tab');
    assert(await page.evaluate(() => document.activeElement.id === 'field-phone'), 'Tab goes from the name to the number');
    await page.keyboard.type('0211 899-1234');
    const r = await enterAndWait(page);
    assertEq(r.status(), 200, 'the entered wish');
    assert((await page.textContent('.note')).includes(t.entered), 'it says so');
  });
  await examine(page, `${lang}-28-staff-phone-entered`, lang, {});
  const start = berlin(nextWeekday(3), hour, 0);
  // The booking system's appointment for two: the phone wish is for two persons.
  await putSlot({ id: `bt-${RUN}-${lang}-phone`, office: 'garath', service: 'id-card', start, minutes: 15, status: 'free', persons: 2 });
  await step(`${lang}: the offer appears on the call list with its deadline`, async () => {
    let call = null;
    for (let i = 0; i < 60 && !call; i += 1) {
      await gotoPage(page, `/staff/calls?lang=${lang}`, 200);
      call = await page.$(`section.call:has(h2:text-is("${name}"))`);
      if (!call) await sleep(500);
    }
    assert(call, `${name} is on the call list`);
    const text = await call.textContent();
    assert(text.includes(t.due) && /\d/.test(text.split(t.due)[1]), `the deadline is shown: ${text}`);
    assert(await call.$('a[href="tel:02118991234"]'), 'the number to call');
  });
  await examine(page, `${lang}-29-staff-calls`, lang, {});
  await step(`${lang}: the clerk records "accepted" by keyboard`, async () => {
    await fromTop(page);
    const form = `section.call:has(h2:text-is("${name}")) form`;
    const radio = await page.$(`${form} input[value=accepted]`);
    const id = await radio.evaluate((el) => { el.id = el.id || 'answer-accepted'; return el.id; });
    await tabTo(page, `#${id}`, 200);
    await chooseRadioByKeyboard(page, 'accepted');
    const button = await page.$(`${form} button[type=submit]`);
    await button.evaluate((el) => { el.id = el.id || 'answer-submit'; });
    await tabTo(page, '#answer-submit', 5);
    const r = await enterAndWait(page);
    assertEq(r.status(), 200, 'the recorded answer');
    assert((await page.textContent('.note')).includes(t.booked), 'it says so');
    assertEq(await page.$$eval(`section.call h2`, (l, n) => l.filter((h) => h.textContent === n).length, name), 0, 'off the call list');
    const slot = await api('GET', `/admin/slots/bt-${RUN}-${lang}-phone`, undefined, { admin: true });
    assertEq(slot.data.status, 'booked', 'the slot is booked');
  });
  await examine(page, `${lang}-30-staff-calls-recorded`, lang, {});
}

/** An action of moto's Cognito (the runner's pool), as an administrator's CLI would call it. */
async function cognito(action, body) {
  const env = readFileSync(process.env.LAMBDA_ENV || join(ROOT, '.local', 'logs', 'lambda.env'), 'utf8');
  const get = (k) => (env.match(new RegExp(`^${k}=(.*)$`, 'm')) || [])[1];
  const region = get('AWS_REGION');
  const r = await fetch(`${get('AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER')}/`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `AWSCognitoIdentityProviderService.${action}`,
      // moto reads the region from the credential scope; it checks no signature.
      authorization: `AWS4-HMAC-SHA256 Credential=test/20260101/${region}/cognito-idp/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  });
  const data = await r.json().catch(() => ({}));
  assertEq(r.status, 200, `${action}: ${JSON.stringify(data)}`);
  return { data, pool: get('STAFF_USER_POOL_ID'), client: get('STAFF_CLIENT_ID') };
}

/** Signs in on the sign-in page by keyboard; answers the response of the page it loads. */
async function signInByKeyboard(page, lang, username, password) {
  await gotoPage(page, `/staff/sign-in?lang=${lang}`, 200);
  await fromTop(page);
  await tabTo(page, '#username', 40);
  await page.keyboard.type(username);
  await page.keyboard.press('Tab');
  await page.keyboard.type(password);
  return enterAndWait(page);
}

/**
 * The sign-in's second steps by keyboard: a clerk an administrator created chooses a password
 * (once refused: the two differ), then, with an authenticator app set up, enters its code.
 */
async function storyChallenges(page, lang) {
  console.log(`\n[${lang}] the sign-in's challenges`);
  const t = lang === 'de'
    ? { newTitle: 'Eigenes Passwort festlegen', mismatch: 'nicht gleich', totpTitle: 'Sicherheitscode eingeben', overview: 'Übersicht' }
    : { newTitle: 'Choose your password', mismatch: 'not the same', totpTitle: 'Enter your security code', overview: 'Overview' };
  const username = `new-${RUN}-${lang}@buergerservice.example.org`;
  const { pool, client } = await cognito('ListUserPools', { MaxResults: 60 });
  await cognito('AdminCreateUser', { UserPoolId: pool, Username: username, TemporaryPassword: 'Temporary-Pass-1', MessageAction: 'SUPPRESS' });
  await cognito('AdminAddUserToGroup', { UserPoolId: pool, Username: username, GroupName: 'clerk' });
  await step(`${lang}: the first sign-in asks for a new password`, async () => {
    const r = await signInByKeyboard(page, lang, username, 'Temporary-Pass-1');
    assertEq(r.status(), 200, 'the new password page');
    assertEq((await page.textContent('h1')).trim(), t.newTitle, 'its heading');
  });
  await examine(page, `${lang}-31-staff-new-password`, lang, {});
  // Types the new password and its repetition by keyboard and sends them.
  const choose = async (password, repeat) => {
    await fromTop(page);
    await tabTo(page, '#new-password', 40);
    await page.keyboard.type(password);
    await page.keyboard.press('Tab');
    await page.keyboard.type(repeat);
    return enterAndWait(page);
  };
  // Signs out by keyboard from a console page.
  const signOut = async () => {
    await fromTop(page);
    await tabTo(page, '.sign-out button', 60);
    await enterAndWait(page);
  };
  await step(`${lang}: two different passwords are refused`, async () => {
    const r = await choose('Own-Password-12', 'Own-Password-21');
    assertEq(r.status(), 422, 'refused');
    assert((await page.textContent('.error-summary')).includes(t.mismatch), 'it says why');
  });
  await examine(page, `${lang}-32-staff-new-password-refused`, lang, {});
  await step(`${lang}: the new password signs in`, async () => {
    const r = await choose('Own-Password-12', 'Own-Password-12');
    assertEq(r.status(), 200, 'the overview');
    assertEq((await page.textContent('h1')).trim(), t.overview, 'signed in');
    await signOut();
  });
  // The clerk sets up an authenticator app (moto takes any code unless told to check it).
  const auth = await cognito('InitiateAuth', { AuthFlow: 'USER_PASSWORD_AUTH', ClientId: client, AuthParameters: { USERNAME: username, PASSWORD: 'Own-Password-12' } });
  const access = auth.data.AuthenticationResult.AccessToken;
  await cognito('AssociateSoftwareToken', { AccessToken: access });
  await cognito('VerifySoftwareToken', { AccessToken: access, UserCode: '123456' });
  await cognito('AdminSetUserMFAPreference', { UserPoolId: pool, Username: username, SoftwareTokenMfaSettings: { Enabled: true, PreferredMfa: true } });
  await step(`${lang}: with an authenticator app the sign-in asks for its code`, async () => {
    const r = await signInByKeyboard(page, lang, username, 'Own-Password-12');
    assertEq(r.status(), 200, 'the code page');
    assertEq((await page.textContent('h1')).trim(), t.totpTitle, 'its heading');
  });
  await examine(page, `${lang}-33-staff-totp`, lang, {});
  await step(`${lang}: the code signs in, by keyboard`, async () => {
    await fromTop(page);
    await tabTo(page, '#code', 40);
    await page.keyboard.type('123456');
    const r = await enterAndWait(page);
    assertEq(r.status(), 200, 'the overview');
    assertEq((await page.textContent('h1')).trim(), t.overview, 'signed in');
    await signOut();
  });
}

/** The staff console by keyboard: sign in, the overview, a slot file with one bad line, sign out. */
async function storyConsole(page, lang) {
  console.log(`\n[${lang}] the staff console`);
  const user = staffUser('clerk');
  const t = lang === 'de'
    ? { signIn: /^Anmelden$/, overview: 'Übersicht', slots: 'Termine (Slots)', line: 'Zeile 3, start:', out: 'Sie sind abgemeldet.', upload: /^Hochladen/ }
    : { signIn: /^Sign in$/, overview: 'Overview', slots: 'Slots', line: 'Line 3, start:', out: 'You are signed out.', upload: /^Upload/ };
  await step(`${lang}: the sign-in page opens`, async () => { await gotoPage(page, `/staff/sign-in?lang=${lang}`, 200); });
  await examine(page, `${lang}-20-staff-sign-in`, lang, {});
  await step(`${lang}: a clerk signs in by keyboard`, async () => {
    await fromTop(page);
    await tabTo(page, '#username', 40);
    await page.keyboard.type(user.username);
    await page.keyboard.press('Tab');
    assert(await page.evaluate(() => document.activeElement.id === 'password'), 'Tab goes from the name to the password');
    await page.keyboard.type(user.password);
    const r = await enterAndWait(page);
    assertEq(r.status(), 200, 'the overview after signing in');
    assertEq((await page.textContent('h1')).trim(), t.overview, 'the page after signing in');
  });
  await examine(page, `${lang}-21-staff-overview`, lang, {});
  await step(`${lang}: the slots page opens from the navigation`, async () => {
    await fromTop(page);
    await tabTo(page, 'nav a[href^="/staff/slots"]', 40);
    const r = await enterAndWait(page);
    assertEq(r.status(), 200, 'the slots page');
    assertEq((await page.textContent('h1')).trim(), t.slots, 'its heading');
  });
  await examine(page, `${lang}-22-staff-slots`, lang, {});
  await step(`${lang}: a slot file with one bad line is refused with its line and field`, async () => {
    const start = berlin(nextWeekday(1), 9, 0);
    const csv = `id,office,service,start,minutes,status\nbt-${RUN}-${lang}-1,bilk,id-card,${start},15,free\nbt-${RUN}-${lang}-2,bilk,id-card,tomorrow,15,free\n`;
    await page.setInputFiles('#file', { name: 'export.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await page.focus('#file');
    await tabTo(page, 'form[enctype] button[type=submit]', 5);
    const r = await enterAndWait(page);
    assertEq(r.status(), 422, 'the upload with a bad line');
    const summary = await page.textContent('.error-summary');
    assert(summary.includes(t.line), `the summary names the line and field: ${summary}`);
    const stored = await api('GET', `/admin/slots/bt-${RUN}-${lang}-1`, undefined, { admin: true });
    assertEq(stored.status, 404, 'nothing stored');
  });
  await examine(page, `${lang}-23-staff-slots-refused`, lang, {});
  await storyPhoneWish(page, lang);
  await step(`${lang}: the clerk signs out by keyboard`, async () => {
    await fromTop(page);
    await tabTo(page, '.sign-out button', 60);
    const r = await enterAndWait(page);
    assertEq(r.status(), 200, 'the page after signing out');
    assert((await page.textContent('main')).includes(t.out), 'it says so');
    const after = await gotoPage(page, `/staff/overview?lang=${lang}`);
    assertEq(after.status(), 401, 'the overview after signing out');
  });
  // A supervisor: a support look-up (a wish of this run), then the audit log that records it.
  const boss = staffUser('supervisor');
  const email = `console-${RUN}-${lang}@example.de`;
  await confirmedWishByApi(lang, email, 'bilk', { mon: [8] });
  await step(`${lang}: a supervisor signs in`, async () => {
    await gotoPage(page, `/staff/sign-in?lang=${lang}`, 200);
    await page.fill('#username', boss.username);
    await page.fill('#password', boss.password);
    await page.focus('#password');
    const r = await enterAndWait(page);
    assertEq(r.status(), 200, 'the overview');
  });
  await step(`${lang}: the support look-up finds the wish by keyboard`, async () => {
    await gotoPage(page, `/staff/support?lang=${lang}`, 200);
    await fromTop(page);
    await tabTo(page, '#email', 60);
    await page.keyboard.type(email);
    const r = await enterAndWait(page);
    assertEq(r.status(), 200, 'the look-up');
    assertEq(await page.$$eval('form[action^="/staff/support/cancel"]', (f) => f.length), 1, 'one wish, with its cancel button');
  });
  await examine(page, `${lang}-24-staff-support`, lang, {});
  await step(`${lang}: the audit log shows the look`, async () => {
    await gotoPage(page, `/staff/audit?lang=${lang}`, 200);
    assert((await page.textContent('main')).includes(boss.username), 'the supervisor is named');
  });
  await examine(page, `${lang}-25-staff-audit`, lang, {});
  await step(`${lang}: the supervisor verifies the allocation record by keyboard`, async () => {
    await gotoPage(page, `/staff/allocations?lang=${lang}`, 200);
    await fromTop(page);
    await tabTo(page, '#verify', 80);
    const r = await enterAndWait(page);
    assertEq(r.status(), 200, 'the verification');
    assert(await page.$('#verdict'), 'the verdict is shown');
  });
  await examine(page, `${lang}-26-staff-allocations`, lang, {});
  await step(`${lang}: the supervisor signs out`, async () => {
    await fromTop(page);
    await tabTo(page, '.sign-out button', 60);
    const r = await enterAndWait(page);
    assertEq(r.status(), 200, 'the page after signing out');
  });
}

// ---- main ---------------------------------------------------------------------------------------

async function main() {
  const began = Date.now();
  mkdirSync(ART, { recursive: true });
  for (const f of readdirSync(ART)) {
    if (/\.(png|json|ics|log)$/.test(f)) rmSync(join(ART, f));
  }
  axeSource = readFileSync(join(HERE, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
  console.log(`runner ${RUNNER_BIN}\nbrowser ${CHROMIUM}\nartefacts ${ART}`);
  await step('the local runner starts and answers', startRunner);
  console.log(`runner at ${base}`);

  // One fresh browser profile per language, whose locale sets Accept-Language as a person's would.
  const profiles = [];
  const launch = async (locale) => {
    const dir = mkdtempSync(join(tmpdir(), 'terminagent-chromium-'));
    profiles.push(dir);
    return chromium.launchPersistentContext(dir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [...CHROMIUM_FLAGS, `--lang=${locale}`],
      viewport: { width: 1280, height: 900 },
      locale,
      timezoneId: 'Europe/Berlin',
    });
  };
  let context = null;
  try {
    for (const lang of ['de', 'en']) {
      context = await step(`${lang}: Chromium starts with a fresh profile`, () => launch(lang === 'de' ? 'de-DE' : 'en-GB'));
      const page = context.pages()[0] || await context.newPage();
      const cspErrors = [];
      // Pages that answer 404 or 422 on purpose log "Failed to load resource"; anything else
      // (a CSP violation above all) is a fault.
      page.on('console', (m) => {
        if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) cspErrors.push(m.text());
      });
      for (const story of [storyMain, storyNoProof, storyDeclineAndCancel, storyWishPageCancel, storyGoneOffers, storyNotFound, storyAccessibility, storyStatistics, storyFamily]) {
        try {
          await story(page, lang);
        } catch (e) {
          if (!(e instanceof StoryAborted)) fail(`${lang}: ${story.name} crashed`, e);
        }
      }
      await check(`${lang}: no console errors (CSP, resources) on any page`, async () => {
        assert(cspErrors.length === 0, cspErrors.join('\n'));
      });
      await storyStatsPage(page, lang);
      for (const story of [storyConsole, storyChallenges]) {
        try {
          await story(page, lang);
        } catch (e) {
          if (!(e instanceof StoryAborted)) fail(`${lang}: ${story.name} crashed`, e);
        }
      }
      if (lang === 'en') {
        await check('the dev mail view shows the sent mails (screenshot only, no axe)', async () => {
          await gotoPage(page, '/_dev/mail/view', 200);
          assert(await page.$$eval('iframe', (f) => f.length) > 10, 'mails listed');
          // The mails' HTML sits in iframes, which paint only once they are in view.
          for (const width of WIDTHS) {
            await page.setViewportSize({ width, height: 900 });
            const height = await page.evaluate(() => document.documentElement.scrollHeight);
            await page.setViewportSize({ width, height: Math.min(height, 30000) });
            await sleep(1500);
            await page.screenshot({ path: join(ART, `zz-dev-mail-view-${width}.png`), fullPage: true });
          }
        });
      }
      await context.close();
      context = null;
    }
    console.log('\n[de] a browser without JavaScript');
    await check('without JavaScript the form shows why it cannot be sent and whom to call', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'terminagent-chromium-'));
      profiles.push(dir);
      context = await chromium.launchPersistentContext(dir, {
        executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_FLAGS, '--lang=de-DE'],
        viewport: { width: 1280, height: 900 }, locale: 'de-DE', javaScriptEnabled: false,
      });
      const page = context.pages()[0] || await context.newPage();
      await gotoPage(page, '/', 200);
      assert(await page.isVisible('#no-script'), 'the note is shown');
      assert(TEXT.de.noScript.test(await page.textContent('#no-script')), 'it says why');
      assert(await page.$$eval('#no-script a[href^="tel:"]', (l) => l.length) >= 1, 'phone links');
      await page.screenshot({ path: join(ART, 'de-02c-form-without-javascript-1280.png'), fullPage: true });
      await context.close();
      context = null;
    });
  } finally {
    if (context) await context.close().catch(() => {});
    for (const dir of profiles) rmSync(dir, { recursive: true, force: true });
    if (!process.env.KEEP_RUNNING) await stopRunner();
  }
  writeFileSync(join(ART, 'axe-summary.json'), JSON.stringify(axeSummary, null, 2));
  console.log('\naxe (violations per page and width):');
  for (const a of axeSummary) console.log(`  ${a.page.padEnd(32)} ${String(a.width).padStart(4)} px  ${a.violations} violations, ${a.passes} rules passed${a.incomplete.length ? `, to review: ${a.incomplete.join(', ')}` : ''}`);
  if (failures.length) console.log(`\nfailures:\n  ${failures.join('\n  ')}`);
  console.log(`\nscreenshots in ${ART} (${((Date.now() - began) / 1000).toFixed(0)} s)`);
}

process.on('SIGINT', async () => { await stopRunner(); process.exit(130); });
process.on('SIGTERM', async () => { await stopRunner(); process.exit(143); });

try {
  await main();
} catch (e) {
  if (!(e instanceof StoryAborted)) fail('the test itself', e);
  await stopRunner();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
