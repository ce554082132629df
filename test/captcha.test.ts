import test from 'ava';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import Koa from 'koa';
import type { Knex } from 'knex';
import { solveChallenge } from 'altcha-lib';
import { deriveKey as shaDeriveKey } from 'altcha-lib/algorithms/sha';
import { openDatabase, migrateLatest } from '../src/store/db.ts';
import { createStore, type Store } from '../src/store/index.ts';
import { CaptchaStore } from '../src/store/captcha.ts';
import { parseConfig } from '../src/config/load.ts';
import type { Config } from '../src/config/schema.ts';
import type { SsprConfig } from '../src/config/sspr-schema.ts';
import { Captcha, CAPTCHA_KEY_LABEL, type CaptchaChallenge } from '../src/security/captcha.ts';
import { deriveKey } from '../src/security/secrets.ts';
import { assets } from '../src/web/assets.ts';
import { securityHeaders } from '../src/security/headers.ts';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { TestClock, listen, closeServer, startIdp } from './helpers/idp.ts';
import { Browser } from './helpers/browser.ts';

let db: TestDatabase;
let config: Config;
let knex: Knex;
let knex2: Knex;
let store: Store;
const master = randomBytes(32);
const key = deriveKey(master, CAPTCHA_KEY_LABEL);

test.before(async () => {
  db = await freshDatabase();
  config = parseConfig({ database: db.config });
  knex = openDatabase(config.database);
  await migrateLatest(knex, config.database.schema);
  store = createStore(knex);
  // A second pool on the same database, standing in for another instance.
  knex2 = openDatabase(config.database);
});
test.after.always(async () => {
  await knex?.destroy();
  await knex2?.destroy();
  await db?.cleanup();
});

type CaptchaSettings = SsprConfig['captcha'];

function makeCaptcha(options: { clock?: TestClock; settings?: CaptchaSettings; key?: Buffer; store?: CaptchaStore } = {}) {
  const settings: CaptchaSettings = options.settings ?? { enabled: true, maxNumber: 2000, expireMinutes: 10 };
  const clock = options.clock ?? new TestClock();
  const captcha = new Captcha({ store: options.store ?? store.captcha, clock, key: options.key ?? key, config: () => settings });
  return { captcha, clock, settings };
}

interface Solved {
  counter: number;
  derivedKey: string;
}

async function solve(challenge: CaptchaChallenge): Promise<Solved> {
  const solution = await solveChallenge({ challenge, deriveKey: shaDeriveKey, timeout: 60_000 });
  if (!solution) throw new Error('no solution');
  return { counter: solution.counter, derivedKey: solution.derivedKey };
}

/** The form field as the widget builds it: base64 of { challenge: { parameters, signature }, solution }. */
function payloadOf(challenge: unknown, solution: unknown): string {
  return Buffer.from(JSON.stringify({ challenge, solution }), 'utf8').toString('base64');
}

async function solvedPayload(captcha: Captcha): Promise<{ payload: string; challenge: CaptchaChallenge; solution: Solved }> {
  const challenge = await captcha.challenge();
  // Through JSON, as the browser receives it.
  const received = JSON.parse(JSON.stringify(challenge)) as CaptchaChallenge;
  const solution = await solve(received);
  return { payload: payloadOf(received, { ...solution, time: 12.5 }), challenge: received, solution };
}

test('a solved challenge is accepted once', async (t) => {
  const { captcha } = makeCaptcha();
  const { payload } = await solvedPayload(captcha);
  t.true(await captcha.verify(payload));
  t.false(await captcha.verify(payload), 'the same payload again is refused');
  const other = makeCaptcha().captcha;
  t.false(await other.verify(payload), 'also by another instance');
});

test('the challenge is ALTCHA v2 JSON, SHA-256, signed, expiring after expireMinutes', async (t) => {
  const { captcha, clock, settings } = makeCaptcha({ settings: { enabled: true, maxNumber: 1000, expireMinutes: 7 } });
  const before = clock.now();
  const challenge = await captcha.challenge();
  t.deepEqual(Object.keys(challenge).sort(), ['parameters', 'signature']);
  t.is(challenge.parameters.algorithm, 'SHA-256');
  t.is(challenge.parameters.cost, 1);
  t.regex(challenge.signature, /^[0-9a-f]{64}$/);
  t.regex(challenge.parameters.keyPrefix, /^[0-9a-f]{32}$/);
  const expiresMs = challenge.parameters.expiresAt * 1000;
  t.true(expiresMs <= before + settings.expireMinutes * 60_000 + 1000);
  t.true(expiresMs >= before + settings.expireMinutes * 60_000 - 1000);
  const again = await captcha.challenge();
  t.not(again.signature, challenge.signature);
  t.not(again.parameters.nonce, challenge.parameters.nonce);
});

test('maxNumber from the configuration bounds the work, read afresh for each challenge', async (t) => {
  const settings: CaptchaSettings = { enabled: true, maxNumber: 1000, expireMinutes: 10 };
  const { captcha } = makeCaptcha({ settings });
  const counters: number[] = [];
  for (let i = 0; i < 25; i += 1) counters.push((await solve(await captcha.challenge())).counter);
  t.true(counters.every((n) => n >= 1 && n <= 1000), `counters ${counters.join(',')}`);
  // Live configuration: a larger maxNumber is used by the next challenges (25 draws all ≤ 1000 from 1..10^6: p ≈ 1e-75).
  settings.maxNumber = 1_000_000;
  const challenges = await Promise.all(Array.from({ length: 25 }, () => captcha.challenge()));
  let within = 0;
  for (const c of challenges) if (await solvableWithin(c, 1000)) within += 1;
  t.true(within < 25, 'some challenges need more than 1000 tries');
});

/** Whether a counter in 0..limit solves the challenge (its hash starts with the key prefix). */
async function solvableWithin(challenge: CaptchaChallenge, limit: number): Promise<boolean> {
  const salt = Buffer.from(challenge.parameters.salt, 'hex');
  for (let counter = 0; counter <= limit; counter += 1) {
    const { derivedKey } = await shaDeriveKey(challenge.parameters, salt, counterBytes(challenge, counter));
    if (Buffer.from(derivedKey).toString('hex').startsWith(challenge.parameters.keyPrefix)) return true;
  }
  return false;
}

test('a wrong solution is refused and does not use the challenge up', async (t) => {
  const { captcha } = makeCaptcha();
  const { challenge, solution } = await solvedPayload(captcha);
  const wrongCounter = solution.counter + 1;
  const wrongKey = (await shaDeriveKey(challenge.parameters, Buffer.from(challenge.parameters.salt, 'hex'), counterBytes(challenge, wrongCounter))).derivedKey;
  t.false(await captcha.verify(payloadOf(challenge, { counter: wrongCounter, derivedKey: Buffer.from(wrongKey).toString('hex') })), 'another number with its own hash');
  t.false(await captcha.verify(payloadOf(challenge, { counter: wrongCounter, derivedKey: solution.derivedKey })), 'another number with the right hash');
  t.false(await captcha.verify(payloadOf(challenge, { counter: solution.counter, derivedKey: '00'.repeat(32) })), 'the right number with a wrong hash');
  t.false(await captcha.verify(payloadOf(challenge, { counter: solution.counter, derivedKey: solution.derivedKey.toUpperCase() })), 'upper-case hex');
  t.false(await captcha.verify(payloadOf(challenge, { counter: String(solution.counter), derivedKey: solution.derivedKey })), 'counter as a string');
  t.true(await captcha.verify(payloadOf(challenge, solution)), 'the right solution still passes');
});

/** nonce ‖ counter as a big-endian uint32, as the ALTCHA v2 solver hashes it. */
function counterBytes(challenge: CaptchaChallenge, counter: number): Uint8Array {
  const nonce = Buffer.from(challenge.parameters.nonce, 'hex');
  const out = Buffer.alloc(nonce.length + 4);
  nonce.copy(out);
  out.writeUInt32BE(counter, nonce.length);
  return out;
}

test('a challenge signed with another key is refused', async (t) => {
  const foreign = makeCaptcha({ key: deriveKey(randomBytes(32), CAPTCHA_KEY_LABEL) }).captcha;
  const { payload } = await solvedPayload(foreign);
  const { captcha } = makeCaptcha();
  t.false(await captcha.verify(payload));
  t.true(await foreign.verify(payload), 'while its own instance accepts it');
});

test('an expired challenge is refused, by the injected clock', async (t) => {
  const clock = new TestClock();
  const { captcha } = makeCaptcha({ clock, settings: { enabled: true, maxNumber: 2000, expireMinutes: 10 } });
  const early = await solvedPayload(captcha);
  const late = await solvedPayload(captcha);
  clock.advance(9 * 60_000);
  t.true(await captcha.verify(early.payload), 'still valid after 9 of 10 minutes');
  clock.advance(2 * 60_000);
  t.false(await captcha.verify(late.payload), 'expired after 11 minutes');
});

test('tampered parameters or signature are refused', async (t) => {
  const { captcha } = makeCaptcha();
  const { challenge, solution } = await solvedPayload(captcha);
  const p = challenge.parameters;
  const variants: Array<[string, unknown]> = [
    ['salt', { ...p, salt: randomBytes(16).toString('hex') }],
    ['nonce', { ...p, nonce: randomBytes(16).toString('hex') }],
    ['expiresAt', { ...p, expiresAt: p.expiresAt + 3600 }],
    ['keyPrefix', { ...p, keyPrefix: p.keyPrefix.slice(0, 2) }],
    ['extra field', { ...p, data: { maxNumber: 1 } }],
  ];
  for (const [what, parameters] of variants) {
    t.false(await captcha.verify(payloadOf({ parameters, signature: challenge.signature }, solution)), what);
  }
  const flipped = challenge.signature.replace(/^./, (c) => (c === '0' ? '1' : '0'));
  t.false(await captcha.verify(payloadOf({ parameters: p, signature: flipped }, solution)), 'signature');
  t.false(await captcha.verify(payloadOf({ parameters: p }, solution)), 'no signature');

  // An easier challenge made from ours (the key prefix of counter 0) and honestly solved: the signature catches it.
  const easyKey = (await shaDeriveKey(p, Buffer.from(p.salt, 'hex'), counterBytes(challenge, 0))).derivedKey;
  const easy = { ...p, keyPrefix: Buffer.from(easyKey).subarray(0, 16).toString('hex') };
  const easySolution = await solve({ parameters: easy, signature: challenge.signature });
  t.is(easySolution.counter, 0);
  t.false(await captcha.verify(payloadOf({ parameters: easy, signature: challenge.signature }, easySolution)), 'easier key prefix');

  t.true(await captcha.verify(payloadOf(challenge, solution)), 'the untampered payload passes');
});

test('garbage is refused, never thrown', async (t) => {
  const { captcha } = makeCaptcha();
  const { challenge, solution } = await solvedPayload(captcha);
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  const inputs: unknown[] = [
    undefined,
    null,
    42,
    { challenge, solution },
    '',
    'x',
    '====',
    'not base64 at all!',
    b64('not json'),
    b64('null'),
    b64('[]'),
    b64('"string"'),
    b64('{}'),
    b64('{"challenge":null,"solution":null,"test":true}'),
    b64(JSON.stringify({ challenge: 'x', solution })),
    b64(JSON.stringify({ challenge: { parameters: [], signature: challenge.signature }, solution })),
    b64(JSON.stringify({ challenge: { ...challenge, signature: 7 }, solution })),
    b64(JSON.stringify({ challenge, solution: { counter: -1, derivedKey: solution.derivedKey } })),
    b64(JSON.stringify({ challenge, solution: { counter: 1.5, derivedKey: solution.derivedKey } })),
    b64(JSON.stringify({ challenge, solution: { counter: 2 ** 40, derivedKey: solution.derivedKey } })),
    b64(JSON.stringify({ challenge, solution: { counter: solution.counter, derivedKey: 'zz' } })),
    b64(JSON.stringify({ challenge, solution: { counter: solution.counter, derivedKey: 'abc' } })),
    b64(JSON.stringify({ challenge, solution: { counter: solution.counter } })),
    b64(JSON.stringify({ challenge: { ...challenge, parameters: { ...challenge.parameters, algorithm: 'MD5' } }, solution })),
    b64(JSON.stringify({ challenge: { ...challenge, parameters: { ...challenge.parameters, nonce: 'xyz' } }, solution })),
    b64(JSON.stringify({ challenge: { ...challenge, parameters: { ...challenge.parameters, expiresAt: '9999999999' } }, solution })),
    b64(JSON.stringify({ challenge: { ...challenge, parameters: { ...challenge.parameters, expiresAt: null } }, solution })),
    b64(JSON.stringify({ challenge: { ...challenge, parameters: { ...challenge.parameters, cost: 1e9 } }, solution })),
    b64(JSON.stringify({ algorithm: 'SHA-256', challenge: 'ab', number: 1, salt: 's', signature: 'ab', took: 1 })),
    'A'.repeat(100_000),
    b64(JSON.stringify({ challenge, solution, pad: 'x'.repeat(100_000) })),
    b64('{'.repeat(50_000)),
  ];
  for (const input of inputs) {
    await t.notThrowsAsync(async () => {
      t.false(await captcha.verify(input as string | undefined), JSON.stringify(input)?.slice(0, 80));
    });
  }
  t.true(await captcha.verify(payloadOf(challenge, solution)), 'the real payload still passes afterwards');
});

test('concurrent verifications of one payload: exactly one succeeds, across instances', async (t) => {
  const { captcha } = makeCaptcha();
  const { payload } = await solvedPayload(captcha);
  const elsewhere = makeCaptcha({ store: new CaptchaStore(knex2) }).captcha;
  const results = await Promise.all([captcha.verify(payload), elsewhere.verify(payload), captcha.verify(payload), elsewhere.verify(payload), captcha.verify(payload)]);
  t.is(results.filter(Boolean).length, 1, String(results));
});

test('used solutions are purged once their challenge expired', async (t) => {
  const own = new CaptchaStore(knex);
  const now = Date.now();
  const tag = randomBytes(8).toString('hex');
  t.true(await own.markUsed(`${tag}-a`, now + 1000));
  t.false(await own.markUsed(`${tag}-a`, now + 1000));
  t.true(await own.markUsed(`${tag}-b`, now + 60_000));
  t.true((await own.purgeExpired(now + 2000)) >= 1);
  const left = await knex('captcha_solutions').whereIn('signature', [`${tag}-a`, `${tag}-b`]).pluck('signature');
  t.deepEqual(left, [`${tag}-b`]);
  t.true(await own.markUsed(`${tag}-a`, now + 1000), 'a purged signature may be inserted again (its challenge is refused as expired anyway)');
});

test('the assets middleware serves the widget: loader, strict-CSP build, worker, styles', async (t) => {
  const app = new Koa();
  app.use(securityHeaders());
  app.use(assets('/nonexistent-assets-dir'));
  const server = http.createServer(app.callback());
  const port = await listen(server);
  t.teardown(() => closeServer(server));
  const get = async (name: string) => {
    const res = await fetch(`http://127.0.0.1:${port}/assets/${name}`);
    return { status: res.status, type: res.headers.get('content-type') ?? '', nosniff: res.headers.get('x-content-type-options'), body: await res.text() };
  };

  const loader = await get('altcha.js');
  t.is(loader.status, 200);
  t.regex(loader.type, /^text\/javascript/);
  t.is(loader.nosniff, 'nosniff');
  t.regex(loader.body, /import '\.\/altcha-widget\.js';/);
  t.regex(loader.body, /new Worker\(new URL\('altcha-worker-sha\.js', import\.meta\.url\)/);
  t.regex(loader.body, /\$altcha\.algorithms\.set/);

  const widget = await get('altcha-widget.js');
  t.is(widget.status, 200);
  t.regex(widget.type, /^text\/javascript/);
  t.true(widget.body.includes('customElements.define("altcha-widget"'));
  t.false(/createObjectURL|new Blob\(/.test(widget.body), 'no blob: workers');
  t.false(widget.body.includes('createElement("style")'), 'no injected <style>');
  t.false(/\beval\(|new Function\(/.test(widget.body), 'no eval');
  t.false(/^\s*(import|export)\b/m.test(widget.body), 'self-contained: no imports of its own');

  const worker = await get('altcha-worker-sha.js');
  t.is(worker.status, 200);
  t.regex(worker.type, /^text\/javascript/);
  t.true(worker.body.includes('crypto.subtle') || worker.body.includes('digest'));

  const css = await get('altcha.css');
  t.is(css.status, 200);
  t.regex(css.type, /^text\/css/);
  t.true(css.body.includes('altcha'));

  const nl = await get('altcha-i18n-nl.js');
  t.is(nl.status, 200);
  t.true(nl.body.includes('$altcha.i18n.set("nl"'));

  t.is((await get('altcha-nope.js')).status, 404);
});

test('the IdP serves the widget files under its base path', async (t) => {
  const running = await startIdp({ prefix: '/idp', db });
  t.teardown(() => running.close());
  for (const [name, type] of [['altcha.js', /^text\/javascript/], ['altcha-widget.js', /^text\/javascript/], ['altcha-worker-sha.js', /^text\/javascript/], ['altcha.css', /^text\/css/]] as const) {
    const res = await fetch(`${running.issuer}/assets/${name}`);
    t.is(res.status, 200, name);
    t.regex(res.headers.get('content-type') ?? '', type, name);
    await res.arrayBuffer();
  }
});

test('posts without a solved CAPTCHA do not use up the address\'s reset budget; solved ones do (issue 13 #8)', async (t) => {
  const running = await startIdp({
    db,
    config: { sspr: { enabled: 'all', methods: { email: true }, captcha: { enabled: true, maxNumber: 2000 } }, throttle: { resetPerIp: 2 } },
  });
  t.teardown(() => running.close());
  const browser = new Browser();
  const form = await browser.navigate(`${running.issuer}/reset`);
  // Three times the budget of unsolved posts (an office behind one NAT address, a bot without the widget).
  for (let i = 0; i < 6; i += 1) {
    const refused = await browser.submit(form, '/reset', { username: 'someone', altcha: i % 2 ? 'garbage' : '' });
    t.is(refused.status, 400, `unsolved post ${i + 1}`);
    t.regex(refused.html, /couldn(&#39;|')t confirm that you(&#39;|')re a person/);
  }
  const solvedField = async () => {
    const challenge = (await (await fetch(`${running.issuer}/reset/captcha`)).json()) as CaptchaChallenge;
    return payloadOf(challenge, await solve(challenge));
  };
  for (let i = 0; i < 2; i += 1) {
    const started = await browser.submit(form, '/reset', { username: 'someone', altcha: await solvedField() });
    t.is(started.status, 200, `solved post ${i + 1} starts a flow`);
    t.regex(started.url, /\/reset\/flow$/);
  }
  const over = await browser.submit(form, '/reset', { username: 'someone', altcha: await solvedField() });
  t.is(over.status, 429, 'the third solved post is over resetPerIp (2)');
  t.regex(over.html, /too many attempts from your network/);
});
